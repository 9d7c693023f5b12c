import io
import time
from pathlib import Path

import pytest

from bot.services.asset_csv import (
    AssetCsvError,
    AssetCsvRow,
    RejectedRow,
    parse_asset_csv,
)

GOOD = (
    "name,tag,location,category,description,parent_tag\n"
    "Line 3 Cooling Loop,loop-3,Building A / Line 3,HVAC,,\n"
    "Pump 3,p-003,Building A / Line 3,Pumps,Main feed pump,LOOP-3\n"
    '"Compressor, screw",C-001,Plant room,,"Oil-flooded, 55 kW",\n'
)


def test_good_file_parses_every_row_with_normalised_tags() -> None:
    result = parse_asset_csv(io.StringIO(GOOD))

    assert result.rejected == ()
    assert result.rows == (
        AssetCsvRow(2, "Line 3 Cooling Loop", "LOOP-3", "Building A / Line 3", "HVAC"),
        AssetCsvRow(
            3, "Pump 3", "P-003", "Building A / Line 3", "Pumps", "Main feed pump", "LOOP-3"
        ),
        AssetCsvRow(4, "Compressor, screw", "C-001", "Plant room", None, "Oil-flooded, 55 kW"),
    )
    assert result.external_parent_tags == frozenset()


def test_reads_a_path_with_bom_crlf_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "assets.csv"
    content = "\ufeffName,Tag\r\n\r\nPump 1,P-001\r\n\r\nPump 2,P-002\r\n"
    path.write_bytes(content.encode("utf-8"))

    result = parse_asset_csv(path)

    assert [(row.line_number, row.name, row.tag) for row in result.rows] == [
        (3, "Pump 1", "P-001"),
        (5, "Pump 2", "P-002"),
    ]
    assert result.rejected == ()


def test_bad_rows_are_reported_with_line_numbers_and_reasons() -> None:
    text = (
        "name,tag,location,parent_tag\n"  # 1
        "Pump 1,P-001,,\n"  # 2 ok
        ",P-002,,\n"  # 3 no name
        "Pump 3,,,\n"  # 4 no tag
        "Pump 1 again,p-001,,\n"  # 5 duplicate tag (case-insensitive)
        f"{'x' * 201},P-005,,\n"  # 6 name too long
        "Pump 6,P-006,Hall,P-006\n"  # 7 own parent
        "Pump 7,P-007,Hall,,surplus\n"  # 8 too many values
        '"Pump 8\nwith a line break",P-008,,\n'  # 9-10 ok, starts on line 9
        "Pump 9,P-009,,P-404\n"  # 11 ok, parent outside the file
    )

    result = parse_asset_csv(io.StringIO(text))

    assert result.rejected == (
        RejectedRow(3, "name is empty"),
        RejectedRow(4, "tag is empty"),
        RejectedRow(5, "duplicate tag P-001 (first used on line 2)"),
        RejectedRow(6, "name is longer than 200 characters"),
        RejectedRow(7, "parent_tag P-006 is the asset's own tag"),
        RejectedRow(8, "5 values but the header has 4 columns (unquoted comma?)"),
    )
    assert [(row.line_number, row.tag) for row in result.rows] == [
        (2, "P-001"),
        (9, "P-008"),
        (11, "P-009"),
    ]
    assert result.external_parent_tags == {"P-404"}


def test_semicolon_files_and_unknown_columns() -> None:
    text = "Name;Tag;Serial number\nPump 1;P-001;SN-99\n"

    result = parse_asset_csv(io.StringIO(text))

    assert [(row.name, row.tag) for row in result.rows] == [("Pump 1", "P-001")]
    assert result.ignored_columns == ("serial_number",)


def test_short_rows_leave_missing_optional_columns_empty() -> None:
    result = parse_asset_csv(io.StringIO("name,tag,location,category\nPump 1,P-001\n"))

    assert result.rows == (AssetCsvRow(2, "Pump 1", "P-001"),)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("\n\n", "empty"),
        ("name,location\nPump 1,Hall\n", "lacks required column(s) tag"),
        ("Pump 1,P-001\n", "lacks required column(s) name, tag"),
        ("name,tag,Tag\nPump 1,P-001,P-002\n", "repeats column(s) tag"),
    ],
)
def test_unusable_files_raise_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(AssetCsvError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_asset_csv(io.StringIO(text))


def test_non_utf8_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("name,tag\nPompe à eau,P-001\n".encode("latin-1"))

    with pytest.raises(AssetCsvError, match="not UTF-8"):
        parse_asset_csv(path)


def test_ten_thousand_rows_parse_quickly() -> None:
    lines = ["name,tag,location,category,description,parent_tag"]
    lines += [
        f"Centrifugal Pump {n},P-{n:05d},Building {n % 7} / Line {n % 9},Pumps,Feed pump {n},"
        for n in range(10_000)
    ]
    text = "\n".join(lines) + "\n"

    started = time.perf_counter()
    result = parse_asset_csv(io.StringIO(text))
    elapsed = time.perf_counter() - started

    assert len(result.rows) == 10_000
    assert result.rejected == ()
    assert elapsed < 1.0
