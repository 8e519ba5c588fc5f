"""Set-based import of a customers CSV on PostgreSQL.

The Python path (customers.importer) validates, matches and merges each row in Python; here the
rows go once through COPY into a work table and PostgreSQL does the rest in a few statements:

1. **Stage**: the file is read with the same reader as the Python path (encoding, delimiter,
   blank lines, line numbers, short rows); its cells, stripped as ``str.strip()`` does (tags
   split, de-duplicated and sorted), are COPYed into ``_imp_raw`` (seq, line, cells).
2. **Cells**: one ``INSERT``/``CREATE … AS SELECT`` normalises every cell the way
   ``CustomerImporter.parse_cells`` does — CPF/CNPJ check digits (SQL functions from migration
   0005), e-mail pattern, the common Brazilian phone formats, amounts, kind, language, yes/no,
   owners by a join. A cell outside those plain formats (or invalid) marks its row *odd*; odd
   rows — a few per file — are validated by ``parse_cells`` itself, so every cell error carries
   exactly the Python path's message.
3. **File rules**: duplicate external_id / e-mail / document within the file (first line wins),
   a row without any key.
4. **Matching**: one join against ``customers_customer`` by external_id, lower(e-mail) and
   document with the rules of ``CustomerImporter.plan`` (another customer's e-mail/document, two
   rows for one customer, name required for a new customer, kind against the stored document),
   then, chunk by chunk, the merge with the stored values and the "changed?" comparison (tags
   included) into ``_imp_plan``.
5. **Writes**, chunk by chunk (``chunk_size`` rows of the file, each in its own transaction with
   the job's counters, like the Python path): ``INSERT … SELECT`` of new customers (ids taken from
   the sequence in file order), ``UPDATE … FROM`` of changed ones, tag links, then consents
   (through ``services.consent_record``) and one ``customers_imported`` event per chunk.

Inside a transaction (tests) all of it runs on the caller's connection with TEMP tables. Outside
(the command, the Celery task) the work tables are UNLOGGED and named after the job, and three
things overlap: a second connection normalises each batch of the file while the next is read,
and two writer threads, on their own connections, write chunk N while this connection plans
chunk N+1.

Every row is matched against the customers as they were when the import started (the Python
path matches each chunk against what the chunks before it wrote); the two agree whenever no row
changes a key that a later row of the same file, in another chunk, is matched by.

If the file cannot be staged (a NUL byte, a CSV syntax error part-way) nothing has been written
yet and ``run_customers`` returns None: the caller falls back to the Python path.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from posvenda import events

from . import importer as imp
from .models import Customer, ImportJob

# Work tables (TEMP, or UNLOGGED and named after the job with parallel writers; dropped at the end).
RAW, ROW, BAD, MATCH, PLAN, OWNERS = "_imp_raw", "_imp_row", "_imp_bad", "_imp_match", "_imp_plan", "_imp_owner"
TABLES = (RAW, ROW, BAD, MATCH, PLAN, OWNERS)
# Chunks are written by this many threads, each on its own connection (PostgreSQL has a core each);
# 1 = everything on the caller's connection.
WRITERS = 2
TEXT_COLUMNS = ("external_id", "name", "kind", "document", "email", "phone", "owner", "segment", "tags", "plan")
TEXT_COLUMNS += ("mrr", "language")
# The values a row contributes, as they are stored in _imp_row (tags: sorted names joined by "|").
ROW_COLUMNS = ["seq", "line", "ext", "name", "plan", "segment", "kind", "document", "email", "phone", "owner_id"]
ROW_COLUMNS += ["tags", "mrr", "language", "consents"]
EMAIL_RE = r'^[^@\s,;<>()\[\]"]+@[^@\s,;<>()\[\]"]+\.[^@\s,;<>()\[\]".]{2,}$'
# The file's cells are staged with csv.QUOTE_MINIMAL: an empty (stripped) cell is NULL, and a tags
# cell that is given but holds no tag (" | ") is staged as EMPTY_TAGS.
EMPTY_TAGS = "|"
# Python's values (odd rows) are staged all quoted (csv.QUOTE_NONNUMERIC): this unquoted marker is NULL.
COPY_CSV = "FORMAT csv, NULL '\\N'"


def work_tables(job_id: int) -> tuple[str, ...]:
    """The UNLOGGED work tables of one import (when chunks are written in parallel)."""
    return tuple(f"_import_{int(job_id)}{table[4:]}" for table in TABLES)


class _Null:
    """Written unquoted by csv.QUOTE_NONNUMERIC (it is "numeric"), as the COPY NULL marker."""

    def __float__(self) -> float:
        return 0.0

    def __str__(self) -> str:
        return "\\N"


NULL = _Null()


def _bool_map() -> dict[str, str]:
    return {**dict.fromkeys(imp._TRUE, "1"), **dict.fromkeys(imp._FALSE, "0")}


@dataclass
class _Chunk:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[tuple[int, int, int, imp.RowError]] = field(default_factory=list)  # (phase, line, order, error)


class _Stream:
    """A file-like object psycopg2's copy_expert reads: the staged rows as CSV, a batch at a time."""

    def __init__(self, rows: Iterator[list[Any]], quoting: int = csv.QUOTE_MINIMAL) -> None:
        self.rows = rows
        self.buf = io.StringIO()
        self.writer = csv.writer(self.buf, lineterminator="\n", quoting=quoting)
        self.rest = ""

    def read(self, size: int = -1) -> str:
        if not self.rest:
            batch = list(itertools.islice(self.rows, 2000))
            if not batch:
                return ""
            self.buf.seek(0)
            self.buf.truncate()
            self.writer.writerows(batch)
            self.rest = self.buf.getvalue()
        if size < 0 or size >= len(self.rest):
            out, self.rest = self.rest, ""
        else:
            out, self.rest = self.rest[:size], self.rest[size:]
        return out

    readline = read


