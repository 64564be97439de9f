"""The SDK's real transport against a local endpoint that stores what it receives."""

from __future__ import annotations

import gzip
import json
import logging
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import sentry_sdk

from core.telemetry.sentry import init_sentry, job_scope, scrub_text

TRANSCRIPT = "Alice said the merger closes on Friday and nobody may know"
SIGNATURE = "c0ffee1234deadbeef"
PRESIGNED = (
    "http://127.0.0.1:8333/minuta/recordings/abc.wav?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    f"&X-Amz-Credential=AKIAEXAMPLE%2F20261123&X-Amz-Signature={SIGNATURE}"
)


class EnvelopeStore(BaseHTTPRequestHandler):
    received: ClassVar[list[bytes]] = []
    paths: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        elif encoding == "br":
            import brotli

            body = brotli.decompress(body)
        type(self).received.append(body)
        type(self).paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        return None


def parse_envelope(raw: bytes) -> list[tuple[dict[str, Any], bytes]]:
    """Items of a Sentry envelope: a header line, then per item a header line and a payload."""
    _, _, rest = raw.partition(b"\n")
    items: list[tuple[dict[str, Any], bytes]] = []
    while rest.strip():
        line, _, rest = rest.partition(b"\n")
        header = json.loads(line)
        if "length" in header:
            payload, rest = rest[: header["length"]], rest[header["length"] :]
            rest = rest.removeprefix(b"\n")
        else:
            payload, _, rest = rest.partition(b"\n")
        items.append((header, payload))
    return items


@pytest.fixture
def endpoint() -> Iterator[str]:
    EnvelopeStore.received, EnvelopeStore.paths = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), EnvelopeStore)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://publickey@127.0.0.1:{server.server_address[1]}/42"
    finally:
        client = sentry_sdk.get_client()
        client.close()
        sentry_sdk.get_global_scope().set_client(None)
        server.shutdown()
        server.server_close()


def fail_on_a_recording(url: str) -> None:
    transcript_text = TRANSCRIPT  # a local variable the SDK must not ship
    raise RuntimeError(f"download of {url} failed while reading {len(transcript_text)} chars")


def test_an_error_arrives_tagged_and_without_recording_content(endpoint: str) -> None:
    assert (
        init_sentry("ml-controller", endpoint, environment="test", release="minuta@9.9.9-test")
        is True
    )
    job_id, tenant_id = uuid.uuid4(), uuid.uuid4()
    with job_scope(job_id, tenant_id):
        sentry_sdk.set_context("result", {"segments": [{"text": TRANSCRIPT}]})
        sentry_sdk.set_extra("transcript", TRANSCRIPT)
        sentry_sdk.add_breadcrumb(message=f"fetching {PRESIGNED}", data={"text": TRANSCRIPT})
        logging.getLogger("minuta.test").warning("job %s: fetching %s", job_id, PRESIGNED)
        try:
            fail_on_a_recording(PRESIGNED)
        except RuntimeError:
            sentry_sdk.capture_exception()
    # Tags of one job do not leak to what is reported outside it.
    sentry_sdk.capture_message("outside any job")
    assert sentry_sdk.flush(timeout=10) is None or True

    deadline = time.monotonic() + 10
    while len(EnvelopeStore.received) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    raw = b"".join(EnvelopeStore.received)
    assert all(path == "/api/42/envelope/" for path in EnvelopeStore.paths)
    events = [
        json.loads(payload)
        for body in EnvelopeStore.received
        for header, payload in parse_envelope(body)
        if header.get("type") == "event"
    ]
    assert len(events) == 2, events
    error = next(e for e in events if e.get("exception"))
    other = next(e for e in events if not e.get("exception"))

    assert error["tags"]["job_id"] == str(job_id)
    assert error["tags"]["tenant"] == str(tenant_id)
    assert error["tags"]["service"] == "ml-controller"
    assert error["environment"] == "test"
    assert error["release"] == other["release"] == "minuta@9.9.9-test"
    assert error["exception"]["values"][-1]["type"] == "RuntimeError"
    message = error["exception"]["values"][-1]["value"]
    assert "http://127.0.0.1:8333/minuta/recordings/abc.wav?[redacted]" in message
    assert "job_id" not in other.get("tags", {})
    assert other["tags"]["service"] == "ml-controller"
    # Nothing of the meeting and no credential in any byte that left the process.
    assert TRANSCRIPT.encode() not in raw
    assert b"merger" not in raw
    assert SIGNATURE.encode() not in raw
    assert b"AKIAEXAMPLE" not in raw
    assert b"X-Amz-Signature=" not in raw
    frames = error["exception"]["values"][-1]["stacktrace"]["frames"]
    assert all("vars" not in frame for frame in frames)


def test_without_a_dsn_nothing_starts() -> None:
    assert init_sentry("api", None) is False
    assert init_sentry("api", "") is False


