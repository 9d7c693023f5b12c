"""Chat with Print: summarize a loaded print and answer questions about it.

With a vision model configured the page images and text layer go to an OpenAI-compatible chat
endpoint; without one, or whenever that call fails, answers come from the text layer (or OCR)
alone. Callers always get a result, and used_vision says which path produced it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import openai
from openai.types.chat import ChatCompletionContentPartParam, ChatCompletionMessageParam
from rapidfuzz import fuzz, process

from bot.services.print_labels import (
    LineHit,
    concerns_safety,
    extract_title_block,
    find_ratings,
    find_tags,
    guess_drawing_type,
    is_rating,
    question_labels,
    search_lines,
    term_pattern,
)
from bot.services.print_loading import (
    PrintDocument,
    PrintPage,
    PrintRejected,
    load_print,
    load_print_async,
    ocr_available,
)

__all__ = [
    "HistoryTurn",
    "PrintAnalysis",
    "PrintAnalyzer",
    "PrintAnswer",
    "PrintDocument",
    "PrintPage",
    "PrintRejected",
    "analyze_offline",
    "answer_offline",
    "load_print",
    "load_print_async",
    "ocr_available",
]

logger = logging.getLogger(__name__)

HistoryTurn = tuple[str, str]  # (question, answer) of an earlier turn, oldest first

SAFETY_REMINDER = "Verify on site and follow lock-out/tag-out before touching anything."
VISION_HINT = (
    "I read this from the print's text only; a vision model would also read the symbols, "
    "wiring and hand-written mark-ups."
)
# Images per request: beyond a few sheets the model's attention and the token bill suffer.
MAX_VISION_PAGES = 6
MAX_CONTEXT_TEXT_CHARS = 12_000
MAX_HISTORY_TURNS = 4
MAX_HISTORY_CHARS = 1_000
MAX_HITS_PER_LABEL = 4
MAX_KEYWORD_HITS = 3
MAX_LISTED_LABELS = 10
MAX_CONTEXT_CHARS = 240

_SYSTEM_PROMPT = (
    "You are Rivet, an assistant for industrial maintenance technicians. You are given an "
    "electrical or mechanical print: its page images and the text extracted from each page. "
    "Answer from the print only, briefly and concretely. Cite the pages you used as "
    "'(page N)'. If something is unreadable or not on the print, say so; never guess a "
    "rating, wire number or part number. Never give instructions for working on energised "
    "equipment."
)
_ANALYSIS_INSTRUCTIONS = (
    "Describe this print for a technician. Reply with a JSON object with the keys "
    '"summary" (2-4 sentences: what the drawing shows and the main equipment), '
    '"drawing_type" (e.g. "electrical one-line diagram", "ladder / control schematic", '
    '"P&ID", "wiring diagram", "mechanical drawing", or null), '
    '"title_block" (object of title-block fields such as title, drawing_number, revision, '
    'date), "components" (device tags as printed, e.g. "CB-12") and "ratings" (e.g. "480V").'
)
_PAGE_CITATION_RE = re.compile(
    r"\b(?:pages?|pp?\.|pg\.?)\s*(\d+(?:\s*(?:,|and|&|-|–|to)\s*\d+)*)", re.IGNORECASE
)
_REFUSAL_RE = re.compile(
    r"\b(?:can(?:no|')t|unable to|won't) (?:help|assist) with (?:that|this)", re.IGNORECASE
)
_KEYWORD_RE = re.compile(r"[A-Za-z][A-Za-z&/-]{2,}")
_STOPWORD_TEXT = (
    "the and for are was what which where who how why does did this that with from into "
    "there their about have has can could would should will any all show tell find print "
    "drawing page pages sheet please"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True, slots=True)
class PrintAnalysis:
    summary: str
    drawing_type: str | None
    title_block: dict[str, str]  # e.g. {"title": ..., "drawing_number": ..., "revision": ...}
    components: list[str]  # device tags
    ratings: list[str]  # voltages, currents, power, phases
    used_vision: bool
    note: str | None  # caveats for the user: truncation, missing OCR, what vision would add


@dataclass(frozen=True, slots=True)
class PrintAnswer:
    text: str
    pages: list[int]  # 1-based pages the answer cites
    safety_reminder: bool  # handlers append SAFETY_REMINDER
    used_vision: bool


class _VisionUnusable(Exception):
    """The model replied, but not with something we can show (refusal, empty, cut off)."""


def _pages_phrase(pages: Sequence[int]) -> str:
    if len(pages) == 1:
        return f"page {pages[0]}"
    return "pages " + ", ".join(str(page) for page in pages[:-1]) + f" and {pages[-1]}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _listing(items: Sequence[str], limit: int = MAX_LISTED_LABELS) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _has_text(doc: PrintDocument) -> bool:
    return any(page.text.strip() for page in doc.pages)


def _no_text_explanation(doc: PrintDocument) -> str:
    reason = "OCR isn't available here" if not ocr_available() else "OCR found no text"
    return f"I couldn't read any text on this {doc.kind} ({reason})"


def analyze_offline(doc: PrintDocument) -> PrintAnalysis:
    """Summary from the text layer/OCR: drawing type, title block, device tags and ratings."""
    texts = [page.text for page in doc.pages]
    drawing_type = guess_drawing_type(texts)
    title_block = extract_title_block(texts)
    components = [label for label in doc.labels if not is_rating(label)]
    ratings = [label for label in doc.labels if is_rating(label)]

    if doc.kind == "pdf":
        count = len(doc.pages)
        sentences = [f"{count}-page PDF" if count > 1 else "1-page PDF"]
    else:
        sentences = ["Image of a print"]
    if drawing_type:
        sentences[0] += f", looks like a {drawing_type}"
    if "title" in title_block:
        sentences[0] += f": “{title_block['title']}”"
    reference = " ".join(
        f"{name} {title_block[key]}"
        for key, name in (("drawing_number", "DWG"), ("revision", "rev"))
        if key in title_block
    )
    if reference:
        sentences[0] += f" ({reference})"
    sentences[0] += "."
    if not _has_text(doc):
        sentences.append(_no_text_explanation(doc) + ".")
    if components:
        sentences.append(f"Devices: {_listing(components)}.")
    if ratings:
        sentences.append(f"Ratings: {_listing(ratings)}.")
    if _has_text(doc) and not components and not ratings:
        sentences.append("I found no device tags or ratings in its text.")

    notes = list(doc.notes)
    if any(page.text_from_ocr for page in doc.pages):
        notes.append("Some text was read by OCR and may contain mistakes.")
    return PrintAnalysis(
        summary=" ".join(sentences),
        drawing_type=drawing_type,
        title_block=title_block,
        components=components,
        ratings=ratings,
        used_vision=False,
        note=" ".join([*notes, VISION_HINT]),
    )


def _vision_analysis_note(doc: PrintDocument) -> str | None:
    """Caveats that still hold when the model saw the pages (OCR gaps no longer matter)."""
    notes: list[str] = []
    if doc.truncated:
        notes.append(f"I read only the first {len(doc.pages)} of {doc.total_pages} pages.")
    if len(doc.pages) > MAX_VISION_PAGES:
        notes.append(
            f"I looked at the images of the first {MAX_VISION_PAGES} pages "
            "and at the text of all of them."
        )
    return " ".join(notes) or None


def _describe_hits(
    label: str, hits: Sequence[LineHit], pages_by_number: dict[int, PrintPage]
) -> str:
    pages = sorted({hit.page for hit in hits})
    shown = hits[:MAX_HITS_PER_LABEL]
    ocr_caveat = (
        " (read by OCR, check the print)"
        if any(pages_by_number[hit.page].text_from_ocr for hit in shown)
        else ""
    )
    if len(shown) == 1:
        quote = _clip(shown[0].context, MAX_CONTEXT_CHARS)
        return f"{label} appears on {_pages_phrase(pages)}{ocr_caveat}: “{quote}”"
    lines = [f"{label} appears on {_pages_phrase(pages)}{ocr_caveat}:"]
    lines += [f"• page {hit.page}: “{_clip(hit.context, MAX_CONTEXT_CHARS)}”" for hit in shown]
    if len(hits) > len(shown):
        lines.append(f"• …and {len(hits) - len(shown)} more mentions")
    return "\n".join(lines)


def _keyword_hits(texts: Sequence[str], question: str) -> list[LineHit]:
    """Lines sharing the most question keywords, best first."""
    keywords = {
        word.lower() for word in _KEYWORD_RE.findall(question) if word.lower() not in _STOPWORDS
    }
    if not keywords:
        return []
    pattern = re.compile(
        r"(?<![A-Za-z])(?:" + "|".join(re.escape(k) for k in sorted(keywords)) + r")",
        re.IGNORECASE,
    )

    def relevance(hit: LineHit) -> tuple[int, int]:
        # Lines naming devices or ratings are the useful ones among equal keyword matches.
        matched_keywords = {match.lower() for match in pattern.findall(hit.line)}
        return len(matched_keywords), len(find_tags(hit.line)) + len(find_ratings(hit.line))

    # Title blocks repeat on every sheet; quote each distinct line once.
    distinct = {hit.line: hit for hit in reversed(search_lines(texts, pattern))}
    return sorted(distinct.values(), key=relevance, reverse=True)[:MAX_KEYWORD_HITS]


def _nearby_labels(doc: PrintDocument, missing: Iterable[str]) -> list[str]:
    suggestions: list[str] = []
    for label in missing:
        matches = process.extract(
            label, list(doc.labels), scorer=fuzz.ratio, limit=5, score_cutoff=50
        )
        suggestions += [match[0] for match in matches if match[0] not in suggestions]
    return suggestions or list(doc.labels)


def _labelled(labels: Sequence[str], doc: PrintDocument) -> str:
    return _listing([f"{label} ({_pages_phrase(doc.labels[label])})" for label in labels])


def answer_offline(doc: PrintDocument, question: str) -> PrintAnswer:
    """Answer by quoting the lines that mention the question's labels or keywords."""
    texts = [page.text for page in doc.pages]
    if not _has_text(doc):
        text = (
            f"{_no_text_explanation(doc)}, so I can't look that up. Send the drawing as an "
            "exported PDF, or ask again once image reading is set up."
        )
        return PrintAnswer(text, [], concerns_safety(question), used_vision=False)

    pages_by_number = {page.number: page for page in doc.pages}
    paragraphs: list[str] = []
    cited: set[int] = set()
    missing: list[str] = []
    for label in question_labels(question):
        pattern = term_pattern(label)
        hits = search_lines(texts, pattern)
        if hits:
            # Name the label as the print spells it (CB-12), not as typed (cb 12).
            printed = pattern.search(hits[0].line)
            printed_label = printed.group(0) if printed else label
            paragraphs.append(_describe_hits(printed_label, hits, pages_by_number))
            cited.update(hit.page for hit in hits[:MAX_HITS_PER_LABEL])
        else:
            missing.append(label)
    # Judged before any label listing is added: listing "480V" is not talking about voltage.
    safety_reminder = concerns_safety(question, *paragraphs)

    if missing:
        nearby = _nearby_labels(doc, missing)
        sentence = f"I couldn't find {', '.join(missing)} on this print."
        if nearby:
            sentence += f" Labels I can see: {_labelled(nearby, doc)}."
        paragraphs.append(sentence)
    elif not paragraphs:
        keyword_hits = _keyword_hits(texts, question)
        if keyword_hits:
            paragraphs.append("These lines of the print look related:")
            paragraphs += [
                f"• page {hit.page}: “{_clip(hit.context, MAX_CONTEXT_CHARS)}”"
                for hit in keyword_hits
            ]
            cited.update(hit.page for hit in keyword_hits)
            safety_reminder = concerns_safety(question, *paragraphs)
        else:
            sentence = "I couldn't find that in the print's text."
            if doc.labels:
                sentence += f" Labels I can see: {_labelled(list(doc.labels), doc)}."
            paragraphs.append(sentence)

    return PrintAnswer(
        text="\n".join(paragraphs),
        pages=sorted(cited),
        safety_reminder=safety_reminder,
        used_vision=False,
    )


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _pages_for_question(doc: PrintDocument, question: str) -> list[PrintPage]:
    """Pages mentioning the question's labels first, then the rest, up to MAX_VISION_PAGES."""
    mentioned = {
        hit.page
        for label in question_labels(question)
        for hit in search_lines([page.text for page in doc.pages], term_pattern(label))
    }
    ordered = sorted(doc.pages, key=lambda page: (page.number not in mentioned, page.number))
    return sorted(ordered[:MAX_VISION_PAGES], key=lambda page: page.number)


