#!/usr/bin/env python3
"""The manager dashboard on a 1,000,000-customer book: page, API and direct SQL (issue 7).

    .venv/bin/python bench/bench_dashboard.py                      # everything, ~1-2 h (the full roll-up)
    .venv/bin/python bench/bench_dashboard.py --phases warm,api,sql  # roll-ups already there
    .venv/bin/python bench/bench_dashboard.py --runs 3 --api-runs 5  # a quick look

Reads the book that ``bench/gen_book.py`` wrote into ``posvenda_book_bench`` (it never generates
or TRUNCATEs anything; the only rows it deletes and writes are the roll-ups — ``metrics_dailycount``,
``metrics_dailytotal`` and ``metrics_rollupday``, derived data). Health scores must be there already
(``manage.py health_recompute``). Period: "last 12 months" (``?period=12m``), the whole book.

The KPIs that are not sums of daily counters (churn, retention, repurchase, trends, cohorts, the
funnel, ticket medians, health, reputation, liability) are kept in the Django cache for
METRICS_CACHE_SECONDS (metrics/cache.py; Redis here, as in production, ``--redis-url``). So the
page and the API are timed twice: "computing" (only the cache's ``metrics:`` keys emptied before
every run — the first view of a period in ten minutes) and "cached" (the repeated view).

Phases (``--phases``, in this order):

cold    delete every roll-up, then ``GET /metrics/?period=12m`` through django.test.Client
        in-process, logged in as the bench manager, DEBUG=0 (manifest static files, as in
        production), computing: one discarded run, then ``--runs`` timed requests; then
        ``selectors.dashboard(f)`` alone the same number of times; then what each part costs.
rollup  ``rollups.rollup_recent(refresh_days=0)`` — every day from the first with data to
        yesterday — timed; then ``rollup_day`` of yesterday and of the slowest day, 3 times each.
warm    the page and ``dashboard(f)`` with the roll-ups in place, computing and cached; the time
        of each part (counters, cards of the period and of the previous period, every chart,
        cohorts, at-risk) and of each live KPI function inside them; the page's queries (count,
        SQL time, the slowest; EXPLAIN ANALYZE of the N slowest into bench/out/ with ``--explain N``).
api     every ``/api/v1/metrics/<key>/?period=12m`` (KPI_KEYS) and ``charts/<key>/`` (CHART_KEYS),
        plus the all-cards list and the cohorts, token auth, cached then computing: one discarded
        request, then ``--api-runs`` timed → p95 each.
sql     the same figures by direct SQL, one statement per family of KPIs reading the same table
        (one scan serves both periods and the monthly series), rendered into
        bench/dashboard_sql/*.sql and run by ``psql -X`` with ``\\timing on`` ``--sql-runs`` times
        each in one session (the best "Time:" counts); the ratio page ÷ SQL; then every figure is
        compared with the dashboard's (selectors) and each difference printed.

Before each measurement the script waits (up to ``--wait`` seconds) for the 1-minute load average
to fall below ``--max-load`` and prints ``uptime``. p95 is the nearest rank (with 10 runs, the
slowest). Prints everything and appends one line per figure to bench/out/results.tsv.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/posvenda_book_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/6"
RESULTS = ROOT / "bench" / "out" / "results.tsv"
SQL_DIR = ROOT / "bench" / "dashboard_sql"
TZ = "America/Sao_Paulo"
MANAGER = "bench_gerente"
PHASES = ("cold", "rollup", "warm", "api", "sql")
TARGETS = {"page_ms": 150.0, "api_p95_ms": 50.0, "rollup_day_s": 30.0, "ratio": 0.5}
STAGES = ("adoption", "retention", "expansion", "evangelization", "churned")
LIVE = STAGES[:4]


# --- environment, load, timing -----------------------------------------------------------------


def setup(database_url: str, redis_url: str) -> None:
    """Django as in production: DEBUG off (manifest static files), Redis as the cache."""
    os.environ["DATABASE_URL"] = database_url
    if redis_url:
        os.environ["REDIS_URL"] = redis_url
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
    os.environ["ALLOWED_HOSTS"] = "testserver,localhost"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "posvenda.settings")
    import django

    django.setup()


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "metrics", "posvenda", "templates", "static"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip() + (" (+ uncommitted changes under metrics/posvenda/templates)" if dirty.stdout else "")


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def load1() -> float:
    return os.getloadavg()[0]


class Quiet:
    """Wait for a quiet machine before each measurement and remember the load seen."""

    def __init__(self, max_load: float, wait: float) -> None:
        self.max_load, self.wait = max_load, wait

    def __call__(self, what: str) -> float:
        waited = 0.0
        while load1() >= self.max_load and waited < self.wait:
            time.sleep(15)
            waited += 15
        load = load1()
        note = "" if load < self.max_load else f" (still ≥ {self.max_load} after waiting {waited:.0f} s)"
        print(f"\n== {what}\n   uptime: {uptime()}{note}", flush=True)
        return load


def pctl(samples: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "min": min(samples),
        "median": statistics.median(samples),
        "p95": pctl(samples, 0.95),
        "max": max(samples),
        "n": len(samples),
    }


def fmt(s: dict[str, float], unit: str = "ms") -> str:
    return (
        f"min {s['min']:,.1f} {unit} · median {s['median']:,.1f} {unit} · p95 {s['p95']:,.1f} {unit} · "
        f"max {s['max']:,.1f} {unit} (n={s['n']})"
    )


def timed(
    fn: Callable[[], Any], runs: int, *, warmup: int = 1, before: Callable[[], Any] | None = None
) -> tuple[list[float], list[float], Any]:
    """(wall ms per run, Python CPU ms per run, last result), after ``warmup`` discarded runs;
    ``before()`` runs ahead of each (untimed)."""
    result = None
    for _ in range(warmup):
        if before:
            before()
        result = fn()
    walls, cpus = [], []
    for _ in range(runs):
        if before:
            before()
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        walls.append((time.perf_counter() - t0) * 1000)
        cpus.append((time.process_time() - c0) * 1000)
    return walls, cpus, result


class Results:
    """Figures for the end summary and bench/out/results.tsv."""

    def __init__(self, commit_id: str, label: str = "") -> None:
        self.commit = commit_id
        self.label = f" [{label}]" if label else ""
        self.lines: list[str] = []
        self.figures: dict[str, Any] = {}

    def add(self, name: str, load: float, **values: Any) -> None:
        self.figures[name] = values
        cells = "\t".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        self.lines.append(
            f"{stamp}\tdashboard{self.label} {name}\t{cells}\tload={load:.2f}\tcommit={self.commit.split()[0]}"
        )

    def write(self) -> None:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        with RESULTS.open("a", encoding="utf-8") as fh:
            fh.write("".join(line + "\n" for line in self.lines))


# --- the book ------------------------------------------------------------------------------------


def generator_running() -> bool:
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"gen_book.py" in cmdline:
            return True
    return False


def book_fingerprint() -> dict[str, int]:
    """Row counts of the source tables: compared at the end, so a book regenerated mid-run shows."""
    from django.db import connection

    tables = (
        "customers_customer",
        "customers_order",
        "customers_contract",
        "surveys_response",
        "surveys_invitation",
        "support_ticket",
        "messaging_message",
        "messaging_messageevent",
        "funnel_stagechange",
        "loyalty_entry",
        "loyalty_referral",
        "metrics_review",
        "metrics_healthscore",
    )
    with connection.cursor() as cursor:
        out = {}
        for table in tables:
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed names
            out[table] = cursor.fetchone()[0]
    return out


def delete_rollups() -> tuple[int, int]:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM metrics_dailycount")
        counts = cursor.rowcount
        cursor.execute("SELECT to_regclass('metrics_dailytotal') IS NOT NULL")
        if cursor.fetchone()[0]:  # the whole-book totals (metrics 0002), derived from the same days
            cursor.execute("DELETE FROM metrics_dailytotal")
        cursor.execute("DELETE FROM metrics_rollupday")
        days = cursor.rowcount
    return counts, days


def clients() -> tuple[Any, Any, Any]:
    """A logged-in session for the page and a token client for the API, for the bench manager.
    The login writes a session row (deleted at the end) but not ``last_login``."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import update_last_login
    from django.contrib.auth.signals import user_logged_in
    from django.test import Client
    from rest_framework.authtoken.models import Token

    user = get_user_model().objects.get(username=MANAGER)
    page = Client()
    user_logged_in.disconnect(update_last_login)
    try:
        page.force_login(user)
    finally:
        user_logged_in.connect(update_last_login)
    token = Token.objects.get(user=user).key
    return user, page, Client(HTTP_AUTHORIZATION=f"Token {token}")


