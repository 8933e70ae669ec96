"""Routes of the group pages under /groups/: the list, a group page and its actions, the check
queue, the staff undo, the rejected machine labels and the dashboard's threshold report."""

from django.urls import path

from groups import views, views_regroup
from groups.dashboard import views as dashboard_views

app_name = "groups"

urlpatterns = [
    path("", views.group_list, name="list"),
    path("check/", views.check_queue, name="check"),
    path("thresholds/", dashboard_views.dashboard_thresholds, name="dashboard_thresholds"),
    path("rejected/", dashboard_views.rejected_labels, name="rejected"),
    path("check/confirm/", views.check_confirm_view, name="check_confirm"),
    path("check/reject/", views.check_reject_view, name="check_reject"),
    path(
        "operations/<int:operation_id>/undo/",
        views.group_operation_undo_view,
        name="operation_undo",
    ),
    path("<int:group_id>/", views.group_detail, name="detail"),
    path("<int:group_id>/validate/", views.group_validate_view, name="validate"),
    path("<int:group_id>/unvalidate/", views.group_unvalidate_view, name="unvalidate"),
    path("<int:group_id>/merge/", views_regroup.group_merge_page, name="merge"),
    path("<int:group_id>/merge/into/", views_regroup.group_merge_view, name="merge_into"),
    path("<int:group_id>/split/", views_regroup.group_split_view, name="split"),
    path(
        "members/<int:sequence_id>/reinclude/",
        views.group_member_reinclude_view,
        name="member_reinclude",
    ),
    path(
        "<int:group_id>/members/<int:sequence_id>/remove/",
        views.group_member_remove_view,
        name="member_remove",
    ),
]
