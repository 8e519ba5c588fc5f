#!/usr/bin/env python3
"""The warm figures only, quickly: the manager dashboard page and every KPI/chart API endpoint for a
12-month period with the roll-ups done and the KPI cache warm (bench_dashboard.py measures
everything, cold included, in about an hour; this takes a few minutes).

    .venv/bin/python bench/bench_dashboard_cached.py [--runs 10] [--api-runs 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_dashboard as bd  # noqa: E402


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def timed(client: object, url: str, runs: int) -> list[float]:
    bd.get_ok(client, url)  # warm-up: fills the KPI cache for this filter
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        bd.get_ok(client, url)
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_BOOK_DATABASE_URL", bd.DEFAULT_DB))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", bd.DEFAULT_REDIS))
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--api-runs", type=int, default=10)
    args = parser.parse_args()
    if "bench" not in args.database_url.rsplit("/", 1)[-1]:
        raise SystemExit("refusing a database whose name does not contain 'bench'")
    bd.setup(args.database_url, args.redis_url)
    from metrics import selectors

    print(f"Posvenda {bd.commit()}; {bd.uptime()}")
    _user, page, api = bd.clients()
    page_ms = timed(page, "/metrics/?period=12m", args.runs)
    print(
        f"page /metrics/?period=12m warm (roll-ups done, KPI cache warm): median {statistics.median(page_ms):,.1f} ms"
        f" · p95 {p95(page_ms):,.1f} ms · min {min(page_ms):,.1f} ms (n={args.runs}); target ≤ 150 ms"
    )
    urls = [f"/api/v1/metrics/{key}/?period=12m" for key in selectors.KPI_KEYS]
    urls += [f"/api/v1/metrics/charts/{key}/?period=12m" for key in selectors.CHART_KEYS]
    worst = 0.0
    for url in urls:
        ms = timed(api, url, args.api_runs)
        worst = max(worst, p95(ms))
        ok = "ok " if p95(ms) <= 50 else "NOT"
        print(f"   {ok} p95 {p95(ms):9,.1f} ms  median {statistics.median(ms):9,.1f} ms  {url}")
    print(f"worst API p95 {worst:,.1f} ms over {len(urls)} endpoints; target ≤ 50 ms; {bd.uptime()}")


if __name__ == "__main__":
    main()
