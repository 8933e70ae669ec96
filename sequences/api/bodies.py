"""Checks of a request body that several endpoints share (SPEC §7.1): a body naming a
sequence that does not exist is a 422 on the field, never a 404 nor a 409."""

from __future__ import annotations

from typing import Any

from sequences.models import Sequence
from sequences.payloads import Loc

SEQUENCE_UNKNOWN = "sequence {sequence_id} does not exist"


def unknown_sequence(sequence_id: int) -> tuple[Loc, str]:
    """A body naming a missing sequence is a 422 on the field (SPEC §7.1), not a 404."""
    return (("body", "sequence_id"), SEQUENCE_UNKNOWN.format(sequence_id=sequence_id))


def sequence_errors(values: dict[str, Any], raw=None) -> list[tuple[Loc, str]]:
    """The body's sequence must exist; found, it is kept as ``values["sequence"]``."""
    if "sequence_id" not in values:
        return []
    values["sequence"] = Sequence.objects.filter(pk=values["sequence_id"]).first()
    return [] if values["sequence"] else [unknown_sequence(values["sequence_id"])]


def body_errors(errors: list[tuple[Loc, str]]) -> list[tuple[Loc, str]]:
    """A service's `(loc, message)` errors, located in the request body."""
    return [(("body", *loc), message) for loc, message in errors]
