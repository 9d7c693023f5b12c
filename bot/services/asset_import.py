"""Writing an asset CSV into the local CMMS: what changed, what was refused, and why.

Parsing and row checks are ``bot.services.asset_csv``'s; this adds the checks that need the
CMMS (a parent_tag must name an asset in the file or one that exists) and the report.
``LocalCmms.import_assets`` matches existing assets by tag, so importing a file twice changes
nothing. Line numbers are the file's own (the header is line 1).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.services.asset_csv import AssetCsvRow, RejectedRow


@dataclass(slots=True)
class ImportReport:
    added: list[AssetCsvRow] = field(default_factory=list)
    updated: list[AssetCsvRow] = field(default_factory=list)
    unchanged: list[AssetCsvRow] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.rejected)} rejected"
        )


def check_rows(
    rows: Iterable[AssetCsvRow], known_tags: set[str]
) -> tuple[list[AssetCsvRow], list[RejectedRow]]:
    """Rows that can be written: a tag appears once in the file; a parent_tag names an asset
    that exists or is in the file. ``known_tags`` are tags already in the CMMS (case-folded)."""
    first_line: dict[str, int] = {}
    unique: list[AssetCsvRow] = []
    rejected: list[RejectedRow] = []
    for row in rows:
        key = row.tag.casefold()
        if key in first_line:
            rejected.append(
                RejectedRow(
                    row.line_number, f"tag {row.tag} is already used on line {first_line[key]}"
                )
            )
            continue
        first_line[key] = row.line_number
        unique.append(row)
    tags = known_tags | set(first_line)
    accepted: list[AssetCsvRow] = []
    for row in unique:
        if row.parent_tag and row.parent_tag.casefold() not in tags:
            rejected.append(
                RejectedRow(row.line_number, f"parent_tag {row.parent_tag} matches no asset")
            )
            continue
        accepted.append(row)
    return accepted, rejected
