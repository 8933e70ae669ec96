"""HTML views of the sequence domain: the annotation queue, the annotation page, images."""

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import QuerySet
from django.forms.forms import NON_FIELD_ERRORS
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from annotation_site.storage import storage_presigns
from sequences import selectors
from sequences.forms import (
    CLUSTERS_CHANGED,
    FALSE_POSITIVE_KEYS,
    UNSURE_KEY,
    VALIDATE_GROUP_KEY,
    AnnotationForm,
    DoneFilterForm,
    SequenceFilterForm,
)
from sequences.image_responses import IMAGE_NOT_FOUND, stored_image_response
from sequences.models import Detection, LabelSource, ProcessingStage, Sequence
from sequences.paging import EstimatedCountPaginator
from sequences.payloads import FALSE_POSITIVE_LABELS, annotation_label, id_from_text
from sequences.presenters import group_line, has_crop, held_back_line, player_frames
from sequences.services import (
    AnnotationInvalid,
    SaveOutcome,
    annotation_write,
)
from sequences.services.crops import NoCropBox, crop_stored
from sequences.services.images import (
    image_presigned_url,
    stored_image_url,
    thumbnail_name,
    thumbnail_open,
)

# --- sequence lists and the annotation page (SPEC §6.4, §6.5) ---------------------------------

LIST_PAGE_SIZE = 50
SAVED_MESSAGE = "Sequence #{sequence_id} saved"
GROUP_VALIDATED_MESSAGE = "Group #{group_id} validated"
PROPAGATED_MESSAGE = "group #{group_id} labeled {label}, {count} other member{plural} updated"
# Added to PROPAGATED_MESSAGE when a safeguard kept members from the group's label.
HELD_BACK_SUFFIX = ", {count} held back"
SEQUENCE_NOT_FOUND = "Sequence not found."
# The session key of the propagation banner a save leaves for the page it redirects to.
BANNER_SESSION_KEY = "propagation_banner"


@require_GET
def sequence_queue(request: HttpRequest) -> HttpResponse:
    """The To-annotate list: writable sequences, ready ones first, 50 per page."""
    # Rows link with the filters, so that "next" after a save stays in the filtered queue.
    return _render_list(
        request,
        SequenceFilterForm(request.GET),
        selectors.sequence_queue,
        "sequences/sequence_queue.html",
        section="annotate",
        link_filters=True,
    )


@require_GET
def sequence_done(request: HttpRequest) -> HttpResponse:
    """The Done list: locked sequences, last annotated first, 50 per page."""
    return _render_list(
        request,
        DoneFilterForm(request.GET),
        selectors.sequence_done_list,
        "sequences/sequence_done.html",
        section="done",
        link_filters=False,
    )


@require_http_methods(["GET", "POST"])
def sequence_annotate(request: HttpRequest, sequence_id: int) -> HttpResponse:
    """GET shows the annotation page; POST saves it as a human save (SPEC §5.1, §6.4).

    An incomplete form is re-rendered (status 200) with the message on the card or question
    that needs attention, and nothing is saved. A save redirects: to the next sequence, or,
    when group propagation returned a warning, back to this page, which shows the banner once.
    """
    page = _annotation_page(sequence_id)
    route = _Route.from_request(request)
    if request.method == "GET":
        banner = _banner_pop(request, sequence_id)
        return _render_annotate(request, page, AnnotationForm.for_page(page), route, **banner)

    form = AnnotationForm.for_page(page, request.POST)
    if form.has_error(NON_FIELD_ERRORS, "stale"):
        # Nothing saved; the page is drawn again from what is stored now.
        messages.warning(request, CLUSTERS_CHANGED)
        return redirect(request.get_full_path())
    if not form.is_valid():
        return _render_annotate(request, page, form, route)
    # Saved at seq_annotation_done; a sequence already `annotated` (final) stays there.
    stage = (
        ProcessingStage.ANNOTATED
        if page.stage == ProcessingStage.ANNOTATED
        else ProcessingStage.SEQ_ANNOTATION_DONE
    )
    try:
        # One transaction: the write locks the sequence and its group, saves, and the groups
        # app's receiver fans the label out; the outcome says what the group did.
        outcome = annotation_write(
            sequence=page.sequence,
            annotation=form.cleaned_data["annotation"],
            processing_stage=stage,
            has_missed_smoke=form.has_missed_smoke,
            is_unsure=form.is_unsure,
            source=LabelSource.HUMAN,
            actor=request.user,
            # "Save and validate the group": the group is validated first, in the same
            # transaction, so this label fans out at once.
            validate_group="validate_group" in request.POST,
        )
    except AnnotationInvalid as exc:
        for loc, message in exc.errors:
            form.add_error(None, f"{'.'.join(map(str, loc))}: {message}")
        return _render_annotate(request, page, form, route)

    return _after_save(request, page, route, outcome)


