"""``{{ user|person }}``: a user's full name, else username, else "" — safe on None.

Templates used to write ``x.get_full_name|default:x.username``; when ``x`` is None (a system change,
a deleted user) the filter argument fails to resolve and the page crashes with a 500. This filter
never does. Installed as a template builtin (settings.TEMPLATES), so no ``{% load %}`` is needed.
"""

from typing import Any

from django import template

register = template.Library()


@register.filter
def person(user: Any) -> str:
    if user is None or user == "":
        return ""
    full = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return (full or "").strip() or getattr(user, "username", "") or ""
