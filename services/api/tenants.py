"""Tenants and their API keys: creation, listing, revocation, and looking a key up."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.db.models import ApiKey, Tenant, utcnow

KEY_PREFIX = "mk_"
# Shown in listings so a person can tell keys apart; far too short to guess the key from.
_VISIBLE_CHARS = len(KEY_PREFIX) + 8


def hash_key(key: str) -> str:
    # A plain SHA-256 suffices: the key is 256 random bits, not a password to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class IssuedKey:
    """A new key; `secret` exists only here and is never stored."""

    key: ApiKey
    secret: str


async def create_tenant(session: AsyncSession, name: str) -> tuple[Tenant, IssuedKey]:
    tenant = Tenant(id=uuid.uuid4(), name=name)
    session.add(tenant)
    await session.flush()
    issued = await create_key(session, tenant.id, name="default")
    return tenant, issued


async def create_key(session: AsyncSession, tenant_id: uuid.UUID, *, name: str = "") -> IssuedKey:
    secret = generate_key()
    key = ApiKey(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        name=name,
        prefix=secret[:_VISIBLE_CHARS],
        key_hash=hash_key(secret),
    )
    session.add(key)
    await session.flush()
    return IssuedKey(key=key, secret=secret)


async def find_tenant(session: AsyncSession, name_or_id: str) -> Tenant | None:
    try:
        tenant_id = uuid.UUID(name_or_id)
    except ValueError:
        found = await session.scalars(select(Tenant).where(Tenant.name == name_or_id))
        matches = list(found)
        return matches[0] if len(matches) == 1 else None
    return await session.get(Tenant, tenant_id)


async def list_keys(session: AsyncSession, tenant_id: uuid.UUID | None = None) -> list[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.created_at)
    if tenant_id is not None:
        query = query.where(ApiKey.tenant_id == tenant_id)
    return list(await session.scalars(query))


async def revoke_key(session: AsyncSession, id_or_prefix: str) -> ApiKey | None:
    """Revoke one key by id or by its visible prefix (which must then be unambiguous)."""
    try:
        key = await session.get(ApiKey, uuid.UUID(id_or_prefix))
    except ValueError:
        found = list(await session.scalars(select(ApiKey).where(ApiKey.prefix == id_or_prefix)))
        key = found[0] if len(found) == 1 else None
    if key is not None and key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


async def authenticate(session: AsyncSession, secret: str) -> Tenant | None:
    """The tenant owning an unrevoked key, or None."""
    if not secret.startswith(KEY_PREFIX) or len(secret) <= _VISIBLE_CHARS:
        return None
    # Found by the visible prefix (indexed), then the hashes compared in constant time: the
    # secret part never becomes a search term whose timing could leak how much of it matched.
    candidates = await session.scalars(
        select(ApiKey).where(ApiKey.prefix == secret[:_VISIBLE_CHARS])
    )
    presented = hash_key(secret)
    owner: uuid.UUID | None = None
    for key in candidates:
        # Every candidate is compared, revoked or not, so the work does not depend on which.
        if hmac.compare_digest(key.key_hash, presented) and key.revoked_at is None:
            owner = key.tenant_id
    return await session.get(Tenant, owner) if owner is not None else None
