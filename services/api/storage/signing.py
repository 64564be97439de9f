"""Expiring HMAC-signed URLs: the local folder's stand-in for S3 presigned GETs."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

from services.api.settings import ApiSettings


class UrlSigner:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the URL signing secret must be at least 16 bytes")
        self._secret = secret

    def sign(self, key: str, expires: int) -> str:
        message = f"{key}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def verify(self, key: str, expires: int, signature: str, now: float | None = None) -> bool:
        """False for a wrong signature or an expired URL."""
        if expires < (time.time() if now is None else now):
            return False
        # As bytes: compare_digest refuses str with non-ASCII characters (a mangled link was a
        # 500, found by the fuzz test).
        given = signature.encode("utf-8", "surrogateescape")
        return hmac.compare_digest(self.sign(key, expires).encode(), given)


def load_signing_secret(settings: ApiSettings) -> bytes:
    """The configured secret, else one kept in data_dir so restarts and sibling processes agree."""
    if settings.signing_secret is not None:
        return settings.signing_secret.get_secret_value().encode()
    path = settings.data_dir / "signing.key"
    if not path.exists():
        _create_secret_file(path)
    return path.read_bytes().strip()


def _create_secret_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process won the race; its secret is the one
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32))
