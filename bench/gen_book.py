#!/usr/bin/env python3
"""Generate a large, internally consistent book straight into PostgreSQL for the metrics dashboard.

    .venv/bin/python bench/gen_book.py                 # 1,000,000 customers … into posvenda_book_bench
    .venv/bin/python bench/gen_book.py --scale 0.01    # a hundredth of every count, for a quick check

Full size (``--scale 1``; every count is multiplied by the scale):

    customers            1,000,000  a third companies (valid CNPJ), the rest people (valid CPF), pt-BR
                                    names, created over the last 36 months (41 % in the last 12), owned
                                    by the bench users (one in five unowned), 4 segments
    funnel stage changes ~2,200,000 entry into adoption + 0–3 moves per customer along the default rules,
                                    ending in the customer's current stage (the churn date is the last one)
    contracts            1,000,000  every company 1+ (add-ons, so MRR expands and contracts), B2C "Clube";
                                    ~17 % cancelled (all of a churned customer's), ~5 % expired
    orders               3,000,000  ~70 % of buyers repurchase; some cancelled, refunded, pending
    support tickets        500,000  SLA policy, first response / resolution (calendar and business
                                    seconds on the configured business calendar), breach flags, status
    survey invitations  ~1,500,000  NPS (relationship waves, a week after orders), CSAT and CES after
    survey responses       500,000  resolved tickets, exit survey after churn; ~35 % response rate
    messages             2,000,000  sent/delivered/opened/clicked/bounced/complained, with ~3.5 M
    message events                  delivered/opened/clicked/bounced/complained/unsubscribed events
    loyalty                         ~300,000 accounts, 100,000 referrals (30 % converted), ledger entries
                                    for the last 12 months of paid orders and for converted referrals
(counts with "~" follow from the others; the rest land within about 1 % of the target).

Every row is made on the server with INSERT … SELECT over generate_series and random() (no row goes
through Python), with the foreign-key triggers off and the secondary indexes dropped during each load
and rebuilt after it (foreign keys are checked once at the end). Every column the script does not set
gets what Django would insert for it (its default), and a NOT NULL column without default stops the
script, so a field added later by another feature cannot silently get garbage. The database is
created when missing, migrated and TRUNCATEd, so the script refuses one whose name does not contain
"bench". Seeded (--seed): the same seed on the same PostgreSQL gives the same book, dated from now.
The metrics roll-up tables are not filled: the metrics app computes them from these.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gen_db import BENCH_USERS, _setup, ensure_users  # noqa: E402

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/posvenda_book_bench"
MONTHS = 36
TARGETS = {
    "customers": 1_000_000,
    "orders": 3_000_000,
    "contracts": 1_000_000,
    "responses": 500_000,
    "tickets": 500_000,
    "messages": 2_000_000,
    "referrals": 100_000,
}
SEGMENTS = ("Varejo", "PME", "Enterprise", "E-commerce B2C")
# Stage weights once a customer is past its first month (younger ones are all in adoption).
STAGE_WEIGHTS = {"adoption": 12, "retention": 42, "expansion": 18, "evangelization": 13, "churned": 15}
# (name, kind, trigger, share of the responses, response rate)
SURVEYS = (
    ("Bench — NPS relacional", "nps", "recurring", 0.40, 0.30),
    ("Bench — NPS pós-compra", "nps", "after_order", 0.15, 0.33),
    ("Bench — CSAT atendimento", "csat", "after_ticket", 0.25, 0.42),
    ("Bench — CES atendimento", "ces", "after_ticket", 0.12, 0.38),
    ("Bench — Pesquisa de saída", "exit", "on_churn", 0.08, 0.45),
)
SKIPPED_SHARE = 0.05  # invitations not sent (fatigue rule), on top of the sent ones
TEMPLATES = (
    ("bench-newsletter", "Novidades do mês", "marketing"),
    ("bench-oferta", "Oferta exclusiva para você", "marketing"),
    ("bench-boas-vindas", "Boas-vindas", "service"),
    ("bench-checkin", "Como está sua experiência?", "service"),
    ("bench-pesquisa", "Sua opinião importa", "surveys"),
)
# Tables this script fills, in load order (the final counts and VACUUM ANALYZE use it).
TABLES = (
    "customers_customer",
    "funnel_stagechange",
    "customers_contract",
    "customers_order",
    "support_ticket",
    "surveys_invitation",
    "surveys_response",
    "messaging_message",
    "messaging_messageevent",
    "loyalty_account",
    "loyalty_referral",
    "loyalty_entry",
)


# --- helpers -------------------------------------------------------------------------------------


def ensure_database(database_url: str) -> None:
    """CREATE DATABASE when it does not exist yet (connecting to the server's `postgres` database)."""
    import psycopg2

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE DATABASE "{name}"')
                print(f"created database {name}", flush=True)
    finally:
        conn.close()


def _literal(value: Any) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        return cursor.cursor.mogrify("%s", [value]).decode()


def insert_select(model: Any, exprs: dict[str, str], tail: str, *, with_sql: str = "") -> int:
    """``INSERT INTO <model table> (every concrete column) [WITH …] SELECT <exprs> <tail>``.

    ``exprs`` maps column names to SQL expressions; every other column gets what Django would insert
    for an unset field (its default, '' for text, now() for auto_now/auto_now_add), and a NOT NULL
    column without any default raises, so a field added later is never filled with garbage.
    """
    from django.db import connection

    quote = connection.ops.quote_name
    known = {f.column for f in model._meta.concrete_fields}
    unknown = set(exprs) - known
    if unknown:
        raise RuntimeError(f"{model.__name__} has no column(s) {sorted(unknown)}")
    columns: list[str] = []
    selects: list[str] = []
    for field in model._meta.concrete_fields:
        if field.column in exprs:
            expr = exprs[field.column]
        elif field.primary_key:
            continue
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            expr = NOW
        else:
            default = field.get_default()
            if default is None:
                if not field.null:
                    raise RuntimeError(f"{model.__name__}.{field.name} is NOT NULL without a default: set it")
                expr = "NULL"
            else:
                if isinstance(default, str):
                    default = str(default)  # TextChoices member → plain str for the adapter
                value = field.get_db_prep_save(default, connection)
                expr = f"{_literal(value)}::{field.db_type(connection)}"
        columns.append(quote(field.column))
        selects.append(expr)
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(columns)}) {with_sql} SELECT {', '.join(selects)} {tail}"
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.rowcount


