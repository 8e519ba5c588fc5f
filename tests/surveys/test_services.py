from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from funnel.models import Task, TransitionRule
from messaging.models import Message
from surveys import links, services
from surveys.models import Category, Invitation, Kind, Response, Trigger
from surveys.selectors import nps_value, survey_results
from tests.factories import CustomerFactory, OrderFactory
from tests.funnel.conftest import set_rule
from tests.surveys.conftest import consenting_customer, make_survey, sent_invitation

pytestmark = pytest.mark.django_db


def test_nps_of_five_promoters_three_passives_two_detractors_is_30():
    assert nps_value(5, 3, 2) == Decimal("30.0")
    assert nps_value(0, 0, 0) is None
    assert nps_value(1, 0, 2) == Decimal("-33.3")


def test_results_on_hand_built_answers(nps_survey):
    # given 10 answers: 10, 9, 9, 10, 9 (promoters), 7, 8, 8 (passives), 0, 6 (detractors), and 2 unanswered
    scores = [10, 9, 9, 10, 9, 7, 8, 8, 0, 6]
    for score in scores:
        services.response_submit(invitation=sent_invitation(nps_survey), score=score)
    sent_invitation(nps_survey)
    sent_invitation(nps_survey)

    results = survey_results(survey=nps_survey)

    assert results.counts == {Category.PROMOTER: 5, Category.PASSIVE: 3, Category.DETRACTOR: 2}
    assert results.score == Decimal("30.0")
    assert (results.invited, results.answered) == (12, 10)
    assert results.response_rate == Decimal("83.3")  # 10 / 12
    assert dict(results.distribution) == {0: 1, 1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 1, 7: 1, 8: 2, 9: 3, 10: 2}
    assert [row["answered"] for row in results.trend] == [10]
    assert results.loops_open == 2  # the two detractors got a task


def test_csat_share_satisfied_and_ces_mean():
    csat, ces = make_survey(Kind.CSAT), make_survey(Kind.CES)
    for score in (5, 4, 3, 1):  # 2 of 4 satisfied
        services.response_submit(invitation=sent_invitation(csat), score=score)
    for score in (7, 6, 2):  # mean 5
        services.response_submit(invitation=sent_invitation(ces), score=score)

    assert survey_results(survey=csat).score == Decimal("50.0")
    assert survey_results(survey=ces).score == Decimal("5.00")


def test_invitation_sends_one_email_with_the_scale(nps_survey, customer):
    invitation, created = services.invitation_create(survey=nps_survey, customer=customer)
    again, created_again = services.invitation_create(survey=nps_survey, customer=customer)

    assert created and not created_again and again.pk == invitation.pk
    message = Message.objects.get(customer=customer)
    assert message.purpose == "surveys" and message.status == Message.Status.QUEUED
    scores = [score for score, _ in message.extra["scale"]["links"]]
    assert scores == list(range(0, 11))
    url = dict(message.extra["scale"]["links"])[7]
    assert url.endswith("?score=7")
    assert invitation.expires_at - invitation.sent_at == timedelta(days=nps_survey.link_valid_days)


def test_send_twice_sends_once(nps_survey, customer):
    invitation, _ = services.invitation_create(
        survey=nps_survey, customer=customer, due_at=timezone.now() + timedelta(hours=1)
    )
    assert invitation.status == Invitation.Status.SCHEDULED
    later = timezone.now() + timedelta(hours=2)

    assert services.invitations_send_due(now=later) == 1
    assert services.invitations_send_due(now=later) == 0
    assert Message.objects.filter(customer=customer).count() == 1


def test_fatigue_rule_skips_a_second_survey_of_the_same_type(customer):
    first, second, csat = make_survey(Kind.NPS), make_survey(Kind.NPS, name="Outra"), make_survey(Kind.CSAT)
    sent_invitation(first, customer)

    skipped, _ = services.invitation_create(survey=second, customer=customer)
    other_type, _ = services.invitation_create(survey=csat, customer=customer)

    assert (skipped.status, skipped.skip_reason) == (Invitation.Status.SKIPPED, Invitation.SkipReason.FATIGUE)
    assert other_type.status == Invitation.Status.SENT
    assert Message.objects.filter(customer=customer).count() == 2


def test_fatigue_window_is_configurable(customer):
    first, second = make_survey(Kind.NPS), make_survey(Kind.NPS, name="Outra", fatigue_days=10)
    invitation = sent_invitation(first, customer)
    Invitation.objects.filter(pk=invitation.pk).update(sent_at=timezone.now() - timedelta(days=11))

    again, _ = services.invitation_create(survey=second, customer=customer)

    assert again.status == Invitation.Status.SENT


