import pytest
from django.urls import reverse


@pytest.mark.django_db
def test_a_refusal_shows_a_friendly_page_with_the_reason(client, agent, others_customer):
    client.force_login(agent)
    response = client.get(reverse("customers:edit", args=[others_customer.pk]))
    assert response.status_code == 403
    body = response.content.decode()
    assert 'class="card"' in body  # our page, not Django's bare one
    assert "Posvenda" in body


@pytest.mark.django_db
def test_an_unknown_record_shows_the_404_page(client, agent):
    client.force_login(agent)
    response = client.get(reverse("customers:detail", args=[999999]))
    assert response.status_code == 404
    assert 'class="card"' in response.content.decode()
