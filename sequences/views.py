"""HTML views of the sequence domain: the annotation queue, the annotation page, images."""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET


@require_GET
def sequence_queue(request: HttpRequest) -> HttpResponse:
    return HttpResponse("To annotate")


@require_GET
def sequence_done(request: HttpRequest) -> HttpResponse:
    return HttpResponse("Done")


def sequence_annotate(request: HttpRequest, sequence_id: int) -> HttpResponse:
    return HttpResponse("Annotate")


@require_GET
def detection_image(request: HttpRequest, detection_id: int) -> HttpResponse:
    return HttpResponse(status=404)
