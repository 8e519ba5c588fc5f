"""Customers' e-mails through anymail's real Mailgun inbound webhook (signature checked) → tickets:
replies attach once and resume the ticket, strangers are ignored, a known customer opens a ticket."""

import base64
import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from support import services
from support.models import Ticket, TicketEvent
from support.receivers import strip_quoted
from tests.factories import ContactFactory, CustomerFactory

pytestmark = pytest.mark.django_db

SIGNING_KEY = "mailgun-signing-key-test"
BASIC_AUTH = "posvenda:webhook-secret"
URL = "/messaging/anymail/mailgun/inbound/"
INBOX = "suporte@mg.posvenda.example.com"


@pytest.fixture(autouse=True)
def mailgun_webhook_settings(settings):
    settings.ANYMAIL = {"MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY, "WEBHOOK_SECRET": BASIC_AUTH}


@pytest.fixture
def customer(agent):
    return CustomerFactory(owner=agent, name="Maria da Silva", email="maria@example.com.br")


@pytest.fixture
def waiting_ticket(policy_high, agent, customer):
    ticket, _ = services.ticket_create(
        actor=agent, customer=customer, subject="Pedido não chegou", opened_at=timezone.now() - timedelta(hours=1)
    )
    services.ticket_reply(actor=agent, ticket=ticket, body="Pode enviar o comprovante?", status="waiting")
    ticket.refresh_from_db()
    assert ticket.status == "waiting" and ticket.resolution_paused
    return ticket


def reply_subject(ticket: Ticket) -> str:
    """The subject our reply e-mail had (messaging.Message), as the customer's client answers it."""
    return f"RE: {ticket.events.get(kind='reply').message.subject}"


def mailgun_inbound(
    *,
    sender="Maria da Silva <maria@example.com.br>",
    subject="Re: [Ticket #1] Pedido não chegou",
    text="Segue o comprovante.",
    message_id="<CAF=reply-1@mail.gmail.com>",
    recipient=INBOX,
    token="tok-1",
    timestamp="1795430400",
    key=SIGNING_KEY,
    extra_headers=(),
):
    """What a Mailgun route's forward() POSTs: fully-parsed fields, form-encoded, signed."""
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    headers = [
        ["Received", "by mxa.mailgun.org with SMTP"],
        ["From", sender],
        ["To", f"Posvenda Suporte <{recipient}>"],
        ["Subject", subject],
        ["Date", "Mon, 23 Nov 2026 10:00:00 -0300"],
        ["Message-Id", message_id],
        ["Mime-Version", "1.0"],
        ["Content-Type", 'text/plain; charset="UTF-8"'],
        *[list(pair) for pair in extra_headers],
    ]
    return {
        "recipient": recipient,
        "sender": sender.split("<")[-1].rstrip(">"),
        "from": sender,
        "subject": subject,
        "body-plain": text,
        "stripped-text": text.split("\n\n")[0],
        "message-headers": json.dumps(headers),
        "timestamp": timestamp,
        "token": token,
        "signature": signature,
    }


def post(client, data, auth=BASIC_AUTH):
    headers = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(auth.encode()).decode()} if auth else {}
    return client.post(URL, data=data, **headers)  # multipart/form-data, as Mailgun sends it


GMAIL_REPLY = (
    "Segue o comprovante, o pedido é o PED-1001.\n"
    "\n"
    "Em seg., 23 de nov. de 2026 às 10:00, Posvenda <suporte@mg.posvenda.example.com>\n"
    "escreveu:\n"
    "\n"
    "> Pode enviar o comprovante?\n"
)


def test_inbound_webhook_url_is_mounted_under_messaging():
    assert reverse("messaging:anymail:mailgun_inbound_webhook") == URL


def test_customer_reply_attaches_to_the_ticket_and_resumes_it(client, waiting_ticket):
    response = post(client, mailgun_inbound(subject=reply_subject(waiting_ticket), text=GMAIL_REPLY))

    assert response.status_code == 200
    event = waiting_ticket.events.get(kind="customer_reply")
    assert event.body == "Segue o comprovante, o pedido é o PED-1001."
    assert event.inbound_id == "<CAF=reply-1@mail.gmail.com>"
    waiting_ticket.refresh_from_db()
    assert waiting_ticket.status == "open"
    assert not waiting_ticket.resolution_paused and waiting_ticket.resolution_due_at is not None


def test_the_same_webhook_twice_attaches_once(client, waiting_ticket):
    data = mailgun_inbound(subject=reply_subject(waiting_ticket))

    first = post(client, data)
    again = post(client, data)

    assert (first.status_code, again.status_code) == (200, 200)
    assert waiting_ticket.events.filter(kind="customer_reply").count() == 1
    assert waiting_ticket.events.filter(kind="status", to_value="open").count() == 1