def _copy_in(cursor: Any, sql: str, stream: Any) -> None:
    with connection.wrap_database_errors:
        if hasattr(cursor, "copy_expert"):  # psycopg2
            cursor.copy_expert(sql, stream, size=1 << 20)
        else:  # psycopg 3
            with cursor.copy(sql) as copy:
                while data := stream.read(1 << 20):
                    copy.write(data)


class _SetBasedCustomers:
    def __init__(self, *, job: ImportJob, fh: BinaryIO, importer: imp.CustomerImporter, chunk_size: int) -> None:
        self.job = job
        self.fh = fh
        self.importer = importer
        self.sniffed = importer.sniffed
        self.col = importer.col
        self.chunk_size = max(1, chunk_size)
        self.chunks: dict[int, _Chunk] = {}
        self.consent_positions = list(self.sniffed.consents)
        # Outside a transaction (the command, the Celery task) chunks are written in parallel.
        self.writers = WRITERS if not connection.in_atomic_block else 1
        # Work tables: TEMP on one connection; UNLOGGED (and named after the job) when the other
        # connections must see them.
        self.kind = "TEMP" if self.writers == 1 else "UNLOGGED"
        names = TABLES if self.writers == 1 else work_tables(job.pk)
        self.RAW, self.ROW, self.BAD, self.MATCH, self.PLAN, self.OWNERS = names
        self.tables = names
        self.params: dict[str, Any] = {
            "kinds": json.dumps({k: str(v) for k, v in imp._KINDS.items()}),
            "langs": json.dumps(imp._LANGUAGES),
            "bools": json.dumps(_bool_map()),
            "ddd": sorted(imp._BR_DDD),
            "email_re": EMAIL_RE,
            "chunk_size": self.chunk_size,
            "empty_tags": EMPTY_TAGS,
        }

    # ---------------------------------------------------------------- helpers
    def chunk(self, seq: int) -> _Chunk:
        return self.chunks.setdefault(seq // self.chunk_size, _Chunk())

    def error(self, seq: int, phase: int, line: int, order: int, err: imp.RowError) -> None:
        self.chunk(seq).errors.append((phase, line, order, err))

    def raw_columns(self) -> list[tuple[str, int]]:
        cols = [(f"c_{name}", pos) for name, pos in self.col.items() if name in TEXT_COLUMNS]
        return cols + [(f"k{pos}", pos) for pos in self.consent_positions]

    # ---------------------------------------------------------------- 1. stage
    def stage(self, cursor: Any) -> int:
        """COPY the file's cells (stripped as str.strip() does; tags split, de-duplicated and sorted)."""
        for table in self.tables:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        # For this connection until drop(): the big statements would otherwise spend seconds in JIT
        # compilation (their cost estimate is high) and sort on disk with the default work_mem.
        cursor.execute("SET jit = off")
        cursor.execute("SET work_mem = '64MB'")
        raw = self.raw_columns()
        cursor.execute(
            f"CREATE {self.kind} TABLE {self.RAW} (seq integer, line integer, tags_odd boolean"
            + "".join(f", {name} text" for name, _pos in raw)
            + ")"
        )
        counter = itertools.count()
        positions = [pos for _name, pos in raw]
        tags_at = positions.index(self.col["tags"]) if "tags" in self.col else None
        split_tags = imp.split_tags

        def rows() -> Iterator[list[Any]]:
            for line, row in imp._read_rows(self.fh, self.sniffed):
                cells = [row[pos].strip() for pos in positions]
                odd_tags = False
                if tags_at is not None and (v := cells[tags_at]):
                    names = split_tags(v)
                    if any(len(t) > 50 for t in names):
                        odd_tags = True  # Python reports it
                    else:
                        cells[tags_at] = "|".join(names) or EMPTY_TAGS
                yield [next(counter), line, odd_tags, *cells]

        cursor.execute(f"CREATE {self.kind} TABLE {self.OWNERS} (k text PRIMARY KEY, id integer)")
        if self.importer.owners:
            _copy_in(
                cursor,
                f"COPY {self.OWNERS} FROM STDIN WITH (FORMAT csv)",
                _Stream(iter([[k, v] for k, v in self.importer.owners.items()])),
            )
        copy = f"COPY {self.RAW} FROM STDIN WITH (FORMAT csv)"
        if self.writers == 1:
            _copy_in(cursor, copy, _Stream(rows()))
        else:
            # Outside a transaction: each batch commits as it is COPYed and a second connection
            # normalises it (step 2) while this one reads the next batch of the file.
            cursor.execute(f"CREATE {self.kind} TABLE {self.ROW} AS {self.cells_sql()} WITH NO DATA", self.params_all)
            batches: queue.SimpleQueue[tuple[int, int] | None] = queue.SimpleQueue()
            failed: list[BaseException] = []

            def normalise() -> None:
                try:
                    with connection.cursor() as cells:
                        cells.execute("SET jit = off")
                        while (batch := batches.get()) is not None:
                            lo, hi = batch
                            cells.execute(
                                f"INSERT INTO {self.ROW} {self.cells_sql()}", self.params | {"lo": lo, "hi": hi}
                            )  # noqa: S608
                except BaseException as exc:  # noqa: BLE001 (re-raised by the main thread)
                    failed.append(exc)
                finally:
                    connection.close()

            thread = threading.Thread(target=normalise, name="import-cells")
            thread.start()
            try:
                stream = rows()
                size = self.chunk_size * 4
                while batch := list(itertools.islice(stream, size)):
                    _copy_in(cursor, copy, _Stream(iter(batch)))
                    batches.put((batch[0][0], batch[-1][0] + 1))
                    if failed:
                        break
            finally:
                batches.put(None)
                thread.join()
            if failed:
                raise failed[0]
        total = next(counter)
        for seq in range(0, total, self.chunk_size):
            self.chunk(seq).rows = min(self.chunk_size, total - seq)
        return total

    # ---------------------------------------------------------------- 2. cells
    def cells_sql(self) -> str:
        """SELECT for _imp_row: each cell normalised, and whether the row needs Python.

        Layered subqueries, each fenced with OFFSET 0 so PostgreSQL computes a value once per row
        instead of inlining (and repeating) its expression everywhere it is used.
        """
        have = set(self.col)
        cells = ", ".join(f"{'c_' + n if n in have else 'NULL::text'} AS {n}_raw" for n in TEXT_COLUMNS)
        cells += "".join(f", k{p}" for p in self.consent_positions)
        consent_values = "".join(
            f", (%(bools)s::jsonb ->> customers_import_norm(r.k{pos})) AS v{pos}" for pos in self.consent_positions
        )
        consent_odd = "".join(f" OR (b.k{pos} IS NOT NULL AND b.v{pos} IS NULL)" for pos in self.consent_positions)
        consents = ", ".join(f"'{ch}:{pu}:' || c.v{pos}" for pos, (ch, pu) in self.sniffed.consents.items())
        consents = f"concat_ws(';', {consents})" if consents else "NULL::text"
        return f"""
        SELECT c.seq, c.line, c.external_id_raw AS ext, c.name_raw AS name, c.plan_raw AS plan,
               c.segment_raw AS segment,
               coalesce(c.kind_given, CASE length(c.document) WHEN 11 THEN 'person' WHEN 14 THEN 'company' END)
                   AS kind,
               c.document, c.email, c.phone, c.owner_id, c.tags, c.mrr, c.language, {consents} AS consents,
               (c.bad_length OR c.tags_odd OR (c.kind_raw IS NOT NULL AND c.kind_given IS NULL)
                OR (c.document_raw IS NOT NULL AND c.document IS NULL)
                OR (c.email_raw IS NOT NULL AND c.email IS NULL)
                OR (c.phone_raw IS NOT NULL AND c.phone IS NULL)
                OR (c.owner_raw IS NOT NULL AND c.owner_id IS NULL)
                OR (c.mrr_raw IS NOT NULL AND c.mrr IS NULL)
                OR (c.language_raw IS NOT NULL AND c.language IS NULL)
                OR c.bad_consent) AS odd
        FROM (
            SELECT b.*,
                CASE
                    WHEN length(b.d) = 11 AND b.kind_given IS DISTINCT FROM 'company' AND customers_cpf_is_valid(b.d)
                        THEN b.d
                    WHEN length(b.d) = 14 AND b.kind_given IS DISTINCT FROM 'person' AND customers_cnpj_is_valid(b.d)
                        THEN b.d
                END AS document,
                CASE WHEN left(b.pd, 2) = ANY(%(ddd)s)
                          AND ((length(b.pd) = 11 AND substr(b.pd, 3, 1) = '9')
                               OR (length(b.pd) = 10 AND substr(b.pd, 3, 1) IN ('2', '3', '4', '5')))
                     THEN '+55' || b.pd END AS phone,
                CASE WHEN b.mv = round(b.mv, 2) AND b.mv <= 9999999999.99 THEN round(b.mv, 2) END AS mrr,
                (false{consent_odd}) AS bad_consent
            FROM (
                SELECT a.*,
                    CASE
                        WHEN a.plus OR length(a.p) IN (12, 13) THEN
                            CASE WHEN left(a.p, 2) = '55' AND length(a.p) IN (12, 13) THEN substr(a.p, 3) END
                        WHEN left(a.p, 1) = '0' AND length(a.p) IN (11, 12) THEN substr(a.p, 2)
                        ELSE a.p
                    END AS pd,
                    CASE WHEN length(a.m) < 40 AND a.m ~ '^[0-9]+([.][0-9]+)?$' THEN a.m::numeric END AS mv
                FROM (
                    SELECT r.*,
                        (coalesce(char_length(r.external_id_raw) > 100, false)
                         OR coalesce(char_length(r.name_raw) > 200, false)
                         OR coalesce(char_length(r.plan_raw) > 80, false)
                         OR coalesce(char_length(r.segment_raw) > 80, false)) AS bad_length,
                        coalesce(%(kinds)s::jsonb ->> r.kind_raw,
                                 %(kinds)s::jsonb ->> customers_import_norm(r.kind_raw)) AS kind_given,
                        translate(r.document_raw, ' ./-', '') AS d,  -- digits checked by the CPF/CNPJ function
                        CASE WHEN r.email_raw ~ '^[!-~]+$' AND char_length(r.email_raw) <= 254
                                  AND lower(r.email_raw) ~ %(email_re)s THEN lower(r.email_raw) END AS email,
                        CASE WHEN r.phone_raw ~ '^[+]?[0-9 ()./-]+$'
                             THEN translate(r.phone_raw, '+ ()./-', '') END AS p,
                        left(r.phone_raw, 1) = '+' AS plus,
                        o.id AS owner_id,
                        CASE WHEN r.tags_raw = %(empty_tags)s THEN '' ELSE r.tags_raw END AS tags,
                        CASE WHEN r.mrr_raw ~ '^[0-9]+([.][0-9][0-9]?)?$' AND strpos(r.mrr_raw || '.', '.') <= 11
                        THEN r.mrr_raw ELSE (
                            SELECT CASE
                                WHEN strpos(s, ',') > 0 THEN replace(replace(s, '.', ''), ',', '.')
                                WHEN length(s) - length(replace(s, '.', '')) > 1
                                     OR (strpos(s, '.') > 0 AND length(s) - strpos(s, '.') = 3)
                                    THEN replace(s, '.', '')
                                ELSE s
                            END
                            FROM (
                                SELECT replace(replace(replace(r.mrr_raw, 'R$', ''), chr(160), ''), ' ', '') AS s
                                OFFSET 0
                            ) q
                        ) END AS m,
                        coalesce(%(langs)s::jsonb ->> r.language_raw,
                                 %(langs)s::jsonb ->> customers_import_norm(r.language_raw)) AS language
                        {consent_values}
                    FROM (
                        SELECT seq, line, tags_odd, {cells} FROM {self.RAW}
                        WHERE seq >= %(lo)s AND seq < %(hi)s OFFSET 0
                    ) r
                    LEFT JOIN {self.OWNERS} o ON r.owner_raw ~ '^[ -~]+$' AND o.k = lower(r.owner_raw)
                    OFFSET 0
                ) a
                OFFSET 0
            ) b
            OFFSET 0
        ) c
        """  # noqa: S608 (identifiers only, values are parameters)

    @property
    def params_all(self) -> dict[str, Any]:
        return self.params | {"lo": 0, "hi": 2**31 - 1}

    def cells(self, cursor: Any) -> None:
        if self.writers == 1:  # else done batch by batch while staging
            cursor.execute(f"CREATE {self.kind} TABLE {self.ROW} AS {self.cells_sql()}", self.params_all)
        raw = self.raw_columns()
        cursor.execute(
            f"SELECT r.seq, r.line, {', '.join('r.' + name for name, _pos in raw)} "  # noqa: S608 (no user input)
            f"FROM {self.RAW} r JOIN {self.ROW} n ON n.seq = r.seq WHERE n.odd ORDER BY r.seq"
        )
        odd = cursor.fetchall()
        if not odd:
            return
        width = len(self.sniffed.header)
        good: list[list[Any]] = []
        for seq, line, *cells in odd:
            row = [""] * width
            for (_name, pos), value in zip(raw, cells, strict=True):
                row[pos] = value or ""
            given, errors = self.importer.parse_cells(line, row)
            if errors:
                for order, err in enumerate(errors):
                    self.error(seq, 0, line, order, err)
                continue
            tags = given.get("tags")
            consents = ";".join(f"{c}:{p}:{int(g)}" for c, p, g in given.get("consents", ()))
            values = [given.get(k) for k in ("external_id", "name", "plan", "segment", "kind", "document", "email")]
            values += [given.get("phone"), given.get("owner_id"), None if tags is None else "|".join(tags)]
            values += [given.get("mrr"), given.get("language"), consents or None]
            good.append([seq, line, *(NULL if v is None else v for v in values)])
        cursor.execute(f"DELETE FROM {self.ROW} WHERE odd")  # noqa: S608
        if good:
            _copy_in(
                cursor,
                f"COPY {self.ROW} ({', '.join(ROW_COLUMNS)}) FROM STDIN WITH ({COPY_CSV})",
                _Stream(iter(good), csv.QUOTE_NONNUMERIC),
            )

    # ---------------------------------------------------------------- 3. file rules
    def file_rules(self, cursor: Any) -> None:
        """Rows whose external_id / e-mail / document an earlier row has, or that have no key."""
        keys = (("ext", "d_ext"), ("email", "d_email"), ("document", "d_doc"))
        dups = ", ".join(
            f"{alias} AS (SELECT {col} AS k, min(line) AS first FROM {self.ROW} WHERE {col} IS NOT NULL "  # noqa: S608
            f"GROUP BY {col} HAVING count(*) > 1)"
            for col, alias in keys
        )
        joins = " ".join(f"LEFT JOIN {alias} ON {alias}.k = r.{col} AND {alias}.first < r.line" for col, alias in keys)
        cursor.execute(
            f"CREATE {self.kind} TABLE {self.BAD} AS WITH {dups} "  # noqa: S608
            "SELECT r.seq, r.line, r.ext, r.email, r.document, d_ext.first AS first_ext, "
            f"d_email.first AS first_email, d_doc.first AS first_doc FROM {self.ROW} r {joins} "
            "WHERE d_ext.first IS NOT NULL OR d_email.first IS NOT NULL OR d_doc.first IS NOT NULL "
            "OR (r.ext IS NULL AND r.email IS NULL AND r.document IS NULL)"
        )
        cursor.execute(
            f"SELECT seq, line, ext, email, document, first_ext, first_email, first_doc FROM {self.BAD} ORDER BY seq"  # noqa: S608
        )
        err = self.importer.err
        for seq, line, ext, email, document, f_ext, f_email, f_doc in cursor.fetchall():
            order = 100
            for value, first, canonical in ((ext, f_ext, "external_id"), (email, f_email, "email")):
                if first is not None:
                    self.error(seq, 0, line, order, err(line, canonical, imp.duplicate_message(first, value)))
                    order += 1
            if f_doc is not None:
                self.error(seq, 0, line, order, err(line, "document", imp.duplicate_message(f_doc, document)))
            if ext is None and email is None and document is None:
                self.error(seq, 0, line, order, err(line, None, imp.needs_key_message()))

    # ---------------------------------------------------------------- 4. names, matching, merge
    def ensure_names(self, cursor: Any) -> None:
        """Segments and tags of the rows that passed the file rules exist (as in the Python path)."""
        cursor.execute(
            f"SELECT DISTINCT segment FROM {self.ROW} r WHERE segment IS NOT NULL "  # noqa: S608
            f"AND NOT EXISTS (SELECT 1 FROM {self.BAD} b WHERE b.seq = r.seq)"
        )
        parsed: list[tuple[int, dict[str, Any]]] = [(0, {"segment": s}) for (s,) in cursor.fetchall()]
        if "tags" in self.col:
            cursor.execute(
                f"SELECT DISTINCT t FROM {self.ROW} r, unnest(string_to_array(r.tags, '|')) t "  # noqa: S608
                f"WHERE r.tags <> '' AND NOT EXISTS (SELECT 1 FROM {self.BAD} b WHERE b.seq = r.seq)"
            )
            parsed.append((0, {"tags": [t for (t,) in cursor.fetchall()]}))
        self.importer._ensure_names(parsed)

    def plan(self, cursor: Any) -> None:
        """_imp_plan: each row matched (CustomerImporter.plan's rules), merged, and its errors."""
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [Customer._meta.db_table])
        defaults = self.importer.new_defaults
        self.params |= {
            "seqname": cursor.fetchone()[0],
            "default_owner": defaults["owner_id"],
            "default_language": defaults["language"],
            "default_kind": str(defaults["kind"]),
        }
        fields = self.importer.fields
        values = ", ".join(f"v.v_{name}" for name in fields)
        current = ", ".join(f"v.cur_{name}" for name in fields)
        stored_tags = (
            """coalesce((SELECT string_agg(t.name COLLATE "C", '|' ORDER BY t.name COLLATE "C")
                         FROM customers_customer_tags x JOIN customers_tag t ON t.id = x.tag_id
                         WHERE x.customer_id = e.pk), '')"""
            if "tags" in self.col
            else "''"
        )
        cursor.execute(f"ANALYZE {self.ROW}")
        # The rows that match a stored customer by any key (none on a first import), narrow.
        cursor.execute(
            f"""
            CREATE {self.kind} TABLE {self.MATCH} AS
            SELECT r.seq, r.line, cm.id AS email_pk, cd.id AS doc_pk,
                   coalesce(
                       ce.id,
                       CASE WHEN r.ext IS NULL OR cm.external_id IS NULL THEN cm.id END,
                       CASE WHEN r.ext IS NULL OR cd.external_id IS NULL THEN cd.id END
                   ) AS pk,
                   NULL::integer AS first_pk
            FROM {self.ROW} r
            LEFT JOIN customers_customer ce ON ce.external_id = r.ext
            LEFT JOIN customers_customer cm ON lower(cm.email) = r.email AND cm.email <> ''
            LEFT JOIN customers_customer cd ON cd.document = r.document AND cd.document <> ''
            WHERE (ce.id IS NOT NULL OR cm.id IS NOT NULL OR cd.id IS NOT NULL)
              AND NOT EXISTS (SELECT 1 FROM {self.BAD} b WHERE b.seq = r.seq)
            """  # noqa: S608
        )
        # Two rows of the file for one stored customer: the later ones are errors.
        cursor.execute(
            f"UPDATE {self.MATCH} m SET first_pk = c.first FROM (SELECT pk, min(line) AS first FROM {self.MATCH} "  # noqa: S608
            "WHERE pk IS NOT NULL GROUP BY pk HAVING count(*) > 1) c WHERE c.pk = m.pk"
        )
        cursor.execute(f"ANALYZE {self.MATCH}")
        self.plan_sql = f"""
            SELECT w.*, CASE WHEN w.ok AND w.pk IS NULL THEN nextval(%(seqname)s::regclass) END AS new_id
            FROM (
            SELECT v.seq, v.line, v.seq / %(chunk_size)s AS chunk, v.pk, v.tags, v.consents, v.ok,
                   v.e_email, v.e_doc, v.e_same, v.first_pk, v.e_name, v.e_kind, v.tags_changed,
                   {", ".join(f"v.v_{name}" for name in fields)},
                   (v.pk IS NULL OR v.tags_changed OR ({values}) IS DISTINCT FROM ({current})) AS changed
            FROM (
                SELECT e.*,
                    NOT (e.e_email OR e.e_doc OR e.e_same OR e.e_name OR e.e_kind) AS ok,
                    coalesce(e.kind, e.cur_kind, %(default_kind)s) AS v_kind,
                    coalesce(e.name, e.cur_name, '') AS v_name,
                    coalesce(e.document, e.cur_document, '') AS v_document,
                    coalesce(e.email, e.cur_email, '') AS v_email,
                    coalesce(e.phone, e.cur_phone, '') AS v_phone,
                    CASE WHEN e.owner_id IS NOT NULL THEN e.owner_id
                         WHEN e.pk IS NOT NULL THEN e.cur_owner_id ELSE %(default_owner)s END AS v_owner_id,
                    CASE WHEN e.segment IS NOT NULL THEN s.id WHEN e.pk IS NOT NULL THEN e.cur_segment_id END
                        AS v_segment_id,
                    coalesce(e.plan, e.cur_plan, '') AS v_plan,
                    coalesce(e.mrr, e.cur_mrr, 0.00) AS v_mrr,
                    coalesce(e.ext, e.cur_external_id) AS v_external_id,
                    coalesce(e.language, e.cur_language, %(default_language)s) AS v_language,
                    CASE WHEN e.tags IS NULL THEN false
                         WHEN e.pk IS NULL THEN e.tags <> ''
                         ELSE e.tags <> {stored_tags} END AS tags_changed
                FROM (
                    SELECT r.*, m.pk, m.first_pk,
                        cur.kind AS cur_kind, cur.name AS cur_name, cur.document AS cur_document,
                        cur.email AS cur_email, cur.phone AS cur_phone, cur.owner_id AS cur_owner_id,
                        cur.segment_id AS cur_segment_id, cur.plan AS cur_plan, cur.mrr AS cur_mrr,
                        cur.external_id AS cur_external_id, cur.language AS cur_language,
                        (m.email_pk IS NOT NULL AND m.email_pk IS DISTINCT FROM m.pk) IS true AS e_email,
                        (m.doc_pk IS NOT NULL AND m.doc_pk IS DISTINCT FROM m.pk) IS true AS e_doc,
                        (m.first_pk < r.line) IS true AS e_same,
                        (m.pk IS NULL AND r.name IS NULL) AS e_name,
                        (cur.id IS NOT NULL AND coalesce(r.document, cur.document) <> ''
                         AND (length(coalesce(r.document, cur.document)) = 11)
                             <> (coalesce(r.kind, cur.kind) = 'person')) IS true AS e_kind
                    FROM {self.ROW} r
                    LEFT JOIN {self.MATCH} m ON m.seq = r.seq
                    LEFT JOIN customers_customer cur ON cur.id = m.pk
                    WHERE r.seq >= %(lo)s AND r.seq < %(hi)s
                      AND NOT EXISTS (SELECT 1 FROM {self.BAD} b WHERE b.seq = r.seq)
                    OFFSET 0
                ) e
                LEFT JOIN customers_segment s ON s.name = e.segment
                OFFSET 0
            ) v
            ORDER BY v.seq  -- new ids in file order
            OFFSET 0
            ) w
            """  # noqa: S608
        cursor.execute(f"CREATE INDEX ON {self.ROW} (seq)")
        cursor.execute(
            f"CREATE {self.kind} TABLE {self.PLAN} AS {self.plan_sql} WITH NO DATA",  # noqa: S608
            self.params | {"lo": 0, "hi": 0},
        )
        cursor.execute(f"CREATE INDEX ON {self.PLAN} (chunk, seq)")
        if self.writers == 1:
            for chunk in sorted(self.chunks):
                self.plan_chunk(cursor, chunk)

    def plan_chunk(self, cursor: Any, chunk: int) -> None:
        """Fill _imp_plan for one chunk: its rows matched and merged, its errors, its counts."""
        lo, hi = chunk * self.chunk_size, (chunk + 1) * self.chunk_size
        cursor.execute(f"INSERT INTO {self.PLAN} {self.plan_sql}", self.params | {"lo": lo, "hi": hi})  # noqa: S608
        cursor.execute(
            f"SELECT seq, line, e_email, e_doc, e_same, first_pk, e_name, e_kind FROM {self.PLAN} "  # noqa: S608
            "WHERE chunk = %s AND NOT ok ORDER BY seq",
            [chunk],
        )
        err = self.importer.err
        for seq, line, e_email, e_doc, e_same, first_pk, e_name, e_kind in cursor.fetchall():
            if e_email:
                self.error(seq, 1, line, 0, err(line, "email", _("this e-mail already belongs to another customer")))
            if e_doc:
                self.error(
                    seq, 1, line, 1, err(line, "document", _("this document already belongs to another customer"))
                )
            if e_same:
                self.error(seq, 1, line, 2, err(line, None, _("same customer as line %(line)s") % {"line": first_pk}))
            if e_name:
                self.error(seq, 1, line, 3, err(line, "name", _("required for a new customer")))
            if e_kind:
                self.error(
                    seq, 1, line, 3, err(line, "kind", _("does not match the stored document; send the document too"))
                )
        cursor.execute(
            "SELECT count(*) FILTER (WHERE pk IS NULL), count(*) FILTER (WHERE pk IS NOT NULL AND changed), "  # noqa: S608
            f"count(*) FILTER (WHERE NOT changed) FROM {self.PLAN} WHERE chunk = %s AND ok",
            [chunk],
        )
        c = self.chunks[chunk]
        c.created, c.updated, c.unchanged = cursor.fetchone()

    # ---------------------------------------------------------------- 5. writes
    def write_statements(self, cursor: Any, chunk: int, only_seq: int | None = None) -> list[int]:
        """Write one chunk (or one row of it); returns the ids of the customers created."""
        fields = self.importer.fields
        cols = [Customer._meta.get_field(f).column for f in fields]
        table = Customer._meta.db_table
        rest = [
            f
            for f in Customer._meta.concrete_fields
            if not f.primary_key and f.attname not in fields and f.name not in ("created_at", "updated_at")
        ]
        where = "m.ok AND m.chunk = %(chunk)s" + (" AND m.seq = %(seq)s" if only_seq is not None else "")
        params: dict[str, Any] = {"chunk": chunk, "seq": only_seq, "now": timezone.now()}
        params |= {f"rest_{i}": f.get_default() for i, f in enumerate(rest)}
        cursor.execute(
            f"INSERT INTO {table} (id, created_at, updated_at"  # noqa: S608
            + "".join(f", {f.column}" for f in rest)
            + "".join(f", {c}" for c in cols)
            + ") SELECT m.new_id, %(now)s, %(now)s"
            + "".join(f", %(rest_{i})s" for i in range(len(rest)))
            + "".join(f", m.v_{name}" for name in fields)
            + f" FROM {self.PLAN} m WHERE {where} AND m.new_id IS NOT NULL ORDER BY m.seq RETURNING id",
            params,
        )
        created = [r[0] for r in cursor.fetchall()]
        sets = ", ".join(f"{c} = m.v_{name}" for c, name in zip(cols, fields, strict=True))
        stored = ", ".join(f"t.{c}" for c in cols)
        values = ", ".join(f"m.v_{name}" for name in fields)
        cursor.execute(
            f"UPDATE {table} t SET {sets}, updated_at = %(now)s FROM {self.PLAN} m "  # noqa: S608
            f"WHERE {where} AND m.pk IS NOT NULL AND m.changed AND t.id = m.pk "
            f"AND ({stored}) IS DISTINCT FROM ({values})",
            params,
        )
        if "tags" in self.col:
            cursor.execute(
                "DELETE FROM customers_customer_tags WHERE customer_id IN "  # noqa: S608
                f"(SELECT m.pk FROM {self.PLAN} m WHERE {where} AND m.pk IS NOT NULL AND m.tags_changed)",
                params,
            )
            cursor.execute(
                "INSERT INTO customers_customer_tags (customer_id, tag_id) "  # noqa: S608
                f"SELECT coalesce(m.pk, m.new_id), t.id FROM {self.PLAN} m "
                "CROSS JOIN LATERAL unnest(string_to_array(m.tags, '|')) n(name) "
                "JOIN customers_tag t ON t.name = n.name "
                f"WHERE {where} AND m.tags_changed AND coalesce(m.pk, m.new_id) IS NOT NULL",
                params,
            )
        return created

    def write_chunk(self, chunk: int) -> tuple[list[int], list[tuple[int, int, int, imp.RowError]]]:
        """Write a chunk in the caller's transaction; if the database refuses it, row by row."""
        refused: list[tuple[int, int, int, imp.RowError]] = []
        c = self.chunks[chunk]
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                return self.write_statements(cursor, chunk), refused
        except DatabaseError:
            pass
        created: list[int] = []
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT seq, line, pk IS NULL FROM {self.PLAN} WHERE ok AND chunk = %s AND changed ORDER BY seq",  # noqa: S608
                [chunk],
            )
            rows = cursor.fetchall()
        for seq, line, is_new in rows:
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    created += self.write_statements(cursor, chunk, seq)
            except DatabaseError as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
                message = _("refused by the database: %(reason)s") % {"reason": reason}
                refused.append((2, line, 0, self.importer.err(line, None, message)))
                if is_new:
                    c.created -= 1
                else:
                    c.updated -= 1
                with connection.cursor() as cursor:
                    cursor.execute(f"UPDATE {self.PLAN} SET new_id = NULL WHERE seq = %s", [seq])  # noqa: S608
        return created, refused

    def record_consents(self, chunk: int, result: imp.ChunkResult) -> None:
        if not self.sniffed.consents:
            return
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT line, coalesce(pk, new_id), consents, changed FROM {self.PLAN} "  # noqa: S608
                "WHERE ok AND chunk = %s AND consents <> '' AND coalesce(pk, new_id) IS NOT NULL ORDER BY seq",
                [chunk],
            )
            rows = cursor.fetchall()
        ops = []
        for line, pk, consents, changed in rows:
            op = imp.Op(line=line, pk=pk, values=[])
            op.is_new = False
            op.changed = changed
            for item in consents.split(";"):
                channel, purpose, granted = item.split(":")
                op.consents.append((channel, purpose, granted == "1"))
            ops.append(op)
        self.importer._record_consents(result, ops)

    def apply_chunk(self, chunk: int) -> imp.ChunkResult:
        c = self.chunks[chunk]
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")  # as the Python path; see _write_chunk
                cursor.execute("SET LOCAL jit = off")
                # The plan table grows while chunks are written, without statistics: use its index.
                cursor.execute("SET LOCAL enable_seqscan = off")
                # Foreign keys checked by each statement rather than at COMMIT, so the job row
                # (updated last) stays locked only for the commit itself when two writers run.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            created, refused = self.write_chunk(chunk)
            result = imp.ChunkResult(created=c.created, updated=c.updated, unchanged=c.unchanged)
            result.created_ids = created
            self.record_consents(chunk, result)
            result.errors = [e for *_key, e in sorted(c.errors, key=lambda e: e[:3])]
            result.errors += [e for *_key, e in refused]
            ImportJob.objects.filter(pk=self.job.pk).update(
                processed_rows=F("processed_rows") + c.rows,
                created_count=F("created_count") + result.created,
                updated_count=F("updated_count") + result.updated,
                unchanged_count=F("unchanged_count") + result.unchanged,
                error_count=F("error_count") + len(result.errors),
                updated_at=timezone.now(),
            )
            if created:
                events.emit(imp.CUSTOMERS_IMPORTED, customer_ids=created, import_job_id=self.job.pk)
        return result

    def write_all(self) -> Iterator[tuple[int, imp.ChunkResult]]:
        """Write the chunks in order (results in order, for the counters and the progress bar)."""
        chunks = sorted(self.chunks)
        if self.writers == 1:
            for chunk in chunks:
                yield chunk, self.apply_chunk(chunk)
            return
        todo: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        results: dict[int, Future[imp.ChunkResult]] = {chunk: Future() for chunk in chunks}
        stop = threading.Event()

        def writer() -> None:
            try:
                while not stop.is_set() and (chunk := todo.get()) is not None:
                    try:
                        results[chunk].set_result(self.apply_chunk(chunk))
                    except BaseException as exc:  # noqa: BLE001 (handed to the main thread)
                        results[chunk].set_exception(exc)
                        stop.set()
            finally:
                connection.close()  # this thread's own connection

        threads = [threading.Thread(target=writer, name=f"import-writer-{i}") for i in range(self.writers)]
        for thread in threads:
            thread.start()
        try:
            # This connection plans chunk N+1 while the writers write chunk N (each INSERT into the
            # plan table commits at once: outside a transaction, the writers see it).
            with connection.cursor() as cursor:
                for chunk in chunks:
                    if stop.is_set():
                        break
                    self.plan_chunk(cursor, chunk)
                    todo.put(chunk)
            for _thread in threads:
                todo.put(None)
            # A failed chunk stops the writers; every chunk queued before it is finished first.
            for chunk in chunks:
                yield chunk, results[chunk].result()
        finally:
            stop.set()
            for _thread in threads:
                todo.put(None)
            for thread in threads:
                thread.join()

    def drop(self) -> None:
        with connection.cursor() as cursor:
            for table in self.tables:
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
            cursor.execute("RESET jit")
            cursor.execute("RESET work_mem")


