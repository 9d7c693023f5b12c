"""The CMMS write outbox (bot.services.cmms_sync) against FakeAtlas and the local CMMS, on every
stack: writes are recorded first, retried with backoff, never duplicated, and people are told."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from bot import texts
from bot.domain import Priority, WorkOrderSource, WorkOrderStatus
from bot.services.cmms_sync import CmmsSync, RetryPolicy
from bot.services.work_orders import PendingFile
from handlers.work_orders import outcome_text
from integrations.cmms.atlas import AtlasCmms
from integrations.cmms.local import LocalCmms
from integrations.cmms.port import NewWorkOrder
from storage.db import Database
from storage.migrate import upgrade
from storage.models import OutboxMessage, User, WorkOrderRequest, utcnow
from storage.uow import UnitOfWorkFactory
from tests.clock import Clock
from tests.conftest import TEST_ADMIN_KEY, RivetHarness, Stack
from tests.fakes.atlas import FAKE_ADMIN_EMAIL, FakeAtlas, rivet_client, rivet_settings

REPORTER_CHAT = 7_700
ADMIN_CHAT = 7_900
ENV_ADMIN_CHAT = 7_901


class LaggyAtlas(FakeAtlas):
    """Creates the work order, then answers late: the client never learns it succeeded."""

    lag_creates = 0.0

    async def _create_work_order(self, request: web.Request) -> Any:
        result = await super()._create_work_order(request)
        if self.lag_creates:
            await asyncio.sleep(self.lag_creates)
        return result


@dataclass
class World:
    uow: UnitOfWorkFactory
    fake: LaggyAtlas
    atlas: AtlasCmms
    sync: CmmsSync
    clock: Clock
    reporter_id: int


@pytest.fixture
async def world(stack: Stack, tmp_path: Path) -> AsyncIterator[World]:
    database = Database(stack.database_url(tmp_path))
    await upgrade(database.engine)
    uow = UnitOfWorkFactory(database.sessionmaker)
    async with uow() as unit:
        admin = await unit.users.add(
            User(
                email="boss@plant.example",
                role="admin",
                telegram_chat_id=ADMIN_CHAT,
                telegram_user_id=ADMIN_CHAT,
                display_name="Boss",
            )
        )
        reporter = await unit.users.add(
            User(
                email="ana@plant.example",
                telegram_chat_id=REPORTER_CHAT,
                telegram_user_id=REPORTER_CHAT,
                display_name="Ana",
            )
        )
        await unit.commit()
        assert admin.id
        reporter_id = reporter.id
    async with LaggyAtlas() as fake:
        atlas = rivet_client(fake, tmp_path / "files", timeout=0.5)
        clock = Clock()
        sync = CmmsSync(
            uow,
            atlas,
            admin_telegram_ids=[ENV_ADMIN_CHAT],
            policy=RetryPolicy(immediate_timeout_s=5.0),
            clock=clock,
            files_dir=tmp_path / "pending-files",
        )
        yield World(uow, fake, atlas, sync, clock, reporter_id)
        await atlas.close()
    await database.close()


def report(key: str, title: str = "Pump 3 leaking") -> NewWorkOrder:
    return NewWorkOrder(
        title=title,
        description="Oil under the seal",
        priority=Priority.HIGH,
        idempotency_key=key,
        source=WorkOrderSource.TELEGRAM_TEXT,
        created_by_email="ana@plant.example",
    )


async def requests(world: World) -> list[WorkOrderRequest]:
    async with world.uow() as uow:
        rows = list(
            await uow.session.scalars(select(WorkOrderRequest).order_by(WorkOrderRequest.id))
        )
        uow.session.expunge_all()  # plain objects that outlive the session
        return rows


async def outbox(world: World) -> list[OutboxMessage]:
    async with world.uow() as uow:
        rows = list(await uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        uow.session.expunge_all()
        return rows


async def drain(world: World, rounds: int = 50) -> None:
    """Run the scheduler's job until nothing is due, jumping the clock past every backoff."""
    for _ in range(rounds):
        world.clock.advance(timedelta(hours=1))
        await world.sync.retry_due()
        if all(r.state != "pending" for r in await requests(world)):
            return
    raise AssertionError("requests still pending after draining")


