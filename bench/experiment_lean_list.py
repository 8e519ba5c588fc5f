"""EXPERIMENT, not product code: the customers list endpoint with the costs found by profiling removed.

Serve it with bench_api.sh to measure what the proposed changes would buy (see docs/benchmarks.md):

    WSGI_APP=experiment_lean_list:application GUNICORN_ARGS="--pythonpath bench" bench/bench_api.sh

Same JSON as the real endpoint except owner.name, which here is the full name without the
username fallback. Changes, each one a proposal for customers/api and settings:
1. tags come from one values_list() over the through table instead of prefetch_related, which
   builds a related manager per customer (about 2 ms per page of 50);
2. rows become dicts in one plain function instead of ModelSerializer fields (about 2 ms per page);
3. no CONN_HEALTH_CHECKS, which costs a "SELECT 1" round trip at the start of every request.
"""

# ruff: noqa: I001  (Django must be set up by posvenda.wsgi before the app modules are imported)
from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db import connections
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response

from posvenda.wsgi import application  # noqa: F401  (sets Django up; gunicorn serves this name)

from customers.api import views  # noqa: E402
from customers.models import Customer  # noqa: E402
from customers.validators import format_document  # noqa: E402

connections["default"].settings_dict["CONN_HEALTH_CHECKS"] = False


def customers_as_dicts(rows: list[Customer]) -> list[dict[str, Any]]:
    tags: dict[int, list[str]] = defaultdict(list)
    through = Customer.tags.through.objects.filter(customer_id__in=[c.pk for c in rows])
    for customer_id, name in through.values_list("customer_id", "tag__name"):
        tags[customer_id].append(name)
    tz = timezone.get_current_timezone()
    out = []
    for c in rows:
        owner = c.owner
        out.append(
            {
                "id": c.pk,
                "kind": c.kind,
                "name": c.name,
                "document": c.document,
                "document_formatted": format_document(c.document),
                "document_label": c.document_label,
                "email": c.email,
                "phone": c.phone,
                "owner": {"id": owner.pk, "username": owner.username, "name": owner.get_full_name()} if owner else None,
                "segment": c.segment.name if c.segment_id else None,
                "tags": sorted(tags.get(c.pk, ())),
                "plan": c.plan,
                "mrr": str(c.mrr),
                "external_id": c.external_id,
                "stage": c.stage,
                "language": c.language,
                "created_at": c.created_at.astimezone(tz).isoformat(),
                "updated_at": c.updated_at.astimezone(tz).isoformat(),
            }
        )
    return out


def lean_list(self: views.CustomerViewSet, request: Request, *args: Any, **kwargs: Any) -> Response:
    queryset = self.filter_queryset(Customer.objects.select_related("owner", "segment"))
    page = self.paginate_queryset(queryset)
    return self.get_paginated_response(customers_as_dicts(page))


views.CustomerViewSet.list = lean_list
