"""Receives foldbank's webhooks and verifies them with Python's `standardwebhooks` package.

Run by .ci/run against a live service started with --webhook-allow-private: this script
listens on a free loopback port, subscribes to it with an operator key, opens two accounts,
deposits, withdraws and transfers over HTTP, then waits until every integration event those
commands published has arrived. Every request must verify with the Standard Webhooks reference
library for Python (code foldbank did not write), carry its event's id as `webhook-id`, carry
no personal text, and arrive per account in log order. The receiver answers 503 to the first
request of each message, so that every message is delivered at least twice: a retry must come
with the same id and body.

Usage: receive_and_verify.py BASE_URL OPERATOR_KEY
"""

import http.server
import json
import sys
import threading
import time
import urllib.request
import uuid

from standardwebhooks.webhooks import Webhook

TYPES = {
    "AccountOpened": "account.opened.v1",
    "MoneyDeposited": "money.deposited.v1",
    "MoneyWithdrawn": "money.withdrawn.v1",
    "TransferDebited": "transfer.sent.v1",
    "TransferCredited": "transfer.received.v1",
    "TransferCompleted": "transfer.completed.v1",
}
PERSONAL = "Ada Lovelace's rent"


class Received:
    def __init__(self):
        self.lock = threading.Lock()
        self.secret = None
        self.requests = []  # (webhook-id, body as parsed, verified: bool, error)
        self.refused_once = set()


RECEIVED = Received()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {name.lower(): value for name, value in self.headers.items()}
        with RECEIVED.lock:
            try:
                payload = Webhook(RECEIVED.secret).verify(body, headers)
                verified, error = True, None
            except Exception as exc:  # the library raises its own WebhookVerificationError
                payload, verified, error = json.loads(body or b"null"), False, repr(exc)
            message_id = headers.get("webhook-id", "")
            RECEIVED.requests.append((message_id, payload, verified, error))
            first_time = message_id not in RECEIVED.refused_once
            RECEIVED.refused_once.add(message_id)
        self.send_response(503 if first_time else 204)
        self.end_headers()

    def log_message(self, *args):
        pass


def call(base, key, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=15) as response:
        text = response.read()
        return json.loads(text) if text else None


def main():
    base, key = sys.argv[1].rstrip("/"), sys.argv[2]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]

    created = call(base, key, "POST", "/webhooks", {
        "url": f"http://127.0.0.1:{port}/hooks",
        "event_types": sorted(TYPES.values()),
        "description": "CI: verified by Python's standardwebhooks",
    })
    with RECEIVED.lock:
        RECEIVED.secret = created["secret"]
    starts_after = created["starts_after"]

    owner = str(uuid.uuid4())
    a = call(base, key, "POST", "/accounts", {"owner_id": owner, "currency": "EUR", "initial_deposit": 5000})
    b = call(base, key, "POST", "/accounts", {"owner_id": owner, "currency": "EUR"})
    for n in range(1, 4):
        call(base, key, "POST", f"/accounts/{a['account_id']}/deposits",
             {"amount": 100 * n, "currency": "EUR", "description": PERSONAL})
    call(base, key, "POST", f"/accounts/{a['account_id']}/withdrawals", {"amount": 50, "currency": "EUR"})
    transfer = call(base, key, "POST", "/transfers", {
        "from_account": a["account_id"], "to_account": b["account_id"], "amount": 700,
        "currency": "EUR", "description": PERSONAL,
    })
    deadline = time.monotonic() + 60
    status_path = f"/transfers/{transfer['transfer_id']}?min_position={transfer['position']}"
    while call(base, key, "GET", status_path)["status"] != "completed":
        if time.monotonic() > deadline:
            sys.exit("the transfer did not complete")
        time.sleep(0.1)

    # What the commands published: the log's events after the subscription, of our accounts.
    ours = {a["account_id"], b["account_id"]}
    page = call(base, key, "GET", f"/events?after={starts_after}&limit=500")
    expected = {
        event["event_id"]: (event["stream_id"], event["position"], TYPES[event["type"]])
        for event in page["events"]
        if event["type"] in TYPES and event["stream_id"] in ours
    }
    if len(expected) < 9:
        sys.exit(f"expected at least 9 events of our accounts, found {len(expected)}")

    while True:
        with RECEIVED.lock:
            ids = [mid for mid, _, _, _ in RECEIVED.requests]
        got = {mid for mid in ids if ids.count(mid) >= 2}
        if set(expected) <= got:
            break
        if time.monotonic() > deadline:
            sys.exit(f"only {len(got & set(expected))} of {len(expected)} messages were delivered after a retry")
        time.sleep(0.1)
    server.shutdown()

    failures = []
    last = {}
    firsts = {}
    for message_id, payload, verified, error in RECEIVED.requests:
        if message_id not in expected:
            continue
        if not verified:
            failures.append(f"{message_id}: signature refused by standardwebhooks: {error}")
            continue
        account, position, integration_type = expected[message_id]
        if payload["type"] != integration_type or payload["data"]["event_id"] != message_id:
            failures.append(f"{message_id}: {payload['type']} for {payload['data']['event_id']}")
        if payload["data"]["account_id"] != account or payload["data"]["position"] != position:
            failures.append(f"{message_id}: wrong source {payload['data']}")
        if PERSONAL in json.dumps(payload):
            failures.append(f"{message_id}: personal text published")
        if message_id in firsts:
            if firsts[message_id] != payload:
                failures.append(f"{message_id}: a retry with another body")
            continue
        firsts[message_id] = payload
        if last.get(account, 0) >= position:
            failures.append(f"{account}: position {position} after {last[account]}")
        last[account] = position
    if failures:
        sys.exit("\n".join(failures))
    print(f"{len(expected)} messages, {len(RECEIVED.requests)} requests: every signature verified "
          f"by standardwebhooks, ids stable across retries, per-account order kept, no personal text")


if __name__ == "__main__":
    main()
