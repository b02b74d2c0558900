"""Recomputes foldbank's hash chain from a SQLite database with code foldbank did not write.

The README's "Tamper evidence" section defines each link as
SHA-256(previous link || RFC 8785 canonical JSON of the event's stored columns), with 32 zero
bytes before the first event. This script follows that text with Python's sqlite3 and hashlib
and the `rfc8785` package (Trail of Bits' JCS implementation), reads every event and its stored
link in position order, and exits 1 at the first link it computes differently, 0 when every
link matches (and at least one event was checked).

    python tests/chain/verify_chain.py PATH_TO_SQLITE_FILE
"""

import hashlib
import json
import sqlite3
import sys
from datetime import datetime, timezone

import rfc8785


def instant(stored: str) -> str:
    """A stored timestamp as the canonical form writes it: UTC, six fractional digits, `Z`."""
    parsed = datetime.fromisoformat(stored.replace("Z", "+00:00")).astimezone(timezone.utc)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def main(path: str) -> int:
    database = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    rows = database.execute(
        "SELECT e.global_position, e.stream_type, e.stream_id, e.stream_version, e.event_id, "
        "e.event_type, e.schema_version, e.payload, e.metadata, e.occurred_at, e.recorded_at, "
        "c.hash FROM events e LEFT JOIN event_chain c ON c.global_position = e.global_position "
        "ORDER BY e.global_position"
    )
    previous = bytes(32)
    checked = 0
    for (position, stream_type, stream_id, version, event_id, event_type, schema_version,
         payload, metadata, occurred_at, recorded_at, stored) in rows:
        canonical = rfc8785.dumps({
            "global_position": position,
            "stream_type": stream_type,
            "stream_id": stream_id.lower(),
            "stream_version": version,
            "event_id": event_id.lower(),
            "event_type": event_type,
            "schema_version": schema_version,
            "payload": json.loads(payload),
            "metadata": json.loads(metadata),
            "occurred_at": instant(occurred_at),
            "recorded_at": instant(recorded_at),
        })
        link = hashlib.sha256(previous + canonical).digest()
        if stored != link.hex():
            print(f"position {position}: computed {link.hex()}, stored {stored}")
            return 1
        previous = link
        checked += 1
    if checked == 0:
        print("no events to check")
        return 1
    print(f"chain: {checked} events, every link recomputed independently and equal; head {previous.hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
