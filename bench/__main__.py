"""`make bench`: every benchmark in its own process; exit 1 if any misses its target."""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = [
    "asset_search",
    "intent_eval",
    "event_loop_lag",
    "chat_throughput",
    "stripe_webhook",
    "broadcast",
]


def main() -> int:
    failed = []
    for name in BENCHMARKS:
        print(f"\n=== bench.{name}", flush=True)
        if subprocess.run([sys.executable, "-m", f"bench.{name}"], check=False).returncode != 0:
            failed.append(name)
    print(f"\nmissed their targets: {', '.join(failed)}" if failed else "\nall targets met")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