def test_wrong_signature_is_rejected_and_nothing_is_saved(client, waiting_ticket):
    events_before = TicketEvent.objects.count()

    forged = post(client, mailgun_inbound(subject=reply_subject(waiting_ticket), key="not-the-signing-key"))
    no_auth = post(client, mailgun_inbound(subject=reply_subject(waiting_ticket), token="t2"), auth="x:y")

    assert forged.status_code in (400, 403)
    assert no_auth.status_code in (400, 401, 403)
    assert TicketEvent.objects.count() == events_before
    waiting_ticket.refresh_from_db()
    assert waiting_ticket.status == "waiting"


def test_a_strangers_email_naming_a_ticket_is_ignored(client, waiting_ticket, caplog):
    CustomerFactory(email="joao@example.com.br")  # a known customer, but not this ticket's

    for sender in ("Golpista <golpe@example.net>", "João <joao@example.com.br>"):
        response = post(
            client,
            mailgun_inbound(sender=sender, subject=reply_subject(waiting_ticket), message_id=f"<{sender[:3]}@x>"),
        )
        assert response.status_code == 200  # accepted (no retries), but ignored

    assert not TicketEvent.objects.filter(kind="customer_reply").exists()
    assert Ticket.objects.count() == 1
    waiting_ticket.refresh_from_db()
    assert waiting_ticket.status == "waiting"
    assert "not the customer of ticket" in caplog.text


def test_a_contact_replies_through_the_plus_address(client, waiting_ticket, customer):
    ContactFactory(customer=customer, email="Financeiro@Example.com.br")

    post(
        client,
        mailgun_inbound(
            sender="financeiro@example.com.br",
            subject="Comprovante",
            recipient=f"suporte+{waiting_ticket.pk}@mg.posvenda.example.com",
            text="> citação\nPagamento feito ontem.\n\nOn Mon, Nov 23, 2026 at 10:00 AM Posvenda wrote:\n> antes",
        ),
    )

    event = waiting_ticket.events.get(kind="customer_reply")
    assert event.body == "Pagamento feito ontem."


def test_known_customer_without_a_reference_opens_a_ticket_once(client, policy_high, customer, agent):
    data = mailgun_inbound(subject="Troca de tamanho", text="Quero trocar a camiseta M por G.", message_id="<new@x>")

    post(client, data)
    post(client, data)

    ticket = Ticket.objects.get()
    assert (ticket.customer, ticket.subject, ticket.channel) == (customer, "Troca de tamanho", "email")
    assert ticket.description == "Quero trocar a camiseta M por G."
    assert ticket.source_key == "inbound:<new@x>"
    assert ticket.assignee == agent and ticket.priority == "normal"
    assert ticket.events.filter(kind="created").count() == 1


def test_unknown_sender_without_a_reference_opens_nothing(client, policy_high, customer):
    post(client, mailgun_inbound(sender="alguem@example.org", subject="Oi", message_id="<x@y>"))

    assert not Ticket.objects.exists()


def test_automatic_replies_are_ignored(client, waiting_ticket):
    post(
        client,
        mailgun_inbound(
            subject=f"Resposta automática: {reply_subject(waiting_ticket)}",
            text="Estou de férias até 30/11.",
            extra_headers=[("Auto-Submitted", "auto-replied")],
        ),
    )

    assert not waiting_ticket.events.filter(kind="customer_reply").exists()


def test_quoted_history_is_stripped():
    assert strip_quoted("Obrigada!\n\nOn Mon, 23 Nov 2026, Ana <ana@x.com> wrote:\n> Oi") == "Obrigada!"
    assert strip_quoted("Ok\r\n\r\n-----Original Message-----\r\nFrom: Ana") == "Ok"
    assert strip_quoted("Resposta 1\n> pergunta\nResposta 2") == "Resposta 1\nResposta 2"
    assert strip_quoted("Em 23/11/2026 10:00, Ana escreveu:\n> Oi") == ""


def test_html_only_reply_is_attached_as_text(client, waiting_ticket):
    data = mailgun_inbound(subject=reply_subject(waiting_ticket), text="")
    del data["body-plain"], data["stripped-text"]
    data["body-html"] = "<div dir='ltr'>Chegou, <b>obrigada</b>!</div><blockquote>antes</blockquote>"

    post(client, data)

    assert "Chegou, obrigada!" in waiting_ticket.events.get(kind="customer_reply").body


def test_a_known_customer_naming_a_missing_ticket_opens_a_new_one(client, policy_high, customer):
    post(client, mailgun_inbound(subject="Re: [Ticket #999999] Pedido antigo", message_id="<old@x>"))

    ticket = Ticket.objects.get()
    assert ticket.customer == customer and ticket.source_key == "inbound:<old@x>"
