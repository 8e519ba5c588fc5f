"""anymail's tracking signal (its integration API for webhooks) → the message_track service.

anymail has already verified the webhook (basic auth WEBHOOK_SECRET and the ESP's signature)
before the signal fires; a refused webhook never reaches this receiver.
"""

from __future__ import annotations

import json
from typing import Any

from . import services


def _jsonable(value: Any) -> dict:
    if hasattr(value, "lists"):  # QueryDict (form-encoded webhooks)
        value = dict(value.lists())
    try:
        data = json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        data = {"raw": str(value)}
    return data if isinstance(data, dict) else {"events": data}


def _our_message_id(metadata: Any) -> int | None:
    try:
        return int((metadata or {}).get("posvenda_message_id"))
    except (TypeError, ValueError, AttributeError):
        return None


def on_tracking(sender: Any, event: Any, esp_name: str, **kwargs: Any) -> None:
    detail = event.description or event.reject_reason or event.click_url or event.mta_response or ""
    services.message_track(
        provider_message_id=event.message_id or "",
        event_type=event.event_type,
        at=event.timestamp,
        payload=_jsonable(event.esp_event),
        event_id=f"{esp_name}:{event.event_id}" if event.event_id else "",
        message_id=_our_message_id(event.metadata),
        detail=str(detail)[:500],
    )
