#!/usr/bin/env python3
"""200 concurrent respondents answering an NPS survey on the public page, over loopback.

    .venv/bin/python bench/bench_survey_answers.py                       # 200 respondents, 60 s
    .venv/bin/python bench/bench_survey_answers.py --respondents 50 --duration 20

1. (Re)creates the dedicated database (posvenda_bench_surveys by default; the name must contain
   "bench"), migrates, collects the static files (DEBUG off serves them from the manifest), and
   writes one NPS survey, an owner, and enough customers with a sent invitation each (bulk inserts)
   that every respondent answers a fresh invitation of their own in every cycle.
2. Serves Posvenda with gunicorn (DEBUG=0, ``--workers 4`` sync workers by default) on loopback.
3. Runs R virtual respondents (asyncio, raw HTTP/1.1 over loopback, no third-party client). Each
   repeats, as a new customer each time:
     GET  /surveys/r/<token>/?score=N  (the click on a score in the e-mail; sets the csrftoken cookie)
     think uniform(--think-min, --think-max) s (read the question, maybe type a comment; default 3-8)
     POST the form (csrftoken cookie + csrfmiddlewaretoken, Origin header, as Chromium sends it)
          with the score and, one time in two, a comment; expects 302
     GET  the thanks page it redirects to
     think uniform(--pause-min, --pause-max) s before the next customer (default 2-5)
   Scores follow a plausible NPS mix: 40 % promoters (9-10), 30 % passives (7-8), 30 % detractors
   (0-6, which also create the owner's follow-up task). Respondents start spread over the first
   think window; requests in the first --warmup seconds are not counted.
Prints requests/s and p50/p90/p99/max latency for the GET, the POST and the thanks GET, errors,
the gunicorn CPU time per request (from /proc) and the load average; checks that every POST left
exactly one response; appends one line per request type to bench/out/results.tsv.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/posvenda_bench_surveys"
DEFAULT_REDIS = "redis://127.0.0.1:6379/13"
RESULTS = ROOT / "bench" / "out" / "results.tsv"
CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')
CSRF_COOKIE = re.compile(r"csrftoken=([^;]+)")
COMMENTS = (
    "A entrega atrasou e ninguém me avisou.",
    "Atendimento excelente, resolveram tudo no mesmo dia.",
    "O produto é bom, mas o preço subiu demais neste ano.",
    "Gostaria de mais opções de pagamento no site.",
)


def reset_database(url: str) -> None:
    import psycopg2

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if "bench" not in name:
        sys.exit("refusing to drop a database whose name does not contain 'bench'")
    conn = psycopg2.connect(urlunsplit(parts._replace(path="/postgres")))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup_django(db_url: str, redis_url: str, port: int) -> dict[str, str]:
    env = {
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-secret-key"),
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SETTINGS_MODULE": "posvenda.settings",
        "SITE_URL": f"http://127.0.0.1:{port}",
    }
    os.environ.update(env)
    import django

    django.setup()
    return env


def create_invitations(n: int) -> list[str]:
    """One NPS survey, an owner, and N customers each with a sent invitation; returns the tokens."""
    from django.utils import timezone

    from customers.models import Customer
    from posvenda import roles
    from surveys import links
    from surveys.models import Invitation, Kind, Survey

    owner = roles.user_create(username="bench_agente", password="bench-senha-123", role=roles.AGENT)
    survey = Survey.objects.create(name="NPS bench", kind=Kind.NPS)
    now = timezone.now()
    tokens: list[str] = []
    chunk = 5000
    for start in range(0, n, chunk):
        customers = Customer.objects.bulk_create(
            Customer(
                name=f"Cliente Bench {i:06d}",
                email=f"cliente{i:06d}@bench.example.com",
                kind=Customer.Kind.PERSON,
                stage=Customer.Stage.RETENTION,
                owner=owner,
            )
            for i in range(start, min(start + chunk, n))
        )
        invitations = Invitation.objects.bulk_create(
            Invitation(
                survey=survey,
                customer=c,
                nonce=secrets.token_hex(16),
                source_key="bench",
                status=Invitation.Status.SENT,
                language="pt-br",
                due_at=now,
                sent_at=now,
                expires_at=now + timedelta(days=30),
            )
            for c in customers
        )
        tokens += [links.invitation_token(inv.pk, inv.nonce) for inv in invitations]
    return tokens


# --- the load ------------------------------------------------------------------------------------


@dataclass
class Stats:
    started: float = 0.0
    measuring_from: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"GET": [], "POST": [], "thanks": []})
    errors: list[str] = field(default_factory=list)
    posts_ok: int = 0
    total: int = 0  # every request, warm-up included (for the CPU time per request)
    timeline: list[tuple[float, str, float]] = field(default_factory=list)

    def record(self, kind: str, t0: float, t1: float) -> None:
        self.total += 1
        self.timeline.append((t0 - self.started, kind, t1 - t0))
        if t0 >= self.measuring_from:
            self.latencies[kind].append(t1 - t0)


async def http(port: int, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, str, bytes]:
    """One HTTP/1.1 request on a new loopback connection (gunicorn's sync workers close it anyway).
    Returns (status, raw header block, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body:
        lines += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}"]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    raw = await reader.read()  # until the server closes
    writer.close()
    head, _, content = raw.partition(b"\r\n\r\n")
    head_text = head.decode("latin-1")
    status = int(head_text.split(" ", 2)[1])
    return status, head_text, content


def header(head: str, name: str) -> str:
    for line in head.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return ""


def nps_score(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.4:
        return rng.choice((9, 10))
    if roll < 0.7:
        return rng.choice((7, 8))
    return rng.randint(0, 6)


async def respondent(
    n: int, port: int, tokens: list[str], stats: Stats, deadline: float, args: argparse.Namespace
) -> None:
    rng = random.Random(n)
    await asyncio.sleep(rng.uniform(0, args.think_max))  # arrivals spread out, not a thundering herd
    while tokens and time.perf_counter() < deadline:
        token = tokens.pop()
        score = nps_score(rng)
        path = f"/surveys/r/{token}/"
        t0 = time.perf_counter()
        status, head, body = await http(port, "GET", f"{path}?score={score}", {"Accept-Language": "pt-BR"})
        stats.record("GET", t0, time.perf_counter())
        cookie = CSRF_COOKIE.search(header(head, "Set-Cookie"))
        form_token = CSRF_INPUT.search(body)
        if status != 200 or not cookie or not form_token:
            stats.errors.append(f"GET {status}")
            continue
        await asyncio.sleep(rng.uniform(args.think_min, args.think_max))
        if time.perf_counter() >= deadline:
            break
        form = {"csrfmiddlewaretoken": form_token.group(1).decode(), "score": str(score)}
        form["comment"] = rng.choice(COMMENTS) if rng.random() < 0.5 else ""
        headers = {
            "Cookie": f"csrftoken={cookie.group(1)}",
            "Origin": f"http://127.0.0.1:{port}",
            "Referer": f"http://127.0.0.1:{port}{path}?score={score}",
        }
        t0 = time.perf_counter()
        status, head, _ = await http(port, "POST", path, headers, urlencode(form).encode())
        stats.record("POST", t0, time.perf_counter())
        if status != 302:
            stats.errors.append(f"POST {status}")
            continue
        stats.posts_ok += 1
        location = header(head, "Location")
        t0 = time.perf_counter()
        status, _, _ = await http(port, "GET", location, {"Cookie": headers["Cookie"]})
        stats.record("thanks", t0, time.perf_counter())
        if status != 200:
            stats.errors.append(f"thanks {status}")
        await asyncio.sleep(rng.uniform(args.pause_min, args.pause_max))


async def run_load(port: int, tokens: list[str], args: argparse.Namespace) -> Stats:
    stats = Stats(started=time.perf_counter())
    stats.measuring_from = stats.started + args.warmup
    deadline = stats.measuring_from + args.duration
    await asyncio.gather(*(respondent(i, port, tokens, stats, deadline, args) for i in range(args.respondents)))
    return stats


# --- reporting -----------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))] if ordered else float("nan")


def cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


def gunicorn_pids(master: int) -> list[int]:
    children = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
    return [master, *map(int, children)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--respondents", type=int, default=200)
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds at the start that are not counted")
    parser.add_argument("--think-min", type=float, default=3.0)
    parser.add_argument("--think-max", type=float, default=8.0)
    parser.add_argument("--pause-min", type=float, default=2.0)
    parser.add_argument("--pause-max", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_SURVEYS_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_SURVEYS_REDIS_URL", DEFAULT_REDIS))
    args = parser.parse_args()
    (ROOT / "bench" / "out").mkdir(parents=True, exist_ok=True)
    # Enough fresh invitations: at most one answer per respondent every think_min + pause_min seconds.
    n = int(args.respondents * ((args.duration + args.warmup) / (args.think_min + args.pause_min) + 2))

    port = free_port()
    print(f"resetting {args.database_url} and applying migrations", flush=True)
    reset_database(args.database_url)
    env = setup_django(args.database_url, args.redis_url, port)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    started = time.perf_counter()
    tokens = create_invitations(n)
    print(f"created {n:,} customers with a sent NPS invitation in {time.perf_counter() - started:.1f} s", flush=True)

    import redis

    redis.Redis.from_url(args.redis_url).flushdb()  # events queued by the answers go to this db, no worker
    from django.db import connections

    connections.close_all()
    log = open(ROOT / "bench" / "out" / "gunicorn_surveys.log", "w")  # noqa: SIM115
    gunicorn = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "posvenda.wsgi:application", "--workers", str(args.workers)]
        + ["--threads", "1", "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "--backlog", "2048"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(120):
            try:
                status, _, _ = asyncio.run(http(port, "GET", f"/surveys/r/{tokens[0]}/", {}))
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.25)
        else:
            sys.exit("gunicorn did not answer; see bench/out/gunicorn_surveys.log")
        # Every worker imports the URLconf and views on its first request: do that before measuring.
        warm = tokens[: args.workers * 4]

        async def warm_up() -> None:
            await asyncio.gather(*(http(port, "GET", f"/surveys/r/{t}/?score=5", {}) for t in warm))

        asyncio.run(warm_up())
        del tokens[: len(warm)]  # opened, not answered: the respondents use fresh invitations
        random.Random(0).shuffle(tokens)
        pids = gunicorn_pids(gunicorn.pid)
        load_before = os.getloadavg()
        print(
            f"{args.respondents} respondents for {args.warmup:.0f} s warm-up + {args.duration:.0f} s measured, "
            f"think {args.think_min:g}-{args.think_max:g} s before submitting, {args.pause_min:g}-{args.pause_max:g} s "
            f"before the next customer; gunicorn --workers {args.workers} (sync); "
            f"load average before {' '.join(f'{x:.2f}' for x in load_before)}",
            flush=True,
        )
        ticks_before = cpu_ticks(pids)
        stats = asyncio.run(run_load(port, tokens, args))
        ticks = cpu_ticks(pids) - ticks_before
        load_after = os.getloadavg()
    finally:
        gunicorn.send_signal(signal.SIGTERM)
        gunicorn.wait(timeout=30)
        log.close()

    from surveys.models import Response

    responses = Response.objects.count()
    all_requests = sum(len(v) for v in stats.latencies.values())
    hz = os.sysconf("SC_CLK_TCK")
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in load_after)}")
    print(f"{'request':<8} {'count':>7} {'req/s':>7} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'max ms':>7}")
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    with RESULTS.open("a") as out:
        for kind, values in stats.latencies.items():
            ms = [v * 1000 for v in values]
            row = (len(ms), len(ms) / args.duration, percentile(ms, 50), percentile(ms, 90), percentile(ms, 99))
            print(f"{kind:<8} {row[0]:>7} {row[1]:>7.1f} {row[2]:>7.1f} {row[3]:>7.1f} {row[4]:>7.1f} {max(ms):>7.1f}")
            out.write(
                f"{stamp}\tsurvey_answers_{kind}\trespondents={args.respondents}\tworkers={args.workers}\t"
                f"req/s={row[1]:.1f}\tp50={row[2]:.1f}ms\tp99={row[4]:.1f}ms\terrors={len(stats.errors)}\t"
                f"load={load_after[0]:.2f}\n"
            )
    with (ROOT / "bench" / "out" / "survey_answers_timeline.tsv").open("w") as out:
        out.write("start_s\trequest\tlatency_ms\n")
        out.writelines(f"{t:.3f}\t{kind}\t{lat * 1000:.1f}\n" for t, kind, lat in stats.timeline)
    print(f"all      {all_requests:>7} {all_requests / args.duration:>7.1f}")
    print(f"gunicorn CPU per request (warm-up included): {ticks * 1000 / hz / max(1, stats.total):.2f} ms")
    print(f"errors: {len(stats.errors)} {sorted(set(stats.errors))[:5]}")
    print(f"POSTs answered 302: {stats.posts_ok}; responses in the database: {responses}")
    if stats.errors or responses != stats.posts_ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