def execute(sql: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.rowcount


def scalar(sql: str) -> Any:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def step(label: str, timings: dict[str, float], fn: Callable[[], int | None], unit: str = "rows") -> None:
    started = time.monotonic()
    rows = fn()
    elapsed = time.monotonic() - started
    timings[label] = elapsed
    shown = f"{rows:>10,} {unit:<4}" if rows is not None else " " * 15
    print(f"  {label:<38} {shown} {elapsed:7.1f} s", flush=True)


@contextmanager
def bulk_load(table: str, timings: dict[str, float]) -> Iterator[None]:
    """Drop the table's secondary indexes and unique constraints (not the primary key, nor what a
    foreign key points at) for the load and rebuild them afterwards: a sorted build is several times
    faster than inserting into every B-tree row by row. One transaction, so a failure leaves every
    index in place; a duplicate that slipped in fails the rebuild like it would have failed the insert."""
    from django.db import connection, transaction

    rebuild: list[str] = []
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT i.indexrelid::regclass::text, c.conname, pg_get_indexdef(i.indexrelid),
                       pg_get_constraintdef(c.oid)
                FROM pg_index i
                LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid
                WHERE i.indrelid = %s::regclass AND NOT i.indisprimary
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = i.indexrelid)
                ORDER BY 1
                """,
                [table],
            )
            for index, constraint, index_sql, constraint_sql in cursor.fetchall():
                if constraint:
                    cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{constraint}"')
                    rebuild.append(f'ALTER TABLE {table} ADD CONSTRAINT "{constraint}" {constraint_sql}')
                else:
                    cursor.execute(f"DROP INDEX {index}")
                    rebuild.append(index_sql)
        yield

        def restore() -> None:
            execute(f"ANALYZE {table}")
            for statement in rebuild:
                execute(statement)

        step(f"  {len(rebuild)} indexes of {table}", timings, restore)


def foreign_keys_check(tables: tuple[str, ...]) -> int:
    """The generator loads with foreign-key triggers off (session_replication_role = replica); this
    checks every single-column foreign key of the loaded tables with one anti-join each."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text, af.attname
            FROM pg_constraint c
            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
            JOIN pg_attribute af ON af.attrelid = c.confrelid AND af.attnum = c.confkey[1]
            WHERE c.contype = 'f' AND cardinality(c.conkey) = 1 AND c.conrelid::regclass::text = ANY(%s)
            """,
            [list(tables)],
        )
        keys = cursor.fetchall()
    broken = []
    for table, column, parent, parent_column in keys:
        orphans = scalar(
            f"SELECT count(*) FROM {table} t WHERE t.{column} IS NOT NULL "
            f"AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.{parent_column} = t.{column})"
        )
        if orphans:
            broken.append(f"{table}.{column} → {parent}: {orphans:,} orphans")
    if broken:
        raise RuntimeError("foreign keys broken: " + "; ".join(broken))
    return len(keys)


def sql_array(values: list[str] | tuple[str, ...]) -> str:
    return "ARRAY[" + ", ".join(_literal(v) for v in values) + "]"


def pick(values: list[str] | tuple[str, ...], u: str = "random()") -> str:
    """SQL picking one of ``values`` uniformly with the random number ``u`` in [0, 1)."""
    return f"({sql_array(values)})[1 + floor({u} * {len(values)})::int]"


NOW = "now()"  # replaced in main() by the literal start time, so every row agrees on "now"
TZ = "America/Sao_Paulo"


# --- reset and reference rows --------------------------------------------------------------------


def reset_tables() -> None:
    # CASCADE also empties what hangs off these rows (ticket events, step runs, tasks, redemptions…);
    # configuration (segments, surveys, SLA policies, templates, rules) is kept and reused.
    execute(
        "TRUNCATE customers_customer, funnel_stagechange, customers_contract, customers_order, support_ticket, "
        "surveys_invitation, surveys_response, messaging_message, messaging_messageevent, loyalty_account, "
        "loyalty_referral, loyalty_entry RESTART IDENTITY CASCADE"
    )


def reference_rows(user_ids: dict[str, int]) -> dict[str, Any]:
    """Segments, surveys, templates, teams and segment SLA policies the book points at (get_or_create)."""
    from django.contrib.auth import get_user_model

    from customers.models import Segment
    from messaging.models import MessageTemplate
    from support.models import SlaPolicy, Team
    from surveys.models import Survey

    segments = {name: Segment.objects.get_or_create(name=name)[0].pk for name in SEGMENTS}
    manager = get_user_model().objects.get(pk=user_ids["bench_gerente"])
    surveys = {}
    for name, kind, trigger, _share, _rate in SURVEYS:
        survey, _created = Survey.objects.get_or_create(
            name=name, defaults={"kind": kind, "trigger": trigger, "created_by": manager}
        )
        surveys[name] = survey
    templates = {}
    for slug, name, purpose in TEMPLATES:
        template, _created = MessageTemplate.objects.update_or_create(
            slug=slug,
            defaults={
                "name": name,
                "purpose": purpose,
                "subject_pt_br": name,
                "body_pt_br": f"Olá, {{primeiro_nome}}! {name}.",
            },
        )
        templates[slug] = template
    teams = {}
    for name in ("Bench — Atendimento N1", "Bench — Atendimento N2"):
        team, _created = Team.objects.get_or_create(name=name, defaults={"manager": manager})
        team.members.add(*user_ids.values())
        teams[name] = team.pk
    # Enterprise customers get tighter targets on urgent and high tickets (the rest use the defaults).
    for priority, first, resolution in (("urgent", 30, 4 * 60), ("high", 2 * 60, 9 * 60)):
        SlaPolicy.objects.get_or_create(
            priority=priority,
            segment_id=segments["Enterprise"],
            defaults={
                "name": f"Enterprise {priority}",
                "first_response_minutes": first,
                "resolution_minutes": resolution,
            },
        )
    return {"segments": segments, "surveys": surveys, "templates": templates, "teams": teams}


# --- customers -----------------------------------------------------------------------------------


def _digit_sum(number: str, digits: int, weights: list[int]) -> str:
    """SQL: the weighted sum of the ``digits`` decimal digits of the bigint expression ``number``."""
    return " + ".join(f"(({number})::bigint / {10 ** (digits - 1 - k)} % 10) * {w}" for k, w in enumerate(weights))


def customers(n: int, *, user_ids: dict[str, int], segments: dict[str, int]) -> int:
    """gen_customers_csv's customers, made on the server: one in three a company with a valid CNPJ, the
    rest people with a valid CPF (check digits as customers.validators computes them), pt-BR names
    from Faker's lists, unique e-mails, E.164 mobile phones, the bench users as owners (one in five
    unowned), the 4 segments. Created over the last 36 months, more in recent ones (the base grows);
    stage drawn by STAGE_WEIGHTS once past the first month (the funnel history follows from it)."""
    from bench.gen_customers_csv import (
        B2B_PLANS,
        BUSINESS,
        CNPJ_SEED_BASE,
        CPF_SEED_BASE,
        DDDS,
        OWNERS,
        SEGMENTS_COMPANY,
        SEGMENTS_PERSON,
        SUFFIXES,
        PersonProvider,
        _ascii,
        _first_names,
    )
    from customers.models import Customer

    first = _first_names()
    last = list(dict.fromkeys(PersonProvider.last_names))

    def ids(names: list[str], mapping: dict[str, int]) -> str:
        return "ARRAY[" + ", ".join(str(mapping[x]) if x in mapping else "NULL" for x in names) + "]::bigint[]"

    plans = sql_array([plan for plan, _low, _high in B2B_PLANS])
    lows = "ARRAY" + str([low for _plan, low, _high in B2B_PLANS])
    highs = "ARRAY" + str([high for _plan, _low, high in B2B_PLANS])
    bounds, total = [], 0
    for stage, weight in STAGE_WEIGHTS.items():
        total += weight
        bounds.append(f"WHEN x.u_stage < {total / sum(STAGE_WEIGHTS.values())} THEN '{stage}'")
    cpf = "x.cpf_base"
    cnpj = "x.cnpj_base"
    cnpj_w1 = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    _name_tables(first, last, _ascii)
    return insert_select(
        Customer,
        {
            "created_at": "x.created_at",
            "updated_at": "x.created_at",
            "kind": "x.kind",
            "name": f"CASE WHEN x.kind = 'company' THEN {pick(BUSINESS, 'x.u1')} || ' ' || x.last || ' ' || "
            f"{pick(SUFFIXES, 'x.u2')} WHEN x.u1 < 0.4 THEN x.first || ' ' || x.middle || ' ' || x.last "
            "ELSE x.first || ' ' || x.last END",
            "document": "CASE WHEN x.kind = 'company' THEN lpad(x.cnpj_base::text, 12, '0') || y.d1 || y.d2 "
            "ELSE lpad(x.cpf_base::text, 9, '0') || y.c1 || y.c2 END",
            "email": "CASE WHEN x.kind = 'company' THEN 'contato' || x.g || '@' || x.last_ascii || '.example.com' "
            "ELSE x.first_ascii || '.' || x.last_ascii || x.g || '@example.com' END",
            "phone": "CASE WHEN x.kind = 'person' AND x.u3 >= 0.9 THEN '' ELSE '+55' || "
            f"{pick(DDDS, 'x.u4')} || '9' || (6 + floor(x.u5 * 4))::int || lpad(floor(x.u6 * 1e7)::bigint::text, 7, '0') END",
            "owner_id": f"({ids(OWNERS, user_ids)})[1 + floor(x.u7 * {len(OWNERS)})::int]",
            "segment_id": f"CASE WHEN x.kind = 'company' THEN ({ids(SEGMENTS_COMPANY, segments)})"
            f"[1 + floor(x.u8 * {len(SEGMENTS_COMPANY)})::int] "
            f"ELSE ({ids(SEGMENTS_PERSON, segments)})[1 + floor(x.u8 * {len(SEGMENTS_PERSON)})::int] END",
            "plan": f"CASE WHEN x.kind = 'company' THEN ({plans})[x.plan] WHEN x.u9 < 0.1 THEN 'Clube' ELSE '' END",
            "mrr": f"CASE WHEN x.kind = 'company' THEN round((({lows})[x.plan] + x.u9 * (({highs})[x.plan] - "
            f"({lows})[x.plan]))::numeric, 2) WHEN x.u9 < 0.1 THEN 29.90 ELSE 0 END",
            "external_id": "'BENCH-' || lpad(x.g::text, 7, '0')",
            "stage": f"CASE WHEN x.created_at > {NOW} - interval '30 days' THEN 'adoption' {' '.join(bounds)} "
            "ELSE 'churned' END",
            "language": "'pt-br'",
        },
        f"""
        FROM (SELECT g, CASE WHEN mod(g, 3) = 1 THEN 'company' ELSE 'person' END AS kind,
                     {NOW} - interval '{MONTHS} months' * random() ^ 1.25 AS created_at,
                     ({CPF_SEED_BASE} + g) % 1000000000 AS cpf_base,
                     (({CNPJ_SEED_BASE} + g::bigint) % 100000000) * 10000 + 1 AS cnpj_base,
                     f.name AS first, f.ascii AS first_ascii, l.name AS last, l.ascii AS last_ascii,
                     m.name AS middle, 1 + floor(random() * {len(B2B_PLANS)})::int AS plan,
                     random() AS u1, random() AS u2, random() AS u3, random() AS u4, random() AS u5,
                     random() AS u6, random() AS u7, random() AS u8, random() AS u9, random() AS u_stage
              FROM (SELECT g, 1 + floor(random() * {len(first)})::int AS fi,
                           1 + floor(random() * {len(last)})::int AS li,
                           1 + floor(random() * {len(last)})::int AS mi
                    FROM generate_series(1, {n}) g OFFSET 0) p
              JOIN bk_first f ON f.i = p.fi JOIN bk_last l ON l.i = p.li JOIN bk_last m ON m.i = p.mi
              OFFSET 0) x
        CROSS JOIN LATERAL (
            -- check digits (customers.validators): the second one's sum is the first's weights shifted
            -- plus the first digit times the last weight, so no sum is written twice
            SELECT z.c1, (z.s2 + z.c1 * 2) * 10 % 11 % 10 AS c2,
                   z.d1, (11 - (z.t2 + z.d1 * 2) % 11) % 11 % 10 AS d2
            FROM (SELECT w.*, w.s1 * 10 % 11 % 10 AS c1, (11 - w.t1 % 11) % 11 % 10 AS d1
                  FROM (SELECT {_digit_sum(cpf, 9, list(range(10, 1, -1)))} AS s1,
                               {_digit_sum(cpf, 9, list(range(11, 2, -1)))} AS s2,
                               {_digit_sum(cnpj, 12, cnpj_w1)} AS t1,
                               {_digit_sum(cnpj, 12, [6, *cnpj_w1[:-1]])} AS t2
                        OFFSET 0) w) z
        ) y
        """,
    )


def _name_tables(first: list[str], last: list[str], to_ascii: Callable[[str], str]) -> None:
    """bk_first / bk_last: Faker's pt-BR names with their ASCII e-mail form, numbered for picking."""
    from django.db import connection
    from psycopg2.extras import execute_values

    execute(
        "CREATE TEMP TABLE bk_first (i int PRIMARY KEY, name text, ascii text); "
        "CREATE TEMP TABLE bk_last (i int PRIMARY KEY, name text, ascii text)"
    )
    with connection.cursor() as cursor:
        for table, names in (("bk_first", first), ("bk_last", last)):
            execute_values(
                cursor.cursor,
                f"INSERT INTO {table} VALUES %s",
                [(i, name, to_ascii(name)) for i, name in enumerate(names, start=1)],
            )


