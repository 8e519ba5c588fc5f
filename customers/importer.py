"""CSV import of customers, contacts, orders and contracts (the import service).

The file is read as a stream in chunks. Each chunk is validated in pure Python (fast paths for
CPF/CNPJ, Brazilian phones, e-mails, amounts and dates), matched against the database with one
query, compared with what is stored (so a re-import changes nothing) and written in its own
transaction: on PostgreSQL with COPY (new rows) and COPY into a temp table + UPDATE ... FROM
(changed rows), elsewhere with bulk_create/bulk_update. A bad row becomes a row error
(line, column, reason) and never stops or rolls back the good rows. See docs/import.md.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import os
import re
import unicodedata
import zoneinfo
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, connection, models, transaction
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from posvenda import events, roles

from . import services
from .models import Consent, Contact, Contract, Customer, ImportJob, Order, Segment, Tag
from .validators import normalize_phone

CHUNK_SIZE = 5000
MAX_STORED_ERRORS = 5000
STALE_AFTER = timedelta(minutes=30)
PIPELINE_WRITES = True  # PostgreSQL: write chunk N on a second connection while chunk N+1 is read
# PostgreSQL: customers files are validated and matched set-based in SQL (customers/importer_pg.py);
# False = the row-by-row Python path, which SQLite and the other kinds always use.
SET_BASED_CUSTOMERS = True
# One event per chunk (never per row) with the ids of the customers the import created, so the
# funnel records their entry stage (funnel.handlers.on_customers_imported).
CUSTOMERS_IMPORTED = events.CUSTOMERS_IMPORTED

ProgressCallback = Callable[[int, int], None]


class ImportFileError(Exception):
    """The file as a whole cannot be imported (not a CSV, no known header...)."""


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    column: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "reason": self.reason}

    def __str__(self) -> str:
        if self.column:
            return _("line %(line)s, column %(column)s: %(reason)s") % {
                "line": self.line,
                "column": self.column,
                "reason": self.reason,
            }
        return _("line %(line)s: %(reason)s") % {"line": self.line, "reason": self.reason}


# --------------------------------------------------------------------------------------------
# Columns and aliases (header names are compared lower-case, without accents, with spaces,
# hyphens, dots and slashes turned into "_"). Documented one by one in docs/import.md.
# --------------------------------------------------------------------------------------------

_CUSTOMER_REF = {
    "customer_external_id": (
        "customer_external_id",
        "cliente_id_externo",
        "id_externo_cliente",
        "id_cliente",
        "codigo_cliente",
        "cliente",
        "customer",
    ),
    "customer_email": ("customer_email", "email_cliente", "cliente_email", "e_mail_cliente"),
}

COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    ImportJob.Kind.CUSTOMERS: {
        "external_id": ("external_id", "id_externo", "id", "codigo", "codigo_cliente"),
        "name": ("name", "nome", "nome_completo", "razao_social"),
        "kind": ("kind", "tipo", "tipo_pessoa", "pessoa"),
        "document": ("document", "documento", "cpf", "cnpj", "cpf_cnpj"),
        "email": ("email", "e_mail"),
        "phone": ("phone", "telefone", "celular", "whatsapp", "fone"),
        "owner": ("owner", "responsavel", "dono"),
        "segment": ("segment", "segmento"),
        "tags": ("tags", "etiquetas", "marcadores"),
        "plan": ("plan", "plano"),
        "mrr": ("mrr", "receita_mensal"),
        "language": ("language", "idioma"),
    },
    ImportJob.Kind.CONTACTS: {
        "external_id": ("external_id", "id_externo", "id", "codigo"),
        **_CUSTOMER_REF,
        "name": ("name", "nome"),
        "email": ("email", "e_mail"),
        "phone": ("phone", "telefone", "celular", "whatsapp", "fone"),
        "role": ("role", "cargo", "funcao"),
        "is_primary": ("is_primary", "primary", "principal", "contato_principal"),
    },
    ImportJob.Kind.ORDERS: {
        "external_id": ("external_id", "id_externo", "id", "codigo", "pedido", "numero_pedido"),
        **_CUSTOMER_REF,
        "purchased_at": ("purchased_at", "date", "data", "data_compra", "data_pedido"),
        "amount": ("amount", "valor", "total", "valor_total"),
        "status": ("status", "situacao"),
        "channel": ("channel", "canal"),
        "product": ("product", "produto"),
    },
    ImportJob.Kind.CONTRACTS: {
        "external_id": ("external_id", "id_externo", "id", "codigo", "contrato"),
        **_CUSTOMER_REF,
        "plan": ("plan", "plano"),
        "started_at": ("started_at", "start", "inicio", "data_inicio"),
        "ends_at": ("ends_at", "end", "fim", "data_fim", "vencimento"),
        "cancelled_at": ("cancelled_at", "cancelado_em", "data_cancelamento"),
        "cancel_reason": ("cancel_reason", "motivo_cancelamento", "motivo"),
        "mrr": ("mrr", "valor_mensal"),
        "status": ("status", "situacao"),
        "renewals": ("renewals", "renovacoes"),
        "auto_renew": ("auto_renew", "renovacao_automatica"),
    },
}

# consent_email, consentimento_whatsapp_pesquisas, consent_sms_marketing ...
_CONSENT_HEADER = re.compile(
    r"^(?:consent|consentimento|optin|opt_in)_(email|e_mail|whatsapp|sms|phone|telefone)"
    r"(?:_(service|servico|surveys|pesquisas|pesquisa|marketing))?$"
)
_CONSENT_CHANNELS = {"email": "email", "e_mail": "email", "whatsapp": "whatsapp", "sms": "sms"}
_CONSENT_CHANNELS |= {"phone": "phone", "telefone": "phone"}
_CONSENT_PURPOSES = {"service": "service", "servico": "service", "surveys": "surveys", "pesquisas": "surveys"}
_CONSENT_PURPOSES |= {"pesquisa": "surveys", "marketing": "marketing"}
DEFAULT_CONSENT_PURPOSE = Consent.Purpose.MARKETING

_TRUE = frozenset({"sim", "s", "yes", "y", "true", "t", "1", "x", "verdadeiro", "v", "concedido", "aceito"})
_FALSE = frozenset({"nao", "n", "no", "false", "f", "0", "falso", "negado", "revogado", "recusado"})
_KINDS = {
    "pf": Customer.Kind.PERSON,
    "pessoa": Customer.Kind.PERSON,
    "pessoa_fisica": Customer.Kind.PERSON,
    "fisica": Customer.Kind.PERSON,
    "person": Customer.Kind.PERSON,
    "b2c": Customer.Kind.PERSON,
    "pj": Customer.Kind.COMPANY,
    "empresa": Customer.Kind.COMPANY,
    "pessoa_juridica": Customer.Kind.COMPANY,
    "juridica": Customer.Kind.COMPANY,
    "company": Customer.Kind.COMPANY,
    "b2b": Customer.Kind.COMPANY,
}
_LANGUAGES = {"pt_br": "pt-br", "pt": "pt-br", "portugues": "pt-br", "portuguese": "pt-br"}
_LANGUAGES |= {"en": "en", "en_us": "en", "ingles": "en", "english": "en"}
_ORDER_STATUS = {"pago": "paid", "paga": "paid", "aprovado": "paid", "pendente": "pending"}
_ORDER_STATUS |= {"cancelado": "cancelled", "cancelada": "cancelled", "reembolsado": "refunded"}
_ORDER_STATUS |= {"estornado": "refunded", "canceled": "cancelled"}
_CHANNELS = {"loja_virtual": "online", "site": "online", "ecommerce": "online", "e_commerce": "online"}
_CHANNELS |= {"loja": "store", "loja_fisica": "store", "vendas": "sales", "vendedor": "sales", "comercial": "sales"}
_CHANNELS |= {"telefone": "phone", "outro": "other", "outros": "other"}
_CONTRACT_STATUS = {"ativo": "active", "cancelado": "cancelled", "expirado": "expired", "vencido": "expired"}
_CONTRACT_STATUS |= {"canceled": "cancelled"}


def normalize_header(value: str) -> str:
    value = unicodedata.normalize("NFKD", value.strip().lower())
    value = "".join(c for c in value if not unicodedata.combining(c))
    return re.sub(r"[\s\-./]+", "_", value).strip("_")


def _normalize_value(value: str) -> str:
    return normalize_header(value)


# --------------------------------------------------------------------------------------------
# Fast validators (pure Python, a few microseconds per row)
# --------------------------------------------------------------------------------------------

_EMAIL_RE = re.compile(r"^[^@\s,;<>()\[\]\"]+@[^@\s,;<>()\[\]\"]+\.[^@\s,;<>()\[\]\".]{2,}$")
_NON_DIGITS = re.compile(r"\D")
_BR_DDD = frozenset(
    [
        "11",
        "12",
        "13",
        "14",
        "15",
        "16",
        "17",
        "18",
        "19",
        "21",
        "22",
        "24",
        "27",
        "28",
        "31",
        "32",
        "33",
        "34",
        "35",
        "37",
        "38",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "47",
        "48",
        "49",
        "51",
        "53",
        "54",
        "55",
        "61",
        "62",
        "63",
        "64",
        "65",
        "66",
        "67",
        "68",
        "69",
        "71",
        "73",
        "74",
        "75",
        "77",
        "79",
        "81",
        "82",
        "83",
        "84",
        "85",
        "86",
        "87",
        "88",
        "89",
        "91",
        "92",
        "93",
        "94",
        "95",
        "96",
        "97",
        "98",
        "99",
    ]
)
_AMOUNT_SIMPLE = re.compile(r"^\d{1,10}(?:\.\d{1,2})?$")
_LOCAL_TZ = zoneinfo.ZoneInfo(settings.TIME_ZONE)
_MAX_AMOUNT = Decimal("9999999999.99")
_CENT = Decimal("0.01")


def cpf_is_valid(d: str) -> bool:
    """Same answer as stdnum.br.cpf.is_valid for 11 digits, ~10x faster."""
    if len(d) != 11 or d == "00000000000":
        return False
    n = [ord(c) - 48 for c in d]
    s = 10 * n[0] + 9 * n[1] + 8 * n[2] + 7 * n[3] + 6 * n[4] + 5 * n[5] + 4 * n[6] + 3 * n[7] + 2 * n[8]
    d1 = s * 10 % 11 % 10
    if d1 != n[9]:
        return False
    s = 11 * n[0] + 10 * n[1] + 9 * n[2] + 8 * n[3] + 7 * n[4] + 6 * n[5] + 5 * n[6] + 4 * n[7] + 3 * n[8] + 2 * d1
    return s * 10 % 11 % 10 == n[10]


def cnpj_is_valid(d: str) -> bool:
    """Same answer as stdnum.br.cnpj.is_valid for 14 digits."""
    if len(d) != 14 or d.startswith("000000000000"):
        return False
    n = [ord(c) - 48 for c in d]
    s = 5 * n[0] + 4 * n[1] + 3 * n[2] + 2 * n[3] + 9 * n[4] + 8 * n[5] + 7 * n[6] + 6 * n[7]
    s += 5 * n[8] + 4 * n[9] + 3 * n[10] + 2 * n[11]
    d1 = 11 - s % 11
    d1 = 0 if d1 >= 10 else d1
    if d1 != n[12]:
        return False
    s = 6 * n[0] + 5 * n[1] + 4 * n[2] + 3 * n[3] + 2 * n[4] + 9 * n[5] + 8 * n[6] + 7 * n[7] + 6 * n[8]
    s += 5 * n[9] + 4 * n[10] + 3 * n[11] + 2 * d1
    d2 = 11 - s % 11
    d2 = 0 if d2 >= 10 else d2
    return d2 == n[13]


def fast_phone(value: str) -> str:
    """E.164 for the common Brazilian formats without phonenumbers; odd ones fall back to it."""
    d = _NON_DIGITS.sub("", value)
    if value.lstrip()[:1] == "+" or len(d) in (12, 13):
        if d[:2] == "55" and len(d) in (12, 13):
            d = d[2:]
        elif value.lstrip()[:1] == "+":
            return normalize_phone(value)
    elif d[:1] == "0" and len(d) in (11, 12):
        d = d[1:]  # national trunk prefix (0 11 98765-4321)
    if d[:2] in _BR_DDD and ((len(d) == 11 and d[2] == "9") or (len(d) == 10 and d[2] in "2345")):
        return "+55" + d
    return normalize_phone(value)


def parse_amount(value: str) -> Decimal:
    """ "1.234,56", "1234,56", "1234.56", "R$ 1.234,56" -> Decimal('1234.56'); ValueError otherwise."""
    s = value
    if not _AMOUNT_SIMPLE.match(s):
        s = s.replace("R$", "").replace("\xa0", "").replace(" ", "")
        if "," in s:
            s = s.replace(".", "").replace(",", ".")
        elif s.count(".") > 1 or (s.count(".") == 1 and len(s) - s.index(".") == 4):
            # only dots: "1.234" / "1.234.567" are thousands (money has two decimals at most)
            s = s.replace(".", "")
    try:
        amount = Decimal(s)
    except InvalidOperation:
        raise ValueError(_("not a number (use 1.234,56 or 1234.56)")) from None
    if not amount.is_finite():
        raise ValueError(_("not a number (use 1.234,56 or 1234.56)"))
    if amount < 0:
        raise ValueError(_("must not be negative"))
    if amount != amount.quantize(_CENT):
        raise ValueError(_("at most two decimal places"))
    if amount > _MAX_AMOUNT:
        raise ValueError(_("too large"))
    return amount.quantize(_CENT)


def parse_date(value: str) -> date:
    """dd/mm/yyyy (also d/m/yyyy, dd-mm-yyyy, dd.mm.yyyy) or ISO yyyy-mm-dd."""
    s = value
    try:
        if len(s) == 10 and s[2] == "/" and s[5] == "/":
            return date(int(s[6:10]), int(s[3:5]), int(s[0:2]))
        if len(s) == 10 and s[4] == "-":
            return date.fromisoformat(s)
        parts = re.split(r"[/.\-]", s)
        if len(parts) == 3 and len(parts[2]) == 4 and parts[0].isdigit() and parts[1].isdigit():
            return date(int(parts[2]), int(parts[1]), int(parts[0]))
        return date.fromisoformat(s)
    except ValueError:
        raise ValueError(_("invalid date (use dd/mm/yyyy or yyyy-mm-dd)")) from None


def parse_datetime(value: str) -> datetime:
    """A date (midnight, local time), "dd/mm/yyyy HH:MM[:SS]" or ISO 8601; naive means São Paulo time."""
    s = value.strip()
    if len(s) <= 10:
        return datetime.combine(parse_date(s), time(0), tzinfo=_LOCAL_TZ)
    try:
        if s[2] == "/":
            day, _sep, clock = s.partition(" ")
            d = parse_date(day)
            hh, mm, *rest = clock.strip().split(":")
            dt = datetime(d.year, d.month, d.day, int(hh), int(mm), int(rest[0]) if rest else 0)
        else:
            dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except (ValueError, IndexError):
        raise ValueError(_("invalid date/time (use dd/mm/yyyy HH:MM or ISO 8601)")) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_LOCAL_TZ)
    return dt


_TAG_SEPARATORS = re.compile(r"[|,;]")


def split_tags(value: str) -> list[str]:
    """ "VIP| Promotor;VIP" -> ["Promotor", "VIP"]: the cell's tag set, sorted."""
    return sorted({t.strip() for t in _TAG_SEPARATORS.split(value) if t.strip()})


