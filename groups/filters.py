"""Query-string parameters of the group list API, validated strictly (422 naming the parameter)."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from annotation_site.api import RequestInvalid
from groups.models import SequenceGroup
from groups.selectors import (
    DEFAULT_ORDER,
    LABEL_STATES,
    ORDER_KEYS,
    CountedRows,
    group_list_rows,
)
from sequences.filters import (
    ApiFilterSet,
    StrictBooleanFilter,
    order_by_filter,
    order_direction_filter,
)

BOTH_LABEL_FILTERS = "give either labeled or label_state, not both"


class SequenceGroupFilter(ApiFilterSet):
    """`GET /sequence_groups/`: the listed groups (SPEC §7.2) through `groups.selectors.group_list`.

    `labeled` and `label_state` omitted list every tab (`labeled=false` is the To-label tab, the
    unsure groups without a label apart, as `label_state=unlabeled`); the ordering (with the id
    tie-break) is the selector's.
    The rows come counted from the tallies (`CountedRows`), so the page's `total` costs the same
    whatever the number of groups.
    """

    labeled = StrictBooleanFilter(method="keep", help_text="true: labeled; false: unlabeled")
    label_state = django_filters.ChoiceFilter(
        choices=[(state, state) for state in LABEL_STATES],
        method="keep",
        help_text="labeled (a label, unsure or not: the label wins), unsure (unsure without a "
        "label), unlabeled (neither); not with `labeled`",
    )
    is_validated = StrictBooleanFilter(method="keep")
    order_by = order_by_filter(list(ORDER_KEYS), default=DEFAULT_ORDER)
    order_direction = order_direction_filter()

    class Meta:
        model = SequenceGroup
        fields: list[str] = []

    def filter_queryset(self, queryset: QuerySet) -> CountedRows:
        data = self.form.cleaned_data
        labeled, state = data.get("labeled"), data.get("label_state")
        if labeled is not None and state:
            raise RequestInvalid([(("query", "label_state"), BOTH_LABEL_FILTERS)])
        tab = state or ("all" if labeled is None else ("labeled" if labeled else "unlabeled"))
        return group_list_rows(
            tab=tab,
            is_validated=data.get("is_validated"),
            order_by=data.get("order_by") or DEFAULT_ORDER,
            direction=data.get("order_direction") or "desc",
        )
