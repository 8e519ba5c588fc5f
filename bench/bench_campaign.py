#!/usr/bin/env python3
"""Send one campaign of 50,000 e-mails through 2 real Celery workers to an SMTP sink; count them.

    .venv/bin/python bench/bench_campaign.py                    # 50,000 customers, 2 workers
    .venv/bin/python bench/bench_campaign.py --customers 5000   # a quicker run

1. (Re)creates the dedicated database (posvenda_bench_campaign by default; the name must contain
   "bench"), applies the migrations, and writes N customers, each with an e-mail marketing consent,
   a marketing template, an audience of everybody and a campaign (bulk inserts: no domain events,
   so no welcome playbooks run).
2. Starts an aiosmtpd SMTP sink on loopback that records every recipient and Message-ID and the
   time each message arrived.
3. Flushes a dedicated Redis db (14 by default) and starts 2 worker processes
   (`celery -A posvenda worker --concurrency=1`) against it, with EMAIL_URL pointing at the sink
   and MESSAGING_WEEKLY_CAP high enough for the run.
4. Presses "send now" (funnel.campaigns.campaign_send, as the campaign page does) and waits until
   the sink has received N messages (or nothing arrives for --idle-timeout seconds), then waits a
   few more seconds for stragglers and checks the Message rows.
Prints messages/s from the first to the last message received, end-to-end time from the click,
the duplicates (recipients or Message-IDs received more than once), and appends one line to
bench/out/results.tsv.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/posvenda_bench_campaign"
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
RESULTS = ROOT / "bench" / "out" / "results.tsv"
MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


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


class Sink:
    """aiosmtpd handler: who got what, and when."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.recipients: Counter[str] = Counter()
        self.message_ids: Counter[bytes] = Counter()
        self.first: float | None = None
        self.last: float | None = None
        self.count = 0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        now = time.perf_counter()
        found = MESSAGE_ID.search(envelope.content)  # type: ignore[attr-defined]
        with self.lock:
            for rcpt in envelope.rcpt_tos:  # type: ignore[attr-defined]
                self.recipients[rcpt.lower()] += 1
            if found:
                self.message_ids[found.group(1)] += 1
            self.count += 1
            self.first = self.first or now
            self.last = now
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup_django(db_url: str, redis_url: str, smtp_port: int, cap: int) -> dict[str, str]:
    env = {
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-secret-key"),
        "DEBUG": "0",  # DEBUG would keep every query in memory
        "LOG_LEVEL": "WARNING",
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
        "MESSAGING_WEEKLY_CAP": str(cap),
        "DJANGO_SETTINGS_MODULE": "posvenda.settings",
        "SITE_URL": "https://crm.example.com",
    }
    os.environ.update(env)
    import django

    django.setup()
    return env


def create_data(n: int) -> int:
    """N customers with e-mail marketing consent, a template, an audience and a draft campaign."""
    from django.utils import timezone

    from customers.models import Consent, Customer
    from funnel.models import Audience, Campaign
    from messaging.models import MessageTemplate
    from posvenda import roles

    manager = roles.user_create(username="bench_gerente", password="bench-senha-123", role=roles.MANAGER)
    now = timezone.now()
    chunk = 5000
    for start in range(0, n, chunk):
        customers = Customer.objects.bulk_create(
            Customer(
                name=f"Cliente Bench {i:06d}",
                email=f"cliente{i:06d}@bench.example.com",
                kind=Customer.Kind.PERSON,
                plan="Básico",
                stage=Customer.Stage.RETENTION,
            )
            for i in range(start, min(n, start + chunk))
        )
        Consent.objects.bulk_create(
            Consent(
                customer=c,
                channel=Consent.Channel.EMAIL,
                purpose=Consent.Purpose.MARKETING,
                granted=True,
                source=Consent.Source.IMPORT,
                recorded_at=now,
            )
            for c in customers
        )
    template = MessageTemplate.objects.create(
        slug="bench-lancamento",
        name="Lançamento (bench)",
        purpose=Consent.Purpose.MARKETING,
        subject_pt_br="Novidade para você, {primeiro_nome}",
        body_pt_br="Olá, {nome}! Conheça o lançamento do plano {produto}. Dúvidas? Fale com {responsavel}.",
    )
    audience = Audience.objects.create(name="Todos (bench)", filters={})
    campaign = Campaign.objects.create(name="Bench 50k", template=template, audience=audience, created_by=manager)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return campaign.pk


