"""Roles are Django groups. One place answers "may this user do that?" for pages, API and admin.

- CS agent: sees every customer, works (edits, adds interactions to) only the customers they own.
- CS manager: everything in the CRM, reassigns owners, imports, dashboards.
- Admin: everything a manager can, plus users and settings (the Django admin site).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group

AGENT = "cs_agent"
MANAGER = "cs_manager"
ADMIN = "admin"
ALL_ROLES = (AGENT, MANAGER, ADMIN)


def ensure_role_groups() -> None:
    for name in ALL_ROLES:
        Group.objects.get_or_create(name=name)


def role_names(user: Any) -> set[str]:
    if not getattr(user, "is_authenticated", False):
        return set()
    cached = getattr(user, "_posvenda_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        if user.is_superuser:
            cached.add(ADMIN)
        user._posvenda_roles = cached
    return cached


def is_admin(user: Any) -> bool:
    return ADMIN in role_names(user)


def is_manager(user: Any) -> bool:
    roles = role_names(user)
    return MANAGER in roles or ADMIN in roles


def is_agent(user: Any) -> bool:
    return bool(role_names(user) & set(ALL_ROLES))


def can_view_customers(user: Any) -> bool:
    return is_agent(user)


def can_create_customer(user: Any) -> bool:
    return is_agent(user)


def can_edit_customer(user: Any, customer: Any) -> bool:
    if is_manager(user):
        return True
    return is_agent(user) and customer.owner_id is not None and customer.owner_id == user.pk


def can_delete_customer(user: Any) -> bool:
    return is_manager(user)


def can_reassign_owner(user: Any) -> bool:
    return is_manager(user)


def can_import(user: Any) -> bool:
    return is_manager(user)


def can_manage_users(user: Any) -> bool:
    return is_admin(user)


def primary_role(user: Any) -> str | None:
    roles = role_names(user)
    for name in (ADMIN, MANAGER, AGENT):
        if name in roles:
            return name
    return None


def grant_admin_permissions() -> None:
    """The admin group holds every model permission, so the admin site works for its members."""
    from django.contrib.auth.models import Permission

    group, _created = Group.objects.get_or_create(name=ADMIN)
    group.permissions.set(Permission.objects.all())


def user_create(
    *, username: str, password: str, role: str, email: str = "", first_name: str = "", last_name: str = ""
) -> Any:
    """Create a user in one role; admins are staff so they can enter the admin site."""
    from django.contrib.auth import get_user_model

    if role not in ALL_ROLES:
        raise ValueError(f"unknown role {role!r}")
    ensure_role_groups()
    user = get_user_model().objects.create_user(
        username=username,
        password=password,
        email=email,
        first_name=first_name,
        last_name=last_name,
        is_staff=(role == ADMIN),
    )
    user.groups.add(Group.objects.get(name=role))
    return user


def require_manager(actor: Any, message: str) -> None:
    """Raise PermissionDenied(message) unless ``actor`` is a CS manager or admin. ``None`` (the
    system: tasks, event handlers, commands) is always allowed, as in every service."""
    if actor is not None and not is_manager(actor):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied(message)
