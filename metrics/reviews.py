"""Reputation reviews: the services that write them (by hand, over the API, from a CSV file).

Every write goes through here: ``review_create`` / ``review_update`` / ``review_delete``,
``review_sync_by_external_id`` (the API's idempotent PUT) and ``review_import`` (the CSV upload).
Rules, once:

- Any CRM role (agent, manager, admin) may add a review; changing or deleting one is for CS
  managers (a review is a public fact about the company, not part of an agent's book).
- ``rating`` is 0–5 stars with at most one decimal. Reclame Aqui grades 0–10: pass ``grade_10``
  instead and it becomes ``grade_10 ÷ 2`` rounded half up to one decimal (8 → 4.0, 7 → 3.5,
  7.5 → 3.8). Both given must agree.
- ``reviewed_at`` cannot be in the future; ``external_id`` (blank = none) is unique.

The KPI over these rows is metrics/queries/reputation.py; both are defined in docs/metrics.md
(## Reputation) and the CSV columns in docs/import.md (## Reviews).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache
from typing import Any, BinaryIO

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import URLValidator
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from customers import importer
from customers.importer import ImportFileError, RowError, Sniffed, normalize_header
from customers.models import Customer
from posvenda import roles

from .models import Review

ONE_DECIMAL = Decimal("0.1")
RATING_MAX = Decimal("5")
GRADE_10_MAX = Decimal("10")
# A phone's clock a few minutes ahead must not turn a review typed "now" into an error.
FUTURE_SLACK = timedelta(minutes=5)
# The upload runs inside the request (no worker): a page's worth of reviews takes well under a second;
# larger files belong to the API.
MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_ROWS = 20_000

EDITABLE_FIELDS = ("source", "rating", "reviewed_at", "customer", "author", "title", "text", "url", "external_id")
TEXT_LIMITS = {"author": 200, "title": 200, "url": 500, "external_id": 100}


# --- rules shared by the services and the import -----------------------------------------------


def rating_from_grade_10(grade: Decimal) -> Decimal:
    """A 0–10 grade (Reclame Aqui) on the 0–5 star scale: ÷ 2, one decimal, halves rounded up."""
    return (Decimal(grade) / 2).quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP)


def _decimal_places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _rating_errors(value: Decimal, top: Decimal) -> list[str]:
    if not value.is_finite():
        return [_("Enter a number.")]
    if value < 0 or value > top:
        return [_("Must be between 0 and %(top)s.") % {"top": top}]
    if _decimal_places(value) > 1:
        return [_("At most one decimal place.")]
    return []


def resolve_rating(*, rating: Decimal | None, grade_10: Decimal | None) -> Decimal:
    """The 0–5 rating from ``rating`` and/or a 0–10 ``grade_10``; ValidationError per field."""
    if grade_10 is not None:
        if errors := _rating_errors(grade_10, GRADE_10_MAX):
            raise ValidationError({"grade_10": errors})
        converted = rating_from_grade_10(grade_10)
        if rating is not None and Decimal(rating) != converted:
            raise ValidationError(
                {
                    "grade_10": [
                        _("Grade %(grade)s out of 10 is %(stars)s stars, not %(rating)s: give only one of the two.")
                        % {"grade": grade_10, "stars": converted, "rating": rating}
                    ]
                }
            )
        return converted
    if rating is None:
        raise ValidationError({"rating": [_("Give a rating from 0 to 5 stars, or a 0–10 grade.")]})
    return Decimal(rating)


def review_errors(values: dict[str, Any]) -> dict[str, list[str]]:
    """Field → messages for a review's complete values (pure Python: the import checks thousands of
    rows with it without a query). ``customer`` is not checked here: callers resolve it."""
    errors: dict[str, list[str]] = {}
    source = values.get("source")
    if not source:
        errors["source"] = [_("This field is required.")]
    elif source not in Review.Source.values:
        errors["source"] = [
            _("Unknown source %(value)r: use one of %(allowed)s.")
            % {"value": source, "allowed": ", ".join(Review.Source.values)}
        ]
    rating = values.get("rating")
    if rating is None:
        errors["rating"] = [_("Give a rating from 0 to 5 stars, or a 0–10 grade.")]
    elif messages := _rating_errors(Decimal(rating), RATING_MAX):
        errors["rating"] = messages
    reviewed_at = values.get("reviewed_at")
    if reviewed_at is None:
        errors["reviewed_at"] = [_("This field is required.")]
    elif timezone.is_naive(reviewed_at):
        errors["reviewed_at"] = [_("Give the time zone (or a local date and time).")]
    elif reviewed_at > timezone.now() + FUTURE_SLACK:
        errors["reviewed_at"] = [_("A review cannot be dated in the future.")]
    for name, limit in TEXT_LIMITS.items():
        value = values.get(name) or ""
        if len(value) > limit:
            errors.setdefault(name, []).append(_("At most %(n)s characters.") % {"n": limit})
    url = values.get("url") or ""
    if url and "url" not in errors:
        try:
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError:
            errors["url"] = [_("Enter a full web address starting with https://.")]
    return errors


def _clean_text(value: str | None) -> str:
    return (value or "").strip()


def _clean_external_id(value: str | None) -> str | None:
    return (value or "").strip() or None


def can_add(user: Any) -> bool:
    return roles.is_agent(user)


def can_change(user: Any) -> bool:
    return roles.is_manager(user)


def _require_can_add(actor: AbstractBaseUser | None) -> None:
    if actor is not None and not can_add(actor):
        raise PermissionDenied(_("Your account has no CRM role; ask an administrator for access."))


def _require_can_change(actor: AbstractBaseUser | None) -> None:
    roles.require_manager(actor, _("Only a CS manager can change or delete a review."))


def _save(review: Review) -> None:
    """Validate (our rules, then the model's: choices, uniqueness of external_id) and save; a lost
    race on external_id becomes a field error, not a 500."""
    values = {name: getattr(review, name) for name in EDITABLE_FIELDS}
    errors = review_errors(values)
    if errors:
        raise ValidationError(errors)
    review.full_clean(exclude=["created_by", "customer"])
    try:
        with transaction.atomic():
            review.save()
    except IntegrityError as exc:
        raise ValidationError({"external_id": [_("Another review already has this external ID.")]}) from exc


# --- services ----------------------------------------------------------------------------------


@transaction.atomic
def review_create(
    *,
    actor: AbstractBaseUser | None,
    source: str,
    rating: Decimal | None = None,
    grade_10: Decimal | None = None,
    reviewed_at: datetime | None = None,
    customer: Customer | None = None,
    author: str = "",
    title: str = "",
    text: str = "",
    url: str = "",
    external_id: str | None = None,
) -> Review:
    """Record a review (any CRM role). Give ``rating`` (0–5) or ``grade_10`` (0–10, halved)."""
    _require_can_add(actor)
    review = Review(
        source=source,
        rating=resolve_rating(rating=rating, grade_10=grade_10),
        reviewed_at=reviewed_at or timezone.now(),
        customer=customer,
        author=_clean_text(author),
        title=_clean_text(title),
        text=(text or "").strip(),
        url=_clean_text(url),
        external_id=_clean_external_id(external_id),
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    _save(review)
    return review


@transaction.atomic
def review_update(*, actor: AbstractBaseUser | None, review: Review, **fields: Any) -> Review:
    """Change some fields of a review (CS managers). ``grade_10`` replaces ``rating``."""
    unknown = set(fields) - set(EDITABLE_FIELDS) - {"grade_10"}
    if unknown:
        raise TypeError(f"unknown review fields: {sorted(unknown)}")
    _require_can_change(actor)
    grade_10 = fields.pop("grade_10", None)
    if grade_10 is not None or "rating" in fields:
        fields["rating"] = resolve_rating(rating=fields.get("rating"), grade_10=grade_10)
    for name in ("author", "title", "url"):
        if name in fields:
            fields[name] = _clean_text(fields[name])
    if "text" in fields:
        fields["text"] = (fields["text"] or "").strip()
    if "external_id" in fields:
        fields["external_id"] = _clean_external_id(fields["external_id"])
    if fields.get("reviewed_at", review.reviewed_at) is None:
        fields["reviewed_at"] = review.reviewed_at
    for name, value in fields.items():
        setattr(review, name, value)
    _save(review)
    return review


@transaction.atomic
def review_delete(*, actor: AbstractBaseUser | None, review: Review) -> None:
    _require_can_change(actor)
    review.delete()


def _changed(review: Review, fields: dict[str, Any]) -> dict[str, Any]:
    changed = {}
    for name, value in fields.items():
        current = review.customer_id if name == "customer" else getattr(review, name)
        new = getattr(value, "pk", value) if name == "customer" else value
        if name in ("author", "title", "text", "url"):
            new = (new or "").strip()
        if new != current:
            changed[name] = value
    return changed


@transaction.atomic
def review_sync_by_external_id(
    *, actor: AbstractBaseUser | None, external_id: str, **fields: Any
) -> tuple[Review, str]:
    """Create or update the review with this external id: ("created"|"updated"|"unchanged").

    Creating needs ``source`` and a rating (anyone with a CRM role); changing a stored review
    needs a CS manager; sending what is stored changes nothing and is allowed to everyone, so an
    agent's integration can replay its calls safely."""
    external_id = _clean_external_id(external_id)
    if external_id is None:
        raise ValidationError({"external_id": [_("This field is required.")]})
    fields.pop("external_id", None)
    review = Review.objects.select_for_update().filter(external_id=external_id).first()
    if review is None:
        if not fields.get("source"):
            raise ValidationError({"source": [_("This field is required.")]})
        return review_create(actor=actor, external_id=external_id, **fields), "created"
    grade_10 = fields.pop("grade_10", None)
    if grade_10 is not None or "rating" in fields:
        fields["rating"] = resolve_rating(rating=fields.get("rating"), grade_10=grade_10)
    changed = _changed(review, fields)
    if not changed:
        return review, "unchanged"
    return review_update(actor=actor, review=review, **changed), "updated"


# --- CSV import --------------------------------------------------------------------------------

COLUMNS: dict[str, tuple[str, ...]] = {
    "external_id": ("external_id", "id_externo", "id", "codigo", "review_id", "id_avaliacao"),
    "source": ("source", "fonte", "origem", "plataforma"),
    "rating": ("rating", "avaliacao", "nota", "estrelas", "stars", "nota_0_5"),
    "grade_10": ("grade_10", "nota_0_10", "nota_10", "nota_reclame_aqui", "grade"),
    "reviewed_at": ("reviewed_at", "date", "data", "data_avaliacao", "avaliado_em"),
    "author": ("author", "autor", "nome", "name"),
    "title": ("title", "titulo"),
    "text": ("text", "texto", "comentario", "comment", "review", "mensagem"),
    "url": ("url", "link"),
    **importer._CUSTOMER_REF,
}
# Written by the list page's export in this order, so an exported file imports back unchanged.
EXPORT_COLUMNS = (
    "source",
    "rating",
    "reviewed_at",
    "author",
    "title",
    "text",
    "url",
    "external_id",
    "customer_external_id",
    "customer_email",
)
_SOURCE_ALIASES = {
    "reclameaqui": "reclame_aqui",
    "ra": "reclame_aqui",
    "appstore": "app_store",
    "apple": "app_store",
    "apple_app_store": "app_store",
    "ios": "app_store",
    "google_play": "play_store",
    "googleplay": "play_store",
    "playstore": "play_store",
    "android": "play_store",
    "google_meu_negocio": "google",
    "google_my_business": "google",
    "google_business_profile": "google",
    "google_maps": "google",
    "mercado_livre": "marketplace",
    "mercadolivre": "marketplace",
    "loja": "store",
    "loja_propria": "store",
    "site": "store",
    "own_store": "store",
    "store_page": "store",
    "outro": "other",
    "outros": "other",
    "outra": "other",
}


@cache
def source_aliases() -> dict[str, str]:
    """Normalised spelling → source: the values, the labels in both languages, common names."""
    aliases = {value: value for value in Review.Source.values}
    for language in ("en", "pt-br"):
        with translation.override(language):
            for value, label in Review.Source.choices:
                aliases.setdefault(normalize_header(str(label)), value)
    return {**aliases, **_SOURCE_ALIASES}


def parse_source(value: str) -> str:
    key = normalize_header(value)
    source = source_aliases().get(key) or source_aliases().get(key.replace("_", ""))
    if source is None:
        raise ValueError(
            _("unknown source %(value)r: use one of %(allowed)s")
            % {"value": value, "allowed": ", ".join(Review.Source.values)}
        )
    return source


def parse_number(value: str) -> Decimal:
    """ "4,5" / "4.5" / "4" → Decimal; ValueError otherwise."""
    try:
        number = Decimal(value.strip().replace(",", "."))
    except InvalidOperation:
        raise ValueError(_("not a number (use 4,5 or 4.5)")) from None
    if not number.is_finite():
        raise ValueError(_("not a number (use 4,5 or 4.5)"))
    return number


@dataclass
class ReviewImportResult:
    """What an upload did: counts, the per-row errors (line, column, reason) and what was read."""

    encoding: str = ""
    delimiter: str = ""
    columns: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def error_count(self) -> int:
        return len(self.errors)

    def as_dict(self) -> dict[str, Any]:
        return {
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "columns": self.columns,
            "ignored": self.ignored,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "errors": [e.as_dict() for e in self.errors],
        }


def _match_columns(header: list[str]) -> tuple[dict[str, int], list[str]]:
    aliases = {alias: canonical for canonical, names in COLUMNS.items() for alias in names}
    columns: dict[str, int] = {}
    ignored: list[str] = []
    for pos, raw in enumerate(header):
        canonical = aliases.get(normalize_header(raw))
        if canonical and canonical not in columns:
            columns[canonical] = pos
        elif raw.strip():
            ignored.append(raw.strip())
    return columns, ignored


def sniff(fh: BinaryIO) -> Sniffed:
    """Encoding (customers.importer's detection), separator (the one that names the most known
    columns) and columns of a reviews file; ImportFileError when it is no reviews CSV."""
    encoding = importer._detect_encoding(fh)
    text = importer._open_text(fh, encoding)
    try:
        first = text.readline()
    finally:
        text.detach()
    if not first.strip():
        raise ImportFileError(_("The first line of the file is empty: it must hold the column names."))
    best: tuple[int, int, str] | None = None
    for delimiter in (";", ",", "\t", "|"):
        header = next(csv.reader([first], delimiter=delimiter), [])
        score = (len(_match_columns(header)[0]), first.count(delimiter), delimiter)
        if best is None or score[:2] > best[:2]:
            best = score
    assert best is not None
    header = next(csv.reader([first], delimiter=best[2]))
    columns, ignored = _match_columns(header)
    if not columns:
        raise ImportFileError(
            _("No known column in the first line. Expected a header with columns such as: %(columns)s.")
            % {"columns": ", ".join(EXPORT_COLUMNS)}
        )
    if "external_id" not in columns:
        raise ImportFileError(
            _(
                "Missing required column: external_id (a stable id per review, so that importing the file "
                "again updates the reviews instead of adding copies)."
            )
        )
    return Sniffed(encoding, best[2], header, columns, {}, ignored)


class _ReviewImporter:
    """Parse → match (one query for customers, one for stored reviews) → write in one transaction."""

    def __init__(self, *, sniffed: Sniffed, actor: AbstractBaseUser | None) -> None:
        self.sniffed = sniffed
        self.col = sniffed.columns
        self.actor = actor
        self.may_change = actor is None or can_change(actor)
        self.seen: dict[str, int] = {}

    def name_of(self, canonical: str) -> str:
        return self.sniffed.header[self.col[canonical]].strip() if canonical in self.col else canonical

    def err(self, line: int, canonical: str | None, reason: str) -> RowError:
        return RowError(line, self.name_of(canonical) if canonical else "", reason)

    def cell(self, row: list[str], canonical: str) -> str:
        pos = self.col.get(canonical)
        return row[pos].strip() if pos is not None else ""

    def parse(self, line: int, row: list[str]) -> tuple[dict[str, Any], list[RowError]]:
        """What the row says (only its non-empty cells: an empty cell keeps the stored value)."""
        given: dict[str, Any] = {}
        errors: list[RowError] = []
        ext = self.cell(row, "external_id")
        if not ext:
            errors.append(self.err(line, "external_id", _("required")))
        elif len(ext) > TEXT_LIMITS["external_id"]:
            errors.append(self.err(line, "external_id", _("at most %(n)s characters") % {"n": 100}))
        else:
            given["external_id"] = ext
        parsers: dict[str, Any] = {
            "source": parse_source,
            "rating": parse_number,
            "grade_10": parse_number,
            "reviewed_at": importer.parse_datetime,
        }
        for name, parser in parsers.items():
            if value := self.cell(row, name):
                try:
                    given[name] = parser(value)
                except ValueError as exc:
                    errors.append(self.err(line, name, str(exc)))
        for name in ("author", "title", "text", "url"):
            if value := self.cell(row, name):
                given[name] = value
        if value := self.cell(row, "customer_external_id"):
            given["customer_ref"] = ("customer_external_id", value)
        elif value := self.cell(row, "customer_email"):
            given["customer_ref"] = ("customer_email", value.lower())
        if "rating" in given or "grade_10" in given:
            try:
                given["rating"] = resolve_rating(rating=given.get("rating"), grade_10=given.pop("grade_10", None))
            except ValidationError as exc:
                for name, messages in exc.message_dict.items():
                    errors.extend(self.err(line, name, m.rstrip(".")) for m in messages)
        if not errors and ext:
            first = self.seen.setdefault(ext, line)
            if first != line:
                errors.append(self.err(line, "external_id", importer.duplicate_message(first, ext)))
        return given, errors

    def resolve_customers(self, parsed: list[tuple[int, dict[str, Any]]]) -> dict[tuple[str, str], int]:
        refs_ext = {
            ref
            for _line, g in parsed
            if (r := g.get("customer_ref")) and r[0] == "customer_external_id"
            for ref in [r[1]]
        }
        refs_email = {
            ref for _line, g in parsed if (r := g.get("customer_ref")) and r[0] == "customer_email" for ref in [r[1]]
        }
        found: dict[tuple[str, str], int] = {}
        if not refs_ext and not refs_email:
            return found
        q = Q()
        if refs_ext:
            q |= Q(external_id__in=refs_ext)
        if refs_email:
            q |= Q(email_lower__in=refs_email) & ~Q(email="")
        rows = (
            Customer.objects.annotate(email_lower=Lower("email"))
            .filter(q)
            .values_list("pk", "external_id", "email_lower")
        )
        for pk, ext, email in rows:
            if ext:
                found[("customer_external_id", ext)] = pk
            if email:
                found[("customer_email", email)] = pk
        return found

    def run(self, rows: Iterable[tuple[int, list[str]]], result: ReviewImportResult) -> None:
        parsed: list[tuple[int, dict[str, Any]]] = []
        for line, row in rows:
            result.rows += 1
            if result.rows > MAX_IMPORT_ROWS:
                raise ImportFileError(
                    _("The file has more than %(n)s reviews: split it, or send them over the API.")
                    % {"n": MAX_IMPORT_ROWS}
                )
            given, errors = self.parse(line, row)
            if errors:
                result.errors.extend(errors)
            else:
                parsed.append((line, given))
        customers = self.resolve_customers(parsed)
        stored = {
            r.external_id: r for r in Review.objects.filter(external_id__in=[g["external_id"] for _l, g in parsed])
        }
        new: list[tuple[int, Review]] = []
        changed: list[tuple[int, Review]] = []
        for line, given in parsed:
            row_errors: list[RowError] = []
            customer_id: int | None = None
            if ref := given.pop("customer_ref", None):
                customer_id = customers.get(ref)
                if customer_id is None:
                    row_errors.append(self.err(line, ref[0], _("unknown customer %(value)r") % {"value": ref[1]}))
            review = stored.get(given["external_id"])
            if review is None:
                review = Review(created_by=self.actor if getattr(self.actor, "pk", None) else None)
                for name in ("source", "reviewed_at"):
                    if name not in given:
                        row_errors.append(self.err(line, name, _("required for a new review")))
                if "rating" not in given:
                    column = "rating" if "rating" in self.col or "grade_10" not in self.col else "grade_10"
                    row_errors.append(self.err(line, column, _("required for a new review")))
            if row_errors:
                result.errors.extend(row_errors)
                continue
            before = {name: getattr(review, name) for name in EDITABLE_FIELDS if name != "customer"}
            before["customer_id"] = review.customer_id
            for name, value in given.items():
                setattr(review, name, value)
            if customer_id is not None:
                review.customer_id = customer_id
            values = {name: getattr(review, name) for name in EDITABLE_FIELDS if name != "customer"}
            if errors := review_errors(values):
                for name, messages in errors.items():
                    column = "grade_10" if name == "rating" and "rating" not in self.col else name
                    result.errors.extend(self.err(line, column, m.rstrip(".")) for m in messages)
                continue
            if review.pk is None:
                new.append((line, review))
            elif {**values, "customer_id": review.customer_id} == before:
                result.unchanged += 1
            elif not self.may_change:
                result.errors.append(
                    self.err(line, "external_id", _("only a CS manager can change an existing review"))
                )
            else:
                changed.append((line, review))
        self.write(new, changed, result)

    def write(
        self, new: list[tuple[int, Review]], changed: list[tuple[int, Review]], result: ReviewImportResult
    ) -> None:
        fields = list(EDITABLE_FIELDS)
        try:
            with transaction.atomic():
                Review.objects.bulk_create([r for _line, r in new], batch_size=1000)
                Review.objects.bulk_update([r for _line, r in changed], fields, batch_size=1000)
            result.created += len(new)
            result.updated += len(changed)
            return
        except DatabaseError:
            pass  # e.g. another upload stored one of these external ids a moment ago: row by row
        for is_new, (line, review) in [(True, item) for item in new] + [(False, item) for item in changed]:
            if is_new:
                review.pk = None  # the batch insert was rolled back
                review._state.adding = True
            try:
                with transaction.atomic():
                    review.save()
            except DatabaseError as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
                result.errors.append(
                    self.err(line, None, _("refused by the database: %(reason)s") % {"reason": reason})
                )
                continue
            if is_new:
                result.created += 1
            else:
                result.updated += 1


def review_import(*, actor: AbstractBaseUser | None, fh: BinaryIO) -> ReviewImportResult:
    """Import a reviews CSV (UTF-8 or Latin-1, comma or semicolon; columns in docs/import.md).

    Upserts by ``external_id``: a row equal to what is stored counts as unchanged, so importing the
    same file twice changes nothing. A bad row becomes a RowError (line, column, reason) and the
    good rows are still written. Raises ImportFileError when the file as a whole cannot be read.
    Runs synchronously: files are small (at most MAX_IMPORT_ROWS rows)."""
    _require_can_add(actor)
    sniffed = sniff(fh)
    result = ReviewImportResult(
        encoding=sniffed.encoding_label,
        delimiter=sniffed.delimiter_label,
        columns=list(sniffed.columns),
        ignored=sniffed.ignored,
    )
    _ReviewImporter(sniffed=sniffed, actor=actor).run(importer._read_rows(fh, sniffed), result)
    result.errors.sort(key=lambda e: e.line)
    return result