def _after_save(
    request: HttpRequest, page: selectors.AnnotationPage, route: "_Route", outcome: SaveOutcome
) -> HttpResponse:
    """Move on with the save's messages, or stay with the banner when propagation warned."""
    sequence = page.sequence
    messages.success(request, SAVED_MESSAGE.format(sequence_id=sequence.pk))
    validated = outcome.validated
    if validated is not None and validated.changed:
        messages.success(request, GROUP_VALIDATED_MESSAGE.format(group_id=outcome.group_id))
    if validated is not None and validated.warning:
        messages.warning(request, validated.warning)
    next_url = _next_url(route, page)
    effect = outcome.effect
    if effect.warning:
        # Stay: the annotator must see that the group was not changed. The banner rides in the
        # session across the redirect (POST/redirect/GET: a refresh never saves twice).
        request.session[BANNER_SESSION_KEY] = {
            "sequence_id": sequence.pk,
            "warning": effect.warning,
            "next_url": next_url,
        }
        return redirect(request.get_full_path())
    count, held = effect.members_updated, effect.members_held_back
    if count or held:
        message = PROPAGATED_MESSAGE.format(
            group_id=outcome.group_id,
            label=effect.label,
            count=count,
            plural="" if count == 1 else "s",
        )
        messages.info(request, message + (HELD_BACK_SUFFIX.format(count=held) if held else ""))
    return redirect(next_url)


def _banner_pop(request: HttpRequest, sequence_id: int) -> dict[str, str]:
    """The propagation banner a save of this sequence left for its page (`warning`,
    `next_url`), shown once; empty otherwise."""
    banner = request.session.get(BANNER_SESSION_KEY)
    if not isinstance(banner, dict) or banner.get("sequence_id") != sequence_id:
        return {}
    del request.session[BANNER_SESSION_KEY]
    return {"warning": banner.get("warning"), "next_url": banner.get("next_url")}


