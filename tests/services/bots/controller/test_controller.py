"""The controller loop against real local bot processes: scheduling at join_at, the concurrency
limit, and orphans (a killed runner, a silent runner) failed as crashed and cleaned up."""

from __future__ import annotations

import os
import signal
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from services.api.db.models import Bot
from services.bots.controller.backends.base import RunnerHandle
from services.bots.controller.backends.local import LocalProcessBackend
from services.bots.controller.controller import MeetingController
from tests.services.api.conftest import ApiStack, make_settings, open_stack
from tests.services.bots.test_routes import controller_settings

pytestmark = pytest.mark.anyio


async def _bot(stack: ApiStack, bot_id: str) -> Bot:
    async with stack.ctx.sessionmaker() as session:
        found = await session.scalar(select(Bot).where(Bot.id == uuid.UUID(bot_id)))
        assert found is not None
        return found


def _wait_dead(backend: LocalProcessBackend, handle: RunnerHandle) -> None:
    # SIGKILL is delivered asynchronously; the controller would see it on its next tick.
    deadline = time.monotonic() + 10
    while backend.is_alive(handle) and time.monotonic() < deadline:
        time.sleep(0.05)


def _pid(bot: Bot) -> int:
    assert bot.runner_handle is not None
    return int(bot.runner_handle.split(":")[0])


async def test_due_bots_launch_within_the_limit_and_orphans_are_reaped(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    settings = make_settings("sqlite-local", request, tmp_path)
    async with open_stack(settings, controller_settings=controller_settings(tmp_path)) as stack:
        controller: MeetingController = stack.app.state.bot_controller
        backend = controller.backend
        assert isinstance(backend, LocalProcessBackend)
        acme = await stack.tenant()
        now = datetime.now(UTC)
        in_an_hour = (now + timedelta(hours=1)).isoformat()
        due = [
            (
                await stack.client.post(
                    "/v1/bots", headers=acme, json={"meeting_url": "https://x.test/silent"}
                )
            ).json()["id"]
            for _ in range(3)
        ]
        later = (
            await stack.client.post(
                "/v1/bots",
                headers=acme,
                json={"meeting_url": "https://x.test/silent", "join_at": in_an_hour},
            )
        ).json()["id"]
        try:
            first = await controller.tick()
            assert len(first.launched) == 2  # bot_concurrency=2
            launched = [await _bot(stack, str(b)) for b in first.launched]
            for bot in launched:
                assert bot.state == "launching" and bot.runner_handle
                spec = backend.spec_path(bot.id)
                assert spec.stat().st_mode & 0o777 == 0o600  # it holds the token
                assert backend.is_alive(RunnerHandle("local", bot.runner_handle))
            assert (await controller.tick()).launched == []  # full: the third waits

            # kill -9 one runner: it is failed(crashed), cleaned up, and the third bot starts.
            victim = launched[0]
            os.kill(_pid(victim), signal.SIGKILL)
            _wait_dead(backend, RunnerHandle("local", victim.runner_handle or ""))
            report = await controller.tick()
            assert report.reaped == [victim.id]
            reaped = await _bot(stack, str(victim.id))
            assert reaped.state == "failed" and reaped.reason == "crashed"
            assert "runner ended" in (reaped.detail or "")
            assert reaped.runner_released_at is not None
            assert not backend.spec_path(victim.id).exists()
            assert len(report.launched) == 1
            assert {str(b) for b in [*first.launched, *report.launched]} == set(due)
            assert (await _bot(stack, later)).state == "scheduled"

            # Silent runners (no heartbeat past the launch timeout) are orphans too.
            silent_until = now + timedelta(seconds=200)
            report = await controller.tick(now=silent_until)
            assert len(report.reaped) == 2
            for bot_id in report.reaped:
                bot = await _bot(stack, str(bot_id))
                assert bot.state == "failed" and "no heartbeat" in (bot.detail or "")
                assert not backend.is_alive(RunnerHandle("local", bot.runner_handle or ""))

            # The scheduled bot starts at its join_at, not before.
            assert report.launched == []
            at_join = await controller.tick(now=now + timedelta(hours=1, seconds=1))
            assert [str(b) for b in at_join.launched] == [later]
        finally:
            async with stack.ctx.sessionmaker() as session:
                for bot in await session.scalars(select(Bot)):
                    if bot.runner_handle:
                        backend.stop(RunnerHandle("local", bot.runner_handle))


async def test_a_restarted_api_reattaches_to_live_runners_and_reaps_dead_ones(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    settings = make_settings("sqlite-local", request, tmp_path)
    control = controller_settings(tmp_path)
    async with open_stack(settings, controller_settings=control) as stack:
        acme = await stack.tenant()
        for _ in range(2):
            await stack.client.post(
                "/v1/bots", headers=acme, json={"meeting_url": "https://x.test/silent"}
            )
        launched = (await stack.app.state.bot_controller.tick()).launched
        assert len(launched) == 2
    # A new app (as after a restart): its backend knows the processes only from the database.
    async with open_stack(settings, controller_settings=control) as stack:
        controller: MeetingController = stack.app.state.bot_controller
        bots = [await _bot(stack, str(b)) for b in launched]
        os.kill(_pid(bots[0]), signal.SIGKILL)
        os.waitpid(_pid(bots[0]), 0)  # reaped here: this test process was the parent
        deadline = time.monotonic() + 10
        report = await controller.tick()
        while not report.reaped and time.monotonic() < deadline:
            report = await controller.tick()
        assert report.reaped == [bots[0].id]
        survivor = await _bot(stack, str(bots[1].id))
        assert survivor.state == "launching"  # alive: re-attached, not reaped
        handle = RunnerHandle("local", survivor.runner_handle or "")
        assert controller.backend.is_alive(handle)
        controller.backend.stop(handle)
        assert not controller.backend.is_alive(handle)
        os.waitpid(_pid(survivor), os.WNOHANG)