def get_ok(client: Any, url: str) -> int:
    response = client.get(url)
    if response.status_code != 200:
        raise SystemExit(f"GET {url} answered {response.status_code}: {response.content[:300]!r}")
    return len(response.content)


# --- the dashboard's parts, timed separately ------------------------------------------------------


def parts(f: Any) -> dict[str, Callable[[], Any]]:
    """What ``selectors.dashboard(f)`` does, step by step (same calls, same order). Each step after
    the first reuses the counters of the first, as the dashboard does."""
    from metrics import rollups, selectors

    keys = selectors.kpi_keys()
    prev = f.previous()
    state: dict[str, Any] = {}

    def counters() -> None:
        state["per_day"] = rollups.daily_counts(f)
        state["counts"] = selectors._sum(state["per_day"])

    steps: dict[str, Callable[[], Any]] = {
        "counters of the period (roll-ups + live days)": counters,
        "cards of the period (formulas + live KPIs)": lambda: selectors._compute(keys, f, state["counts"]),
        "counters of the previous period": lambda: state.__setitem__("prev_counts", rollups.counts(prev)),
        "cards of the previous period": lambda: selectors._compute(
            [k for k in keys if k not in selectors.POINT_IN_TIME], prev, state["prev_counts"]
        ),
    }
    for key in selectors.CHART_KEYS:
        steps[f"chart {key}"] = lambda key=key: selectors._charts(f, state["per_day"], state["counts"], [key])
    steps["cohorts"] = lambda: selectors.cohorts(f)
    steps["at-risk list"] = lambda: selectors.at_risk(f)
    return steps


def live_kpis(f: Any) -> dict[str, Callable[[], Any]]:
    """The live (not rolled-up) KPI functions the cards and charts call, one by one."""
    from loyalty.services import liability
    from metrics.queries import customers, funnel, reputation, support

    prev = f.previous()
    out: dict[str, Callable[[], Any]] = {}
    for label, g in (("period", f), ("previous", prev)):
        out[f"logo_churn ({label})"] = lambda g=g: customers.logo_churn(g)
        out[f"revenue_churn ({label})"] = lambda g=g: customers.revenue_churn(g)
        out[f"repurchase ({label})"] = lambda g=g: customers.repurchase(g)
        out[f"repeat_customer_rate ({label})"] = lambda g=g: customers.repeat_customer_rate(g)
        out[f"ticket_medians ({label})"] = lambda g=g: support.ticket_medians(g)
        out[f"reputation ({label})"] = lambda g=g: reputation.reputation(g)
    out["loyalty liability"] = liability
    out["churn_trend"] = lambda: customers.churn_trend(f)
    out["repurchase_trend"] = lambda: customers.repurchase_trend(f)
    out["funnel: customers per stage"] = lambda: dict(
        funnel.Customer.objects.order_by().values_list("stage").annotate(n=funnel.Count("id"))
    )
    out["funnel: entrants and conversion (_flow)"] = lambda: funnel._flow(f)
    out["funnel: median time in stage (_stay_medians)"] = lambda: funnel._stay_medians(f)
    out["cohort_retention (purchase)"] = lambda: customers.cohort_retention(f)
    return out


def time_steps(
    steps: dict[str, Callable[[], Any]], runs: int, *, before: Callable[[], Any] | None = None
) -> dict[str, list[float]]:
    """Each step ``runs`` times, in order, round after round (so the state each needs is there);
    ``before()`` ahead of each round (untimed)."""
    out: dict[str, list[float]] = {name: [] for name in steps}
    if before:
        before()
    for fn in steps.values():  # one warm-up round
        fn()
    for _ in range(runs):
        if before:
            before()
        for name, fn in steps.items():
            t0 = time.perf_counter()
            fn()
            out[name].append((time.perf_counter() - t0) * 1000)
    return out


def print_steps(title: str, timings: dict[str, list[float]], total_ms: float | None = None) -> None:
    print(f"   {title} (median of {len(next(iter(timings.values())))} runs):")
    medians = {name: statistics.median(v) for name, v in timings.items()}
    whole = sum(medians.values())
    for name, ms in sorted(medians.items(), key=lambda kv: -kv[1]):
        print(f"     {ms:10,.1f} ms  {100 * ms / whole:5.1f} %  {name}")
    print(
        f"     {whole:10,.1f} ms  sum of the parts" + (f" (dashboard(f) median {total_ms:,.1f} ms)" if total_ms else "")
    )