def parse_bool(value: str) -> bool:
    v = _normalize_value(value)
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ValueError(_("use sim/não (yes/no)"))


# --------------------------------------------------------------------------------------------
# Reading: encoding, delimiter, header
# --------------------------------------------------------------------------------------------


@dataclass
class Sniffed:
    encoding: str
    delimiter: str
    header: list[str]
    columns: dict[str, int]  # canonical name -> position
    consents: dict[int, tuple[str, str]]  # position -> (channel, purpose)
    ignored: list[str]

    @property
    def encoding_label(self) -> str:
        return {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 (BOM)", "utf-16": "UTF-16"}.get(
            self.encoding, "Latin-1 (Windows-1252)"
        )

    @property
    def delimiter_label(self) -> str:
        return {";": _("semicolon (;)"), ",": _("comma (,)"), "\t": _("tab"), "|": _("pipe (|)")}[self.delimiter]


def _detect_encoding(fh: BinaryIO) -> str:
    fh.seek(0)
    head = fh.read(8192)
    if not head:
        raise ImportFileError(_("The file is empty."))
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError(_("This is a spreadsheet (Excel) file, not a CSV: save it as CSV and upload again."))
    if b"\x00" in head:
        raise ImportFileError(_("This is not a CSV text file."))
    for encoding in ("utf-8", "cp1252"):
        fh.seek(0)
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            while block := fh.read(1 << 20):
                decoder.decode(block)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding
    return "latin-1"


