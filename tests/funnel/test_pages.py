from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from funnel.models import Playbook, PlaybookStep, StageChange, Task, TransitionRule
from messaging.models import MessageTemplate
from tests.factories import CustomerFactory, InteractionFactory, SegmentFactory, UserFactory
from tests.funnel.conftest import customer_in_stage, set_rule

pytestmark = pytest.mark.django_db

BOARD = reverse("funnel:board")
MY_DAY = reverse("funnel:my_day")


def count_queries(client, url, **params):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(ctx)


# --- board -------------------------------------------------------------------------------------


def test_board_shows_columns_with_counts_owner_and_last_touch(client, agent):
    # given
    customer = CustomerFactory(owner=agent, name="Padaria Central", stage="retention")
    InteractionFactory(customer=customer, happened_at=timezone.now() - timedelta(days=2))
    CustomerFactory(stage="retention", name="Mercado Sul")
    CustomerFactory(stage="churned", name="Antiga Loja")
    client.force_login(agent)
    # when
    response = client.get(BOARD)
    # then
    columns = {c.stage: c for c in response.context["columns"]}
    assert list(columns) == ["adoption", "retention", "expansion", "evangelization", "churned"]
    assert (columns["retention"].count, columns["churned"].count, columns["adoption"].count) == (2, 1, 0)
    html = response.content.decode()
    assert "Padaria Central" in html and agent.first_name in html
    cards = {c.name: c for c in columns["retention"].cards}
    assert cards["Padaria Central"].last_touch.date() == (timezone.now() - timedelta(days=2)).date()
    assert cards["Mercado Sul"].last_touch is None


def test_board_filters_by_owner_and_segment(client, agent, other_agent):
    segment = SegmentFactory(name="Varejo")
    CustomerFactory(owner=agent, segment=segment, name="Minha Varejo")
    CustomerFactory(owner=agent, name="Minha Sem Segmento")
    CustomerFactory(owner=other_agent, segment=segment, name="Outra Varejo")
    client.force_login(agent)
    response = client.get(BOARD, {"owner": "mine", "segment": segment.pk})
    names = [c.name for col in response.context["columns"] for c in col.cards]
    assert names == ["Minha Varejo"]


def test_board_limits_cards_per_column_and_links_to_the_filtered_list(client, agent):
    # given 52 customers in expansion
    for i in range(52):
        CustomerFactory(stage="expansion", owner=agent, name=f"Cliente {i:02d}")
    client.force_login(agent)
    # when
    response = client.get(BOARD, {"owner": "mine"})
    # then 50 cards, "2 more" linking to the customers list filtered by stage and owner
    column = next(c for c in response.context["columns"] if c.stage == "expansion")
    assert (column.count, len(column.cards), column.more) == (52, 50, 2)
    assert column.cards[0].name == "Cliente 00"
    html = response.content.decode()
    assert f'href="{reverse("customers:list")}?stage=expansion&amp;owner=mine"' in html
    assert "2 more" in html


def test_board_query_count_is_the_same_for_1_and_many_customers(client, agent, django_assert_num_queries):
    # given one customer
    CustomerFactory(owner=agent, segment=SegmentFactory())
    client.force_login(agent)
    one = count_queries(client, BOARD)
    # and then forty, in every stage, with interactions and history
    for i in range(40):
        stage = ["adoption", "retention", "expansion", "evangelization", "churned"][i % 5]
        c, _ = customer_in_stage(
            stage, owner=agent if i % 2 else UserFactory(), segment=SegmentFactory(name=f"S{i % 3}")
        )
        InteractionFactory(customer=c)
    # when / then
    with django_assert_num_queries(one):
        response = client.get(BOARD)
    assert sum(c.count for c in response.context["columns"]) == 41


def test_agent_moves_own_customer_from_the_board(client, agent):
    customer, _ = customer_in_stage("adoption", owner=agent)
    client.force_login(agent)
    response = client.post(reverse("funnel:move", args=[customer.pk]), {"to_stage": "retention", "reason": "Usa tudo"})
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.stage == "retention"
    change = StageChange.objects.filter(customer=customer).first()
    assert (change.changed_by, change.reason) == (agent, "Usa tudo")