def page_queries(page: Any, url: str, explain: int, out_file: Path | None) -> dict[str, Any]:
    """One page request with its queries recorded: count, SQL time, the slowest; optionally EXPLAIN
    ANALYZE of the slowest into ``out_file``."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        t0 = time.perf_counter()
        get_ok(page, url)
        wall = (time.perf_counter() - t0) * 1000
    queries = [(float(q["time"]) * 1000, q["sql"]) for q in ctx.captured_queries]
    sql_ms = sum(ms for ms, _ in queries)
    slow = sorted(queries, key=lambda q: -q[0])
    print(
        f"   one page request with its queries recorded: {wall:,.1f} ms wall, {len(queries)} queries, {sql_ms:,.1f} ms in SQL"
    )
    for ms, sql in slow[:10]:
        print(f"     {ms:9,.1f} ms  {' '.join(sql.split())[:150]}")
    if explain and out_file is not None:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        with out_file.open("w", encoding="utf-8") as fh, connection.cursor() as cursor:
            for ms, sql in slow[:explain]:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
                fh.write(f"-- {ms:,.1f} ms in the page\n{sql}\n\n")
                fh.write("\n".join(row[0] for row in cursor.fetchall()) + "\n\n")
        print(f"   EXPLAIN ANALYZE of the {explain} slowest: {out_file}")
    return {"wall_ms": wall, "queries": len(queries), "sql_ms": sql_ms}


# --- direct SQL --------------------------------------------------------------------------------


def lit_ts(value: datetime) -> str:
    return f"timestamptz '{value.isoformat()}'"


def lit_d(value: date) -> str:
    return f"date '{value.isoformat()}'"


def local_midnight(day: date) -> datetime:
    from django.utils import timezone

    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


def month_index(column: str, base: date) -> str:
    """Months between the local month of ``column`` and ``base`` (0 for base's month)."""
    local = f"({column} AT TIME ZONE '{TZ}')"
    return (
        f"((extract(year FROM {local})::int * 12 + extract(month FROM {local})::int) - {base.year * 12 + base.month})"
    )


def add_months(day: date, months: int) -> date:
    m0 = day.month - 1 + months
    return date(day.year + m0 // 12, m0 % 12 + 1, 1)


def month_end(month: date) -> date:
    return add_months(month, 1) - timedelta(days=1)


def boundaries(f: Any) -> list[date]:
    """Days at whose close the contracts' state is read: the previous period's opening, this one's
    opening (= the previous period's close), and the close of each month of the period, clipped."""
    prev = f.previous()
    return [prev.start - timedelta(days=1), f.start - timedelta(days=1)] + [
        min(month_end(m), f.end) for m in f.months()
    ]


def sql_queries(f: Any) -> dict[str, str]:
    """One statement per family of KPIs that read the same table, for the period ``f`` and its
    previous period: every figure of the dashboard. Definitions: docs/metrics.md. Periods and
    months are told apart by ``width_bucket`` over the month starts (0 = the previous period,
    i = the period's i-th month), so one range scan serves both periods and the monthly series."""
    prev = f.previous()
    cs, ce, ps = lit_ts(f.start_dt), lit_ts(f.end_dt), lit_ts(prev.start_dt)
    assert prev.end_dt == f.start_dt  # the two periods are contiguous
    starts = [f.start_dt] + [local_midnight(m) for m in f.months()[1:]]
    months = "ARRAY[" + ", ".join(lit_ts(s) for s in starts) + "]"
    q: dict[str, str] = {}

    def bucket(column: str) -> str:
        return f"width_bucket({column}, {months})"

    q["surveys"] = f"""
-- NPS, CSAT, CES cards (both periods), NPS trend and distribution: answers per bucket, kind, score.
SELECT {bucket("answered_at")} AS bucket, kind, score, count(*)
FROM surveys_response
WHERE answered_at >= {ps} AND answered_at < {ce} AND kind IN ('nps', 'csat', 'ces') AND score IS NOT NULL
GROUP BY 1, 2, 3"""

    q["invitations"] = f"""
-- Survey response rate (both periods): invitations sent (queued) and answered, by send time.
SELECT (sent_at >= {cs})::int AS bucket, count(*), count(*) FILTER (WHERE status = 'answered')
FROM surveys_invitation
WHERE status IN ('sent', 'answered') AND sent_at >= {ps} AND sent_at < {ce}
GROUP BY 1"""

    q["tickets_resolved"] = f"""
-- TMR, first response (means and medians), SLA met (both periods), TMR and SLA trend per month.
SELECT cur, bucket, grouping(bucket) AS whole, count(*),
       sum(resolution_seconds), count(resolution_seconds),
       sum(resolution_business_seconds), count(resolution_business_seconds),
       sum(first_response_seconds), count(first_response_seconds),
       count(*) FILTER (WHERE sla_policy_id IS NOT NULL),
       count(*) FILTER (WHERE sla_policy_id IS NOT NULL AND NOT first_response_breached AND NOT resolution_breached),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY resolution_seconds),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY first_response_seconds)
FROM (
    SELECT resolved_at >= {cs} AS cur, {bucket("resolved_at")} AS bucket,
           resolution_seconds, resolution_business_seconds, first_response_seconds, sla_policy_id,
           first_response_breached, resolution_breached
    FROM support_ticket
    WHERE status IN ('resolved', 'closed') AND resolved_at >= {ps} AND resolved_at < {ce}
) t
GROUP BY GROUPING SETS ((cur), (cur, bucket))"""

    q["tickets_opened"] = f"""
-- Tickets opened (both periods).
SELECT (opened_at >= {cs})::int AS bucket, count(*)
FROM support_ticket
WHERE opened_at >= {ps} AND opened_at < {ce}
GROUP BY 1"""

    q["emails"] = f"""
-- E-mail delivery, open, click, bounce, unsubscribe rates (both periods) and the open/click trend:
-- e-mails by send time, each joined to its events folded into one row (a message counts once).
-- (A merge join of every message with its events, grouped per message, took 3.8 s against 2.8 s.)
WITH event AS (
    SELECT message_id,
           bool_or(event_type = 'bounced') AS bounced,
           bool_or(event_type IN ('opened', 'clicked')) AS opened,
           bool_or(event_type = 'clicked') AS clicked,
           bool_or(event_type = 'complained') AS complained,
           bool_or(event_type = 'unsubscribed') AS unsubscribed
    FROM messaging_messageevent
    WHERE event_type IN ('bounced', 'opened', 'clicked', 'complained', 'unsubscribed')
    GROUP BY message_id
)
SELECT {bucket("m.sent_at")} AS bucket, count(*) AS sent,
       count(*) FILTER (WHERE NOT (m.status = 'bounced' OR coalesce(e.bounced, false)) AND m.status <> 'failed') AS delivered,
       count(*) FILTER (WHERE m.status IN ('opened', 'clicked') OR e.opened) AS opened,
       count(*) FILTER (WHERE m.status = 'clicked' OR e.clicked) AS clicked,
       count(*) FILTER (WHERE m.status = 'bounced' OR e.bounced) AS bounced,
       count(*) FILTER (WHERE m.status = 'complained' OR e.complained) AS complained,
       count(*) FILTER (WHERE e.unsubscribed) AS unsubscribed
FROM messaging_message m LEFT JOIN event e ON e.message_id = m.id
WHERE m.channel = 'email' AND m.sent_at >= {ps} AND m.sent_at < {ce}
GROUP BY 1"""

    q["orders_period"] = f"""
-- Paid orders and revenue (both periods), repurchase (both periods) and its monthly trend: paid
-- orders per customer and bucket, then each customer's total over its period by a window (counted
-- once, on its first row). (Faster than per-customer FILTER columns, 4.1 s, or a CTE grouped
-- twice, 5.5 s, against 3.1 s.)
SELECT bucket, count(*) AS buyers, count(*) FILTER (WHERE n >= 2) AS repeat, sum(n) AS orders, sum(revenue) AS revenue,
       count(*) FILTER (WHERE first_of_period) AS period_buyers,
       count(*) FILTER (WHERE first_of_period AND period_n >= 2) AS period_repeat
FROM (
    SELECT bucket, n, revenue, sum(n) OVER w AS period_n, row_number() OVER w = 1 AS first_of_period
    FROM (
        SELECT customer_id, {bucket("purchased_at")} AS bucket, count(*) AS n, sum(amount) AS revenue
        FROM customers_order
        WHERE status = 'paid' AND purchased_at >= {ps} AND purchased_at < {ce}
        GROUP BY 1, 2
    ) per_bucket
    WINDOW w AS (PARTITION BY customer_id, bucket > 0)
) per_customer
GROUP BY bucket"""

    cohorts = f.months()
    window = [m for m in (add_months(cohorts[0], k) for k in range(len(cohorts) + 12)) if m <= f.end]
    first = lit_ts(local_midnight(cohorts[0]))
    cells = ",\n       ".join(
        f"count(*) FILTER (WHERE mask & {1 << k}::bigint <> 0) AS w{k}" for k in range(len(window))
    )
    q["orders_history"] = f"""
-- Repeat-customer rate at the end of each period, and the purchase cohorts (first paid order in a
-- month of the period; retained in a month = a paid order in it): one pass over every paid order,
-- grouped per customer. (Folding orders_period into this pass took 4.9 s against 3.1 + 1.5 s.)
WITH per_customer AS (
    SELECT customer_id,
           count(*) AS n_end,
           count(*) FILTER (WHERE purchased_at < {cs}) AS n_prev_end,
           min(purchased_at) AS first_at,
           bit_or(1::bigint << {month_index("purchased_at", cohorts[0])}) FILTER (WHERE purchased_at >= {first}) AS mask
    FROM customers_order
    WHERE status = 'paid' AND purchased_at < {ce}
    GROUP BY customer_id
)
SELECT grouping(cohort) AS total, cohort,
       count(*) FILTER (WHERE n_end >= 1) AS buyers_end, count(*) FILTER (WHERE n_end >= 2) AS repeat_end,
       count(*) FILTER (WHERE n_prev_end >= 1) AS buyers_prev_end, count(*) FILTER (WHERE n_prev_end >= 2) AS repeat_prev_end,
       count(*) AS size,
       {cells}
FROM (
    SELECT *, CASE WHEN first_at >= {first} THEN {month_index("first_at", cohorts[0])} END AS cohort
    FROM per_customer
) c
GROUP BY GROUPING SETS ((), (cohort))"""

    days = boundaries(f)
    n = len(days)
    array = "ARRAY[" + ", ".join(lit_d(d) for d in days) + "]"
    last = n - 1

    def bit(i: int) -> str:
        return f"mask & {1 << i} <> 0"

    def movement(a: int, b: int) -> str:
        kept = f"{bit(a)} AND {bit(b)}"
        return (
            f"count(*) FILTER (WHERE {bit(a)}), count(*) FILTER (WHERE {bit(a)} AND NOT ({bit(b)})), "
            f"count(*) FILTER (WHERE {bit(b)}),\n       "
            f"sum(m{a}) FILTER (WHERE {bit(a)}), sum(m{a}) FILTER (WHERE {bit(a)} AND NOT ({bit(b)})),\n       "
            f"sum(m{a} - m{b}) FILTER (WHERE {kept} AND m{b} < m{a}), sum(m{b} - m{a}) FILTER (WHERE {kept} AND m{b} > m{a})"
        )

    trend = ",\n       ".join(
        f"count(*) FILTER (WHERE {bit(i + 1)}), count(*) FILTER (WHERE {bit(i + 1)} AND NOT ({bit(i + 2)})), "
        f"count(*) FILTER (WHERE {bit(i + 2)})"
        for i in range(n - 2)
    )
    mrr = ", ".join(f"sum(mrr) FILTER (WHERE lo <= {i} AND {i} < hi) AS m{i}" for i in (0, 1, last))
    q["contracts"] = f"""
-- Logo churn, revenue churn, GRR, NRR (both periods) and the monthly churn trend. A contract is in
-- force at the close of the days [started_at, stop), stop = the day it stops (cancellation,
-- non-renewing end, expiry; NULL = never); the boundary days are {", ".join(str(d) for d in days)}
-- (the previous period's opening, this one's opening, each month's close). Per contract, the
-- boundaries it is in force at are a range [lo, hi) of that list; per customer, the bits of those
-- ranges OR-ed together, and the MRR in force at the three boundaries revenue churn reads.
-- (Per-customer FILTER columns for each of the {n} days took 2.1 s against 1.2 s.)
WITH contract AS (
    SELECT customer_id, mrr,
           width_bucket(started_at - 1, {array}) AS lo,
           coalesce(width_bucket(stop - 1, {array}), {n}) AS hi
    FROM (
        SELECT customer_id, mrr, started_at,
               CASE status
                   WHEN 'active' THEN CASE WHEN auto_renew THEN NULL ELSE ends_at END
                   WHEN 'cancelled' THEN least(cancelled_at, CASE WHEN auto_renew THEN NULL ELSE ends_at END)
                   WHEN 'expired' THEN coalesce(ends_at, (updated_at AT TIME ZONE '{TZ}')::date)
                   ELSE started_at
               END AS stop
        FROM customers_contract
    ) c
),
per_customer AS (
    SELECT customer_id, bit_or(((1::bigint << hi) - 1) & ~((1::bigint << lo) - 1)) AS mask, {mrr}
    FROM contract
    WHERE lo < hi
    GROUP BY customer_id
)
SELECT {movement(0, 1)},
       {movement(1, last)},
       {trend}
FROM per_customer"""

    conv = []
    for i, stage in enumerate(STAGES):
        conv.append(f"min(changed_at) FILTER (WHERE to_stage = '{stage}') AS in{i}")
        if stage in LIVE[:-1]:
            later = ", ".join(f"'{s}'" for s in LIVE[i + 1 :])
            conv.append(f"max(changed_at) FILTER (WHERE to_stage IN ({later})) AS later{i}")
    totals = []
    for i, stage in enumerate(STAGES):
        totals.append(f"count(in{i})")
        totals.append(f"count(*) FILTER (WHERE later{i} > in{i})" if stage in LIVE[:-1] else "NULL::bigint")
    agg = ", ".join(f"{expr} AS t{i}" for i, expr in enumerate(totals))
    values = ", ".join(f"('{s}', t{2 * i}, t{2 * i + 1})" for i, s in enumerate(STAGES))
    q["funnel"] = f"""
-- Funnel chart: customers per stage now, and per stage the customers who entered it in the period
-- and, of those, who moved on to a later stage after their first entry and before the period's end.
SELECT 'stage' AS part, stage, count(*) AS n, NULL::bigint AS advanced
FROM customers_customer GROUP BY stage
UNION ALL
SELECT 'flow', v.stage, v.entered, v.advanced
FROM (
    SELECT {agg}
    FROM (
        SELECT customer_id, {", ".join(conv)}
        FROM funnel_stagechange
        WHERE changed_at >= {cs} AND changed_at < {ce}
        GROUP BY customer_id
    ) per_customer
) totals,
LATERAL (VALUES {values}) AS v(stage, entered, advanced)"""

    q["funnel_stays"] = f"""
-- Median days in each stage (chart funnel_time): the stays that ended in the period — each change
-- out of a stage, begun at the customer's previous change (history order: time, then id) or, for
-- the first one, at the customer's creation. (Reading the history once with LAG, 2.2 s, beat a
-- lookup of the previous change per change, 3.1 s, and folding the funnel query in, 4.6 s.)
SELECT from_stage, count(*),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM changed_at - coalesce(
           began, (SELECT created_at FROM customers_customer c WHERE c.id = stays.customer_id))))
FROM (
    SELECT customer_id, from_stage, changed_at,
           lag(changed_at) OVER (PARTITION BY customer_id ORDER BY changed_at, id) AS began
    FROM funnel_stagechange
    WHERE changed_at < {ce}
) stays
WHERE changed_at >= {cs} AND from_stage <> ''
GROUP BY from_stage"""

    q["referrals"] = f"""
-- Referrals sent (by creation) and converted (by conversion), both periods.
SELECT 'sent', (created_at >= {cs})::int, count(*) FROM loyalty_referral
WHERE created_at >= {ps} AND created_at < {ce} GROUP BY 2
UNION ALL
SELECT 'converted', (converted_at >= {cs})::int, count(*) FROM loyalty_referral
WHERE converted_at >= {ps} AND converted_at < {ce} GROUP BY 2"""

    q["liability"] = """
-- Loyalty liability today: the ledger's balance per currency, and the value of a point.
SELECT currency, sum(amount), (SELECT point_value FROM loyalty_programme ORDER BY id LIMIT 1)
FROM loyalty_entry GROUP BY currency"""

    q["reviews"] = f"""
-- Average review rating (both periods): reviews and the sum of their ratings per source.
SELECT (reviewed_at >= {cs})::int AS bucket, source, count(*), sum(rating)
FROM metrics_review
WHERE reviewed_at >= {ps} AND reviewed_at < {ce}
GROUP BY 1, 2"""

    q["health"] = """
-- Health distribution and the 10 lowest red scores with the measure that cost each the most.
SELECT 'band' AS part, band AS a, count(*)::text AS b, NULL AS c, NULL AS d
FROM metrics_healthscore GROUP BY band
UNION ALL
(SELECT 'risk', h.customer_id::text, h.score::text, c.name,
        (SELECT e->>'measure' FROM jsonb_array_elements(h.components) e
         WHERE (e->>'down')::boolean
         ORDER BY coalesce((e->>'lost')::numeric, 0) DESC, e->>'measure' LIMIT 1)
 FROM metrics_healthscore h JOIN customers_customer c ON c.id = h.customer_id
 WHERE h.band = 'red'
 ORDER BY h.score, h.customer_id
 LIMIT 10)"""
    return {name: sql.strip("\n") for name, sql in q.items()}


def write_sql(queries: dict[str, str], f: Any, database_url: str) -> None:
    SQL_DIR.mkdir(parents=True, exist_ok=True)
    prev = f.previous()
    for name, sql in queries.items():
        head = (
            f'-- Rendered by bench/bench_dashboard.py for the period {f.start} – {f.end} ("12m") and the previous\n'
            f"-- period {prev.start} – {prev.end}; local days in {TZ}. Run: psql -X -d {database_url} -f {SQL_DIR.relative_to(ROOT)}/{name}.sql\n"
        )
        (SQL_DIR / f"{name}.sql").write_text(head + sql + ";\n", encoding="utf-8")


def psql_best(database_url: str, sql: str, runs: int) -> tuple[list[float], list[list[str]]]:
    """Run ``sql`` ``runs`` times in one ``psql -X`` session with ``\\timing on``: the times psql
    prints ("Time: … ms") and the rows of the last run."""
    script = "\\timing on\n" + (sql.rstrip().rstrip(";") + ";\n") * runs
    proc = subprocess.run(
        ["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", database_url, "-f", "-"],
        input=script,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"psql failed: {proc.stderr}\n{sql}")
    times, blocks, rows = [], [], []
    for line in proc.stdout.splitlines():
        if line.startswith("Time: "):
            times.append(float(line.split()[1]))
            blocks.append(rows)
            rows = []
        elif line:
            rows.append(line.split("\t"))
    if len(times) != runs:
        raise SystemExit(f"expected {runs} timings from psql, got {len(times)}:\n{proc.stdout[-2000:]}")
    return times, blocks[-1]


# --- figures: the dashboard's and the direct SQL's, by the same names -----------------------------

ONE, TWO, CENT = Decimal("0.1"), Decimal("0.01"), Decimal("0.01")


def q1(value: Decimal) -> Decimal:
    return value.quantize(ONE, rounding=ROUND_HALF_UP)


def rate(part: Any, whole: Any) -> Decimal | None:
    whole = Decimal(whole or 0)
    return None if not whole else q1(Decimal(part or 0) * 100 / whole)


def mean(total: Any, n: Any, places: Decimal = ONE) -> Decimal | None:
    n = Decimal(n or 0)
    return None if not n else (Decimal(total or 0) / n).quantize(places, rounding=ROUND_HALF_UP)


def num(value: Any) -> Any:
    """Comparable form: numbers as Decimal (exact for what PostgreSQL and Django print), None kept."""
    if value is None or value == "":
        return None
    if isinstance(value, list | tuple):
        return [num(v) for v in value]
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value)
        except ArithmeticError:
            return value
    return value


def dashboard_figures(board: Any, f: Any) -> dict[str, Any]:
    """The figures of a Dashboard (cards, charts, cohorts, at-risk) and the counts behind the cards
    (summed counters and the live KPIs' parts), from Posvenda's own code."""
    from loyalty.services import liability
    from metrics import rollups
    from metrics.queries import customers, support

    prev = f.previous()
    out: dict[str, Any] = {}
    for card in board.cards:
        out[f"card {card.key}"] = num(card.value)
        out[f"card {card.key} (previous)"] = num(card.previous)
    for chart in board.charts:
        out[f"chart {chart.key} labels"] = len(chart.labels)
        for series in chart.series:
            out[f"chart {chart.key}.{series.key}"] = num(series.data)
    for row in board.cohorts.rows:
        out[f"cohort {row.cohort} size"] = num(row.size)
        out[f"cohort {row.cohort} cells"] = num(row.cells)
    out["at-risk"] = [(r["id"], r["score"], r["reason"]) for r in board.at_risk]
    for label, g in (("", f), (" (previous)", prev)):
        counts = rollups.counts(g)
        for key in COUNTERS:
            out[f"counter {key}{label}"] = num(counts[key])
        for name, fn in (
            ("logo_churn", customers.logo_churn),
            ("revenue_churn", customers.revenue_churn),
            ("repurchase", customers.repurchase),
            ("repeat_customer_rate", customers.repeat_customer_rate),
        ):
            for k, v in fn(g).as_dict().items():
                out[f"{name}.{k}{label}"] = num(v)
        for k, v in support.ticket_medians(g).items():
            out[f"{k}{label}"] = num(v)
    for k, v in liability().items():
        out[f"liability.{k}"] = num(v)
    return out


COUNTERS = (
    [f"nps.score.{s}" for s in range(11)]
    + [f"csat.score.{s}" for s in range(1, 6)]
    + [f"ces.score.{s}" for s in range(1, 8)]
    + [
        "surveys.sent",
        "surveys.answered",
        "tickets.resolved",
        "tickets.resolution.sum",
        "tickets.resolution.n",
        "tickets.resolution_business.sum",
        "tickets.resolution_business.n",
        "tickets.first_response.sum",
        "tickets.first_response.n",
        "tickets.sla.total",
        "tickets.sla.met",
        "tickets.opened",
        "emails.sent",
        "emails.delivered",
        "emails.opened",
        "emails.clicked",
        "emails.bounced",
        "emails.complained",
        "emails.unsubscribed",
        "orders.paid",
        "orders.revenue",
        "referrals.sent",
        "referrals.converted",
    ]
)


def sql_figures(rows: dict[str, list[list[str]]], f: Any) -> dict[str, Any]:
    """The same names as ``dashboard_figures``, from the direct-SQL rows, with the formulas of
    docs/metrics.md written out here (not Posvenda's functions)."""
    from collections import defaultdict

    months = [m.strftime("%Y-%m") for m in f.months()]
    buckets = ["prev", *months]  # width_bucket's 0 (the previous period), 1, 2, … (the months)
    c: dict[str, dict[str, Decimal]] = {b: defaultdict(Decimal) for b in buckets}

    def at(bucket: str) -> str:
        """Period totals come as 0/1: put the current period's in its first month."""
        return buckets[int(bucket)]

    for bucket, kind, score, n in rows["surveys"]:
        c[at(bucket)][f"{kind}.score.{score}"] += Decimal(n)
    for bucket, sent, answered in rows["invitations"]:
        c[at(bucket)]["surveys.sent"] += Decimal(sent)
        c[at(bucket)]["surveys.answered"] += Decimal(answered)
    medians: dict[str, tuple[Any, Any]] = {}
    names = [
        "tickets.resolved",
        "tickets.resolution.sum",
        "tickets.resolution.n",
        "tickets.resolution_business.sum",
        "tickets.resolution_business.n",
        "tickets.first_response.sum",
        "tickets.first_response.n",
        "tickets.sla.total",
        "tickets.sla.met",
    ]
    for cur, bucket, whole, *values in rows["tickets_resolved"]:
        figures, (res_median, frt_median) = values[:9], values[9:]
        if whole == "1":
            medians["cur" if cur == "t" else "prev"] = (res_median, frt_median)
            continue
        for name, v in zip(names, figures, strict=True):
            c[at(bucket)][name] += Decimal(v or 0)
    for bucket, n in rows["tickets_opened"]:
        c[at(bucket)]["tickets.opened"] += Decimal(n)
    email = ["sent", "delivered", "opened", "clicked", "bounced", "complained", "unsubscribed"]
    for bucket, *values in rows["emails"]:
        for name, v in zip(email, values, strict=True):
            c[at(bucket)][f"emails.{name}"] += Decimal(v)
    repurchase: dict[str, tuple[int, int]] = {"cur": (0, 0)}
    for bucket, buyers, repeat, orders, revenue, period_buyers, period_repeat in rows["orders_period"]:
        name = at(bucket)
        repurchase[name] = (int(buyers), int(repeat))
        c[name]["orders.paid"] += Decimal(orders)
        c[name]["orders.revenue"] += Decimal(revenue)
        if name != "prev":
            b0, r0 = repurchase["cur"]
            repurchase["cur"] = (b0 + int(period_buyers), r0 + int(period_repeat))
    for what, bucket, n in rows["referrals"]:
        c[at(bucket)][f"referrals.{what}"] += Decimal(n)

    def total(keys: list[str]) -> dict[str, Decimal]:
        out: dict[str, Decimal] = defaultdict(Decimal)
        for b in keys:
            for k, v in c[b].items():
                out[k] += v
        return out

    periods = {"": total(months), " (previous)": total(["prev"])}
    out: dict[str, Any] = {}

    def nps(t: dict[str, Decimal]) -> tuple[Decimal | None, Decimal, Decimal]:
        p = t["nps.score.9"] + t["nps.score.10"]
        d = sum((t[f"nps.score.{s}"] for s in range(7)), Decimal(0))
        answers = sum((t[f"nps.score.{s}"] for s in range(11)), Decimal(0))
        return (None if not answers else q1((p - d) * 100 / answers)), p, answers

    hist = rows["orders_history"]
    hist_total = next(r for r in hist if r[0] == "1")
    contracts = dict(zip(CONTRACT_COLUMNS(f), rows["contracts"][0], strict=True))
    for label, t in periods.items():
        for key in COUNTERS:
            out[f"counter {key}{label}"] = t[key]
        value, promoters, _answers = nps(t)
        out[f"card nps{label}"] = value
        out[f"card csat{label}"] = rate(
            t["csat.score.4"] + t["csat.score.5"], sum(t[f"csat.score.{s}"] for s in range(1, 6))
        )
        ces_n = sum(t[f"ces.score.{s}"] for s in range(1, 8))
        out[f"card ces{label}"] = mean(sum(s * t[f"ces.score.{s}"] for s in range(1, 8)), ces_n, TWO)
        out[f"card response_rate{label}"] = rate(t["surveys.answered"], t["surveys.sent"])
        out[f"card tmr{label}"] = mean(t["tickets.resolution.sum"], t["tickets.resolution.n"])
        out[f"card first_response{label}"] = mean(t["tickets.first_response.sum"], t["tickets.first_response.n"])
        out[f"card sla_met{label}"] = rate(t["tickets.sla.met"], t["tickets.sla.total"])
        out[f"card tickets_opened{label}"] = t["tickets.opened"]
        out[f"card email_delivery{label}"] = rate(t["emails.delivered"], t["emails.sent"])
        out[f"card email_open{label}"] = rate(t["emails.opened"], t["emails.delivered"])
        out[f"card email_click{label}"] = rate(t["emails.clicked"], t["emails.delivered"])
        out[f"card email_bounce{label}"] = rate(t["emails.bounced"], t["emails.sent"])
        out[f"card email_unsubscribe{label}"] = rate(t["emails.unsubscribed"], t["emails.delivered"])
        out[f"card orders{label}"] = t["orders.paid"]
        out[f"card revenue{label}"] = t["orders.revenue"]
        out[f"card promoters{label}"] = promoters
        out[f"card referrals{label}"] = t["referrals.converted"]
        buyers, repeat = repurchase.get("cur" if not label else "prev", (0, 0))
        out[f"repurchase.buyers{label}"], out[f"repurchase.repeat_buyers{label}"] = Decimal(buyers), Decimal(repeat)
        out[f"repurchase.rate{label}"] = out[f"card repurchase{label}"] = rate(repeat, buyers)
        b, r = (hist_total[2], hist_total[3]) if not label else (hist_total[4], hist_total[5])
        out[f"repeat_customer_rate.customers{label}"], out[f"repeat_customer_rate.repeat_customers{label}"] = (
            Decimal(b),
            Decimal(r),
        )
        out[f"repeat_customer_rate.rate{label}"] = out[f"card repeat_customers{label}"] = rate(r, b)
        k = "cur" if not label else "prev"
        start, churned, end = (Decimal(contracts[f"{k}_{x}"] or 0) for x in ("start", "churned", "end"))
        out[f"logo_churn.active_start{label}"], out[f"logo_churn.churned{label}"] = start, churned
        out[f"logo_churn.active_end{label}"] = end
        out[f"logo_churn.rate{label}"] = out[f"card logo_churn{label}"] = rate(churned, start)
        mrr = {
            x: Decimal(contracts[f"{k}_{x}"] or 0).quantize(CENT)
            for x in ("mrr_start", "mrr_churned", "contraction", "expansion")
        }
        lost = mrr["mrr_churned"] + mrr["contraction"]
        out[f"revenue_churn.customers{label}"] = start
        out[f"revenue_churn.mrr_start{label}"] = mrr["mrr_start"]
        out[f"revenue_churn.churned_mrr{label}"] = mrr["mrr_churned"]
        out[f"revenue_churn.contraction{label}"] = mrr["contraction"]
        out[f"revenue_churn.expansion{label}"] = mrr["expansion"]
        out[f"revenue_churn.mrr_end{label}"] = mrr["mrr_start"] - lost + mrr["expansion"]
        out[f"revenue_churn.gross_churn{label}"] = rate(lost, mrr["mrr_start"])
        out[f"revenue_churn.grr{label}"] = out[f"card grr{label}"] = rate(mrr["mrr_start"] - lost, mrr["mrr_start"])
        out[f"revenue_churn.nrr{label}"] = out[f"card nrr{label}"] = rate(
            mrr["mrr_start"] - lost + mrr["expansion"], mrr["mrr_start"]
        )
        res, frt = medians.get(k, (None, None))
        out[f"resolution_median{label}"] = None if res in (None, "") else q1(Decimal(res))
        out[f"first_response_median{label}"] = None if frt in (None, "") else q1(Decimal(frt))
        reviews = [r for r in rows["reviews"] if (r[0] == "1") == (not label)]
        n = sum(Decimal(r[2]) for r in reviews)
        out[f"card reputation{label}"] = (
            None if not n else (sum(Decimal(r[3]) for r in reviews) / n).quantize(TWO, rounding=ROUND_HALF_UP)
        )

    # liability: today's balance, no previous
    balance = {cur: Decimal(total_) for cur, total_, _pv in rows["liability"]}
    point_value = Decimal(rows["liability"][0][2]) if rows["liability"] else Decimal(0)
    points, cashback = (
        balance.get("points", Decimal(0)).quantize(CENT),
        balance.get("cashback", Decimal(0)).quantize(CENT),
    )
    points_value = (points * point_value).quantize(CENT, rounding=ROUND_HALF_UP)
    out.update(
        {
            "liability.points": points,
            "liability.points_value": points_value,
            "liability.cashback": cashback,
            "liability.total": points_value + cashback,
            "card loyalty_liability": points_value + cashback,
            "card loyalty_liability (previous)": None,
        }
    )

    # charts (per month: 12m is longer than 62 days)
    per_month = [c[m] for m in months]
    out["chart nps_trend labels"] = out["chart tmr_sla_trend labels"] = out["chart email_trend labels"] = len(months)
    out["chart churn_repurchase_trend labels"] = len(months)
    out["chart nps_trend.nps"] = [nps(t)[0] for t in per_month]
    out["chart nps_trend.answers"] = [nps(t)[2] for t in per_month]
    now = periods[""]
    out["chart nps_distribution labels"] = 11
    out["chart nps_distribution.answers"] = [now[f"nps.score.{s}"] for s in range(11)]
    tmr = [mean(t["tickets.resolution.sum"], t["tickets.resolution.n"]) for t in per_month]
    out["chart tmr_sla_trend.tmr_hours"] = [None if v is None else num(round(float(v) / 3600, 2)) for v in tmr]
    out["chart tmr_sla_trend.sla_met"] = [rate(t["tickets.sla.met"], t["tickets.sla.total"]) for t in per_month]
    out["chart email_trend.open"] = [rate(t["emails.opened"], t["emails.delivered"]) for t in per_month]
    out["chart email_trend.click"] = [rate(t["emails.clicked"], t["emails.delivered"]) for t in per_month]
    out["chart churn_repurchase_trend.churn"] = [
        rate(contracts[f"c{i}"], contracts[f"s{i}"]) for i in range(len(months))
    ]
    out["chart churn_repurchase_trend.repurchase"] = [rate(*reversed(repurchase.get(m, (0, 0)))) for m in months]
    stage_now = {r[1]: Decimal(r[2]) for r in rows["funnel"] if r[0] == "stage"}
    flow = {r[1]: (Decimal(r[2]), None if r[3] == "" else Decimal(r[3])) for r in rows["funnel"] if r[0] == "flow"}
    out["chart funnel labels"] = len(STAGES)
    out["chart funnel.customers"] = [stage_now.get(s, Decimal(0)) for s in STAGES]
    out["chart funnel.conversion"] = [rate(flow[s][1], flow[s][0]) if s in LIVE[:-1] else None for s in STAGES]
    stays = {r[0]: round(float(r[2])) for r in rows["funnel_stays"]}  # Python's round, as the funnel KPI
    out["chart funnel_time labels"] = len(STAGES)
    out["chart funnel_time.median_days"] = [
        None if s not in stays else (Decimal(stays[s]) / 86400).quantize(ONE, rounding=ROUND_HALF_UP) for s in STAGES
    ]
    bands = {r[1]: Decimal(r[2]) for r in rows["health"] if r[0] == "band"}
    out["chart health_distribution labels"] = 3
    out["chart health_distribution.customers"] = [bands.get(b, Decimal(0)) for b in ("red", "yellow", "green")]
    out["at-risk"] = [(int(r[1]), int(r[2]), r[4]) for r in rows["health"] if r[0] == "risk"]

    # cohorts: size and the share retained in each following month (None: month not begun)
    window = len([1 for k in range(len(months) + 12) if add_months(f.months()[0], k) <= f.end])
    by_cohort = {int(r[1]): r for r in hist if r[0] == "0" and r[1] != ""}
    for i, month in enumerate(months):
        r = by_cohort.get(i)
        size = Decimal(r[6]) if r else Decimal(0)
        cells = []
        for k in range(13):
            w = i + k
            cells.append(None if w >= window or not size else rate(Decimal(r[7 + w]), size))
        out[f"cohort {month} size"] = size
        out[f"cohort {month} cells"] = cells
    return out


def CONTRACT_COLUMNS(f: Any) -> list[str]:  # noqa: N802 - the column names of the contracts query
    names = []
    for name in ("prev", "cur"):
        names += [
            f"{name}_{x}" for x in ("start", "churned", "end", "mrr_start", "mrr_churned", "contraction", "expansion")
        ]
    for i in range(len(boundaries(f)) - 2):
        names += [f"s{i}", f"c{i}", f"e{i}"]
    return names


def same(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return a == b
    return a == b


def compare(posvenda: dict[str, Any], direct: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    missing = sorted(set(direct) - set(posvenda))
    mismatches = [
        (k, posvenda.get(k), direct[k]) for k in sorted(direct) if k in posvenda and not same(posvenda[k], direct[k])
    ]
    if missing:
        mismatches += [(k, "(not computed by Posvenda)", direct[k]) for k in missing]
    return mismatches


def short(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(short(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral_value() else str(value)
    return str(value)


def clear_metrics_cache() -> None:
    """Forget the cached non-additive KPIs (metrics/cache.py): only keys with "metrics:" in their
    name, so a Redis database shared with anything else keeps the rest."""
    from django.core.cache import cache

    client = getattr(cache, "_cache", None)
    if client is not None and hasattr(client, "get_client"):  # django.core.cache.backends.redis
        redis = client.get_client(write=True)
        keys = list(redis.scan_iter(match="*metrics:*", count=1000))
        if keys:
            redis.delete(*keys)
    else:
        cache.clear()


def other_sessions(database_url: str) -> str:
    """Other connections to the bench database that are doing something (they would skew a run)."""
    from django.db import connection

    name = database_url.rsplit("/", 1)[-1]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE state = 'active'), count(*) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )
        active, total = cursor.fetchone()
    return f"{active} active of {total} other connections to {name}"


class Bench:
    """The measurements, phase by phase, sharing the filter, clients and results."""

    def __init__(self, args: argparse.Namespace) -> None:
        from metrics.filters import filter_from_params

        self.args = args
        self.quiet_wait = Quiet(args.max_load, args.wait)
        self.results = Results(commit(), args.label)
        self.f = filter_from_params({"period": "12m"})
        self.url = "/metrics/?period=12m"
        self.user, self.page, self.api = clients()
        self.boards: dict[str, Any] = {}

    def quiet(self, what: str) -> float:
        load = self.quiet_wait(what)
        print(f"   {datetime.now(UTC):%H:%M:%S} UTC; {other_sessions(self.args.database_url)}", flush=True)
        return load

    def page_and_board(self, label: str, runs: int, *, cache: bool) -> dict[str, float]:
        """The page, then ``dashboard(f)`` alone, ``runs`` times each after one warm-up; with
        ``cache=False`` the KPI cache is emptied before every run (outside the timing)."""
        from metrics import selectors

        before = None if cache else clear_metrics_cache
        how = "KPI cache warm" if cache else "KPI cache emptied before each run"
        load = self.quiet(f"{label} page GET {self.url} ({how}), 1 warm-up + {runs}")
        walls, cpus, size = timed(lambda: get_ok(self.page, self.url), runs, before=before)
        page = summary(walls)
        print(f"   page: {fmt(page)}; Python CPU median {statistics.median(cpus):,.1f} ms; {size:,} bytes")
        self.results.add(
            f"{label} page ({how})",
            load,
            **{f"{k}_ms": v for k, v in page.items() if k != "n"},
            n=page["n"],
            python_cpu_ms=statistics.median(cpus),
        )
        load = self.quiet(f"{label} selectors.dashboard(f) alone ({how}), 1 warm-up + {runs}")
        walls, cpus, board = timed(lambda: selectors.dashboard(self.f), runs, before=before)
        alone = summary(walls)
        self.boards[f"{label} {how}"] = board
        print(f"   dashboard(f): {fmt(alone)}; Python CPU median {statistics.median(cpus):,.1f} ms")
        print(
            f"   page − dashboard(f) (middleware, session, template): {page['median'] - alone['median']:,.1f} ms (medians)"
        )
        self.results.add(
            f"{label} dashboard(f) ({how})", load, **{f"{k}_ms": v for k, v in alone.items() if k != "n"}, n=alone["n"]
        )
        return page

    def cold(self) -> None:
        counts, days = delete_rollups()
        print(f"\ndeleted every roll-up: {counts:,} counter rows, {days:,} days")
        runs = self.args.cold_runs or self.args.runs
        self.page_and_board("COLD", runs, cache=False)
        self.quiet("COLD parts of dashboard(f), KPI cache emptied before each round")
        print_steps("cold parts", time_steps(parts(self.f), min(3, runs), before=clear_metrics_cache))

    def rollup(self) -> None:
        from django.db import connection

        from metrics import rollups
        from metrics.models import DailyCount, RollupDay

        load = self.quiet("FULL ROLL-UP rollups.rollup_recent(refresh_days=0)")
        stop = threading.Event()

        def progress() -> None:
            from django.db import connections

            started = time.perf_counter()
            while not stop.wait(120):
                done = RollupDay.objects.filter(status=RollupDay.Status.DONE).count()
                print(
                    f"   … {done:,} days after {time.perf_counter() - started:,.0f} s, load {load1():.2f}", flush=True
                )
            connections.close_all()

        watcher = threading.Thread(target=progress, daemon=True)
        watcher.start()
        t0 = time.perf_counter()
        done_days = rollups.rollup_recent(refresh_days=0)
        full_s = time.perf_counter() - t0
        stop.set()
        watcher.join()
        rows = DailyCount.objects.count()
        secs = sorted(RollupDay.objects.values_list("seconds", flat=True))
        slowest = RollupDay.objects.order_by("-seconds").first()
        print(
            f"   {len(done_days):,} days ({done_days[0]} – {done_days[-1]}) in {full_s:,.1f} s "
            f"({full_s / max(1, len(done_days)):.2f} s per day); {rows:,} counter rows; per day median "
            f"{statistics.median(secs):.2f} s, max {secs[-1]:.2f} s ({slowest.day}); load after {load1():.2f}"
        )
        self.results.add(
            "full roll-up", load, days=len(done_days), seconds=full_s, rows=rows, per_day_max_s=float(secs[-1])
        )
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE metrics_dailycount")
            cursor.execute("ANALYZE metrics_rollupday")
        yesterday = self.f.end - timedelta(days=1)
        for label, day in (("yesterday", yesterday), ("the slowest day of the full run", slowest.day)):
            runs = self.args.rollup_day_runs
            load = self.quiet(f"ONE DAY's roll-up recomputed: rollup_day({day}) — {label}, {runs} runs")
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                n = rollups.rollup_day(day)
                times.append(time.perf_counter() - t0)
            med = statistics.median(times)
            verdict = "met" if med <= TARGETS["rollup_day_s"] else "NOT met"
            print(
                f"   {', '.join(f'{t:.2f}' for t in times)} s → median {med:.2f} s ({n:,} rows); target ≤ 30 s: {verdict}"
            )
            self.results.add(f"one-day roll-up, {label}", load, day=str(day), median_s=med, rows=n)

    def warm(self) -> None:
        from metrics.models import RollupDay

        if not RollupDay.objects.exists():
            print("WARNING: no roll-ups — the 'warm' figures below are cold ones")
        for cache in (False, True):
            page = self.page_and_board("WARM", self.args.runs, cache=cache)
            verdict = "met" if page["median"] <= TARGETS["page_ms"] else "NOT met"
            print(f"   target ≤ {TARGETS['page_ms']:.0f} ms: {verdict} (median)")
        load = self.quiet("WARM parts of dashboard(f), KPI cache emptied before each round")
        steps = time_steps(parts(self.f), self.args.runs, before=clear_metrics_cache)
        print_steps("warm parts, computing", steps)
        for name, v in steps.items():
            self.results.add(f"warm part (computing): {name}", load, median_ms=statistics.median(v))
        load = self.quiet("WARM parts of dashboard(f), KPI cache warm")
        steps = time_steps(parts(self.f), self.args.runs)
        print_steps("warm parts, cached", steps)
        for name, v in steps.items():
            self.results.add(f"warm part (cached): {name}", load, median_ms=statistics.median(v))
        load = self.quiet("WARM live KPI functions one by one (not cached: the functions themselves)")
        kpis = time_steps(live_kpis(self.f), min(3, self.args.runs))
        print_steps("live KPI functions", kpis)
        for name, v in kpis.items():
            self.results.add(f"live KPI: {name}", load, median_ms=statistics.median(v))
        for cache in (False, True):
            how = "cached" if cache else "computing"
            load = self.quiet(f"WARM page queries ({how})")
            if not cache:
                clear_metrics_cache()
            explain = self.args.explain if not cache else 0
            out = ROOT / "bench" / "out" / "dashboard_explain.txt"
            self.results.add(f"warm page queries ({how})", load, **page_queries(self.page, self.url, explain, out))

    def api_pass(self, cache: bool) -> None:
        from metrics import selectors

        how = "KPI cache warm" if cache else "KPI cache emptied before each request"
        load = self.quiet(f"API, token auth ({how}), 1 warm-up + {self.args.api_runs} requests per endpoint")
        endpoints = [f"/api/v1/metrics/{key}/?period=12m" for key in selectors.KPI_KEYS]
        endpoints += [f"/api/v1/metrics/charts/{key}/?period=12m" for key in selectors.CHART_KEYS]
        extras = ["/api/v1/metrics/?period=12m", "/api/v1/metrics/cohorts/?period=12m"]
        met, worst = 0, 0.0
        for endpoint in endpoints + extras:
            walls, _cpus, _size = timed(
                lambda endpoint=endpoint: get_ok(self.api, endpoint),
                self.args.api_runs,
                before=None if cache else clear_metrics_cache,
            )
            s = summary(walls)
            ok = s["p95"] <= TARGETS["api_p95_ms"]
            if endpoint not in extras:
                met += ok
                worst = max(worst, s["p95"])
            extra = " (extra, not in the target's list)" if endpoint in extras else ""
            print(
                f"   {'ok ' if ok else 'NOT'} p95 {s['p95']:9,.1f} ms  median {s['median']:9,.1f} ms  {endpoint}{extra}",
                flush=True,
            )
            self.results.add(
                f"api ({'cached' if cache else 'computing'}) {endpoint.split('?')[0]}",
                load,
                p95_ms=s["p95"],
                median_ms=s["median"],
                max_ms=s["max"],
                n=s["n"],
            )
        print(
            f"   {met} of {len(endpoints)} endpoints within p95 ≤ {TARGETS['api_p95_ms']:.0f} ms; "
            f"worst p95 {worst:,.1f} ms; load after {load1():.2f}"
        )

    def sql(self) -> None:
        from metrics import selectors

        f = self.f
        queries = sql_queries(f)
        write_sql(queries, f, self.args.database_url)
        runs = self.args.sql_runs
        load = self.quiet(
            f"DIRECT SQL via psql -X, \\timing on, best of {runs} per query ({SQL_DIR.relative_to(ROOT)}/*.sql)"
        )
        rows: dict[str, list[list[str]]] = {}
        best: dict[str, float] = {}
        for name, sql in queries.items():
            times, rows[name] = psql_best(self.args.database_url, sql, runs)
            best[name] = min(times)
            print(f"   {best[name]:10,.1f} ms  {name}  (runs: {', '.join(f'{t:,.1f}' for t in times)})", flush=True)
        total = sum(best.values())
        print(f"   {total:10,.1f} ms  sum of the best runs; load after {load1():.2f}")
        self.results.add("direct SQL total", load, ms=total, queries=len(queries))
        for name, ms in best.items():
            self.results.add(f"direct SQL {name}", load, ms=ms)
        for key, figure in self.results.figures.items():
            if key.startswith("WARM page"):
                ratio = figure["median_ms"] / total
                verdict = "met" if ratio <= TARGETS["ratio"] else "NOT met"
                print(
                    f"   {key}: median {figure['median_ms']:,.1f} ms ÷ {total:,.1f} ms = {ratio:.2f} (≤ 0.5: {verdict})"
                )
                self.results.add(f"ratio {key} / direct SQL", load, ratio=ratio)

        print("\n== CROSS-CHECK: direct SQL vs the dashboard's figures (selectors)")
        board = next(iter(self.boards.values()), None)
        if board is None:
            clear_metrics_cache()
            board = selectors.dashboard(f)
        mine = sql_figures(rows, f)
        theirs = dashboard_figures(board, f)
        mismatches = compare(theirs, mine)
        print(f"   {len(mine)} figures compared, {len(mismatches)} differ")
        for key, a, b in mismatches:
            print(f"   DIFFERS {key}: Posvenda {short(a)} | SQL {short(b)}")
        uncovered = sorted(set(theirs) - set(mine))
        if uncovered:
            print(f"   not computed by the direct SQL: {', '.join(uncovered)}")
        self.results.add("cross-check", load, figures=len(mine), mismatches=len(mismatches))

    def boards_agree(self) -> None:
        """Every dashboard computed in this run (cold, warm, cached) must show the same figures."""
        figures = {name: dashboard_figures(board, self.f) for name, board in self.boards.items()}
        if len(figures) < 2:
            return
        (first, a), *rest = figures.items()
        for name, b in rest:
            diff = [k for k in a if not same(a[k], b.get(k))]
            print(
                f"{first} vs {name}: {len(a)} figures, {len(diff)} differ"
                + (": " + ", ".join(diff[:20]) if diff else "")
            )


# --- main --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_BOOK_DATABASE_URL", DEFAULT_DB))
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS),
        help="the Django cache, as in production ('' for the in-process cache)",
    )
    parser.add_argument("--phases", default=",".join(PHASES), help="comma-separated, of: " + ", ".join(PHASES))
    parser.add_argument("--runs", type=int, default=10, help="timed page and dashboard(f) runs (after one warm-up)")
    parser.add_argument("--cold-runs", type=int, default=None, help="timed runs without roll-ups (default --runs)")
    parser.add_argument("--api-runs", type=int, default=20, help="timed requests per API endpoint")
    parser.add_argument("--sql-runs", type=int, default=3, help="runs of each direct-SQL query (best counts)")
    parser.add_argument("--rollup-day-runs", type=int, default=3)
    parser.add_argument("--max-load", type=float, default=1.5, help="wait for a 1-minute load average below this")
    parser.add_argument("--wait", type=float, default=600, help="seconds to wait for it at most, per measurement")
    parser.add_argument("--label", default="", help="tag for the results.tsv lines (an experiment)")
    parser.add_argument("--explain", type=int, default=0, help="EXPLAIN ANALYZE the N slowest queries of the page")
    args = parser.parse_args()
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if unknown := set(phases) - set(PHASES):
        sys.exit(f"unknown phase(s): {', '.join(sorted(unknown))}")
    if "bench" not in args.database_url.rsplit("/", 1)[-1]:
        sys.exit("refusing a database whose name does not contain 'bench' (this script deletes its roll-ups)")
    if generator_running():
        sys.exit("bench/gen_book.py is running: wait until it has finished")

    setup(args.database_url, args.redis_url)
    from django.conf import settings
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)  # DEBUG off: the manifest must exist
    bench = Bench(args)
    f, prev = bench.f, bench.f.previous()
    print(f"Posvenda {bench.results.commit}; database {args.database_url}; cache {args.redis_url or 'in-process'}")
    print(f"machine: {os.cpu_count()} CPUs; {uptime()}")
    print(f"period {f.start} – {f.end} ({f.days} days), previous {prev.start} – {prev.end}")
    print(f"METRICS_CACHE_SECONDS {settings.METRICS_CACHE_SECONDS}")
    book = book_fingerprint()
    print("book: " + ", ".join(f"{t} {n:,}" for t, n in book.items()))
    if not book["metrics_healthscore"]:
        print("WARNING: no health scores — run manage.py health_recompute first (health chart and at-risk empty)")

    for phase in phases:
        if phase == "api":
            bench.api_pass(cache=True)
            bench.api_pass(cache=False)
        else:
            getattr(bench, phase)()
    bench.boards_agree()

    bench.page.logout()  # the session row the login wrote
    clear_metrics_cache()
    after = book_fingerprint()
    if after != book:
        print(f"WARNING: the book changed during the run: {book} → {after}")
    bench.results.write()
    print(f"\nappended {len(bench.results.lines)} lines to {RESULTS.relative_to(ROOT)}; {uptime()}")


if __name__ == "__main__":
    main()
