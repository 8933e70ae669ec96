"""HTML views of the groups app: the groups list, the group page, the check queue."""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET, require_POST


@require_GET
def group_list(request: HttpRequest) -> HttpResponse:
    return HttpResponse("Sequence groups")


@require_GET
def check_queue(request: HttpRequest) -> HttpResponse:
    return HttpResponse("Check")


@require_GET
def group_detail(request: HttpRequest, group_id: int) -> HttpResponse:
    return HttpResponse("Group")


@require_POST
def group_validate_view(request: HttpRequest, group_id: int) -> HttpResponse:
    return HttpResponse(status=204)


@require_POST
def group_unvalidate_view(request: HttpRequest, group_id: int) -> HttpResponse:
    return HttpResponse(status=204)


@require_POST
def group_member_remove_view(request: HttpRequest, group_id: int, sequence_id: int) -> HttpResponse:
    return HttpResponse(status=204)


@require_POST
def group_member_reinclude_view(request: HttpRequest, sequence_id: int) -> HttpResponse:
    return HttpResponse(status=204)
