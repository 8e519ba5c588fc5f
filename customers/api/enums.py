"""Importable names for the choice sets that share a field name, for SPECTACULAR_SETTINGS
ENUM_NAME_OVERRIDES (so the OpenAPI components get stable names instead of hashed ones).
"""

from customers.models import Consent, Contract, Customer, Interaction, Order

CustomerKind = Customer.Kind
InteractionKind = Interaction.Kind
OrderStatus = Order.Status
ContractStatus = Contract.Status
OrderChannel = Order.Channel
ConsentChannel = Consent.Channel
