"""The controller loop: launch due bots within the concurrency limit, reap orphans, release
finished runners. Every decision is read from and written to the database, so a restarted API
carries on where the last one stopped, and several API processes can run it side by side."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api.db.models import Bot, utcnow
from services.bots.contracts import BotSpec, BotState, FailureReason
from services.bots.controller.backends.base import BackendError, ComputeBackend, RunnerHandle
from services.bots.controller.settings import ControllerSettings
from services.bots.tokens import hash_token, new_token
from services.bots.transitions import LIVE_STATES
from services.egress import IPNetwork

log = logging.getLogger(__name__)

_LIVE = [s.value for s in LIVE_STATES]
_TERMINAL = [BotState.done.value, BotState.failed.value]
# Any constant: controllers in several API processes take turns to launch (PostgreSQL).
_PG_LAUNCH_LOCK = 0x6D626F74
# Due bots looked at per free slot (those of tenants at their own limit are passed over).
_CANDIDATES_PER_SLOT = 20


@dataclass
class TickReport:
    launched: list[uuid.UUID] = field(default_factory=list)
    reaped: list[uuid.UUID] = field(default_factory=list)
    released: list[uuid.UUID] = field(default_factory=list)


@dataclass(frozen=True)
class _Claimed:
    bot_id: uuid.UUID
    spec: BotSpec


class MeetingController:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        backend: ComputeBackend,
        settings: ControllerSettings,
        api_url: str,
        egress_allow: Sequence[IPNetwork] = (),
    ) -> None:
        self.sessionmaker = sessionmaker
        # The bot checks every page it opens against the same policy, with these ranges allowed.
        self.egress_allow = [str(net) for net in egress_allow]
        self.backend = backend
        self.settings = settings
        self.api_url = api_url.rstrip("/")
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look now (a bot was created or cancelled) instead of at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        log.info("meeting controller started (backend %s)", self.backend.name)
        while True:
            try:
                await self.tick()
            except Exception:
                # A database or backend hiccup must not end the loop: the next tick retries.
                log.exception("meeting controller tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wake.wait(), timeout=self.settings.bot_controller_poll_seconds
                )
            self._wake.clear()

    async def tick(self, now: datetime | None = None) -> TickReport:
        report = TickReport()
        # Reap first: an orphan's slot is free for a due bot in the same tick.
        report.reaped = await self.reap_orphans(now)
        report.released = await self.release_finished(now)
        report.launched = await self.launch_due(now)
        return report

    # Launching.

    def _spec(self, bot: Bot, token: str) -> BotSpec:
        s = self.settings
        return BotSpec(
            bot_id=bot.id,
            meeting_url=bot.meeting_url,
            bot_name=bot.bot_name,
            max_duration=bot.max_duration,
            platform=bot.platform,
            api_url=self.api_url,
            bot_token=token,
            heartbeat_seconds=s.bot_heartbeat_seconds,
            admission_timeout=s.bot_admission_timeout_seconds,
            alone_timeout=s.bot_alone_timeout_seconds,
            egress_allow_cidrs=self.egress_allow,
        )

    async def _claim_due(self, now: datetime) -> list[_Claimed]:
        """Due scheduled bots, as many as there are free slots, moved to `launching` in one
        transaction (so no two controllers launch the same bot or overshoot the limit)."""
        claimed: list[_Claimed] = []
        async with self.sessionmaker() as session, session.begin():
            if session.get_bind().dialect.name == "postgresql":
                await session.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LAUNCH_LOCK}
                )
            running = await session.scalar(
                select(func.count()).select_from(Bot).where(Bot.state.in_(_LIVE))
            )
            free = self.settings.bot_concurrency - int(running or 0)
            if free <= 0:
                return []
            # Per tenant too: one tenant's calendar cannot take every slot.
            rows = await session.execute(
                select(Bot.tenant_id, func.count())
                .where(Bot.state.in_(_LIVE))
                .group_by(Bot.tenant_id)
            )
            per_tenant: dict[uuid.UUID, int] = {tenant: int(n) for tenant, n in rows}
            candidates = await session.scalars(
                select(Bot)
                .where(Bot.state == BotState.scheduled.value, Bot.join_at <= now)
                .order_by(Bot.join_at, Bot.id)
                .limit(free * _CANDIDATES_PER_SLOT)
            )
            due: list[Bot] = []
            for bot in candidates:
                if len(due) == free:
                    break
                if per_tenant.get(bot.tenant_id, 0) >= self.settings.bot_tenant_concurrency:
                    continue  # waits for one of its tenant's bots to finish
                per_tenant[bot.tenant_id] = per_tenant.get(bot.tenant_id, 0) + 1
                due.append(bot)
            for bot in due:
                token = new_token()
                bot.state = BotState.launching.value
                bot.token_hash = hash_token(token)
                bot.backend = self.backend.name
                bot.runner_handle = None
                # The launch timeout counts from here, even if this process dies right now.
                bot.last_heartbeat_at = now
                bot.updated_at = now
                claimed.append(_Claimed(bot.id, self._spec(bot, token)))
        return claimed

    async def launch_due(self, now: datetime | None = None) -> list[uuid.UUID]:
        now = now or utcnow()
        launched: list[uuid.UUID] = []
        for claim in await self._claim_due(now):
            try:
                handle = await asyncio.to_thread(self.backend.launch, claim.spec)
            except Exception as exc:
                log.error("bot %s: the runner could not be started: %s", claim.bot_id, exc)
                await self._fail(claim.bot_id, f"the runner could not be started: {exc}")
                continue
            async with self.sessionmaker() as session, session.begin():
                await session.execute(
                    update(Bot).where(Bot.id == claim.bot_id).values(runner_handle=handle.ref)
                )
            log.info("bot %s launched on %s (%s)", claim.bot_id, handle.backend, handle.ref)
            launched.append(claim.bot_id)
        return launched

    # Orphans and cleanup.

    async def _fail(
        self, bot_id: uuid.UUID, detail: str, *, silent_before: datetime | None = None
    ) -> bool:
        """failed(crashed) unless the bot reached a terminal state meanwhile (or, with
        `silent_before`, sent a heartbeat since)."""
        condition = [Bot.id == bot_id, Bot.state.not_in(_TERMINAL)]
        if silent_before is not None:
            condition.append(Bot.last_heartbeat_at <= silent_before)
        async with self.sessionmaker() as session, session.begin():
            done = await session.execute(
                update(Bot)
                .where(*condition)
                .values(
                    state=BotState.failed.value,
                    reason=FailureReason.crashed.value,
                    detail=detail,
                    updated_at=utcnow(),
                )
            )
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def _silence_limit(self, state: str) -> timedelta:
        if state == BotState.launching.value:
            return timedelta(seconds=self.settings.bot_launch_timeout_seconds)
        return timedelta(seconds=self.settings.orphan_after_seconds)

    async def reap_orphans(self, now: datetime | None = None) -> list[uuid.UUID]:
        now = now or utcnow()
        async with self.sessionmaker() as session:
            live = list(await session.scalars(select(Bot).where(Bot.state.in_(_LIVE))))
            await session.commit()
        reaped: list[uuid.UUID] = []
        for bot in live:
            why = await self._orphan_reason(bot, now)
            seen = bot.last_heartbeat_at
            if why is not None and await self._fail(bot.id, why, silent_before=seen):
                log.warning("bot %s is an orphan: %s", bot.id, why)
                reaped.append(bot.id)
        if reaped:
            await self.release_finished(now)
        return reaped

    async def _orphan_reason(self, bot: Bot, now: datetime) -> str | None:
        last = bot.last_heartbeat_at or bot.updated_at
        silent = now - last
        if silent > self._silence_limit(bot.state):
            return f"no heartbeat for {silent.total_seconds():.0f} s (state {bot.state})"
        if bot.runner_handle and bot.backend == self.backend.name:
            handle = RunnerHandle(bot.backend, bot.runner_handle)
            try:
                alive = await asyncio.to_thread(self.backend.is_alive, handle)
            except BackendError as exc:
                log.warning("bot %s: cannot ask the backend (%s); next time", bot.id, exc)
                return None
            if not alive:
                return f"its runner ended while the bot was {bot.state}"
        return None

    async def release_finished(self, now: datetime | None = None) -> list[uuid.UUID]:
        """Stop the runners of finished bots (a done bot gets a grace to exit by itself)."""
        now = now or utcnow()
        grace = timedelta(seconds=self.settings.bot_release_grace_seconds)
        async with self.sessionmaker() as session:
            finished = list(
                await session.scalars(
                    select(Bot).where(
                        Bot.state.in_(_TERMINAL),
                        Bot.runner_handle.is_not(None),
                        Bot.runner_released_at.is_(None),
                        Bot.backend == self.backend.name,
                    )
                )
            )
            await session.commit()
        released: list[uuid.UUID] = []
        for bot in finished:
            assert bot.runner_handle is not None
            handle = RunnerHandle(self.backend.name, bot.runner_handle)
            try:
                in_grace = bot.state == BotState.done.value and now - bot.updated_at < grace
                if in_grace and await asyncio.to_thread(self.backend.is_alive, handle):
                    continue
                await asyncio.to_thread(self.backend.stop, handle)
            except BackendError as exc:
                log.warning("bot %s: runner not released yet (%s)", bot.id, exc)
                continue
            async with self.sessionmaker() as session, session.begin():
                await session.execute(
                    update(Bot).where(Bot.id == bot.id).values(runner_released_at=utcnow())
                )
            released.append(bot.id)
        return released
