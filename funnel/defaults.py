"""The pt-BR default playbooks and their message templates, loaded by ``manage.py load_playbooks``.

Idempotent: templates and playbooks are matched by slug; a playbook that already exists is left
as the managers edited it (only missing ones are created), unless ``reset=True``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from .models import Playbook, PlaybookStep, Priority, Stage, TransitionRule

# kind, from stages, to stage, days, enabled (mirrors migration 0002 for installs that flushed them)
DEFAULT_RULES: list[tuple[str, list[str], str, int | None, bool]] = [
    ("adoption_days", ["adoption"], "retention", 30, True),
    ("upsell", ["adoption", "retention"], "expansion", None, True),
    ("promoter", ["adoption", "retention", "expansion"], "evangelization", None, True),
    ("contract_cancelled", ["adoption", "retention", "expansion", "evangelization"], "churned", None, True),
    ("no_purchase_days", ["adoption", "retention", "expansion", "evangelization"], "churned", 180, True),
]

# slug: (name, purpose, subject pt-BR, body pt-BR, subject en, body en)
DEFAULT_TEMPLATES: dict[str, tuple[str, str, str, str, str, str]] = {
    "funil-boas-vindas": (
        "Adoção · Boas-vindas (D+0)",
        "service",
        "Boas-vindas, {nome}!",
        # Worded so it reads well with the fallbacks too: no owner -> "nossa equipe", no plan or
        # product -> "nossos produtos" (messaging/services.py).
        "Olá, {nome}!\n\nQue bom ter você com a gente. Quem vai acompanhar você nos primeiros passos com "
        "{produto} é {responsavel}. Se precisar de qualquer coisa, é só responder este e-mail.\n\n"
        "Um abraço,\n{responsavel}",
        "Welcome, {name}!",
        "Hi {name},\n\nGreat to have you with us. Helping you get started with {product}: {owner}. "
        "If you need anything, just reply to this e-mail.\n\nBest,\n{owner}",
    ),
    "funil-check-in-d7": (
        "Adoção · Check-in (D+7)",
        "service",
        "Como estão as coisas, {nome}?",
        "Olá, {nome}! Como tem sido a experiência com {produto}?\n\nSe algo não saiu como esperado, "
        "responda este e-mail: eu leio pessoalmente.\n\n{responsavel}",
        "How is it going, {name}?",
        "Hi {name}! How has your experience with {product} been so far?\n\nIf anything didn't go as "
        "expected, just reply: I read every answer myself.\n\n{owner}",
    ),
    "funil-dicas-de-uso": (
        "Adoção · Dicas de uso (D+30)",
        "service",
        "Dicas para aproveitar melhor {produto}",
        "Olá, {nome}!\n\nJá faz um mês que você está com {produto}. Separamos algumas dicas para você "
        "tirar o máximo proveito dele. Quer uma conversa rápida para tirar dúvidas? É só responder.\n\n"
        "{responsavel}",
        "Tips to get more out of {product}",
        "Hi {name},\n\nIt's been a month with {product}. Here are a few tips to get the most out of it. "
        "Want a quick call to answer questions? Just reply.\n\n{owner}",
    ),
    "funil-retencao-check-in": (
        "Retenção · Check-in periódico",
        "service",
        "{nome}, tudo certo com {produto}?",
        "Olá, {nome}!\n\nPassando para saber como está tudo com {produto}. Seu último pedido: "
        "{ultimo_pedido}. Há algo em que possamos ajudar?\n\n{responsavel}",
        "{name}, is everything fine with {product}?",
        "Hi {name},\n\nJust checking in on {product}. Your last order: {last_order}. Anything we can help "
        "with?\n\n{owner}",
    ),
    "funil-expansao-oferta": (
        "Expansão · Oferta",
        "marketing",
        "Uma condição especial para você, {nome}",
        "Olá, {nome}!\n\nComo você já aproveita {produto}, preparamos uma condição especial para o "
        "próximo passo. Quer saber mais? Responda este e-mail.\n\n{responsavel}",
        "A special offer for you, {name}",
        "Hi {name},\n\nSince you already enjoy {product}, we have a special offer for your next step. "
        "Interested? Just reply.\n\n{owner}",
    ),
    "funil-indicacao": (
        "Evangelização · Pedido de indicação",
        "marketing",
        "{nome}, indique um amigo",
        "Olá, {nome}!\n\nFicamos muito felizes com a sua experiência com {produto}. Conhece alguém que "
        "também aproveitaria? Responda com a indicação e nós cuidamos do resto.\n\nObrigado!\n{responsavel}",
        "{name}, refer a friend",
        "Hi {name},\n\nWe're glad you enjoy {product}. Know someone who would too? Reply with their "
        "name and we'll take care of the rest.\n\nThank you!\n{owner}",
    ),
}


@dataclass(frozen=True)
class StepSpec:
    day: int
    template: str = ""
    task_title: str = ""
    priority: str = Priority.NORMAL
    approval: bool = False


# slug: (stage, name, steps)
DEFAULT_PLAYBOOKS: dict[str, tuple[str, str, list[StepSpec]]] = {
    "adocao-padrao": (
        Stage.ADOPTION,
        "Adoção (padrão)",
        [
            StepSpec(0, template="funil-boas-vindas"),
            StepSpec(7, template="funil-check-in-d7"),
            StepSpec(30, template="funil-dicas-de-uso"),
        ],
    ),
    "retencao-padrao": (
        Stage.RETENTION,
        "Retenção (padrão)",
        [
            StepSpec(60, template="funil-retencao-check-in"),
            StepSpec(120, template="funil-retencao-check-in"),
            StepSpec(150, task_title="Ligar para o cliente: revisão semestral", priority=Priority.HIGH),
        ],
    ),
    "expansao-padrao": (
        Stage.EXPANSION,
        "Expansão (padrão)",
        [
            StepSpec(3, template="funil-expansao-oferta", approval=True),
            StepSpec(10, task_title="Acompanhar a oferta de expansão"),
        ],
    ),
    "evangelizacao-padrao": (
        Stage.EVANGELIZATION,
        "Evangelização (padrão)",
        [StepSpec(2, template="funil-indicacao")],
    ),
}


@dataclass
class LoadResult:
    rules: int = 0
    templates: int = 0
    playbooks: int = 0
    steps: int = 0


@transaction.atomic
def load_defaults(*, reset: bool = False) -> LoadResult:
    from messaging.models import MessageTemplate
    from messaging.services import template_save

    result = LoadResult()
    for kind, from_stages, to_stage, days, enabled in DEFAULT_RULES:
        _rule, created = TransitionRule.objects.get_or_create(
            kind=kind, defaults={"from_stages": from_stages, "to_stage": to_stage, "days": days, "enabled": enabled}
        )
        result.rules += int(created)

    templates: dict[str, Any] = {}
    for slug, (name, purpose, subject_pt, body_pt, subject_en, body_en) in DEFAULT_TEMPLATES.items():
        template = MessageTemplate.objects.filter(slug=slug).first()
        if template is None or reset:
            template = template or MessageTemplate(slug=slug)
            template.name, template.purpose, template.channel = name, purpose, "email"
            template.subject_pt_br, template.body_pt_br = subject_pt, body_pt
            template.subject_en, template.body_en = subject_en, body_en
            template_save(template=template)
            result.templates += 1
        templates[slug] = template

    for slug, (stage, name, steps) in DEFAULT_PLAYBOOKS.items():
        playbook = Playbook.objects.filter(slug=slug).first()
        if playbook is not None and not reset:
            continue
        if playbook is None:
            # Only the default for a stage nobody has configured yet: never two active defaults.
            active = not Playbook.objects.filter(stage=stage, segment__isnull=True, active=True).exists()
            playbook = Playbook.objects.create(slug=slug, stage=stage, name=name, active=active)
        else:
            playbook.steps.all().delete()
        result.playbooks += 1
        for spec in steps:
            PlaybookStep.objects.create(
                playbook=playbook,
                day_offset=spec.day,
                action=PlaybookStep.Action.SEND_MESSAGE if spec.template else PlaybookStep.Action.CREATE_TASK,
                template=templates.get(spec.template) if spec.template else None,
                task_title=spec.task_title,
                task_priority=spec.priority,
                requires_approval=spec.approval,
            )
            result.steps += 1
    return result
