from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from customers.models import Customer
    from messaging.models import Message


class DeliveryError(Exception):
    """The provider refused or failed the send; the text is stored on the message."""


class ChannelAdapter(ABC):
    """One outbound channel. ``send`` delivers one message and returns the provider's message id."""

    channel: str = ""

    def is_configured(self) -> bool:
        return True

    @abstractmethod
    def address_for(self, customer: Customer) -> str:
        """The customer's address on this channel ("" when there is none)."""

    @abstractmethod
    def send(self, message: Message) -> str:
        """Send ``message``; return the provider message id ("" if none). Raise on failure."""
