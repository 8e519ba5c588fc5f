"""Campaigns: audiences on hand-built data, exactly-once fan-out, consent, scheduling and results."""

import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone, translation

from customers.models import Consent, Customer, Order, Tag
from funnel import campaigns, tasks
from funnel.models import Audience, Campaign, CampaignBatch
from messaging import services as messaging_services
from messaging.models import Channel, Message, MessageEvent, MessageTemplate
from surveys.models import Invitation, Response, Survey
from tests.factories import ConsentFactory, CustomerFactory, OrderFactory, SegmentFactory, UserFactory


@pytest.fixture
def offer(db):
    return MessageTemplate.objects.create(
        slug="lancamento",
        name="Lançamento",
        channel=Channel.EMAIL,
        purpose=Consent.Purpose.MARKETING,
        subject_pt_br="Novidade para você, {nome}",
        body_pt_br="Olá, {primeiro_nome}! Conheça o nosso lançamento.",
        subject_en="Something new for you, {name}",
        body_en="Hi {first_name}! Meet our new product.",
    )


def consenting(**fields):
    customer = CustomerFactory(**fields)
    ConsentFactory(customer=customer, channel=Consent.Channel.EMAIL, purpose=Consent.Purpose.MARKETING)
    return customer


def audience(name="Todos", **filters):
    return Audience.objects.create(name=name, filters=filters)


def campaign_for(template, aud, *, manager=None, scheduled_at=None, name="Lançamento de novembro"):
    return Campaign.objects.create(
        name=name, template=template, audience=aud, scheduled_at=scheduled_at, created_by=manager
    )


def run_batches(capture):
    """Run what the start handed to the broker: every batch task, as a worker would."""
    with capture(execute=False) as callbacks:
        pass
    for batch_id in CampaignBatch.objects.order_by("number").values_list("pk", flat=True):
        tasks.campaign_send_batch(batch_id)
    return callbacks


def member_ids(**filters):
    return set(campaigns.audience_customers(filters=filters).values_list("pk", flat=True))


# --- audiences ---------------------------------------------------------------------------------


def test_audience_filters_by_stage_segment_kind_and_owner(agent):
    # given customers that differ in one attribute each
    varejo = SegmentFactory(name="Varejo")
    match = CustomerFactory(stage="retention", segment=varejo, owner=agent)
    other_stage = CustomerFactory(stage="adoption", segment=varejo, owner=agent)
    other_segment = CustomerFactory(stage="retention", segment=SegmentFactory(name="Atacado"), owner=agent)
    company = CustomerFactory(company=True, stage="retention", segment=varejo, owner=agent)
    unowned = CustomerFactory(stage="retention", segment=varejo, owner=None)

    # when / then
    assert member_ids(stages=["retention"], segments=[varejo.pk], kind="person", owner=agent.pk) == {match.pk}
    assert member_ids(stages=["retention", "adoption"], segments=[varejo.pk], kind="person", owner=agent.pk) == {
        match.pk,
        other_stage.pk,
    }
    assert member_ids(kind="company") == {company.pk}
    assert member_ids(owner="none") == {unowned.pk}
    assert other_segment.pk in member_ids(stages=["retention"])


def test_audience_filters_by_any_of_several_tags_once_per_customer(db):
    # given a customer with two of the chosen tags, one with one, one with another tag
    vip, promo, other = (Tag.objects.create(name=n) for n in ("vip", "promo", "outra"))
    both = CustomerFactory()
    both.tags.add(vip, promo)
    one = CustomerFactory()
    one.tags.add(promo)
    CustomerFactory().tags.add(other)

    # when
    qs = campaigns.audience_customers(filters={"tags": [vip.pk, promo.pk]})

    # then each tagged customer is in the audience once
    assert sorted(qs.values_list("pk", flat=True)) == sorted([both.pk, one.pk])
    assert qs.count() == 2


