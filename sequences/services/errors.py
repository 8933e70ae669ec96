"""The errors every service raises: what went wrong, never how to answer it over HTTP.

A `ServiceError` says its `kind` (the request is invalid, names something that does not exist,
conflicts with the current state, or is refused as it stands), the fields at fault as
`(loc, message)` pairs, and a message in words. The API and the pages turn kinds into HTTP
statuses with one table (`annotation_site.errors`). Here, at the bottom of the dependency
order, so that the groups app's errors derive from the same base.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from sequences.payloads import Loc


class ErrorKind(StrEnum):
    INVALID = "invalid"  # a value is wrong; `errors` names every field at fault
    NOT_FOUND = "not_found"  # the request names something that does not exist
    CONFLICT = "conflict"  # the current state forbids it (a duplicate, a different label)
    REFUSED = "refused"  # it cannot apply as asked (not a member of that group)
    FORBIDDEN = "forbidden"  # the caller may not do this (staff, or a permission, only)


class ServiceError(Exception):
    """A refused service call: `kind`, `errors` (`(loc, message)` pairs) and `message`.

    Without a message of its own, the message is the field messages joined.
    """

    kind = ErrorKind.REFUSED

    def __init__(self, message: str = "", *, errors: Iterable[tuple[Loc, str]] = ()):
        self.errors = list(errors)
        self.message = message or "; ".join(msg for _, msg in self.errors)
        super().__init__(self.message)


def located(errors: Iterable[tuple[Loc, str]]) -> str:
    """`annotation.sequences_bbox.0: must be a list; has_missed_smoke: must be a boolean`."""
    return "; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in errors)


class ChangeForbidden(ServiceError):
    """A change reserved to staff (or to holders of a named permission) asked by someone else."""

    kind = ErrorKind.FORBIDDEN


def actor_may(actor, permission: str) -> bool:
    """Whether `actor` may make a change reserved to staff: staff may, and so may a user an
    admin granted `permission` (an `app_label.codename`, e.g. from a group of users)."""
    return bool(
        actor is not None and actor.is_active and (actor.is_staff or actor.has_perm(permission))
    )


class AnnotationInvalid(ServiceError):
    """A payload that cannot be written; `errors` lists `(loc, message)` for every problem,
    `loc` relative to the payload."""

    kind = ErrorKind.INVALID

    def __init__(self, errors: list[tuple[Loc, str]]):
        super().__init__(located(errors), errors=errors)


class DetectionInvalid(AnnotationInvalid):
    """A detection payload that cannot be written; `errors` lists `(loc, message)`."""


class AlreadyExists(ServiceError):
    """A row with the same natural key exists; the message names it."""

    kind = ErrorKind.CONFLICT


class SequenceExists(AlreadyExists):
    pass


class DetectionExists(AlreadyExists):
    pass
