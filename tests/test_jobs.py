"""Issue 8's scheduled jobs: CMMS status sync (acceptance 6), escalation with Ack (acceptance 5),
the daily digest and the clean-up — through the real runtime and the Bot API emulator where a
person is involved, on every stack."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import func, select

from bot import texts
from bot.domain import Priority, Tier, WorkOrderSource, WorkOrderStatus
from bot.emulator import BotApiEmulator, EmulatedUser
from bot.runtime import create_app
from bot.services.cmms_sync import CmmsSync
from bot.services.cmms_watch import CmmsWatch
from bot.settings import Settings
from integrations.cmms.local import LocalCmms
from integrations.cmms.port import NewWorkOrder
from storage.db import Database
from storage.migrate import upgrade
from storage.models import (
    OnboardingToken,
    OutboxMessage,
    ProcessedUpdate,
    StripeEvent,
    User,
    WorkOrderAlert,
    utcnow,
)
from storage.uow import UnitOfWorkFactory
from tests.clock import Clock
from tests.conftest import RivetHarness, Stack
from tests.fakes.atlas import FakeAtlas, rivet_client

ADMIN_ID = 9101
BELL = "🔔"


@pytest.fixture
async def jobs_rivet(
    emulator: BotApiEmulator, make_settings: Callable[..., Settings]
) -> AsyncIterator[RivetHarness]:
    overrides: dict[str, Any] = {
        "admin_telegram_ids": [ADMIN_ID],
        "escalation_ack_minutes": 15,
        "digest_time": "06:30",
        "digest_timezone": "Europe/Berlin",
    }
    runtime = create_app(make_settings(**overrides))
    await runtime.start()
    harness = RivetHarness(emulator, make_settings, runtime, settings_overrides=overrides)
    yield harness
    await harness.runtime.stop()


async def linked_user(rivet: RivetHarness, telegram_id: int, email: str) -> EmulatedUser:
    _, token = await rivet.runtime.services.onboarding.add_user(
        email=email, name=email.split("@")[0].title(), tier=Tier.PRO
    )
    person = rivet.emulator.user(telegram_id, first_name=email.split("@")[0].title())
    await person.send_command("start", args=token)
    await person.wait_for_message("Welcome to Rivet")
    return person


async def user_id(rivet: RivetHarness, telegram_id: int) -> int:
    async with rivet.runtime.services.uow() as uow:
        user = await uow.users.by_telegram_id(telegram_id)
        assert user is not None
        return user.id


async def deliver(rivet: RivetHarness) -> None:
    assert rivet.runtime.outbox is not None
    await rivet.runtime.outbox.wait_triggered()
    await rivet.runtime.outbox.deliver_due()
    await rivet.emulator.wait_idle()


def with_text(person: EmulatedUser, needle: str) -> list[str]:
    return [m.text or "" for m in person.messages() if needle in (m.text or "")]


def new_order(key: str, *, priority: Priority = Priority.HIGH, **fields: Any) -> NewWorkOrder:
    return NewWorkOrder(
        title="Pump 3 leaking",
        description="Oil under the seal",
        priority=priority,
        idempotency_key=key,
        source=WorkOrderSource.TELEGRAM_TEXT,
        **fields,
    )


# ---------------------------------------------------------------------- acceptance 6


async def test_local_status_change_and_note_reach_the_creator_once(
    jobs_rivet: RivetHarness,
) -> None:
    runtime = jobs_rivet.runtime
    ana = await linked_user(jobs_rivet, 4001, "ana@plant.example")
    ana_id = await user_id(jobs_rivet, 4001)
    outcome = await runtime.services.cmms_sync.submit_create(
        new_order("tg:4001:1", created_by_email="ana@plant.example"),
        user_id=ana_id,
        chat_id=ana.chat_id,
    )
    assert outcome.work_order is not None
    order = outcome.work_order
    assert runtime.jobs is not None
    watch = runtime.jobs.watch
    cmms = runtime.services.cmms
    assert isinstance(cmms, LocalCmms)
    clock = Clock()
    watch.clock = clock

    async def run_job() -> int:
        clock.advance(timedelta(minutes=1))  # every run finds the watch due
        return await watch.run()

    assert await run_job() == 0  # adopted; nothing changed yet
    # Someone changes the status in another UI, straight in the CMMS.
    await cmms.change_status(order.id, WorkOrderStatus.IN_PROGRESS)
    assert await run_job() == 1
    assert await run_job() == 0
    await deliver(jobs_rivet)
    told = with_text(ana, BELL)
    assert len(told) == 1 and "In progress" in told[0] and order.number in told[0]

    await cmms.add_note(order.id, "Seal ordered, arrives Monday", "boss@plant.example")
    for _ in range(3):
        await run_job()
    await deliver(jobs_rivet)
    told = with_text(ana, BELL)
    assert len(told) == 2 and "Seal ordered, arrives Monday" in told[1]

    # Ana's own change through Rivet is not echoed back to her.
    await runtime.services.cmms_sync.submit_status(
        order.id,
        WorkOrderStatus.ON_HOLD,
        note="Waiting for the seal",
        user_id=ana_id,
        chat_id=ana.chat_id,
    )
    await run_job()
    await deliver(jobs_rivet)
    assert len(with_text(ana, BELL)) == 2

    # Completed in the CMMS: told once more, then quiet however often the job runs.
    await cmms.change_status(order.id, WorkOrderStatus.COMPLETE, note="Replaced the seal")
    await run_job()
    await run_job()
    await deliver(jobs_rivet)
    told = with_text(ana, BELL)
    assert len(told) == 3 and "Complete" in told[2] and "Replaced the seal" in told[2]


@dataclass
class AtlasWorld:
    uow: UnitOfWorkFactory
    fake: FakeAtlas
    sync: CmmsSync
    watch: CmmsWatch
    clock: Clock
    reporter_id: int

    async def run_job(self) -> int:
        self.clock.advance(timedelta(minutes=1))
        return await self.watch.run()


REPORTER_CHAT = 4100


@pytest.fixture
async def atlas_world(stack: Stack, tmp_path: Path) -> AsyncIterator[AtlasWorld]:
    database = Database(stack.database_url(tmp_path))
    await upgrade(database.engine)
    uow = UnitOfWorkFactory(database.sessionmaker)
    async with uow() as unit:
        reporter = await unit.users.add(
            User(
                email="ana@plant.example",
                telegram_chat_id=REPORTER_CHAT,
                telegram_user_id=REPORTER_CHAT,
                display_name="Ana",
            )
        )
        await unit.commit()
        reporter_id = reporter.id
    async with FakeAtlas() as fake:
        fake.licensed = True
        atlas = rivet_client(fake, tmp_path / "files", timeout=2.0)
        clock = Clock()
        watch = CmmsWatch(uow, atlas, clock=clock)
        yield AtlasWorld(uow, fake, CmmsSync(uow, atlas), watch, clock, reporter_id)
        await atlas.close()
    await database.close()


async def messages_to(world: AtlasWorld, chat_id: int) -> list[str]:
    async with world.uow() as uow:
        query = select(OutboxMessage.text).where(OutboxMessage.chat_id == chat_id)
        return list(await uow.session.scalars(query.order_by(OutboxMessage.id)))


async def test_atlas_status_change_and_comment_reach_the_creator_once(
    atlas_world: AtlasWorld,
) -> None:
    world = atlas_world
    outcome = await world.sync.submit_create(
        new_order("tg:4100:1", created_by_email="ana@plant.example"),
        user_id=world.reporter_id,
        chat_id=REPORTER_CHAT,
    )
    assert outcome.work_order is not None
    atlas_id = int(outcome.work_order.id)
    assert await world.run_job() == 0
    assert await messages_to(world, REPORTER_CHAT) == []

    world.fake.set_status(atlas_id, "IN_PROGRESS")  # in the Atlas UI
    await world.run_job()
    await world.run_job()
    told = await messages_to(world, REPORTER_CHAT)
    assert len(told) == 1 and "In progress" in told[0]

    world.fake.add_comment(atlas_id, "Bearing is fine, seal only")
    await world.run_job()
    await world.run_job()
    told = await messages_to(world, REPORTER_CHAT)
    assert len(told) == 2 and "Bearing is fine, seal only" in told[1]
    assert "Status is now" not in told[1]

    world.fake.set_status(atlas_id, "COMPLETE")
    world.fake.add_comment(atlas_id, "Done, tested for an hour")
    for _ in range(3):
        await world.run_job()
    told = await messages_to(world, REPORTER_CHAT)
    assert len(told) == 3 and "Complete" in told[2] and "tested for an hour" in told[2]


# ---------------------------------------------------------------------- acceptance 5


async def test_unacknowledged_critical_is_resent_then_escalated_and_ack_stops_it(
    jobs_rivet: RivetHarness,
) -> None:
    runtime = jobs_rivet.runtime
    assert runtime.jobs is not None
    tech = await linked_user(jobs_rivet, 4201, "tom@plant.example")
    admin = jobs_rivet.emulator.user(ADMIN_ID, first_name="Boss")
    cmms = runtime.services.cmms
    order = await cmms.create_work_order(
        new_order("ui:1", priority=Priority.CRITICAL, assigned_to_email="tom@plant.example")
    )
    escalation = runtime.jobs.escalation
    clock = Clock()
    escalation.clock = clock
    step = timedelta(minutes=15)  # ESCALATION_ACK_MINUTES

    assert await escalation.run() == 1
    assert await escalation.run() == 0
    await deliver(jobs_rivet)
    notices = [m for m in tech.messages() if "Needs acknowledging" in (m.text or "")]
    assert len(notices) == 1 and order.number in (notices[0].text or "")
    assert not admin.messages()

    clock.advance(step - timedelta(seconds=1))
    assert await escalation.run() == 0  # not yet
    clock.advance(timedelta(seconds=1))
    assert await escalation.run() == 1
    await deliver(jobs_rivet)
    assert len(with_text(tech, "Reminder")) == 1
    assert not admin.messages()

    clock.advance(step)
    assert await escalation.run() == 1
    await deliver(jobs_rivet)
    escalated = with_text(admin, "Escalated")
    assert len(escalated) == 1 and order.number in escalated[0]

    clock.advance(step * 4)
    assert await escalation.run() == 0  # escalated once, then it waits for an Ack

    clock.advance(timedelta(minutes=3))
    tom_id = await user_id(jobs_rivet, 4201)
    await tech.press(texts.ACK_BUTTON)
    acked = await tech.wait_for_message("acknowledged by Tom")
    assert order.number in (acked.text or "")
    async with runtime.services.uow() as uow:
        alert = await uow.session.scalar(select(WorkOrderAlert))
        assert alert is not None and alert.acknowledged_at is not None
        assert alert.acknowledged_by == tom_id
        assert alert.acknowledged_at - alert.opened_at == clock.now - order.created_at
        acknowledged_at = alert.acknowledged_at
    await admin.press(texts.ACK_BUTTON)  # a second Ack changes nothing
    await jobs_rivet.emulator.wait_idle()
    async with runtime.services.uow() as uow:
        again = await uow.session.scalar(select(WorkOrderAlert))
        assert again is not None and again.acknowledged_at == acknowledged_at


async def test_ack_on_the_first_notice_stops_the_chase(jobs_rivet: RivetHarness) -> None:
    runtime = jobs_rivet.runtime
    assert runtime.jobs is not None
    admin = jobs_rivet.emulator.user(ADMIN_ID, first_name="Boss")
    cmms = runtime.services.cmms
    # HIGH and nobody assigned: the admins get the first notice.
    order = await cmms.create_work_order(new_order("ui:2", priority=Priority.HIGH))
    await cmms.create_work_order(new_order("ui:3", priority=Priority.MEDIUM))
    escalation = runtime.jobs.escalation
    clock = Clock()
    escalation.clock = clock
    assert await escalation.run() == 1  # the MEDIUM one is not chased
    await deliver(jobs_rivet)
    notice = await admin.wait_for_message("Needs acknowledging")
    assert order.number in (notice.text or "")

    clock.advance(timedelta(minutes=2))
    await admin.press(texts.ACK_BUTTON, notice.message_id)
    await admin.wait_for_message("acknowledged by")
    time_to_ack = clock.now - order.created_at
    for _ in range(4):
        clock.advance(timedelta(minutes=15))
        assert await escalation.run() == 0
    await deliver(jobs_rivet)
    assert not with_text(admin, "Reminder") and not with_text(admin, "Escalated")

    # /stats reads the mean time to acknowledge from the alert.
    assert runtime.admin is not None
    async with runtime.services.uow() as uow:
        alerts = await uow.alerts.acknowledged_since(order.created_at - timedelta(days=1))
        times = [a.acknowledged_at - a.opened_at for a in alerts if a.acknowledged_at]
    assert times == [time_to_ack]


async def test_a_work_order_started_in_the_cmms_is_no_longer_chased(
    jobs_rivet: RivetHarness,
) -> None:
    runtime = jobs_rivet.runtime
    assert runtime.jobs is not None
    admin = jobs_rivet.emulator.user(ADMIN_ID, first_name="Boss")
    cmms = runtime.services.cmms
    order = await cmms.create_work_order(new_order("ui:4", priority=Priority.CRITICAL))
    escalation = runtime.jobs.escalation
    clock = Clock()
    escalation.clock = clock
    assert await escalation.run() == 1
    await cmms.change_status(order.id, WorkOrderStatus.IN_PROGRESS)
    for _ in range(3):
        clock.advance(timedelta(minutes=15))
        assert await escalation.run() == 0
    await deliver(jobs_rivet)
    assert len(admin.messages()) == 1


# ---------------------------------------------------------------------- digest and clean-up


async def test_daily_digest_lists_open_work_and_backlog_once_a_day(
    jobs_rivet: RivetHarness,
) -> None:
    runtime = jobs_rivet.runtime
    assert runtime.jobs is not None
    tech = await linked_user(jobs_rivet, 4301, "tom@plant.example")
    idle = await linked_user(jobs_rivet, 4302, "ida@plant.example")
    admin = jobs_rivet.emulator.user(ADMIN_ID, first_name="Boss")
    cmms = runtime.services.cmms
    mine = await cmms.create_work_order(new_order("d:1", assigned_to_email="tom@plant.example"))
    other = await cmms.create_work_order(new_order("d:2", priority=Priority.LOW))
    done = await cmms.create_work_order(new_order("d:3", assigned_to_email="tom@plant.example"))
    await cmms.change_status(done.id, WorkOrderStatus.COMPLETE)

    trigger = runtime.scheduler.get_job("daily_digest").trigger
    assert isinstance(trigger, CronTrigger)
    assert str(trigger.timezone) == "Europe/Berlin"
    fields = {field.name: str(field) for field in trigger.fields}
    assert (fields["hour"], fields["minute"]) == ("6", "30")

    digest = runtime.jobs.digest
    digest.clock = lambda: datetime(2026, 3, 2, 5, 30, tzinfo=UTC)  # 06:30 in Berlin
    assert await digest.send() == 2
    assert await digest.send() == 0  # the same day again: nothing new
    await deliver(jobs_rivet)
    tech_digest = with_text(tech, "Daily digest")
    assert len(tech_digest) == 1 and "2026-03-02" in tech_digest[0]
    assert mine.number in tech_digest[0] and done.number not in tech_digest[0]
    assert other.number not in tech_digest[0]
    assert not with_text(idle, "Daily digest")  # nothing open: no message
    admin_digest = with_text(admin, "Daily digest")
    assert len(admin_digest) == 1 and "Open backlog:</b> 2" in admin_digest[0]
    assert mine.number in admin_digest[0] and other.number in admin_digest[0]

    digest.clock = lambda: datetime(2026, 3, 3, 5, 30, tzinfo=UTC)
    assert await digest.send() == 2  # the next day


async def test_cleanup_removes_spent_tokens_old_updates_and_settled_stripe_events(
    jobs_rivet: RivetHarness,
) -> None:
    runtime = jobs_rivet.runtime
    assert runtime.jobs is not None
    now = utcnow()
    old = now - timedelta(days=30)
    async with runtime.services.uow() as uow:
        user = await uow.users.add(User(email="x@plant.example"))
        for n, (expires, used) in enumerate(
            [
                (now - timedelta(days=8), None),  # expired long ago: removed
                (now - timedelta(days=1), None),  # expired yesterday: kept a while
                (now + timedelta(days=5), old),  # used long ago: removed
                (now + timedelta(days=5), now - timedelta(days=1)),  # used lately: kept
                (now + timedelta(days=5), None),  # live: kept
            ]
        ):
            uow.session.add(
                OnboardingToken(
                    token_hash=f"{n:064d}", user_id=user.id, expires_at=expires, used_at=used
                )
            )
        uow.session.add_all(
            [
                ProcessedUpdate(bot_id=1, update_id=1, received_at=now - timedelta(days=3)),
                ProcessedUpdate(bot_id=1, update_id=2, received_at=now - timedelta(hours=1)),
                StripeEvent(
                    id="evt_old", type="x", created=old, outcome="applied", received_at=old
                ),
                StripeEvent(
                    id="evt_pend", type="x", created=old, outcome="pending", received_at=old
                ),
                StripeEvent(
                    id="evt_new", type="x", created=now, outcome="applied", received_at=now
                ),
            ]
        )
        await uow.commit()

    cleanup = runtime.jobs.cleanup
    removed = await cleanup.run()
    assert removed == {"onboarding_tokens": 2, "processed_updates": 1, "stripe_events": 1}
    assert await cleanup.run() == {
        "onboarding_tokens": 0,
        "processed_updates": 0,
        "stripe_events": 0,
    }
    async with runtime.services.uow() as uow:
        session = uow.session
        assert await session.scalar(select(func.count(OnboardingToken.id))) == 3
        assert list(await session.scalars(select(ProcessedUpdate.update_id))) == [2]
        assert sorted(await session.scalars(select(StripeEvent.id))) == ["evt_new", "evt_pend"]


async def test_every_job_is_registered_on_the_scheduler(jobs_rivet: RivetHarness) -> None:
    ids = {job.id for job in jobs_rivet.runtime.scheduler.get_jobs()}
    assert {"cmms_status_sync", "escalation", "daily_digest", "cleanup", "telegram_outbox"} <= ids
