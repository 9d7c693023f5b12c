"""`rivet assets import` and `rivet cmms check`: fast, idempotent by tag, bad rows reported with
their line numbers, and the running bot's search picks the assets up."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import main
from bot.services.asset_csv import parse_asset_csv
from integrations.cmms.local import LocalCmms
from storage.db import Database
from storage.migrate import upgrade
from storage.models import CmmsAsset
from storage.uow import UnitOfWorkFactory
from tests.conftest import Stack

HEADER = ["name", "tag", "location", "category", "description", "parent_tag"]


def plant_csv(count: int, extra_rows: list[list[str]] | None = None) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerow(["Main Line 1", "LINE-1", "Building A", "Line", "", ""])
    for n in range(1, count):
        writer.writerow(
            [f"Centrifugal Pump {n}", f"P-{n:05d}", f"Line {n % 12}", "Pumps", "", "LINE-1"]
        )
    for row in extra_rows or []:
        writer.writerow(row)
    return out.getvalue()


BAD_ROWS = [
    ["", "X-1", "", "", "", ""],  # no name
    ["Nameless tag", "", "", "", "", ""],  # no tag
    ["Duplicate", "P-00005", "", "", "", ""],  # tag already on an earlier line
    ["Orphan", "O-1", "", "", "", "NO-SUCH-TAG"],  # unknown parent
    ["Selfish", "S-1", "", "", "", "S-1"],  # its own parent
]


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("DATABASE_URL", "REDIS_URL", "CMMS_BACKEND", "TELEGRAM_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RIVET_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    return tmp_path


def test_cli_imports_10000_assets_in_seconds_and_reports_bad_rows(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = cli_env / "assets.csv"
    path.write_text(plant_csv(10_000, BAD_ROWS), encoding="utf-8")

    started = time.perf_counter()
    assert main(["assets", "import", str(path)]) == 0
    elapsed = time.perf_counter() - started

    output = capsys.readouterr().out
    assert "10000 added, 0 updated, 0 unchanged, 5 rejected" in output
    assert elapsed < 10, f"import took {elapsed:.1f} s"
    lines = 10_001  # the header is line 1, the last good row line 10001
    assert f"rejected line {lines + 1}: name is empty" in output
    assert f"rejected line {lines + 2}: tag is empty" in output
    assert f"rejected line {lines + 3}: duplicate tag P-00005 (first used on line 7)" in output
    assert f"rejected line {lines + 4}: parent_tag NO-SUCH-TAG matches no asset" in output
    assert f"rejected line {lines + 5}: parent_tag S-1 is the asset's own tag" in output

    # Idempotent by tag: the same file again changes nothing; an edited row is an update.
    assert main(["assets", "import", str(path)]) == 0
    assert "0 added, 0 updated, 10000 unchanged, 5 rejected" in capsys.readouterr().out
    edited = plant_csv(10_000).replace("Centrifugal Pump 42,", "Centrifugal Pump 42 (spare),")
    path.write_text(edited, encoding="utf-8")
    assert main(["assets", "import", str(path)]) == 0
    output = capsys.readouterr().out
    assert "updated line 44: P-00042 Centrifugal Pump 42 (spare)" in output
    assert "0 added, 1 updated, 9999 unchanged, 0 rejected" in output

    assert main(["cmms", "check"]) == 0
    check = capsys.readouterr().out
    assert "backend: local" in check and "10000 assets" in check


def test_cli_refuses_import_for_atlas_and_unreadable_files(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (cli_env / "no-header.csv").write_text("Pump 1;P-1\n", encoding="utf-8")
    assert main(["assets", "import", str(cli_env / "missing.csv")]) == 1
    assert "cannot read" in capsys.readouterr().out
    assert main(["assets", "import", str(cli_env / "no-header.csv")]) == 1
    assert "the header lacks required column(s) name, tag" in capsys.readouterr().out

    monkeypatch.setenv("CMMS_BACKEND", "atlas")
    monkeypatch.setenv("ATLAS_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ATLAS_EMAIL", "bot@plant.example")
    monkeypatch.setenv("ATLAS_PASSWORD", "not-used-here")
    assert main(["assets", "import", str(cli_env / "no-header.csv")]) == 2
    assert "Import assets in Atlas itself" in capsys.readouterr().out
    assert main(["cmms", "check"]) == 1
    assert "connection: FAILED — Atlas cannot be reached" in capsys.readouterr().out


async def test_import_service_resolves_parents_and_keeps_search_in_sync(
    stack: Stack, tmp_path: Path
) -> None:
    database = Database(stack.database_url(tmp_path))
    await upgrade(database.engine)
    uow = UnitOfWorkFactory(database.sessionmaker)
    importer = LocalCmms(uow, files_dir=tmp_path / "files")
    running_bot = LocalCmms(uow, files_dir=tmp_path / "files")  # another process's view
    try:
        assert await running_bot.refresh_asset_index() == 0
        source = tmp_path / "plant.csv"
        source.write_text(
            "\ufeffName;Tag;Location;Category;Parent Tag;Colour\n"
            "Main Line 1;LINE-1;Building A;Line;;red\n"
            "Air Handling Unit 2;AHU-2;Roof;HVAC;;\n"
            '"Centrifugal Pump 3";P-003;"Line 3";Pumps;line-1;\n',
            encoding="utf-8",
        )
        parsed = parse_asset_csv(source)
        assert parsed.ignored_columns == ("colour",)
        report = await importer.import_assets(parsed.rows)
        assert (len(report.added), report.rejected) == (3, [])

        assert (await importer.search_assets("P-003"))[0].name == "Centrifugal Pump 3"
        assert (await importer.search_assets("ahu2"))[0].name == "Air Handling Unit 2"
        assert await running_bot.refresh_asset_index() == 3
        assert (await running_bot.find_assets_in_text("pmp 3 leaking"))[0].name == (
            "Centrifugal Pump 3"
        )
        async with uow() as unit:
            assets = {a.tag: a.id for a in await unit.session.scalars(select(CmmsAsset))}
            pump = await unit.session.scalar(select(CmmsAsset).where(CmmsAsset.tag == "P-003"))
            assert pump is not None and pump.parent_id == assets["LINE-1"]

        # Moving the pump to another parent is an update, even with the same fields.
        source.write_text(
            "name,tag,location,category,parent_tag\nCentrifugal Pump 3,P-003,Line 3,Pumps,AHU-2\n",
            encoding="utf-8",
        )
        moved = parse_asset_csv(source)
        report = await importer.import_assets(moved.rows)
        assert [r.tag for r in report.updated] == ["P-003"] and report.added == []
        async with uow() as unit:
            pump = await unit.session.scalar(select(CmmsAsset).where(CmmsAsset.tag == "P-003"))
            assert pump is not None and pump.parent_id == assets["AHU-2"]
    finally:
        await database.close()