def test_move_without_reason_shows_what_to_fix(client, agent):
    customer, _ = customer_in_stage("adoption", owner=agent)
    client.force_login(agent)
    response = client.post(
        reverse("funnel:move", args=[customer.pk]), {"to_stage": "retention", "reason": ""}, follow=True
    )
    customer.refresh_from_db()
    assert customer.stage == "adoption"
    assert "was not moved" in response.content.decode()


def test_agent_moving_another_agents_customer_gets_403(client, agent, others_customer):
    client.force_login(agent)
    response = client.post(reverse("funnel:move", args=[others_customer.pk]), {"to_stage": "churned", "reason": "x"})
    assert response.status_code == 403
    others_customer.refresh_from_db()
    assert others_customer.stage == "adoption"


def test_manager_moves_any_customer(client, manager, others_customer):
    client.force_login(manager)
    client.post(reverse("funnel:move", args=[others_customer.pk]), {"to_stage": "expansion", "reason": "Upgrade"})
    others_customer.refresh_from_db()
    assert others_customer.stage == "expansion"


def test_user_without_role_gets_403_on_the_board(client, no_role_user):
    client.force_login(no_role_user)
    assert client.get(BOARD).status_code == 403


def test_board_shows_move_form_only_on_cards_the_agent_can_move(client, agent, own_customer, others_customer):
    client.force_login(agent)
    html = client.get(BOARD).content.decode()
    assert reverse("funnel:move", args=[own_customer.pk]) in html
    assert reverse("funnel:move", args=[others_customer.pk]) not in html


# --- history partial ---------------------------------------------------------------------------


def test_history_partial_lists_changes_with_who_and_why(client, agent, manager):
    customer, _ = customer_in_stage("adoption", owner=agent)
    from funnel import services

    services.stage_move(customer=customer, to_stage="retention", actor=manager, reason="Onboarding ok")
    client.force_login(agent)
    response = client.get(reverse("funnel:history", args=[customer.pk]), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert "Onboarding ok" in html and manager.get_full_name() in html
    assert [h.to_stage for h in response.context["history"]] == ["retention", "adoption"]


# --- rules -------------------------------------------------------------------------------------


def test_agent_reads_rules_but_cannot_edit(client, agent):
    rule = set_rule(TransitionRule.Kind.ADOPTION_DAYS, days=30)
    client.force_login(agent)
    html = client.get(reverse("funnel:rules")).content.decode()
    assert str(rule.get_kind_display()) in html
    assert reverse("funnel:rule_edit", args=[rule.pk]) not in html
    edit = reverse("funnel:rule_edit", args=[rule.pk])
    assert client.get(edit).status_code == 403
    response = client.post(edit, {"enabled": "on", "from_stages": ["adoption"], "to_stage": "retention", "days": "5"})
    assert response.status_code == 403
    rule.refresh_from_db()
    assert rule.days == 30


def test_manager_edits_rule(client, manager):
    rule = set_rule(TransitionRule.Kind.NO_PURCHASE, days=180)
    client.force_login(manager)
    response = client.post(
        reverse("funnel:rule_edit", args=[rule.pk]), {"from_stages": ["retention"], "to_stage": "churned", "days": "90"}
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.enabled, rule.from_stages, rule.days) == (False, ["retention"], 90)


def test_manager_rule_form_error_keeps_the_rule(client, manager):
    rule = set_rule(TransitionRule.Kind.NO_PURCHASE, days=180)
    client.force_login(manager)
    response = client.post(
        reverse("funnel:rule_edit", args=[rule.pk]),
        {"enabled": "on", "from_stages": ["churned"], "to_stage": "churned"},
    )
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"to_stage", "days"}
    rule.refresh_from_db()
    assert rule.days == 180


# --- playbooks ---------------------------------------------------------------------------------


@pytest.fixture
def checkin_playbook(db):
    template = MessageTemplate.objects.create(
        slug="checkin",
        name="Check-in",
        subject_pt_br="Oi, {nome}",
        body_pt_br="Olá, {nome}! Como tem sido a experiência com {produto}?",
    )
    playbook = Playbook.objects.create(stage="adoption", name="Adoção")
    step = PlaybookStep.objects.create(playbook=playbook, day_offset=7, action="send_message", template=template)
    return playbook, step, template


