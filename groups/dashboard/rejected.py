"""The rejected machine labels (`/groups/rejected/`), the list behind the dashboard's
"rejected" figure: the `reject` operations (the check queue's "Not this") of a window of days,
newest first, not undone since, each with who rejected it, the sequence, the group it left and
the label it lost. The days come from `date_from`/`date_to` (the dashboard's window when they
are missing); its reads stay a constant number of queries per page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import QuerySet
from django.utils import timezone

from groups.dashboard.figures import DEFAULT_DAYS, Window
from groups.dashboard.presenters import SOURCE_LOOK
from groups.models import GroupOperation, OperationKind
from groups.presenters import label_parts, rejected_label
from groups.selectors.history import rejected_before
from sequences.forms import KeptInLinksForm

# Days outside these are typing slips, answered like an invalid date.
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2999, 12, 31)
OUT_OF_RANGE = "Enter a day between 1900 and 2999."
ENDS_BEFORE = "The first day comes after the last; the last {days} days are shown instead."


def _day_field(label: str) -> forms.DateField:
    return forms.DateField(
        required=False,
        label=label,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[
            MinValueValidator(FIRST_DAY, message=OUT_OF_RANGE),
            MaxValueValidator(LAST_DAY, message=OUT_OF_RANGE),
        ],
    )


class RejectedWindowForm(KeptInLinksForm):
    """The days of the list. A day left out or invalid (reported on its field, as the sequence
    lists do) is taken from the dashboard's window: the last DEFAULT_DAYS days ending today."""

    date_from = _day_field("From")
    date_to = _day_field("To")

    def window(self) -> Window:
        self.is_valid()  # cleaned_data then holds the valid fields only
        default = Window.ending_today(DEFAULT_DAYS)
        first, last = self.cleaned_data.get("date_from"), self.cleaned_data.get("date_to")
        if last is None:
            last = max(default.last, first) if first else default.last
        if first is None:
            first = last - timedelta(days=DEFAULT_DAYS - 1)
        if first > last:
            self.add_error("date_from", ENDS_BEFORE.format(days=DEFAULT_DAYS))
            return default
        return Window(first=first, last=last)


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def rejected_operations(window: Window) -> QuerySet[GroupOperation]:
    """The rejections of the window not undone since (the dashboard's figure counts the same),
    newest first, each with its actor, sequence and group, and `rejected_before`: the
    annotation its member row kept from before the reject. Over the (created_at, id) index."""
    return (
        GroupOperation.objects.filter(
            kind=OperationKind.REJECT,
            undone_by__isnull=True,
            created_at__gte=window.start,
            created_at__lt=_day_start(window.last + timedelta(days=1)),
        )
        .select_related("actor", "sequence", "group")
        .annotate(rejected_before=rejected_before())
        .order_by("-created_at", "-id")
    )


@dataclass(frozen=True)
class RejectedRow:
    """One rejection as the list shows it."""

    operation: GroupOperation
    # The sequence and the group it left (None: deleted since; `deleted_sequence_id` says which).
    sequence_id: int | None
    deleted_sequence_id: int | None
    group_id: int | None
    # The chip of the label the sequence lost (None: it had none to show) and how a group had
    # written it ("labeled by inheritance").
    label: dict[str, str] | None
    provenance: str


def rejected_rows(operations: list[GroupOperation]) -> list[RejectedRow]:
    rows = []
    for operation in operations:
        details = operation.details or {}
        source = details.get("label_source")
        rows.append(
            RejectedRow(
                operation=operation,
                sequence_id=operation.sequence_id,
                deleted_sequence_id=None if operation.sequence_id else details.get("sequence_id"),
                group_id=operation.group_id,
                label=label_parts(rejected_label(operation)),
                provenance=f"labeled {SOURCE_LOOK[source][1]}" if source in SOURCE_LOOK else "",
            )
        )
    return rows
