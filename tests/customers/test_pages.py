import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from customers import services
from customers.models import Consent, Contact, Contract, Customer, Interaction, Order
from customers.templatetags.customers_tags import brl
from tests.factories import (
    ConsentFactory,
    ContactFactory,
    ContractFactory,
    CustomerFactory,
    InteractionFactory,
    OrderFactory,
    SegmentFactory,
    valid_cnpj,
    valid_cpf,
)

pytestmark = pytest.mark.django_db

LIST_URL = reverse("customers:list")


def count_queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx)


def customer_form_data(**overrides):
    data = {
        "kind": "person",
        "name": "Ana Souza",
        "document": "",
        "email": "",
        "phone": "",
        "segment": "",
        "tags": "",
        "plan": "",
        "mrr": "0",
        "external_id": "",
        "language": "pt-br",
    }
    data.update(overrides)
    return data


def error_codes(form, field):
    return [e.code for e in form.errors.as_data()[field]]


def names_in(response):
    return [c.name for c in response.context["customers"]]


# --- list ---------------------------------------------------------------------------------------


def test_list_shows_owner_segment_stage_mrr_in_brl_and_formatted_document(client, agent):
    # given
    segment = SegmentFactory(name="Varejo")
    customer = CustomerFactory(
        owner=agent, segment=segment, mrr=Decimal("1234.56"), document=valid_cpf(123456789), name="Carla Dias"
    )
    services.customer_set_tags(customer=customer, tags=["vip"])
    client.force_login(agent)
    # when
    response = client.get(LIST_URL)
    # then
    html = response.content.decode()
    assert response.status_code == 200
    assert "Carla Dias" in html
    assert "Varejo" in html
    assert "R$ 1.234,56" in html
    assert "123.456.789-09" in html
    assert 'class="stage stage-adoption"' in html
    assert '<span class="tag">vip</span>' in html
    assert agent.first_name in html


@pytest.mark.parametrize(
    "term",
    ["Beatriz", "529.982.247-25", "52998224725", "bia@loja.com.br", "BIA@LOJA.COM.BR", "EXT-77"],
)
def test_list_search_finds_by_name_document_with_or_without_punctuation_email_and_external_id(client, agent, term):
    # given
    CustomerFactory(name="Beatriz Lima", document="52998224725", email="bia@loja.com.br", external_id="EXT-77")
    CustomerFactory(name="Outro Cliente")
    client.force_login(agent)
    # when
    response = client.get(LIST_URL, {"q": term})
    # then
    assert names_in(response) == ["Beatriz Lima"]


def test_list_filters_by_owner_mine_and_no_owner(client, agent, other_agent):
    # given
    CustomerFactory(name="Meu", owner=agent)
    CustomerFactory(name="Dele", owner=other_agent)
    CustomerFactory(name="Sem dono", owner=None)
    client.force_login(agent)
    # when / then
    assert names_in(client.get(LIST_URL, {"owner": "mine"})) == ["Meu"]
    assert names_in(client.get(LIST_URL, {"owner": "none"})) == ["Sem dono"]
    assert names_in(client.get(LIST_URL, {"owner": other_agent.pk})) == ["Dele"]
    assert len(names_in(client.get(LIST_URL, {"owner": "garbage"}))) == 3


def test_list_filters_by_segment_kind_stage_and_tag(client, agent):
    # given
    retail = SegmentFactory(name="Varejo")
    a = CustomerFactory(name="Empresa A", company=True, segment=retail, stage=Customer.Stage.EXPANSION)
    CustomerFactory(name="Pessoa B", stage=Customer.Stage.CHURNED)
    services.customer_set_tags(customer=a, tags=["vip"])
    client.force_login(agent)
    # when / then
    assert names_in(client.get(LIST_URL, {"segment": retail.pk})) == ["Empresa A"]
    assert names_in(client.get(LIST_URL, {"kind": "company"})) == ["Empresa A"]
    assert names_in(client.get(LIST_URL, {"stage": "churned"})) == ["Pessoa B"]
    assert names_in(client.get(LIST_URL, {"tag": "vip"})) == ["Empresa A"]


