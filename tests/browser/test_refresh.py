"""A refresh after a save never saves again (POST/redirect/GET), and the propagation banner and
the messages survive the redirect."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from groups.models import GroupOperation
from sequences.models import SequenceAnnotation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_refresh_after_a_save_does_not_save_again(
    live_server, log_in, annotator, seed_group, world
):
    group = seed_group(validated=True, smoke_type="industrial")
    page = log_in(annotator)
    url = live_server.url + reverse("sequences:annotate", args=[world.seq1.pk])
    page.goto(url)
    page.keyboard.press("1")
    page.keyboard.press("n")
    page.keyboard.press("Enter")

    # The save redirected back here: the banner and the message came along.
    banner = page.locator("#propagation-banner")
    expect(banner).to_contain_text(f"Group {group.pk} is labeled smoke/industrial")
    expect(page.get_by_text(f"Sequence #{world.seq1.pk} saved")).to_be_visible()
    assert page.url == url
    saved = SequenceAnnotation.objects.get(sequence=world.seq1)
    operations = GroupOperation.objects.count()

    requests = []
    page.on("request", lambda request: requests.append(request.method))
    page.reload()
    expect(page.locator("h1")).to_be_visible()
    assert "POST" not in requests
    expect(banner).to_have_count(0)  # shown once
    row = SequenceAnnotation.objects.get(sequence=world.seq1)
    assert row.updated_at == saved.updated_at
    assert GroupOperation.objects.count() == operations