def _match_columns(kind: str, header: list[str]) -> tuple[dict[str, int], dict[int, tuple[str, str]], list[str]]:
    aliases = {alias: canonical for canonical, names in COLUMNS[kind].items() for alias in names}
    columns: dict[str, int] = {}
    consents: dict[int, tuple[str, str]] = {}
    ignored: list[str] = []
    for pos, raw in enumerate(header):
        name = normalize_header(raw)
        canonical = aliases.get(name)
        if canonical and canonical not in columns:
            columns[canonical] = pos
            continue
        consent = _CONSENT_HEADER.match(name) if kind == ImportJob.Kind.CUSTOMERS else None
        if consent:
            channel = _CONSENT_CHANNELS[consent.group(1)]
            purpose = _CONSENT_PURPOSES[consent.group(2)] if consent.group(2) else DEFAULT_CONSENT_PURPOSE
            consents[pos] = (channel, purpose)
        elif raw.strip():
            ignored.append(raw.strip())
    return columns, consents, ignored


def _open_text(fh: BinaryIO, encoding: str) -> io.TextIOWrapper:
    fh.seek(0)
    return io.TextIOWrapper(fh, encoding=encoding, newline="")


def sniff(fh: BinaryIO, kind: str) -> Sniffed:
    """Detect encoding, delimiter and columns; raise ImportFileError if this is no CSV we know."""
    encoding = _detect_encoding(fh)
    text = _open_text(fh, encoding)
    try:
        first = text.readline()
    finally:
        text.detach()
    if not first.strip():
        raise ImportFileError(_("The first line of the file is empty: it must hold the column names."))
    best: tuple[int, int, str] | None = None
    for delimiter in (";", ",", "\t", "|"):
        header = next(csv.reader([first], delimiter=delimiter), [])
        columns, consents, _ignored = _match_columns(kind, header)
        score = (len(columns) + len(consents), first.count(delimiter), delimiter)
        if best is None or score[:2] > best[:2]:
            best = score
    assert best is not None
    delimiter = best[2]
    if best[0] == 0:
        expected = ", ".join(COLUMNS[kind])
        raise ImportFileError(
            _("No known column in the first line. Expected a header with columns such as: %(columns)s.")
            % {"columns": expected}
        )
    header = next(csv.reader([first], delimiter=delimiter))
    columns, consents, ignored = _match_columns(kind, header)
    if kind == ImportJob.Kind.CUSTOMERS:
        if not {"external_id", "email", "document"} & set(columns):
            raise ImportFileError(
                _("A customer file needs at least one of the columns external_id, email or document to match rows.")
            )
    else:
        missing = []
        if "external_id" not in columns:
            missing.append("external_id")
        if not {"customer_external_id", "customer_email"} & set(columns):
            missing.append("customer_external_id / customer_email")
        if missing:
            raise ImportFileError(_("Missing required columns: %(columns)s.") % {"columns": ", ".join(missing)})
    return Sniffed(encoding, delimiter, header, columns, consents, ignored)


def _count_rows(fh: BinaryIO) -> int:
    fh.seek(0)
    count = 0
    last = b"\n"
    while block := fh.read(1 << 20):
        count += block.count(b"\n")
        last = block[-1:]
    if last != b"\n":
        count += 1
    return max(0, count - 1)


def _read_rows(fh: BinaryIO, sniffed: Sniffed) -> Iterator[tuple[int, list[str]]]:
    text = _open_text(fh, sniffed.encoding)
    reader = csv.reader(text, delimiter=sniffed.delimiter)
    width = len(sniffed.header)
    try:
        next(reader, None)
        for row in reader:
            if len(row) != width:
                if not any(c.strip() for c in row):
                    continue  # blank line (spreadsheets leave them at the end)
                if len(row) < width:
                    row += [""] * (width - len(row))
            yield reader.line_num, row
    except csv.Error as exc:
        raise ImportFileError(
            _("The file could not be read as CSV near line %(line)s: %(error)s")
            % {"line": reader.line_num, "error": exc}
        ) from exc
    finally:
        if not fh.closed:
            text.detach()


# --------------------------------------------------------------------------------------------
# Writing: COPY on PostgreSQL, bulk_create / bulk_update elsewhere
# --------------------------------------------------------------------------------------------


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


@contextmanager
def _index_lookups() -> Iterator[None]:
    """Key lookups always go through the unique indexes. While an import fills a table its
    statistics are stale (autovacuum has not analysed it yet) and PostgreSQL would otherwise
    seq-scan the growing table once per chunk."""
    if not _is_postgres() or not connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        try:
            yield
        finally:
            cursor.execute("SET LOCAL enable_seqscan = on")


def _columns(model: type[models.Model], names: Iterable[str]) -> list[str]:
    return [model._meta.get_field(n).column for n in names]


def _not_null_text_columns(model: type[models.Model], names: Iterable[str]) -> list[str]:
    out = []
    for name in names:
        f = model._meta.get_field(name)
        if not f.null and isinstance(f, models.CharField | models.TextField):
            out.append(f.column)
    return out


def _copy(cursor: Any, table: str, columns: list[str], not_null: list[str], rows: Iterable[Iterable[Any]]) -> None:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    buf.seek(0)
    qn = connection.ops.quote_name
    options = "FORMAT csv"
    if not_null:
        options += ", FORCE_NOT_NULL (" + ", ".join(qn(c) for c in not_null) + ")"
    sql = f"COPY {qn(table)} ({', '.join(qn(c) for c in columns)}) FROM STDIN WITH ({options})"
    with connection.wrap_database_errors:  # raw driver calls: make their errors Django's
        if hasattr(cursor, "copy_expert"):  # psycopg2
            cursor.copy_expert(sql, buf)
        else:  # psycopg 3
            with cursor.copy(sql) as copy:
                copy.write(buf.getvalue())


def bulk_insert(model: type[models.Model], fields: list[str], rows: list[list[Any]]) -> list[int]:
    """Insert rows (values in `fields` order) and return their new ids, in order.

    Columns the import does not set get the model default (evaluated once per batch).
    """
    if not rows:
        return []
    now = timezone.now()
    rest = [f for f in model._meta.concrete_fields if not f.primary_key and f.attname not in fields]
    rest_values = [
        now if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False) else f.get_default() for f in rest
    ]
    if _is_postgres():
        table = model._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, len(rows)]
            )
            ids = [r[0] for r in cursor.fetchall()]
            _copy(
                cursor,
                table,
                ["id", *(f.column for f in rest), *_columns(model, fields)],
                _not_null_text_columns(model, [*(f.name for f in rest), *fields]),
                ([pk, *rest_values, *row] for pk, row in zip(ids, rows, strict=True)),
            )
        return ids
    objs = [model(**dict(zip(fields, row, strict=True))) for row in rows]
    model.objects.bulk_create(objs)
    return [o.pk for o in objs]


def bulk_change(model: type[models.Model], fields: list[str], rows: list[list[Any]]) -> int:
    """Update rows given as [id, *values in `fields` order]; rows already equal are left alone."""
    if not rows:
        return 0
    now = timezone.now()
    has_updated_at = any(f.name == "updated_at" for f in model._meta.concrete_fields)
    if _is_postgres():
        qn = connection.ops.quote_name
        table = qn(model._meta.db_table)
        cols = [qn(c) for c in _columns(model, fields)]
        stage = qn(f"_import_stage_{model._meta.model_name}")
        sets = [f"{c} = s.{c}" for c in cols]
        if has_updated_at:
            sets.append(f"{qn('updated_at')} = %s")
        # Identifiers only come from model metadata, never from the file: no injection surface.
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {stage}")
            cursor.execute(
                f"CREATE TEMP TABLE {stage} AS SELECT {qn('id')}, {', '.join(cols)} FROM {table} WITH NO DATA"  # noqa: S608
            )
            _copy(
                cursor,
                stage.strip('"'),
                ["id", *_columns(model, fields)],
                _not_null_text_columns(model, fields),
                rows,
            )
            distinct = f"({', '.join('t.' + c for c in cols)}) IS DISTINCT FROM ({', '.join('s.' + c for c in cols)})"
            update = f"UPDATE {table} t SET {', '.join(sets)} FROM {stage} s WHERE t.id = s.id AND {distinct}"  # noqa: S608
            cursor.execute(update, [now] if has_updated_at else [])
            changed = cursor.rowcount
            cursor.execute(f"DROP TABLE {stage}")
        return changed
    objs = []
    for row in rows:
        obj = model(pk=row[0], **dict(zip(fields, row[1:], strict=True)))
        if has_updated_at:
            obj.updated_at = now
        objs.append(obj)
    model.objects.bulk_update(objs, [*fields, "updated_at"] if has_updated_at else fields)
    return len(objs)


