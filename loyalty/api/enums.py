"""Importable names for the loyalty choice sets that share a field name with other apps' (kind,
source, status), for SPECTACULAR_SETTINGS ENUM_NAME_OVERRIDES."""

from loyalty.models import Currency, Entry, Referral, Reward

LoyaltyCurrency = Currency
LedgerEntryKind = Entry.Kind
LedgerEntrySource = Entry.Source
RewardKind = Reward.Kind
ReferralStatus = Referral.Status
