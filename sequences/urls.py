"""Routes of the sequence pages under /sequences/: the To-annotate and Done lists, the
annotation page and the login-required detection images and their zoomed crops."""

from django.urls import path

from sequences import views

app_name = "sequences"

urlpatterns = [
    path("", views.sequence_queue, name="list"),
    path("done/", views.sequence_done, name="done"),
    path("<int:sequence_id>/annotate/", views.sequence_annotate, name="annotate"),
    path("detections/<int:detection_id>/image/", views.detection_image, name="detection_image"),
    path("detections/<int:detection_id>/crop/", views.detection_crop, name="detection_crop"),
]