def _bulk_link(through: type[models.Model], left: str, right: str, pairs: list[tuple[int, int]]) -> None:
    if not pairs:
        return
    if _is_postgres():
        with connection.cursor() as cursor:
            _copy(cursor, through._meta.db_table, [f"{left}_id", f"{right}_id"], [], pairs)
        return
    through.objects.bulk_create(
        [through(**{f"{left}_id": a, f"{right}_id": b}) for a, b in pairs], ignore_conflicts=True
    )


# --------------------------------------------------------------------------------------------
# The chunk processors
# --------------------------------------------------------------------------------------------


@dataclass
class Op:
    """One row ready to write: new (pk None) or an update of pk."""

    line: int
    pk: int | None
    values: list[Any]
    tags: list[int] | None = None  # customers: the complete tag set, when the file has tags
    tags_changed: bool = False
    consents: list[tuple[str, str, bool]] = field(default_factory=list)
    changed: bool = True
    explicit_primary: bool = False  # contacts: the file itself says "primary"
    is_new: bool = field(init=False)

    def __post_init__(self) -> None:
        self.is_new = self.pk is None


@dataclass
class ChunkResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    created_ids: list[int] = field(default_factory=list)
    # orders: written in this chunk, and those whose status is now refunded or cancelled
    order_ids: list[int] = field(default_factory=list)
    reversed_order_ids: list[int] = field(default_factory=list)


class _Importer(ABC):
    model: type[models.Model]
    fields: list[str]

    def __init__(self, *, job: ImportJob, sniffed: Sniffed, actor: Any, default_owner: Any = None) -> None:
        self.job = job
        self.sniffed = sniffed
        self.actor = actor
        self.default_owner_id = getattr(default_owner, "pk", default_owner)
        self.col = sniffed.columns
        self.header = sniffed.header
        self.seen: dict[tuple[str, str], int] = {}  # duplicate keys inside the file -> first line
        self.claimed: dict[int, int] = {}  # stored pk -> line: two rows must not update one record

    def name_of(self, canonical: str) -> str:
        return self.header[self.col[canonical]].strip()

    def err(self, line: int, canonical: str | None, reason: str) -> RowError:
        if canonical is None:
            return RowError(line, "", reason)
        if canonical in self.col:
            return RowError(line, self.name_of(canonical), reason)
        return RowError(line, canonical, reason)

    def cell(self, row: list[str], canonical: str) -> str:
        pos = self.col.get(canonical)
        return row[pos].strip() if pos is not None else ""

    def check_duplicate(self, line: int, key: str, value: str, canonical: str) -> RowError | None:
        first = self.seen.setdefault((key, value), line)
        if first != line:
            return self.err(line, canonical, duplicate_message(first, value))
        return None

    def process(self, rows: list[tuple[int, list[str]]]) -> ChunkResult:
        return self.apply(*self.plan(rows))

    @abstractmethod
    def plan(self, rows: list[tuple[int, list[str]]]) -> tuple[ChunkResult, list[Op]]:
        """Validate and match a chunk (reads only); the ops say what to write."""

    def apply(self, result: ChunkResult, ops: list[Op]) -> ChunkResult:
        """Write the planned ops (in the caller's transaction)."""
        self.before_write(ops)
        self.write(result, ops)
        self.after_write(result, ops)
        return result

    def before_write(self, ops: list[Op]) -> None:  # noqa: B027 (optional hook, not abstract)
        """Optional hook for subclasses; nothing by default."""

    def after_write(self, result: ChunkResult, ops: list[Op]) -> None:  # noqa: B027 (optional hook, not abstract)
        """Optional hook for subclasses; nothing by default."""

    def write(self, result: ChunkResult, ops: list[Op]) -> None:
        """Write the ops (fast path); if the database refuses the batch, retry row by row."""
        writes = [op for op in ops if op.changed]
        result.unchanged += len(ops) - len(writes)
        try:
            with transaction.atomic():
                self._write(writes)
            done = writes
        except DatabaseError:
            done = []
            for op in writes:
                if op.is_new:
                    op.pk = None  # the batch insert was rolled back
                try:
                    with transaction.atomic():
                        self._write([op])
                    done.append(op)
                except DatabaseError as exc:
                    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
                    result.errors.append(
                        self.err(op.line, None, _("refused by the database: %(reason)s") % {"reason": reason})
                    )
        for op in done:
            if op.is_new:
                result.created += 1
            else:
                result.updated += 1

    def _write(self, ops: list[Op]) -> None:
        new = [op for op in ops if op.is_new]
        ids = bulk_insert(self.model, self.fields, [op.values for op in new])
        for op, pk in zip(new, ids, strict=True):
            op.pk = pk
        changed = [op for op in ops if not op.is_new]
        bulk_change(self.model, self.fields, [[op.pk, *op.values] for op in changed])
        self._after_write(ops, new)

    def _after_write(self, ops: list[Op], new: list[Op]) -> None:  # noqa: B027 (optional hook, not abstract)
        """Optional hook for subclasses; nothing by default."""

    def resolve_customers(self, refs_ext: set[str], refs_email: set[str]) -> tuple[dict[str, int], dict[str, int]]:
        by_ext: dict[str, int] = {}
        by_email: dict[str, int] = {}
        if not refs_ext and not refs_email:
            return by_ext, by_email
        q = Q()
        if refs_ext:
            q |= Q(external_id__in=refs_ext)
        if refs_email:
            q |= Q(email_lower__in=refs_email) & ~Q(email="")
        qs = Customer.objects.annotate(email_lower=Lower("email")).filter(q)
        with _index_lookups():
            found = list(qs.values_list("pk", "external_id", "email_lower"))
        for pk, ext, email in found:
            if ext:
                by_ext[ext] = pk
            if email:
                by_email[email] = pk
        return by_ext, by_email


def needs_key_message() -> str:
    return _("the row needs an external_id, e-mail or document to be matched")


def duplicate_message(line: int, value: str) -> str:
    return _("duplicate of line %(line)s (%(value)s)") % {"line": line, "value": value}


