"""HTML views that regroup members: the "Merge" page of a group (the other groups of its camera
and azimuth, most overlapping first, with their previews), a merge, and a split of the members
selected on the group page.

Plain POST forms answered with a redirect and a message (a refusal: back where the form was,
with the reason). Each write is one audited operation, undone from the group page's history.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from annotation_site.errors import http_status
from groups import presenters, selectors, services
from groups.candidates import MERGE_CANDIDATES_LIMIT, merge_candidates
from groups.models import SequenceGroup
from groups.presenters import plural
from sequences.payloads import id_from_text

NO_SOURCE = "Choose the group to merge: source_group_id must be a group id."
NO_SELECTION = "Select the members to split off first (the checkboxes on the cards)."
MERGED = "Group #{source_id} merged into this group: {moved} moved."
LABEL_TAKEN = " This group took its label, {label}."
FANNED_OUT = " {updated} updated with the label."
HELD_BACK = " {count} held back by a safeguard."
SPLIT = (
    "{moved} split off group #{group_id} into this new group. Undo it from the history of "
    "group #{group_id}."
)


def _group_or_404(group_id: int) -> SequenceGroup:
    group = SequenceGroup.objects.select_related("camera__organization").filter(pk=group_id).first()
    if group is None:
        raise Http404(services.GROUP_NOT_FOUND.format(group_id=group_id))
    return group


def _refused(request: HttpRequest, exc: services.GroupServiceError) -> None:
    if http_status(exc) == 404:
        raise Http404(exc.message) from exc
    messages.error(request, exc.message)


@require_GET
def group_merge_page(request: HttpRequest, group_id: int) -> HttpResponse:
    """The groups this one may merge with, each with its previews, label, size and overlap,
    and the two directions of a merge. A constant number of queries whatever the bucket."""
    group = _group_or_404(group_id)
    candidates = merge_candidates(group)
    previews = selectors.group_previews(group_ids=[group.pk, *(c.group.pk for c in candidates)])
    row, *candidate_rows = presenters.list_rows([group, *(c.group for c in candidates)], previews)
    context = {
        "nav_section": "groups",
        "group": group,
        "row": row,
        "candidates": list(zip(candidates, candidate_rows, strict=True)),
        "limit": MERGE_CANDIDATES_LIMIT,
    }
    return render(request, "groups/group_merge.html", context)


def merge_notice(outcome: services.MergeOutcome) -> str:
    text = MERGED.format(source_id=outcome.source_id, moved=plural(outcome.moved, "member"))
    if outcome.label_taken:
        text += LABEL_TAKEN.format(label=outcome.label_taken)
    if outcome.propagated_count:
        text += FANNED_OUT.format(updated=plural(outcome.propagated_count, "member"))
    if outcome.held_back_count:
        text += HELD_BACK.format(count=outcome.held_back_count)
    return text


@require_POST
def group_merge_view(request: HttpRequest, group_id: int) -> HttpResponse:
    """Merge `source_group_id` into this group, then show this group; a refusal goes back to
    the Merge page it came from (`from`), with the reason."""
    source_id = id_from_text(request.POST.get("source_group_id", ""))
    came_from = id_from_text(request.POST.get("from", "")) or group_id
    back = reverse("groups:merge", args=[came_from])
    if source_id is None:
        messages.error(request, NO_SOURCE)
        return redirect(back)
    try:
        outcome = services.group_merge(
            target_group_id=group_id, source_group_id=source_id, actor=request.user
        )
    except services.GroupServiceError as exc:
        _refused(request, exc)
        return redirect(back)
    messages.success(request, merge_notice(outcome))
    return redirect("groups:detail", group_id)


@require_POST
def group_split_view(request: HttpRequest, group_id: int) -> HttpResponse:
    """Move the members ticked on the group page (`sequence_ids`) into a new group, then show
    the new group; a refusal goes back to the group page, with the reason."""
    ids = [id_from_text(value) for value in request.POST.getlist("sequence_ids")]
    if not ids or None in ids:
        messages.error(request, NO_SELECTION)
        return redirect("groups:detail", group_id)
    try:
        outcome = services.group_split(group_id=group_id, sequence_ids=ids, actor=request.user)
    except services.GroupServiceError as exc:
        _refused(request, exc)
        return redirect("groups:detail", group_id)
    notice = SPLIT.format(moved=plural(len(outcome.moved), "member"), group_id=group_id)
    messages.success(request, notice)
    return redirect("groups:detail", outcome.new_group.pk)
