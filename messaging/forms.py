from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import MessageTemplate
from .services import AVAILABLE_VARIABLES, template_validate


class ApprovalForm(forms.Form):
    subject = forms.CharField(label=_("Subject"), max_length=200, required=False)
    body = forms.CharField(label=_("Text"), widget=forms.Textarea(attrs={"rows": 8}))


class MessageTemplateAdminForm(forms.ModelForm):
    """Refuses unknown variables with the same message the services give."""

    class Meta:
        model = MessageTemplate
        fields = (
            "name",
            "slug",
            "channel",
            "purpose",
            "subject_pt_br",
            "body_pt_br",
            "subject_en",
            "body_en",
            "is_active",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = ", ".join("{" + v + "}" for v in AVAILABLE_VARIABLES)
        for field in ("body_pt_br", "body_en"):
            self.fields[field].help_text = _("Variables: %(names)s") % {"names": names}

    def clean(self) -> dict:
        cleaned = super().clean()
        for suffix in ("pt_br", "en"):
            try:
                template_validate(
                    subject=cleaned.get(f"subject_{suffix}") or "", body=cleaned.get(f"body_{suffix}") or ""
                )
            except forms.ValidationError as exc:
                for field, messages in exc.message_dict.items():
                    self.add_error(f"{field}_{suffix}", messages)
        return cleaned