def test_no_consent_means_not_sent(nps_survey):
    customer = CustomerFactory()  # never agreed to surveys
    invitation, _ = services.invitation_create(survey=nps_survey, customer=customer)
    assert (invitation.status, invitation.skip_reason) == (Invitation.Status.SKIPPED, Invitation.SkipReason.BLOCKED)
    assert Message.objects.get(customer=customer).status == Message.Status.BLOCKED


def test_answering_twice_updates_the_same_response(nps_survey, customer):
    invitation = sent_invitation(nps_survey, customer)
    services.response_submit(invitation=invitation, score=3, comment="Demorou")
    response = services.response_submit(invitation=invitation, score=8, comment="Resolveram")

    assert Response.objects.count() == 1
    assert (response.score, response.comment, response.category, response.times_answered) == (
        8,
        "Resolveram",
        Category.PASSIVE,
        2,
    )


@pytest.mark.parametrize("score", [-1, 11, "dez", None, ""])
def test_score_outside_the_scale_is_refused_and_nothing_saved(nps_survey, customer, score):
    invitation = sent_invitation(nps_survey, customer)
    with pytest.raises(ValidationError) as exc:
        services.response_submit(invitation=invitation, score=score)
    assert "score" in exc.value.message_dict
    assert not Response.objects.exists()
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT


def test_exit_survey_requires_a_known_reason(customer):
    survey = make_survey(Kind.EXIT, exit_reasons_pt_br="Preço\nAtendimento")
    invitation = sent_invitation(survey, customer)
    with pytest.raises(ValidationError):
        services.response_submit(invitation=invitation, reason="Inventado")
    response = services.response_submit(invitation=invitation, reason="Preço", comment="Caro demais")
    assert (response.reason, response.score) == ("Preço", None)