def test_audience_last_purchase_counts_paid_orders_only(db):
    # given purchases at various ages; a recent cancelled order must not count
    now = timezone.now()
    lapsed = CustomerFactory(name="Comprou há 100 dias")
    OrderFactory(customer=lapsed, purchased_at=now - timedelta(days=100))
    lapsed_with_cancel = CustomerFactory(name="Cancelou ontem")
    OrderFactory(customer=lapsed_with_cancel, purchased_at=now - timedelta(days=95))
    OrderFactory(customer=lapsed_with_cancel, purchased_at=now - timedelta(days=1), status=Order.Status.CANCELLED)
    recent = CustomerFactory(name="Comprou há 10 dias")
    OrderFactory(customer=recent, purchased_at=now - timedelta(days=10))
    OrderFactory(customer=recent, purchased_at=now - timedelta(days=200))
    never = CustomerFactory(name="Nunca comprou")

    # when / then
    assert member_ids(last_purchase_before_days=90) == {lapsed.pk, lapsed_with_cancel.pk}
    assert member_ids(last_purchase_within_days=30) == {recent.pk}
    assert member_ids(last_purchase_within_days=120, last_purchase_before_days=30) == {
        lapsed.pk,
        lapsed_with_cancel.pk,
    }
    assert never.pk not in member_ids(last_purchase_before_days=1)


def test_audience_tenure_uses_the_customer_since_date(db):
    # given a long-standing customer and a new one
    veteran = CustomerFactory()
    Customer.objects.filter(pk=veteran.pk).update(created_at=timezone.now() - timedelta(days=400))
    CustomerFactory()

    # when / then
    assert member_ids(tenure_min_days=365) == {veteran.pk}


def test_audience_filters_are_validated_per_field(db):
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        campaigns.audience_filters_clean(
            {"stages": ["limbo"], "kind": "alien", "tenure_min_days": "0", "nps_categories": ["promoter", "fan"]}
        )
    errors = exc.value.message_dict
    assert set(errors) == {"stages", "kind", "tenure_min_days", "nps_categories"}
    assert errors["nps_categories"] == ["Unknown NPS category: fan. Choose promoter, passive or detractor."]


def hand_built_answer(customer, kind, score, category, days_ago):
    """A hand-built survey answer (no e-mail, no loop): ``days_ago`` sets when it was answered."""
    survey = Survey.objects.get_or_create(name=f"Pesquisa {kind}", kind=kind)[0]
    invitation = Invitation.objects.create(
        survey=survey,
        customer=customer,
        nonce=uuid.uuid4().hex,
        source_key=uuid.uuid4().hex,
        status=Invitation.Status.ANSWERED,
        due_at=timezone.now(),
    )
    Response.objects.create(
        invitation=invitation,
        survey=survey,
        customer=customer,
        kind=kind,
        score=score,
        category=category,
        answered_at=timezone.now() - timedelta(days=days_ago),
    )


def test_audience_by_the_category_of_the_latest_nps_answer(db):
    # given answers over time; only the latest NPS answer of each customer counts
    converted = CustomerFactory(name="Detrator que virou promotor")
    hand_built_answer(converted, "nps", 3, "detractor", days_ago=200)
    hand_built_answer(converted, "nps", 10, "promoter", days_ago=10)
    lapsed = CustomerFactory(name="Promotor que virou detrator")
    hand_built_answer(lapsed, "nps", 9, "promoter", days_ago=100)
    hand_built_answer(lapsed, "nps", 5, "detractor", days_ago=5)
    passive = CustomerFactory(name="Neutro")
    hand_built_answer(passive, "nps", 8, "passive", days_ago=30)
    csat_only = CustomerFactory(name="Só CSAT")
    hand_built_answer(csat_only, "csat", 1, "unsatisfied", days_ago=1)
    never = CustomerFactory(name="Nunca respondeu")

    # when / then
    assert member_ids(nps_categories=["promoter"]) == {converted.pk}
    assert member_ids(nps_categories=["detractor"]) == {lapsed.pk}
    assert member_ids(nps_categories=["passive", "detractor"]) == {passive.pk, lapsed.pk}
    assert member_ids(nps_categories=["promoter"], stages=["adoption"]) == {converted.pk}
    assert not {csat_only.pk, never.pk} & member_ids(nps_categories=["promoter", "passive", "detractor"])
    assert campaigns.audience_size(filters={"nps_categories": ["detractor", "promoter"]}) == 2