# ---------------------------------------------------------------------- acceptance 3


async def test_photos_of_a_report_survive_an_outage_and_are_attached_once(
    world: World, tmp_path: Path
) -> None:
    fake = world.fake
    fake.licensed = True
    photos = [PendingFile(f"photo-{n}.jpg", "image/jpeg", f"jpeg-{n}".encode()) for n in (1, 2)]
    fake.down = True
    outcome = await world.sync.submit_create(
        report(f"tg:{REPORTER_CHAT}:photos"),
        user_id=world.reporter_id,
        chat_id=REPORTER_CHAT,
        attachments=photos,
    )
    assert outcome.queued and outcome.work_order is None
    assert len(list((tmp_path / "pending-files").iterdir())) == 2  # kept on disk meanwhile
    fake.down = False
    await drain(world)
    found = await world.atlas.find_by_idempotency_key(f"tg:{REPORTER_CHAT}:photos")
    assert found is not None
    assert sorted(a.file_name for a in found.attachments) == ["photo-1.jpg", "photo-2.jpg"]
    assert list((tmp_path / "pending-files").iterdir()) == []
    await world.sync.retry_due()  # nothing left to do: no second copy
    again = await world.atlas.get_work_order(found.id)
    assert len(again.attachments) == 2


async def test_atlas_down_during_100_creations_all_exist_exactly_once(world: World) -> None:
    fake = world.fake
    fake.licensed = True  # no free-tier cap of 30 open work orders here
    submit = world.sync.submit_create
    await world.atlas.list_open_work_orders()  # signed in before the trouble starts

    fake.down = True  # a reverse proxy answering 502
    down = await asyncio.gather(
        *(
            submit(
                report(f"tg:{REPORTER_CHAT}:{n}"), user_id=world.reporter_id, chat_id=REPORTER_CHAT
            )
            for n in range(40)
        )
    )
    fake.down = False
    fake.lag_creates = 1.0  # created in Atlas, but the answer comes after the client gave up
    lost = await asyncio.gather(
        *(
            submit(
                report(f"tg:{REPORTER_CHAT}:{n}"), user_id=world.reporter_id, chat_id=REPORTER_CHAT
            )
            for n in range(40, 70)
        )
    )
    fake.lag_creates = 0.0
    await fake.stop()  # connection refused
    refused = await asyncio.gather(
        *(
            submit(
                report(f"tg:{REPORTER_CHAT}:{n}"), user_id=world.reporter_id, chat_id=REPORTER_CHAT
            )
            for n in range(70, 100)
        )
    )
    outcomes = [*down, *lost, *refused]
    assert all(o.queued and o.work_order is None for o in outcomes)
    assert {outcome_text(o, lambda wo: wo.number) for o in outcomes} == {texts.SAVED_WILL_SYNC}
    await asyncio.sleep(1.2)  # the late answers' work orders are in Atlas by now
    # Each create that reached Atlas made a work order the client never heard of. (On a busy
    # machine a few attempts time out earlier, at their duplicate search, and create nothing.)
    creates = [r for r in fake.requests if r.path == "/work-orders" and r.status == 200]
    assert len(fake.work_orders) == len(creates) >= 20

    # Still down: the job probes once per run, nothing is lost or duplicated.
    world.clock.advance(timedelta(hours=1))
    assert await world.sync.retry_due() == 0
    await fake.start()
    await drain(world)

    keys = [wo["description"].split("key=")[1].split(";")[0] for wo in fake.work_orders.values()]
    assert sorted(keys) == sorted(f"tg:{REPORTER_CHAT}:{n}" for n in range(100))
    rows = await requests(world)
    assert len(rows) == 100 and {r.state for r in rows} == {"synced"}
    assert len({r.cmms_id for r in rows}) == 100
    assert {r.cmms_number for r in rows} == {wo["customId"] for wo in fake.work_orders.values()}
    told = [m for m in await outbox(world) if m.chat_id == REPORTER_CHAT]
    assert len(told) == 100 and all("Synced as" in m.text for m in told)


