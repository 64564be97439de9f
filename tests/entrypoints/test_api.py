"""`tenants create`, `keys create|list|revoke` on a real (SQLite) database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from entrypoints.api import app
from services.api.db.engine import create_engine, create_sessionmaker
from services.api.tenants import authenticate


def _tenant_of(url: str, key: str) -> str | None:
    async def look() -> str | None:
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session:
                tenant = await authenticate(session, key)
                return None if tenant is None else tenant.name
        finally:
            await engine.dispose()

    return asyncio.run(look())


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.delenv("MINUTA_DATABASE_URL", raising=False)
    return {"MINUTA_DATA_DIR": str(tmp_path)}


def test_tenant_and_key_lifecycle(env: dict[str, str], tmp_path: Path) -> None:
    runner = CliRunner()
    url = f"sqlite+aiosqlite:///{tmp_path / 'minuta.db'}"

    created = runner.invoke(app, ["tenants", "create", "acme"], env=env)
    assert created.exit_code == 0, created.output
    first_key = created.stdout.strip()
    assert first_key.startswith("mk_") and len(first_key) > 40
    assert "shown once" in created.stderr
    assert _tenant_of(url, first_key) == "acme"

    second = runner.invoke(app, ["keys", "create", "acme", "--name", "ci"], env=env)
    assert second.exit_code == 0, second.output
    second_key = second.stdout.strip()
    assert second_key != first_key and _tenant_of(url, second_key) == "acme"

    listed = runner.invoke(app, ["keys", "list", "acme"], env=env)
    lines = listed.stdout.strip().splitlines()
    assert len(lines) == 2 and all(line.endswith("active") for line in lines)
    assert first_key not in listed.stdout  # only prefixes are shown
    assert first_key[:11] + "…" in listed.stdout

    revoked = runner.invoke(app, ["keys", "revoke", first_key[:11]], env=env)
    assert revoked.exit_code == 0, revoked.output
    assert _tenant_of(url, first_key) is None
    assert _tenant_of(url, second_key) == "acme"
    assert "revoked" in runner.invoke(app, ["keys", "list"], env=env).stdout

    tenants = runner.invoke(app, ["tenants", "list"], env=env).stdout.strip().splitlines()
    assert len(tenants) == 1 and tenants[0].split("\t")[1] == "acme"

    unknown = runner.invoke(app, ["keys", "create", "nobody"], env=env)
    assert unknown.exit_code == 1 and "no tenant" in unknown.stderr
    missing = runner.invoke(app, ["keys", "revoke", "mk_nothing"], env=env)
    assert missing.exit_code == 1


def test_api_command_serves_as_a_real_process(env: dict[str, str], audio_dir: Path) -> None:
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    import httpx

    runner = CliRunner()
    key = runner.invoke(app, ["tenants", "create", "proc"], env=env).stdout.strip()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from entrypoints.api import app; app()",
            "api",
            "--port",
            str(port),
        ],
        env={**os.environ, **env},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "the API did not start"
            time.sleep(0.1)
        with (audio_dir / "asr_en" / "jfk.flac").open("rb") as handle:
            created = httpx.post(
                f"{base}/v1/meetings",
                headers={"X-API-Key": key},
                files={"file": ("jfk.flac", handle)},
            )
        assert created.status_code == 202, created.text
        # The in-process broker took the job at once; nothing is left pending.
        listed = httpx.get(f"{base}/v1/meetings", headers={"X-API-Key": key}).json()
        assert [m["id"] for m in listed["items"]] == [created.json()["id"]]
    finally:
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert process.wait(20) in (0, -signal.SIGTERM)
