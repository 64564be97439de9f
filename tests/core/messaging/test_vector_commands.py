"""Vector commands: durable, applied in the order published, retried, and dead-lettered when
unreadable, on the real RabbitMQ (classic and quorum queues) and in memory."""

from __future__ import annotations

import asyncio
import uuid

import aio_pika
import pytest

from core.contracts import (
    DeleteMeetingVectors,
    DeletePerson,
    EnrollSpeaker,
    MergePersons,
    UnknownContractError,
    VectorCommand,
    parse_vector_command,
)
from core.messaging.amqp import AmqpBroker
from core.messaging.memory import MemoryBroker
from testkit.rabbitmq import RABBIT_URL, Harness
from tests.core.messaging.test_brokers import KINDS, run, until


def _commands(tenant: uuid.UUID) -> list[VectorCommand]:
    meeting, alice, bob = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    return [
        EnrollSpeaker(tenant_id=tenant, meeting_id=meeting, label="S1", person_id=alice),
        EnrollSpeaker(tenant_id=tenant, meeting_id=meeting, label="S2", person_id=bob),
        MergePersons(tenant_id=tenant, source_id=bob, target_id=alice),
        DeletePerson(tenant_id=tenant, person_id=alice),
        DeleteMeetingVectors(tenant_id=tenant, meeting_id=meeting),
    ]


async def _publish_raw(broker: AmqpBroker | MemoryBroker, body: bytes) -> None:
    if isinstance(broker, MemoryBroker):
        broker.publish_raw(broker.names.vectors.name, body)
    else:
        await broker.publish_raw("", broker.names.vectors.name, body)


@pytest.mark.parametrize("kind", KINDS)
def test_commands_apply_in_order_and_failures_are_retried(kind: str) -> None:
    async def scenario(h: Harness) -> None:
        api, worker = await h.broker(), await h.broker()
        sent = _commands(uuid.uuid4())
        applied: list[VectorCommand] = []
        failed_once: set[str] = set()

        async def apply(command: VectorCommand) -> None:
            # The vector store is briefly down for the merge: it comes back after the delay.
            if isinstance(command, MergePersons) and command.kind not in failed_once:
                failed_once.add(command.kind)
                raise ConnectionError("qdrant restarting")
            applied.append(command)

        # Published while nobody consumes: kept by the broker, not lost.
        for command in sent[:2]:
            await api.publish_vector_command(command)
        await worker.consume_vector_commands(apply)
        for command in sent[2:]:
            await api.publish_vector_command(command)
        await until(lambda: len(applied) == len(sent))
        assert [c.kind for c in applied[:2]] == ["enroll_speaker", "enroll_speaker"]
        assert set(applied) == set(sent)
        assert applied[:2] == sent[:2]
        assert failed_once == {"merge_persons"}
        assert await h.dead_letters("vectors") == []

    run(scenario, kind)


@pytest.mark.parametrize("kind", ["memory", "amqp"])
def test_an_unreadable_command_is_dead_lettered_with_its_reason(kind: str) -> None:
    async def scenario(h: Harness) -> None:
        api, worker = await h.broker(), await h.broker()
        applied: list[VectorCommand] = []

        async def apply(command: VectorCommand) -> None:
            applied.append(command)

        await worker.consume_vector_commands(apply)
        future = (
            _commands(uuid.uuid4())[0]
            .model_dump_json()
            .replace('"version":1', '"version":2')
            .encode()
        )
        await _publish_raw(api, future)
        good = _commands(uuid.uuid4())[3]
        await api.publish_vector_command(good)
        await until(lambda: applied == [good])
        letters: list = []
        while not letters:
            letters = await h.dead_letters("vectors")
            await asyncio.sleep(0.05)
        assert len(letters) == 1 and "vector command" in letters[0].reason

    run(scenario, kind)


def test_the_commands_queue_is_durable_with_a_single_active_consumer() -> None:
    async def scenario(h: Harness) -> None:
        broker = await h.broker()
        assert isinstance(broker, AmqpBroker)
        await broker.publish_vector_command(_commands(uuid.uuid4())[0])
        connection = await aio_pika.connect(RABBIT_URL)
        async with connection:
            channel = await connection.channel()
            # Passive declare with other arguments would fail: these are the queue's own.
            queue = await channel.declare_queue(
                broker.names.vectors.name,
                durable=True,
                arguments={
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": broker.names.vectors.dead,
                    "x-single-active-consumer": True,
                },
            )
            message = await queue.get(timeout=5)
            assert message is not None
            assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
            assert parse_vector_command(message.body).kind == "enroll_speaker"
            await message.ack()

    run(scenario, "amqp")


def test_unknown_versions_of_every_new_message_are_refused() -> None:
    from core.contracts import parse_search_reply, parse_search_request

    for parse, body in (
        (parse_vector_command, b'{"version": 2, "kind": "delete_person"}'),
        (parse_vector_command, b'{"version": 1, "kind": "rename_everyone"}'),
        (parse_search_request, b'{"version": 2, "tenant_id": "%s", "query": "x"}'),
        (parse_search_reply, b'{"version": 3, "hits": []}'),
    ):
        with pytest.raises(UnknownContractError):
            parse(body.replace(b"%s", str(uuid.uuid4()).encode()))
