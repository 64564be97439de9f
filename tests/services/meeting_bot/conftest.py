"""Janus in its network namespace and the test meeting's page server, once per session."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from testkit.meeting.janus_server import JanusServer, JanusUnavailable, start_janus
from testkit.meeting.meeting_server import MeetingServer

_rooms = itertools.count(4100)


@pytest.fixture(scope="session")
def janus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JanusServer]:
    try:
        server = start_janus(tmp_path_factory.mktemp("janus"))
    except JanusUnavailable as error:
        pytest.fail(str(error))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def meetings(janus: JanusServer) -> Iterator[MeetingServer]:
    server = MeetingServer(janus.api_url)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def room_id() -> int:
    return next(_rooms)
