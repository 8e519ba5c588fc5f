import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from messaging import services
from messaging.models import MessageTemplate
from tests.factories import CustomerFactory, OrderFactory, UserFactory


@pytest.fixture
def english():
    """Error messages in English, so the text assertions hold with pt_BR as the default language."""
    with translation.override("en"):
        yield


@pytest.mark.django_db
def test_template_renders_customer_variables_in_portuguese(checkin_template):
    owner = UserFactory(first_name="Ana", last_name="Souza")
    customer = CustomerFactory(name="Maria da Silva", owner=owner)
    OrderFactory(customer=customer, product="Kit Café Especial")

    subject, body = services.template_render(template=checkin_template, customer=customer)

    assert subject == "Como vai, Maria da Silva?"
    assert body == (
        "Olá, Maria da Silva! Como tem sido a experiência com Kit Café Especial? Qualquer dúvida, fale com Ana Souza."
    )


@pytest.mark.django_db
def test_template_uses_the_customers_language_and_english_aliases(checkin_template):
    customer = CustomerFactory(name="John Smith", language="en", plan="Pro")

    subject, body = services.template_render(template=checkin_template, customer=customer)

    assert subject == "How is it going, John Smith?"
    assert body == "Hi John Smith! How is Pro working for you? our team is here to help."


@pytest.mark.django_db
def test_english_customer_falls_back_to_portuguese_text_when_the_template_has_no_english():
    template = MessageTemplate.objects.create(
        slug="so-pt", name="Só PT", subject_pt_br="Oi {nome}", body_pt_br="Tudo bem?"
    )
    customer = CustomerFactory(name="John", language="en")

    assert services.template_render(template=template, customer=customer) == ("Oi John", "Tudo bem?")


@pytest.mark.django_db
def test_last_order_variable_shows_product_date_and_amount_in_reais():
    customer = CustomerFactory(name="Carla")
    OrderFactory(customer=customer, product="Cafeteira", amount="1234.50")

    _subject, body = services.text_render(subject="", body="{ultimo_pedido}", customer=customer)

    assert body.startswith("Cafeteira (")
    assert body.endswith("R$ 1.234,50)")


@pytest.mark.django_db
def test_extra_context_keys_are_available_as_variables(checkin_template):
    customer = CustomerFactory(name="Bia")

    _subject, body = services.text_render(
        subject="", body="{nome}, seu cupom é {cupom}", customer=customer, context={"cupom": "VOLTA10"}
    )

    assert body == "Bia, seu cupom é VOLTA10"


@pytest.mark.django_db
@pytest.mark.usefixtures("english")
def test_unknown_variable_is_a_clear_error_listing_what_is_available():
    template = MessageTemplate.objects.create(slug="erro", name="Erro", body_pt_br="Olá {nome}, veja {xyz}")
    customer = CustomerFactory()

    with pytest.raises(ValidationError) as excinfo:
        services.template_render(template=template, customer=customer)

    message = excinfo.value.message_dict["body"][0]
    assert message.startswith("Unknown variable {xyz}. Available: ")
    assert "{nome}" in message and "{produto}" in message and "{responsavel}" in message


@pytest.mark.usefixtures("english")
def test_template_validate_reports_subject_and_body_separately():
    with pytest.raises(ValidationError) as excinfo:
        services.template_validate(subject="Oi {nme}", body="Texto {nome.__class__}")

    errors = excinfo.value.message_dict
    assert "Unknown variable {nme}." in errors["subject"][0]
    assert "Unknown variable {nome.__class__}." in errors["body"][0]


def test_template_validate_accepts_known_variables_and_escaped_braces():
    services.template_validate(subject="{nome}", body="Use {{chaves}} com {produto} e {last_order}")


@pytest.mark.usefixtures("english")
def test_template_validate_refuses_unbalanced_braces():
    with pytest.raises(ValidationError) as excinfo:
        services.template_validate(subject="", body="Olá {nome")

    assert "Unbalanced braces" in excinfo.value.message_dict["body"][0]


def test_product_and_owner_fall_back_to_readable_words_when_missing(db):
    from messaging import services
    from tests.factories import CustomerFactory

    customer = CustomerFactory(name="Rita Alves", plan="", owner=None)

    _subject, body = services.text_render(
        subject="Oi", body="Aproveite {product}, com {owner}.", customer=customer, context=None, language="en"
    )

    assert body == "Aproveite our products, com our team."
