"""Issue 8: admin commands in chat (refusal, people, /status, /stats) and QR asset labels."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pypdfium2
import pytest
import zxingcpp
from sqlalchemy import func, select

from bot import texts
from bot.domain import Priority, Tier
from bot.emulator import BotApiEmulator, EmulatedUser
from bot.runtime import create_app
from bot.services.stats import day_start
from bot.settings import Settings
from handlers.admin import ADMIN_COMMANDS
from integrations.cmms.local import LocalCmms
from storage.models import (
    AuditEntry,
    Broadcast,
    CmmsWorkOrder,
    OnboardingToken,
    User,
    WorkOrderAlert,
    utcnow,
)
from tests.conftest import BOT_USERNAME, RivetHarness

ADMIN_ID = 9001
INVITE = re.compile(rf"https://t\.me/{BOT_USERNAME}\?start=([A-Za-z0-9_-]+)")
ASSET_LINK = re.compile(rf"^https://t\.me/{BOT_USERNAME}\?start=a_([A-Za-z0-9_-]{{16,40}})$")


@pytest.fixture
async def admin_rivet(
    emulator: BotApiEmulator, make_settings: Callable[..., Settings]
) -> AsyncIterator[RivetHarness]:
    overrides: dict[str, Any] = {"admin_telegram_ids": [ADMIN_ID]}
    runtime = create_app(make_settings(**overrides))
    await runtime.start()
    harness = RivetHarness(emulator, make_settings, runtime, settings_overrides=overrides)
    yield harness
    await harness.runtime.stop()


async def linked_user(
    rivet: RivetHarness, telegram_id: int, email: str, tier: Tier = Tier.BASIC
) -> EmulatedUser:
    _, token = await rivet.runtime.services.onboarding.add_user(
        email=email, name=email.split("@")[0].title(), tier=tier
    )
    person = rivet.emulator.user(telegram_id, first_name=email.split("@")[0].title())
    await person.send_command("start", args=token)
    await person.wait_for_message("Welcome to Rivet")
    return person


async def row_counts(rivet: RivetHarness) -> dict[str, Any]:
    async with rivet.runtime.services.uow() as uow:
        session = uow.session
        return {
            "users": (await session.execute(select(User.id, User.tier, User.role, User.status)))
            .all()
            .__repr__(),
            "tokens": await session.scalar(select(func.count(OnboardingToken.id))),
            "audit": await session.scalar(select(func.count(AuditEntry.id))),
            "broadcasts": await session.scalar(select(func.count(Broadcast.id))),
        }


async def test_non_admins_get_not_allowed_and_nothing_changes(admin_rivet: RivetHarness) -> None:
    tech = await linked_user(admin_rivet, 3001, "tech@plant.example", Tier.PRO)
    stranger = admin_rivet.emulator.user(3002, first_name="Stranger")
    before = await row_counts(admin_rivet)
    for person in (tech, stranger):
        for command in ADMIN_COMMANDS:
            await person.send_command(command, "pro technician 1 hello pump")
            reply = await person.wait_for_message(texts.NOT_ALLOWED)
            assert reply.text == texts.NOT_ALLOWED
    await admin_rivet.emulator.wait_idle()
    assert await row_counts(admin_rivet) == before
    assert not admin_rivet.emulator.calls("sendPhoto")
    assert not admin_rivet.emulator.calls("sendDocument")


async def test_invite_users_and_user_card_buttons_are_audited(admin_rivet: RivetHarness) -> None:
    admin = admin_rivet.emulator.user(ADMIN_ID, first_name="Boss")
    await admin.send_command("invite", "pro")
    invite = await admin.wait_for_message("Invite for a new technician")
    match = INVITE.search(invite.text or "")
    assert match and "Pro" in (invite.text or "")

    newcomer = admin_rivet.emulator.user(3101, first_name="Nina")
    await newcomer.send_command("start", args=match.group(1))
    welcome = await newcomer.wait_for_message("Welcome to Rivet")
    assert "Pro" in (welcome.text or "")
    await newcomer.wait_for_message(texts.ASK_NAME)
    await newcomer.send_text("Nina")
    await newcomer.wait_for_message("Which area")

    async with admin_rivet.runtime.services.uow() as uow:
        nina = await uow.users.by_telegram_id(3101)
        assert nina is not None and nina.email is None and nina.tier == "pro"
        nina_id = nina.id

    await admin.send_command("users", "nin")
    listing = await admin.wait_for_message("Users")
    assert f"#{nina_id} Nina" in (listing.text or "")
    await admin.press(f"#{nina_id} Nina · Pro")
    card = await admin.wait_for_message("E-mail:")
    assert "Plan:</b> Pro" in (card.text or "")

    await admin.press("→ Enterprise", card.message_id)
    await admin.wait_for_message(lambda m: "Enterprise" in (m.text or "") and m.edited)
    await admin.press(texts.BUTTON_MAKE_ADMIN, card.message_id)
    await admin.wait_for_message(lambda m: "Role:</b> admin" in (m.text or ""))
    await admin.press(texts.BUTTON_DISABLE, card.message_id)
    await admin.wait_for_message(lambda m: "Status:</b> disabled" in (m.text or ""))
    await admin.press(texts.BUTTON_NEW_LINK, card.message_id)
    relink = await admin.wait_for_message("New single-use link")
    assert INVITE.search(relink.text or "")

    await admin.send_command("user", str(nina_id))
    await admin.wait_for_message(
        lambda m: "Status:</b> disabled" in (m.text or "") and not m.edited
    )

    async with admin_rivet.runtime.services.uow() as uow:
        nina = await uow.users.get(nina_id)
        assert nina is not None
        assert (nina.tier, nina.role, nina.status) == ("enterprise", "admin", "disabled")
        actions = [entry.action for entry in reversed(await uow.audit.list(limit=50))]
        actors = {e.actor for e in await uow.audit.list(limit=50) if e.action.startswith("user.")}
    for action in (
        "user.invited",
        "admin.users_listed",
        "admin.user_viewed",
        "user.tier_changed",
        "user.role_changed",
        "user.disabled",
        "user.link_reissued",
    ):
        assert action in actions
    assert f"telegram:{ADMIN_ID}" in actors


async def test_status_runs_the_service_checks(admin_rivet: RivetHarness) -> None:
    admin = admin_rivet.emulator.user(ADMIN_ID, first_name="Boss")
    await admin.send_command("status")
    reply = await admin.wait_for_message("Service status")
    _, api, _ = await admin_rivet.http(
        "GET", "/api/status", headers={"Authorization": "Bearer test-admin-key-do-not-log"}
    )
    text = reply.text or ""
    for name in ("database", "telegram", "cmms"):
        assert name in text
    if isinstance(api, dict) and "checks" in api:
        for name, check in api["checks"].items():
            assert f"{name}: {check['status']}" in text


async def seed_work_orders(rivet: RivetHarness) -> list[CmmsWorkOrder]:
    cmms = rivet.runtime.services.cmms
    assert isinstance(cmms, LocalCmms)
    pump = await cmms.add_asset("Pump 3", tag="P-003", location="Hall A")
    press = await cmms.add_asset("Hydraulic press", tag="HP-1", location="Hall B")
    now = utcnow()
    spec = [
        # (asset, priority, created ago, completed ago or None)
        (pump, Priority.CRITICAL, timedelta(minutes=5), None),
        (pump, Priority.HIGH, timedelta(hours=30), timedelta(hours=2)),
        (pump, Priority.LOW, timedelta(days=3), None),
        (press, Priority.MEDIUM, timedelta(days=10), timedelta(days=9)),
        (press, Priority.HIGH, timedelta(days=40), None),  # older than the chart, still open
        (None, Priority.MEDIUM, timedelta(days=12), timedelta(days=1)),
    ]
    rows = []
    async with rivet.runtime.services.uow() as uow:
        for index, (asset, priority, ago, done_ago) in enumerate(spec):
            row = CmmsWorkOrder(
                idempotency_key=f"seed-{index}",
                title=f"Seeded {index}",
                priority=priority.value,
                status="COMPLETE" if done_ago else "OPEN",
                asset_id=int(asset.id) if asset else None,
                created_at=now - ago,
                completed_at=now - done_ago if done_ago else None,
            )
            rows.append(await uow.cmms.add_work_order(row))
        uow.session.add(
            WorkOrderAlert(
                cmms_backend="local",
                work_order_id=str(rows[0].id),
                number=rows[0].number or "",
                priority="CRITICAL",
                opened_at=now - timedelta(minutes=5),
                acknowledged_at=now - timedelta(minutes=2),
            )
        )
        await uow.commit()
    return rows


async def test_stats_figures_match_the_database_and_come_with_a_png(
    admin_rivet: RivetHarness,
) -> None:
    await linked_user(admin_rivet, 3201, "active@plant.example")
    await seed_work_orders(admin_rivet)
    admin = admin_rivet.emulator.user(ADMIN_ID, first_name="Boss")
    await admin.send_command("stats")
    summary = await admin.wait_for_message("Work orders")
    photo = await admin.wait_for_message(lambda m: m.photo is not None)
    assert photo.photo is not None and photo.photo.data.startswith(b"\x89PNG\r\n\x1a\n")

    # The expected figures, computed straight from the database.
    now = utcnow()
    today = day_start(now)
    week = today - timedelta(days=today.weekday())
    month = today - timedelta(days=29)
    async with admin_rivet.runtime.services.uow() as uow:
        orders = [
            SimpleNamespace(
                status=o.status,
                priority=o.priority,
                asset_id=o.asset_id,
                created_at=o.created_at,
                completed_at=o.completed_at,
            )
            for o in await uow.session.scalars(select(CmmsWorkOrder))
        ]
        active = await uow.session.scalar(
            select(func.count(User.id)).where(User.last_seen_at >= now - timedelta(hours=24))
        )
    done = [o for o in orders if o.status == "COMPLETE" and o.completed_at]
    expected_lines = [
        f"Opened: today {sum(o.created_at >= today for o in orders)}, "
        f"this week {sum(o.created_at >= week for o in orders)}",
        f"Closed: today {sum(o.completed_at >= today for o in done)}, "  # type: ignore[operator]
        f"this week {sum(o.completed_at >= week for o in done)}",  # type: ignore[operator]
        f"Open backlog: {sum(o.status != 'COMPLETE' for o in orders)}",
    ]
    for priority in Priority:
        count = sum(o.status != "COMPLETE" and o.priority == priority.value for o in orders)
        expected_lines.append(f"{texts.PRIORITY_LABELS[priority]}: {count}")
    recent_done = [o for o in done if o.completed_at >= month]  # type: ignore[operator]
    mean_complete = sum(
        ((o.completed_at - o.created_at) for o in recent_done),  # type: ignore[operator]
        timedelta(),
    ) / len(recent_done)
    expected_lines.append(f"Mean time to complete: {texts._duration(mean_complete)}")
    expected_lines.append("Mean time to acknowledge: 3 min")
    expected_lines.append(f"Active users: 24 h {active}")
    per_asset: dict[int, int] = {}
    for o in orders:
        if o.asset_id and o.created_at >= month:
            per_asset[o.asset_id] = per_asset.get(o.asset_id, 0) + 1
    expected_lines.append(f"Pump 3: {per_asset[min(per_asset)]}")
    text = re.sub(r"<[^>]+>", "", summary.text or "")
    for line in expected_lines:
        assert line in text, f"{line!r} not in {text!r}"
    assert active == 1


async def test_labels_pdf_qr_codes_open_the_asset_card(admin_rivet: RivetHarness) -> None:
    cmms = admin_rivet.runtime.services.cmms
    assert isinstance(cmms, LocalCmms)
    pump = await cmms.add_asset("Pump 3", tag="P-003", location="Hall A")
    await cmms.add_asset("Pump 7", tag="P-007", location="Hall A")
    await cmms.add_asset("Hydraulic press", tag="HP-1", location="Hall B")
    tech = await linked_user(admin_rivet, 3301, "tech@plant.example")

    admin = admin_rivet.emulator.user(ADMIN_ID, first_name="Boss")
    await admin.send_command("labels", "pump")
    sheet = await admin.wait_for_message(lambda m: m.document is not None)
    assert sheet.document is not None and sheet.document.data.startswith(b"%PDF")
    links = decode_pdf_qr_codes(sheet.document.data)
    assert len(links) == 2 and all(ASSET_LINK.match(link) for link in links)
    assert all(len(link.split("start=")[1]) <= 64 for link in links)
    assert not any("P-00" in link or "pump" in link.lower() for link in links)

    # Stable: the full sheet carries the same links for the same assets.
    await admin.send_command("labels")
    full = await admin.wait_for_message(lambda m: m.document is not None)
    assert full.document is not None
    assert set(links) <= set(decode_pdf_qr_codes(full.document.data))

    async with admin_rivet.runtime.services.uow() as uow:
        pump_token = (await uow.asset_links.for_assets("local", [pump.id]))[pump.id]
    pump_link = next(link for link in links if link.endswith(pump_token))
    await tech.send_command("start", pump_link.split("start=")[1])
    card = await tech.wait_for_message("Pump 3")
    assert "P-003" in (card.text or "")
    assert any(b.text == texts.BUTTON_REPORT_PROBLEM for row in card.buttons for b in row)


def decode_pdf_qr_codes(pdf: bytes) -> list[str]:
    document = pypdfium2.PdfDocument(io.BytesIO(pdf))
    found: list[str] = []
    for page in document:
        image = page.render(scale=3).to_pil()
        found += [result.text for result in zxingcpp.read_barcodes(image)]
    return found