def test_audience_purchase_window_that_cannot_match_is_refused(db):
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        campaigns.audience_filters_clean({"last_purchase_before_days": 90, "last_purchase_within_days": 30})
    assert "larger than 90" in exc.value.message_dict["last_purchase_within_days"][0]


def test_agent_cannot_save_an_audience(agent):
    with pytest.raises(PermissionDenied):
        campaigns.audience_save(actor=agent, name="Minha", filters={})


# --- sending -----------------------------------------------------------------------------------


def test_send_now_queues_one_message_per_audience_customer(
    manager, offer, settings, django_capture_on_commit_callbacks
):
    # given 5 consenting customers in retention (batches of 2) and one in adoption
    settings.FUNNEL_CAMPAIGN_BATCH_SIZE = 2
    members = [consenting(stage="retention") for _ in range(5)]
    consenting(stage="adoption")
    campaign = campaign_for(offer, audience(stages=["retention"]), manager=manager)

    # when the manager sends it and the workers run the batches
    campaigns.campaign_send(actor=manager, campaign=campaign)
    run_batches(django_capture_on_commit_callbacks)

    # then each member has exactly one queued message of this campaign, and the campaign is done
    messages = Message.objects.filter(source=f"campaign:{campaign.pk}")
    assert sorted(messages.values_list("customer_id", flat=True)) == sorted(c.pk for c in members)
    assert set(messages.values_list("status", flat=True)) == {Message.Status.QUEUED}
    assert set(messages.values_list("automated", flat=True)) == {True}
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DONE
    assert (campaign.total_count, campaign.processed_count, campaign.queued_count, campaign.blocked_count) == (
        5,
        5,
        5,
        0,
    )
    assert CampaignBatch.objects.filter(campaign=campaign).count() == 3


def test_delivered_campaign_mail_is_personalised(manager, offer, django_capture_on_commit_callbacks):
    # given one consenting customer
    customer = consenting(name="Ana Souza")
    campaign = campaign_for(offer, audience(), manager=manager)
    campaigns.campaign_send(actor=manager, campaign=campaign)
    run_batches(django_capture_on_commit_callbacks)

    # when the message is delivered
    message = Message.objects.get(source=campaign.source)
    messaging_services.message_deliver(message_id=message.pk)

    # then the customer gets it, in their language, with the unsubscribe header
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [customer.email]
    assert mail.outbox[0].subject == "Novidade para você, Ana Souza"
    assert "List-Unsubscribe" in mail.outbox[0].extra_headers


def test_running_every_batch_twice_sends_nothing_twice(manager, offer, settings, django_capture_on_commit_callbacks):
    # given a started campaign of 3 customers in 2 batches, already fanned out once
    settings.FUNNEL_CAMPAIGN_BATCH_SIZE = 2
    for _ in range(3):
        consenting()
    campaign = campaign_for(offer, audience(), manager=manager)
    campaigns.campaign_send(actor=manager, campaign=campaign)
    run_batches(django_capture_on_commit_callbacks)

    # when a duplicated delivery of the tasks runs every batch again
    results = [tasks.campaign_send_batch(pk) for pk in CampaignBatch.objects.values_list("pk", flat=True)]

    # then the repeats did nothing: still one message per customer, counters added once
    assert results == [False, False]
    assert Message.objects.filter(source=campaign.source).count() == 3
    assert Message.objects.filter(source=campaign.source).values("customer_id").distinct().count() == 3
    campaign.refresh_from_db()
    assert (campaign.processed_count, campaign.queued_count, campaign.status) == (3, 3, Campaign.Status.DONE)


