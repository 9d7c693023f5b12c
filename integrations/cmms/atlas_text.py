"""What Rivet keeps inside Atlas's free text, because Atlas has no field for it.

Atlas has no notes, no CRITICAL priority, no idempotency key, no reporter e-mail on a work order
and (unlicensed) no file storage (contract §4.2, §4.6, §2.4, §12 row 10). Rivet therefore writes
tagged lines into the ``description``, which Atlas stores, shows in its UI and finds with a
``cn`` search filter::

    Casing hot, burning smell.

    [Rivet note 2026-08-22T14:05:11Z ana@plant.example] Replaced the bearing.
      Second line of the same note.
    [Rivet file 3f2ac1.pdf 1234 application/pdf] wiring.pdf — https://rivet.example/f/3f2ac1.pdf
    [Rivet ref] key=tg-1-2; source=telegram_text; reporter=ana@plant.example; priority=CRITICAL;

Tagged lines may sit anywhere (people edit descriptions in the Atlas UI); everything else is the
human text. Atlas HEAD entity-escapes ``& < >`` in descriptions, so text is unescaped on reading.
No ``<`` or ``>`` is ever written: HEAD's sanitizer would strip it as a tag.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from integrations.cmms.port import Note

_NOTE_LINE = re.compile(r"^\[Rivet note (\S+) (\S+)\] ?(.*)$")
_FILE_LINE = re.compile(r"^\[Rivet file (\S+) (\d+) (\S+)\] (.*) — (\S+|kept by Rivet)$")
_KEPT_BY_RIVET = "kept by Rivet"
_REF_LINE = re.compile(r"^\[Rivet ref\](.*)$")
_REF_FIELD = re.compile(r"(\w+)=([^;]*);")
_NOTE_CONTINUATION = "  "
_NO_VALUE = "-"
# Characters that would break a tagged line or be eaten by Atlas's HTML sanitizer.
_UNSAFE_IN_VALUE = re.compile(r"[;\r\n<>\[\]]")
_UNSAFE_IN_NAME = re.compile(r"[\x00-\x1f\x7f<>\[\]—]")
_SAFE_KEY = re.compile(r"[A-Za-z0-9._:-]{1,100}")


@dataclass(frozen=True, slots=True)
class RivetRef:
    """Rivet's own facts about a work order; ``key`` is the idempotency key."""

    key: str | None = None
    source: str | None = None
    reporter: str | None = None
    priority: str | None = None
    location: str | None = None

    def render(self) -> str:
        fields = dataclasses.asdict(self)
        parts = [f"{name}={_clean_value(value)};" for name, value in fields.items() if value]
        return "[Rivet ref] " + " ".join(parts)


@dataclass(frozen=True, slots=True)
class LinkedFile:
    """A file Rivet keeps itself (unlicensed Atlas), linked from the description."""

    stored_name: str
    size: int
    mime_type: str | None
    file_name: str
    url: str | None

    def render(self) -> str:
        mime = self.mime_type or _NO_VALUE
        where = self.url or _KEPT_BY_RIVET
        return f"[Rivet file {self.stored_name} {self.size} {mime}] {self.file_name} — {where}"


@dataclass(frozen=True, slots=True)
class TaggedText:
    body: str = ""
    notes: tuple[Note, ...] = ()
    files: tuple[LinkedFile, ...] = ()
    ref: RivetRef = RivetRef()

    def render(self) -> str:
        tagged = [_render_note(note) for note in self.notes]
        tagged += [linked.render() for linked in self.files]
        if self.ref != RivetRef():
            tagged.append(self.ref.render())
        if not tagged:
            return self.body
        return "\n".join([self.body, "", *tagged]) if self.body else "\n".join(tagged)

    def with_body(self, body: str) -> TaggedText:
        return dataclasses.replace(self, body=body.strip())

    def with_note(self, note: Note) -> TaggedText:
        return dataclasses.replace(self, notes=(*self.notes, note))

    def with_file(self, linked: LinkedFile) -> TaggedText:
        return dataclasses.replace(self, files=(*self.files, linked))

    def with_ref(self, ref: RivetRef) -> TaggedText:
        return dataclasses.replace(self, ref=ref)


def parse(description: str | None) -> TaggedText:
    body_lines: list[str] = []
    notes: list[Note] = []
    files: list[LinkedFile] = []
    ref = RivetRef()
    in_note = False
    for line in html.unescape(description or "").splitlines():
        if in_note and line.startswith(_NOTE_CONTINUATION):
            last = notes[-1]
            text = f"{last.text}\n{line.removeprefix(_NOTE_CONTINUATION)}"
            notes[-1] = dataclasses.replace(last, text=text)
            continue
        in_note = False
        if note_match := _NOTE_LINE.match(line):
            notes.append(_parse_note(*note_match.groups()))
            in_note = True
        elif file_match := _FILE_LINE.match(line):
            stored_name, size, mime, file_name, where = file_match.groups()
            files.append(
                LinkedFile(
                    stored_name=stored_name,
                    size=int(size),
                    mime_type=None if mime == _NO_VALUE else mime,
                    file_name=file_name,
                    url=None if where == _KEPT_BY_RIVET else where,
                )
            )
        elif ref_match := _REF_LINE.match(line):
            fields = {name: value.strip() for name, value in _REF_FIELD.findall(ref_match[1])}
            known = {f.name for f in dataclasses.fields(RivetRef)}
            ref = RivetRef(**{k: v for k, v in fields.items() if k in known and v})
        else:
            body_lines.append(line)
    return TaggedText(
        body="\n".join(body_lines).strip(), notes=tuple(notes), files=tuple(files), ref=ref
    )


def key_marker(key: str) -> str:
    """The exact substring a ``cn`` search looks for to find a work order by its key."""
    return f"key={key};"


def reporter_marker(email: str) -> str:
    return f"reporter={email};"


def storable_key(idempotency_key: str) -> str:
    """Keys that would not survive a tagged line (spaces, ``;``…) are stored as a digest."""
    if _SAFE_KEY.fullmatch(idempotency_key):
        return idempotency_key
    return "sha256-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]


def display_file_name(file_name: str) -> str:
    """A client-supplied file name made safe to show on one tagged line."""
    name = " ".join(_UNSAFE_IN_NAME.sub(" ", file_name).split())[:120]
    return name or "file"


def _clean_value(value: str) -> str:
    return " ".join(_UNSAFE_IN_VALUE.sub(" ", value).split())


def _render_note(note: Note) -> str:
    when = note.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    author = "".join((note.author or _NO_VALUE).split()).replace("]", "") or _NO_VALUE
    first, *rest = note.text.strip().splitlines() or [""]
    lines = [f"[Rivet note {when} {author}] {first}"]
    lines += [_NOTE_CONTINUATION + line for line in rest]
    return "\n".join(lines)


def _parse_note(when: str, author: str, text: str) -> Note:
    try:
        created_at = datetime.fromisoformat(when)
    except ValueError:
        created_at = datetime.fromtimestamp(0, UTC)
    return Note(author=None if author == _NO_VALUE else author, text=text, created_at=created_at)
