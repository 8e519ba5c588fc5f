"""Cursor pages in the queue's order (time left), and in a ticket's history order."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django.db.models import Case, DateTimeField, F, Q, QuerySet, Value, When
from rest_framework import filters
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor
from rest_framework.request import Request
from rest_framework.views import APIView

from posvenda.api.pagination import CursorPagination
from support.selectors import OPEN_STATUSES

# Tickets without a due time (paused, resolved, closed, no policy) sort after every due one.
FAR = datetime(9999, 1, 1, tzinfo=UTC)
QUEUE_ORDER = ("queue_due", "-opened_at", "-id")


def queue_due() -> Case:
    """The due time the queue sorts on: the queue's next_due_at (the first response while unanswered,
    else the resolution) for open tickets; FAR for resolved and closed ones, whose stale first
    response due time (never answered) must not put them at the top."""
    return Case(
        When(status__in=OPEN_STATUSES, next_due_at__isnull=False, then=F("next_due_at")),
        default=Value(FAR, output_field=DateTimeField()),
        output_field=DateTimeField(),
    )


class QueueCursorPagination(CursorPagination):
    """Without ``ordering``: the queue's order (earliest due first, then newest), paged by a keyset
    over all three keys, so pages stay exact however many tickets share a due time (all the closed
    ones do). With ``ordering``: DRF's cursor pages over that field."""

    keyset = False

    def paginate_queryset(self, queryset: QuerySet[Any], request: Request, view: APIView | None = None) -> Any:
        if view is not None and filters.OrderingFilter().get_ordering(request, queryset, view):
            return super().paginate_queryset(queryset, request, view)
        self.keyset = True
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = request.build_absolute_uri()
        self.cursor = self.decode_cursor(request)
        reverse = bool(self.cursor and self.cursor.reverse)
        position = self._decode_position(self.cursor.position) if self.cursor else None

        queryset = queryset.annotate(queue_due=queue_due())
        order = [f.lstrip("-") if f.startswith("-") else f"-{f}" for f in QUEUE_ORDER] if reverse else QUEUE_ORDER
        queryset = queryset.order_by(*order)
        if position is not None:
            queryset = queryset.filter(self._beyond(position, reverse))
        results = list(queryset[: self.page_size + 1])
        page = results[: self.page_size]
        more = len(results) > self.page_size
        if reverse:
            page.reverse()
            self.has_next, self.has_previous = position is not None, more
        else:
            self.has_next, self.has_previous = more, position is not None
        self.page = page
        self.display_page_controls = self.has_next or self.has_previous
        return page

    @staticmethod
    def _beyond(position: tuple[datetime, datetime, int], reverse: bool) -> Q:
        due, opened, pk = position
        if reverse:
            return (
                Q(queue_due__lt=due)
                | Q(queue_due=due, opened_at__gt=opened)
                | Q(queue_due=due, opened_at=opened, id__gt=pk)
            )
        return (
            Q(queue_due__gt=due)
            | Q(queue_due=due, opened_at__lt=opened)
            | Q(queue_due=due, opened_at=opened, id__lt=pk)
        )

    def _decode_position(self, raw: str | None) -> tuple[datetime, datetime, int] | None:
        if raw is None:
            return None
        try:
            due, opened, pk = json.loads(raw)
            return datetime.fromisoformat(due), datetime.fromisoformat(opened), int(pk)
        except (TypeError, ValueError):
            raise NotFound(self.invalid_cursor_message) from None

    @staticmethod
    def _encode_position(ticket: Any) -> str:
        return json.dumps([ticket.queue_due.isoformat(), ticket.opened_at.isoformat(), ticket.pk])

    def get_next_link(self) -> str | None:
        if not self.keyset:
            return super().get_next_link()
        if not self.has_next or not self.page:
            return None
        return self.encode_cursor(Cursor(offset=0, reverse=False, position=self._encode_position(self.page[-1])))

    def get_previous_link(self) -> str | None:
        if not self.keyset:
            return super().get_previous_link()
        if not self.has_previous or not self.page:
            return None
        return self.encode_cursor(Cursor(offset=0, reverse=True, position=self._encode_position(self.page[0])))


class EventCursorPagination(CursorPagination):
    """A ticket's history in the order it happened (replies may be back-dated: by ``at``, then id)."""

    ordering = ("at", "id")
