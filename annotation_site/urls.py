"""The site's routes: the pages of both apps, the admin, the login and the REST API."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from groups import views as group_views
from groups.dashboard import views as dashboard_views

urlpatterns = [
    path("", dashboard_views.dashboard, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("annotation_site.api_urls")),
    # The sequence page's re-include control belongs to the groups app (sequences never
    # imports groups), so it is routed here under the sequence's own path.
    path(
        "sequences/<int:sequence_id>/reinclude/",
        group_views.group_member_reinclude_view,
        name="sequence_reinclude",
    ),
    path("sequences/", include("sequences.urls")),
    path("groups/", include("groups.urls")),
]
