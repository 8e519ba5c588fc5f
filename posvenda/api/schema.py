"""Shared OpenAPI pieces: the error body and the documented error responses with examples."""

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "detail": serializers.CharField(help_text="What went wrong, in the user's language."),
        "errors": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()),
            help_text="Per-field messages (400 only); non_field_errors holds the rest.",
        ),
    },
)

UNAUTHORIZED = OpenApiResponse(
    ErrorSerializer,
    description="No credentials, or an invalid token.",
    examples=[
        OpenApiExample(
            "No credentials",
            value={"detail": "Authentication credentials were not provided.", "errors": {}},
            status_codes=["401"],
        )
    ],
)
FORBIDDEN = OpenApiResponse(
    ErrorSerializer,
    description="The user's role does not allow this (no CRM role, not the customer's owner, manager-only action).",
    examples=[
        OpenApiExample(
            "Not the owner",
            value={"detail": "You can only work on the customers you own.", "errors": {}},
            status_codes=["403"],
        )
    ],
)
NOT_FOUND = OpenApiResponse(
    ErrorSerializer,
    description="No such record.",
    examples=[OpenApiExample("Not found", value={"detail": "No Customer matches the given query.", "errors": {}})],
)


def bad_request(example: dict[str, list[str]] | None = None) -> OpenApiResponse:
    errors = example or {"name": ["This field is required."]}
    return OpenApiResponse(
        ErrorSerializer,
        description="Invalid input: per-field messages under errors.",
        examples=[
            OpenApiExample("Invalid input", value={"detail": "Invalid input.", "errors": errors}, status_codes=["400"])
        ],
    )


def read_errors(*, detail: bool = False) -> dict[int, Any]:
    responses: dict[int, Any] = {401: UNAUTHORIZED, 403: FORBIDDEN}
    if detail:
        responses[404] = NOT_FOUND
    return responses


def write_errors(*, detail: bool = False, example: dict[str, list[str]] | None = None) -> dict[int, Any]:
    return {400: bad_request(example), **read_errors(detail=detail)}
