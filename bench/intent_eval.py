"""Accuracy of the embedded intent extractor on labelled technician messages.

Run: ``.venv/bin/python -m bench.intent_eval [--misses]``

Data: ``tests/data/intent_eval.jsonl`` (text, priority, asset_tag, safety, split) and the small
catalog ``tests/data/intent_eval_assets.csv``. Splits: "dev" was written while the rules were
built; "late" was written after them and its misses were then fixed (first run: priority 15/20,
safety 19/20, asset top-1 20/20), so both are tuned on; "holdout" was written last and must never
be used for tuning: its numbers are the honest ones. Asset candidates come from the real
``bot.services.asset_search.AssetIndex`` behind a tiny async adapter.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bot.domain import AssetCandidate, Priority
from bot.services.asset_search import AssetIndex, AssetRecord
from bot.services.intent import EmbeddedIntentExtractor, Intent

DATA_DIR = Path(__file__).resolve().parent.parent / "tests" / "data"
EVAL_PATH = DATA_DIR / "intent_eval.jsonl"
ASSETS_PATH = DATA_DIR / "intent_eval_assets.csv"


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    priority: Priority
    asset_tag: str | None
    safety: bool
    split: str


class IndexCatalog:
    """Adapts the synchronous AssetIndex to the extractor's AssetCatalog protocol."""

    def __init__(self, index: AssetIndex) -> None:
        self._index = index

    async def find_assets_in_text(self, text: str, limit: int = 5) -> list[AssetCandidate]:
        return self._index.find_in_text(text, limit=limit)


def load_examples(path: Path = EVAL_PATH) -> list[Example]:
    examples = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            examples.append(
                Example(
                    text=row["text"],
                    priority=Priority(row["priority"]),
                    asset_tag=row["asset_tag"],
                    safety=row["safety"],
                    split=row["split"],
                )
            )
    return examples


def load_index(path: Path = ASSETS_PATH) -> AssetIndex:
    index = AssetIndex()
    with path.open(encoding="utf-8", newline="") as rows:
        index.upsert(
            AssetRecord(
                asset_id=row["tag"],
                name=row["name"],
                tag=row["tag"],
                location=row["location"] or None,
                category=row["category"] or None,
                description=row["description"] or None,
            )
            for row in csv.DictReader(rows)
        )
    return index


def _percent(hits: int, total: int) -> str:
    return f"{hits}/{total} = {100 * hits / total:.1f}%" if total else "n/a"


async def run_extractor(examples: list[Example]) -> tuple[list[Intent], list[float]]:
    extractor = EmbeddedIntentExtractor(IndexCatalog(load_index()))
    intents: list[Intent] = []
    latencies_ms: list[float] = []
    for example in examples:
        started = time.perf_counter()
        intents.append(await extractor.extract(example.text))
        latencies_ms.append((time.perf_counter() - started) * 1000)
    return intents, latencies_ms


def report(name: str, results: list[tuple[Example, Intent]], show_misses: bool) -> None:
    priority_hits = sum(intent.priority is example.priority for example, intent in results)
    safety_hits = sum(intent.safety == example.safety for example, intent in results)
    with_asset = [(e, i) for e, i in results if e.asset_tag is not None]
    top1 = sum(
        bool(i.asset_candidates) and i.asset_candidates[0].tag == e.asset_tag for e, i in with_asset
    )
    top5 = sum(e.asset_tag in [c.tag for c in i.asset_candidates[:5]] for e, i in with_asset)
    confusions = Counter(
        (e.priority.value, i.priority.value) for e, i in results if i.priority is not e.priority
    )

    print(f"[{name}] {len(results)} messages")
    print(f"  priority accuracy: {_percent(priority_hits, len(results))}")
    print(f"  safety accuracy:   {_percent(safety_hits, len(results))}")
    print(f"  asset top-1:       {_percent(top1, len(with_asset))}")
    print(f"  asset in top-5:    {_percent(top5, len(with_asset))}")
    if confusions:
        listed = ", ".join(f"{want}→{got} ×{n}" for (want, got), n in confusions.items())
        print(f"  priority confusions (expected→got): {listed}")
    if show_misses:
        for example, intent in results:
            top = [c.tag for c in intent.asset_candidates[:5]]
            wrong_asset = example.asset_tag is not None and (not top or top[0] != example.asset_tag)
            if intent.priority is not example.priority or wrong_asset:
                print(
                    f"  - {example.text!r}: priority {intent.priority} "
                    f"(want {example.priority}), assets {top} (want {example.asset_tag}), "
                    f"title {intent.title!r}"
                )


async def evaluate(show_misses: bool) -> None:
    examples = load_examples()
    intents, latencies_ms = await run_extractor(examples)
    results = list(zip(examples, intents, strict=True))
    for split in sorted({example.split for example in examples}):
        report(split, [(e, i) for e, i in results if e.split == split], show_misses)
    report("all", results, show_misses=False)
    print(
        f"latency per message: median {statistics.median(latencies_ms):.2f} ms, "
        f"p95 {statistics.quantiles(latencies_ms, n=20)[-1]:.2f} ms, "
        f"max {max(latencies_ms):.2f} ms (first call warms caches)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="list every wrong answer")
    asyncio.run(evaluate(parser.parse_args().misses))


if __name__ == "__main__":
    main()
