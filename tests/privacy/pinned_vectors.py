"""The sealed-field and key-wrapping formats of src/privacy/, computed apart from the Rust code.

Python's `cryptography` (HMAC-SHA-256, AES-256-GCM, SHA-256) recomputes, from the construction
the module documentation gives, the values that `sealing_is_pinned_to_the_v1_format` and
`a_master_keys_id_and_wrapping_are_pinned_to_v1` expect, reads them out of those Rust tests,
and fails unless they agree. Run by `.ci/run`: `python tests/privacy/pinned_vectors.py`.
"""

import base64
import hashlib
import hmac
import pathlib
import re
import sys
import uuid

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ROOT = pathlib.Path(__file__).resolve().parents[2]


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def seal(data_key: bytes, owner: uuid.UUID, text: str) -> str:
    """pd1:{owner}:{base64url(nonce || ciphertext || tag)}, the nonce derived from the text."""
    cipher_key = hmac_sha256(data_key, b"foldbank-pd:v1:cipher")
    nonce_key = hmac_sha256(data_key, b"foldbank-pd:v1:nonce")
    nonce = hmac_sha256(nonce_key, owner.bytes + text.encode())[:12]
    sealed = AESGCM(cipher_key).encrypt(nonce, text.encode(), b"foldbank-pd:v1:" + owner.bytes)
    return f"pd1:{owner}:" + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")


def master_key_id(master_key: bytes) -> str:
    return hashlib.sha256(b"foldbank-master-key-id:v1:" + master_key).hexdigest()[:16]


def wrap(master_key: bytes, owner: uuid.UUID, data_key: bytes, nonce: bytes) -> str:
    sealed = AESGCM(master_key).encrypt(nonce, data_key, b"foldbank-data-key:v1:" + owner.bytes)
    return base64.b64encode(nonce + sealed).decode()


def pinned(path: str, test: str) -> list[str]:
    """The string literals of `test`'s body in the Rust file at `path`."""
    source = (ROOT / path).read_text()
    body = source.split(f"fn {test}()", 1)[1].split("\n    }\n", 1)[0]
    return re.findall(r'"([^"]*)"', body)


def main() -> int:
    owner = uuid.UUID(int=1)
    expected = {
        seal(bytes([7] * 32), owner, "x"),
        seal(bytes([7] * 32), owner, ""),
        master_key_id(bytes([7] * 32)),
        wrap(bytes([7] * 32), owner, bytes([9] * 32), bytes([1] * 12)),
    }
    in_rust = set(pinned("src/privacy/seal.rs", "sealing_is_pinned_to_the_v1_format"))
    in_rust |= set(pinned("src/privacy/master_key.rs", "a_master_keys_id_and_wrapping_are_pinned_to_v1"))
    missing = expected - in_rust
    for value in sorted(missing):
        print(f"not pinned by the Rust tests as computed here: {value}", file=sys.stderr)
    if missing:
        return 1
    print(f"privacy: {len(expected)} pinned values agree with Python's cryptography")
    return 0


if __name__ == "__main__":
    sys.exit(main())
