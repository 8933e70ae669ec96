"""HTML views of the groups app: the groups list, the group page, the check queue.

Views are thin: parse the input, call one service (writes) or selectors (reads), hand the rows
to `groups.presenters`, render. Every action is a plain POST form (redirect back, messages)
that htmx enhances: an htmx request gets the fragments that changed, with the header and
navigation badges out of band (SPEC §6.1, §9.4 #17).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models.functions import Lower
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh, retarget

from annotation_site.errors import http_status
from groups import presenters, selectors, services
from groups.forms import (
    CheckConfirmForm,
    CheckRejectForm,
    GroupPageForm,
    group_page_query,
    list_params,
)
from groups.models import SequenceGroup
from sequences.models import Camera, Organization, Sequence
from sequences.payloads import id_from_text

NOTHING_TO_CONFIRM = "Nothing to confirm: the page sent no valid annotation ids."
NOTHING_REJECTED = "Nothing rejected: the card sent no valid sequence id."
REJECTED = (
    "Sequence #{sequence_id} left its group; its label was undone and it is back in the "
    "annotation queue."
)


def _refusal(exc: services.GroupServiceError) -> str:
    """The message of a refused action; a row that does not exist is a 404 page instead."""
    if http_status(exc) == 404:
        raise Http404(exc.message) from exc
    return exc.message


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


# --- the groups list ---------------------------------------------------------------------------


@require_GET
def group_list(request: HttpRequest) -> HttpResponse:
    """The groups list (SPEC §6.2): tabs with counts, sortable columns, filters, 50 per page."""
    params, ignored = list_params(request.GET)
    # The tallies are read once for the tabs, the page count and (unfiltered) the badge.
    counts = selectors.group_counts(camera_id=params.camera, organization_id=params.organization)
    stats = selectors.stats_of(counts)
    overall = selectors.group_stats() if params.filtered else stats
    page = Paginator(
        selectors.group_list_rows(counts=counts, **params.selector_kwargs()),
        settings.GROUPS_LIST_PAGE_SIZE,
    ).get_page(params.page)
    groups = list(page.object_list)
    previews = selectors.group_previews(group_ids=[group.pk for group in groups])
    held_back = selectors.held_back_counts(groups)
    list_query = params.query(page=page.number)
    context = {
        "nav_section": "groups",
        "params": params,
        "ignored": ignored,
        "stats": stats,
        "page": page,
        "rows": presenters.list_rows(groups, previews, held_back),
        "list_query": list_query,
        "tabs": presenters.list_tabs(params, stats),
        "sort_columns": presenters.sort_columns(params),
        "previous_query": params.query(page=page.number - 1) if page.has_previous() else None,
        "next_query": params.query(page=page.number + 1) if page.has_next() else None,
        "empty_message": presenters.empty_message(params, stats, overall["total"]),
        # The filters' options: only what their labels show.
        "cameras": Camera.objects.select_related("organization")
        .only("id", "name", "organization__name")
        .order_by(Lower("name"), "id"),
        "organizations": Organization.objects.only("id", "name").order_by(Lower("name"), "id"),
        "min_members": settings.GROUPS_MIN_LISTED_MEMBERS,
        # The navigation's badge, the same To-label count (the context processor's otherwise).
        "nav_groups_to_label": overall["unlabeled"],
    }
    return render(request, "groups/group_list.html", context)


# --- the group page ----------------------------------------------------------------------------


def _group_context(
    request: HttpRequest,
    group_id: int,
    *,
    notice: str | None = None,
    notice_level: str = "success",
) -> dict[str, Any]:
    """Everything the group page and its fragments draw, in a constant number of queries
    whatever the number of members: one page of members, one page of removed members, the
    newest operations."""
    params, _ = list_params(request.GET)
    members_page, removed_page = GroupPageForm(request.GET).pages()
    try:
        detail = selectors.group_detail(group_id=group_id, members_page=members_page)
    except SequenceGroup.DoesNotExist as exc:
        raise Http404(services.GROUP_NOT_FOUND.format(group_id=group_id)) from exc
    group = detail.group
    reference = presenters.reference_box(group)
    previous_id, next_id = selectors.group_neighbors(group=group, **params.selector_kwargs())
    list_query = params.query()
    removed_rows, removed = selectors.group_removed_page(
        group_id=group.pk, number=removed_page, size=selectors.REMOVED_PAGE_SIZE
    )
    pages = {"members": detail.page.number, "removed": removed.number}
    return {
        "nav_section": "groups",
        "group": group,
        "group_label": presenters.group_label(group),
        "cards": [
            presenters.member_card(member, group_id=group.pk, reference=reference)
            for member in detail.members
        ],
        "held_back_count": detail.held_back_count,
        "members_pager": presenters.pager(
            detail.page, lambda n: group_page_query(list_query, **{**pages, "members": n})
        ),
        "removed": removed_rows,
        "removed_page": removed,
        "removed_pager": presenters.pager(
            removed, lambda n: group_page_query(list_query, **{**pages, "removed": n})
        ),
        "history": presenters.history_entries(
            selectors.group_history(group_id=group.pk, limit=selectors.HISTORY_LIMIT)
        ),
        "history_limit": selectors.HISTORY_LIMIT,
        "list_query": list_query,
        "query_suffix": f"?{list_query}" if list_query else "",
        "action_suffix": _suffix(group_page_query(list_query, **pages)),
        "previous_id": previous_id,
        "next_id": next_id,
        "notice": notice,
        "notice_level": notice_level,
    }


def _suffix(query: str) -> str:
    return f"?{query}" if query else ""


# Sections of the group page that an htmx pager link redraws alone (by the id it targets).
_PAGED_SECTIONS = {"group-members": "members", "removed-members": "removed"}


@require_GET
def group_detail(request: HttpRequest, group_id: int) -> HttpResponse:
    """The group review page (SPEC §6.3). A pager link of the members or of the removed members
    (htmx, targeting that section) gets that section alone."""
    context = _group_context(request, group_id)
    section = _PAGED_SECTIONS.get(request.htmx.target) if request.htmx else None
    if section:
        return render(request, f"groups/group_detail.html#{section}", context)
    return render(request, "groups/group_detail.html", context)


def _group_fragments(
    request: HttpRequest,
    context: dict[str, Any],
    *,
    main: str | None,
    oob: Iterable[str],
) -> HttpResponse:
    """An htmx answer: the `main` partial of the group page (None: nothing, which removes the
    swapped element), then `oob` partials and the navigation swapped out of band."""
    context = {**context, "main": main, "oob": set(oob)}
    return render(request, "groups/_group_update.html", context)


def _detail_url(request: HttpRequest, group_id: int) -> str:
    params, _ = list_params(request.GET)
    members, removed = GroupPageForm(request.GET).pages()
    query = group_page_query(params.query(), members=members, removed=removed)
    return reverse("groups:detail", args=[group_id]) + _suffix(query)


def _group_action(
    request: HttpRequest,
    group_id: int,
    action: Callable[[], tuple[str, str]],
    *,
    main: str | None,
    oob: Callable[[], Iterable[str]],
) -> HttpResponse:
    """Run a group page action and answer it: a redirect back to the page (with a message)
    without htmx, the changed fragments with htmx. `action` returns `(notice, level)`; a refused
    request shows its message in the header, with the members and history redrawn so the page
    matches the database again (without htmx: the whole page, 200, as for any invalid form)."""
    try:
        notice, level = action()
    except services.GroupServiceError as exc:
        context = _group_context(request, group_id, notice=_refusal(exc), notice_level="error")
        if not request.htmx:
            return render(request, "groups/group_detail.html", context)
        response = _group_fragments(
            request, context, main="header", oob=("members", "removed", "history")
        )
        return retarget(response, "#group-header")
    if not request.htmx:
        getattr(messages, level)(request, notice)
        return redirect(_detail_url(request, group_id))
    context = _group_context(request, group_id, notice=notice, notice_level=level)
    return _group_fragments(request, context, main=main, oob=oob())


@require_POST
def group_validate_view(request: HttpRequest, group_id: int) -> HttpResponse:
    return _toggle_validation(request, group_id, validating=True)


@require_POST
def group_unvalidate_view(request: HttpRequest, group_id: int) -> HttpResponse:
    return _toggle_validation(request, group_id, validating=False)


def _toggle_validation(request: HttpRequest, group_id: int, *, validating: bool) -> HttpResponse:
    service = services.group_validate if validating else services.group_unvalidate
    outcomes: list[services.ValidationOutcome] = []

    def action() -> tuple[str, str]:
        outcomes.append(service(group_id=group_id, actor=request.user))
        return presenters.validation_notice(outcomes[0], validating=validating)

    def oob() -> list[str]:
        # Fanned-out labels change member captions, and so does a label held back from some
        # members (they now say why); otherwise the cards are as they were.
        outcome = outcomes[0]
        redraw = outcome.propagated_count or outcome.held_back_count
        return ["history", "members"] if redraw else ["history"]

    return _group_action(request, group_id, action, main="header", oob=oob)


@require_POST
def group_member_remove_view(request: HttpRequest, group_id: int, sequence_id: int) -> HttpResponse:
    """× on a member card: the card disappears, the header count and Removed section update."""

    def action() -> tuple[str, str]:
        services.group_member_remove(group_id=group_id, sequence_id=sequence_id, actor=request.user)
        return f"Sequence #{sequence_id} removed from this group.", "success"

    def oob() -> list[str]:
        # An emptied group shows "This group has no members." in place of the grid.
        empty = not Sequence.objects.filter(group_id=group_id).exists()
        return ["header", "removed", "history", *(["members"] if empty else [])]

    return _group_action(request, group_id, action, main=None, oob=oob)


@require_POST
def group_member_reinclude_view(request: HttpRequest, sequence_id: int) -> HttpResponse:
    """Re-include a removed sequence (SPEC §5.6). From the group page (`group` posted) htmx
    gets the redrawn Removed section; elsewhere the page is reloaded or redirected to `next`."""
    group_id = id_from_text(request.POST.get("group", ""))

    def action() -> tuple[str, str]:
        operation = services.group_member_reinclude(sequence_id=sequence_id, actor=request.user)
        if operation is None:
            return f"Sequence #{sequence_id} was not excluded; nothing changed.", "info"
        return (
            f"Sequence #{sequence_id} re-included: it waits for the next assignment run.",
            "success",
        )

    if group_id is not None:
        # The header carries the notice; the Removed section is the swapped fragment.
        return _group_action(
            request, group_id, action, main="removed", oob=lambda: ["header", "history"]
        )
    fallback = reverse("sequences:annotate", args=[sequence_id])
    try:
        notice, level = action()
    except services.GroupServiceError as exc:
        notice, level = _refusal(exc), "error"
    getattr(messages, level)(request, notice)
    if request.htmx:
        return HttpResponseClientRefresh()
    return redirect(_safe_next(request, fallback))


@require_POST
def group_operation_undo_view(request: HttpRequest, operation_id: int) -> HttpResponse:
    """Staff "Undo" of one audited operation (SPEC §5.8); back to the page it came from."""
    if not request.user.is_staff:
        raise PermissionDenied("Only staff can undo operations.")
    try:
        outcome = services.group_operation_undo(operation_id=operation_id, actor=request.user)
    except services.GroupServiceError as exc:
        messages.error(request, _refusal(exc))
    else:
        messages.success(request, presenters.undo_notice(outcome, operation_id=operation_id))
    return redirect(_safe_next(request, reverse("groups:list")))


# --- the check queue (SPEC §5.9) -----------------------------------------------------------------


def _check_context(request: HttpRequest, *, notice=None, notice_level="success") -> dict:
    number = request.GET.get("page", "1")
    waiting = selectors.unchecked_count()
    queue = selectors.CountedRows(selectors.unchecked_machine_labels(), waiting.total)
    page = Paginator(queue, settings.GROUPS_CHECK_PAGE_SIZE).get_page(number)
    rows = list(page.object_list)
    detections = selectors.detections_by_id(
        detection_ids=[row.first_detection_id for row in rows if row.first_detection_id]
    )
    cards = presenters.check_cards(rows, detections)
    return {
        "nav_section": "check",
        "page": page,
        "cards": cards,
        # "Confirm these N" sends only these; a look-closely card is confirmed on its own.
        "confirmable": [card for card in cards if not card.look_closely],
        "look_closely_count": sum(1 for card in cards if card.look_closely),
        "page_query": f"?page={page.number}" if page.number > 1 else "",
        "notice": notice,
        "notice_level": notice_level,
        # The navigation's Check badge: the same figures (the context processor's otherwise).
        "nav_check": waiting,
    }


@require_GET
def check_queue(request: HttpRequest) -> HttpResponse:
    """The check queue (SPEC §5.9): unchecked machine labels, riskiest first."""
    return render(request, "groups/check_queue.html", _check_context(request))


def _check_action(
    request: HttpRequest, form: Form, *, invalid: str, act: Callable[[dict], str]
) -> HttpResponse:
    """Run a check queue action: `act(cleaned_data)` returns the notice of a valid `form`, an
    invalid one shows `invalid`. Done without htmx: back to the queue with the notice flashed;
    htmx gets the changed fragments; a refusal without htmx gets the page again, 200."""
    notice, level = invalid, "error"
    if form.is_valid():
        try:
            notice, level = act(form.cleaned_data), "success"
        except services.GroupServiceError as exc:
            notice = exc.message
    if not request.htmx and level != "error":
        getattr(messages, level)(request, notice)
        query = request.GET.urlencode()
        return redirect(reverse("groups:check") + (f"?{query}" if query else ""))
    template = "groups/_check_update.html" if request.htmx else "groups/check_queue.html"
    return render(request, template, _check_context(request, notice=notice, notice_level=level))


@require_POST
def check_confirm_view(request: HttpRequest) -> HttpResponse:
    """ "Confirm these N" (the page's labels but the look-closely ones), or the Confirm of one
    look-closely card: mark the labels sent checked, as one operation."""

    def confirm(data: dict) -> str:
        outcome = services.label_check_confirm(
            annotation_ids=data["annotation_ids"], actor=request.user
        )
        return presenters.check_confirm_notice(outcome)

    form = CheckConfirmForm(request.POST)
    return _check_action(request, form, invalid=NOTHING_TO_CONFIRM, act=confirm)


@require_POST
def check_reject_view(request: HttpRequest) -> HttpResponse:
    """ "Not this": the sequence leaves its group and goes back to the annotation queue."""

    def reject(data: dict) -> str:
        services.label_check_reject(sequence_id=data["sequence_id"], actor=request.user)
        return REJECTED.format(sequence_id=data["sequence_id"])

    form = CheckRejectForm(request.POST)
    return _check_action(request, form, invalid=NOTHING_REJECTED, act=reject)