def test_list_sort_links_order_by_mrr_and_toggle_direction(client, agent):
    # given
    CustomerFactory(name="Alto", mrr=Decimal("900"))
    CustomerFactory(name="Baixo", mrr=Decimal("10"))
    client.force_login(agent)
    # when
    ascending = client.get(LIST_URL, {"sort": "mrr"})
    descending = client.get(LIST_URL, {"sort": "-mrr"})
    # then
    assert names_in(ascending) == ["Baixo", "Alto"]
    assert names_in(descending) == ["Alto", "Baixo"]
    assert 'href="?sort=-mrr"' in ascending.content.decode()


def test_list_paginates_50_per_page_and_page_links_keep_the_filters(client, agent):
    # given
    for i in range(55):
        CustomerFactory(name=f"Cliente {i:02d}", owner=agent)
    CustomerFactory(name="Fora do filtro")
    client.force_login(agent)
    # when
    first = client.get(LIST_URL, {"owner": "mine", "sort": "name"})
    second = client.get(LIST_URL, {"owner": "mine", "sort": "name", "page": 2})
    # then
    assert len(first.context["customers"]) == 50
    assert "?owner=mine&amp;sort=name&amp;page=2" in first.content.decode()
    assert names_in(second) == [f"Cliente {i:02d}" for i in range(50, 55)]


def test_list_query_count_is_the_same_for_1_and_30_customers_with_tags(client, agent, django_assert_num_queries):
    # given one customer
    services.customer_set_tags(customer=CustomerFactory(owner=agent, segment=SegmentFactory()), tags=["a", "b"])
    client.force_login(agent)
    one_row = count_queries(client, LIST_URL)
    # and then thirty
    for i in range(29):
        c = CustomerFactory(owner=agent if i % 2 else None, segment=SegmentFactory(name=f"S{i % 4}"))
        services.customer_set_tags(customer=c, tags=[f"t{i}", "a"])
    # when / then
    with django_assert_num_queries(one_row):
        response = client.get(LIST_URL)
    assert len(response.context["customers"]) == 30


def test_list_shows_new_customer_and_export_link_with_current_filters(client, agent):
    client.force_login(agent)
    html = client.get(LIST_URL, {"stage": "churned", "page": "1"}).content.decode()
    assert reverse("customers:create") in html
    assert f'{reverse("customers:export")}?stage=churned"' in html


# --- export -------------------------------------------------------------------------------------


def read_export(response):
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def test_export_streams_the_filtered_list_as_utf8_csv_with_bom_and_importer_columns(client, agent):
    # given
    vip = CustomerFactory(
        name="José Ação",
        owner=agent,
        document=valid_cpf(42),
        segment=SegmentFactory(name="Saúde"),
        mrr=Decimal("1500.50"),
        external_id="C-1",
    )
    services.customer_set_tags(customer=vip, tags=["vip", "sp"])
    CustomerFactory(name="Outro", owner=None)
    client.force_login(agent)
    # when
    response = client.get(reverse("customers:export"), {"owner": "mine"})
    # then
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    rows = read_export(response)
    assert rows[0] == [
        "external_id",
        "kind",
        "name",
        "document",
        "email",
        "phone",
        "owner",
        "segment",
        "tags",
        "plan",
        "mrr",
        "stage",
        "created_at",
    ]
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["name"] == "José Ação"
    assert row["document"] == valid_cpf(42)
    assert row["owner"] == agent.username
    assert row["segment"] == "Saúde"
    assert row["tags"] == "sp, vip"
    assert row["mrr"] == "1500.50"
    assert row["phone"] == "+5511987654321"


def test_export_neutralises_spreadsheet_formulas(client, agent):
    CustomerFactory(name="=HYPERLINK(1)", owner=agent)
    client.force_login(agent)
    rows = read_export(client.get(reverse("customers:export")))
    assert rows[1][2] == "'=HYPERLINK(1)"


def test_export_query_count_is_the_same_for_1_and_30_customers(client, agent, django_assert_num_queries):
    # given
    services.customer_set_tags(customer=CustomerFactory(owner=agent), tags=["x"])
    client.force_login(agent)
    with CaptureQueriesContext(connection) as one:
        assert len(read_export(client.get(reverse("customers:export")))) == 2
    for i in range(29):
        services.customer_set_tags(customer=CustomerFactory(owner=agent, segment=SegmentFactory()), tags=[f"t{i}"])
    # when / then
    with django_assert_num_queries(len(one)):
        assert len(read_export(client.get(reverse("customers:export")))) == 31


