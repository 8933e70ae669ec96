"""What `clone_sequences` and `push_annotations` share: the remote's address and account read
from the options and settings, and the lists and dates their options take."""

from __future__ import annotations

from argparse import ArgumentTypeError
from datetime import date

from django.conf import settings
from django.core.management.base import CommandError

from sequences.importing.platform_client import Account, RetryPolicy
from sequences.importing.remote_client import RemoteClient, api_base

CREDENTIALS_MISSING = "set {login} and {password} in the environment"
URL_INVALID = "{option} {problem}"
DATE_INVALID = "must be a date YYYY-MM-DD"
DATES_REVERSED = "--date-to ({to}) is before --date-from ({start})"
SEQUENCE_LIST_INVALID = "--sequence-list must be alert ids separated by commas, e.g. 48213,48214"
MAX_SEQUENCES_INVALID = "--max-sequences must be at least 1"
SOURCE_CREDENTIALS = ("SOURCE_ANNOTATION_LOGIN", "SOURCE_ANNOTATION_PASSWORD")
REMOTE_CREDENTIALS = ("REMOTE_ANNOTATION_LOGIN", "REMOTE_ANNOTATION_PASSWORD")


def iso_date(value: str) -> date:
    """An argparse type: a YYYY-MM-DD date."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ArgumentTypeError(DATE_INVALID) from None


def remote_base(url: str, option: str) -> str:
    """The remote API's base (`/api/v1` appended when missing), or CommandError naming
    `option`."""
    try:
        return api_base(url)
    except ValueError as exc:
        raise CommandError(URL_INVALID.format(option=option, problem=exc)) from None


def remote_account(*names: tuple[str, str]) -> Account:
    """The first pair of login and password settings that is set, or CommandError naming the
    first pair."""
    for login, password in names:
        if getattr(settings, login, "") and getattr(settings, password, ""):
            return Account(getattr(settings, login), getattr(settings, password))
    login, password = names[0]
    raise CommandError(CREDENTIALS_MISSING.format(login=login, password=password))


def remote_client(base_url: str, account: Account) -> RemoteClient:
    return RemoteClient(base_url=base_url, account=account, policy=RetryPolicy.from_settings())


def alert_ids(value: str | None) -> frozenset[int] | None:
    """`--sequence-list`: alert ids separated by commas, or CommandError."""
    if value is None:
        return None
    try:
        ids = frozenset(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise CommandError(SEQUENCE_LIST_INVALID) from None
    if not ids:
        raise CommandError(SEQUENCE_LIST_INVALID)
    return ids


def max_sequences(value: int | None) -> int | None:
    if value is not None and value < 1:
        raise CommandError(MAX_SEQUENCES_INVALID)
    return value
