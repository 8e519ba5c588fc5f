from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
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

    def send_many(self, messages: Iterable[Message]) -> Iterator[tuple[Message, str | Exception]]:
        """Send each message; yield (message, provider id) or (message, the exception it raised).

        One message's failure never stops the others. Adapters that can reuse a connection
        (e-mail) override this; the default sends one by one.
        """
        for message in messages:
            try:
                yield message, self.send(message)
            except Exception as exc:  # recorded on that message only
                yield message, exc