# --- create / edit ------------------------------------------------------------------------------


def test_agent_creates_a_customer_they_own_with_tags_and_segment(client, agent):
    # given
    segment = SegmentFactory(name="Varejo")
    client.force_login(agent)
    # when
    response = client.post(
        reverse("customers:create"),
        customer_form_data(
            name="Ana Souza",
            document="529.982.247-25",
            email="Ana@Example.com",
            phone="(11) 98765-4321",
            segment=segment.pk,
            tags="vip, e-commerce ,",
            mrr="1.234,50",
        ),
    )
    # then
    customer = Customer.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("customers:detail", args=[customer.pk])
    assert customer.owner == agent
    assert customer.document == "52998224725"
    assert customer.email == "ana@example.com"
    assert customer.phone == "+5511987654321"
    assert customer.segment == segment
    assert customer.mrr == Decimal("1234.50")
    assert sorted(t.name for t in customer.tags.all()) == ["e-commerce", "vip"]


def test_agent_create_form_has_no_owner_field_and_manager_form_has_one(client, agent, manager):
    client.force_login(agent)
    assert 'name="owner"' not in client.get(reverse("customers:create")).content.decode()
    client.force_login(manager)
    assert 'name="owner"' in client.get(reverse("customers:create")).content.decode()


def test_create_shows_per_field_errors_and_keeps_the_input(client, agent):
    # given
    client.force_login(agent)
    # when
    response = client.post(
        reverse("customers:create"),
        customer_form_data(name="Ana Typo", document="111.222.333-44", phone="12345", mrr="-5"),
    )
    # then
    assert response.status_code == 200
    form = response.context["form"]
    assert error_codes(form, "document") == ["invalid_cpf"]
    assert error_codes(form, "phone") == ["invalid_phone"]
    assert error_codes(form, "mrr") == ["min_value"]
    html = response.content.decode()
    assert 'value="Ana Typo"' in html
    assert 'value="111.222.333-44"' in html
    assert Customer.objects.count() == 0


def test_create_refuses_a_cnpj_for_a_person_with_a_field_error(client, agent):
    client.force_login(agent)
    response = client.post(reverse("customers:create"), customer_form_data(document=valid_cnpj(5)))
    assert error_codes(response.context["form"], "document") == ["invalid_cpf"]


def test_create_reports_duplicate_email_and_document_on_their_fields(client, agent):
    # given
    CustomerFactory(email="ana@example.com", document="52998224725")
    client.force_login(agent)
    # when
    response = client.post(
        reverse("customers:create"), customer_form_data(email="ANA@example.com", document="529.982.247-25")
    )
    # then
    form = response.context["form"]
    assert error_codes(form, "email") == ["duplicate"]
    assert error_codes(form, "document") == ["duplicate"]
    assert 'class="field has-error"' in response.content.decode()
    assert Customer.objects.count() == 1


def test_manager_creates_a_customer_for_an_agent(client, manager, agent):
    client.force_login(manager)
    client.post(reverse("customers:create"), customer_form_data(name="Loja", owner=agent.pk))
    assert Customer.objects.get().owner == agent


def test_edit_form_shows_current_values_and_saves_changes(client, agent, own_customer):
    # given
    services.customer_set_tags(customer=own_customer, tags=["vip"])
    client.force_login(agent)
    url = reverse("customers:edit", args=[own_customer.pk])
    # when
    page = client.get(url).content.decode()
    response = client.post(
        url,
        customer_form_data(
            name="Maria da Silva Souza",
            document=own_customer.document,
            email=own_customer.email,
            tags="vip, gold",
            plan="Pro",
            mrr="99,90",
        ),
    )
    # then
    assert 'value="Maria da Silva"' in page
    assert 'value="vip"' in page
    assert response.status_code == 302
    own_customer.refresh_from_db()
    assert own_customer.name == "Maria da Silva Souza"
    assert own_customer.plan == "Pro"
    assert own_customer.mrr == Decimal("99.90")
    assert own_customer.owner_id is not None
    assert sorted(t.name for t in own_customer.tags.all()) == ["gold", "vip"]


def test_edit_keeps_own_email_without_a_duplicate_error(client, agent, own_customer):
    client.force_login(agent)
    response = client.post(
        reverse("customers:edit", args=[own_customer.pk]),
        customer_form_data(name=own_customer.name, email=own_customer.email.upper(), document=own_customer.document),
    )
    assert response.status_code == 302