def run_customers(
    *,
    job: ImportJob,
    fh: BinaryIO,
    importer: imp.CustomerImporter,
    total: int,
    progress: imp.ProgressCallback | None,
    chunk_size: int,
) -> ImportJob | None:
    """Import a customers file set-based; None if it cannot be staged (the caller uses the Python path)."""
    run = _SetBasedCustomers(job=job, fh=fh, importer=importer, chunk_size=chunk_size)
    if progress:
        progress(0, total)
    try:
        with transaction.atomic() if run.writers == 1 else nullcontext(), connection.cursor() as cursor:
            rows = run.stage(cursor)
    except Exception:  # noqa: BLE001 (nothing is written yet: the Python path reads the file instead)
        run.drop()
        return None
    errors: list[dict[str, Any]] = []
    error_count = 0
    done = 0
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            run.cells(cursor)
            run.file_rules(cursor)
            run.ensure_names(cursor)
            run.plan(cursor)
        for chunk, result in run.write_all():
            done += run.chunks[chunk].rows
            error_count += len(result.errors)
            room = imp.MAX_STORED_ERRORS - len(errors)
            errors.extend(e.as_dict() for e in result.errors[: max(0, room)])
            if progress:
                progress(done, max(rows, done))
    except Exception:
        imp._fail(job, _("The import stopped on an unexpected error; the rows counted so far were imported."))
        raise
    finally:
        run.drop()
    return imp._finish(job, run.sniffed, done, errors, error_count)
