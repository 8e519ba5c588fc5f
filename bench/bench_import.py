#!/usr/bin/env python3
"""Time Posvenda's customer importer against a raw COPY of the same CSV file, in one run.

    .venv/bin/python bench/bench_import.py                 # 100,000 rows, see bench/README.md
    .venv/bin/python bench/bench_import.py --rows 20000    # a quicker run

1. (Re)creates the dedicated database (posvenda_bench_import by default), applies the migrations
   and creates the bench users that own the generated customers.
2. Generates the CSV with gen_customers_csv.py (unless --csv names an existing file).
3. Times customers.importer on that file into the empty customers table, with full validation.
4. Times `COPY … FROM STDIN (FORMAT csv, HEADER)` of the same file into a bare table with the same
   columns and no constraints or indexes: the ceiling for loading this file into PostgreSQL.
Prints rows/s for both and the ratio, and appends one line to bench/out/results.tsv.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/posvenda_bench_import"
RESULTS = ROOT / "bench" / "out" / "results.tsv"
RAW_TABLE = "bench_raw_customers"


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


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
    os.environ["DEBUG"] = "0"  # DEBUG would keep every query in memory
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "posvenda.settings")
    import django

    django.setup()


class BackendCPU:
    """CPU seconds (user + system) of every PostgreSQL backend connected to the bench database,
    sampled from /proc every 0.1 s by a thread (PostgreSQL runs on this machine): the importer's
    own connection and its writer threads' connections, which come and go during the run."""

    def __init__(self, url: str) -> None:
        import threading

        import psycopg2

        self.conn = psycopg2.connect(url)
        self.conn.autocommit = True
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    @staticmethod
    def cpu(pid: int) -> float | None:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def sample(self) -> None:
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            for (pid,) in cur.fetchall():
                if (cpu := self.cpu(pid)) is not None:
                    self.first.setdefault(pid, cpu)
                    self.last[pid] = cpu

    def run(self) -> None:
        while not self.stop.wait(0.1):
            self.sample()

    def __enter__(self) -> BackendCPU:
        self.sample()
        self.first = dict(self.last)  # backends already there count from now
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.sample()
        self.conn.close()

    @property
    def seconds(self) -> float:
        return sum(self.last[pid] - self.first.get(pid, 0.0) for pid in self.last)


def run_importer(path: Path, *, chunk_size: int | None = None, python_path: bool = False) -> dict[str, object]:
    """Call the importer the way the import command does; returns its counters."""
    from customers import importer

    importer.SET_BASED_CUSTOMERS = not python_path
    extra = {"chunk_size": chunk_size} if chunk_size else {}
    job = importer.import_path(path, kind="customers", actor=None, **extra)
    return {
        "status": job.status,
        "created": job.created_count,
        "updated": job.updated_count,
        "unchanged": job.unchanged_count,
        "errors": job.error_count,
        "first_errors": job.errors[:3],
    }


def raw_copy(path: Path) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {RAW_TABLE}")
        cursor.execute(
            f"CREATE TABLE {RAW_TABLE} (external_id text, kind text, name text, document text, email text, "
            "phone text, owner text, segment text, tags text, plan text, mrr numeric(12, 2))"
        )
        with path.open("r", encoding="utf-8") as fh:
            cursor.cursor.copy_expert(f"COPY {RAW_TABLE} FROM STDIN WITH (FORMAT csv, HEADER true)", fh)
        cursor.execute(f"SELECT count(*) FROM {RAW_TABLE}")
        return cursor.fetchone()[0]


def schema_copy() -> tuple[int, float]:
    """COPY the rows the importer wrote into a clone of customers_customer (all its indexes and
    checks, no foreign keys): how fast PostgreSQL alone can load this data into this schema."""
    import io

    from django.db import connection

    buf = io.StringIO()
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert("COPY customers_customer TO STDOUT", buf)
        buf.seek(0)
        cursor.execute("DROP TABLE IF EXISTS bench_schema_customers")
        cursor.execute("CREATE TABLE bench_schema_customers (LIKE customers_customer INCLUDING ALL)")
        started = time.perf_counter()
        cursor.cursor.copy_expert("COPY bench_schema_customers FROM STDIN", buf)
        elapsed = time.perf_counter() - started
        cursor.execute("SELECT count(*) FROM bench_schema_customers")
        return cursor.fetchone()[0], elapsed