class CustomerImporter(_Importer):
    model = Customer
    fields = ["kind", "name", "document", "email", "phone", "owner_id", "segment_id", "plan", "mrr"]
    fields += ["external_id", "language"]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.owners = self._load_owners() if "owner" in self.col else {}
        self.segments: dict[str, int] = {}
        self.tags: dict[str, int] = {}
        self.new_defaults: dict[str, Any] = {
            "kind": Customer.Kind.PERSON,
            "name": "",
            "document": "",
            "email": "",
            "phone": "",
            "owner_id": self.default_owner_id,
            "segment_id": None,
            "plan": "",
            "mrr": Decimal("0.00"),
            "external_id": None,
            "language": str(settings.LANGUAGE_CODE),
        }

    @staticmethod
    def _load_owners() -> dict[str, int]:
        """Username or e-mail (lower-case) -> id, for users with a CS role."""
        users = get_user_model().objects.filter(
            Q(groups__name__in=roles.ALL_ROLES) | Q(is_superuser=True), is_active=True
        )
        owners: dict[str, int] = {}
        for pk, username, email in users.values_list("pk", "username", "email").distinct():
            if email:
                owners.setdefault(email.lower(), pk)
            owners[username.lower()] = pk
        return owners

    def parse(self, line: int, row: list[str]) -> tuple[dict[str, Any], list[RowError]]:
        """Cell values as Python values; only non-empty cells are given (an empty cell changes nothing)."""
        given, errors = self.parse_cells(line, row)
        if not errors:
            for key, canonical in (("external_id", "external_id"), ("email", "email"), ("document", "document")):
                if key in given and (dup := self.check_duplicate(line, key, given[key], canonical)):
                    errors.append(dup)
            if not ({"external_id", "email", "document"} & set(given)):
                errors.append(self.err(line, None, needs_key_message()))
        return given, errors

    def parse_cells(self, line: int, row: list[str]) -> tuple[dict[str, Any], list[RowError]]:
        """Each cell on its own (no look at other rows): values and the row's cell errors."""
        col = self.col
        given: dict[str, Any] = {}
        errors: list[RowError] = []
        err = self.err
        for name in ("external_id", "name", "plan"):
            pos = col.get(name)
            if pos is not None and (v := row[pos].strip()):
                limit = 100 if name == "external_id" else 200 if name == "name" else 80
                if len(v) > limit:
                    errors.append(err(line, name, _("at most %(n)s characters") % {"n": limit}))
                else:
                    given[name] = v
        pos = col.get("kind")
        if pos is not None and (v := row[pos].strip()):
            kind = _KINDS.get(v) or _KINDS.get(v.lower()) or _KINDS.get(_normalize_value(v))
            if kind is None:
                errors.append(err(line, "kind", _("unknown kind %(value)r: use PF or PJ") % {"value": v}))
            else:
                given["kind"] = kind
        pos = col.get("document")
        if pos is not None and (v := row[pos].strip()):
            d = v if v.isdigit() else _NON_DIGITS.sub("", v)
            kind = given.get("kind")
            if len(d) == 11 and kind != Customer.Kind.COMPANY:
                if cpf_is_valid(d):
                    given["document"] = d
                    given.setdefault("kind", Customer.Kind.PERSON)
                else:
                    errors.append(err(line, "document", _("invalid CPF")))
            elif len(d) == 14 and kind != Customer.Kind.PERSON:
                if cnpj_is_valid(d):
                    given["document"] = d
                    given.setdefault("kind", Customer.Kind.COMPANY)
                else:
                    errors.append(err(line, "document", _("invalid CNPJ")))
            elif kind == Customer.Kind.PERSON:
                errors.append(err(line, "document", _("invalid CPF: a person needs the 11 digits of a CPF")))
            elif kind == Customer.Kind.COMPANY:
                errors.append(err(line, "document", _("invalid CNPJ: a company needs the 14 digits of a CNPJ")))
            else:
                errors.append(err(line, "document", _("invalid document: use a CPF (11 digits) or CNPJ (14 digits)")))
        pos = col.get("email")
        if pos is not None and (v := row[pos].strip()):
            v = v.lower()
            if len(v) > 254 or not _EMAIL_RE.match(v):
                errors.append(err(line, "email", _("invalid e-mail address")))
            else:
                given["email"] = v
        pos = col.get("phone")
        if pos is not None and (v := row[pos].strip()):
            try:
                given["phone"] = fast_phone(v)
            except ValidationError:
                errors.append(err(line, "phone", _("invalid phone number: use DDD + number, e.g. (11) 98765-4321")))
        pos = col.get("owner")
        if pos is not None and (v := row[pos].strip()):
            owner = self.owners.get(v.lower())
            if owner is None:
                errors.append(
                    err(
                        line,
                        "owner",
                        _("unknown owner %(value)r: use the username or e-mail of a CS user") % {"value": v},
                    )
                )
            else:
                given["owner_id"] = owner
        pos = col.get("segment")
        if pos is not None and (v := row[pos].strip()):
            if len(v) > 80:
                errors.append(err(line, "segment", _("at most %(n)s characters") % {"n": 80}))
            else:
                given["segment"] = v
        pos = col.get("tags")
        if pos is not None and (v := row[pos].strip()):
            names = split_tags(v)
            if any(len(t) > 50 for t in names):
                errors.append(err(line, "tags", _("a tag has at most 50 characters")))
            else:
                given["tags"] = names
        pos = col.get("mrr")
        if pos is not None and (v := row[pos].strip()):
            try:
                given["mrr"] = parse_amount(v)
            except ValueError as exc:
                errors.append(err(line, "mrr", str(exc)))
        pos = col.get("language")
        if pos is not None and (v := row[pos].strip()):
            language = _LANGUAGES.get(_normalize_value(v))
            if language is None:
                errors.append(err(line, "language", _("unknown language: use pt-BR or en")))
            else:
                given["language"] = language
        if self.sniffed.consents:
            consents = []
            for cpos, (channel, purpose) in self.sniffed.consents.items():
                if v := row[cpos].strip():
                    try:
                        consents.append((channel, purpose, parse_bool(v)))
                    except ValueError as exc:
                        errors.append(RowError(line, self.header[cpos].strip(), str(exc)))
            given["consents"] = consents
        return given, errors

    def plan(self, rows: list[tuple[int, list[str]]]) -> tuple[ChunkResult, list[Op]]:
        result = ChunkResult()
        parsed: list[tuple[int, dict[str, Any]]] = []
        exts: set[str] = set()
        emails: set[str] = set()
        docs: set[str] = set()
        for line, row in rows:
            given, errors = self.parse(line, row)
            if errors:
                result.errors.extend(errors)
                continue
            parsed.append((line, given))
            if "external_id" in given:
                exts.add(given["external_id"])
            if "email" in given:
                emails.add(given["email"])
            if "document" in given:
                docs.add(given["document"])

        # One query: every stored customer this chunk could touch, by any of its keys.
        existing: dict[int, dict[str, Any]] = {}
        by_ext: dict[str, int] = {}
        by_email: dict[str, int] = {}
        by_doc: dict[str, int] = {}
        if parsed:
            for values in self._fetch_existing(exts, emails, docs):
                existing[values["pk"]] = values
                if values["external_id"]:
                    by_ext[values["external_id"]] = values["pk"]
                if values["email_lower"]:
                    by_email[values["email_lower"]] = values["pk"]
                if values["document"]:
                    by_doc[values["document"]] = values["pk"]
        has_tags = "tags" in self.col
        stored_tags: dict[int, list[int]] = {}
        if has_tags and existing:
            through = Customer.tags.through
            for cid, tid in through.objects.filter(customer_id__in=existing).values_list("customer_id", "tag_id"):
                stored_tags.setdefault(cid, []).append(tid)
        self._ensure_names(parsed)

        ops: list[Op] = []
        claimed = self.claimed
        for line, given in parsed:
            ext = given.get("external_id")
            email = given.get("email")
            doc = given.get("document")
            pk = by_ext.get(ext) if ext else None
            if pk is None:
                # No external_id match: fall back to the e-mail, then the document, but never take
                # over a customer that already carries another external_id.
                for candidate in (by_email.get(email) if email else None, by_doc.get(doc) if doc else None):
                    if candidate is not None and (not ext or existing[candidate]["external_id"] is None):
                        pk = candidate
                        break
            row_errors = []
            if email and by_email.get(email, pk) != pk:
                row_errors.append(self.err(line, "email", _("this e-mail already belongs to another customer")))
            if doc and by_doc.get(doc, pk) != pk:
                row_errors.append(self.err(line, "document", _("this document already belongs to another customer")))
            if pk is not None and claimed.setdefault(pk, line) != line:
                row_errors.append(self.err(line, None, _("same customer as line %(line)s") % {"line": claimed[pk]}))
            current = existing.get(pk) if pk is not None else None
            if current is None:
                if "name" not in given:
                    row_errors.append(self.err(line, "name", _("required for a new customer")))
            else:
                kind = given.get("kind", current["kind"])
                document = given.get("document", current["document"])
                if document and (len(document) == 11) != (kind == Customer.Kind.PERSON):
                    row_errors.append(
                        self.err(line, "kind", _("does not match the stored document; send the document too"))
                    )
            if row_errors:
                result.errors.extend(row_errors)
                continue
            values = self._merge(given, current)
            op = Op(line=line, pk=pk, values=values)
            if has_tags and "tags" in given:
                op.tags = sorted(self.tags[t] for t in given["tags"])
                op.tags_changed = op.tags != sorted(stored_tags.get(pk, [])) if pk else bool(op.tags)
            if current is not None:
                op.changed = op.tags_changed or any(values[i] != current[name] for i, name in enumerate(self.fields))
            op.consents = given.get("consents", [])
            ops.append(op)

        return result, ops

    def after_write(self, result: ChunkResult, ops: list[Op]) -> None:
        self._record_consents(result, ops)
        result.created_ids = [op.pk for op in ops if op.is_new and op.pk is not None]

    def _fetch_existing(self, exts: set[str], emails: set[str], docs: set[str]) -> Iterable[dict[str, Any]]:
        """Every stored customer the chunk could touch, by any of its keys, in one query."""
        if _is_postgres():
            # = ANY(array) keeps this one parameter per list (Django's __in expands thousands of
            # placeholders); the "<> ''" terms let PostgreSQL use the partial unique indexes.
            names = ["pk", "email_lower", *self.fields]
            cols = ", ".join(connection.ops.quote_name(c) for c in _columns(Customer, self.fields))
            sql = (
                f"SELECT id, lower(email), {cols} FROM {Customer._meta.db_table} "  # noqa: S608 (no user input)
                "WHERE external_id = ANY(%s) OR (lower(email) = ANY(%s) AND email <> '') "
                "OR (document = ANY(%s) AND document <> '')"
            )
            with _index_lookups(), connection.cursor() as cursor:
                cursor.execute(sql, [list(exts), list(emails), list(docs)])
                return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        q = Q(pk__in=[])
        if exts:
            q |= Q(external_id__in=exts)
        if emails:
            q |= Q(email_lower__in=emails) & ~Q(email="")
        if docs:
            q |= Q(document__in=docs) & ~Q(document="")
        qs = Customer.objects.annotate(email_lower=Lower("email")).filter(q)
        return qs.values("pk", "email_lower", *self.fields)

    def _ensure_names(self, parsed: list[tuple[int, dict[str, Any]]]) -> None:
        """Segments and tags named in this chunk exist (created through the services) and are cached."""
        segments = {g["segment"] for _line, g in parsed if "segment" in g} - set(self.segments)
        if segments:
            found = dict(Segment.objects.filter(name__in=segments).values_list("name", "pk"))
            for name in segments:
                self.segments[name] = found.get(name) or services.segment_get_or_create(name=name).pk
        tags = {t for _line, g in parsed for t in g.get("tags", ())} - set(self.tags)
        if tags:
            found = dict(Tag.objects.filter(name__in=tags).values_list("name", "pk"))
            missing = [Tag(name=n) for n in tags if n not in found]
            if missing:
                Tag.objects.bulk_create(missing, ignore_conflicts=True)
                found = dict(Tag.objects.filter(name__in=tags).values_list("name", "pk"))
            self.tags.update(found)

    def _merge(self, given: dict[str, Any], current: dict[str, Any] | None) -> list[Any]:
        if "segment" in given:
            given["segment_id"] = self.segments[given["segment"]]
        base = current if current is not None else self.new_defaults
        return [given.get(name, base[name]) if name in given else base[name] for name in self.fields]

    def _after_write(self, ops: list[Op], new: list[Op]) -> None:
        relink = [op for op in ops if op.tags is not None and op.tags_changed]
        if not relink:
            return
        through = Customer.tags.through
        old = [op.pk for op in relink if not op.is_new]
        if old:
            through.objects.filter(customer_id__in=old).delete()
        _bulk_link(through, "customer", "tag", [(op.pk, t) for op in relink for t in op.tags or ()])

    def _record_consents(self, result: ChunkResult, ops: list[Op]) -> None:
        wanted = [op for op in ops if op.consents and op.pk is not None]
        if not wanted:
            return
        current: dict[tuple[int, str, str], bool] = {}
        rows = (
            Consent.objects.filter(customer_id__in=[op.pk for op in wanted])
            .order_by("customer_id", "channel", "purpose", "-recorded_at", "-id")
            .values_list("customer_id", "channel", "purpose", "granted")
        )
        for cid, channel, purpose, granted in rows:
            current.setdefault((cid, channel, purpose), granted)
        evidence = _("CSV import #%(job)s (%(file)s)") % {"job": self.job.pk, "file": self.job.original_name}
        for op in wanted:
            for channel, purpose, granted in op.consents:
                if current.get((op.pk, channel, purpose)) == granted:
                    continue
                services.consent_record(
                    actor=self.actor,
                    customer=Customer(pk=op.pk),
                    channel=channel,
                    purpose=purpose,
                    granted=granted,
                    source=Consent.Source.IMPORT,
                    evidence=f"{evidence}, line {op.line}",
                )
                if not op.changed:
                    # a consent change is a change to the customer's record
                    op.changed = True
                    result.unchanged -= 1
                    result.updated += 1