async def test_a_double_submit_and_an_immediate_success_make_one_work_order(world: World) -> None:
    first = await world.sync.submit_create(report("tg:1:1"), user_id=None, chat_id=REPORTER_CHAT)
    again = await world.sync.submit_create(report("tg:1:1"), user_id=None, chat_id=REPORTER_CHAT)

    assert first.work_order is not None and again.work_order is not None
    assert (
        first.work_order.id == again.work_order.id == next(iter(world.fake.work_orders)).__str__()
    )
    assert len(world.fake.work_orders) == 1
    assert [r.state for r in await requests(world)] == ["synced"]
    assert await outbox(world) == []  # the conversation shows the immediate answer itself


# ---------------------------------------------------------------------- acceptance 4


async def test_open_work_order_cap_tells_user_and_admins_and_keeps_the_report(
    world: World,
) -> None:
    fake = world.fake
    seeded = [fake.add_work_order(f"Seeded {n}") for n in range(30)]

    outcome = await world.sync.submit_create(
        report("tg:7700:5", "Conveyor 7 belt torn"),
        user_id=world.reporter_id,
        chat_id=REPORTER_CHAT,
    )

    assert outcome.work_order is None and outcome.queued
    assert outcome.problem is not None and "30 open work orders" in outcome.problem
    assert "admin has been told" in outcome.problem
    [row] = await requests(world)
    assert row.state == "blocked_by_limit" and "licence" in (row.last_error or "")
    to_admins = {m.chat_id: m.text for m in await outbox(world)}
    assert set(to_admins) == {ADMIN_CHAT, ENV_ADMIN_CHAT}
    assert all("Conveyor 7 belt torn" in t and "Ana" in t for t in to_admins.values())

    world.clock.advance(timedelta(minutes=5))  # the slow cadence: not yet
    assert await world.sync.retry_due() == 0
    fake.set_status(seeded[0], "COMPLETE")  # someone makes room in Atlas
    world.clock.advance(timedelta(minutes=15))
    assert await world.sync.retry_due() == 1

    [row] = await requests(world)
    assert row.state == "synced" and row.cmms_number == "WO000031"
    assert len(fake.work_orders) == 31
    told = [m.text for m in await outbox(world) if m.chat_id == REPORTER_CHAT]
    assert told == [texts.synced_as("WO000031", row.cmms_url)]


async def test_rejected_write_fails_with_the_reason(world: World) -> None:
    await world.atlas.list_open_work_orders()
    world.fake.fail_next(406, "Estimated duration must be positive")

    outcome = await world.sync.submit_create(report("tg:2:2"), user_id=None, chat_id=REPORTER_CHAT)

    assert outcome.problem is not None and "Estimated duration must be positive" in outcome.problem
    [row] = await requests(world)
    assert row.state == "failed"
    world.clock.advance(timedelta(days=1))
    assert await world.sync.retry_due() == 0 and world.fake.work_orders == {}


async def test_status_and_note_wait_for_the_cmms_and_are_applied_once(world: World) -> None:
    created = await world.sync.submit_create(report("tg:3:3"), user_id=None, chat_id=REPORTER_CHAT)
    assert created.work_order is not None
    wo_id = created.work_order.id
    world.fake.down = True

    status = await world.sync.submit_status(
        wo_id,
        WorkOrderStatus.COMPLETE,
        note="Replaced the seal",
        user_id=None,
        chat_id=REPORTER_CHAT,
    )
    note = await world.sync.submit_note(
        wo_id,
        "Pump runs cool now",
        author_email="ana@plant.example",
        user_id=None,
        chat_id=REPORTER_CHAT,
    )
    assert status.queued and note.queued
    assert status.problem == texts.CMMS_UPDATE_SAVED_WILL_SYNC
    world.fake.down = False
    await drain(world)

    done = await world.atlas.get_work_order(wo_id)
    assert done.status is WorkOrderStatus.COMPLETE
    assert [n.text for n in done.notes] == ["Replaced the seal", "Pump runs cool now"]
    told = [m.text for m in await outbox(world)]
    assert told == [texts.cmms_update_synced(created.work_order.number)] * 2