def test_preview_renders_the_template_for_a_real_customer(client, agent, checkin_playbook):
    playbook, step, _ = checkin_playbook
    customer = CustomerFactory(name="Joana Prado", plan="Plano Ouro")
    client.force_login(agent)
    response = client.get(
        reverse("funnel:preview", args=[playbook.pk]),
        {"step": step.pk, "customer": f"#{customer.pk}"},
        HTTP_HX_REQUEST="true",
    )
    assert response.context["subject"] == "Oi, Joana Prado"
    assert "Olá, Joana Prado! Como tem sido a experiência com Plano Ouro?" in response.content.decode()


def test_preview_with_unknown_variable_shows_a_clear_error(client, agent, checkin_playbook):
    playbook, step, template = checkin_playbook
    MessageTemplate.objects.filter(pk=template.pk).update(body_pt_br="Olá, {apelido}!")
    customer = CustomerFactory()
    client.force_login(agent)
    response = client.get(reverse("funnel:preview", args=[playbook.pk]), {"step": step.pk, "customer": customer.email})
    assert response.status_code == 200
    assert "{apelido}" in response.context["error"]
    assert "{nome}" in response.context["error"]


def test_manager_adds_task_step_and_agent_cannot(client, agent, manager, checkin_playbook):
    playbook, _, _ = checkin_playbook
    url = reverse("funnel:step_add", args=[playbook.pk])
    data = {"day_offset": "14", "action": "create_task", "task_title": "Ligar", "task_priority": "high"}
    client.force_login(agent)
    assert client.post(url, data).status_code == 403
    client.force_login(manager)
    assert client.post(url, data).status_code == 302
    step = playbook.steps.get(day_offset=14)
    assert (step.action, step.task_title, step.task_priority) == ("create_task", "Ligar", "high")


def test_send_step_without_template_says_what_to_fix(client, manager, checkin_playbook):
    playbook, _, _ = checkin_playbook
    client.force_login(manager)
    response = client.post(
        reverse("funnel:step_add", args=[playbook.pk]),
        {"day_offset": "1", "action": "send_message", "task_priority": "normal"},
    )
    assert response.status_code == 200
    assert "template" in response.context["form"].errors


def test_second_active_default_playbook_for_a_stage_is_refused(client, manager, checkin_playbook):
    client.force_login(manager)
    response = client.post(reverse("funnel:playbook_create"), {"name": "Outra", "stage": "adoption", "active": "on"})
    assert response.status_code == 200
    assert "active" in response.context["form"].errors
    assert Playbook.objects.filter(stage="adoption").count() == 1


def test_playbook_list_query_count_is_constant(client, agent, checkin_playbook, django_assert_num_queries):
    client.force_login(agent)
    one = count_queries(client, reverse("funnel:playbooks"))
    for i in range(10):
        Playbook.objects.create(stage="retention", segment=SegmentFactory(name=f"P{i}"), name=f"Retenção {i}")
    with django_assert_num_queries(one):
        client.get(reverse("funnel:playbooks"))


# --- my day ------------------------------------------------------------------------------------


def make_task(owner, customer, days, title="Tarefa", **kw):
    return Task.objects.create(
        owner=owner, customer=customer, title=title, due_date=timezone.localdate() + timedelta(days=days), **kw
    )


def test_my_day_splits_overdue_today_and_upcoming_for_the_agent(client, agent, other_agent, own_customer):
    make_task(agent, own_customer, -2, "Atrasada")
    make_task(agent, own_customer, 0, "Hoje")
    make_task(agent, own_customer, 3, "Depois")
    make_task(other_agent, own_customer, 0, "De outro")
    client.force_login(agent)
    day = client.get(MY_DAY).context["day"]
    assert [t.title for t in day.overdue] == ["Atrasada"]
    assert [t.title for t in day.today] == ["Hoje"]
    assert [t.title for t in day.upcoming] == ["Depois"]


def test_agent_cannot_see_the_team_but_manager_can(client, agent, other_agent, manager, own_customer):
    make_task(other_agent, own_customer, 0, "De outro")
    client.force_login(agent)
    assert client.get(MY_DAY, {"owner": "all"}).context["day"].today == []
    client.force_login(manager)
    assert [t.title for t in client.get(MY_DAY, {"owner": "all"}).context["day"].today] == ["De outro"]
    assert [t.title for t in client.get(MY_DAY, {"owner": other_agent.pk}).context["day"].today] == ["De outro"]


