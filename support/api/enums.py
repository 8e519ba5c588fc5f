"""Importable names for the ticket choice sets that share a field name with other apps' (status,
channel, category, kind), for SPECTACULAR_SETTINGS ENUM_NAME_OVERRIDES."""

from support.models import Ticket, TicketEvent

TicketStatus = Ticket.Status
TicketChannel = Ticket.Channel
TicketCategory = Ticket.Category
TicketEventKind = TicketEvent.Kind
