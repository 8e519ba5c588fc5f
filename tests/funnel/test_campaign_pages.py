"""Campaign and audience pages: what managers and agents can see and do, live sizes, progress, query counts."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from customers.models import Consent
from funnel import tasks
from funnel.models import Audience, Campaign, CampaignBatch
from messaging.models import Channel, Message, MessageTemplate
from tests.factories import ConsentFactory, CustomerFactory


@pytest.fixture
def offer(db):
    return MessageTemplate.objects.create(
        slug="beneficios",
        name="Benefícios exclusivos",
        channel=Channel.EMAIL,
        purpose=Consent.Purpose.MARKETING,
        subject_pt_br="Um benefício para você, {nome}",
        body_pt_br="Olá, {nome}! Obrigado por estar conosco.",
    )


@pytest.fixture
def everyone(db):
    return Audience.objects.create(name="Todos", filters={})


def make_campaign(template, audience, **fields):
    return Campaign.objects.create(template=template, audience=audience, name=fields.pop("name", "Natal"), **fields)


# --- list ----------------------------------------------------------------------------------------


def test_campaign_list_shows_campaigns_and_filters_by_status(client, agent, offer, everyone):
    # given a draft and a cancelled campaign
    make_campaign(offer, everyone, name="Black Friday")
    make_campaign(offer, everyone, name="Dia das Mães", status=Campaign.Status.CANCELLED)
    client.force_login(agent)

    # when the agent filters by cancelled
    response = client.get(reverse("funnel:campaigns"), {"status": "cancelled"})

    # then only that campaign is listed, and an agent gets no "New campaign" button
    html = response.content.decode()
    assert response.status_code == 200
    assert "Dia das Mães" in html and "Black Friday" not in html
    assert reverse("funnel:campaign_create") not in html


def test_campaign_list_costs_the_same_queries_for_one_and_many(client, manager, offer, everyone):
    client.force_login(manager)
    make_campaign(offer, everyone, name="Primeira")
    with CaptureQueriesContext(connection) as one:
        assert client.get(reverse("funnel:campaigns")).status_code == 200

    other_template = MessageTemplate.objects.create(slug="outro", name="Outro", body_pt_br="Oi {nome}")
    for n in range(12):
        audience = Audience.objects.create(name=f"Público {n}", filters={})
        make_campaign(other_template if n % 2 else offer, audience, name=f"Campanha {n}", created_by=manager)

    with CaptureQueriesContext(connection) as many:
        response = client.get(reverse("funnel:campaigns"))
    assert "Campanha 11" in response.content.decode()
    assert len(many) == len(one)


def test_campaign_list_query_count(client, manager, offer, everyone, django_assert_num_queries):
    for n in range(30):
        make_campaign(offer, everyone, name=f"Campanha {n}", created_by=manager)
    client.force_login(manager)
    # session, user, groups (role), count, page of campaigns with template/audience/creator
    with django_assert_num_queries(5):
        client.get(reverse("funnel:campaigns"))


# --- roles ---------------------------------------------------------------------------------------


def test_agent_reads_campaign_pages_but_every_write_is_refused(client, agent, offer, everyone):
    # given a draft campaign
    campaign = make_campaign(offer, everyone)
    client.force_login(agent)

    # then reading works
    assert client.get(reverse("funnel:campaign", args=[campaign.pk])).status_code == 200
    assert client.get(reverse("funnel:audiences")).status_code == 200

    # and every write is 403 and changes nothing
    writes = [
        ("get", reverse("funnel:campaign_create"), {}),
        ("post", reverse("funnel:campaign_create"), {"name": "X", "template": offer.pk, "audience": everyone.pk}),
        ("get", reverse("funnel:campaign_edit", args=[campaign.pk]), {}),
        ("post", reverse("funnel:campaign_send", args=[campaign.pk]), {}),
        ("post", reverse("funnel:campaign_cancel", args=[campaign.pk]), {}),
        ("post", reverse("funnel:audience_create"), {"name": "Minha"}),
    ]
    for method, url, data in writes:
        assert getattr(client, method)(url, data).status_code == 403, url
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert Campaign.objects.count() == 1
    assert Audience.objects.count() == 1


def test_user_without_role_cannot_see_campaigns(client, no_role_user):
    client.force_login(no_role_user)
    assert client.get(reverse("funnel:campaigns")).status_code == 403


# --- create, send, schedule, cancel --------------------------------------------------------------


def test_manager_creates_and_sends_now(client, manager, offer, everyone, django_capture_on_commit_callbacks):
    # given two consenting customers
    for _ in range(2):
        ConsentFactory(customer=CustomerFactory(), purpose=Consent.Purpose.MARKETING)
    client.force_login(manager)

    # when the manager saves and sends with no time set
    with django_capture_on_commit_callbacks(execute=False) as handed_over:
        response = client.post(
            reverse("funnel:campaign_create"),
            {"name": "Lançamento", "template": offer.pk, "audience": everyone.pk, "scheduled_at": "", "action": "send"},
        )

    # then the campaign is sending, its batch handed to the workers, and the detail page polls progress
    campaign = Campaign.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("funnel:campaign", args=[campaign.pk])
    assert (campaign.status, campaign.total_count, campaign.created_by) == ("sending", 2, manager)
    assert len(handed_over) == 1
    page = client.get(reverse("funnel:campaign", args=[campaign.pk])).content.decode()
    assert "Campaign started." in page
    assert reverse("funnel:campaign_progress", args=[campaign.pk]) in page

    # when the worker runs the batch, the progress partial shows the results
    tasks.campaign_send_batch(CampaignBatch.objects.get().pk)
    Message.objects.filter(source=campaign.source).update(status="delivered")
    partial = client.get(reverse("funnel:campaign_progress", args=[campaign.pk]), HTTP_HX_REQUEST="true")
    html = partial.content.decode()
    assert "Done" in html
    assert "every 2s" not in html  # finished: no more polling
    assert "100%" in html


def test_manager_schedules_for_later(client, manager, offer, everyone):
    client.force_login(manager)
    when = timezone.localtime() + timedelta(days=2)

    response = client.post(
        reverse("funnel:campaign_create"),
        {
            "name": "Aniversário",
            "template": offer.pk,
            "audience": everyone.pk,
            "scheduled_at": when.strftime("%Y-%m-%dT%H:%M"),
            "action": "send",
        },
        follow=True,
    )

    campaign = Campaign.objects.get()
    assert campaign.status == Campaign.Status.SCHEDULED
    assert campaign.scheduled_at.replace(second=0, microsecond=0) == when.replace(second=0, microsecond=0)
    assert "Campaign scheduled for" in response.content.decode()
    assert not CampaignBatch.objects.exists()


def test_manager_saves_a_draft_then_cancels_it(client, manager, offer, everyone):
    client.force_login(manager)
    client.post(
        reverse("funnel:campaign_create"),
        {"name": "Rascunho", "template": offer.pk, "audience": everyone.pk, "action": "draft"},
    )
    campaign = Campaign.objects.get()
    assert campaign.status == Campaign.Status.DRAFT

    response = client.post(reverse("funnel:campaign_cancel", args=[campaign.pk]), follow=True)

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.CANCELLED
    assert "Campaign cancelled; nothing will be sent." in response.content.decode()


def test_cancelling_a_sent_campaign_says_why_not(client, manager, offer, everyone):
    campaign = make_campaign(offer, everyone, status=Campaign.Status.DONE)
    client.force_login(manager)
    response = client.post(reverse("funnel:campaign_cancel", args=[campaign.pk]), follow=True)
    assert "only a draft or scheduled campaign can be cancelled" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DONE


def test_campaign_form_says_what_to_fix(client, manager, everyone):
    client.force_login(manager)
    response = client.post(reverse("funnel:campaign_create"), {"name": "", "audience": everyone.pk, "action": "send"})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert not Campaign.objects.exists()


def test_started_campaign_cannot_be_edited(client, manager, offer, everyone):
    campaign = make_campaign(offer, everyone, status=Campaign.Status.SENDING)
    client.force_login(manager)
    response = client.get(reverse("funnel:campaign_edit", args=[campaign.pk]), follow=True)
    assert "can no longer be changed" in response.content.decode()


# --- live audience size --------------------------------------------------------------------------


def test_campaign_form_shows_the_chosen_audience_size(client, manager, db):
    # given an audience of the two customers in retention
    CustomerFactory(stage="retention")
    CustomerFactory(stage="retention")
    CustomerFactory(stage="adoption")
    retention = Audience.objects.create(name="Retenção", filters={"stages": ["retention"]})
    client.force_login(manager)

    # when the audience select changes (htmx)
    response = client.get(reverse("funnel:campaign_audience_size"), {"audience": retention.pk}, HTTP_HX_REQUEST="true")

    # then the partial shows its size
    assert "2 customers in the audience right now" in response.content.decode()
    form_page = client.get(reverse("funnel:campaign_create")).content.decode()
    assert f'hx-get="{reverse("funnel:campaign_audience_size")}"' in form_page


def test_audience_form_counts_its_filters_live_and_saves(client, manager, db):
    CustomerFactory(kind="company", document="")
    CustomerFactory()
    client.force_login(manager)

    size = client.get(reverse("funnel:audience_size"), {"kind": "company"}, HTTP_HX_REQUEST="true")
    assert "1 customer in the audience right now" in size.content.decode()

    bad = client.get(reverse("funnel:audience_size"), {"tenure_min_days": "0"}, HTTP_HX_REQUEST="true")
    assert "Fix the filters" in bad.content.decode()

    response = client.post(
        reverse("funnel:audience_create"), {"name": "Empresas", "kind": "company", "stages": ["retention"]}
    )
    assert response.status_code == 302
    assert Audience.objects.get().filters == {"kind": "company", "stages": ["retention"]}


def test_audience_edit_shows_its_saved_filters(client, manager, db):
    audience = Audience.objects.create(name="Antigos", filters={"tenure_min_days": 365, "owner": "none"})
    client.force_login(manager)
    html = client.get(reverse("funnel:audience_edit", args=[audience.pk])).content.decode()
    assert 'value="365"' in html
    assert '<option value="none" selected>' in html


def test_audience_form_filters_by_latest_nps_category(client, manager, db):
    from tests.funnel.test_campaign_services import hand_built_answer

    promoter = CustomerFactory()
    hand_built_answer(promoter, "nps", 10, "promoter", days_ago=3)
    hand_built_answer(CustomerFactory(), "nps", 2, "detractor", days_ago=3)
    client.force_login(manager)

    form_page = client.get(reverse("funnel:audience_create")).content.decode()
    size = client.get(reverse("funnel:audience_size"), {"nps_categories": ["promoter"]}, HTTP_HX_REQUEST="true")
    response = client.post(reverse("funnel:audience_create"), {"name": "Promotores", "nps_categories": ["promoter"]})

    assert 'name="nps_categories" value="promoter"' in form_page
    assert "1 customer in the audience right now" in size.content.decode()
    assert response.status_code == 302
    audience = Audience.objects.get()
    assert audience.filters == {"nps_categories": ["promoter"]}
    edit = client.get(reverse("funnel:audience_edit", args=[audience.pk])).content.decode()
    assert 'name="nps_categories" value="promoter"' in edit and "checked" in edit.split('value="promoter"')[1][:40]