# --- customer 360 -------------------------------------------------------------------------------


def build_full_customer(owner, n):
    customer = CustomerFactory(owner=owner, segment=SegmentFactory(name="Varejo"), plan="Pro", mrr=Decimal("300"))
    services.customer_set_tags(customer=customer, tags=["vip", "sp"])
    for i in range(n):
        InteractionFactory(customer=customer, author=owner, subject=f"Assunto {i}")
        OrderFactory(customer=customer, amount=Decimal("100.00"))
        ContractFactory(customer=customer, mrr=Decimal("50.00"))
        ContactFactory(customer=customer)
        ConsentFactory(customer=customer, recorded_by=owner, channel=Consent.Channel.choices[i % 4][0])
    return customer


def test_detail_shows_profile_kpis_tables_and_placeholders(client, agent):
    # given
    customer = build_full_customer(agent, 2)
    OrderFactory(customer=customer, amount=Decimal("999.00"), status=Order.Status.CANCELLED)
    ContractFactory(
        customer=customer, mrr=Decimal("700.00"), status=Contract.Status.CANCELLED, cancelled_at=timezone.localdate()
    )
    client.force_login(agent)
    # when
    response = client.get(reverse("customers:detail", args=[customer.pk]))
    # then
    html = response.content.decode()
    assert response.status_code == 200
    assert customer.document_display in html
    assert customer.email in html
    assert "Varejo" in html and "vip" in html
    assert 'id="kpi-total-paid">R$ 200,00<' in html  # cancelled orders do not count
    assert 'id="kpi-order-count">2<' in html
    assert 'id="kpi-active-mrr">R$ 100,00<' in html  # only active contracts
    assert "Assunto 0" in html and "Assunto 1" in html
    assert html.count("<tr>") >= 2 + 3 + 2  # orders + contracts + consent rows
    for panel in ("panel-surveys", "panel-tickets", "panel-loyalty", "panel-funnel"):
        assert f'id="{panel}"' in html


def test_detail_shows_current_consent_and_full_history(client, agent, own_customer):
    # given: granted, then withdrawn later
    now = timezone.now()
    ConsentFactory(customer=own_customer, granted=True, recorded_at=now - timedelta(days=3), evidence="Checkout")
    ConsentFactory(customer=own_customer, granted=False, recorded_at=now, evidence="Pediu por telefone")
    client.force_login(agent)
    # when
    response = client.get(reverse("customers:detail", args=[own_customer.pk]), headers={"accept-language": "en"})
    # then
    status = response.context["data"].consent_status
    assert [c.granted for c in status] == [False]
    html = response.content.decode()
    assert "Checkout" in html and "Pediu por telefone" in html
    assert "Full history (2 records)" in html


def test_detail_query_count_is_the_same_for_1_and_many_related_rows(client, agent, django_assert_num_queries):
    # given
    small = build_full_customer(agent, 1)
    big = build_full_customer(agent, 12)
    client.force_login(agent)
    expected = count_queries(client, reverse("customers:detail", args=[small.pk]))
    # when / then
    with django_assert_num_queries(expected):
        client.get(reverse("customers:detail", args=[big.pk]))


def test_detail_of_unknown_customer_is_404(client, agent):
    client.force_login(agent)
    assert client.get(reverse("customers:detail", args=[999999])).status_code == 404


def test_owner_sees_the_note_form_and_edit_button_but_not_delete(client, agent, own_customer):
    client.force_login(agent)
    html = client.get(reverse("customers:detail", args=[own_customer.pk])).content.decode()
    assert 'id="interaction-form"' in html
    assert reverse("customers:edit", args=[own_customer.pk]) in html
    assert reverse("customers:delete", args=[own_customer.pk]) not in html


