"""schemathesis hooks for the customer-key pass of `.ci/run`.

With `FOLDBANK_CALLER_OWNER` set (the owner of the customer key schemathesis sends):
- accounts it opens are that owner's (any other `owner_id` is refused with 403), so the
  stateful phase can follow the links of its own accounts;
- the check `only_the_callers_data` fails on any successful response that shows an owner
  other than the caller's.
"""

import os

import schemathesis

OWNER = os.environ.get("FOLDBANK_CALLER_OWNER")


@schemathesis.hook
def map_body(ctx, body):
    if OWNER and isinstance(body, dict) and "owner_id" in body:
        body["owner_id"] = OWNER
    return body


def owners_in(value):
    """Every `owner_id` anywhere in a JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "owner_id" and isinstance(item, str):
                yield item
            else:
                yield from owners_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from owners_in(item)


@schemathesis.check
def only_the_callers_data(ctx, response, case):
    if not OWNER or not 200 <= response.status_code < 300:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    others = sorted({owner for owner in owners_in(body) if owner != OWNER})
    if others:
        raise AssertionError(f"a customer key was shown other owners' data: {others}")
    return None
