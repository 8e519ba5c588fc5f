"""Brazilian documents and phone numbers: normalise, validate and format in one place."""

from __future__ import annotations

import re

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from stdnum.br import cnpj as stdnum_cnpj
from stdnum.br import cpf as stdnum_cpf

_NON_DIGITS = re.compile(r"\D")


def digits(value: str | None) -> str:
    return _NON_DIGITS.sub("", value or "")


def normalize_document(value: str | None, *, kind: str) -> str:
    """Return the CPF (person) or CNPJ (company) as digits only, or raise ValidationError."""
    raw = digits(value)
    if not raw:
        return ""
    if kind == "person":
        if len(raw) != 11 or not stdnum_cpf.is_valid(raw):
            raise ValidationError(_("Invalid CPF: check the 11 digits."), code="invalid_cpf")
    else:
        if len(raw) != 14 or not stdnum_cnpj.is_valid(raw):
            raise ValidationError(_("Invalid CNPJ: check the 14 digits."), code="invalid_cnpj")
    return raw


def format_document(value: str) -> str:
    if len(value) == 11:
        return f"{value[:3]}.{value[3:6]}.{value[6:9]}-{value[9:]}"
    if len(value) == 14:
        return f"{value[:2]}.{value[2:5]}.{value[5:8]}/{value[8:12]}-{value[12:]}"
    return value


def normalize_phone(value: str | None) -> str:
    """Return the phone in E.164 (+5511987654321), reading national numbers as Brazilian."""
    value = (value or "").strip()
    if not value:
        return ""
    try:
        parsed = phonenumbers.parse(value, getattr(settings, "PHONE_DEFAULT_REGION", "BR"))
    except phonenumbers.NumberParseException:
        raise ValidationError(
            _("Invalid phone number: use +55 DDD number, e.g. +55 11 98765-4321."), code="invalid_phone"
        ) from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationError(
            _("Invalid phone number: use +55 DDD number, e.g. +55 11 98765-4321."), code="invalid_phone"
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def validate_e164(value: str) -> None:
    if value and normalize_phone(value) != value:
        raise ValidationError(_("Phone must be in E.164 format, e.g. +5511987654321."), code="invalid_phone")


def cpf_check_digits(base: str) -> str:
    """The two check digits of a CPF from its first nine digits (used for demo and bench data)."""
    d1 = sum(int(n) * w for n, w in zip(base, range(10, 1, -1), strict=True)) * 10 % 11 % 10
    d2 = sum(int(n) * w for n, w in zip(base + str(d1), range(11, 1, -1), strict=True)) * 10 % 11 % 10
    return f"{d1}{d2}"


def cnpj_check_digits(base: str) -> str:
    """The two check digits of a CNPJ from its first twelve digits."""
    w1 = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    d1 = 11 - sum(int(n) * w for n, w in zip(base, w1, strict=True)) % 11
    d1 = 0 if d1 >= 10 else d1
    w2 = [6, *w1]
    d2 = 11 - sum(int(n) * w for n, w in zip(base + str(d1), w2, strict=True)) % 11
    d2 = 0 if d2 >= 10 else d2
    return f"{d1}{d2}"


def make_cpf(seed: int) -> str:
    base = f"{seed % 10**9:09d}"
    return base + cpf_check_digits(base)


def make_cnpj(seed: int) -> str:
    base = f"{seed % 10**8:08d}0001"
    return base + cnpj_check_digits(base)