def test_a_batch_rerun_after_a_crash_queues_only_what_is_missing(manager, offer, django_capture_on_commit_callbacks):
    # given a batch whose first run died after one customer's message was already committed
    first, second = consenting(), consenting()
    campaign = campaign_for(offer, audience(), manager=manager)
    with django_capture_on_commit_callbacks(execute=False):
        campaigns.campaign_send(actor=manager, campaign=campaign)
    messaging_services.message_queue(
        customer=first,
        idempotency_key=f"campaign:{campaign.pk}:customer:{first.pk}",
        template=offer,
        source=campaign.source,
    )

    # when the batch runs
    tasks.campaign_send_batch(CampaignBatch.objects.get(campaign=campaign).pk)

    # then each customer has exactly one message
    customer_ids = list(Message.objects.filter(source=campaign.source).values_list("customer_id", flat=True))
    assert sorted(customer_ids) == sorted([first.pk, second.pk])


def test_a_stale_run_that_lost_its_claim_changes_nothing(manager, offer, django_capture_on_commit_callbacks):
    # given a batch claimed by a worker (attempt 1) and then re-claimed after it went stale (attempt 2)
    consenting()
    campaign = campaign_for(offer, audience(), manager=manager)
    with django_capture_on_commit_callbacks(execute=False):
        campaigns.campaign_send(actor=manager, campaign=campaign)
    batch = CampaignBatch.objects.get(campaign=campaign)
    CampaignBatch.objects.filter(pk=batch.pk).update(status="running", attempts=2)

    # when the old run (holding attempt 1) tries to finish
    result = campaigns.campaign_batch_run(batch_id=batch.pk)

    # then it could not claim, queued nothing and counted nothing
    assert result is False
    assert not Message.objects.filter(source=campaign.source).exists()
    campaign.refresh_from_db()
    assert campaign.processed_count == 0


def test_customer_without_consent_is_blocked_not_sent(manager, offer, django_capture_on_commit_callbacks):
    # given one customer who consented, one who never did and one who revoked
    ok = consenting()
    silent = CustomerFactory()
    revoked = consenting()
    ConsentFactory(customer=revoked, purpose=Consent.Purpose.MARKETING, granted=False)
    campaign = campaign_for(offer, audience(), manager=manager)

    # when it is sent
    campaigns.campaign_send(actor=manager, campaign=campaign)
    run_batches(django_capture_on_commit_callbacks)

    # then only the consenting customer's message is queued; the others are blocked for no consent
    statuses = dict(Message.objects.filter(source=campaign.source).values_list("customer_id", "status"))
    assert statuses == {ok.pk: "queued", silent.pk: "blocked", revoked.pk: "blocked"}
    reasons = set(Message.objects.filter(status="blocked").values_list("blocked_reason", flat=True))
    assert reasons == {Message.BlockedReason.NO_CONSENT}
    campaign.refresh_from_db()
    assert (campaign.queued_count, campaign.blocked_count) == (1, 2)
    assert campaigns.campaign_results(campaign=campaign).blocked == 2


def test_frequency_cap_blocks_a_campaign_message(manager, offer, settings, django_capture_on_commit_callbacks):
    # given a customer who already received the weekly maximum of automated messages
    settings.MESSAGING_WEEKLY_CAP = 1
    customer = consenting()
    messaging_services.message_queue(customer=customer, idempotency_key="earlier", body="Oi", automated=True)
    campaign = campaign_for(offer, audience(), manager=manager)

    # when the campaign goes out
    campaigns.campaign_send(actor=manager, campaign=campaign)
    run_batches(django_capture_on_commit_callbacks)

    # then its message is blocked by the cap
    message = Message.objects.get(source=campaign.source)
    assert (message.status, message.blocked_reason) == ("blocked", Message.BlockedReason.FREQUENCY_CAP)


