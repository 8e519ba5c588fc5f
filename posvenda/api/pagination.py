from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    """Stable, O(1) pages however deep the client goes (no OFFSET scans)."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-id"
