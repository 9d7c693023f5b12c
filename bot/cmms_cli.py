"""`rivet assets import FILE.csv` and `rivet cmms check` (wired in bot.cli)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TextIO

from bot.services.asset_csv import AssetCsvError, parse_asset_csv
from bot.services.asset_import import ImportReport
from bot.settings import Settings
from integrations.cmms.factory import create_cmms, refresh_asset_index
from integrations.cmms.local import LocalCmms
from integrations.cmms.port import CmmsError
from storage.db import Database
from storage.migrate import upgrade
from storage.uow import UnitOfWorkFactory

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_UNSUPPORTED = 2
MAX_LISTED_ROWS = 200  # per section; the rest is counted


async def assets_import(settings: Settings, path: Path, out: TextIO) -> int:
    """Import assets into the local CMMS, matching existing ones by tag (idempotent).

    With CMMS_BACKEND=atlas the import is refused: Atlas has its own CSV import, and an
    unlicensed Atlas caps assets at 50; Rivet's index picks up Atlas's assets on its refresh.
    """
    if settings.cmms_backend != "local":
        print(
            "rivet: asset import writes to Rivet's built-in CMMS, but CMMS_BACKEND is "
            f"{settings.cmms_backend}. Import assets in Atlas itself (Settings → Import); Rivet "
            "picks them up at its next asset index refresh (every 10 minutes, or at start).",
            file=out,
        )
        return EXIT_UNSUPPORTED
    started = time.perf_counter()
    try:
        parsed = parse_asset_csv(path)
    except AssetCsvError as error:
        print(f"rivet: {path}: {error}", file=out)
        return EXIT_FAILED
    except OSError as error:
        print(f"rivet: cannot read {path}: {error.strerror or error}", file=out)
        return EXIT_FAILED
    database = Database(settings.resolved_database_url)
    try:
        await upgrade(database.engine)
        cmms = LocalCmms(UnitOfWorkFactory(database.sessionmaker), files_dir=_files_dir(settings))
        report = await cmms.import_assets(parsed.rows)
    finally:
        await database.close()
    report.rejected = sorted([*parsed.rejected, *report.rejected], key=lambda r: r.line_number)
    report.ignored_columns = list(parsed.ignored_columns)
    print_report(report, path, out, seconds=time.perf_counter() - started)
    return EXIT_OK


def print_report(report: ImportReport, path: Path, out: TextIO, *, seconds: float) -> None:
    if report.ignored_columns:
        print(f"ignored columns: {', '.join(report.ignored_columns)}", file=out)
    for label, rows in (("added", report.added), ("updated", report.updated)):
        for row in rows[:MAX_LISTED_ROWS]:
            print(f"{label} line {row.line_number}: {row.tag} {row.name}", file=out)
        if len(rows) > MAX_LISTED_ROWS:
            print(f"… and {len(rows) - MAX_LISTED_ROWS} more {label}", file=out)
    for rejected in report.rejected:
        print(f"rejected line {rejected.line_number}: {rejected.reason}", file=out)
    print(f"{path.name}: {report.summary()} in {seconds:.1f} s", file=out)


async def cmms_check(settings: Settings, out: TextIO) -> int:
    """Connectivity, licence state and limits of the configured CMMS, plus the write outbox."""
    database = Database(settings.resolved_database_url)
    uow = UnitOfWorkFactory(database.sessionmaker)
    cmms = create_cmms(settings, uow)
    try:
        await upgrade(database.engine)
        print(f"backend: {cmms.backend}", file=out)
        health = await cmms.health()
        print(f"connection: {'ok' if health.ok else 'FAILED'} — {health.detail}", file=out)
        if health.licensed is not None:
            print(f"licence: {'licensed' if health.licensed else 'none (free tier)'}", file=out)
        for name, value in sorted(health.limits.items()):
            print(f"limit {name.replace('_', ' ')}: {value}", file=out)
        if health.ok:
            assets = await refresh_asset_index(cmms)
            if assets is not None:
                print(f"assets indexed for search: {assets}", file=out)
        async with uow() as unit:
            counts = await unit.work_order_requests.count_by_state()
        waiting = ", ".join(f"{count} {state}" for state, count in sorted(counts.items()))
        print(f"write outbox: {waiting or 'empty'}", file=out)
        return EXIT_OK if health.ok else EXIT_FAILED
    except CmmsError as error:
        print(f"connection: FAILED — {error.message}", file=out)
        return EXIT_FAILED
    finally:
        await cmms.close()
        await database.close()


def _files_dir(settings: Settings) -> Path:
    return settings.rivet_data_dir / "files"
