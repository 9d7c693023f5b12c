"""Text-only reading of prints: device tags, ratings, drawing type, title block, safety topics.

Pure functions over extracted page text, so they work the same on a PDF text layer and on OCR
output, and can be tested without rendering anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Device-tag prefixes seen on electrical and P&ID prints. A whitelist keeps drawing numbers
# (E-1042), paper sizes (A3) and part numbers from being reported as devices.
_TAG_PREFIXES = (
    "XFMR", "MCC", "PLC", "VFD", "MTR", "PSV", "PCV", "LCV", "FIC", "TIC", "LIC", "PIC",
    "CB", "TB", "FU", "PB", "CR", "OL", "SS", "LS", "PS", "PT", "TT", "FT", "LT", "HS", "DS",
    "MS", "SW", "XV", "HV", "FV", "PV", "TR", "M", "K", "F", "Q", "T", "P", "L", "V",
)  # fmt: skip
_TAG_ALTERNATION = "|".join(_TAG_PREFIXES)
_TAG_RE = re.compile(
    r"(?<![A-Za-z0-9-])(?:" + _TAG_ALTERNATION + r")-?\d{1,4}[A-Z]?(?![A-Za-z0-9])"
)
# Technicians type "cb 12" for CB-12; only known prefixes are joined so "is 480 V" stays intact.
_SPACED_TAG_RE = re.compile(
    r"(?<![A-Za-z0-9])(" + _TAG_ALTERNATION + r")\s(\d{1,4})(?![A-Za-z0-9])", re.IGNORECASE
)

# Canonical spelling per unit; the pattern is case-sensitive on purpose so prose such as
# "step 3 a" or "2 pm" is not read as a rating.
_UNITS = {
    "VAC": "VAC", "VDC": "VDC", "kV": "kV", "KV": "kV", "V": "V",
    "kA": "kA", "KA": "kA", "mA": "mA", "A": "A",
    "kVA": "kVA", "KVA": "kVA", "VA": "VA", "kW": "kW", "KW": "kW", "W": "W",
    "HP": "HP", "hp": "HP", "Hz": "Hz", "HZ": "Hz", "PH": "PH", "Ph": "PH",
}  # fmt: skip
_UNIT_ALTERNATION = "|".join(sorted(_UNITS, key=len, reverse=True))
_RATING_RE = re.compile(
    r"(?<![A-Za-z0-9./])"
    r"(?P<value>\d+(?:\.\d+)?(?:[/-]\d+(?:\.\d+)?)*)"
    r"\s?(?P<unit>" + _UNIT_ALTERNATION + r")(?![A-Za-z0-9])"
)

# Words and spellings that mean a question or answer touches hazardous energy.
_SAFETY_RE = re.compile(
    r"\b(?:volt(?:s|age)?|kv|high[- ]voltage|live|energi[sz](?:ed|e|ing)|de-?energi[sz]\w*|"
    r"lock[- ]?outs?|tag[- ]?outs?|loto|arc[- ]?flash|shock|electrocut\w*|isolat\w*|"
    r"disconnect\w*|megger\w*|insulation test\w*|bypass\w*|jumper\w*|interlock\w*)\b"
    r"|\d\s?(?:V|VAC|VDC|kV)\b",
    re.IGNORECASE,
)

_DRAWING_VOCABULARY: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # type: (phrases that name the type outright, words typical of it)
    "electrical one-line diagram": (
        ("ONE-LINE", "ONE LINE", "SINGLE LINE", "SINGLE-LINE", "SLD"),
        ("SWITCHGEAR", "XFMR", "TRANSFORMER", "MCC", "BUS", "FEEDER", "KVA", "MAIN BREAKER"),
    ),
    "ladder / control schematic": (
        ("LADDER", "CONTROL SCHEMATIC", "CONTROL CIRCUIT", "ELEMENTARY"),
        ("RUNG", "COIL", "CONTACTOR", "SEAL-IN", "START", "STOP", "RELAY", "AUX CONTACT", "OL"),
    ),
    "P&ID (piping and instrumentation)": (
        ("P&ID", "PIPING AND INSTRUMENT", "PIPING & INSTRUMENT"),
        ("VALVE", "PIPING", "INSTRUMENT", "FLOW", "TRANSMITTER", "LINE SIZE", "PSV", "FIC"),
    ),
    "wiring diagram": (
        ("WIRING DIAGRAM", "CONNECTION DIAGRAM", "INTERCONNECT"),
        ("WIRE", "TERMINAL", "TERMINAL BLOCK", "CABLE", "CONDUCTOR", "GND", "FERRULE"),
    ),
    "mechanical drawing": (
        ("ASSEMBLY DRAWING", "MECHANICAL", "GENERAL ARRANGEMENT", "EXPLODED VIEW"),
        ("BEARING", "SHAFT", "TOLERANCE", "WELD", "SECTION", "DIMENSION", "COUPLING", "GEARBOX"),
    ),
}
_NAMING_PHRASE_WEIGHT = 5
_MIN_DRAWING_TYPE_SCORE = 2

_TITLE_BLOCK_PATTERNS: dict[str, re.Pattern[str]] = {
    "title": re.compile(r"\bTITLE\s*[:#]\s*(?P<value>[^\n]+)", re.IGNORECASE),
    "drawing_number": re.compile(
        r"\b(?:DWG|DRAWING)\.?\s*(?:NO\.?|NUMBER|#)?\s*[:#]?\s*(?P<value>[A-Z0-9]+(?:[-./][A-Z0-9]+)+|\d{2,})",
        re.IGNORECASE,
    ),
    "revision": re.compile(
        r"\bREV(?:ISION)?\.?\s*[:#]?\s*(?P<value>[A-Z0-9]{1,3})\b(?!\s*[:#])", re.IGNORECASE
    ),
    "date": re.compile(
        r"\bDATE\s*[:#]?\s*(?P<value>\d{4}-\d{2}-\d{2}|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4})",
        re.IGNORECASE,
    ),
    "sheet": re.compile(r"\bSHEET\s*[:#]?\s*(?P<value>\d+\s*(?:OF|/)\s*\d+|\d+)\b", re.IGNORECASE),
    "scale": re.compile(
        r"\bSCALE\s*[:#]?\s*(?P<value>N\.?T\.?S\.?|NONE|\d+\s*:\s*\d+)", re.IGNORECASE
    ),
    "drawn_by": re.compile(
        r"\bDRAWN(?:\s+BY)?\s*[:#]?\s*(?P<value>[A-Z][A-Z.]{1,19})\b", re.IGNORECASE
    ),
    "checked_by": re.compile(
        r"\bCHECKED(?:\s+BY)?\s*[:#]?\s*(?P<value>[A-Z][A-Z.]{1,19})\b", re.IGNORECASE
    ),
    "project": re.compile(r"\bPROJECT\s*[:#]\s*(?P<value>[^\n]+)", re.IGNORECASE),
}
_MAX_TITLE_VALUE_CHARS = 80


@dataclass(frozen=True, slots=True)
class LineHit:
    """A text line that mentions a searched term, with its neighbours for context."""

    page: int
    line: str
    context: str


def _canonical_rating(match: re.Match[str]) -> str:
    return match["value"] + _UNITS[match["unit"]]


def find_tags(text: str) -> list[str]:
    """Device tags in reading order (CB-12, M1, MCC-3, ...), duplicates kept."""
    return [match.group(0) for match in _TAG_RE.finditer(text)]


def find_ratings(text: str) -> list[str]:
    """Ratings in reading order, units spelled canonically (480V, 24VDC, 15kW, 3PH)."""
    return [_canonical_rating(match) for match in _RATING_RE.finditer(text)]


def is_rating(label: str) -> bool:
    match = _RATING_RE.fullmatch(label)
    return match is not None


def extract_labels(page_texts: Sequence[str]) -> dict[str, list[int]]:
    """Map every tag and rating to the 1-based pages it appears on, in order of first appearance."""
    labels: dict[str, list[int]] = {}
    for page_number, text in enumerate(page_texts, start=1):
        for label in (*find_tags(text), *find_ratings(text)):
            pages = labels.setdefault(label, [])
            if page_number not in pages:
                pages.append(page_number)
    return labels


def guess_drawing_type(page_texts: Iterable[str]) -> str | None:
    """Best drawing type by vocabulary, or None when the text gives no real signal."""
    text = "\n".join(page_texts).upper()
    best_type: str | None = None
    best_score = _MIN_DRAWING_TYPE_SCORE - 1
    for drawing_type, (naming_phrases, typical_words) in _DRAWING_VOCABULARY.items():
        score = sum(
            _NAMING_PHRASE_WEIGHT * len(re.findall(rf"(?<!\w){re.escape(p)}(?!\w)", text))
            for p in naming_phrases
        ) + sum(len(re.findall(rf"(?<!\w){re.escape(w)}S?(?!\w)", text)) for w in typical_words)
        if score > best_score:
            best_type, best_score = drawing_type, score
    return best_type


def extract_title_block(page_texts: Sequence[str]) -> dict[str, str]:
    """Title-block fields (title, drawing_number, revision, date, sheet, ...), first value wins."""
    fields: dict[str, str] = {}
    for text in page_texts:
        for field, pattern in _TITLE_BLOCK_PATTERNS.items():
            if field in fields:
                continue
            match = pattern.search(text)
            if match:
                value = " ".join(match["value"].split())[:_MAX_TITLE_VALUE_CHARS]
                fields[field] = value
    return fields


def concerns_safety(*texts: str) -> bool:
    """True when any text talks about voltage, hazardous energy or isolation."""
    return any(_SAFETY_RE.search(text) for text in texts)


def term_pattern(term: str) -> re.Pattern[str]:
    """Pattern that finds a label however it is spaced or hyphenated: CB-12, CB12, cb 12."""
    compact = re.sub(r"[\s-]+", "", term)
    pieces = re.findall(r"[A-Za-z]+|\d+(?:\.\d+)?|[^A-Za-z\d]", compact)
    body = r"[-\s]?".join(re.escape(piece) for piece in pieces)
    # A voltage asked as 480V should still find 480VAC on the print.
    suffix = r"(?:AC|DC)?" if compact.upper().endswith("V") else ""
    return re.compile(rf"(?<![A-Za-z0-9]){body}{suffix}(?![A-Za-z0-9])", re.IGNORECASE)


def question_labels(question: str) -> list[str]:
    """Tags and ratings named in a question, tolerant of lower case and spaces (cb 12)."""
    normalized = _SPACED_TAG_RE.sub(r"\1\2", question)
    upper = normalized.upper()
    labels = [*find_tags(upper), *find_ratings(normalized)]
    return list(dict.fromkeys(labels))


def search_lines(page_texts: Sequence[str], pattern: re.Pattern[str]) -> list[LineHit]:
    """Every non-blank line matching pattern, with the line before and after as context."""
    hits: list[LineHit] = []
    for page_number, text in enumerate(page_texts, start=1):
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        for index, line in enumerate(lines):
            if pattern.search(line):
                context = " / ".join(lines[max(0, index - 1) : index + 2])
                hits.append(LineHit(page=page_number, line=line, context=context))
    return hits
