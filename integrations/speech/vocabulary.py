"""Maintenance vocabulary for offline recognition, and spoken-number normalisation.

pocketsphinx's generic English language model gets most maintenance words wrong ("pump three"
comes out as "i'm three"), so the offline recogniser uses a small domain language model built
from the phrases below plus the site's asset catalog names. The word lists lean on the most
frequent terms in real work orders (the MaintNorm corpus, WNUT 2024, MIT licence).

Everything here is pure Python so it can be tested and used without the speech packages.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence

_UNITS = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
)
_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")

_NUMBER_VALUES = {word: value for value, word in enumerate(_UNITS)} | {
    word: 20 + 10 * index for index, word in enumerate(_TENS)
}
# "twenty one" / "twenty-one" as one number first, then any lone number word.
_NUMBER_PATTERN = re.compile(
    rf"\b(?:(?P<tens>{'|'.join(_TENS)})[\s-]+(?P<unit>{'|'.join(_UNITS[1:10])})"
    rf"|(?P<single>{'|'.join(_NUMBER_VALUES)}))\b",
    re.IGNORECASE,
)
_TOKEN_PATTERN = re.compile(r"[a-z']+|\d+")

EQUIPMENT = (
    "pump",
    "compressor",
    "conveyor",
    "motor",
    "boiler",
    "chiller",
    "fan",
    "valve",
    "generator",
    "forklift",
    "crane",
    "hoist",
    "press",
    "mixer",
    "tank",
    "truck",
    "light",
    "lights",
    "door",
    "gearbox",
    "air conditioner",
    "air handler",
    "cooling tower",
    "hydraulic pump",
    "conveyor belt",
    "conveyor motor",
    "extractor fan",
    "heat exchanger",
    "packing machine",
    "machine",
)

PARTS = (
    "seal",
    "bearing",
    "belt",
    "hose",
    "filter",
    "valve",
    "motor",
    "pipe",
    "cable",
    "switch",
    "sensor",
    "fuse",
    "breaker",
    "coupling",
    "shaft",
    "gauge",
    "guard",
    "chain",
    "roller",
    "gasket",
    "fitting",
    "panel",
    "fan",
    "brake",
)

PROBLEMS = (
    "is leaking",
    "is leaking oil",
    "is leaking water",
    "is leaking air",
    "is leaking hydraulic oil",
    "has a leak",
    "has an oil leak",
    "stopped",
    "has stopped",
    "stopped working",
    "is not working",
    "is down",
    "is broken",
    "broke down",
    "is overheating",
    "is tripping",
    "keeps tripping",
    "is vibrating",
    "is making a noise",
    "is making a grinding noise",
    "is noisy",
    "is stuck",
    "is stuck open",
    "is stuck closed",
    "is blocked",
    "is damaged",
    "is cracked",
    "is worn",
    "is loose",
    "is missing",
    "won't start",
    "will not start",
    "has no power",
    "has low pressure",
    "has high pressure",
    "has high temperature",
    "is smoking",
    "is on fire",
    "needs replacing",
    "needs a service",
    "needs inspection",
    "needs grease",
    "needs repair",
    "is faulty",
    "has a fault",
    "has an alarm",
)

ACTIONS = (
    "replace",
    "repair",
    "check",
    "inspect",
    "service",
    "fix",
    "clean",
    "grease",
    "tighten",
    "change",
    "test",
    "adjust",
)

PLACES = ("line", "bay", "building", "room", "dock", "area", "zone", "floor", "cell", "station")
AREAS = ("warehouse", "workshop", "plant room", "boiler room", "paint booth", "roof", "yard")
URGENCY = ("urgent", "urgently", "asap", "emergency", "please", "now", "immediately")

# Letter names in CMU phones, so short codes from the catalog ("AHU", "VFD") can be spelt out.
_LETTER_PHONES = {
    "a": "EY",
    "b": "B IY",
    "c": "S IY",
    "d": "D IY",
    "e": "IY",
    "f": "EH F",
    "g": "JH IY",
    "h": "EY CH",
    "i": "AY",
    "j": "JH EY",
    "k": "K EY",
    "l": "EH L",
    "m": "EH M",
    "n": "EH N",
    "o": "OW",
    "p": "P IY",
    "q": "K Y UW",
    "r": "AA R",
    "s": "EH S",
    "t": "T IY",
    "u": "Y UW",
    "v": "V IY",
    "w": "D AH B AH L Y UW",
    "x": "EH K S",
    "y": "W AY",
    "z": "Z IY",
}
MAX_SPELLED_CODE_LENGTH = 4


def number_to_words(number: int) -> list[str]:
    """0-99 as spoken words; longer numbers digit by digit, as people read tags aloud."""
    if number < 20:
        return [_UNITS[number]]
    if number < 100:
        tens, unit = divmod(number, 10)
        return [_TENS[tens - 2]] + ([_UNITS[unit]] if unit else [])
    return [_UNITS[int(digit)] for digit in str(number)]


def spoken_words(text: str) -> list[str]:
    """How a name or phrase is said: lower case, "CMP-5" → ["cmp", "five"], punctuation dropped."""
    words: list[str] = []
    for token in _TOKEN_PATTERN.findall(text.lower()):
        words.extend(number_to_words(int(token)) if token.isdigit() else [token.strip("'")])
    return [word for word in words if word]


def spelled_code_phones(word: str) -> str | None:
    """Phones for a short code said letter by letter ("ahu" → "EY EY CH Y UW"), else None."""
    if not word.isalpha() or not word.isascii() or len(word) > MAX_SPELLED_CODE_LENGTH:
        return None
    return " ".join(_LETTER_PHONES[letter] for letter in word.lower())


def spoken_numbers_to_digits(text: str) -> str:
    """Rewrite number words as digits ("pump three" → "pump 3") so asset search sees catalog ids."""

    def replace(match: re.Match[str]) -> str:
        if match["single"] is not None:
            return str(_NUMBER_VALUES[match["single"].lower()])
        return str(_NUMBER_VALUES[match["tens"].lower()] + _NUMBER_VALUES[match["unit"].lower()])

    return _NUMBER_PATTERN.sub(replace, text)


def language_model_sentences(
    vocabulary: Sequence[str], *, seed: int = 0, problems_per_name: int = 8
) -> list[str]:
    """The training text for the domain language model: generic maintenance reports, plus each
    catalog name or phrase on its own and inside a few sampled reports."""
    rng = random.Random(seed)  # deterministic, so recognition results are reproducible
    numbers = [" ".join(number_to_words(n)) for n in range(1, 21)]
    sentences: list[str] = []

    for equipment in EQUIPMENT:
        for problem in PROBLEMS:
            number = rng.choice(numbers)
            sentences.append(f"{equipment} {number} {problem}")
            sentences.append(f"the {equipment} {problem}")
            sentences.append(
                f"the {equipment} on {rng.choice(PLACES)} {rng.choice(numbers)} {problem}"
            )
            sentences.append(
                f"{equipment} {number} {problem} at the {rng.choice(PARTS)} {rng.choice(URGENCY)}"
            )
        for number in numbers:
            sentences.append(f"{equipment} {number}")
    for part in PARTS:
        for problem in PROBLEMS:
            sentences.append(f"the {part} {problem}")
        for action in ACTIONS:
            sentences.append(f"{action} the {part} on the {rng.choice(EQUIPMENT)}")
    for action in ACTIONS:
        for equipment in EQUIPMENT:
            sentences.append(f"{rng.choice(URGENCY)} {action} the {equipment}")
    for area in AREAS:
        for equipment in EQUIPMENT:
            sentences.append(f"the {equipment} in the {area} {rng.choice(PROBLEMS)}")
    for place in PLACES:
        sentences.extend(f"{place} {number}" for number in numbers)

    for name in vocabulary:
        spoken = " ".join(spoken_words(name))
        if not spoken:
            continue
        sentences.extend([spoken, f"the {spoken}", f"{spoken} {rng.choice(URGENCY)}"])
        for problem in rng.sample(PROBLEMS, k=min(problems_per_name, len(PROBLEMS))):
            sentences.append(f"the {spoken} {problem}")
    return sentences


def distinct_words(sentences: Iterable[str]) -> set[str]:
    return {word for sentence in sentences for word in sentence.split()}
