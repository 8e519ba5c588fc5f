#!/usr/bin/env python3
"""Generate N customers (plus orders, contracts and tags) straight into PostgreSQL.

    .venv/bin/python bench/gen_db.py 1000000            # into posvenda_bench (migrated first)

Customers go in with COPY (text format, in chunks of 100,000 rows); orders, contracts and tag
links are derived from them with INSERT … SELECT on the server, which is faster than shipping
them from Python. The target database is TRUNCATEd first, so the script refuses any database
whose name does not contain "bench". Prints the API token of the bench manager at the end
(bench_api.sh reads it from the last line).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/posvenda_bench"
CHUNK = 100_000
BENCH_USERS = (
    ("bench_gerente", "cs_manager"),
    ("bench_agente1", "cs_agent"),
    ("bench_agente2", "cs_agent"),
    ("bench_agente3", "cs_agent"),
)


def _setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "posvenda.settings")
    import django

    django.setup()


def ensure_users() -> tuple[dict[str, int], str]:
    """The bench users (owners in the generated data) and the bench manager's API token."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from posvenda import roles

    User = get_user_model()
    ids: dict[str, int] = {}
    for username, role in BENCH_USERS:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = roles.user_create(username=username, password="posvenda-bench", role=role)
        ids[username] = user.pk
    token, _created = Token.objects.get_or_create(user_id=ids["bench_gerente"])
    return ids, token.key


def _escape(value: Any) -> str:
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dict | list):
        value = json.dumps(value)
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def copy_customers(n: int, *, user_ids: dict[str, int], seed: int) -> None:
    from django.db import connection

    from bench.gen_customers_csv import rows
    from customers.models import Customer, Segment

    segments = {
        name: Segment.objects.get_or_create(name=name)[0].pk
        for name in ("Varejo", "PME", "Enterprise", "E-commerce B2C")
    }
    fields = [f for f in Customer._meta.concrete_fields if not f.primary_key]
    columns = [f.column for f in fields]
    # Columns this script does not know (added later by another feature) get their model default.
    defaults = {f.column: f.get_default() for f in fields}
    non_digits = re.compile(r"\D")
    rng = random.Random(seed)
    stages = ["adoption"] * 25 + ["retention"] * 35 + ["expansion"] * 15 + ["evangelization"] * 10 + ["churned"] * 15
    now = datetime.now(UTC)
    started = time.monotonic()
    buf = io.StringIO()
    with connection.cursor() as cursor:
        for i, row in enumerate(rows(n, seed=seed), start=1):
            ext, kind, name, document, email, phone, owner, segment, _tags, plan, mrr = row
            created = now - timedelta(days=rng.randrange(730), seconds=rng.randrange(86400))
            values = dict(defaults)
            values.update(
                created_at=created.isoformat(),
                updated_at=created.isoformat(),
                kind=kind,
                name=name,
                document=non_digits.sub("", document),
                email=email,
                phone=phone.replace(" ", "").replace("-", ""),
                owner_id=user_ids.get(owner),
                segment_id=segments.get(segment),
                plan=plan,
                mrr=Decimal(mrr),
                external_id=ext,
                stage=rng.choice(stages),
                language="pt-br",
            )
            buf.write("\t".join(_escape(values[c]) for c in columns))
            buf.write("\n")
            if i % CHUNK == 0 or i == n:
                buf.seek(0)
                cursor.cursor.copy_expert(
                    f"COPY {Customer._meta.db_table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT text)", buf
                )
                buf = io.StringIO()
                rate = i / (time.monotonic() - started)
                print(f"  customers: {i:>9,} ({rate:,.0f} rows/s)", flush=True)


def derive_children() -> None:
    """Orders for two in three people, one contract per company, a tag on one customer in five."""
    from django.db import connection

    sql = [
        (
            "orders",
            """
            INSERT INTO customers_order (created_at, updated_at, customer_id, external_id, purchased_at, amount,
                                         status, channel, product)
            SELECT now(), now(), c.id, c.external_id || '-O' || g,
                   now() - (c.id % 540) * interval '1 day' - g * interval '7 days',
                   round((49 + (c.id * 7919 + g * 104729) % 90000 / 100.0)::numeric, 2),
                   CASE WHEN (c.id + g) % 17 = 0 THEN 'cancelled' WHEN (c.id + g) % 23 = 0 THEN 'refunded'
                        ELSE 'paid' END,
                   (ARRAY['online','marketplace','whatsapp','instagram','store'])[1 + (c.id + g) % 5],
                   (ARRAY['Kit skincare','Tênis de corrida','Cafeteira','Fone Bluetooth','Smartwatch'])[1 + c.id % 5]
            FROM customers_customer c CROSS JOIN generate_series(1, 2) AS g
            WHERE c.kind = 'person' AND c.id % 3 <> 0
            """,
        ),
        (
            "contracts",
            """
            INSERT INTO customers_contract (created_at, updated_at, customer_id, external_id, plan, started_at,
                                            ends_at, cancelled_at, cancel_reason, mrr, status, renewals, auto_renew)
            SELECT now(), now(), c.id, c.external_id || '-K1', c.plan, (c.created_at)::date,
                   (c.created_at)::date + 365,
                   CASE WHEN c.stage = 'churned' THEN (c.created_at)::date + 90 END,
                   CASE WHEN c.stage = 'churned' THEN 'Preço acima do orçamento' ELSE '' END,
                   c.mrr, CASE WHEN c.stage = 'churned' THEN 'cancelled' ELSE 'active' END, 0, true
            FROM customers_customer c WHERE c.kind = 'company'
            """,
        ),
        (
            "tag links",
            """
            INSERT INTO customers_customer_tags (customer_id, tag_id)
            SELECT c.id, t.id FROM customers_customer c
            JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k, count(*) OVER () AS n
                  FROM customers_tag) t ON t.k = c.id % t.n
            WHERE c.id % 5 = 0
            """,
        ),
    ]
    from customers.models import Tag

    for name in ("VIP", "Indicação", "Risco de churn", "Black Friday", "Primeira compra", "Promotor"):
        Tag.objects.get_or_create(name=name)
    with connection.cursor() as cursor:
        for label, statement in sql:
            started = time.monotonic()
            cursor.execute(statement)
            print(f"  {label}: {cursor.rowcount:,} rows in {time.monotonic() - started:.1f} s", flush=True)


def reset_tables() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE customers_customer, customers_tag RESTART IDENTITY CASCADE")


def vacuum_analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("customers_customer", "customers_order", "customers_contract", "customers_customer_tags"):
            cursor.execute(f"VACUUM ANALYZE {table}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("n", type=int, help="number of customers")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--token-only", action="store_true", help="only ensure the bench users; print the token")
    args = parser.parse_args()
    if "bench" not in args.database_url.rsplit("/", 1)[-1]:
        sys.exit("refusing to TRUNCATE a database whose name does not contain 'bench'")
    _setup(args.database_url)
    from django.core.management import call_command

    started = time.monotonic()
    call_command("migrate", verbosity=0)
    user_ids, token = ensure_users()
    if args.token_only:
        print(f"token {token}")
        return
    reset_tables()
    print(f"generating {args.n:,} customers into {args.database_url}", flush=True)
    copy_customers(args.n, user_ids=user_ids, seed=args.seed)
    derive_children()
    print("  VACUUM ANALYZE …", flush=True)
    vacuum_analyze()
    print(f"done in {time.monotonic() - started:.1f} s")
    print(f"token {token}")


if __name__ == "__main__":
    main()
