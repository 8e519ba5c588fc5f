from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _setup_roles(sender: Any, **kwargs: Any) -> None:
    # Infrastructure, not domain logic: make sure the role groups exist after every migrate.
    from . import roles

    roles.ensure_role_groups()
    roles.grant_admin_permissions()


class PosvendaConfig(AppConfig):
    name = "posvenda"
    verbose_name = _("Posvenda")

    def ready(self) -> None:
        # No sender: permissions of apps migrated after this one must reach the admin group too.
        post_migrate.connect(_setup_roles, dispatch_uid="posvenda_setup_roles")