def test_scrub_text_keeps_what_helps_and_cuts_what_leaks() -> None:
    assert scrub_text(f"GET {PRESIGNED} -> 403") == (
        "GET http://127.0.0.1:8333/minuta/recordings/abc.wav?[redacted] -> 403"
    )
    pydantic = "1 validation error\nresult\n  Input should be a valid dict [type=dict_type, "
    pydantic += f"input_value='{TRANSCRIPT}', input_type=str]"
    assert TRANSCRIPT not in scrub_text(pydantic)
    assert "input_type=str" in scrub_text(pydantic)
    assert scrub_text("no secrets here") == "no secrets here"


def received_events(count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        events = [
            json.loads(payload)
            for body in EnvelopeStore.received
            for header, payload in parse_envelope(body)
            if header.get("type") == "event"
        ]
        if len(events) >= count:
            return events
        time.sleep(0.05)
    raise AssertionError(f"expected {count} events, got {len(EnvelopeStore.received)} envelopes")


def test_the_api_reports_with_the_release_and_environment_of_its_settings(
    endpoint: str, tmp_path: Path
) -> None:
    from core.messaging.settings import BrokerSettings
    from core.settings import TelemetrySettings
    from services.api.app import create_app
    from tests.services.api.helpers import settings_from

    settings = settings_from(data_dir=tmp_path, database_url=None, s3_bucket=None)
    telemetry = TelemetrySettings(
        _env_file=None,  # type: ignore[call-arg]
        sentry_dsn=endpoint,
        sentry_environment="staging",
        sentry_release="minuta@1.2.3-test",
    )
    create_app(
        settings,
        background=False,
        broker_settings=BrokerSettings(broker_url=None),
        telemetry=telemetry,
    )
    job_id, tenant_id = uuid.uuid4(), uuid.uuid4()
    with job_scope(job_id, tenant_id):
        sentry_sdk.capture_message("an event applied badly")
    sentry_sdk.flush(timeout=10)
    (event,) = received_events(1)
    assert event["release"] == "minuta@1.2.3-test"
    assert event["environment"] == "staging"
    assert event["tags"]["service"] == "api"
    assert event["tags"]["job_id"] == str(job_id) and event["tags"]["tenant"] == str(tenant_id)


def test_the_telemetry_settings_carry_release_and_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from core.settings import TelemetrySettings

    monkeypatch.setenv("MINUTA_SENTRY_ENVIRONMENT", "production")
    monkeypatch.setenv("MINUTA_SENTRY_RELEASE", "minuta@2.0.0")
    settings = TelemetrySettings(_env_file=None)  # type: ignore[call-arg]
    assert (settings.sentry_environment, settings.sentry_release) == ("production", "minuta@2.0.0")


def received_items(kind: str, count: int) -> list[bytes]:
    deadline = time.monotonic() + 10
    while True:
        items = [
            payload
            for body in EnvelopeStore.received
            for header, payload in parse_envelope(body)
            if header.get("type") == kind
        ]
        if len(items) >= count or time.monotonic() > deadline:
            return items
        time.sleep(0.05)


def test_logs_spans_and_error_logs_are_scrubbed_under_sentry_sdk_3(endpoint: str) -> None:
    """sentry-sdk 3 ships INFO logs and spans by default and no longer makes events of error
    logs; Minuta keeps logs opt-in, error logs as events, and scrubs all of them."""
    assert int(sentry_sdk.VERSION.split(".")[0]) >= 3
    init_sentry("api", endpoint, traces_sample_rate=1.0, enable_logs=True)
    log = logging.getLogger("minuta.test")
    log.setLevel(logging.INFO)
    log.info("fetching %s", PRESIGNED)
    log.error("job failed on %s", PRESIGNED)
    with sentry_sdk.start_span(name="job"):
        sentry_sdk.set_extra("transcript", TRANSCRIPT)
        sentry_sdk.get_current_scope().set_tag("step", "transcription")
    sentry_sdk.flush(timeout=10)

    logs = received_items("log", 1)
    (event,) = received_events(1)
    assert logs, "an INFO log was not shipped with enable_logs=True"
    raw = b"".join(EnvelopeStore.received)
    assert b"abc.wav?[redacted]" in b"".join(logs)
    assert "abc.wav?[redacted]" in json.dumps(event)
    assert SIGNATURE.encode() not in raw and TRANSCRIPT.encode() not in raw
    assert event["level"] == "error"


def test_logs_stay_home_unless_enabled(endpoint: str) -> None:
    init_sentry("api", endpoint)
    logging.getLogger("minuta.test").warning("a warning that stays in the process log")
    sentry_sdk.capture_message("flush marker")
    sentry_sdk.flush(timeout=10)
    received_events(1)
    assert received_items("log", 1) == []