def count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for _ in fh) - 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--csv", type=Path, help="an existing customers CSV (default: generate one)")
    parser.add_argument("--chunk-size", type=int, help="override the importer's rows per transaction")
    parser.add_argument(
        "--python-path", action="store_true", help="force the row-by-row Python path (default: set-based SQL)"
    )
    parser.add_argument("--writers", type=int, help="set-based path: threads writing chunks (default: importer_pg's)")
    parser.add_argument(
        "--reimport", action="store_true", help="also time a second import of the same file (every row unchanged)"
    )
    parser.add_argument("--database-url", default=os.environ.get("BENCH_IMPORT_DATABASE_URL", DEFAULT_DB))
    args = parser.parse_args()

    path = args.csv or ROOT / "bench" / "data" / f"customers_{args.rows}.csv"
    if args.csv is None and (not path.exists() or count_lines(path) != args.rows):
        from bench.gen_customers_csv import write_csv

        print(f"generating {args.rows:,} rows into {path}", flush=True)
        write_csv(args.rows, path)
    rows = count_lines(path)

    print(f"resetting {args.database_url} and applying migrations", flush=True)
    reset_database(args.database_url)
    setup_django(args.database_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from bench.gen_db import ensure_users
    from customers.models import Customer

    ensure_users()

    from customers import importer_pg

    if args.writers:
        importer_pg.WRITERS = args.writers
    path_name = "python" if args.python_path else f"set-based, {importer_pg.WRITERS} writers"
    print(f"importer ({path_name} path): {rows:,} rows from {path}", flush=True)
    load_before = os.getloadavg()[0]
    from django.db import connection

    connection.ensure_connection()
    with BackendCPU(args.database_url) as backends:
        started, cpu_started = time.perf_counter(), time.process_time()
        counters = run_importer(path, chunk_size=args.chunk_size, python_path=args.python_path)
        importer_s, importer_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    pg_cpu = backends.seconds
    imported = Customer.objects.count()
    print(f"  {importer_s:.2f} s, {rows / importer_s:,.0f} rows/s; {imported:,} customers in the table; {counters}")
    # CPU of this Python process only (PostgreSQL's share is the rest of the wall time, roughly).
    print(
        f"  CPU: Python {importer_cpu:.2f} s + PostgreSQL backends {pg_cpu:.2f} s = {importer_cpu + pg_cpu:.2f} s "
        f"(load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after)"
    )

    if args.reimport:
        load_before = os.getloadavg()[0]
        with BackendCPU(args.database_url) as backends:
            started, cpu_started = time.perf_counter(), time.process_time()
            again = run_importer(path, chunk_size=args.chunk_size, python_path=args.python_path)
            again_s, again_cpu = time.perf_counter() - started, time.process_time() - cpu_started
        print(f"re-import of the same file: {again_s:.2f} s, {rows / again_s:,.0f} rows/s; {again}")
        print(
            f"  CPU: Python {again_cpu:.2f} s + PostgreSQL backends {backends.seconds:.2f} s = "
            f"{again_cpu + backends.seconds:.2f} s (load average {load_before:.2f} before, "
            f"{os.getloadavg()[0]:.2f} after)"
        )

    print(f"raw COPY of the same file into {RAW_TABLE}", flush=True)
    started = time.perf_counter()
    copied = raw_copy(path)
    copy_s = time.perf_counter() - started
    print(f"  {copy_s:.2f} s, {rows / copy_s:,.0f} rows/s; {copied:,} rows in the table")

    schema_rows, schema_s = schema_copy()
    print(
        f"reference: COPY of the imported rows into a clone of customers_customer (its indexes and checks): "
        f"{schema_s:.2f} s, {schema_rows / schema_s:,.0f} rows/s"
    )

    importer_rate, copy_rate = rows / importer_s, rows / copy_s
    ratio = importer_rate / copy_rate
    print(f"importer {importer_rate:,.0f} rows/s | raw COPY {copy_rate:,.0f} rows/s | ratio {ratio:.2f}x")
    ok = imported == rows and copied == rows
    print(
        f"target >= 40,000 rows/s: {'met' if importer_rate >= 40_000 else 'MISSED'}; "
        f"target >= 0.5x COPY: {'met' if ratio >= 0.5 else 'MISSED'}"
        + ("" if ok else f"; WARNING: imported {imported} / copied {copied} of {rows} rows")
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as fh:
        fh.write(
            f"{datetime.now(UTC).isoformat(timespec='seconds')}\timport ({path_name})\trows={rows}\t"
            f"importer_rows/s={importer_rate:.0f}\tcopy_rows/s={copy_rate:.0f}\tratio={ratio:.3f}\t"
            f"imported={imported}\tpython_cpu_s={importer_cpu:.2f}\tpg_cpu_s={pg_cpu:.2f}\tschema_copy_rows/s={schema_rows / schema_s:.0f}\tload={os.getloadavg()[0]:.2f}\n"
        )


if __name__ == "__main__":
    main()