def _print_content(
    doc: PrintDocument, pages: Sequence[PrintPage]
) -> list[ChatCompletionContentPartParam]:
    """Text layer of every loaded page plus the images of the chosen pages."""
    budget = MAX_CONTEXT_TEXT_CHARS // max(len(doc.pages), 1)
    sections = []
    for page in doc.pages:
        source = "OCR, may contain errors" if page.text_from_ocr else "text layer"
        body = _clip(page.text.strip(), budget) if page.text.strip() else "(no text found)"
        sections.append(f"--- Page {page.number} ({source}) ---\n{body}")
    header = f"Print: {doc.kind.upper()}, {len(doc.pages)} page(s) loaded"
    if doc.truncated:
        header += f" of {doc.total_pages}"
    parts: list[ChatCompletionContentPartParam] = [
        {"type": "text", "text": header + ".\n\nExtracted text:\n" + "\n\n".join(sections)}
    ]
    for page in pages:
        parts.append({"type": "text", "text": f"Image of page {page.number}:"})
        parts.append(
            {"type": "image_url", "image_url": {"url": _data_url(page.image_png), "detail": "high"}}
        )
    return parts


def _cited_pages(text: str, doc: PrintDocument) -> list[int]:
    valid = {page.number for page in doc.pages}
    cited = {
        int(number)
        for group in _PAGE_CITATION_RE.findall(text)
        for number in re.findall(r"\d+", group)
    }
    return sorted(cited & valid)