def stage_history() -> int:
    """The entry into adoption at creation, then the moves that lead to the current stage along the
    default transition rules, spread over the customer's life (the last one before now)."""
    from funnel.models import StageChange

    execute(
        """
        CREATE TEMP TABLE bk_paths (stage text, variant int, variants int, steps text[]);
        INSERT INTO bk_paths VALUES
          ('adoption', 0, 1, ARRAY[]::text[]),
          ('retention', 0, 1, ARRAY['retention']),
          ('expansion', 0, 2, ARRAY['retention', 'expansion']),
          ('expansion', 1, 2, ARRAY['expansion']),
          ('evangelization', 0, 3, ARRAY['retention', 'expansion', 'evangelization']),
          ('evangelization', 1, 3, ARRAY['retention', 'evangelization']),
          ('evangelization', 2, 3, ARRAY['expansion', 'evangelization']),
          ('churned', 0, 3, ARRAY['churned']),
          ('churned', 1, 3, ARRAY['retention', 'churned']),
          ('churned', 2, 3, ARRAY['retention', 'expansion', 'churned']);
        """
    )
    entries = insert_select(
        StageChange,
        {
            "customer_id": "c.id",
            "from_stage": "''",
            "to_stage": "'adoption'",
            "changed_at": "c.created_at",
            "source": "'system'",
            "reason": "'Entrada no funil (carga do benchmark).'",
        },
        "FROM customers_customer c",
    )
    moves = insert_select(
        StageChange,
        {
            "customer_id": "c.id",
            "from_stage": "CASE WHEN s.i = 1 THEN 'adoption' ELSE p.steps[s.i - 1] END",
            "to_stage": "p.steps[s.i]",
            "changed_at": f"c.created_at + ({NOW} - c.created_at) * "
            "((s.i - 1 + 0.15 + 0.7 * random()) / cardinality(p.steps) * 0.98)",
            "changed_by_id": "CASE WHEN s.manual THEN c.owner_id END",
            "rule_id": "CASE WHEN s.manual THEN NULL ELSE r.id END",
            "source": "CASE WHEN s.manual THEN 'manual' ELSE 'rule' END",
            "reason": "CASE WHEN s.manual THEN 'Movido pelo CS.' ELSE '' END",
        },
        """
        FROM customers_customer c
        -- the path by a hash of the id (the id alone would give every company the same path: kind = id mod 3)
        JOIN bk_paths p ON p.stage = c.stage AND p.variant = mod(hashint8(c.id)::bigint + 2147483648, p.variants)
        CROSS JOIN LATERAL (SELECT i, random() < 0.25 AS manual
                            FROM generate_series(1, cardinality(p.steps)) i) s
        LEFT JOIN funnel_transitionrule r ON r.kind = CASE p.steps[s.i]
            WHEN 'retention' THEN 'adoption_days' WHEN 'expansion' THEN 'upsell'
            WHEN 'evangelization' THEN 'promoter'
            ELSE CASE WHEN c.kind = 'company' THEN 'contract_cancelled' ELSE 'no_purchase_days' END END
        """,
    )
    return entries + moves


def customer_index() -> int:
    """A temp table of the customers with a dense random-pick number (rn) and the end of their life
    (the churn date, or now): every later table draws its customers and dates from it."""
    execute(
        f"""
        CREATE TEMP TABLE bk_c AS
        SELECT c.id, row_number() OVER (ORDER BY c.id)::int AS rn, c.kind, c.stage, c.created_at,
               coalesce(sc.changed_at, {NOW}) AS end_at, sc.id AS churn_change_id,
               c.owner_id, c.segment_id, c.email, c.phone, c.plan, c.mrr, c.external_id, c.name
        FROM customers_customer c
        LEFT JOIN funnel_stagechange sc ON sc.customer_id = c.id AND sc.to_stage = 'churned';
        CREATE UNIQUE INDEX ON bk_c (rn);
        CREATE UNIQUE INDEX ON bk_c (id);
        ANALYZE bk_c;
        """
    )
    return scalar("SELECT count(*) FROM bk_c")


def random_customers(count: int, alias: str = "c") -> str:
    """FROM-clause fragment: ``count`` rows (g) each with a uniformly drawn customer ``alias``."""
    n = scalar("SELECT count(*) FROM bk_c")
    return f"""
        (SELECT g, 1 + floor(random() * {n})::int AS rn FROM generate_series(1, {count}) g OFFSET 0) p
        JOIN bk_c {alias} ON {alias}.rn = p.rn
    """


# --- contracts and orders ------------------------------------------------------------------------