async def test_the_local_cmms_syncs_at_once(stack: Stack, tmp_path: Path) -> None:
    database = Database(stack.database_url(tmp_path))
    await upgrade(database.engine)
    uow = UnitOfWorkFactory(database.sessionmaker)
    sync = CmmsSync(uow, LocalCmms(uow, files_dir=tmp_path / "files"))
    try:
        outcome = await sync.submit_create(report("tg:4:4"), user_id=None, chat_id=None)
        assert outcome.work_order is not None and outcome.work_order.number == "WO-000001"
        status = await sync.submit_status(
            outcome.work_order.id,
            WorkOrderStatus.IN_PROGRESS,
            note=None,
            user_id=None,
            chat_id=None,
        )
        assert status.work_order is not None
        assert status.work_order.status is WorkOrderStatus.IN_PROGRESS
        assert await sync.queue_counts() == {"synced": 2}
    finally:
        await database.close()


# ---------------------------------------------------------------------- acceptance 2


async def test_bad_credentials_are_reported_and_writes_wait_then_sync(
    fake_atlas: FakeAtlas,
    emulator: Any,
    make_settings: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    wrong = "not-the-atlas-passphrase"
    settings = make_settings(**rivet_settings(fake_atlas, password=wrong))
    from bot.runtime import create_app

    harness = RivetHarness(emulator, make_settings, create_app(settings))
    await harness.runtime.start()
    try:
        ana = emulator.user(REPORTER_CHAT, first_name="Ana")
        _, body, _ = await harness.http(
            "GET", "/api/status", headers={"Authorization": f"Bearer {TEST_ADMIN_KEY}"}
        )
        cmms_line = body["services"]["cmms"]
        assert cmms_line["status"] == "error"
        assert "rejected Rivet's credentials" in cmms_line["detail"]
        assert FAKE_ADMIN_EMAIL in cmms_line["detail"]
        assert "rejected Rivet's credentials" in caplog.text
        assert wrong not in caplog.text

        sync = harness.runtime.services.cmms_sync
        outcome = await sync.submit_create(report("tg:7700:1"), user_id=None, chat_id=ana.chat_id)
        assert outcome_text(outcome, lambda wo: wo.number) == texts.SAVED_WILL_SYNC
        assert fake_atlas.work_orders == {}

        # The admin sets Rivet's password in Atlas; the next retry goes through.
        admin = next(u for u in fake_atlas.users.values() if u["email"] == FAKE_ADMIN_EMAIL)
        admin["password"] = wrong
        async with harness.runtime.services.uow() as uow:
            for row in await uow.session.scalars(select(WorkOrderRequest)):
                row.next_attempt_at = utcnow()
            await uow.commit()
        assert await sync.retry_due() == 1
        assert harness.runtime.outbox is not None
        await harness.runtime.outbox.deliver_due()
        await ana.wait_for_message("Synced as")
        assert "WO000001" in ana.last_message().text

        # Token expiry mid-run: a transparent sign-in, the write goes straight through.
        fake_atlas.expire_tokens()
        again = await sync.submit_create(report("tg:7700:2"), user_id=None, chat_id=ana.chat_id)
        assert again.work_order is not None and again.work_order.number == "WO000002"
        _, body, _ = await harness.http(
            "GET", "/api/status", headers={"Authorization": f"Bearer {TEST_ADMIN_KEY}"}
        )
        assert body["services"]["cmms"]["status"] == "ok"
    finally:
        await harness.runtime.stop()