def test_agent_viewing_another_agents_customer_sees_no_forms(client, agent, others_customer):
    client.force_login(agent)
    response = client.get(reverse("customers:detail", args=[others_customer.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="interaction-form"' not in html
    assert reverse("customers:edit", args=[others_customer.pk]) not in html
    assert reverse("customers:order_add", args=[others_customer.pk]) not in html


def test_manager_sees_delete_button(client, manager, others_customer):
    client.force_login(manager)
    html = client.get(reverse("customers:detail", args=[others_customer.pk])).content.decode()
    assert reverse("customers:delete", args=[others_customer.pk]) in html


# --- interactions (htmx and plain POST) ---------------------------------------------------------


def test_htmx_note_returns_the_new_timeline_item_and_a_fresh_form(client, agent, own_customer):
    # given
    client.force_login(agent)
    # when
    response = client.post(
        reverse("customers:interaction_add", args=[own_customer.pk]),
        {"kind": "call", "subject": "Onboarding", "body": "Ligação de boas-vindas", "happened_at": ""},
        HTTP_HX_REQUEST="true",
    )
    # then
    interaction = Interaction.objects.get()
    html = response.content.decode()
    assert response.status_code == 200
    assert interaction.author == agent and interaction.kind == "call"
    assert html.lstrip().startswith(f'<li class="timeline-item kind-call" id="interaction-{interaction.pk}"')
    assert "Ligação de boas-vindas" in html
    assert 'hx-swap-oob="true"' in html
    assert "<html" not in html
    assert "HX-Retarget" not in response


def test_htmx_note_with_errors_returns_the_form_partial_retargeted(client, agent, own_customer):
    client.force_login(agent)
    response = client.post(
        reverse("customers:interaction_add", args=[own_customer.pk]),
        {"kind": "note", "subject": "Só assunto", "body": ""},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#interaction-form"
    assert 'class="errorlist"' in html
    assert 'value="Só assunto"' in html
    assert Interaction.objects.count() == 0


def test_note_without_javascript_redirects_back_to_the_timeline(client, agent, own_customer):
    client.force_login(agent)
    url = reverse("customers:interaction_add", args=[own_customer.pk])
    response = client.post(url, {"kind": "note", "body": "Sem JS", "happened_at": "2025-01-15T10:30"})
    assert response.status_code == 302
    assert response["Location"].endswith("#timeline")
    interaction = Interaction.objects.get()
    assert timezone.localtime(interaction.happened_at).strftime("%Y-%m-%d %H:%M") == "2025-01-15 10:30"
    page = client.get(response["Location"]).content.decode()
    assert "Sem JS" in page


def test_note_without_javascript_and_with_errors_rerenders_the_page_with_errors(client, agent, own_customer):
    client.force_login(agent)
    response = client.post(reverse("customers:interaction_add", args=[own_customer.pk]), {"kind": "note", "body": ""})
    assert response.status_code == 200
    assert response.context["interaction_form"].errors["body"]
    assert 'id="panel-funnel"' in response.content.decode()


def test_note_in_the_future_is_refused(client, agent, own_customer):
    client.force_login(agent)
    later = (timezone.localtime() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        reverse("customers:interaction_add", args=[own_customer.pk]),
        {"kind": "note", "body": "x", "happened_at": later},
    )
    assert error_codes(response.context["interaction_form"], "happened_at") == ["future"]


# --- consents, contacts, orders, contracts ------------------------------------------------------


def test_recording_a_consent_appends_a_manual_record_with_evidence(client, agent, own_customer):
    # given
    ConsentFactory(customer=own_customer, channel="whatsapp", purpose="marketing", granted=True)
    client.force_login(agent)
    # when
    response = client.post(
        reverse("customers:consent_add", args=[own_customer.pk]),
        {"channel": "whatsapp", "purpose": "marketing", "granted": "0", "evidence": "Pediu para sair por WhatsApp"},
    )
    # then
    assert response.status_code == 302
    latest = Consent.objects.filter(customer=own_customer).first()
    assert Consent.objects.count() == 2
    assert latest.granted is False
    assert latest.source == Consent.Source.MANUAL
    assert latest.recorded_by == agent


def test_consent_without_evidence_is_refused_with_a_field_error(client, agent, own_customer):
    client.force_login(agent)
    response = client.post(
        reverse("customers:consent_add", args=[own_customer.pk]),
        {"channel": "email", "purpose": "surveys", "granted": "1", "evidence": ""},
    )
    assert response.context["form"].errors["evidence"]
    assert Consent.objects.count() == 0


def test_adding_a_contact_normalises_the_phone_and_reports_bad_ones(client, agent, own_customer):
    client.force_login(agent)
    url = reverse("customers:contact_add", args=[own_customer.pk])
    bad = client.post(url, {"name": "Rui", "phone": "123"})
    assert error_codes(bad.context["form"], "phone") == ["invalid_phone"]
    ok = client.post(url, {"name": "Rui", "phone": "(21) 99876-5432", "email": "rui@x.com", "is_primary": "on"})
    assert ok.status_code == 302
    contact = Contact.objects.get()
    assert contact.phone == "+5521998765432" and contact.is_primary


def test_recording_an_order_updates_the_360_kpis(client, agent, own_customer):
    client.force_login(agent)
    response = client.post(
        reverse("customers:order_add", args=[own_customer.pk]),
        {"amount": "1.500,00", "status": "paid", "channel": "whatsapp", "product": "Plano anual"},
    )
    assert response.status_code == 302
    assert Order.objects.get().amount == Decimal("1500.00")
    html = client.get(reverse("customers:detail", args=[own_customer.pk])).content.decode()
    assert 'id="kpi-total-paid">R$ 1.500,00<' in html


def test_order_with_negative_amount_is_refused(client, agent, own_customer):
    client.force_login(agent)
    response = client.post(
        reverse("customers:order_add", args=[own_customer.pk]), {"amount": "-1", "status": "paid", "channel": "online"}
    )
    assert response.context["form"].errors["amount"]
    assert Order.objects.count() == 0


def test_adding_a_contract_and_refusing_an_end_before_the_start(client, agent, own_customer):
    client.force_login(agent)
    url = reverse("customers:contract_add", args=[own_customer.pk])
    bad = client.post(url, {"plan": "Pro", "mrr": "100", "started_at": "2025-03-01", "ends_at": "2025-02-01"})
    assert error_codes(bad.context["form"], "ends_at") == ["before_start"]
    ok = client.post(url, {"plan": "Pro", "mrr": "100", "started_at": "2025-03-01", "ends_at": "2026-03-01"})
    assert ok.status_code == 302
    assert Contract.objects.get().mrr == Decimal("100")


# --- delete -------------------------------------------------------------------------------------


def test_manager_deletes_a_customer_after_confirming(client, manager, others_customer):
    # given
    ConsentFactory(customer=others_customer)
    client.force_login(manager)
    url = reverse("customers:delete", args=[others_customer.pk])
    # when
    confirm = client.get(url)
    response = client.post(url)
    # then
    assert confirm.status_code == 200
    assert others_customer.name in confirm.content.decode()
    assert response.status_code == 302
    assert response["Location"] == LIST_URL
    assert not Customer.objects.filter(pk=others_customer.pk).exists()


# --- money and locale ---------------------------------------------------------------------------


def test_brl_filter_formats_per_language():
    with translation.override("pt-br"):
        assert brl(Decimal("1234.56")) == "R$ 1.234,56"
        assert brl(Decimal("-10")) == "-R$ 10,00"
    with translation.override("en"):
        assert brl(Decimal("1234.56")) == "R$1,234.56"
        assert brl(0) == "R$0.00"
    assert brl(None) == ""


def test_list_renders_in_english_after_switching_language_with_english_money_and_dates(client, agent):
    # given
    CustomerFactory(name="Carla", mrr=Decimal("1234.56"))
    client.force_login(agent)
    # when
    switch = client.post(reverse("set_language"), {"language": "en", "next": LIST_URL})
    response = client.get(LIST_URL)
    # then
    html = response.content.decode()
    assert switch.status_code == 302
    assert '<html lang="en">' in html
    assert "<h1>Customers</h1>" in html
    assert "New customer" in html
    assert "R$1,234.56" in html
    today = timezone.localdate()
    assert today.strftime("%m/%d/%Y") in html


def test_list_defaults_to_brazilian_money_and_dates(client, agent):
    CustomerFactory(name="Carla", mrr=Decimal("1234.56"))
    client.force_login(agent)
    html = client.get(LIST_URL).content.decode()
    assert '<html lang="pt-br">' in html
    assert "R$ 1.234,56" in html
    assert timezone.localdate().strftime("%d/%m/%Y") in html


def test_360_page_shows_the_phone_grouped_for_reading(client, agent):
    customer = CustomerFactory(owner=agent, phone="+5511987654321")
    client.force_login(agent)

    html = client.get(reverse("customers:detail", args=[customer.pk])).content.decode()

    assert 'href="tel:+5511987654321"' in html
    assert "+55 11 98765-4321" in html