def test_token_tampered_other_or_expired_is_refused(nps_survey, customer):
    invitation = sent_invitation(nps_survey, customer)
    other = sent_invitation(nps_survey)
    token = links.invitation_token(invitation.pk, invitation.nonce)

    assert services.invitation_from_token(token).pk == invitation.pk
    with pytest.raises(services.BadLink) as tampered:
        services.invitation_from_token(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    assert tampered.value.reason == "invalid"
    # another invitation's id with this invitation's nonce: signature valid, nonce wrong
    with pytest.raises(services.BadLink):
        services.invitation_from_token(links.invitation_token(other.pk, invitation.nonce))
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(services.BadLink) as expired:
        services.invitation_from_token(token)
    assert expired.value.reason == "expired"


def test_detractor_gets_one_task_for_the_owner_and_closing_the_loop_completes_it(nps_survey, customer, agent):
    invitation = sent_invitation(nps_survey, customer)
    response = services.response_submit(invitation=invitation, score=4, comment="Entrega atrasou")
    services.response_submit(invitation=invitation, score=2, comment="Pior ainda")

    task = Task.objects.get(customer=customer)
    assert task.owner == agent and task.origin == Task.Origin.SURVEY and task.status == Task.Status.OPEN
    assert "Entrega atrasou" in task.notes
    assert task.due_date == timezone.localdate() + timedelta(days=nps_survey.detractor_task_days)
    response.refresh_from_db()
    assert response.loop == Response.Loop.OPEN

    with pytest.raises(ValidationError):
        services.response_close_loop(actor=agent, response=response, note="  ")
    closed = services.response_close_loop(actor=agent, response=response, note="Liguei e reenviamos o pedido")

    assert closed.loop == Response.Loop.CLOSED and closed.loop_closed_by == agent
    task.refresh_from_db()
    assert task.status == Task.Status.DONE


def test_close_loop_refused_for_another_agent(nps_survey, customer, other_agent):
    from django.core.exceptions import PermissionDenied

    response = services.response_submit(invitation=sent_invitation(nps_survey, customer), score=1)
    with pytest.raises(PermissionDenied):
        services.response_close_loop(actor=other_agent, response=response, note="Não é meu")
    response.refresh_from_db()
    assert response.loop == Response.Loop.OPEN


def test_csat_two_opens_a_task_csat_three_does_not(customer):
    csat = make_survey(Kind.CSAT)
    services.response_submit(invitation=sent_invitation(csat, customer), score=3)
    assert not Task.objects.exists()
    services.response_submit(invitation=sent_invitation(make_survey(Kind.CSAT, fatigue_days=0), customer), score=2)
    assert Task.objects.count() == 1


def test_detractor_task_can_be_turned_off(customer):
    survey = make_survey(Kind.NPS, detractor_task=False)
    response = services.response_submit(invitation=sent_invitation(survey, customer), score=0)
    assert not Task.objects.exists() and response.loop == ""


def test_promoter_moves_towards_evangelization(nps_survey, django_capture_on_commit_callbacks):
    set_rule(TransitionRule.Kind.PROMOTER)
    customer = consenting_customer(stage="retention")
    with django_capture_on_commit_callbacks(execute=True):
        services.response_submit(invitation=sent_invitation(nps_survey, customer), score=10)
    customer.refresh_from_db()
    assert customer.stage == "evangelization"


def test_promoter_move_can_be_turned_off():
    set_rule(TransitionRule.Kind.PROMOTER)
    customer = consenting_customer(stage="retention")
    survey = make_survey(Kind.NPS, promoter_to_funnel=False)
    services.response_submit(invitation=sent_invitation(survey, customer), score=10)
    customer.refresh_from_db()
    assert customer.stage == "retention"


def test_one_reminder_to_those_who_did_not_answer(nps_survey, customer):
    invitation = sent_invitation(nps_survey, customer)
    answered = sent_invitation(nps_survey)
    services.response_submit(invitation=answered, score=9)
    later = timezone.now() + timedelta(days=nps_survey.reminder_after_days, minutes=1)

    assert services.invitations_remind_due(now=later) == 1
    assert services.invitations_remind_due(now=later) == 0
    reminders = Message.objects.filter(idempotency_key__startswith="survey-reminder:")
    assert [m.customer_id for m in reminders] == [customer.pk]
    invitation.refresh_from_db()
    assert invitation.reminded_at is not None


def test_after_order_trigger_schedules_once_per_order(customer):
    survey = make_survey(Kind.CSAT, trigger=Trigger.AFTER_ORDER, trigger_days=3)
    order = OrderFactory(customer=customer)

    assert services.order_trigger(order_id=order.pk) == 1
    assert services.order_trigger(order_id=order.pk) == 0
    invitation = Invitation.objects.get(survey=survey)
    assert invitation.status == Invitation.Status.SCHEDULED
    assert abs(invitation.due_at - (order.purchased_at + timedelta(days=3))) < timedelta(seconds=1)
    assert services.invitations_send_due(now=order.purchased_at + timedelta(days=3, minutes=1)) == 1


def test_churn_sends_the_exit_survey_once(customer, django_capture_on_commit_callbacks):
    from funnel.services import stage_move

    survey = make_survey(Kind.EXIT, trigger=Trigger.ON_CHURN)
    with django_capture_on_commit_callbacks(execute=True):
        stage_move(actor=None, customer=customer, to_stage="churned", reason="Cancelou")
    invitation = Invitation.objects.get(survey=survey, customer=customer)
    assert invitation.source == Invitation.Source.CHURN and invitation.status == Invitation.Status.SENT
    assert Message.objects.get(customer=customer).extra["button"]["url"]


def test_wave_to_a_segment_invites_each_customer_once(manager, nps_survey, django_capture_on_commit_callbacks):
    from tests.factories import SegmentFactory

    segment = SegmentFactory(name="Varejo")
    members = [consenting_customer(segment=segment) for _ in range(3)]
    consenting_customer()  # outside the segment

    wave = services.wave_create(actor=manager, survey=nps_survey, segment=segment)
    assert services.wave_run(wave_id=wave.pk) == 3
    assert services.wave_run(wave_id=wave.pk) == 0

    wave.refresh_from_db()
    assert (wave.status, wave.total, wave.invited, wave.skipped) == ("done", 3, 3, 0)
    assert sorted(Message.objects.values_list("customer_id", flat=True)) == sorted(c.pk for c in members)


def test_recurring_wave_starts_once_per_period(db):
    survey = make_survey(Kind.NPS, trigger=Trigger.RECURRING, trigger_days=90)
    assert services.recurring_waves_start() == 1
    assert services.recurring_waves_start() == 0
    assert services.recurring_waves_start(now=timezone.now() + timedelta(days=91)) == 1
    assert survey.waves.count() == 2


def test_refunded_order_sends_the_on_return_exit_survey_once(customer, django_capture_on_commit_callbacks):
    from customers.services import order_update

    survey = make_survey(Kind.EXIT, trigger=Trigger.ON_RETURN)
    order = OrderFactory(customer=customer)
    with django_capture_on_commit_callbacks(execute=True):
        order_update(actor=None, order=order, status="refunded")
    with django_capture_on_commit_callbacks(execute=True):
        order_update(actor=None, order=order, status="refunded", product="Kit devolvido")

    invitation = Invitation.objects.get(survey=survey, customer=customer)
    assert invitation.source == Invitation.Source.RETURN and invitation.status == Invitation.Status.SENT
    assert Message.objects.filter(customer=customer).count() == 1


def test_a_non_exit_survey_cannot_be_sent_on_churn_or_return(manager):
    for trigger in (Trigger.ON_CHURN, Trigger.ON_RETURN):
        with pytest.raises(ValidationError) as exc:
            services.survey_create(actor=manager, name="NPS", kind=Kind.NPS, trigger=trigger)
        assert "trigger" in exc.value.message_dict


def test_detractor_opens_one_support_ticket_for_the_owner(nps_survey, customer, agent):
    from support.models import Ticket

    invitation = sent_invitation(nps_survey, customer)
    response = services.response_submit(invitation=invitation, score=2, comment="Produto veio quebrado")
    services.response_submit(invitation=invitation, score=1, comment="Ainda quebrado")

    ticket = Ticket.objects.get()
    assert (ticket.customer, ticket.assignee, ticket.channel, ticket.priority) == (customer, agent, "survey", "high")
    assert ticket.survey_response == response and "Produto veio quebrado" in ticket.description


def test_detractor_ticket_can_be_turned_off(customer):
    from support.models import Ticket

    survey = make_survey(Kind.NPS, detractor_ticket=False)
    services.response_submit(invitation=sent_invitation(survey, customer), score=0)
    assert not Ticket.objects.exists() and Task.objects.count() == 1


def test_resolved_ticket_sends_the_after_ticket_csat_once_per_resolution(
    customer, agent, django_capture_on_commit_callbacks
):
    from support.services import ticket_change, ticket_create

    csat = make_survey(Kind.CSAT, trigger=Trigger.AFTER_TICKET, fatigue_days=0)
    ticket, _ = ticket_create(actor=agent, customer=customer, subject="Boleto não chegou")
    with django_capture_on_commit_callbacks(execute=True):
        ticket_change(actor=agent, ticket=ticket, status="resolved")
    assert services.ticket_trigger(ticket_id=ticket.pk, cycle=0) == 0  # the event replayed: nothing new
    with django_capture_on_commit_callbacks(execute=True):
        ticket_change(actor=agent, ticket=ticket, status="reopened")
        ticket_change(actor=agent, ticket=ticket, status="resolved")

    invitations = Invitation.objects.filter(survey=csat, customer=customer).order_by("id")
    assert [(i.source_key, i.status) for i in invitations] == [
        (f"ticket:{ticket.pk}:0", Invitation.Status.SENT),
        (f"ticket:{ticket.pk}:1", Invitation.Status.SENT),
    ]


def test_no_survey_within_the_quiet_days_after_a_ticket(customer, agent):
    from support.models import Ticket
    from support.services import ticket_create

    nps_survey = make_survey(Kind.NPS, quiet_days_after_ticket=7)
    ticket, _ = ticket_create(actor=agent, customer=customer, subject="Dúvida")
    invitation, _ = services.invitation_create(survey=nps_survey, customer=customer)
    assert (invitation.status, invitation.skip_reason) == (
        Invitation.Status.SKIPPED,
        Invitation.SkipReason.RECENT_TICKET,
    )

    Ticket.objects.filter(pk=ticket.pk).update(opened_at=timezone.now() - timedelta(days=8))
    later, _ = services.invitation_create(survey=nps_survey, customer=customer, source_key="again")
    assert later.status == Invitation.Status.SENT


def test_promoter_gets_the_referral_ask_through_the_evangelization_playbook(django_capture_on_commit_callbacks):
    """A promoter moves to evangelization, whose default playbook asks for a referral two days later."""
    from funnel.defaults import load_defaults
    from funnel.models import StepRun

    load_defaults()
    set_rule(TransitionRule.Kind.PROMOTER)
    customer = consenting_customer(stage="retention")
    with django_capture_on_commit_callbacks(execute=True):
        services.response_submit(invitation=sent_invitation(make_survey(Kind.NPS), customer), score=9)

    run = StepRun.objects.select_related("step__template").get(customer=customer, status=StepRun.Status.PENDING)
    assert run.step.template.slug == "funil-indicacao"
    assert timedelta(days=1, hours=23) < run.due_at - timezone.now() <= timedelta(days=2)
