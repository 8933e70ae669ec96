"""Routes of the REST API under /api/v1/ (SPEC §7.2).

- Every path answers with and without its trailing slash (no redirect); the schema documents
  one spelling, SPEC's.
- Integer path parameters match digits only (the `id` converter), so `stats`, `assign`,
  `members`, `operations` and `check` are never taken for an id; an id of more than 18 digits
  cannot name a row and falls through to the JSON 404 at the end.
- The whole tree is exempt from LoginRequiredMiddleware: DRF authenticates (401 without
  credentials) instead of redirecting to the login page. The schema and its Swagger UI (served
  from drf-spectacular-sidecar's static files, no CDN) are public.
"""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.urls import path, re_path, register_converter
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from groups import api as groups_api
from groups.dashboard import api as dashboard_api
from sequences import api as sequences_api

app_name = "api"


class IdConverter:
    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")


def route(pattern: str, view_class, name: str | None = None) -> tuple:
    """`(documented, twin)`: `pattern` as SPEC spells it and its other trailing-slash form.

    The twin serves the same view but is left out of the schema (`schema=None`).
    """
    twin = pattern.removesuffix("/") if pattern.endswith("/") else f"{pattern}/"
    return (
        path(pattern, login_not_required(view_class.as_view()), name=name),
        path(twin, login_not_required(view_class.as_view(schema=None))),
    )


ROUTES = [
    route("auth/login", sequences_api.AuthLoginApi, "auth_login"),
    route("auth/logout", sequences_api.AuthLogoutApi, "auth_logout"),
    route("users/me", sequences_api.UserMeApi, "users_me"),
    route("sequences/", sequences_api.SequenceCollectionApi, "sequences"),
    route("sequences/<id:sequence_id>", sequences_api.SequenceDetailApi, "sequence"),
    route("detections/", sequences_api.DetectionCollectionApi, "detections"),
    route("detections/<id:detection_id>", sequences_api.DetectionDetailApi, "detection"),
    route("detections/<id:detection_id>/image", sequences_api.DetectionImageApi, "detection_image"),
    route("detections/<id:detection_id>/url", sequences_api.DetectionUrlApi, "detection_url"),
    route("export/alerts", sequences_api.ExportAlertsApi, "export_alerts"),
    route(
        "annotations/sequences/",
        sequences_api.SequenceAnnotationCollectionApi,
        "sequence_annotations",
    ),
    route(
        "annotations/sequences/bulk",
        groups_api.SequenceAnnotationBulkApi,
        "sequence_annotations_bulk",
    ),
    route(
        "annotations/sequences/<id:annotation_id>",
        sequences_api.SequenceAnnotationDetailApi,
        "sequence_annotation",
    ),
    route("stats/daily", dashboard_api.StatsDailyApi, "stats_daily"),
    route("stats/label_sources", dashboard_api.StatsLabelSourcesApi, "stats_label_sources"),
    route("stats/check_queue", dashboard_api.StatsCheckQueueApi, "stats_check_queue"),
    route("stats/thresholds", dashboard_api.StatsThresholdsApi, "stats_thresholds"),
    route("sequence_groups/", groups_api.SequenceGroupCollectionApi, "sequence_groups"),
    route("sequence_groups/stats", groups_api.SequenceGroupStatsApi, "sequence_group_stats"),
    route("sequence_groups/assign", groups_api.SequenceGroupAssignApi, "sequence_group_assign"),
    route("sequence_groups/check", groups_api.LabelCheckApi, "label_check"),
    route("sequence_groups/check/reject", groups_api.LabelCheckRejectApi, "label_check_reject"),
    route(
        "sequence_groups/members/<id:sequence_id>/re-include",
        groups_api.SequenceGroupMemberReincludeApi,
        "sequence_group_member_reinclude",
    ),
    route(
        "sequence_groups/operations/<id:operation_id>/undo",
        groups_api.GroupOperationUndoApi,
        "group_operation_undo",
    ),
    route("sequence_groups/<id:group_id>", groups_api.SequenceGroupDetailApi, "sequence_group"),
    route(
        "sequence_groups/<id:group_id>/members/<id:sequence_id>",
        groups_api.SequenceGroupMemberApi,
        "sequence_group_member",
    ),
    route(
        "sequence_groups/<id:group_id>/operations",
        groups_api.SequenceGroupOperationsApi,
        "sequence_group_operations",
    ),
    route(
        "sequence_groups/<id:group_id>/merge_candidates",
        groups_api.SequenceGroupMergeCandidatesApi,
        "sequence_group_merge_candidates",
    ),
    route("sequence_groups/<id:group_id>/merge", groups_api.SequenceGroupMergeApi, "group_merge"),
    route("sequence_groups/<id:group_id>/split", groups_api.SequenceGroupSplitApi, "group_split"),
]


@csrf_exempt
@login_not_required
def not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    """Any other path under /api/v1/: a JSON 404 like every other API error."""
    return JsonResponse({"detail": "Not found."}, status=404)


_public = {"authentication_classes": [], "permission_classes": [AllowAny]}
schema_view = SpectacularAPIView.as_view(**_public)
docs_view = SpectacularSwaggerView.as_view(url_name="api:schema", **_public)

urlpatterns = [
    *(pattern for pair in ROUTES for pattern in pair),
    path("schema/", login_not_required(schema_view), name="schema"),
    path("docs/", login_not_required(docs_view), name="docs"),
    re_path(r"^[\s\S]*$", not_found),
]