def _json_object(content: str) -> dict[str, Any]:
    # Some OpenAI-compatible servers wrap JSON in a Markdown fence despite response_format.
    stripped = re.sub(r"^```(?:json)?\s*|\s*```$", "", content.strip())
    payload = json.loads(stripped)
    if not isinstance(payload, dict):
        raise _VisionUnusable("analysis reply is not a JSON object")
    return payload


def _strings(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    return [str(item).strip() for item in value if str(item).strip()]


def _merged(first: Iterable[str], second: Iterable[str]) -> list[str]:
    merged: dict[str, str] = {}
    for item in (*first, *second):
        merged.setdefault(re.sub(r"[\s-]+", "", item.upper()), item)
    return list(merged.values())


class PrintAnalyzer:
    """Analyzes prints with a vision model when configured, from text otherwise."""

    def __init__(
        self,
        *,
        openai_client: openai.AsyncOpenAI | None,
        vision_model: str | None,
        timeout: float = 30.0,
    ) -> None:
        self._vision = (
            (openai_client, vision_model) if openai_client is not None and vision_model else None
        )
        self._timeout = timeout

    @property
    def vision_enabled(self) -> bool:
        return self._vision is not None

    async def analyze(self, doc: PrintDocument) -> PrintAnalysis:
        offline = analyze_offline(doc)
        if self._vision is None:
            return offline
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": _SYSTEM_PROMPT},
            {
                "role": "user",
                "content": [
                    *_print_content(doc, doc.pages[:MAX_VISION_PAGES]),
                    {"type": "text", "text": _ANALYSIS_INSTRUCTIONS},
                ],
            },
        ]
        try:
            payload = _json_object(await self._complete(self._vision, messages, json_reply=True))
            summary = str(payload.get("summary") or "").strip()
            if not summary:
                raise _VisionUnusable("analysis reply has no summary")
        except Exception:
            logger.warning("Vision analysis failed; using the text-only analysis", exc_info=True)
            return offline

        drawing_type = payload.get("drawing_type")
        title_block = payload.get("title_block")
        model_title_block = (
            {str(k): str(v).strip() for k, v in title_block.items() if v and str(v).strip()}
            if isinstance(title_block, dict)
            else {}
        )
        return PrintAnalysis(
            summary=summary,
            drawing_type=str(drawing_type).strip() if drawing_type else offline.drawing_type,
            title_block={**offline.title_block, **model_title_block},
            components=_merged(_strings(payload.get("components")), offline.components),
            ratings=_merged(_strings(payload.get("ratings")), offline.ratings),
            used_vision=True,
            note=_vision_analysis_note(doc),
        )

    async def answer(
        self, doc: PrintDocument, question: str, history: Sequence[HistoryTurn] = ()
    ) -> PrintAnswer:
        """Answer a question; history holds earlier (question, answer) turns, oldest first."""
        offline = answer_offline(doc, question)
        if self._vision is None:
            return offline
        messages: list[ChatCompletionMessageParam] = [{"role": "system", "content": _SYSTEM_PROMPT}]
        for earlier_question, earlier_answer in history[-MAX_HISTORY_TURNS:]:
            messages.append({"role": "user", "content": _clip(earlier_question, MAX_HISTORY_CHARS)})
            messages.append(
                {"role": "assistant", "content": _clip(earlier_answer, MAX_HISTORY_CHARS)}
            )
        messages.append(
            {
                "role": "user",
                "content": [
                    *_print_content(doc, _pages_for_question(doc, question)),
                    {"type": "text", "text": f"Question: {question}"},
                ],
            }
        )
        try:
            text = await self._complete(self._vision, messages, json_reply=False)
        except Exception:
            logger.warning("Vision answer failed; using the text-only answer", exc_info=True)
            return offline

        pages = _cited_pages(text, doc)
        if not pages and offline.pages:
            pages = offline.pages
            text += f"\n\n(See {_pages_phrase(pages)}.)"
        return PrintAnswer(
            text=text,
            pages=pages,
            safety_reminder=concerns_safety(question, text),
            used_vision=True,
        )

    async def _complete(
        self,
        vision: tuple[openai.AsyncOpenAI, str],
        messages: list[ChatCompletionMessageParam],
        *,
        json_reply: bool,
    ) -> str:
        """The assistant's reply text; raises on any transport, timeout or content failure."""
        configured_client, model = vision
        # No SDK retries: the user is waiting, and the offline answer is the better retry.
        client = configured_client.with_options(timeout=self._timeout, max_retries=0)
        async with asyncio.timeout(self._timeout):
            if json_reply:
                completion = await client.chat.completions.create(
                    model=model,
                    messages=messages,
                    response_format={"type": "json_object"},
                )
            else:
                completion = await client.chat.completions.create(model=model, messages=messages)
        if not completion.choices:
            raise _VisionUnusable("no choices")
        choice = completion.choices[0]
        content = (choice.message.content or "").strip()
        if choice.message.refusal or not content:
            raise _VisionUnusable(f"refusal or empty reply: {choice.message.refusal!r}")
        if choice.finish_reason == "length":
            raise _VisionUnusable("reply cut off at the token limit")
        if _REFUSAL_RE.search(content[:200]):
            raise _VisionUnusable("reply is a refusal")
        return content
