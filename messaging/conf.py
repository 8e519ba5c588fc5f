"""MESSAGING_* settings: a Django setting wins, else the environment variable of the same name,
else the default. So operators can configure messaging from the environment (.env) without a
settings.py change, and tests can override with pytest-django's ``settings`` fixture."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings


def setting(name: str, default: Any) -> Any:
    if hasattr(settings, name):
        return getattr(settings, name)
    raw = os.environ.get(name)
    if raw is None:
        return default
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    return raw