def _exp_scale(where: str, total: float) -> float:
    """m such that, summed over the customers of bk_c matching ``where``, floor(Exp(mean m × tenure))
    adds up to ``total`` on average (E[floor(Exp(mean x))] = 1 / (e^(1/x) − 1)); solved by bisection
    on a histogram of the tenure factor, so the counts land on the targets."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT round({_tenure()}::numeric, 2)::float8, count(*) FROM bk_c c WHERE {where} GROUP BY 1")
        histogram = cursor.fetchall()

    def expected(m: float) -> float:
        return sum(n / math.expm1(1 / (m * t)) for t, n in histogram if 1 / (m * t) < 700)

    low, high = 1e-3, 1e3
    for _ in range(60):
        mid = math.sqrt(low * high)
        low, high = (mid, high) if expected(mid) < total else (low, mid)
    return math.sqrt(low * high)


def _tenure(alias: str = "c") -> str:
    """About 0.3 for a customer of a day, 1.9 for one of 36 months; about 1 on average."""
    return (
        f"(0.3 + 1.6 * extract(epoch FROM {alias}.end_at - {alias}.created_at)"
        f" / extract(epoch FROM interval '{MONTHS} months'))"
    )


def contracts(target: int) -> int:
    """Every company: its main contract from the day it became a customer, plus add-ons signed later
    (more the longer it has been a customer, one more in expansion/evangelization). People on the
    "Clube" plan: one subscription. A churned customer's contracts are all cancelled at the churn
    date; one add-on in ten was cancelled on its own (contraction); a quarter of the add-ons older
    than a year expired."""
    from customers.models import Contract

    companies = scalar("SELECT count(*) FROM bk_c WHERE kind = 'company'")
    clube = scalar("SELECT count(*) FROM bk_c WHERE kind = 'person' AND plan = 'Clube'")
    bonus = scalar("SELECT count(*) FROM bk_c WHERE kind = 'company' AND stage IN ('expansion', 'evangelization')")
    m = _exp_scale("c.kind = 'company'", max(target - clube - companies - bonus, 0.01 * companies))
    today = f"({NOW} AT TIME ZONE '{TZ}')::date"
    started = f"(x.started_at AT TIME ZONE '{TZ}')::date"
    churn_reasons = ["Preço acima do orçamento", "Migrou para concorrente", "Encerrou as atividades", "Baixo uso"]
    return insert_select(
        Contract,
        {
            "created_at": "x.started_at",
            "updated_at": "CASE WHEN x.status = 'cancelled' THEN x.cancelled_at ELSE x.started_at END",
            "customer_id": "c.id",
            "external_id": "c.external_id || '-K' || x.g",
            "plan": "CASE WHEN x.g = 1 THEN c.plan ELSE "
            + pick(["Usuários adicionais", "Módulo fiscal", "Integração ERP", "Suporte premium"], "x.u2")
            + " END",
            "started_at": started,
            "ends_at": f"CASE WHEN x.status = 'active' THEN {started} + 365 * (1 + ({today} - {started}) / 365) "
            f"ELSE {started} + 365 END",
            "cancelled_at": f"CASE WHEN x.status = 'cancelled' THEN (x.cancelled_at AT TIME ZONE '{TZ}')::date END",
            "cancel_reason": "CASE WHEN x.status <> 'cancelled' THEN '' WHEN c.stage = 'churned' THEN "
            + pick(churn_reasons, "x.u2")
            + " ELSE 'Redução de escopo' END",
            "mrr": "CASE WHEN c.kind = 'person' THEN 29.90 WHEN x.g = 1 THEN c.mrr "
            "ELSE round((c.mrr * (0.1 + 0.3 * x.u2))::numeric, 2) END",
            "status": "x.status",
            "renewals": f"CASE WHEN x.status = 'active' THEN ({today} - {started}) / 365 ELSE 0 END",
            "auto_renew": "x.status = 'active'",
        },
        f"""
        FROM (SELECT c.*, CASE WHEN c.kind = 'person' THEN 1
                  ELSE 1 + floor(-ln(1 - random()) * {m} * {_tenure()})::int
                       + (c.stage IN ('expansion', 'evangelization'))::int END AS k
              FROM bk_c c WHERE c.kind = 'company' OR c.plan = 'Clube' OFFSET 0) c
        CROSS JOIN LATERAL (
            SELECT y.*, CASE WHEN c.stage = 'churned' THEN 'cancelled'
                             WHEN y.g > 1 AND y.u < 0.10 THEN 'cancelled'
                             WHEN y.g > 1 AND y.u < 0.35
                                  AND (y.started_at AT TIME ZONE '{TZ}')::date < {today} - 365 THEN 'expired'
                             ELSE 'active' END AS status,
                   CASE WHEN c.stage = 'churned' THEN greatest(y.started_at, c.end_at)
                        ELSE y.started_at + random() * ({NOW} - y.started_at) END AS cancelled_at
            FROM (SELECT g, random() AS u, random() AS u2,
                         CASE WHEN g = 1 THEN c.created_at
                              ELSE c.created_at + random() * (c.end_at - c.created_at) END AS started_at
                  FROM generate_series(1, c.k) g) y
        ) x
        """,
    )


def customer_mrr() -> int:
    """Customer.mrr = the MRR of its active contracts (0 without one)."""
    return execute(
        """
        UPDATE customers_customer c SET mrr = coalesce(s.mrr, 0)
        FROM customers_customer c2
        LEFT JOIN (SELECT customer_id, sum(mrr) AS mrr FROM customers_contract
                   WHERE status = 'active' GROUP BY customer_id) s ON s.customer_id = c2.id
        WHERE c.id = c2.id AND c.mrr <> coalesce(s.mrr, 0)
        """
    )


def orders(target: int) -> int:
    """People buy most (their first order the day they became customers), companies some; the number of
    orders grows with tenure, so two buyers in three repurchase. Dates stop at the churn date."""
    from customers.models import Order

    m_person = _exp_scale("c.kind = 'person'", 0.85 * target)
    m_company = _exp_scale("c.kind = 'company'", 0.15 * target)
    products_person = ["Kit skincare", "Tênis de corrida", "Cafeteira", "Fone Bluetooth", "Smartwatch", "Mochila"]
    products_company = ["Licença anual", "Treinamento", "Implantação", "Pacote de horas", "Equipamento"]
    return insert_select(
        Order,
        {
            "created_at": "x.purchased_at",
            "updated_at": "x.purchased_at",
            "customer_id": "c.id",
            "external_id": "c.external_id || '-O' || x.g",
            "purchased_at": "x.purchased_at",
            "amount": "CASE WHEN c.kind = 'person' THEN round((19.9 + exp(3 + 2 * x.u2))::numeric, 2) "
            "ELSE round((300 + exp(5 + 3.5 * x.u2))::numeric, 2) END",
            "status": f"CASE WHEN x.purchased_at > {NOW} - interval '2 days' AND x.u < 0.3 THEN 'pending' "
            "WHEN x.u < 0.04 THEN 'cancelled' WHEN x.u < 0.09 THEN 'refunded' ELSE 'paid' END",
            "channel": "CASE WHEN c.kind = 'person' THEN "
            + pick(["online", "online", "marketplace", "whatsapp", "instagram", "store"], "x.u3")
            + " ELSE "
            + pick(["sales", "sales", "phone", "online"], "x.u3")
            + " END",
            "product": "CASE WHEN c.kind = 'person' THEN "
            + pick(products_person, "x.u4")
            + " ELSE "
            + pick(products_company, "x.u4")
            + " END",
        },
        f"""
        FROM (SELECT c.*, floor(-ln(1 - random()) * CASE WHEN c.kind = 'person' THEN {m_person} ELSE {m_company} END
                                * {_tenure()})::int AS k
              FROM bk_c c OFFSET 0) c
        CROSS JOIN LATERAL (
            SELECT g, random() AS u, random() AS u2, random() AS u3, random() AS u4,
                   CASE WHEN g = 1 AND c.kind = 'person'
                        THEN least(c.end_at, c.created_at + random() * interval '2 hours')
                        ELSE c.created_at + random() * (c.end_at - c.created_at) END AS purchased_at
            FROM generate_series(1, c.k) g
        ) x
        """,
    )


# --- support -------------------------------------------------------------------------------------


def business_clock(now: datetime) -> int:
    """bk_workday: every local day of the book with its working window and the working seconds before
    it, from support.calendar (so the configured hours and the national and extra holidays count).
    Working seconds up to a moment are then one join on its local day (see tickets()), and "the
    moment N working seconds after" one width_bucket() over the days' running totals."""
    from django.db import connection
    from django.utils import timezone
    from psycopg2.extras import execute_values

    from support.calendar import business_calendar

    calendar = business_calendar()
    local_now = timezone.localtime(now).date()
    day = local_now - timedelta(days=MONTHS * 31 + 31)
    last = local_now + timedelta(days=400)
    rows: list[tuple[Any, ...]] = []
    cumulative = 0.0
    while day <= last:
        window = calendar.window(day)
        length = (window[1] - window[0]).total_seconds() if window else 0.0
        rows.append((day, window[0] if window else None, length, cumulative))
        cumulative += length
        day += timedelta(days=1)
    execute("CREATE TEMP TABLE bk_workday (day date PRIMARY KEY, open_at timestamptz, len float8, cum_before float8)")
    with connection.cursor() as cursor:
        execute_values(cursor.cursor, "INSERT INTO bk_workday VALUES %s", rows, page_size=2000)
    execute("ANALYZE bk_workday")
    return len(rows)


