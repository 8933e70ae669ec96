"""Every page needs a login (SPEC §6.1); the login page works and leads to the groups list."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

# Not pages of the site: the API answers 401 itself, the admin has its own login.
NOT_PAGES = ("admin", "api")
PUBLIC = {"login"}


def _page_names(patterns=None, namespace: str = "") -> list[tuple[str, list[str]]]:
    """`(url name, converter argument names)` of every named page of the root URLconf."""
    found = []
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        prefix = str(entry.pattern).strip("/^")
        if isinstance(entry, URLResolver):
            if prefix.split("/")[0] in NOT_PAGES:
                continue
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            found.extend(_page_names(entry.url_patterns, inner))
        elif isinstance(entry, URLPattern) and entry.name:
            found.append((f"{namespace}{entry.name}", list(entry.pattern.converters)))
    return found


PAGES = sorted({name: args for name, args in _page_names()}.items())


def page_url(name: str, args: list[str]) -> str:
    return reverse(name, kwargs={arg: 1 for arg in args})


def test_the_pages_under_test_include_the_main_ones():
    names = {name for name, _ in PAGES}
    assert {"groups:list", "groups:detail", "sequences:list", "sequences:annotate"} <= names
    assert {"sequences:detection_image", "groups:validate", "home", "logout"} <= names


@pytest.mark.parametrize(
    ("name", "args"),
    [pytest.param(name, args, id=name) for name, args in PAGES if name not in PUBLIC | {"logout"}],
)
def test_anonymous_visitors_are_sent_to_login(client, name, args):
    url = page_url(name, args)
    for response in (client.get(url), client.post(url)):
        assert response.status_code == 302, name
        assert response.url == f"{reverse('login')}?next={url}"


def test_login_page_renders(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="username"' in page and 'name="password"' in page and "csrfmiddlewaretoken" in page


def test_after_login_the_user_lands_on_the_dashboard(client):
    UserFactory(username="alice")
    response = client.post(reverse("login"), {"username": "alice", "password": "secret-password"})
    assert response.status_code == 302 and response.url == reverse("home")
    assert client.get(reverse("home")).status_code == 200


def test_login_returns_to_the_page_asked_for(client):
    UserFactory(username="alice")
    wanted = reverse("sequences:list")
    response = client.post(
        reverse("login"), {"username": "alice", "password": "secret-password", "next": wanted}
    )
    assert response.url == wanted


def test_a_wrong_password_is_refused(client):
    UserFactory(username="alice")
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "didn't match" in response.content.decode()
    assert client.get(reverse("groups:list")).status_code == 302


def test_logout_ends_the_session(client):
    client.force_login(UserFactory(username="alice"))
    response = client.post(reverse("logout"))
    assert response.status_code == 302 and response.url == reverse("login")
    assert client.get(reverse("groups:list")).status_code == 302
