"""Recomputes foldbank's hash chain, and checks its signed checkpoints, from a SQLite database
with code foldbank did not write.

The "Tamper evidence" section of docs/operating.md defines each link as
SHA-256(previous link || RFC 8785 canonical JSON of the event's stored columns), with 32 zero
bytes before the first event, and each checkpoint's signature as Ed25519 over the ASCII bytes
`foldbank-chain:v1:{position}:{hash-hex}`. This script follows that text with Python's sqlite3
and hashlib, the `rfc8785` package (Trail of Bits' JCS implementation) and the `cryptography`
package (Ed25519): it reads every event and its stored link in position order, and exits 1 at
the first link it computes differently; with a public key, it also checks that every
checkpoint signs the link recomputed at its position with that key (and that there is one).
It exits 0 when everything matches (and at least one event was checked).

    python tests/chain/verify_chain.py PATH_TO_SQLITE_FILE [PUBLIC_KEY_BASE64]
"""

import base64
import hashlib
import json
import sqlite3
import sys
from datetime import datetime, timezone

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def instant(stored: str) -> str:
    """A stored timestamp as the canonical form writes it: UTC, six fractional digits, `Z`."""
    parsed = datetime.fromisoformat(stored.replace("Z", "+00:00")).astimezone(timezone.utc)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def recompute(database: sqlite3.Connection) -> dict[int, bytes] | None:
    """Every link, by position; None (after saying where) at the first that differs."""
    rows = database.execute(
        "SELECT global_position, stream_type, stream_id, stream_version, event_id, event_type, "
        "schema_version, payload, metadata, occurred_at, recorded_at, hash FROM events "
        "ORDER BY global_position"
    )
    previous = bytes(32)
    links = {}
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
            return None
        links[position] = link
        previous = link
    return links


def check_checkpoints(database: sqlite3.Connection, links: dict[int, bytes], public_key: str) -> int:
    """How many checkpoints hold; -1 (after saying which) at the first that does not."""
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))
    checked = 0
    for position, hash_hex, signature in database.execute(
        "SELECT global_position, hash, signature FROM chain_checkpoints ORDER BY global_position"
    ):
        message = f"foldbank-chain:v1:{position}:{hash_hex}".encode("ascii")
        try:
            key.verify(base64.b64decode(signature), message)
        except InvalidSignature:
            print(f"checkpoint at position {position}: the signature does not verify")
            return -1
        if position not in links or links[position].hex() != hash_hex:
            print(f"checkpoint at position {position}: it does not sign the recomputed link")
            return -1
        checked += 1
    return checked


def main(path: str, public_key: str | None) -> int:
    database = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    links = recompute(database)
    if links is None:
        return 1
    if not links:
        print("no events to check")
        return 1
    head = max(links)
    print(f"chain: {len(links)} events, every link recomputed independently and equal; "
          f"head {links[head].hex()}")
    if public_key is not None:
        checked = check_checkpoints(database, links, public_key)
        if checked < 1:
            print("no checkpoint holds" if checked == 0 else "a checkpoint does not hold")
            return 1
        print(f"checkpoints: {checked}, each signing the recomputed link, verified with Ed25519")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
