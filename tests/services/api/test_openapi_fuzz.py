"""Every operation of the OpenAPI spec fuzzed by schemathesis against the real app.

The app runs in process (schemathesis's ASGI client, one event loop for the whole run) on both of
its real configurations: the scratch PostgreSQL database with the SeaweedFS S3 server, and SQLite
with the local folder. Requests carry a valid API key; schemathesis draws well-formed requests
(positive), malformed ones (negative), and well-formed ones about objects that exist (a completed
meeting with speakers, a person, a webhook, a bot), so the fuzzed bodies and queries reach the
handlers' logic instead of stopping at a 404. Checks: no 5xx, every status code, content type and
response body as documented, malformed requests refused with a 4xx, and no route answering
without its API key.

Not reached: the bot callbacks' own logic (they want a bot's token; with a tenant key they answer
401/403) and the search RPC's worker side (no worker runs: search answers its documented 503).
Bounded and deterministic (derandomized): ~15 s per backend.
"""

from __future__ import annotations

import asyncio
import os
import re
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err, Ok
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from services.api.app import create_app
from services.api.db.engine import create_engine, create_sessionmaker
from services.api.events import EventApplier
from services.api.tenants import create_tenant
from testkit.processes import in_thread
from tests.egress_fakes import fake_policy, loopback_only_client
from tests.services.api.conftest import BACKENDS, SHARED_AUDIO, make_settings
from tests.services.api.fakes import RecordingBrokerFake
from tests.services.api.helpers import completed, sample_result

# Examples per operation: with the 32 operations this keeps the file near 20 s on 2 cores.
# A deeper run: MINUTA_FUZZ_MAX_EXAMPLES=500 (and MINUTA_FUZZ_ONLY="PATCH /v1/meetings" to
# fuzz only the operations whose label contains it).
MAX_EXAMPLES = int(os.environ.get("MINUTA_FUZZ_MAX_EXAMPLES", "30"))
ONLY = os.environ.get("MINUTA_FUZZ_ONLY", "")
# Per example; generous because the machine is shared, not because a request should be slow.
DEADLINE_MS = 5000

# Documented 5xx answers that are the truth here, not crashes: search needs an ML worker to
# answer its RPC, and none runs in this test (so it says 503, as it should).
TOLERATED_5XX = {"GET /v1/search": {503}}


def no_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    if response.status_code in TOLERATED_5XX.get(case.operation.label, set()):
        return None
    return not_a_server_error(ctx, response, case)


