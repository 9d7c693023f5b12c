"""Asset search: find equipment the way technicians name it.

Technicians write "P-003", "pump 3", "pmp #3", "the pump on line 3", "compresser", "AHU2" or
"ahu 2". Text is normalised into canonical tokens (lexicon of abbreviations and misspellings,
letters split from digits, leading zeros dropped), an inverted index narrows the catalog to a
bounded candidate set, and only those candidates are scored. Numbers (and letter designators such
as "Chiller B") disambiguate: a number that contradicts the asset's own number is a heavy penalty.
"""

from __future__ import annotations

import bisect
import functools
import heapq
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar, cast

from rapidfuzz import fuzz, process

from bot.domain import AssetCandidate

_T = TypeVar("_T")

LEXICON_PATH = Path(__file__).resolve().parent.parent / "data" / "maintenance_lexicon.tsv"

# Score thresholds (0..100) shared by is_clear_winner() and plausible().
CLEAR_WINNER_MIN_SCORE = 80.0
CLEAR_WINNER_MIN_LEAD = 10.0
PLAUSIBLE_MIN_SCORE = 30.0
PLAUSIBLE_MAX_BEHIND = 30.0
MAX_BUTTONS = 5

# Candidate-set bounds: keep the Python-level scoring work independent of catalog size.
_NUMBERED_CAP = 60  # candidates matching the query's words and a wanted number
_WORD_NUMBERED_CAP = 20  # per single query word with a wanted number (other readings)
_FILL_CAP = 30  # extra candidates without the wanted number (alternatives, number-less queries)
_MAX_CANDIDATES = 200
_SMALL_SET = 512  # below this a C-level intersection beats an early-exit scan
_MAX_VARIANTS = 4  # vocabulary words a query word may stand for
_FUZZY_MIN_RATIO = 80.0
_FUZZY_MIN_LENGTH = 4
_PREFIX_MIN_LENGTH = 4
_PREFIX_SIMILARITY = 0.85
_CONTEXT_CACHE_SIZE = 20_000
_MAX_TEXT_TOKENS = 80  # find_in_text reads this many tokens at most
_TAG_WINDOW = 3  # raw chunks joined when looking for a tag inside a sentence

_PIECE_RE = re.compile(r"[^\W\d_]+|\d+")
_CHUNK_STRIP = ".,;:!?()[]{}<>\"'`*"

# Words that never name equipment; dropped before matching.
_STOPWORDS = frozenset(
    """
    a an the is are was were be been being am on in at of to for from by with and or but it its
    this that these those there here my our your his her their we i you he she they me us them
    has have had do does did not no nr num number near next into onto over under up down out off
    as so very again also please any some all one which what where when who how can cant
    will would should could just still now today yesterday
    """.split()  # noqa: SIM905 - a word list reads better as text
)
# Tokens that sit between a word and its number ("pump no 3", "line number 2").
_NUMBER_MARKERS = frozenset({"no", "nr", "num", "number"})
# Words after which a number word is a determiner, not a designator ("the one on line 3").
_NOT_NUMBER_HEADS = frozenset({"the", "this", "that", "which", "any", "every", "each", "a", "an"})
_NUMBER_WORD_SEQUENCE = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
)
_NUMBER_WORDS = {word: str(value) for value, word in enumerate(_NUMBER_WORD_SEQUENCE.split())}
# Small words inside names that are not part of an acronym ("Pump of Line" → no "o").
_ACRONYM_SKIP = frozenset({"of", "and", "for", "the", "to", "with"})


@dataclass(frozen=True, slots=True)
class AssetRecord:
    asset_id: str
    name: str
    tag: str | None = None
    location: str | None = None
    category: str | None = None
    description: str | None = None


# ---------------------------------------------------------------- normalisation