def start_workers(
    count: int, env: dict[str, str], concurrency: int, pool: str, prefetch: int | None
) -> list[subprocess.Popen]:
    workers = []
    for n in range(count):
        cmd = [
            str(ROOT / ".venv" / "bin" / "celery"),
            "-A",
            "posvenda",
            "worker",
            f"--concurrency={concurrency}",
            f"--pool={pool}",
            f"--hostname=bench{n + 1}@%h",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=WARNING",
        ]
        if prefetch:
            cmd.append(f"--prefetch-multiplier={prefetch}")
        log = (ROOT / "bench" / "out" / f"campaign_worker{n + 1}.log").open("w")
        workers.append(subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT))
    return workers


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for w in workers:
        if w.poll() is None:
            w.send_signal(signal.SIGTERM)
    for w in workers:
        try:
            w.wait(timeout=20)
        except subprocess.TimeoutExpired:
            w.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=1, help="processes per worker")
    parser.add_argument("--pool", default="prefork", help="prefork (Celery's default) or solo")
    parser.add_argument(
        "--prefetch-multiplier", type=int, help="override CELERY_WORKER_PREFETCH_MULTIPLIER (settings: 1)"
    )
    parser.add_argument(
        "--db-reuse-max",
        type=int,
        default=0,
        help="CELERY_DB_REUSE_MAX for the workers (0: Celery's default, a new DB connection per task)",
    )
    parser.add_argument("--database-url", default=os.environ.get("BENCH_CAMPAIGN_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_CAMPAIGN_REDIS_URL", DEFAULT_REDIS))
    parser.add_argument("--idle-timeout", type=float, default=120.0, help="give up after this long with no progress")
    args = parser.parse_args()
    n = args.customers
    (ROOT / "bench" / "out").mkdir(parents=True, exist_ok=True)

    from aiosmtpd.controller import Controller

    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()

    print(f"resetting {args.database_url} and applying migrations", flush=True)
    reset_database(args.database_url)
    env = setup_django(args.database_url, args.redis_url, port, cap=1000)
    env["CELERY_DB_REUSE_MAX"] = str(args.db_reuse_max)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    campaign_id = create_data(n)
    print(f"created {n:,} customers with e-mail marketing consent in {time.perf_counter() - started:.1f} s", flush=True)

    import redis

    redis.Redis.from_url(args.redis_url).flushdb()
    workers = start_workers(args.workers, env, args.concurrency, args.pool, args.prefetch_multiplier)
    time.sleep(4)  # let the workers connect before the click
    if any(w.poll() is not None for w in workers):
        sys.exit("a worker exited at start; see bench/out/campaign_worker*.log")

    from django.contrib.auth import get_user_model
    from django.db.models import Count

    from funnel import campaigns
    from funnel.models import Campaign, CampaignBatch
    from messaging.models import Message

    manager = get_user_model().objects.get(username="bench_gerente")
    campaign = Campaign.objects.get(pk=campaign_id)
    load_before = os.getloadavg()[0]
    print(
        f"sending campaign {campaign_id} to {n:,} customers with {args.workers} workers "
        f"(--concurrency={args.concurrency}, pool {args.pool}, prefetch multiplier "
        f"{args.prefetch_multiplier or 'from settings'}, CELERY_DB_REUSE_MAX {args.db_reuse_max or 'unset'}), "
        f"SMTP sink on 127.0.0.1:{port}",
        flush=True,
    )
    click = time.perf_counter()
    campaigns.campaign_send(actor=manager, campaign=campaign)
    click_done = time.perf_counter()
    fanout_done: float | None = None
    last_seen, last_change = (0, 0), time.perf_counter()
    next_report = click + 5
    while True:
        time.sleep(0.25)
        now = time.perf_counter()
        count = sink.count
        status, processed = Campaign.objects.filter(pk=campaign_id).values_list("status", "processed_count").get()
        if (count, processed) != last_seen:  # progress is mail received or customers fanned out
            last_seen, last_change = (count, processed), now
        if fanout_done is None and status == "done":
            fanout_done = now
        if now >= next_report:
            print(f"  t+{now - click:5.1f} s: {count:,} received; fan-out {processed:,} of {n:,} customers")
            next_report += 5
        if count >= n or now - last_change > args.idle_timeout:
            break
    time.sleep(3)  # stragglers: a duplicate would arrive after the last expected message
    stop_workers(workers)
    controller.stop()

    received = sink.count
    first, last = sink.first or click, sink.last or click
    dup_recipients = sum(1 for c in sink.recipients.values() if c > 1)
    dup_ids = sum(1 for c in sink.message_ids.values() if c > 1)
    statuses = dict(
        Message.objects.filter(source=f"campaign:{campaign_id}")
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    batches = Counter(CampaignBatch.objects.filter(campaign_id=campaign_id).values_list("status", flat=True))
    span = max(last - first, 1e-9)
    rate = (received - 1) / span if received > 1 else 0.0
    load_after = os.getloadavg()[0]
    print(f"click → campaign started (audience frozen into batches): {click_done - click:.2f} s")
    if fanout_done:
        print(f"click → fan-out done (all {n:,} Message rows queued): {fanout_done - click:.1f} s")
    print(f"received {received:,} e-mails for {len(sink.recipients):,} recipients")
    print(f"first → last received: {span:.1f} s, {rate:,.0f} messages/s")
    print(
        f"click → last received: {last - click:.1f} s, {received / max(last - click, 1e-9):,.0f} messages/s end to end"
    )
    print(f"duplicates: {dup_recipients} recipients and {dup_ids} Message-IDs received more than once")
    print(f"Message rows by status: {statuses}; batches: {dict(batches)}")
    print(f"load average {load_before:.2f} before, {load_after:.2f} after")
    print(
        f"target >= 300 messages/s: {'met' if rate >= 300 else 'MISSED'}; duplicates must be 0: "
        f"{'met' if dup_recipients == 0 and dup_ids == 0 else 'MISSED'}"
        + ("" if received == n else f"; WARNING: {received:,} of {n:,} received")
    )
    with RESULTS.open("a", encoding="utf-8") as fh:
        fh.write(
            f"{datetime.now(UTC).isoformat(timespec='seconds')}\tcampaign\tcustomers={n}\tworkers={args.workers}"
            f"x{args.concurrency}/{args.pool}/prefetch={args.prefetch_multiplier or 'settings'}/db_reuse={args.db_reuse_max}\treceived={received}\tmessages/s={rate:.0f}\t"
            f"end_to_end_s={last - click:.1f}\tfanout_s={f'{fanout_done - click:.1f}' if fanout_done else 'n/a'}\t"
            f"dup_recipients={dup_recipients}\tdup_message_ids={dup_ids}\tload={load_after:.2f}\n"
        )


if __name__ == "__main__":
    main()