class _ChildImporter(_Importer):
    """Contacts, orders and contracts: keyed by external_id, pointing at a customer."""

    required_new: tuple[str, ...] = ()
    defaults: dict[str, Any] = {}

    @abstractmethod
    def parse_fields(self, line: int, row: list[str], given: dict[str, Any], errors: list[RowError]) -> None:
        """Implemented by each concrete class."""

    def check(self, line: int, given: dict[str, Any], values: dict[str, Any], errors: list[RowError]) -> None:
        """Rules across columns, on the merged values (given: what the file says)."""

    def plan(self, rows: list[tuple[int, list[str]]]) -> tuple[ChunkResult, list[Op]]:
        result = ChunkResult()
        parsed: list[tuple[int, dict[str, Any]]] = []
        ref_ext: set[str] = set()
        ref_email: set[str] = set()
        for line, row in rows:
            given: dict[str, Any] = {}
            errors: list[RowError] = []
            ext = self.cell(row, "external_id")
            if not ext:
                errors.append(self.err(line, "external_id", _("required")))
            elif len(ext) > 100:
                errors.append(self.err(line, "external_id", _("at most %(n)s characters") % {"n": 100}))
            else:
                given["external_id"] = ext
            cust_ext = self.cell(row, "customer_external_id")
            cust_email = self.cell(row, "customer_email").lower()
            if cust_ext:
                given["customer_ref"] = ("customer_external_id", cust_ext)
            elif cust_email:
                given["customer_ref"] = ("customer_email", cust_email)
            else:
                column = "customer_external_id" if "customer_external_id" in self.col else "customer_email"
                errors.append(self.err(line, column, _("required: the customer's external_id or e-mail")))
            self.parse_fields(line, row, given, errors)
            if not errors and (dup := self.check_duplicate(line, "external_id", ext, "external_id")):
                errors.append(dup)
            if errors:
                result.errors.extend(errors)
                continue
            parsed.append((line, given))
            kind, ref = given["customer_ref"]
            (ref_ext if kind == "customer_external_id" else ref_email).add(ref)

        cust_by_ext, cust_by_email = self.resolve_customers(ref_ext, ref_email)
        existing: dict[str, dict[str, Any]] = {}
        if parsed:
            qs = self.model.objects.filter(external_id__in=[g["external_id"] for _line, g in parsed])
            with _index_lookups():
                existing = {v["external_id"]: v for v in qs.values("pk", *self.fields)}

        ops: list[Op] = []
        for line, given in parsed:
            kind, ref = given["customer_ref"]
            customer_id = (cust_by_ext if kind == "customer_external_id" else cust_by_email).get(ref)
            row_errors: list[RowError] = []
            if customer_id is None:
                row_errors.append(self.err(line, kind, _("unknown customer %(value)r") % {"value": ref}))
            current = existing.get(given["external_id"])
            if current is None:
                for name in self.required_new:
                    if name not in given:
                        row_errors.append(self.err(line, name, _("required for a new record")))
            if row_errors:
                result.errors.extend(row_errors)
                continue
            base = current if current is not None else {**self.defaults, "external_id": given["external_id"]}
            merged = {name: given.get(name, base.get(name)) for name in self.fields}
            merged["customer_id"] = customer_id
            self.check(line, given, merged, row_errors)
            if row_errors:
                result.errors.extend(row_errors)
                continue
            values = [merged[name] for name in self.fields]
            op = Op(line=line, pk=current["pk"] if current else None, values=values)
            op.explicit_primary = bool(given.get("is_primary"))
            if current is not None:
                op.changed = any(values[i] != current[name] for i, name in enumerate(self.fields))
            ops.append(op)
        return result, ops

    # small helpers for parse_fields
    def _text(
        self, row: list[str], given: dict[str, Any], errors: list[RowError], line: int, name: str, n: int
    ) -> None:
        if name in self.col and (v := self.cell(row, name)):
            if len(v) > n:
                errors.append(self.err(line, name, _("at most %(n)s characters") % {"n": n}))
            else:
                given[name] = v

    def _parsed(
        self,
        row: list[str],
        given: dict[str, Any],
        errors: list[RowError],
        line: int,
        name: str,
        parser: Callable[[str], Any],
    ) -> None:
        if name in self.col and (v := self.cell(row, name)):
            try:
                given[name] = parser(v)
            except ValueError as exc:
                errors.append(self.err(line, name, str(exc)))

    def _choice(
        self,
        row: list[str],
        given: dict[str, Any],
        errors: list[RowError],
        line: int,
        name: str,
        choices: type[models.TextChoices],
        aliases: dict[str, str],
    ) -> None:
        if name in self.col and (v := self.cell(row, name)):
            key = _normalize_value(v)
            value = aliases.get(key, key)
            if value in choices.values:
                given[name] = value
            else:
                allowed = ", ".join(choices.values)
                errors.append(
                    self.err(
                        line,
                        name,
                        _("unknown value %(value)r: use one of %(allowed)s") % {"value": v, "allowed": allowed},
                    )
                )


