from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    """Stable, O(1) pages however deep the client goes (no OFFSET scans).

    Responses are {"next": url|null, "previous": url|null, "results": [...]}; clients follow
    "next" until it is null. page_size (1–200) sets the page length.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-id"
