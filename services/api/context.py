"""Everything a request or a background task of the API needs, built once per app."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.messaging.base import Broker
from services.api.events import EventApplier, MeetingNotifier
from services.api.job_links import JobLinks
from services.api.outbox import OutboxRelay
from services.api.quotas import Quotas
from services.api.settings import ApiSettings
from services.api.storage.base import Storage
from services.api.webhooks import WebhookDispatcher
from services.egress import EgressPolicy


@dataclass
class ApiContext:
    settings: ApiSettings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    storage: Storage
    broker: Broker
    relay: OutboxRelay
    applier: EventApplier
    webhooks: WebhookDispatcher
    notifier: MeetingNotifier
    # Every URL a tenant gives (webhook, bot meeting, calendar) is checked against it.
    egress: EgressPolicy
    quotas: Quotas
    job_links: JobLinks