def tickets(target: int, *, teams: dict[str, int]) -> int:
    """Tickets opened during the customers' lives: first response and resolution drawn per priority
    (log-normal), a third wait on the customer (the SLA clock pauses), some reopened; the SLA due
    times, breach flags and figures follow support.sla's rules on the business calendar, at "now"."""
    from support.models import SlaPolicy, Ticket

    policies = {(p.priority, p.segment_id): p for p in SlaPolicy.objects.all()}
    segment_ids = [
        None,
        *(scalar("SELECT array_agg(DISTINCT segment_id) FROM bk_c WHERE segment_id IS NOT NULL") or []),
    ]
    values = []
    for priority in ("low", "normal", "high", "urgent"):
        for segment_id in segment_ids:
            policy = policies.get((priority, segment_id)) or policies.get((priority, None))
            if policy is not None:
                values.append(
                    f"('{priority}', {segment_id or 0}, {policy.pk}, {policy.first_response_minutes * 60}, "
                    f"{policy.resolution_minutes * 60}, {str(policy.business_hours).lower()})"
                )
    execute(
        "CREATE TEMP TABLE bk_policy (priority text, segment_key bigint, id bigint, fr_s float8, res_s float8, "
        "business bool); " + (f"INSERT INTO bk_policy VALUES {', '.join(values)}" if values else "")
    )
    n1, n2 = teams["Bench — Atendimento N1"], teams["Bench — Atendimento N2"]
    agents = scalar("SELECT array_agg(id ORDER BY id) FROM auth_user WHERE username LIKE 'bench_agente%'")
    agents_sql = f"ARRAY{agents}::bigint[]" if agents else "ARRAY[NULL]::bigint[]"
    categories = ["question", "problem", "billing", "delivery", "return", "complaint", "other"]
    subjects = [
        "Dúvida sobre o plano",
        "Erro ao acessar o sistema",
        "Cobrança em duplicidade",
        "Pedido não entregue",
        "Troca de produto",
        "Reclamação sobre o atendimento",
        "Solicitação de cadastro",
    ]

    def cum(t: str, w: str) -> str:
        """Working seconds from the start of bk_workday up to ``t`` (``w`` = its day's row)."""
        return f"({w}.cum_before + least(greatest(coalesce(extract(epoch FROM {t} - {w}.open_at), 0), 0), {w}.len))"

    def local_day(t: str) -> str:
        return f"({t} AT TIME ZONE '{TZ}')::date"

    def at(c: str, i: str) -> str:
        """The moment the clock of the ticket's policy reads ``c`` (``i`` = width_bucket of c)."""
        return f"CASE WHEN h.business THEN a.opens[{i}] + make_interval(secs => {c} - a.cum[{i}]) ELSE to_timestamp({c}) END"

    priority = pick(["low"] + ["normal"] * 6 + ["high"] * 3 + ["urgent"])  # 1 : 6 : 3 : 1
    with_sql = f"""
    WITH t AS MATERIALIZED (
        SELECT p.g, c.id AS customer_id, c.owner_id, coalesce(c.segment_id, 0) AS segment_key,
               c.created_at + random() * (c.end_at - c.created_at) AS opened_at,
               {priority} AS priority,
               1 + floor(random() * {len(categories)})::int AS cat,
               random() < 0.04 AS no_reply, random() < 0.30 AS waited, random() < 0.07 AS reopened,
               random() AS u, random() AS u2, random() AS u3
        FROM {random_customers(target)}
    ), d AS MATERIALIZED (
        SELECT t.*, pol.id AS policy_id, pol.fr_s, pol.res_s, pol.business, y.fr_at, y.wait_end,
               y.wait_end + make_interval(secs => least(40 * 86400, y.res_median * exp(1.2 * pg_temp.bk_z())))
               + CASE WHEN t.reopened THEN make_interval(secs => least(10 * 86400, 8 * 3600 * exp(pg_temp.bk_z())))
                      ELSE interval '0' END AS res_at
        FROM t
        LEFT JOIN bk_policy pol ON pol.priority = t.priority AND pol.segment_key = t.segment_key  -- none: no SLA
        CROSS JOIN LATERAL (
            SELECT z.*, z.fr_at + CASE WHEN t.waited
                        THEN make_interval(secs => least(10 * 86400, 4 * 3600 * exp(pg_temp.bk_z())))
                        ELSE interval '0' END AS wait_end
            FROM (SELECT t.opened_at + make_interval(secs => least(20 * 86400, CASE t.priority
                             WHEN 'urgent' THEN 1800 WHEN 'high' THEN 3 * 3600 WHEN 'normal' THEN 6 * 3600
                             ELSE 12 * 3600 END * exp(1.1 * pg_temp.bk_z()))) AS fr_at,
                         CASE t.priority WHEN 'urgent' THEN 3 * 3600 WHEN 'high' THEN 10 * 3600
                             WHEN 'normal' THEN 24 * 3600 ELSE 48 * 3600 END AS res_median) z
        ) y
    ), k AS MATERIALIZED (
        SELECT d.*, {cum("d.opened_at", "w1")} AS b_open, {cum("d.fr_at", "w2")} AS b_fr,
               {cum("d.wait_end", "w3")} AS b_wait, {cum("d.res_at", "w4")} AS b_res,
               CASE WHEN d.fr_at > {NOW} THEN 'new'
                    WHEN d.res_at > {NOW} THEN CASE WHEN d.waited AND d.wait_end > {NOW} THEN 'waiting'
                                                   WHEN d.u < 0.12 THEN 'on_hold'
                                                   WHEN d.reopened THEN 'reopened' ELSE 'open' END
                    WHEN d.res_at + interval '3 days' < {NOW} AND d.u2 < 0.7 THEN 'closed'
                    ELSE 'resolved' END AS state
        FROM d
        JOIN bk_workday w1 ON w1.day = {local_day("d.opened_at")}
        JOIN bk_workday w2 ON w2.day = {local_day("d.fr_at")}
        JOIN bk_workday w3 ON w3.day = {local_day("d.wait_end")}
        JOIN bk_workday w4 ON w4.day = {local_day("d.res_at")}
    ), c AS (
        -- the SLA clock: working seconds under a business-hours policy, wall-clock seconds otherwise
        SELECT k.*, y.*, CASE WHEN k.waited THEN y.c_wait - y.c_fr ELSE 0 END AS wait_clk,
               CASE WHEN k.state = 'new' OR k.no_reply THEN NULL ELSE k.fr_at END AS first_response_at
        FROM k CROSS JOIN LATERAL (
            SELECT CASE WHEN k.business THEN k.b_open ELSE extract(epoch FROM k.opened_at) END AS c_open,
                   CASE WHEN k.business THEN k.b_fr ELSE extract(epoch FROM k.fr_at) END AS c_fr,
                   CASE WHEN k.business THEN k.b_wait ELSE extract(epoch FROM k.wait_end) END AS c_wait,
                   CASE WHEN k.business THEN k.b_res ELSE extract(epoch FROM k.res_at) END AS c_res
        ) y
    ), h AS (
        -- the targets on the clock; a resolution due past the waiting pause moves by the pause
        SELECT c.*, c.c_open + c.fr_s AS fr_clk,
               c.c_open + c.res_s + CASE WHEN c.state <> 'new' AND c.c_open + c.res_s > c.c_fr
                                         THEN c.wait_clk ELSE 0 END AS res_clk
        FROM c
    ), a AS MATERIALIZED (
        SELECT array_agg(cum_before ORDER BY day) AS cum, array_agg(open_at ORDER BY day) AS opens
        FROM bk_workday WHERE open_at IS NOT NULL
    ), f AS (
        SELECT h.*, {at("h.fr_clk", "b.i_fr")} AS fr_due,
               CASE WHEN h.state IN ('new', 'open', 'on_hold', 'reopened')
                    THEN {at("h.res_clk", "b.i_res")} END AS res_due
        FROM h CROSS JOIN a
        CROSS JOIN LATERAL (SELECT width_bucket(h.fr_clk - 1e-6, a.cum) AS i_fr,
                                   width_bucket(h.res_clk - 1e-6, a.cum) AS i_res) b
    )
    """
    resolved = "f.state IN ('resolved', 'closed')"
    return insert_select(
        Ticket,
        {
            "created_at": "f.opened_at",
            "updated_at": f"least({NOW}, greatest(f.opened_at, f.first_response_at, "
            f"CASE WHEN {resolved} THEN f.res_at END, CASE WHEN f.state = 'closed' THEN f.res_at + interval '3 days' END))",
            "customer_id": "f.customer_id",
            "subject": f"({sql_array(subjects)})[f.cat]",
            "channel": pick(["email", "email", "phone", "whatsapp", "whatsapp", "chat", "web"], "f.u3"),
            "category": f"({sql_array(categories)})[f.cat]",
            "priority": "f.priority",
            "assignee_id": f"CASE WHEN f.state = 'new' AND f.u < 0.5 THEN NULL ELSE coalesce(f.owner_id, "
            f"({agents_sql})[1 + floor(f.u3 * {max(len(agents or []), 1)})::int]) END",
            "team_id": f"CASE WHEN f.priority = 'urgent' OR f.u2 < 0.2 THEN {n2} ELSE {n1} END",
            "status": "f.state",
            "opened_at": "f.opened_at",
            "first_response_at": "f.first_response_at",
            "resolved_at": f"CASE WHEN {resolved} THEN f.res_at END",
            "closed_at": "CASE WHEN f.state = 'closed' THEN f.res_at + interval '3 days' END",
            "reopen_count": f"CASE WHEN f.reopened AND (f.state = 'reopened' OR {resolved}) THEN 1 ELSE 0 END",
            "sla_policy_id": "f.policy_id",
            "first_response_due_at": "f.fr_due",
            "resolution_due_at": "f.res_due",
            "resolution_paused": "f.state = 'waiting'",
            "resolution_remaining_seconds": "CASE WHEN f.state = 'waiting' THEN (f.res_s - (f.c_fr - f.c_open))::int END",
            "first_response_breached": f"coalesce(coalesce(f.first_response_at, {NOW}) > f.fr_due, false)",
            "resolution_breached": f"coalesce(CASE WHEN {resolved} THEN f.c_res - f.c_open - f.wait_clk > f.res_s "
            f"WHEN f.state = 'waiting' THEN f.c_fr - f.c_open > f.res_s ELSE f.res_due <= {NOW} END, false)",
            "first_response_seconds": "extract(epoch FROM f.first_response_at - f.opened_at)::int",
            "first_response_business_seconds": "CASE WHEN f.first_response_at IS NOT NULL "
            "THEN (f.b_fr - f.b_open)::int END",
            "resolution_seconds": f"CASE WHEN {resolved} THEN extract(epoch FROM f.res_at - f.opened_at)::int END",
            "resolution_business_seconds": f"CASE WHEN {resolved} THEN (f.b_res - f.b_open)::int END",
        },
        "FROM f",
        with_sql=with_sql,
    )