def _render_list(
    request: HttpRequest,
    form: SequenceFilterForm,
    select: Callable[..., QuerySet[Sequence]],
    template: str,
    *,
    section: str,
    link_filters: bool,
) -> HttpResponse:
    """One page of the rows `select(filters=...)` reads for the form's filters, labeled."""
    rows = select(filters=form.filters())
    page_obj = EstimatedCountPaginator(rows, LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    for sequence in page_obj:
        annotation = getattr(sequence, "annotation", None)
        sequence.label = annotation_label(annotation.annotation) if annotation else None
    return render(
        request,
        template,
        {
            "form": form,
            "page_obj": page_obj,
            "filter_query": form.querystring(),
            "link_query": form.querystring() if link_filters else "",
            "nav_section": section,
        },
    )


def _annotation_page(sequence_id: int) -> selectors.AnnotationPage:
    try:
        return selectors.sequence_annotation_page(sequence_id=sequence_id)
    except Sequence.DoesNotExist as exc:
        raise Http404(SEQUENCE_NOT_FOUND) from exc


@dataclass
class _Route:
    """Where the annotator came from: a group page (`?group=<id>`) or the To-annotate list
    with its filters; it decides the back link and the next sequence after a save."""

    group_id: int | None
    filters: SequenceFilterForm

    @classmethod
    def from_request(cls, request: HttpRequest) -> "_Route":
        return cls(
            group_id=id_from_text(request.GET.get("group", "")),
            filters=SequenceFilterForm(request.GET),
        )

    @property
    def query(self) -> str:
        if self.group_id is not None:
            return urlencode({"group": self.group_id})
        return self.filters.querystring()

    @property
    def back_url(self) -> str:
        if self.group_id is not None:
            return reverse("groups:detail", args=[self.group_id])
        return _with_query(reverse("sequences:list"), self.query)


def _offers_validate_group(page: selectors.AnnotationPage, route: _Route) -> bool:
    """ "Save and validate the group" is offered on a page opened from the group page of the
    sequence's group while that group is not validated."""
    group = page.sequence.group
    return group is not None and group.pk == route.group_id and not group.is_validated


def _with_query(url: str, query: str) -> str:
    return f"{url}?{query}" if query else url


def _next_url(route: _Route, page: selectors.AnnotationPage) -> str:
    """SPEC §6.4 "Next": from a group, its first later member still writable, else the group
    page; otherwise the next writable sequence of the list (same filters), else the list."""
    if route.group_id is not None:
        upcoming = selectors.sequence_next_in_group(group_id=route.group_id, after=page.sequence)
    else:
        upcoming = selectors.sequence_next_in_queue(
            after=page.sequence, after_stage=page.stage, filters=route.filters.filters()
        )
    if upcoming is None:
        return route.back_url
    return _with_query(reverse("sequences:annotate", args=[upcoming.pk]), route.query)


def _render_annotate(
    request: HttpRequest,
    page: selectors.AnnotationPage,
    form: AnnotationForm,
    route: _Route,
    *,
    warning: str | None = None,
    next_url: str | None = None,
) -> HttpResponse:
    frames = player_frames(page)
    frame_numbers = {frame["detection"].pk: frame["number"] for frame in frames}
    return render(
        request,
        "sequences/sequence_annotate.html",
        {
            "page": page,
            "sequence": page.sequence,
            "annotation": page.annotation,
            "form": form,
            "cards": form.cluster_cards(frame_numbers),
            "frames": frames,
            "has_crop": has_crop(page),
            "group_line": group_line(page.sequence),
            "held_back_line": held_back_line(page.sequence),
            "back_url": route.back_url,
            "from_group": route.group_id is not None,
            "warning": warning,
            "next_url": next_url,
            "fp_keys": [
                (FALSE_POSITIVE_KEYS[value], label)
                for value, label in FALSE_POSITIVE_LABELS.items()
            ],
            "unsure_key": UNSURE_KEY,
            "offers_validate_group": _offers_validate_group(page, route),
            "validate_group_key": VALIDATE_GROUP_KEY,
            "nav_section": "annotate",
        },
    )


# --- images (SPEC §7.2 image endpoint, §6.3 thumbnails) ---------------------------------------


@require_GET
def detection_image(request: HttpRequest, detection_id: int) -> HttpResponse:
    """A detection's image, or its `?variant=thumb|preview` JPEG; 404 for an unknown one.

    Login is required (the global middleware). With object storage the answer is a redirect
    to a presigned URL of the image (a variant is generated first when missing); otherwise the
    bytes are streamed with their validators (`sequences.image_responses`, the API's rule too).
    A variant of an image that does not decode is a 404.
    """
    detection = get_object_or_404(Detection, pk=detection_id)
    variant = request.GET.get("variant") or None
    try:
        name = thumbnail_name(detection.image.name, variant) if variant else detection.image.name
        location = image_presigned_url(detection, variant)
    except ValueError as exc:
        raise Http404(str(exc)) from exc
    except FileNotFoundError as exc:
        raise Http404(IMAGE_NOT_FOUND) from exc
    return stored_image_response(
        request,
        detection,
        name,
        location,
        lambda: thumbnail_open(detection, variant) if variant else detection.image.open("rb"),
    )


@require_GET
def detection_crop(request: HttpRequest, detection_id: int) -> HttpResponse:
    """The detection's zoomed crop around its sequence's box, with the box drawn
    (`sequences.services.crops`); 404 when the sequence has no box or the image is gone or
    cannot be decoded. Served like the image's other variants."""
    detection = get_object_or_404(Detection, pk=detection_id)
    try:
        name = crop_stored(detection)
    except NoCropBox as exc:
        raise Http404(str(exc)) from exc
    except (FileNotFoundError, ValueError) as exc:
        raise Http404(IMAGE_NOT_FOUND) from exc
    storage = detection.image.storage
    location = stored_image_url(name) if storage_presigns(storage) else None
    return stored_image_response(
        request, detection, name, location, lambda: storage.open(name, "rb")
    )
