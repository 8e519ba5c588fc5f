from typing import Any

from django.http import HttpRequest

from posvenda import roles as role_rules


def roles(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    return {
        "user_is_manager": role_rules.is_manager(user),
        "user_is_admin": role_rules.is_admin(user),
        "user_role": role_rules.primary_role(user),
    }