class ContactImporter(_ChildImporter):
    model = Contact
    fields = ["customer_id", "name", "email", "phone", "role", "is_primary", "external_id"]
    required_new = ("name",)
    defaults = {"email": "", "phone": "", "role": "", "is_primary": False}

    def parse_fields(self, line: int, row: list[str], given: dict[str, Any], errors: list[RowError]) -> None:
        self._text(row, given, errors, line, "name", 200)
        self._text(row, given, errors, line, "role", 100)
        if v := self.cell(row, "email").lower():
            if len(v) > 254 or not _EMAIL_RE.match(v):
                errors.append(self.err(line, "email", _("invalid e-mail address")))
            else:
                given["email"] = v
        if v := self.cell(row, "phone"):
            try:
                given["phone"] = fast_phone(v)
            except ValidationError:
                errors.append(
                    self.err(line, "phone", _("invalid phone number: use DDD + number, e.g. (11) 98765-4321"))
                )
        self._parsed(row, given, errors, line, "is_primary", parse_bool)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.primary_lines: dict[int, int] = {}  # customer id -> line of the file's primary contact

    def check(self, line: int, given: dict[str, Any], values: dict[str, Any], errors: list[RowError]) -> None:
        if given.get("is_primary"):
            first = self.primary_lines.setdefault(values["customer_id"], line)
            if first != line:
                errors.append(
                    self.err(
                        line,
                        "is_primary",
                        _("line %(line)s is already this customer's primary contact") % {"line": first},
                    )
                )

    def before_write(self, ops: list[Op]) -> None:
        """One primary contact per customer: the file's primary contact demotes the stored one."""
        i_customer, i_primary = self.fields.index("customer_id"), self.fields.index("is_primary")
        primary = {op.values[i_customer]: op for op in ops if op.explicit_primary}
        if not primary:
            return
        for op in ops:
            if op.values[i_primary] and not op.explicit_primary and op.values[i_customer] in primary:
                op.values[i_primary] = False
                op.changed = True
        keep = [op.pk for op in primary.values() if op.pk]
        demote = Contact.objects.filter(customer_id__in=primary, is_primary=True).exclude(pk__in=keep)
        demote.update(is_primary=False, updated_at=timezone.now())


class OrderImporter(_ChildImporter):
    model = Order
    fields = ["customer_id", "external_id", "purchased_at", "amount", "status", "channel", "product"]
    required_new = ("purchased_at", "amount")
    defaults = {"status": Order.Status.PAID, "channel": Order.Channel.ONLINE, "product": ""}

    def after_write(self, result: ChunkResult, ops: list[Op]) -> None:
        # Loyalty rewards (and reverses) imported orders through the orders_imported event; its
        # keys make re-importing the same file book nothing twice.
        status = self.fields.index("status")
        written = [op for op in ops if op.changed and op.pk is not None]
        reversed_statuses = (Order.Status.REFUNDED, Order.Status.CANCELLED)
        result.order_ids = [op.pk for op in written if op.values[status] not in reversed_statuses]
        result.reversed_order_ids = [op.pk for op in written if op.values[status] in reversed_statuses]

    def parse_fields(self, line: int, row: list[str], given: dict[str, Any], errors: list[RowError]) -> None:
        self._parsed(row, given, errors, line, "purchased_at", parse_datetime)
        self._parsed(row, given, errors, line, "amount", parse_amount)
        self._choice(row, given, errors, line, "status", Order.Status, _ORDER_STATUS)
        self._choice(row, given, errors, line, "channel", Order.Channel, _CHANNELS)
        self._text(row, given, errors, line, "product", 200)


def _parse_count(value: str) -> int:
    if not value.isdigit():
        raise ValueError(_("use a whole number (0, 1, 2...)"))
    return int(value)


class ContractImporter(_ChildImporter):
    model = Contract
    fields = ["customer_id", "external_id", "plan", "started_at", "ends_at", "cancelled_at", "cancel_reason"]
    fields += ["mrr", "status", "renewals", "auto_renew"]
    required_new = ("started_at",)
    defaults = {
        "plan": "",
        "ends_at": None,
        "cancelled_at": None,
        "cancel_reason": "",
        "mrr": Decimal("0.00"),
        "status": Contract.Status.ACTIVE,
        "renewals": 0,
        "auto_renew": True,
    }

    def parse_fields(self, line: int, row: list[str], given: dict[str, Any], errors: list[RowError]) -> None:
        self._text(row, given, errors, line, "plan", 80)
        self._text(row, given, errors, line, "cancel_reason", 255)
        for name in ("started_at", "ends_at", "cancelled_at"):
            self._parsed(row, given, errors, line, name, parse_date)
        self._parsed(row, given, errors, line, "mrr", parse_amount)
        self._parsed(row, given, errors, line, "renewals", _parse_count)
        self._parsed(row, given, errors, line, "auto_renew", parse_bool)
        self._choice(row, given, errors, line, "status", Contract.Status, _CONTRACT_STATUS)

    def check(self, line: int, given: dict[str, Any], values: dict[str, Any], errors: list[RowError]) -> None:
        if values["ends_at"] and values["started_at"] and values["ends_at"] < values["started_at"]:
            errors.append(self.err(line, "ends_at", _("the contract cannot end before it starts")))
        if values["status"] == Contract.Status.CANCELLED and not values["cancelled_at"]:
            errors.append(self.err(line, "cancelled_at", _("a cancelled contract needs the cancellation date")))


IMPORTERS: dict[str, type[_Importer]] = {
    ImportJob.Kind.CUSTOMERS: CustomerImporter,
    ImportJob.Kind.CONTACTS: ContactImporter,
    ImportJob.Kind.ORDERS: OrderImporter,
    ImportJob.Kind.CONTRACTS: ContractImporter,
}


# --------------------------------------------------------------------------------------------
# The services
# --------------------------------------------------------------------------------------------


def import_job_create(
    *, actor: AbstractBaseUser | None, kind: str, upload: Any = None, original_name: str = ""
) -> ImportJob:
    """Record an import (upload page, command). The caller enqueues or runs it."""
    if actor is not None and not roles.can_import(actor):
        raise PermissionDenied(_("Only CS managers and admins can import files."))
    if kind not in ImportJob.Kind.values:
        raise ValidationError({"kind": [_("Choose customers, contacts, orders or contracts.")]})
    job = ImportJob(
        kind=kind,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        original_name=(original_name or getattr(upload, "name", "") or "")[:255],
    )
    if upload is not None:
        job.file.save(os.path.basename(upload.name), upload, save=False)
    job.save()
    return job


def import_job_claim(*, job_id: int) -> ImportJob | None:
    """Move a pending job to running; returns None if someone else already took it (run twice = once)."""
    now = timezone.now()
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.PENDING).update(
        status=ImportJob.Status.RUNNING, started_at=now, updated_at=now
    )
    if claimed != 1:
        return None
    return ImportJob.objects.select_related("created_by").get(pk=job_id)


