"""Bot tokens: made fresh at each launch, stored only as a SHA-256, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_PREFIX = "bt_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # 256 random bits: a plain hash suffices, there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, stored_hash: str | None) -> bool:
    if not stored_hash:
        return False
    return hmac.compare_digest(hash_token(token), stored_hash)
