"""One contract for every CMMS behind the port: the embedded LocalCmms (on SQLite, and on
PostgreSQL when it answers) and AtlasCmms against FakeAtlas. What a service may rely on,
whichever backend a customer runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.domain import Priority, WorkOrderSource, WorkOrderStatus
from integrations.cmms.local import LocalCmms
from integrations.cmms.port import (
    CmmsNotFound,
    CmmsPort,
    CmmsRejected,
    NewWorkOrder,
    WorkOrderChanges,
)
from storage.db import Database
from storage.migrate import upgrade
from storage.uow import UnitOfWorkFactory
from tests.conftest import (
    POSTGRES_URL,
    _probe_postgres,
    _probe_redis,
    _reset_postgres,
    _unavailable,
)
from tests.fakes.atlas import (
    FAKE_TECHNICIAN_EMAIL,
    FakeAtlas,
    rivet_client,
)

TECH = FAKE_TECHNICIAN_EMAIL
REPORTER = "reporter@plant.example"


@dataclass
class Backend:
    """A CMMS under contract plus the seeding that differs between backends."""

    name: str
    cmms: CmmsPort
    files_dir: Path
    add_asset: Callable[..., Awaitable[str]]
    refresh: Callable[[], Awaitable[int]]


@pytest.fixture(params=["local-sqlite", "local-postgres", "atlas"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    files_dir = tmp_path / "files"
    if request.param == "atlas":
        async with FakeAtlas() as fake:
            atlas = rivet_client(fake, files_dir)
            locations: dict[str, int] = {}

            async def add_atlas_asset(name: str, location: str | None = None, **_: Any) -> str:
                location_id = None
                if location:
                    location_id = locations.setdefault(location, fake.add_location(location))
                return str(fake.add_asset(name, location_id=location_id))

            yield Backend("atlas", atlas, files_dir, add_atlas_asset, atlas.refresh_asset_index)
            await atlas.close()
        return
    if request.param == "local-postgres":
        reason = _unavailable("postgres", _probe_postgres) or _unavailable("redis", _probe_redis)
        if reason:
            pytest.skip(f"PostgreSQL not answering ({reason})")
        await _reset_postgres()
        url = POSTGRES_URL
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'rivet.db'}"
    database = Database(url)
    await upgrade(database.engine)
    local = LocalCmms(UnitOfWorkFactory(database.sessionmaker), files_dir=files_dir)

    async def add_local_asset(name: str, location: str | None = None, **fields: Any) -> str:
        return (await local.add_asset(name, location=location, **fields)).id

    yield Backend(request.param, local, files_dir, add_local_asset, local.refresh_asset_index)
    await local.close()
    await database.close()


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


# ---------------------------------------------------------------------- basics


async def test_implements_the_port_and_is_healthy(backend: Backend) -> None:
    assert isinstance(backend.cmms, CmmsPort)
    assert backend.name.startswith(backend.cmms.backend)
    health = await backend.cmms.health()
    assert health.ok and health.backend == backend.cmms.backend and health.detail


async def test_ensure_user_is_found_by_email_in_any_case(backend: Backend) -> None:
    user = await backend.cmms.ensure_user(TECH.upper())
    again = await backend.cmms.ensure_user(TECH)

    assert user.email == TECH and again.id == user.id


# ---------------------------------------------------------------------- work orders


async def test_create_then_get_returns_every_field(backend: Backend) -> None:
    cmms = backend.cmms
    pump = await backend.add_asset("Centrifugal Pump 3", location="Line 2")

    created = await cmms.create_work_order(
        new_order(
            asset_id=pump,
            location="Line 2",
            assigned_to_email=TECH.upper(),
            created_by_email="Reporter@Plant.example",
            priority=Priority.CRITICAL,
            source=WorkOrderSource.TELEGRAM_VOICE,
        )
    )

    assert created.number and created.id
    assert created.title == "Pump 3 leaking"
    assert created.description == "Oil under the seal, temp > 80 & rising"
    assert created.priority is Priority.CRITICAL  # Atlas holds HIGH, Rivet keeps CRITICAL
    assert created.status is WorkOrderStatus.OPEN
    assert (created.asset_id, created.asset_name) == (pump, "Centrifugal Pump 3")
    assert created.location == "Line 2"
    assert created.created_by_email == REPORTER
    assert created.assigned_to_email == TECH
    assert created.source is WorkOrderSource.TELEGRAM_VOICE
    assert created.notes == () and created.attachments == ()
    assert await cmms.get_work_order(created.id) == created


async def test_numbers_are_distinct_and_the_key_is_exact(backend: Backend) -> None:
    cmms = backend.cmms
    first = await cmms.create_work_order(new_order("tg:42:7"))
    second = await cmms.create_work_order(new_order("tg:42:8", title="Fan 2 noisy"))

    assert first.number != second.number
    found = await cmms.find_by_idempotency_key("tg:42:7")
    assert found is not None and found.id == first.id
    assert await cmms.find_by_idempotency_key("TG:42:7") is None
    assert await cmms.find_by_idempotency_key("tg:42") is None


async def test_the_same_key_never_makes_a_second_work_order(backend: Backend) -> None:
    cmms = backend.cmms
    created = await cmms.create_work_order(new_order("telegram message; chat=1 [retry]"))

    again = await cmms.create_work_order(new_order("telegram message; chat=1 [retry]"))
    concurrently = await asyncio.gather(
        *(cmms.create_work_order(new_order("tg-race")) for _ in range(3))
    )

    assert again.id == created.id
    assert len({wo.id for wo in concurrently}) == 1 or backend.cmms.backend == "atlas"
    assert len(await cmms.list_open_work_orders()) == 1 + len({wo.id for wo in concurrently})


async def test_update_changes_only_what_is_given(backend: Backend) -> None:
    cmms = backend.cmms
    first = await backend.add_asset("Pump 3")
    second = await backend.add_asset("Compressor 1")
    created = await cmms.create_work_order(new_order(asset_id=first, priority=Priority.CRITICAL))
    await cmms.add_note(created.id, "First look", author_email=TECH)

    retitled = await cmms.update_work_order(created.id, WorkOrderChanges(title="Pump 3 seal"))
    changed = await cmms.update_work_order(
        created.id,
        WorkOrderChanges(
            description="Actually the compressor",
            priority=Priority.MEDIUM,
            asset_id=second,
            assigned_to_email=TECH,
        ),
    )

    assert retitled.title == "Pump 3 seal"
    assert retitled.priority is Priority.CRITICAL
    assert retitled.description == created.description
    assert retitled.asset_id == first
    assert changed.title == "Pump 3 seal"
    assert changed.description == "Actually the compressor"
    assert changed.priority is Priority.MEDIUM
    assert (changed.asset_id, changed.asset_name) == (second, "Compressor 1")
    assert changed.assigned_to_email == TECH
    assert [n.text for n in changed.notes] == ["First look"]
    assert changed.created_by_email == REPORTER


async def test_status_changes_and_completion_note(backend: Backend) -> None:
    cmms = backend.cmms
    created = await cmms.create_work_order(new_order())

    started = await cmms.change_status(created.id, WorkOrderStatus.IN_PROGRESS)
    held = await cmms.change_status(created.id, WorkOrderStatus.ON_HOLD, note="Waiting for seal")
    done = await cmms.change_status(created.id, WorkOrderStatus.COMPLETE, note="Replaced bearing")

    assert started.status is WorkOrderStatus.IN_PROGRESS
    assert held.status is WorkOrderStatus.ON_HOLD
    assert done.status is WorkOrderStatus.COMPLETE
    assert [n.text for n in done.notes][-2:] == ["Waiting for seal", "Replaced bearing"]
    assert (await cmms.get_work_order(created.id)).status is WorkOrderStatus.COMPLETE


async def test_notes_keep_author_order_lines_and_special_characters(backend: Backend) -> None:
    cmms = backend.cmms
    created = await cmms.create_work_order(new_order())

    await cmms.add_note(created.id, "Drained oil <5 L> & cleaned", author_email=TECH.upper())
    noted = await cmms.add_note(created.id, "Line one\nLine two", author_email=None)

    assert [(n.author, n.text) for n in noted.notes] == [
        (TECH, "Drained oil <5 L> & cleaned"),
        (None, "Line one\nLine two"),
    ]
    assert noted.notes[0].created_at <= noted.notes[1].created_at
    assert noted.description == created.description


async def test_missing_records_are_not_found(backend: Backend) -> None:
    cmms = backend.cmms
    with pytest.raises(CmmsNotFound):
        await cmms.get_work_order("999999")
    with pytest.raises(CmmsNotFound):
        await cmms.get_work_order("WO-000001")
    with pytest.raises(CmmsNotFound):
        await cmms.change_status("999999", WorkOrderStatus.COMPLETE)
    with pytest.raises(CmmsNotFound):
        await cmms.add_note("999999", "hello", author_email=None)
    with pytest.raises(CmmsNotFound):
        await cmms.get_asset("999999")
    with pytest.raises(CmmsNotFound):
        await cmms.create_work_order(new_order(asset_id="999999"))


async def test_list_open_filters_by_assignee_reporter_and_asset(backend: Backend) -> None:
    cmms = backend.cmms
    pump, fan = await backend.add_asset("Pump 3"), await backend.add_asset("Fan 2")
    assigned = await cmms.create_work_order(
        new_order("k1", asset_id=pump, assigned_to_email=TECH, created_by_email="a@x.io")
    )
    reported = await cmms.create_work_order(new_order("k2", asset_id=fan))
    done = await cmms.create_work_order(new_order("k3", asset_id=pump))
    await cmms.change_status(done.id, WorkOrderStatus.COMPLETE)

    assert [wo.id for wo in await cmms.list_open_work_orders(assigned_to_email=TECH)] == [
        assigned.id
    ]
    assert [wo.id for wo in await cmms.list_open_work_orders(created_by_email=REPORTER)] == [
        reported.id
    ]
    assert [wo.id for wo in await cmms.list_open_work_orders(asset_id=pump)] == [assigned.id]
    assert {wo.id for wo in await cmms.list_open_work_orders()} == {assigned.id, reported.id}
    assert await cmms.list_open_work_orders(assigned_to_email="nobody@x.io") == []
    assert len(await cmms.list_open_work_orders(limit=1)) == 1


# ---------------------------------------------------------------------- files


async def test_files_get_server_names_and_are_listed(backend: Backend) -> None:
    cmms = backend.cmms
    pump = await backend.add_asset("Pump 3")
    created = await cmms.create_work_order(new_order())

    on_order = await cmms.attach_file(
        data=b"\x89PNG",
        file_name="../../etc/passwd.png",
        mime_type="image/png",
        work_order_id=created.id,
    )
    on_asset = await cmms.attach_file(
        data=b"%PDF-1", file_name="wiring.pdf", mime_type="application/pdf", asset_id=pump
    )

    assert "passwd" not in on_order.id and ".." not in on_order.id
    assert on_order.size == 4
    assert (backend.files_dir / on_order.id).read_bytes() == b"\x89PNG"
    assert (await cmms.get_work_order(created.id)).attachments == (on_order,)
    assert [a.id for a in await cmms.asset_files(pump)] == [on_asset.id]
    assert not (backend.files_dir.parent / "etc").exists()
    with pytest.raises(CmmsRejected):
        await cmms.attach_file(data=b"", file_name="x.txt", mime_type=None, asset_id=pump)


# ---------------------------------------------------------------------- assets and search


async def seed_plant(backend: Backend) -> dict[str, str]:
    names = [
        ("Centrifugal Pump 3", "Line 3"),
        ("Centrifugal Pump 4", "Line 4"),
        ("Air Compressor 1", "Utility room"),
        ("AHU-2", "Roof"),
        ("AHU-12", "Roof"),
        ("Conveyor 7", "Line 2"),
    ]
    ids = {name: await backend.add_asset(name, location=location) for name, location in names}
    await backend.refresh()
    return ids


async def test_get_and_list_assets(backend: Backend) -> None:
    ids = await seed_plant(backend)

    pump = await backend.cmms.get_asset(ids["Centrifugal Pump 3"])
    page = await backend.cmms.list_assets(offset=1, limit=2)

    assert (pump.id, pump.name, pump.location) == (
        ids["Centrifugal Pump 3"],
        "Centrifugal Pump 3",
        "Line 3",
    )
    assert [a.name for a in page] == ["Centrifugal Pump 4", "Air Compressor 1"]
    assert len(await backend.cmms.list_assets()) == 6


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("pump 3", "Centrifugal Pump 3"),
        ("pmp 4", "Centrifugal Pump 4"),
        ("compresser", "Air Compressor 1"),
        ("AHU2", "AHU-2"),
        ("ahu 12", "AHU-12"),
        ("conveyer", "Conveyor 7"),
    ],
)
async def test_search_understands_technicians(backend: Backend, query: str, expected: str) -> None:
    ids = await seed_plant(backend)

    hits = await backend.cmms.search_assets(query)

    assert hits and hits[0].asset_id == ids[expected] and hits[0].name == expected
    assert all(hits[i].score >= hits[i + 1].score for i in range(len(hits) - 1))


async def test_numbers_disambiguate_and_text_mentions_are_found(backend: Backend) -> None:
    ids = await seed_plant(backend)

    pump3 = await backend.cmms.search_assets("pump 3")
    in_text = await backend.cmms.find_assets_in_text("the pump on line 4 is leaking oil, urgent")

    assert pump3[0].asset_id == ids["Centrifugal Pump 3"]
    assert all(
        hit.asset_id != ids["Centrifugal Pump 4"] or hit.score < pump3[0].score for hit in pump3
    )
    assert in_text[0].asset_id == ids["Centrifugal Pump 4"]
    assert await backend.cmms.search_assets("zzzz") == []


async def test_new_assets_are_searchable_after_a_refresh(backend: Backend) -> None:
    await seed_plant(backend)
    boiler = await backend.add_asset("Steam Boiler 9")
    await backend.refresh()

    assert (await backend.cmms.search_assets("boiler 9"))[0].asset_id == boiler