CHECKS = [
    no_server_error,
    ignored_auth,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@dataclass
class FuzzTarget:
    app: Any
    headers: dict[str, str]
    # Path parameter name -> an id that exists for the fuzzing tenant.
    known: dict[str, str]


async def _seed_tenant(url: str) -> str:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            _, issued = await create_tenant(session, "fuzz")
        return issued.secret
    finally:
        await engine.dispose()


async def _complete(url: str, meeting_id: str) -> None:
    """What the worker's JobCompleted does, applied by the API's own event applier."""
    from services.api.db.models import Meeting

    engine = create_engine(url)
    try:
        sessionmaker = create_sessionmaker(engine)
        async with sessionmaker() as session:
            meeting = await session.get(Meeting, uuid.UUID(meeting_id))
            assert meeting is not None
        assert await EventApplier(sessionmaker).apply(completed(meeting, sample_result()))
    finally:
        await engine.dispose()


def _seed_objects(app: Any, headers: dict[str, str], database_url: str) -> dict[str, str]:
    """A completed meeting with named speakers, a person, a webhook and a bot, made through the
    API itself; returns their ids by path parameter name."""
    with asgi.get_client(app) as client:
        recording = SHARED_AUDIO / "asr_en" / "jfk.flac"
        with recording.open("rb") as handle:
            created = client.post(
                "/v1/meetings",
                headers=headers,
                files={"file": ("jfk.flac", handle, "audio/flac")},
                data={"title": "fuzz"},
            )
        assert created.status_code == 202, created.text
        meeting_id = created.json()["id"]
        in_thread(asyncio.run, _complete(database_url, meeting_id))
        meeting = client.get(f"/v1/meetings/{meeting_id}", headers=headers).json()
        assert meeting["status"] == "completed", meeting
        speakers = meeting["result"]["speakers"]
        label = speakers[0]["id"]
        named = client.patch(
            f"/v1/meetings/{meeting_id}/speakers/{label}", headers=headers, json={"name": "Ann"}
        )
        assert named.status_code == 200, named.text
        hook = client.post("/v1/webhooks", headers=headers, json={"url": "http://127.0.0.1:9/hook"})
        assert hook.status_code == 201, hook.text
        bot = client.post(
            "/v1/bots",
            headers=headers,
            json={
                "meeting_url": "https://meet.example.com/abc-defg-hij",
                "join_at": "2099-01-01T00:00:00Z",
            },
        )
        assert bot.status_code == 201, bot.text
    return {
        "meeting_id": meeting_id,
        "label": label,
        "person_id": named.json()["person_id"],
        "webhook_id": hook.json()["id"],
        "bot_id": bot.json()["id"],
    }


@pytest.fixture(scope="module", params=BACKENDS)
def fuzz_target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FuzzTarget]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    api_settings = make_settings(request.param, request, tmp, rate_limit_enabled=False)
    database_url = api_settings.resolved_database_url
    # Fuzzed URLs are resolved without DNS, and webhooks cannot leave loopback.
    egress = fake_policy(api_settings.egress_allow_cidrs)
    app: Any = create_app(
        api_settings,
        broker=RecordingBrokerFake(),
        background=False,
        egress=egress,
        webhook_client=loopback_only_client(egress, api_settings.webhook_timeout_seconds),
    )
    try:
        with asgi.get_client(app) as client:  # starts the app: migrations, storage
            assert client.get("/readyz").status_code == 200
        secret = in_thread(asyncio.run, _seed_tenant(database_url))
        headers = {"Authorization": f"Bearer {secret}"}
        known = _seed_objects(app, headers, database_url)
        yield FuzzTarget(app=app, headers=headers, known=known)
    finally:
        asgi.shutdown_lifespans()


def _path_names(path: str) -> list[str]:
    return re.findall(r"{([^}]+)}", path)


def _fuzz(operation: Any, target: FuzzTarget) -> str | None:
    """Fuzz one operation; None when it held, else what failed (for the report)."""
    strategies = [
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    ]
    known = {n: target.known[n] for n in _path_names(operation.path) if n in target.known}
    if known:
        # Well-formed requests about objects that exist reach the handlers' logic.
        strategies.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=known))

    @given(case=st.one_of(strategies))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=DEADLINE_MS,
        # Reproducible in CI; MINUTA_FUZZ_RANDOM=1 draws new inputs on every run.
        derandomize=not os.environ.get("MINUTA_FUZZ_RANDOM"),
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=target.headers, checks=CHECKS)

    try:
        run()
    except (Exception, BaseExceptionGroup) as exc:  # every operation's failures, one report
        if isinstance(exc, FailureGroup):
            return f"{operation.label}:\n{exc}"
        # Not a check's verdict: an exception escaped the app (or the client); show where.
        return f"{operation.label}:\n{''.join(traceback.format_exception(exc))}"
    return None


def test_every_operation_survives_fuzzing(fuzz_target: FuzzTarget) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_target.app)
    schema.config.generation.update(with_security_parameters=False)
    results = list(schema.get_all_operations())
    assert not [r.err() for r in results if isinstance(r, Err)], "the spec has broken operations"
    operations = [r.ok() for r in results if isinstance(r, Ok)]
    labels = {op.label for op in operations}
    # The whole API, upload included (a sanity check that the spec was read, not a list to keep).
    assert {"POST /v1/meetings", "GET /v1/meetings/{meeting_id}/export"} <= labels
    assert len(operations) >= 25
    chosen = [op for op in operations if ONLY in op.label]
    failures = [found for op in chosen if (found := _fuzz(op, fuzz_target)) is not None]
    assert not failures, "\n\n".join(failures)
