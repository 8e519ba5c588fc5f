"""Importable names for the survey choice sets that share a field name with other apps' (kind,
status, source), for SPECTACULAR_SETTINGS ENUM_NAME_OVERRIDES."""

from surveys.models import Invitation, Kind

SurveyKind = Kind
InvitationStatus = Invitation.Status
InvitationSource = Invitation.Source