def import_jobs_fail_stale(*, older_than: timedelta = STALE_AFTER) -> int:
    """Mark pending/running jobs untouched for too long as failed (their worker died). Safe to repeat."""
    now = timezone.now()
    stale = ImportJob.objects.filter(
        status__in=[ImportJob.Status.PENDING, ImportJob.Status.RUNNING], updated_at__lt=now - older_than
    )
    candidates = list(stale.values_list("pk", flat=True))
    failed = stale.update(
        status=ImportJob.Status.FAILED,
        finished_at=now,
        updated_at=now,
        message=_("The import stopped: no progress for %(minutes)s minutes. Upload the file again.")
        % {"minutes": int(older_than.total_seconds() // 60)},
    )
    if candidates and _is_postgres():
        # A worker that died mid-import leaves its set-based work tables (UNLOGGED) behind.
        from .importer_pg import work_tables

        dead = ImportJob.objects.filter(pk__in=candidates, status=ImportJob.Status.FAILED, finished_at=now)
        with connection.cursor() as cursor:
            for pk in dead.values_list("pk", flat=True):
                for table in work_tables(pk):
                    cursor.execute(f"DROP TABLE IF EXISTS {table}")
    return failed


def _fail(job: ImportJob, message: str) -> ImportJob:
    now = timezone.now()
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.FAILED, message=message, finished_at=now, updated_at=now
    )
    job.refresh_from_db()
    return job


def import_file(
    *,
    job: ImportJob,
    source: BinaryIO | None = None,
    progress: ProgressCallback | None = None,
    default_owner: Any = None,
    chunk_size: int = CHUNK_SIZE,
) -> ImportJob:
    """Run a claimed (running) job over its file, or over `source` (the command's local file).

    Each chunk is written and counted in its own transaction, so the counters on the job are the
    progress the upload page polls, and a failure in one chunk cannot undo the others.
    """
    actor = job.created_by
    if actor is not None and not roles.can_import(actor):
        return _fail(job, _("Only CS managers and admins can import files."))
    if job.status == ImportJob.Status.PENDING:
        now = timezone.now()
        ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING, started_at=now, updated_at=now)
    own = source is None
    try:
        fh = job.file.open("rb") if own else source
    except (OSError, ValueError) as exc:
        return _fail(job, _("The file could not be opened: %(error)s") % {"error": exc})
    try:
        return _run(job=job, fh=fh, actor=actor, progress=progress, default_owner=default_owner, chunk_size=chunk_size)
    finally:
        if own:
            fh.close()


def _run(
    *,
    job: ImportJob,
    fh: BinaryIO,
    actor: Any,
    progress: ProgressCallback | None,
    default_owner: Any,
    chunk_size: int,
) -> ImportJob:
    try:
        sniffed = sniff(fh, job.kind)
        total = _count_rows(fh)
    except ImportFileError as exc:
        return _fail(job, str(exc))
    ImportJob.objects.filter(pk=job.pk).update(total_rows=total, updated_at=timezone.now())
    importer = IMPORTERS[job.kind](job=job, sniffed=sniffed, actor=actor, default_owner=default_owner)
    if job.kind == ImportJob.Kind.CUSTOMERS and SET_BASED_CUSTOMERS and _is_postgres():
        from . import importer_pg

        finished = importer_pg.run_customers(
            job=job, fh=fh, importer=importer, total=total, progress=progress, chunk_size=chunk_size
        )
        if finished is not None:
            return finished
        # the file could not be staged in SQL (e.g. a NUL byte): the Python path reads it row by row
    errors: list[dict[str, Any]] = []
    error_count = 0
    done = 0
    if progress:
        progress(0, total)

    def collect(n: int, result: ChunkResult) -> None:
        nonlocal done, error_count
        done += n
        error_count += len(result.errors)
        room = MAX_STORED_ERRORS - len(errors)
        errors.extend(e.as_dict() for e in result.errors[: max(0, room)])
        if progress:
            progress(done, max(total, done))

    # On PostgreSQL, outside a caller's transaction, a second thread (its own connection) writes
    # chunk N while this one validates and matches chunk N+1: Python and PostgreSQL each get a
    # core. Chunks never share a key (a repeated key is a row error), so reading ahead is safe.
    pipeline = PIPELINE_WRITES and _is_postgres() and not connection.in_atomic_block
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-writer") if pipeline else None
    pending: Future[tuple[int, ChunkResult]] | None = None
    rows = _read_rows(fh, sniffed)
    try:
        while chunk := list(itertools.islice(rows, chunk_size)):
            if writer is None:
                with transaction.atomic():
                    collect(*_write_chunk(job, importer, importer.plan(chunk), len(chunk)))
                continue
            with transaction.atomic():  # read-only here; lets the key lookups use SET LOCAL
                planned = importer.plan(chunk)
            future = writer.submit(_write_chunk, job, importer, planned, len(chunk))
            if pending is not None:
                collect(*pending.result())
            pending = future
        if pending is not None:
            collect(*pending.result())
            pending = None
    except ImportFileError as exc:
        rows.close()
        if pending is not None:
            collect(*pending.result())
        message = str(exc)
        if done:
            message += " " + _("The first %(rows)s rows were imported.") % {"rows": done}
        ImportJob.objects.filter(pk=job.pk).update(errors=errors)
        return _fail(job, message)
    except Exception:
        _fail(job, _("The import stopped on an unexpected error; the rows counted so far were imported."))
        raise
    finally:
        if writer is not None:
            writer.submit(lambda: connection.close()).result()  # the writer's own connection
            writer.shutdown()
    return _finish(job, sniffed, done, errors, error_count)


def _finish(job: ImportJob, sniffed: Sniffed, done: int, errors: list[dict[str, Any]], error_count: int) -> ImportJob:
    messages = []
    if sniffed.ignored:
        messages.append(_("Ignored columns: %(columns)s.") % {"columns": ", ".join(sniffed.ignored)})
    if error_count > len(errors):
        messages.append(_("Only the first %(n)s errors are listed.") % {"n": len(errors)})
    now = timezone.now()
    ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING).update(
        status=ImportJob.Status.DONE,
        total_rows=done,
        errors=errors,
        message=" ".join(messages),
        finished_at=now,
        updated_at=now,
    )
    job.refresh_from_db()
    return job


def _write_chunk(
    job: ImportJob,
    importer: _Importer,
    planned: tuple[ChunkResult, list[Op]],
    n: int,
) -> tuple[int, ChunkResult]:
    """Write one planned chunk and count it on the job, in one transaction."""
    with transaction.atomic():
        if _is_postgres():
            # Don't wait for the WAL flush of each chunk: a crash can lose at most the last
            # chunks *and* their counters together, and re-importing is idempotent.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
        result = importer.apply(*planned)
        ImportJob.objects.filter(pk=job.pk).update(
            processed_rows=F("processed_rows") + n,
            created_count=F("created_count") + result.created,
            updated_count=F("updated_count") + result.updated,
            unchanged_count=F("unchanged_count") + result.unchanged,
            error_count=F("error_count") + len(result.errors),
            updated_at=timezone.now(),
        )
        if result.created_ids:
            events.emit(CUSTOMERS_IMPORTED, customer_ids=result.created_ids, import_job_id=job.pk)
        if result.order_ids or result.reversed_order_ids:
            events.emit(
                events.ORDERS_IMPORTED,
                order_ids=result.order_ids,
                reversed_order_ids=result.reversed_order_ids,
                import_job_id=job.pk,
            )
    return n, result


def import_path(
    path: str | os.PathLike[str],
    kind: str,
    actor: AbstractBaseUser | None = None,
    *,
    default_owner: Any = None,
    progress: ProgressCallback | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> ImportJob:
    """Import a local file synchronously (command, benchmarks); the job records the outcome."""
    path = Path(path)
    job = import_job_create(actor=actor, kind=kind, original_name=path.name)
    claimed = import_job_claim(job_id=job.pk)
    assert claimed is not None
    with path.open("rb") as fh:
        return import_file(
            job=claimed, source=fh, progress=progress, default_owner=default_owner, chunk_size=chunk_size
        )


def errors_csv_rows(job: ImportJob) -> Iterator[list[Any]]:
    yield [_("line"), _("column"), _("reason")]
    for error in job.errors or ():
        yield [error.get("line", ""), error.get("column", ""), error.get("reason", "")]


def write_errors_csv(job: ImportJob, out: Any) -> None:
    """The error report as CSV: UTF-8 with BOM and ";" so it opens directly in Excel set to Brazil."""
    out.write("\ufeff")
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerows(errors_csv_rows(job))