def test_scheduled_campaign_is_started_once_by_two_beat_runs(manager, offer, django_capture_on_commit_callbacks):
    # given a campaign scheduled for a minute ago and one for tomorrow
    consenting()
    due = campaign_for(offer, audience(), manager=manager, scheduled_at=timezone.now() + timedelta(hours=1))
    campaigns.campaign_send(actor=manager, campaign=due)
    assert due.status == Campaign.Status.SCHEDULED
    Campaign.objects.filter(pk=due.pk).update(scheduled_at=timezone.now() - timedelta(minutes=1))
    later = campaign_for(
        offer, Audience.objects.get(), manager=manager, name="Amanhã", scheduled_at=timezone.now() + timedelta(days=1)
    )
    campaigns.campaign_send(actor=manager, campaign=later)

    # when the beat runs twice (two beat processes, or a retried task)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = tasks.start_due_campaigns()
        second = tasks.start_due_campaigns()

    # then the due campaign started once, with one batch and one hand-off; the other waits
    assert (first, second) == (1, 0)
    assert CampaignBatch.objects.filter(campaign=due).count() == 1
    assert len(callbacks) == 1
    later.refresh_from_db()
    assert later.status == Campaign.Status.SCHEDULED
    assert not CampaignBatch.objects.filter(campaign=later).exists()


def test_beat_hands_a_lost_batch_to_the_workers_again(manager, offer, django_capture_on_commit_callbacks):
    # given a started campaign whose batch task never reached a worker (Redis was down)
    consenting()
    campaign = campaign_for(offer, audience(), manager=manager)
    with django_capture_on_commit_callbacks(execute=False):
        campaigns.campaign_send(actor=manager, campaign=campaign)
    CampaignBatch.objects.update(enqueued_at=timezone.now() - timedelta(minutes=10))

    # when the beat runs (its hand-off runs the task here)
    from unittest import mock

    with mock.patch.object(tasks.campaign_send_batch, "delay", side_effect=lambda pk: tasks.campaign_send_batch(pk)):
        tasks.start_due_campaigns()

    # then the message is queued and the campaign done
    assert Message.objects.filter(source=campaign.source).count() == 1
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DONE


def test_empty_audience_finishes_at_once(manager, offer):
    campaign = campaign_for(offer, audience(stages=["churned"]), manager=manager)
    campaigns.campaign_send(actor=manager, campaign=campaign)
    assert (campaign.status, campaign.total_count) == (Campaign.Status.DONE, 0)


def test_cancelled_scheduled_campaign_never_starts(manager, offer):
    # given a scheduled campaign that a manager cancels
    consenting()
    campaign = campaign_for(offer, audience(), manager=manager, scheduled_at=timezone.now() + timedelta(hours=2))
    campaigns.campaign_send(actor=manager, campaign=campaign)
    campaigns.campaign_cancel(actor=manager, campaign=campaign)

    # when its time comes
    Campaign.objects.filter(pk=campaign.pk).update(scheduled_at=timezone.now() - timedelta(minutes=1))
    started = tasks.start_due_campaigns()

    # then nothing starts or is sent
    assert started == 0
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.CANCELLED
    assert not Message.objects.filter(source=campaign.source).exists()


def test_sending_campaign_cannot_be_cancelled_or_sent_again(manager, offer, django_capture_on_commit_callbacks):
    consenting()
    campaign = campaign_for(offer, audience(), manager=manager)
    with django_capture_on_commit_callbacks(execute=False):
        campaigns.campaign_send(actor=manager, campaign=campaign)
    assert campaign.status == Campaign.Status.SENDING
    with translation.override("en"):  # the service messages are in the active language
        with pytest.raises(ValidationError, match="only a draft or scheduled"):
            campaigns.campaign_cancel(actor=manager, campaign=campaign)
        with pytest.raises(ValidationError, match="cannot be sent again"):
            campaigns.campaign_send(actor=manager, campaign=campaign)


