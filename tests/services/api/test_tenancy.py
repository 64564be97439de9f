"""API keys and tenant isolation: another tenant's meeting is a 404, never data."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from services.api.db.models import ApiKey, Meeting, utcnow
from services.api.tenants import (
    KEY_PREFIX,
    authenticate,
    create_key,
    find_tenant,
    generate_key,
    hash_key,
    revoke_key,
)
from tests.services.api.conftest import ApiStack
from tests.services.api.helpers import completed

pytestmark = pytest.mark.anyio


async def _completed_meeting(
    stack: ApiStack, headers: dict[str, str], audio_dir: Path
) -> tuple[str, str]:
    response = await stack.upload(headers, audio_dir / "asr_en" / "jfk.flac", title="A's meeting")
    assert response.status_code == 202
    meeting_id = response.json()["id"]
    async with stack.ctx.sessionmaker() as session:
        meeting = await session.get(Meeting, uuid.UUID(meeting_id))
        assert meeting is not None
    await stack.broker.deliver(completed(meeting))
    return str(meeting_id), meeting.audio_key


async def test_tenant_b_cannot_read_list_export_edit_or_delete_a_meeting_of_a(
    stack: ApiStack, audio_dir: Path
) -> None:
    a = await stack.tenant("a")
    b = await stack.tenant("b")
    meeting_id, key = await _completed_meeting(stack, a, audio_dir)
    base = f"/v1/meetings/{meeting_id}"
    client = stack.client

    assert (await client.get(base, headers=a)).status_code == 200
    listed_b = await client.get("/v1/meetings", headers=b)
    assert listed_b.status_code == 200 and listed_b.json()["items"] == []

    attempts = {
        "read": await client.get(base, headers=b),
        "export": await client.get(f"{base}/export?format=json", headers=b),
        "events": await client.get(f"{base}/events", headers=b),
        "patch": await client.patch(base, headers=b, json={"title": "stolen"}),
        "rename": await client.patch(
            f"{base}/speakers/SPEAKER_00", headers=b, json={"name": "Mallory"}
        ),
        "delete": await client.delete(base, headers=b),
    }
    missing = await client.get(f"/v1/meetings/{uuid.uuid4()}", headers=b)
    for what, response in attempts.items():
        assert response.status_code == 404, what
        # Indistinguishable from a meeting that does not exist.
        assert response.json() == missing.json(), what

    after = (await client.get(base, headers=a)).json()
    assert after["title"] == "A's meeting"
    assert after["result"]["speakers"][0]["name"] is None
    assert await stack.stored_bytes(key) is not None


async def test_keys_bearer_x_api_key_missing_wrong_and_revoked(stack: ApiStack) -> None:
    headers = await stack.tenant("acme")
    secret = headers["Authorization"].removeprefix("Bearer ")
    assert secret.startswith(KEY_PREFIX)
    client = stack.client

    assert (await client.get("/v1/meetings", headers=headers)).status_code == 200
    assert (await client.get("/v1/meetings", headers={"X-API-Key": secret})).status_code == 200

    missing = await client.get("/v1/meetings")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in missing.json()["detail"]

    wrong = await client.get("/v1/meetings", headers={"Authorization": f"Bearer {secret}x"})
    assert wrong.status_code == 401
    assert "not valid" in wrong.json()["detail"]

    async with stack.ctx.sessionmaker() as session, session.begin():
        key = await revoke_key(session, secret[:11])  # by its visible prefix
        assert key is not None and key.key_hash == hash_key(secret)
    revoked = await client.get("/v1/meetings", headers=headers)
    assert revoked.status_code == 401

    # A second key of the same tenant keeps working (rotation).
    async with stack.ctx.sessionmaker() as session, session.begin():
        issued = await create_key(session, key.tenant_id, name="rotated")
    ok = await client.get("/v1/meetings", headers={"Authorization": f"Bearer {issued.secret}"})
    assert ok.status_code == 200


async def test_only_a_hash_of_the_key_is_stored(stack: ApiStack) -> None:
    headers = await stack.tenant("acme")
    secret = headers["Authorization"].removeprefix("Bearer ")
    async with stack.ctx.sessionmaker() as session:
        keys = list(await session.scalars(select(ApiKey)))
        # Every column of the raw row, as the database holds it.
        rows = [tuple(r) for r in (await session.execute(text("SELECT * FROM api_keys"))).all()]
    assert len(keys) == 1 and len(rows) == 1
    stored = keys[0]
    assert stored.key_hash == hash_key(secret) and secret not in stored.key_hash
    assert secret.startswith(stored.prefix) and len(stored.prefix) < 16
    hidden_part = secret[len(stored.prefix) :]
    for value in rows[0]:
        assert hidden_part[:8] not in str(value), "a column holds part of the secret"


async def test_a_wrong_key_with_the_right_prefix_is_refused(stack: ApiStack) -> None:
    headers = await stack.tenant("acme")
    secret = headers["Authorization"].removeprefix("Bearer ")
    last = "A" if secret[-1] != "A" else "B"
    for wrong in (
        secret[:-1] + last,  # one character off
        secret[:11] + "x" * (len(secret) - 11),  # the visible prefix and anything
        secret[:11],  # the prefix alone
        secret + "x",
    ):
        answer = await stack.client.get("/v1/meetings", headers={"X-API-Key": wrong})
        assert answer.status_code == 401
    assert (await stack.client.get("/v1/meetings", headers=headers)).status_code == 200


async def test_keys_sharing_a_prefix_each_open_their_own_tenant(stack: ApiStack) -> None:
    """The prefix only narrows the search: the hash decides, and revocation is per key."""
    a = (await stack.tenant("a"))["Authorization"].removeprefix("Bearer ")
    await stack.tenant("b")
    b = a[:11] + generate_key()[11:]  # a second key that happens to start like the first
    async with stack.ctx.sessionmaker() as session, session.begin():
        tenant_b = await find_tenant(session, "b")
        assert tenant_b is not None
        session.add(ApiKey(tenant_id=tenant_b.id, name="twin", prefix=b[:11], key_hash=hash_key(b)))
    async with stack.ctx.sessionmaker() as session:
        found_a, found_b = await authenticate(session, a), await authenticate(session, b)
        assert found_a is not None and found_b is not None
        assert (found_a.name, found_b.name) == ("a", "b")
        assert await authenticate(session, a[:11] + generate_key()[11:]) is None
    async with stack.ctx.sessionmaker() as session, session.begin():
        await session.execute(
            update(ApiKey).where(ApiKey.key_hash == hash_key(a)).values(revoked_at=utcnow())
        )
    refused = await stack.client.get("/v1/meetings", headers={"X-API-Key": a})
    assert refused.status_code == 401
    assert (await stack.client.get("/v1/meetings", headers={"X-API-Key": b})).status_code == 200
