"""Input of the group pages: the list's query string and the check queue's two actions."""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.http import QueryDict

from groups.selectors import DEFAULT_ORDER, DIRECTIONS, ORDER_KEYS, SORT_KEYS, TABS
from sequences.payloads import BIGINT_MAX, id_from_text


@dataclass(frozen=True)
class ListParams:
    """The state of the groups list, carried in its query string (SPEC §6.2)."""

    tab: str = "unlabeled"
    sort: str = DEFAULT_ORDER
    dir: str = SORT_KEYS[DEFAULT_ORDER].first_direction
    camera: int | None = None
    organization: int | None = None
    page: int = 1

    @property
    def filtered(self) -> bool:
        return self.camera is not None or self.organization is not None

    def selector_kwargs(self) -> dict:
        """Arguments of `selectors.group_list` / `group_neighbors` for this state."""
        return {
            "tab": self.tab,
            "camera_id": self.camera,
            "organization_id": self.organization,
            "order_by": self.sort,
            "direction": self.dir,
        }

    def query(self, **changes) -> str:
        """The query string of this state with `changes` applied; defaults are left out so
        bookmarks stay short."""
        state = replace(self, **changes)
        defaults = ListParams()
        pairs = [
            (name, getattr(state, name))
            for name in ("tab", "sort", "dir", "camera", "organization", "page")
            if getattr(state, name) is not None and getattr(state, name) != getattr(defaults, name)
        ]
        return urlencode(pairs)

    def sort_query(self, key: str) -> str:
        """The query of a click on column `key`: toggles the direction of the current sort
        column, starts another column in its natural direction; back to page 1."""
        if key == self.sort:
            direction = "asc" if self.dir == "desc" else "desc"
        else:
            direction = SORT_KEYS[key].first_direction
        return self.query(sort=key, dir=direction, page=1)


class GroupListForm(forms.Form):
    """Parses the list's query string. A bad value never fails the page: the field falls back
    to its default and `ignored` names it, so the page can say so."""

    tab = forms.ChoiceField(choices=[(t, t) for t in TABS], required=False)
    sort = forms.ChoiceField(choices=[(k, k) for k in ORDER_KEYS], required=False)
    dir = forms.ChoiceField(choices=[(d, d) for d in DIRECTIONS], required=False)
    camera = forms.IntegerField(min_value=1, max_value=BIGINT_MAX, required=False)
    organization = forms.IntegerField(min_value=1, max_value=BIGINT_MAX, required=False)
    page = forms.IntegerField(min_value=1, required=False)

    def params(self) -> ListParams:
        self.is_valid()
        data = self.cleaned_data
        defaults = ListParams()
        return ListParams(
            tab=data.get("tab") or defaults.tab,
            sort=data.get("sort") or defaults.sort,
            dir=data.get("dir") or defaults.dir,
            camera=data.get("camera"),
            organization=data.get("organization"),
            page=data.get("page") or 1,
        )

    @property
    def ignored(self) -> list[str]:
        return sorted(self.errors)


def list_params(query: QueryDict) -> tuple[ListParams, list[str]]:
    """`(params, names of ignored fields)` of a list query string."""
    form = GroupListForm(query)
    return form.params(), form.ignored


class GroupPageForm(forms.Form):
    """Which page of members and of removed members a group page shows (`members`, `removed`,
    beside the list's own state); a bad value falls back to the first page."""

    members = forms.IntegerField(min_value=1, max_value=2**31 - 1, required=False)
    removed = forms.IntegerField(min_value=1, max_value=2**31 - 1, required=False)

    def pages(self) -> tuple[int, int]:
        self.is_valid()
        data = self.cleaned_data
        return data.get("members") or 1, data.get("removed") or 1


def group_page_query(list_query: str, *, members: int = 1, removed: int = 1) -> str:
    """The query string of a group page: the list's state, then the page numbers that are not
    the first."""
    pages = urlencode(
        [(name, n) for name, n in (("members", members), ("removed", removed)) if n > 1]
    )
    return "&".join(part for part in (list_query, pages) if part)


class IntegerListField(forms.Field):
    """A repeated query or form key whose values are all integers (e.g. `?ids=4&ids=7`)."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {
        "invalid": "must be a list of integer ids",
        "too_many": "must list at most %(limit)s ids",
    }

    def to_python(self, value) -> list[int]:
        if not value:
            return []
        limit = settings.GROUPS_MAX_REQUEST_IDS
        if len(value) > limit:
            raise forms.ValidationError(
                self.error_messages["too_many"], code="too_many", params={"limit": limit}
            )
        ids = [id_from_text(item) if isinstance(item, str) else None for item in value]
        if None in ids:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return ids


class CheckConfirmForm(forms.Form):
    """ "Confirm these N": the annotation ids shown on the page."""

    annotation_ids = IntegerListField()


class CheckRejectForm(forms.Form):
    """ "Not this" on one card."""

    sequence_id = forms.IntegerField(min_value=1, max_value=BIGINT_MAX)