@functools.cache
def load_lexicon() -> Mapping[str, tuple[str, ...]]:
    """The maintenance lexicon: lower-case noisy token → canonical words (read once, cached)."""
    lexicon: dict[str, tuple[str, ...]] = {}
    with LEXICON_PATH.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip() or line.startswith("#"):
                continue
            noisy, _, canonical = line.rstrip("\n").partition("\t")
            words = tuple(canonical.split())
            if noisy and words:
                lexicon[noisy] = words
    return MappingProxyType(lexicon)


def _fold(text: str) -> str:
    """Case-fold and strip accents so "Pómpa" and "pompa" meet."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _strip_zeros(digits: str) -> str:
    return digits.lstrip("0") or "0"


def normalize_tokens(text: str) -> list[str]:
    """Canonical tokens of free text: lower case, abbreviations and misspellings expanded,
    letters split from digits ("AHU2" → ahu, 2), leading zeros dropped ("003" → 3) and number
    words after a word turned into digits ("pump three" → pump, 3). Stopwords are kept."""
    lexicon = load_lexicon()
    tokens: list[str] = []
    for chunk in _fold(text).split():
        chunk = chunk.strip(_CHUNK_STRIP)
        expansion = lexicon.get(chunk)
        if expansion is not None:  # slash forms such as "c/o" or "a/c" must win before splitting
            tokens.extend(expansion)
            continue
        for piece in _PIECE_RE.findall(chunk):
            if piece.isdigit():
                tokens.append(_strip_zeros(piece))
            elif piece in _NUMBER_WORDS and tokens and _is_number_head(tokens[-1]):
                tokens.append(_NUMBER_WORDS[piece])
            else:
                tokens.extend(lexicon.get(piece, (piece,)))
    return tokens


def _is_number_head(token: str) -> bool:
    return token.isalpha() and token not in _NOT_NUMBER_HEADS


def _tag_key(text: str) -> str:
    """Spelling-independent tag key: "P-003", "p3", "P 03" → "p|3"; "CB-L4-01" → "cbl|4|1"."""
    runs: list[str] = []
    for piece in _PIECE_RE.findall(_fold(text)):
        if piece.isdigit():
            runs.append(_strip_zeros(piece))
        elif runs and not runs[-1].isdigit():
            runs[-1] += piece
        else:
            runs.append(piece)
    return "|".join(runs)


@dataclass(frozen=True, slots=True)
class _Designated:
    """Words and designators (numbers, "Chiller B" letters) read from a name or location."""

    words: tuple[str, ...]
    designators: tuple[str, ...]
    pairs: tuple[str, ...]  # "word#designator", e.g. "line#3"


def _designated(tokens: Sequence[str], *, letters_designate: bool) -> _Designated:
    words: list[str] = []
    designators: list[str] = []
    pairs: list[str] = []
    head: str | None = None
    for token in tokens:
        is_letter = letters_designate and len(token) == 1 and token.isalpha() and head is not None
        if token.isdigit() or is_letter:
            designators.append(token)
            if head is not None:
                pairs.append(f"{head}#{token}")
            continue
        if token in _NUMBER_MARKERS:
            continue
        head = None
        if token in _STOPWORDS or not token.isalpha():
            continue
        words.append(token)
        head = token
    return _Designated(tuple(words), tuple(designators), tuple(pairs))


@functools.lru_cache(maxsize=4096)  # names repeat their words: "Pump 1" … "Pump 900"
def _acronyms(words: tuple[str, ...]) -> tuple[str, ...]:
    """Initials of multi-word names: "Air Handling Unit" → "ahu"; "Cooling Tower" → "ct"."""
    significant = [word for word in words if word not in _ACRONYM_SKIP]
    found: set[str] = set()
    if len(significant) == 2:
        found.add(significant[0][0] + significant[1][0])
    for size in range(3, min(len(significant), 5) + 1):
        for start in range(len(significant) - size + 1):
            found.add("".join(word[0] for word in significant[start : start + size]))
    return tuple(sorted(found))


# ---------------------------------------------------------------- index


@dataclass(slots=True)
class _Entry:
    record: AssetRecord
    words: tuple[str, ...]
    aliases: tuple[str, ...]
    designators: tuple[str, ...]  # name and tag numbers, name letters
    context_words: tuple[str, ...]  # location and category words
    place_pairs: tuple[str, ...]  # location pairs such as "line#3", "building#a"
    tag_key: str | None


@dataclass(slots=True)
class _QueryWord:
    token: str
    variants: dict[str, float]  # vocabulary word → similarity 0..1
    known: bool  # the catalog knows this word in some form (name, alias, location, category)


@dataclass(slots=True)
class _Query:
    words: list[_QueryWord]
    designators: list[tuple[str, str | None]]  # (designator, head word or None)
    pairs: set[str]
    tag_keys: set[str]
    is_short: bool  # a search box query rather than a sentence
    acronym_groups: list[tuple[str, range]] = field(default_factory=list)  # alias, word positions
    similarity: dict[str, float] = field(default_factory=dict)  # vocabulary word → best match


class AssetIndex:
    """In-memory search index over a tenant's assets; rebuild or upsert as the catalog changes."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._word_postings: dict[str, set[str]] = {}  # name words and acronyms
        self._designator_postings: dict[str, set[str]] = {}
        self._place_pair_postings: dict[str, set[str]] = {}  # numbered location pairs only
        self._tag_postings: dict[str, tuple[str, ...]] = {}  # tags are nearly unique: no sets
        self._context_vocab: dict[str, int] = {}  # location/category word → asset count
        self._shared: dict[object, object] = {}  # one copy of repeated strings and tuples
        self._context_cache: dict[
            tuple[str | None, str | None], tuple[tuple[str, ...], tuple[str, ...]]
        ] = {}
        self._variant_cache: dict[str, dict[str, float]] = {}
        self._vocab_by_initial: dict[str, list[str]] | None = None
        self._sorted_vocab: list[str] | None = None

    # ------------------------------------------------------------ maintenance

    def upsert(self, records: Iterable[AssetRecord]) -> None:
        """Add records, replacing any indexed record with the same asset_id."""
        for record in records:
            if record.asset_id in self._entries:
                self.remove(record.asset_id)
            entry = self._build_entry(record)
            self._entries[record.asset_id] = entry
            self._index(entry, add=True)

    def remove(self, asset_id: str) -> None:
        """Forget an asset; unknown ids are ignored."""
        entry = self._entries.pop(asset_id, None)
        if entry is not None:
            self._index(entry, add=False)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, asset_id: str) -> AssetRecord | None:
        entry = self._entries.get(asset_id)
        return entry.record if entry is not None else None

    def _share(self, value: _T) -> _T:
        return cast(_T, self._shared.setdefault(value, value))

    def _build_entry(self, record: AssetRecord) -> _Entry:
        name = _designated(normalize_tokens(record.name), letters_designate=True)
        tag_numbers = tuple(
            _strip_zeros(piece) for piece in _PIECE_RE.findall(record.tag or "") if piece.isdigit()
        )
        context_words, place_pairs = self._context_of(record.location, record.category)
        return _Entry(
            record=record,
            words=self._share(name.words),
            aliases=self._share(_acronyms(name.words)),
            designators=self._share(tuple(dict.fromkeys(name.designators + tag_numbers))),
            context_words=context_words,
            place_pairs=place_pairs,
            tag_key=_tag_key(record.tag) if record.tag else None,
        )

    def _context_of(
        self, location: str | None, category: str | None
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Place/category words and place pairs; computed once per distinct location."""
        key = (location, category)
        cached = self._context_cache.get(key)
        if cached is None:
            if len(self._context_cache) >= _CONTEXT_CACHE_SIZE:
                self._context_cache.clear()
            place = _designated(normalize_tokens(location or ""), letters_designate=True)
            kind = _designated(normalize_tokens(category or ""), letters_designate=False)
            cached = (
                self._share(tuple(dict.fromkeys(place.words + kind.words))),
                self._share(tuple(self._share(pair) for pair in place.pairs)),
            )
            self._context_cache[key] = cached
        return cached

    def _index(self, entry: _Entry, *, add: bool) -> None:
        asset_id = entry.record.asset_id
        vocab_before = len(self._word_postings)
        for word in (*entry.words, *entry.aliases):
            _post(self._word_postings, word, asset_id, add=add)
        for designator in entry.designators:
            _post(self._designator_postings, designator, asset_id, add=add)
        for pair in entry.place_pairs:
            if pair[-1].isdigit():
                _post(self._place_pair_postings, pair, asset_id, add=add)
        if entry.tag_key:
            holders = tuple(i for i in self._tag_postings.get(entry.tag_key, ()) if i != asset_id)
            if add:
                holders += (asset_id,)
            if holders:
                self._tag_postings[entry.tag_key] = holders
            else:
                self._tag_postings.pop(entry.tag_key, None)
        for word in entry.context_words:
            count = self._context_vocab.get(word, 0) + (1 if add else -1)
            if count > 0:
                self._context_vocab[word] = count
            else:
                self._context_vocab.pop(word, None)
        if len(self._word_postings) != vocab_before:
            self._variant_cache.clear()
            self._vocab_by_initial = None
            self._sorted_vocab = None

    # ------------------------------------------------------------ search

    def search(self, query: str, limit: int = 5) -> list[AssetCandidate]:
        """Assets matching a short query ("P-003", "pump 3", "compresser"), best first."""
        return self._run(query, limit, whole_query_is_name=True)

    def find_in_text(self, text: str, limit: int = 5) -> list[AssetCandidate]:
        """Assets mentioned somewhere in a free sentence, e.g. "pump 3 is leaking oil at the
        seal, urgent" or "the compresser on line 2 stopped"; best first."""
        return self._run(text, limit, whole_query_is_name=False)

    def _run(self, text: str, limit: int, *, whole_query_is_name: bool) -> list[AssetCandidate]:
        if limit <= 0 or not self._entries:
            return []
        query = self._analyse(text, whole_query_is_name=whole_query_is_name)
        scored: list[tuple[float, int, str, str, AssetRecord]] = []
        for asset_id in self._candidates(query):
            record = self._entries[asset_id].record
            score = round(_score(self._entries[asset_id], query), 1)
            if score > 0:
                scored.append((-score, len(record.name), record.name, asset_id, record))
        best = heapq.nsmallest(limit, scored)
        return [
            AssetCandidate(
                asset_id=record.asset_id,
                name=record.name,
                tag=record.tag,
                score=-negative_score,
                location=record.location,
            )
            for negative_score, _, _, _, record in best
        ]

    def _analyse(self, text: str, *, whole_query_is_name: bool) -> _Query:
        chunks = [chunk.strip(_CHUNK_STRIP) for chunk in text.split()][:_MAX_TEXT_TOKENS]
        tag_keys: set[str] = set()
        has_digit = [any(ch.isdigit() for ch in chunk) for chunk in chunks]
        for size in range(1, _TAG_WINDOW + 1):
            for start in range(len(chunks) - size + 1):
                if not any(has_digit[start : start + size]):
                    continue  # a tag key needs a digit; most windows of a sentence have none
                key = _tag_key(" ".join(chunks[start : start + size]))
                # "P-003" inside a sentence; not "pump", nor "2" from "for 2 days".
                if any(ch.isdigit() for ch in key) and any(ch.isalpha() for ch in key):
                    tag_keys.add(key)
        if whole_query_is_name:
            tag_keys.add(_tag_key(text))
        tokens = normalize_tokens(" ".join(chunks))
        words: list[_QueryWord] = []
        designators: list[tuple[str, str | None]] = []
        pairs: set[str] = set()
        head: str | None = None
        for token in tokens:
            if token.isdigit() or (len(token) == 1 and head in self._word_postings):
                # A single letter only designates after an equipment word ("chiller b"),
                # never after chatter ("making a noise").
                designators.append((token, head))
                if head is not None:
                    pairs.add(f"{head}#{token}")
                continue
            if len(token) == 1 and head is not None and token.isalpha():
                pairs.add(f"{head}#{token}")  # "building a" — a place, not a designator
            if token in _NUMBER_MARKERS:
                continue
            head = None
            if token in _STOPWORDS or not token.isalpha():
                continue
            head = token
            variants = self._variants(token)
            words.append(
                _QueryWord(token, variants, bool(variants) or token in self._context_vocab)
            )
        query = _Query(words, designators, pairs, tag_keys, is_short=whole_query_is_name)
        self._add_acronym_groups(query)
        for word in words:
            for variant, similarity in word.variants.items():
                query.similarity[variant] = max(similarity, query.similarity.get(variant, 0.0))
        for alias, _ in query.acronym_groups:
            query.similarity[alias] = 1.0
        return query

    def _add_acronym_groups(self, query: _Query) -> None:
        """ "air handling unit 2" should also find an asset named "AHU-2"."""
        tokens = [word.token for word in query.words]
        for size in range(3, 5):  # two initials collide too often ("conveyor line" → "cl")
            for start in range(len(tokens) - size + 1):
                alias = "".join(token[0] for token in tokens[start : start + size])
                if alias in self._word_postings:
                    query.acronym_groups.append((alias, range(start, start + size)))

    def _variants(self, token: str) -> dict[str, float]:
        """Vocabulary words a query token may mean: itself, a prefix ("conv" → "conveyor") or
        a close misspelling ("compresser" → "compressor"), each with a similarity 0..1."""
        cached = self._variant_cache.get(token)
        if cached is not None:
            return cached
        variants: dict[str, float] = {}
        if token in self._word_postings:
            variants[token] = 1.0
        if len(token) >= _PREFIX_MIN_LENGTH:
            vocab = self._vocab_sorted()
            position = bisect.bisect_left(vocab, token)
            for word in islice(vocab, position, position + _MAX_VARIANTS):
                if not word.startswith(token):
                    break
                variants.setdefault(word, _PREFIX_SIMILARITY)
        if len(token) >= _FUZZY_MIN_LENGTH:
            # Typos rarely hit the first letter, so only that bucket is scored.
            bucket = self._vocab_initials().get(token[0], [])
            for word, ratio, _ in process.extract(
                token,
                bucket,
                scorer=fuzz.ratio,
                score_cutoff=_FUZZY_MIN_RATIO,
                limit=_MAX_VARIANTS,
            ):
                variants[word] = max(variants.get(word, 0.0), ratio / 100)
        best = dict(sorted(variants.items(), key=lambda item: -item[1])[:_MAX_VARIANTS])
        self._variant_cache[token] = best
        return best

    def _vocab_sorted(self) -> list[str]:
        if self._sorted_vocab is None:
            self._sorted_vocab = sorted(self._word_postings)
        return self._sorted_vocab

    def _vocab_initials(self) -> dict[str, list[str]]:
        if self._vocab_by_initial is None:
            buckets: dict[str, list[str]] = {}
            for word in self._word_postings:
                buckets.setdefault(word[0], []).append(word)
            self._vocab_by_initial = buckets
        return self._vocab_by_initial

    def _candidates(self, query: _Query) -> set[str]:
        """A bounded set of asset ids worth scoring, built with C-level set operations."""
        candidates: set[str] = set()
        for key in query.tag_keys:
            candidates.update(self._tag_postings.get(key, ()))
        # Each vocabulary word a query word may mean keeps its own postings (no unions to copy).
        wanted = {variant for word in query.words for variant in word.variants}
        wanted.update(alias for alias, _ in query.acronym_groups)
        word_sets = sorted(
            (self._word_postings[word] for word in wanted if word in self._word_postings), key=len
        )

        numbered: list[set[str]] = [
            self._designator_postings[value]
            for value, _ in query.designators
            if value in self._designator_postings
        ]
        numbered += [
            self._place_pair_postings[pair]
            for pair in query.pairs
            if pair in self._place_pair_postings
        ]
        # Greedy intersection, rarest word first, skipping words that would empty it: the
        # assets matching most of the query, including those whose number differs.
        core: set[str] | None = None
        for postings in word_sets:
            narrowed = postings if core is None else core & postings
            if narrowed:
                core = narrowed

        # Most specific first: the core with a wanted number, then each word with one, then
        # alternatives; the caps keep scoring work flat however large the catalog is.
        for number_set in numbered:
            if core is None:
                candidates.update(islice(number_set, _NUMBERED_CAP))
            else:
                candidates.update(_common(core, number_set, _NUMBERED_CAP))
        for number_set in numbered:
            for postings in word_sets:
                if len(candidates) >= _MAX_CANDIDATES or postings is core:
                    continue
                candidates.update(_common(postings, number_set, _WORD_NUMBERED_CAP))
        if core is not None:
            candidates.update(islice(core, _FILL_CAP))
        if not numbered:
            for postings in word_sets:
                if len(candidates) >= _MAX_CANDIDATES:
                    break
                candidates.update(islice(postings, _FILL_CAP))
        return candidates


def _common(first: set[str], second: set[str], cap: int) -> Iterable[str]:
    """Up to cap ids in both sets, without materialising a large intersection."""
    small, large = (first, second) if len(first) <= len(second) else (second, first)
    if len(small) <= _SMALL_SET:
        return islice(small & large, cap)
    return islice((asset_id for asset_id in small if asset_id in large), cap)


def _post(postings: dict[str, set[str]], key: str, asset_id: str, *, add: bool) -> None:
    if add:
        postings.setdefault(key, set()).add(asset_id)
        return
    ids = postings.get(key)
    if ids is not None:
        ids.discard(asset_id)
        if not ids:
            del postings[key]


# ---------------------------------------------------------------- scoring


def _score(entry: _Entry, query: _Query) -> float:
    """0..100: how well the query names this asset."""
    if entry.tag_key is not None and entry.tag_key in query.tag_keys:
        return 100.0

    own_words = {*entry.words, *entry.aliases}
    name_coverage = _name_coverage(entry, query)
    # Naming the head word is most of the match; unmentioned modifiers ("Air" Compressor) cost a
    # little, so "compressor" alone stays ambiguous between "Compressor 1" and "Air Compressor 2".
    text = 0.7 + 0.3 * name_coverage if name_coverage > 0 else 0.0
    query_coverage = _query_coverage(entry, query, own_words)
    text = 0.5 * text + 0.5 * query_coverage if text > 0 else 0.0
    unnumbered = text * (0.9 if entry.designators else 1.0)  # which one of several is unknown

    if not query.designators:
        raw = unnumbered
    else:
        # The best-satisfied number counts: sentences carry several ("pump 3 ... for 2 days").
        number_match = max(
            _designator_match(value, head, entry, own_words) for value, head in query.designators
        )
        if number_match > 0:
            raw = 0.6 * text + 0.4 * number_match
        elif _contradicts(entry, query, own_words):
            # "pump 3" must not look like "Pump 4"; an asset without a number is less wrong.
            raw = 0.6 * text * (0.55 if entry.designators else 0.85)
        else:
            raw = unnumbered  # the numbers were about something else ("down for 2 days")
    if text == 0:
        raw *= 0.5  # a bare number or place is weak evidence
    return _placed(100.0 * raw, entry, query, own_words)


def _placed(score: float, entry: _Entry, query: _Query, own_words: set[str]) -> float:
    """Lift an asset whose place the query names ("on line 3", "building b"); lower one whose
    place contradicts it (the query says line 3, the asset is on line 1)."""
    if not entry.place_pairs:
        return score
    # Pairs headed by the asset's own name words ("belt line 5") are about the name, not a place.
    place_pairs = [pair for pair in query.pairs if pair.partition("#")[0] not in own_words]
    if not place_pairs:
        return score
    if any(pair in entry.place_pairs for pair in place_pairs):
        return min(100.0, score + 5.0)
    entry_heads = {pair.partition("#")[0] for pair in entry.place_pairs}
    if any(pair.partition("#")[0] in entry_heads for pair in place_pairs):
        return score * 0.8
    return score


def _contradicts(entry: _Entry, query: _Query, own_words: set[str]) -> bool:
    """Whether a number in the query is about this asset: tied to one of its name words, to one
    of its place words ("line 3" for an asset on line 2), or standing alone in a short query."""
    place_heads = {pair.partition("#")[0] for pair in entry.place_pairs}
    for _, head in query.designators:
        if head is None:
            if query.is_short:
                return True
        elif head in own_words or head in place_heads:
            return True
    return False


def _name_coverage(entry: _Entry, query: _Query) -> float:
    """Share of the asset's name words (or its acronym) the query mentions, similarity-weighted."""
    best = query.similarity
    alias_match = max((best.get(alias, 0.0) for alias in entry.aliases), default=0.0)
    if not entry.words:
        return alias_match
    coverage = sum(best.get(word, 0.0) for word in entry.words) / len(entry.words)
    return max(coverage, alias_match)


def _query_coverage(entry: _Entry, query: _Query, own_words: set[str]) -> float:
    """Share of the query's known words that this asset explains (name, place or category)."""
    explained = [False] * len(query.words)
    for alias, positions in query.acronym_groups:
        if alias in own_words:
            for position in positions:
                explained[position] = True
    total = 0.0
    counted = 0
    for position, word in enumerate(query.words):
        if not word.known:
            continue  # chatter the catalog has never heard of says nothing about this asset
        counted += 1
        if explained[position] or word.token in entry.context_words:
            total += 1.0
            continue
        total += max((word.variants[w] for w in word.variants if w in own_words), default=0.0)
    return total / counted if counted else 1.0


def _designator_match(value: str, head: str | None, entry: _Entry, own_words: set[str]) -> float:
    """1.0 when the asset carries this number for the same thing, 0.6 when it carries the number
    but the query tied it to something else ("pump on line 3" vs "Pump 3"), else 0."""
    if head is not None and head in own_words:  # "line 5" names Conveyor Belt Line 5 itself
        return 1.0 if value in entry.designators else 0.0
    if head is not None and f"{head}#{value}" in entry.place_pairs:
        return 1.0
    if value not in entry.designators:
        return 0.0
    return 1.0 if head is None else 0.6


# ---------------------------------------------------------------- decisions


def is_clear_winner(candidates: Sequence[AssetCandidate]) -> bool:
    """True when the first candidate is good enough and far enough ahead to preselect it."""
    if not candidates or candidates[0].score < CLEAR_WINNER_MIN_SCORE:
        return False
    return len(candidates) == 1 or (
        candidates[0].score - candidates[1].score >= CLEAR_WINNER_MIN_LEAD
    )


def plausible(candidates: Sequence[AssetCandidate]) -> list[AssetCandidate]:
    """The candidates worth offering as buttons (at most five), without the weak tail."""
    if not candidates:
        return []
    floor = max(PLAUSIBLE_MIN_SCORE, candidates[0].score - PLAUSIBLE_MAX_BEHIND)
    return [candidate for candidate in candidates[:MAX_BUTTONS] if candidate.score >= floor]