def test_my_day_query_count_is_the_same_for_1_and_many_tasks(client, manager, agent, django_assert_num_queries):
    customer = CustomerFactory(owner=agent)
    make_task(agent, customer, -1)
    client.force_login(manager)
    one = count_queries(client, MY_DAY, owner="all")
    for i in range(30):
        make_task(UserFactory() if i % 2 else agent, CustomerFactory(), (i % 7) - 3, priority="high")
    with django_assert_num_queries(one):
        response = client.get(MY_DAY, {"owner": "all"})
    day = response.context["day"]
    assert len(day.overdue) + len(day.today) + len(day.upcoming) == 31


def test_agent_creates_a_task_from_my_day(client, agent, own_customer):
    client.force_login(agent)
    response = client.post(
        reverse("funnel:task_create"),
        {
            "customer": own_customer.name,
            "title": "Enviar tutorial",
            "due_date": timezone.localdate().isoformat(),
            "priority": "normal",
        },
    )
    assert response.status_code == 302
    task = Task.objects.get()
    assert (task.customer, task.owner, task.origin) == (own_customer, agent, "manual")


def test_agent_cannot_create_a_task_for_another_agents_customer(client, agent, others_customer):
    client.force_login(agent)
    response = client.post(
        reverse("funnel:task_create"),
        {
            "customer": f"#{others_customer.pk}",
            "title": "X",
            "due_date": timezone.localdate().isoformat(),
            "priority": "normal",
        },
    )
    assert response.status_code == 400
    assert "customer" in response.context["form"].errors
    assert not Task.objects.exists()


def test_complete_task_with_one_click_returns_the_updated_row(client, agent, own_customer):
    task = make_task(agent, own_customer, 0, "Ligar")
    client.force_login(agent)
    response = client.post(reverse("funnel:task_complete", args=[task.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="task-{task.pk}"' in html and "task-done" in html
    task.refresh_from_db()
    assert (task.status, task.done_by) == ("done", agent)


def test_agent_completing_another_agents_task_gets_403(client, agent, other_agent, others_customer):
    task = make_task(other_agent, others_customer, 0)
    client.force_login(agent)
    assert client.post(reverse("funnel:task_complete", args=[task.pk])).status_code == 403
    task.refresh_from_db()
    assert task.status == "open"


def test_customer_360_loads_the_stage_history_panel(client, agent, own_customer):
    client.force_login(agent)
    html = client.get(reverse("customers:detail", args=[own_customer.pk])).content.decode()
    assert f'hx-get="{reverse("funnel:history", args=[own_customer.pk])}"' in html
    page = client.get(reverse("funnel:history", args=[own_customer.pk]))
    assert "<html" in page.content.decode()
    assert page.context["customer"] == own_customer


def test_manager_and_agent_pages_render_with_the_default_playbooks(client, manager, agent):
    from django.core.management import call_command

    call_command("load_playbooks")
    playbook = Playbook.objects.get(slug="adocao-padrao")
    step = playbook.steps.order_by("day_offset").first()
    rule = TransitionRule.objects.get(kind="adoption_days")
    client.force_login(manager)
    manager_html = client.get(reverse("funnel:playbook", args=[playbook.pk])).content.decode()
    assert "Boas-vindas" in manager_html and reverse("funnel:step_add", args=[playbook.pk]) in manager_html
    assert client.get(reverse("funnel:step_edit", args=[playbook.pk, step.pk])).status_code == 200
    assert client.get(reverse("funnel:rule_edit", args=[rule.pk])).status_code == 200
    assert client.get(reverse("funnel:playbook_create")).status_code == 200
    client.force_login(agent)
    agent_html = client.get(reverse("funnel:playbook", args=[playbook.pk])).content.decode()
    assert "D+7" in agent_html and reverse("funnel:step_add", args=[playbook.pk]) not in agent_html
    assert client.get(reverse("funnel:step_edit", args=[playbook.pk, step.pk])).status_code == 403


def test_admin_lists_funnel_history_read_only(client, admin_user, own_customer):
    from funnel import services

    services.stage_enter_initial(customer_id=own_customer.pk)
    client.force_login(admin_user)
    for name in ("stagechange", "steprun", "task", "playbook", "transitionrule", "digestlog"):
        assert client.get(reverse(f"admin:funnel_{name}_changelist")).status_code == 200
    assert client.get(reverse("admin:funnel_stagechange_add")).status_code == 403
