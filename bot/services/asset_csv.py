"""Asset CSV import: parse and validate a catalog file; persistence happens elsewhere.

Expected header (any order, case-insensitive): name, tag, location, category, description,
parent_tag. name and tag are required. Tags are upper-cased and must be unique within the file
(a repeated tag rejects the later row). parent_tag is kept as written (upper-cased): it may name a
tag in this file or an asset that already exists, which the importer resolves.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import NamedTuple, TextIO

COLUMNS = ("name", "tag", "location", "category", "description", "parent_tag")
REQUIRED_COLUMNS = ("name", "tag")
MAX_LENGTHS = {
    "name": 200,
    "tag": 64,
    "location": 200,
    "category": 100,
    "description": 2000,
    "parent_tag": 64,
}
_DELIMITERS = (",", ";", "\t")  # spreadsheets in many locales save with ";"
_BOM = "\ufeff"


class AssetCsvError(ValueError):
    """The file as a whole cannot be read (no header, missing required columns, bad encoding)."""


@dataclass(frozen=True, slots=True)
class AssetCsvRow:
    line_number: int  # where the row starts in the file; the header is line 1
    name: str
    tag: str
    location: str | None = None
    category: str | None = None
    description: str | None = None
    parent_tag: str | None = None


class RejectedRow(NamedTuple):
    line_number: int
    reason: str


@dataclass(frozen=True, slots=True)
class AssetCsvResult:
    rows: tuple[AssetCsvRow, ...]
    rejected: tuple[RejectedRow, ...]
    ignored_columns: tuple[str, ...] = ()  # header columns this importer does not know

    @property
    def external_parent_tags(self) -> frozenset[str]:
        """parent_tag values not defined in this file: the importer must find existing assets."""
        own_tags = {row.tag for row in self.rows}
        return frozenset(
            row.parent_tag for row in self.rows if row.parent_tag and row.parent_tag not in own_tags
        )


def parse_asset_csv(source: str | PathLike[str] | TextIO) -> AssetCsvResult:
    """Parse an asset CSV from a path or an open text stream.

    Raises AssetCsvError when the file cannot be used at all; row problems are returned in
    `rejected` with their line numbers and the good rows are still parsed.
    """
    try:
        if isinstance(source, (str, PathLike)):
            # utf-8-sig drops a BOM; newline="" lets csv handle CRLF and quoted line breaks.
            with Path(source).open(encoding="utf-8-sig", newline="") as stream:
                return _parse(stream)
        return _parse(source)
    except UnicodeDecodeError as error:
        raise AssetCsvError(f"the file is not UTF-8 text ({error.reason})") from error


def _parse(stream: TextIO) -> AssetCsvResult:
    lines = _NumberedLines(stream)
    header_line = next((line for line in lines if line.strip()), None)
    if header_line is None:
        raise AssetCsvError("the file is empty; the first line must be a header")
    header_line = header_line.removeprefix(_BOM)
    delimiter = max(_DELIMITERS, key=header_line.count)
    header = [_header_name(cell) for cell in next(csv.reader([header_line], delimiter=delimiter))]
    _check_header(header)

    rows: list[AssetCsvRow] = []
    rejected: list[RejectedRow] = []
    first_line_of_tag: dict[str, int] = {}
    reader = csv.reader(lines, delimiter=delimiter)
    while True:
        start_line = lines.number + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise AssetCsvError(f"line {start_line}: unreadable CSV ({error})") from error
        if not any(cell.strip() for cell in cells):
            continue  # blank lines (and lines of empty cells) are padding, not rows
        if len(cells) > len(header):
            rejected.append(
                RejectedRow(
                    start_line,
                    f"{len(cells)} values but the header has {len(header)} columns "
                    "(unquoted comma?)",
                )
            )
            continue
        values = {column: cell.strip() for column, cell in zip(header, cells, strict=False)}
        outcome = _validate(values, start_line, first_line_of_tag)
        if isinstance(outcome, RejectedRow):
            rejected.append(outcome)
            continue
        first_line_of_tag[outcome.tag] = start_line
        rows.append(outcome)

    ignored = tuple(column for column in header if column and column not in COLUMNS)
    return AssetCsvResult(rows=tuple(rows), rejected=tuple(rejected), ignored_columns=ignored)


def _header_name(cell: str) -> str:
    return cell.strip().removeprefix(_BOM).strip().lower().replace(" ", "_")


def _check_header(header: list[str]) -> None:
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise AssetCsvError(
            f"the header lacks required column(s) {', '.join(missing)}; "
            f"expected columns: {', '.join(COLUMNS)}"
        )
    known = [column for column in header if column in COLUMNS]
    repeated = sorted({column for column in known if known.count(column) > 1})
    if repeated:
        raise AssetCsvError(f"the header repeats column(s) {', '.join(repeated)}")


def _validate(
    values: dict[str, str], line_number: int, first_line_of_tag: dict[str, int]
) -> AssetCsvRow | RejectedRow:
    for column in REQUIRED_COLUMNS:
        if not values.get(column):
            return RejectedRow(line_number, f"{column} is empty")
    for column, limit in MAX_LENGTHS.items():
        if len(values.get(column, "")) > limit:
            return RejectedRow(line_number, f"{column} is longer than {limit} characters")
    tag = values["tag"].upper()
    if tag in first_line_of_tag:
        return RejectedRow(
            line_number, f"duplicate tag {tag} (first used on line {first_line_of_tag[tag]})"
        )
    parent_tag = values.get("parent_tag", "").upper() or None
    if parent_tag == tag:
        return RejectedRow(line_number, f"parent_tag {tag} is the asset's own tag")
    return AssetCsvRow(
        line_number=line_number,
        name=values["name"],
        tag=tag,
        location=values.get("location") or None,
        category=values.get("category") or None,
        description=values.get("description") or None,
        parent_tag=parent_tag,
    )


class _NumberedLines(Iterator[str]):
    """Lines of a stream, counting physical lines (csv.reader pulls more than one for quoted
    line breaks, so row start lines come from this count)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.number = 0

    def __next__(self) -> str:
        line = self._stream.readline()
        if not line:
            raise StopIteration
        self.number += 1
        return line