def test_agent_cannot_create_send_or_cancel(agent, manager, offer):
    aud = audience()
    with pytest.raises(PermissionDenied):
        campaigns.campaign_save(actor=agent, name="X", template=offer, audience=aud)
    campaign = campaign_for(offer, aud, manager=manager)
    with pytest.raises(PermissionDenied):
        campaigns.campaign_send(actor=agent, campaign=campaign)
    with pytest.raises(PermissionDenied):
        campaigns.campaign_cancel(actor=agent, campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_campaign_with_a_broken_template_is_refused(manager, offer):
    MessageTemplate.objects.filter(pk=offer.pk).update(body_pt_br="Olá {cupom_inexistente}")
    offer.refresh_from_db()
    with pytest.raises(ValidationError) as exc:
        campaigns.campaign_save(actor=manager, name="X", template=offer, audience=audience())
    assert "cupom_inexistente" in exc.value.message_dict["template"][0]


# --- results -----------------------------------------------------------------------------------


def test_results_count_the_campaigns_message_statuses(manager, offer):
    # given hand-built messages of this campaign in every status, and one of another campaign
    campaign = campaign_for(offer, audience(), manager=manager)
    statuses = ["queued", "sent", "delivered", "delivered", "opened", "clicked", "bounced", "complained", "blocked"]
    statuses += ["failed", "sent"]
    made = []
    for n, status in enumerate(statuses):
        made.append(
            Message.objects.create(
                customer=CustomerFactory(),
                body="x",
                status=status,
                blocked_reason="no_consent" if status == "blocked" else "",
                idempotency_key=f"k{n}",
                source=campaign.source,
            )
        )
    MessageEvent.objects.create(message=made[-1], event_type=MessageEvent.Type.UNSUBSCRIBED, at=timezone.now())
    Message.objects.create(customer=CustomerFactory(), body="x", status="clicked", idempotency_key="o", source="x:1")

    # when
    results = campaigns.campaign_results(campaign=campaign)

    # then
    assert results.messages == 11
    assert results.in_flight == 1
    assert results.sent == 8  # sent ×2, delivered ×2, opened, clicked, bounced, complained
    assert results.delivered == 4
    assert results.opened == 2
    assert results.clicked == 1
    assert results.bounced == 1
    assert results.unsubscribed == 2  # the complaint and the reported unsubscribe
    assert results.blocked == 1
    assert results.failed == 1
    assert results.delivered_rate == 50


def test_results_are_one_query(manager, offer, django_assert_num_queries):
    campaign = campaign_for(offer, audience(), manager=manager)
    with django_assert_num_queries(1):
        campaigns.campaign_results(campaign=campaign)


def test_saving_an_audience_normalises_its_filters(manager):
    aud = campaigns.audience_save(
        actor=manager,
        name=" Veteranos ",
        filters={"stages": "retention", "tenure_min_days": "365", "kind": "", "nps_categories": "promoter"},
    )
    assert (aud.name, aud.filters) == (
        "Veteranos",
        {"stages": ["retention"], "tenure_min_days": 365, "nps_categories": ["promoter"]},
    )
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        campaigns.audience_save(actor=manager, name="veteranos", filters={})
    assert "already exists" in exc.value.message_dict["name"][0]


def test_campaign_created_by_is_kept_on_its_messages(offer, django_capture_on_commit_callbacks):
    boss = UserFactory(role="cs_manager")
    consenting()
    campaign = campaigns.campaign_save(actor=boss, name="Benefícios", template=offer, audience=audience())
    campaigns.campaign_send(actor=boss, campaign=campaign)
    run_batches(django_capture_on_commit_callbacks)
    assert Message.objects.get(source=campaign.source).created_by == boss
