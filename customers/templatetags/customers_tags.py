"""Template helpers for the customer pages: money in BRL per locale, stage badges."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers
from django import template
from django.utils import formats, translation

register = template.Library()


@register.filter
def brl(value: Any) -> str:
    """Format a number as Brazilian reais for the active language.

    pt-BR: "R$ 1.234,56"; English: "R$1,234.56". Empty values render as an empty string.
    """
    if value is None or value == "":
        return ""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    sign = "-" if amount < 0 else ""
    number = formats.number_format(abs(amount), decimal_pos=2, use_l10n=True, force_grouping=True)
    separator = "" if (translation.get_language() or "").startswith("en") else " "
    return f"{sign}R${separator}{number}"


@register.filter
def phone(value: str) -> str:
    """+5511987654321 -> "+55 11 98765-4321" (E.164 is stored; people read the grouped form)."""
    if not value:
        return ""
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return value
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
