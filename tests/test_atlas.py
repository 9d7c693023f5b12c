"""AtlasCmms against FakeAtlas (tests/fakes/atlas.py), which follows the Atlas contract doc."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.domain import Priority, WorkOrderSource, WorkOrderStatus
from integrations.cmms.atlas import AtlasCmms
from integrations.cmms.port import (
    CmmsLimitReached,
    CmmsNotFound,
    CmmsPort,
    CmmsRejected,
    CmmsUnavailable,
    NewWorkOrder,
    WorkOrderChanges,
)
from tests.fakes.atlas import (
    FAKE_ADMIN_EMAIL,
    FAKE_ADMIN_PASSWORD,
    FAKE_TECHNICIAN_EMAIL,
    FakeAtlas,
    rivet_client,
)

TECH = FAKE_TECHNICIAN_EMAIL
REPORTER = "reporter@plant.example"
ClientFactory = Callable[..., AtlasCmms]


@pytest.fixture
async def fake() -> AsyncIterator[FakeAtlas]:
    async with FakeAtlas() as server:
        yield server


@pytest.fixture
async def make_client(fake: FakeAtlas, tmp_path: Path) -> AsyncIterator[ClientFactory]:
    """Builds AtlasCmms clients for the fake (fast backoff), closed after the test."""
    clients: list[AtlasCmms] = []

    def make(**overrides: Any) -> AtlasCmms:
        client = rivet_client(fake, tmp_path / "files", **overrides)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
def cmms(make_client: ClientFactory) -> AtlasCmms:
    return make_client()


def new_order(key: str = "tg-100-1", **fields: Any) -> NewWorkOrder:
    values: dict[str, Any] = {
        "title": "Pump 3 leaking",
        "description": "Oil under the seal, temp > 80 & rising",
        "priority": Priority.HIGH,
        "idempotency_key": key,
        "source": WorkOrderSource.TELEGRAM_TEXT,
        "created_by_email": REPORTER,
        **fields,
    }
    return NewWorkOrder(**values)


def statuses(fake: FakeAtlas, path: str) -> list[int]:
    return [r.status for r in fake.requests if r.path == path]


# ---------------------------------------------------------------------- auth


async def test_implements_the_port(cmms: AtlasCmms) -> None:
    assert isinstance(cmms, CmmsPort)
    assert cmms.backend == "atlas"


async def test_signs_in_once_with_client_type_and_reuses_the_token(
    fake: FakeAtlas, cmms: AtlasCmms
) -> None:
    created = await cmms.create_work_order(new_order())
    await asyncio.gather(*(cmms.get_work_order(created.id) for _ in range(10)))

    assert fake.signin_count == 1
    signin = next(r for r in fake.requests if r.path == "/auth/signin")
    assert signin.body == {"email": FAKE_ADMIN_EMAIL, "password": "***", "type": "CLIENT"}
    assert all(r.authenticated for r in fake.requests if r.path.startswith("/work-orders"))


async def test_concurrent_first_calls_sign_in_only_once(fake: FakeAtlas, cmms: AtlasCmms) -> None:
    await asyncio.gather(*(cmms.list_open_work_orders() for _ in range(10)))

    assert fake.signin_count == 1


async def test_signs_in_again_when_atlas_rejects_the_token_mid_run(
    fake: FakeAtlas, cmms: AtlasCmms
) -> None:
    created = await cmms.create_work_order(new_order())
    fake.expire_tokens()

    results = await asyncio.gather(*(cmms.get_work_order(created.id) for _ in range(5)))

    assert {wo.id for wo in results} == {created.id}
    assert fake.signin_count == 2
    assert 403 in statuses(fake, f"/work-orders/{created.id}")


async def test_renews_the_token_ahead_of_its_expiry(
    fake: FakeAtlas, make_client: ClientFactory
) -> None:
    clock_offset = [0.0]
    client = make_client(clock=lambda: time.time() + clock_offset[0])
    await client.list_open_work_orders()

    clock_offset[0] = fake.token_lifetime - 120  # still well ahead of exp
    await client.list_open_work_orders()
    assert fake.signin_count == 1
    clock_offset[0] = fake.token_lifetime - 30  # inside the renewal window
    await client.list_open_work_orders()

    assert fake.signin_count == 2
    assert all(r.status != 403 for r in fake.requests)


async def test_bad_credentials_are_unavailable_without_leaking_the_password(
    fake: FakeAtlas, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    wrong_password = "wrong-but-secret-passphrase"
    caplog.set_level(logging.DEBUG)
    client = make_client(password=wrong_password)

    with pytest.raises(CmmsUnavailable) as raised:
        await client.list_open_work_orders()

    assert "credentials" in raised.value.message
    assert FAKE_ADMIN_EMAIL in raised.value.message
    assert wrong_password not in str(raised.value)
    assert wrong_password not in caplog.text
    health = await client.health()
    assert not health.ok
    assert "credentials" in health.detail


# ---------------------------------------------------------------------- work orders


async def test_create_maps_every_field_the_atlas_way(fake: FakeAtlas, cmms: AtlasCmms) -> None:
    asset_id = fake.add_asset("Pump 3")
    location_id = fake.add_location("Line 2")

    created = await cmms.create_work_order(
        new_order(asset_id=str(asset_id), location="line 2", assigned_to_email=TECH)
    )

    stored = fake.work_orders[int(created.id)]
    assert stored["customId"] == "WO000001"
    assert stored["priority"] == "HIGH"
    assert stored["asset"] == {"id": asset_id}
    assert stored["location"] == {"id": location_id}
    tech_id = next(u["id"] for u in fake.users.values() if u["email"] == TECH)
    assert stored["primaryUser"] == {"id": tech_id}
    assert stored["assignedTo"] == [{"id": tech_id}]
    assert created.number == "WO000001"
    assert created.title == "Pump 3 leaking"
    assert created.description == "Oil under the seal, temp > 80 & rising"
    assert created.status is WorkOrderStatus.OPEN
    assert created.asset_id == str(asset_id)
    assert created.asset_name == "Pump 3"
    assert created.location == "Line 2"
    assert created.created_by_email == REPORTER
    assert created.assigned_to_email == TECH
    assert created.source is WorkOrderSource.TELEGRAM_TEXT
    assert created.url == f"{fake.base_url}/app/work-orders/{created.id}"
    assert await cmms.get_work_order(created.id) == created


async def test_unknown_location_is_kept_by_rivet(cmms: AtlasCmms) -> None:
    created = await cmms.create_work_order(new_order(location="Boiler room"))

    assert (await cmms.get_work_order(created.id)).location == "Boiler room"


async def test_critical_round_trips_while_atlas_holds_high(
    fake: FakeAtlas, cmms: AtlasCmms
) -> None:
    created = await cmms.create_work_order(new_order(priority=Priority.CRITICAL))

    assert fake.work_orders[int(created.id)]["priority"] == "HIGH"
    assert created.priority is Priority.CRITICAL
    assert (await cmms.get_work_order(created.id)).priority is Priority.CRITICAL
    # Someone lowers it in the Atlas UI: Atlas wins over Rivet's marker.
    fake.work_orders[int(created.id)]["priority"] = "LOW"
    assert (await cmms.get_work_order(created.id)).priority is Priority.LOW


async def test_update_patches_the_whole_object_and_keeps_other_fields(
    fake: FakeAtlas, cmms: AtlasCmms
) -> None:
    asset_id = fake.add_asset("Pump 3")
    created = await cmms.create_work_order(
        new_order(asset_id=str(asset_id), assigned_to_email=TECH, priority=Priority.CRITICAL)
    )
    await cmms.add_note(created.id, "Isolated the pump", author_email=TECH)
    stored = fake.work_orders[int(created.id)]
    # Set in the Atlas UI; Rivet knows nothing about these fields.
    stored.update(
        dueDate="2026-08-25T17:00:00.000+00:00", category={"id": 1}, estimatedDuration=2.5
    )
    before = dict(stored)

    updated = await cmms.update_work_order(created.id, WorkOrderChanges(title="Pump 3 seal leak"))

    after = fake.work_orders[int(created.id)]
    assert after["title"] == "Pump 3 seal leak"
    kept = {field: value for field, value in before.items() if field not in ("title", "updatedAt")}
    assert {field: after[field] for field in kept} == kept
    assert updated.priority is Priority.CRITICAL
    assert [n.text for n in updated.notes] == ["Isolated the pump"]
    assert updated.description == created.description


async def test_update_changes_description_priority_asset_and_assignee(
    fake: FakeAtlas, cmms: AtlasCmms
) -> None:
    first, second = fake.add_asset("Pump 3"), fake.add_asset("Compressor 1")
    created = await cmms.create_work_order(
        new_order(asset_id=str(first), priority=Priority.CRITICAL)
    )
    await cmms.add_note(created.id, "First look", author_email=TECH)

    updated = await cmms.update_work_order(
        created.id,
        WorkOrderChanges(
            description="Actually the compressor",
            priority=Priority.MEDIUM,
            asset_id=str(second),
            assigned_to_email=TECH,
        ),
    )

    assert updated.description == "Actually the compressor"
    assert updated.priority is Priority.MEDIUM
    assert updated.asset_id == str(second)
    assert updated.assigned_to_email == TECH
    assert [n.text for n in updated.notes] == ["First look"]
    assert fake.work_orders[int(created.id)]["priority"] == "MEDIUM"


async def test_fake_atlas_wipes_fields_left_out_of_a_patch(fake: FakeAtlas) -> None:
    asset_id = fake.add_asset("Pump 3")
    wo_id = fake.add_work_order("Leak", asset={"id": asset_id}, priority="HIGH")
    async with httpx.AsyncClient(base_url=fake.base_url) as http:
        signin = await http.post(
            "/auth/signin", json={"email": FAKE_ADMIN_EMAIL, "password": FAKE_ADMIN_PASSWORD}
        )
        headers = {"Authorization": f"Bearer {signin.json()['accessToken']}"}
        patched = await http.patch(f"/work-orders/{wo_id}", json={"title": "x"}, headers=headers)
        put = await http.put(f"/work-orders/{wo_id}", json={"title": "x"}, headers=headers)
        anonymous = await http.get(f"/work-orders/{wo_id}")

    assert patched.status_code == 200
    assert patched.json()["asset"] is None
    assert patched.json()["priority"] == "NONE"
    assert put.status_code == 405
    assert anonymous.status_code == 403
    assert anonymous.content == b""


async def test_change_status_uses_the_change_status_endpoint(
    fake: FakeAtlas, cmms: AtlasCmms
) -> None:
    created = await cmms.create_work_order(new_order())

    in_progress = await cmms.change_status(created.id, WorkOrderStatus.IN_PROGRESS)
    done = await cmms.change_status(created.id, WorkOrderStatus.COMPLETE, note="Replaced bearing")

    assert in_progress.status is WorkOrderStatus.IN_PROGRESS
    assert done.status is WorkOrderStatus.COMPLETE
    assert [n.text for n in done.notes] == ["Replaced bearing"]
    stored = fake.work_orders[int(created.id)]
    assert stored["feedback"] == "Replaced bearing"
    assert stored["completedOn"] is not None
    assert statuses(fake, f"/work-orders/{created.id}/change-status") == [200, 200]
    # A later full PATCH does not undo the status (Atlas ignores status in PATCH).
    updated = await cmms.update_work_order(created.id, WorkOrderChanges(title="Done"))
    assert updated.status is WorkOrderStatus.COMPLETE


async def test_status_changed_in_atlas_ui_is_read_back(fake: FakeAtlas, cmms: AtlasCmms) -> None:
    created = await cmms.create_work_order(new_order())
    fake.set_status(int(created.id), "ON_HOLD")
    fake.add_comment(int(created.id), "Waiting for parts & seal kit")

    read = await cmms.get_work_order(created.id)

    assert read.status is WorkOrderStatus.ON_HOLD
    assert "Waiting for parts & seal kit" in read.description


async def test_notes_keep_author_time_lines_and_special_characters(cmms: AtlasCmms) -> None:
    created = await cmms.create_work_order(new_order())

    await cmms.add_note(created.id, "Drained oil <5 L> & cleaned", author_email=TECH)
    noted = await cmms.add_note(created.id, "Line one\nLine two", author_email=None)

    assert [(n.author, n.text) for n in noted.notes] == [
        (TECH, "Drained oil <5 L> & cleaned"),
        (None, "Line one\nLine two"),
    ]
    assert noted.notes[0].created_at <= noted.notes[1].created_at
    assert noted.description == "Oil under the seal, temp > 80 & rising"


async def test_missing_work_order_is_not_found(cmms: AtlasCmms) -> None:
    with pytest.raises(CmmsNotFound):
        await cmms.get_work_order("999")
    with pytest.raises(CmmsNotFound):
        await cmms.change_status("999", WorkOrderStatus.COMPLETE)
    with pytest.raises(CmmsNotFound):
        await cmms.get_work_order("WO000001")


async def test_list_open_filters_by_assignee_reporter_and_asset(
    fake: FakeAtlas, cmms: AtlasCmms
) -> None:
    pump, fan = fake.add_asset("Pump 3"), fake.add_asset("Fan 2")
    assigned = await cmms.create_work_order(
        new_order("k1", asset_id=str(pump), assigned_to_email=TECH, created_by_email="a@x.io")
    )
    reported = await cmms.create_work_order(new_order("k2", asset_id=str(fan)))
    done = await cmms.create_work_order(new_order("k3", asset_id=str(pump)))
    await cmms.change_status(done.id, WorkOrderStatus.COMPLETE)
    fake.add_work_order("Made in the UI")

    by_assignee = await cmms.list_open_work_orders(assigned_to_email=TECH)
    by_reporter = await cmms.list_open_work_orders(created_by_email=REPORTER)
    by_asset = await cmms.list_open_work_orders(asset_id=str(pump))
    everything = await cmms.list_open_work_orders()

    assert [wo.id for wo in by_assignee] == [assigned.id]
    assert [wo.id for wo in by_reporter] == [reported.id]
    assert [wo.id for wo in by_asset] == [assigned.id]
    assert len(everything) == 3
    assert await cmms.list_open_work_orders(assigned_to_email="nobody@x.io") == []
    search = next(r for r in fake.requests if r.path == "/work-orders/search")
    assert set(search.body) == {"filterFields", "pageNum", "pageSize", "sortField", "direction"}


# ---------------------------------------------------------------------- idempotency and errors


async def test_retry_with_the_same_key_finds_the_first_work_order(
    fake: FakeAtlas, cmms: AtlasCmms
) -> None:
    created = await cmms.create_work_order(new_order("tg:42:7"))

    found = await cmms.find_by_idempotency_key("tg:42:7")
    again = await cmms.create_work_order(new_order("tg:42:7"))

    assert found is not None and found.id == created.id
    assert again.id == created.id
    assert len(fake.work_orders) == 1
    assert await cmms.find_by_idempotency_key("TG:42:7") is None
    assert await cmms.find_by_idempotency_key("tg:42") is None


async def test_unusual_keys_are_stored_as_digests(cmms: AtlasCmms) -> None:
    key = "telegram message; chat=1 [retry]"
    created = await cmms.create_work_order(new_order(key))

    found = await cmms.find_by_idempotency_key(key)

    assert found is not None and found.id == created.id


async def test_rate_limit_burst_is_backed_off(fake: FakeAtlas, cmms: AtlasCmms) -> None:
    fake.burst_429(3)

    created = await cmms.create_work_order(new_order())

    assert created.number == "WO000001"
    assert sum(1 for r in fake.requests if r.status == 429) == 3


async def test_endless_rate_limit_becomes_unavailable(fake: FakeAtlas, cmms: AtlasCmms) -> None:
    fake.burst_429(100)

    with pytest.raises(CmmsUnavailable, match="429"):
        await cmms.list_open_work_orders()


async def test_business_error_406_is_rejected(fake: FakeAtlas, cmms: AtlasCmms) -> None:
    await cmms.list_open_work_orders()  # sign in first so the failure hits the create
    fake.fail_next(406, "Estimated duration must be positive")

    with pytest.raises(CmmsRejected, match="Estimated duration must be positive"):
        await cmms.create_work_order(new_order())


async def test_internal_error_500_is_unavailable(fake: FakeAtlas, cmms: AtlasCmms) -> None:
    await cmms.list_open_work_orders()
    fake.fail_next(500, "could not execute statement")

    with pytest.raises(CmmsUnavailable, match="internal error"):
        await cmms.list_open_work_orders()


async def test_unlicensed_open_work_order_cap_is_limit_reached(
    fake: FakeAtlas, cmms: AtlasCmms
) -> None:
    for number in range(30):
        fake.add_work_order(f"Seeded {number}")

    with pytest.raises(CmmsLimitReached) as raised:
        await cmms.create_work_order(new_order())

    assert "30 open work orders" in raised.value.message
    assert "licence" in raised.value.message


async def test_atlas_down_is_unavailable(fake: FakeAtlas, cmms: AtlasCmms) -> None:
    fake.down = True
    with pytest.raises(CmmsUnavailable, match="502"):
        await cmms.list_open_work_orders()
    fake.down = False
    await fake.stop()
    with pytest.raises(CmmsUnavailable, match="cannot be reached"):
        await cmms.list_open_work_orders()


async def test_slow_atlas_times_out_as_unavailable(
    fake: FakeAtlas, make_client: ClientFactory
) -> None:
    client = make_client(timeout=0.2)
    await client.list_open_work_orders()
    fake.answer_delay = 1.0

    with pytest.raises(CmmsUnavailable, match="did not answer"):
        await client.list_open_work_orders()


# ---------------------------------------------------------------------- users


async def test_ensure_user_matches_existing_then_invites_and_signs_up(
    fake: FakeAtlas, cmms: AtlasCmms
) -> None:
    existing = await cmms.ensure_user(TECH.upper())
    created = await cmms.ensure_user("Tom.Reyes@plant.example", "Tom Reyes")
    again = await cmms.ensure_user("tom.reyes@plant.example")

    assert existing.email == TECH and existing.name == "Ana Diaz"
    assert created.email == "tom.reyes@plant.example" and created.name == "Tom Reyes"
    assert again.id == created.id
    tom = fake.users[int(created.id)]
    assert (tom["firstName"], tom["lastName"], tom["companyId"]) == ("Tom", "Reyes", 1)
    assert [r.path for r in fake.requests].count("/users/invite") == 1
    invite = next(r for r in fake.requests if r.path == "/users/invite")
    assert invite.body["role"] == {"id": 13}  # TECHNICIAN, found by code in GET /roles


async def test_ensure_user_with_an_invalid_email_is_rejected(cmms: AtlasCmms) -> None:
    with pytest.raises(CmmsRejected, match="not-an-email"):
        await cmms.ensure_user("not-an-email")


# ---------------------------------------------------------------------- files


async def test_licensed_atlas_stores_files_itself(
    fake: FakeAtlas, cmms: AtlasCmms, tmp_path: Path
) -> None:
    fake.licensed = True
    asset_id = fake.add_asset("Pump 3", model="X100")
    created = await cmms.create_work_order(new_order())

    on_wo = await cmms.attach_file(
        data=b"%PDF-1",
        file_name="wiring.pdf",
        mime_type="application/pdf",
        work_order_id=created.id,
    )
    on_asset = await cmms.attach_file(
        data=b"%PDF-2", file_name="manual.pdf", mime_type=None, asset_id=str(asset_id)
    )

    assert fake.file_bytes[int(on_wo.id)] == b"%PDF-1"
    assert fake.work_orders[int(created.id)]["files"] == [{"id": int(on_wo.id)}]
    assert [a.id for a in (await cmms.get_work_order(created.id)).attachments] == [on_wo.id]
    assert [a.id for a in await cmms.asset_files(str(asset_id))] == [on_asset.id]
    assert fake.assets[asset_id]["model"] == "X100"  # the full-object PATCH kept it
    assert on_wo.url is not None
    async with httpx.AsyncClient() as http:  # presigned: no Atlas bearer
        assert (await http.get(on_wo.url)).content == b"%PDF-1"
    assert not (tmp_path / "files").exists()


async def test_unlicensed_atlas_files_are_kept_by_rivet_and_linked(
    fake: FakeAtlas, make_client: ClientFactory, tmp_path: Path
) -> None:
    cmms = make_client(files_base_url="https://rivet.example/files")
    created = await cmms.create_work_order(new_order())

    attachment = await cmms.attach_file(
        data=b"\x89PNG",
        file_name="../../etc/passwd.png",
        mime_type="image/png",
        work_order_id=created.id,
    )

    stored = list((tmp_path / "files").iterdir())
    assert [p.name for p in stored] == [attachment.id]
    assert stored[0].read_bytes() == b"\x89PNG"
    assert attachment.id.endswith(".png") and "passwd" not in attachment.id
    assert attachment.url == f"https://rivet.example/files/{attachment.id}"
    assert attachment.url in fake.work_orders[int(created.id)]["description"]
    read = await cmms.get_work_order(created.id)
    assert read.attachments == (attachment,)
    assert read.description == created.description
    assert "/files/upload" not in [r.path for r in fake.requests]


# ---------------------------------------------------------------------- assets and health


async def test_asset_search_uses_the_local_index_and_survives_atlas_being_down(
    fake: FakeAtlas, cmms: AtlasCmms
) -> None:
    line = fake.add_location("Line 2")
    pump = fake.add_asset("Centrifugal Pump 3", location_id=line, category_id=1)
    fake.add_asset("Air Compressor 1")
    fake.add_asset("Conveyor 7")

    assert await cmms.refresh_asset_index() == 3
    fake.down = True

    hits = await cmms.search_assets("pmp 3")
    in_text = await cmms.find_assets_in_text("the pump 3 on line 2 is leaking oil")
    asset = await cmms.get_asset(str(pump))
    listed = await cmms.list_assets(limit=2)

    assert hits[0].asset_id == str(pump)
    assert in_text[0].asset_id == str(pump)
    assert (asset.name, asset.location, asset.category, asset.tag) == (
        "Centrifugal Pump 3",
        "Line 2",
        "Electrical",
        "A000001",
    )
    assert [a.name for a in listed] == ["Centrifugal Pump 3", "Air Compressor 1"]
    with pytest.raises(CmmsUnavailable):
        await cmms.create_work_order(new_order())


async def test_refresh_pages_through_atlas_and_forgets_archived_assets(
    fake: FakeAtlas, cmms: AtlasCmms
) -> None:
    ids = [fake.add_asset(f"Pump {n}") for n in range(1, 251)]
    assert await cmms.refresh_asset_index() == 250
    fake.assets[ids[2]]["archived"] = True

    assert await cmms.refresh_asset_index() == 249
    assert all(hit.asset_id != str(ids[2]) for hit in await cmms.search_assets("pump 3"))
    assert [r.path for r in fake.requests].count("/assets/search") == 4
    page = await cmms.list_assets(offset=3, limit=2)
    assert [a.name for a in page] == ["Pump 5", "Pump 6"]


async def test_health_reports_licence_and_free_tier_limits(
    fake: FakeAtlas, make_client: ClientFactory
) -> None:
    unlicensed = await make_client().health()
    fake.licensed = True
    licensed = await make_client().health()
    fake.down = True
    down = await make_client().health()

    assert unlicensed.ok and unlicensed.licensed is False
    assert unlicensed.limits["open_work_orders"] == 30
    assert unlicensed.limits["assets"] == 50
    assert licensed.ok and licensed.licensed is True and licensed.limits == {}
    assert not down.ok and "502" in down.detail
