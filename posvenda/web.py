"""Shared bits of the server-rendered pages: the role gate every CRM page uses, and htmx detection."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from . import roles

View = Callable[..., HttpResponse]


def crm_role_required(view: View) -> View:
    """Log in first; then a user without a CS role is refused (403) rather than shown an empty CRM."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not roles.can_view_customers(request.user):
            raise PermissionDenied(_("Your account has no CRM role. Ask an administrator to grant one."))
        return view(request, *args, **kwargs)

    return login_required(wrapper)


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def int_param(value: str | None) -> int | None:
    """A query-string id: the number, or None when missing or not digits (never a 500)."""
    return int(value) if value and value.isdigit() else None