# --- surveys -------------------------------------------------------------------------------------


def invitations(target_responses: int, *, surveys: dict[str, Any]) -> int:
    """Per survey: answered = its share of the responses, sent = answered ÷ its response rate, plus 5 %
    not sent (fatigue rule). Who and when follows the trigger: relationship waves to random customers
    during their life, a week after a paid order, an hour after a resolved ticket, a day after churn."""
    from surveys.models import Invitation

    total = 0
    orders_paid = scalar("SELECT count(*) FROM customers_order WHERE status = 'paid'")
    for name, _kind, trigger, share, rate in SURVEYS:
        survey = surveys[name]
        answered = round(target_responses * share)
        sent = round(answered / rate)
        count = sent + round(sent * SKIPPED_SHARE)
        if trigger == "recurring":
            source = f"""SELECT p.g, c.id AS customer_id, c.created_at + random() * (c.end_at - c.created_at) AS at,
                                'wave:bench-' || p.g AS source_key, 'wave' AS source
                         FROM {random_customers(count)}"""
        elif trigger == "after_order":
            stride = max(1, orders_paid // max(count * 2, 1))
            source = f"""SELECT row_number() OVER () AS g, q.* FROM (
                             SELECT o.customer_id, o.purchased_at + interval '7 days' AS at,
                                    'order:' || o.id AS source_key, 'order' AS source
                             FROM customers_order o
                             WHERE o.status = 'paid' AND mod(o.id, {stride}) = 0
                               AND o.purchased_at < {NOW} - interval '7 days'
                             ORDER BY o.id LIMIT {count}) q"""
        elif trigger == "after_ticket":
            order = "" if survey.kind == "csat" else "DESC"
            source = f"""SELECT row_number() OVER () AS g, q.* FROM (
                             SELECT t.customer_id, least({NOW}, t.resolved_at + interval '1 hour') AS at,
                                    'ticket:' || t.id || ':0' AS source_key, 'ticket' AS source
                             FROM support_ticket t WHERE t.resolved_at IS NOT NULL
                             ORDER BY t.id {order} LIMIT {count}) q"""
        else:
            source = f"""SELECT row_number() OVER () AS g, q.* FROM (
                             SELECT c.id AS customer_id, least({NOW}, c.end_at + interval '1 day') AS at,
                                    'churn:' || c.churn_change_id AS source_key, 'churn' AS source
                             FROM bk_c c WHERE c.stage = 'churned' ORDER BY c.id LIMIT {count}) q"""
        status = f"CASE WHEN s.g <= {answered} THEN 'answered' WHEN s.g <= {sent} THEN 'sent' ELSE 'skipped' END"
        total += insert_select(
            Invitation,
            {
                "survey_id": str(survey.pk),
                "customer_id": "s.customer_id",
                "nonce": f"md5('{survey.pk}:' || s.source_key)",
                "source": "s.source",
                "source_key": "s.source_key",
                "status": "s.status",
                "skip_reason": "CASE WHEN s.status = 'skipped' THEN 'fatigue' ELSE '' END",
                "language": "'pt-br'",
                "due_at": "s.at",
                "sent_at": "CASE WHEN s.status <> 'skipped' THEN s.at END",
                "expires_at": f"CASE WHEN s.status <> 'skipped' THEN s.at + interval '{survey.link_valid_days} days' END",
                "reminder_due_at": "CASE WHEN s.status <> 'skipped' THEN s.at + interval '3 days' END",
                "reminded_at": f"CASE WHEN s.status = 'sent' AND s.at + interval '3 days' < {NOW} "
                "THEN s.at + interval '3 days' END",
                "created_at": "s.at",
            },
            f"FROM (SELECT src.*, {status.replace('s.g', 'src.g')} AS status FROM ({source}) src) s",
        )
    return total


def responses(*, surveys: dict[str, Any]) -> int:
    """One response per answered invitation, a few hours after the send. NPS leans on the customer's
    stage (promoters in expansion/evangelization, detractors among the churned), so NPS per segment or
    stage differs; detractors and CSAT 1–2 need a follow-up, most of them closed two days later."""
    from surveys.models import Response

    ids = ", ".join(str(s.pk) for s in surveys.values())
    nps_normal = [2, 4, 5, 6, 6, 7, 7, 7, 8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10]
    nps_happy = [6, 7, 8, 8, 9, 9, 9, 9, 9, 10, 10, 10, 10, 10, 10, 9, 8, 7, 10, 9]
    nps_unhappy = [0, 1, 2, 3, 3, 4, 4, 5, 5, 6, 6, 6, 7, 7, 8, 8, 9, 10, 5, 6]
    csat = [1, 2, 2, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 4, 3, 5, 4, 5]
    ces = [1, 2, 3, 3, 4, 4, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 5, 6, 7, 6]

    def arr(values: list[int]) -> str:
        return f"(ARRAY{values})[1 + floor(random() * {len(values)})::int]"

    reasons = ["Preço alto", "Migrei para concorrente", "Não uso mais o produto", "Atendimento", "Problemas técnicos"]
    comments = [
        "Entrega rápida, gostei muito.",
        "O atendimento demorou para responder.",
        "Produto de ótima qualidade.",
        "Poderia ter mais opções de pagamento.",
        "Recomendo para todos.",
    ]
    loop_needed = "((r.kind = 'nps' AND r.score <= 6) OR (r.kind = 'csat' AND r.score <= 2))"
    loop_closed = f"({loop_needed} AND r.answered_at + interval '2 days' < {NOW} AND r.u < 0.7)"
    return insert_select(
        Response,
        {
            "invitation_id": "r.id",
            "survey_id": "r.survey_id",
            "customer_id": "r.customer_id",
            "kind": "r.kind",
            "score": "r.score",
            "category": "CASE r.kind WHEN 'nps' THEN CASE WHEN r.score >= 9 THEN 'promoter' WHEN r.score >= 7 "
            "THEN 'passive' ELSE 'detractor' END "
            "WHEN 'csat' THEN CASE WHEN r.score >= 4 THEN 'satisfied' WHEN r.score = 3 THEN 'neutral' "
            "ELSE 'unsatisfied' END "
            "WHEN 'ces' THEN CASE WHEN r.score >= 5 THEN 'easy' WHEN r.score = 4 THEN 'neutral' ELSE 'difficult' END "
            "ELSE '' END",
            "reason": f"CASE WHEN r.kind = 'exit' THEN {pick(reasons, 'r.u2')} ELSE '' END",
            "comment": f"CASE WHEN r.u2 < 0.3 THEN {pick(comments, 'r.u3')} ELSE '' END",
            "language": "'pt-br'",
            "answered_at": "r.answered_at",
            "updated_at": f"CASE WHEN {loop_closed} THEN r.answered_at + interval '2 days' ELSE r.answered_at END",
            "loop": f"CASE WHEN {loop_closed} THEN 'closed' WHEN {loop_needed} THEN 'open' ELSE '' END",
            "loop_note": f"CASE WHEN {loop_closed} THEN 'Cliente contatado pelo CS.' ELSE '' END",
            "loop_closed_at": f"CASE WHEN {loop_closed} THEN r.answered_at + interval '2 days' END",
            "loop_closed_by_id": f"CASE WHEN {loop_closed} THEN r.owner_id END",
        },
        f"""
        FROM (SELECT i.id, i.survey_id, i.customer_id, s.kind, c.owner_id, random() AS u, random() AS u2,
                     random() AS u3,
                     least({NOW}, i.sent_at + make_interval(secs => least(10 * 86400,
                                                                        4 * 3600 * exp(1.3 * pg_temp.bk_z()))))
                         AS answered_at,
                     CASE s.kind
                         WHEN 'nps' THEN CASE WHEN c.stage IN ('expansion', 'evangelization') THEN {arr(nps_happy)}
                                              WHEN c.stage = 'churned' THEN {arr(nps_unhappy)}
                                              ELSE {arr(nps_normal)} END
                         WHEN 'csat' THEN {arr(csat)}
                         WHEN 'ces' THEN {arr(ces)} END AS score
              FROM surveys_invitation i
              JOIN surveys_survey s ON s.id = i.survey_id
              JOIN bk_c c ON c.id = i.customer_id
              WHERE i.status = 'answered' AND i.survey_id IN ({ids}) OFFSET 0) r
        """,
    )


# --- messaging -----------------------------------------------------------------------------------


def messages(target: int, *, templates: dict[str, Any], surveys: dict[str, Any]) -> int:
    """E-mail (and WhatsApp for customers with a phone) during the customers' lives: half campaigns
    (source campaign:1…36), playbook steps, survey e-mails. Final statuses only (sent, delivered,
    opened, clicked, bounced, complained); the events that led there are message_events()."""
    from messaging.models import Message

    execute("CREATE TEMP TABLE bk_tpl (k int, id bigint, purpose text, subject text, body text)")
    for k, (slug, _name, _purpose) in enumerate(TEMPLATES, start=1):
        template = templates[slug]
        execute(
            f"INSERT INTO bk_tpl VALUES ({k}, {template.pk}, {_literal(template.purpose)}, "
            f"{_literal(template.subject_pt_br)}, {_literal(template.body_pt_br.replace('{primeiro_nome}', '%s'))})"
        )
    survey_id = surveys[SURVEYS[0][0]].pk
    status = (
        "CASE WHEN m.channel = 'email' THEN CASE WHEN m.u < 0.02 THEN 'bounced' WHEN m.u < 0.021 THEN 'complained' "
        "WHEN m.u < 0.05 THEN 'sent' WHEN m.u < 0.55 THEN 'delivered' WHEN m.u < 0.86 THEN 'opened' ELSE 'clicked' END "
        "ELSE CASE WHEN m.u < 0.05 THEN 'sent' WHEN m.u < 0.35 THEN 'delivered' WHEN m.u < 0.8 THEN 'opened' "
        "ELSE 'clicked' END END"
    )
    return insert_select(
        Message,
        {
            "customer_id": "m.customer_id",
            "channel": "m.channel",
            "template_id": "t.id",
            "purpose": "t.purpose",
            "language": "'pt-br'",
            "to_address": "CASE WHEN m.channel = 'email' THEN m.email ELSE m.phone END",
            "subject": "t.subject",
            "body": "replace(t.body, '%s', m.name)",
            "status": status,
            "attempts": "1",
            "provider_message_id": "'bk-' || m.g",
            "idempotency_key": "'bench:' || m.g",
            "automated": "true",
            "source": f"CASE t.purpose WHEN 'marketing' THEN 'campaign:' || (1 + mod(m.g, {MONTHS})) "
            f"WHEN 'service' THEN 'playbook:' || t.k ELSE 'survey:{survey_id}' END",
            "created_at": "m.at",
            "queued_at": "m.at",
            "enqueued_at": "m.at",
            "sent_at": "m.at + interval '2 seconds'",
            "updated_at": f"least({NOW}, m.at + interval '1 day')",
        },
        f"""
        FROM (SELECT p.g, c.id AS customer_id, c.email, c.phone, split_part(c.name, ' ', 1) AS name,
                     c.created_at + random() * (c.end_at - c.created_at) AS at, random() AS u,
                     CASE WHEN c.phone <> '' AND random() < 0.12 THEN 'whatsapp' ELSE 'email' END AS channel,
                     random() AS kind_u
              FROM {random_customers(target)} OFFSET 0) m
        JOIN bk_tpl t ON t.k = CASE WHEN m.kind_u < 0.25 THEN 1 WHEN m.kind_u < 0.5 THEN 2 WHEN m.kind_u < 0.68 THEN 3
                                    WHEN m.kind_u < 0.85 THEN 4 ELSE 5 END
        """,
    )


def message_events() -> int:
    """delivered (delivered, opened, clicked, complained), opened (a quarter opened twice), clicked (a
    fifth twice), bounced, complained, and unsubscribed from a few opened campaign e-mails — so unique
    open and click rates come from the events, not from the final status."""
    from messaging.models import MessageEvent

    return insert_select(
        MessageEvent,
        {"message_id": "m.id", "event_type": "e.event_type", "at": "e.at", "created_at": "e.at"},
        f"""
        FROM (SELECT z.*, least({NOW}, z.t_open + make_interval(secs => 5 + 600 * random())) AS t_click
              FROM (SELECT y.*, least({NOW}, y.t_del + make_interval(secs => least(7 * 86400,
                                                                   3600 * exp(1.5 * pg_temp.bk_z())))) AS t_open
                    FROM (SELECT m.id, m.status, m.purpose, random() AS u,
                                 least({NOW}, m.sent_at + make_interval(secs => 1 + 30 * random())) AS t_del
                          FROM messaging_message m) y) z) m
        CROSS JOIN LATERAL (VALUES
            ('delivered', m.t_del, m.status IN ('delivered', 'opened', 'clicked', 'complained')),
            ('opened', m.t_open, m.status IN ('opened', 'clicked')),
            ('opened', least({NOW}, m.t_open + make_interval(secs => 60 + 86400 * random())),
             m.status IN ('opened', 'clicked') AND m.u < 0.25),
            ('clicked', m.t_click, m.status = 'clicked'),
            ('clicked', least({NOW}, m.t_click + make_interval(secs => 30 + 3600 * random())),
             m.status = 'clicked' AND m.u > 0.8),
            ('bounced', m.t_del, m.status = 'bounced'),
            ('complained', m.t_open, m.status = 'complained'),
            ('unsubscribed', m.t_click, m.purpose = 'marketing' AND m.status IN ('opened', 'clicked') AND m.u > 0.98)
        ) e(event_type, at, keep)
        WHERE e.keep
        """,
    )


# --- loyalty -------------------------------------------------------------------------------------


def loyalty_accounts() -> int:
    """Nearly half the people joined the programme when they became customers."""
    from loyalty.models import Account

    rows = insert_select(
        Account,
        {
            "customer_id": "c.id",
            "referral_code": "'BK' || upper(to_hex(c.id))",
            "birthday": "CASE WHEN random() < 0.5 THEN date '1960-01-01' + floor(random() * 16000)::int END",
            "created_at": "c.created_at",
        },
        "FROM bk_c c WHERE c.kind = 'person' AND random() < 0.45",
    )
    execute(
        """
        CREATE TEMP TABLE bk_acc AS
        SELECT a.id, row_number() OVER (ORDER BY a.id)::int AS arn, c.id AS customer_id, c.created_at, c.end_at
        FROM loyalty_account a JOIN bk_c c ON c.id = a.customer_id;
        CREATE UNIQUE INDEX ON bk_acc (arn);
        ANALYZE bk_acc;
        """
    )
    return rows


def referrals(target: int) -> int:
    """~30 % converted: the referred person (with an order) became a customer after the referrer, and
    converted at its first order; the rest are still just sent, to made-up addresses."""
    from loyalty.models import Referral

    accounts = scalar("SELECT count(*) FROM bk_acc")
    if not accounts:
        return 0
    converted_target = round(target * 0.3)
    people = scalar("SELECT count(*) FROM bk_c WHERE kind = 'person'")
    stride = max(1, people // max(converted_target * 4, 1))
    converted = insert_select(
        Referral,
        {
            "referrer_id": "q.referrer_id",
            "email": "q.email",
            "name": "q.name",
            "referred_id": "q.referred_id",
            "status": "'converted'",
            "created_at": "greatest(q.referrer_created, q.converted_at - random() * interval '20 days')",
            "converted_at": "q.converted_at",
        },
        f"""
        FROM (SELECT a.id AS referrer_id, a.created_at AS referrer_created, p.id AS referred_id, p.email, p.name,
                     (SELECT min(o.purchased_at) FROM customers_order o WHERE o.customer_id = p.id) AS converted_at
              FROM (SELECT c.*, 1 + floor(random() * {accounts})::int AS pick FROM bk_c c
                    WHERE c.kind = 'person' AND mod(c.id, {stride}) = 0 OFFSET 0) p
              JOIN bk_acc a ON a.arn = p.pick
              WHERE a.customer_id <> p.id AND a.created_at < p.created_at - interval '1 day'
                AND EXISTS (SELECT 1 FROM customers_order o WHERE o.customer_id = p.id)
              LIMIT {converted_target}) q
        """,
    )
    first_names = ["Ana", "Bruno", "Carla", "Diego", "Fernanda", "Gabriel", "Juliana", "Lucas", "Mariana", "Rafael"]
    sent = insert_select(
        Referral,
        {
            "referrer_id": "a.id",
            "email": "'indicacao' || p.g || '@example.net'",
            "name": pick(first_names, "p.u"),
            "status": "'sent'",
            "created_at": "a.created_at + p.u2 * (a.end_at - a.created_at)",
        },
        f"""
        FROM (SELECT g, 1 + floor(random() * {accounts})::int AS arn, random() AS u, random() AS u2
              FROM generate_series(1, {max(target - converted, 0)}) g OFFSET 0) p
        JOIN bk_acc a ON a.arn = p.arn
        """,
    )
    return converted + sent


def loyalty_entries() -> int:
    """Points for the paid orders of the last 12 months (what has not expired) and referral points
    for both sides of a conversion (the referred side when it has an account)."""
    from loyalty.models import Entry, Programme

    programme = Programme.objects.first()
    per_real = programme.points_per_real if programme else Decimal("1.00")
    referral_points = programme.referral_points if programme else 200
    expiry = programme.expiry_months if programme else 12
    order_entries = insert_select(
        Entry,
        {
            "account_id": "a.id",
            "kind": "'earn'",
            "currency": "'points'",
            "amount": f"greatest(1, floor(o.amount * {per_real}))",
            "reason": "'Pontos da compra'",
            "source": "'order'",
            "source_ref": "o.id::text",
            "idempotency_key": "'order:' || o.id || ':points'",
            "expires_at": f"o.purchased_at + interval '{expiry} months'",
            "created_at": "o.purchased_at",
        },
        f"""
        FROM customers_order o JOIN loyalty_account a ON a.customer_id = o.customer_id
        WHERE o.status = 'paid' AND o.purchased_at >= {NOW} - interval '12 months'
        """,
    )
    referral_entries = insert_select(
        Entry,
        {
            "account_id": "s.account_id",
            "kind": "'earn'",
            "currency": "'points'",
            "amount": str(referral_points),
            "reason": "CASE s.side WHEN 'referrer' THEN 'Indicação convertida' ELSE 'Bônus de boas-vindas' END",
            "source": "'referral'",
            "source_ref": "r.id::text",
            "idempotency_key": "'referral:' || r.id || ':' || s.side",
            "expires_at": f"r.converted_at + interval '{expiry} months'",
            "created_at": "r.converted_at",
        },
        """
        FROM loyalty_referral r
        LEFT JOIN loyalty_account ra ON ra.customer_id = r.referred_id
        CROSS JOIN LATERAL (VALUES ('referrer', r.referrer_id), ('referred', ra.id)) s(side, account_id)
        WHERE r.status = 'converted' AND s.account_id IS NOT NULL
        """,
    )
    return order_entries + referral_entries


# --- main ----------------------------------------------------------------------------------------


def vacuum_analyze() -> None:
    for table in TABLES:
        execute(f"VACUUM ANALYZE {table}")


def summary(database_url: str) -> None:
    print("row counts:")
    for table in TABLES:
        print(f"  {table:<28} {scalar(f'SELECT count(*) FROM {table}'):>12,}")
    facts = {
        "contracts cancelled": "SELECT round(100.0 * avg((status = 'cancelled')::int), 1) FROM customers_contract",
        "contracts expired": "SELECT round(100.0 * avg((status = 'expired')::int), 1) FROM customers_contract",
        "buyers with 2+ orders": "SELECT round(100.0 * avg((n >= 2)::int), 1) FROM "
        "(SELECT count(*) AS n FROM customers_order GROUP BY customer_id) s",
        "survey response rate": "SELECT round(100.0 * sum((status = 'answered')::int) / "
        "nullif(sum((status IN ('sent', 'answered'))::int), 0), 1) FROM surveys_invitation",
        "tickets resolved or closed": "SELECT round(100.0 * avg((resolved_at IS NOT NULL)::int), 1) FROM support_ticket",
        "resolved tickets breaching SLA": "SELECT round(100.0 * avg((resolution_breached OR first_response_breached)"
        "::int), 1) FROM support_ticket WHERE resolved_at IS NOT NULL",
        "unique opens / delivered": "SELECT round(100.0 * count(DISTINCT message_id) FILTER (WHERE event_type = "
        "'opened') / nullif(count(*) FILTER (WHERE event_type = 'delivered'), 0), 1) FROM messaging_messageevent",
        "customers created in the last 12 months": f"SELECT round(100.0 * avg((created_at >= {NOW} - "
        "interval '12 months')::int), 1) FROM customers_customer",
    }
    print("shape (%):")
    for label, sql in facts.items():
        print(f"  {label:<40} {scalar(sql)}")
    size = scalar("SELECT pg_size_pretty(pg_database_size(current_database()))")
    print(f"database {database_url.rsplit('/', 1)[-1]}: {size}")


def session_setup(seed: int) -> None:
    execute(
        "SET work_mem = '256MB'; SET maintenance_work_mem = '1GB'; SET synchronous_commit = off; "
        "SET max_parallel_workers_per_gather = 0; SET jit = off; "
        "CREATE FUNCTION pg_temp.bk_z() RETURNS float8 LANGUAGE sql VOLATILE "
        "AS $$ SELECT sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) $$; "  # a standard normal draw
        f"SELECT setseed({(seed % 1000) / 1000})"
    )


def foreign_key_triggers_off() -> bool:
    """Skip the per-row foreign-key triggers while loading (superuser only); foreign_keys_check()
    verifies every key once at the end instead."""
    from django.db import DatabaseError, transaction

    try:
        with transaction.atomic():
            execute("SET session_replication_role = replica")
    except DatabaseError as exc:
        print(f"  (foreign-key triggers stay on: {exc.__class__.__name__})")
        return False
    return True


def main() -> None:
    global NOW
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every count (0.01 for a quick check)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_BOOK_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if "bench" not in args.database_url.rsplit("/", 1)[-1]:
        sys.exit("refusing to TRUNCATE a database whose name does not contain 'bench'")
    if args.scale <= 0:
        sys.exit("--scale must be positive")
    counts = {name: max(1, round(n * args.scale)) for name, n in TARGETS.items()}

    started = time.monotonic()
    ensure_database(args.database_url)
    _setup(args.database_url)
    from django.core.management import call_command

    timings: dict[str, float] = {}
    step("migrate", timings, lambda: call_command("migrate", verbosity=0) and None)
    user_ids, _token = ensure_users()
    now = datetime.now(UTC).replace(microsecond=0)
    NOW = f"'{now.isoformat()}'::timestamptz"
    session_setup(args.seed)
    triggers_off = foreign_key_triggers_off()
    print(f"generating the book at scale {args.scale:g} into {args.database_url} (now = {now:%Y-%m-%d %H:%M} UTC)")
    step("truncate", timings, reset_tables)
    ref: dict[str, Any] = {}
    step("reference rows", timings, lambda: ref.update(reference_rows(user_ids)))
    with bulk_load("customers_customer", timings):
        step("customers", timings, lambda: customers(counts["customers"], user_ids=user_ids, segments=ref["segments"]))
        with bulk_load("funnel_stagechange", timings):
            step("funnel stage changes", timings, stage_history)
        step("customer index (temp)", timings, customer_index)
        with bulk_load("customers_contract", timings):
            step("contracts", timings, lambda: contracts(counts["contracts"]))
        step("customers.mrr from contracts", timings, customer_mrr)
    with bulk_load("customers_order", timings):
        step("orders", timings, lambda: orders(counts["orders"]))
    step("business calendar (temp)", timings, lambda: business_clock(now))
    with bulk_load("support_ticket", timings):
        step("support tickets", timings, lambda: tickets(counts["tickets"], teams=ref["teams"]))
    with bulk_load("surveys_invitation", timings):
        step("survey invitations", timings, lambda: invitations(counts["responses"], surveys=ref["surveys"]))
    with bulk_load("surveys_response", timings):
        step("survey responses", timings, lambda: responses(surveys=ref["surveys"]))
    with bulk_load("messaging_message", timings):
        step(
            "messages",
            timings,
            lambda: messages(counts["messages"], templates=ref["templates"], surveys=ref["surveys"]),
        )
    with bulk_load("messaging_messageevent", timings):
        step("message events", timings, message_events)
    with bulk_load("loyalty_account", timings):
        step("loyalty accounts", timings, loyalty_accounts)
    with bulk_load("loyalty_referral", timings):
        step("loyalty referrals", timings, lambda: referrals(counts["referrals"]))
    with bulk_load("loyalty_entry", timings):
        step("loyalty entries", timings, loyalty_entries)
    if triggers_off:
        execute("SET session_replication_role = DEFAULT")
        step("foreign keys checked", timings, lambda: foreign_keys_check(TABLES), unit="keys")
    step("VACUUM ANALYZE", timings, vacuum_analyze)
    execute("DISCARD TEMP")  # the helper tables would count in the database size
    summary(args.database_url)
    print(f"done in {time.monotonic() - started:.1f} s")
    manager = next(username for username, role in BENCH_USERS if role == "cs_manager")
    print(f"manager {manager}")


if __name__ == "__main__":
    main()
