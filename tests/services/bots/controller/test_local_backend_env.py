"""A local bot process starts with a minimal environment: none of the API's secrets."""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path

import pytest

from services.bots.contracts import BotSpec
from services.bots.controller.backends.local import BOT_ENVIRONMENT, LocalProcessBackend

# Writes its environment next to its spec file (whole, by a rename), then exits.
_DUMP_ENV = (
    "import json, os, sys; p = sys.argv[-1] + '.env'; "
    "open(p + '.tmp', 'w').write(json.dumps(dict(os.environ))); os.rename(p + '.tmp', p)"
)

SECRETS = {
    "MINUTA_DATABASE_URL": "postgresql+asyncpg://minuta:db-secret@db/minuta",
    "MINUTA_S3_SECRET_ACCESS_KEY": "s3-secret",
    "MINUTA_SIGNING_SECRET": "signing-secret",
    "MINUTA_BROKER_URL": "amqp://api:broker-secret@rabbitmq/",
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
}


def test_the_bot_gets_no_secret_of_the_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MINUTA_CHROMIUM", "/usr/bin/chromium")
    backend = LocalProcessBackend([sys.executable, "-c", _DUMP_ENV], tmp_path / "bots")
    spec = BotSpec(
        bot_id=uuid.uuid4(),
        meeting_url="https://meet.example.com/x",
        api_url="http://api",
        bot_token="bt_token",
    )
    handle = backend.launch(spec)
    dump = Path(f"{backend.spec_path(spec.bot_id)}.env")
    deadline = time.monotonic() + 30
    while not dump.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    backend.stop(handle)
    seen = json.loads(dump.read_text())
    assert not set(SECRETS) & set(seen)
    assert not any(value in json.dumps(seen) for value in SECRETS.values())
    assert seen["MINUTA_CHROMIUM"] == "/usr/bin/chromium" and "PATH" in seen
    # Python itself may add LC_CTYPE (PEP 538 locale coercion).
    assert set(seen) - {"LC_CTYPE"} <= set(BOT_ENVIRONMENT), seen
