"""REST endpoints of the sequence domain (SPEC §7.2), by job: `auth` (login, logout, the user),
`sequences`, `detections`, `annotations` (sequence annotations), `export` (the training
export), and `bodies`, the checks of a request body they share.

One APIView per path, each operation with its own nested input serializer; every write goes
through `sequences.services` (annotation saves are human saves, so they lock and propagate
through the groups app's receivers) and the views only translate HTTP to service calls. A
refused service call answers with the status of its kind (`annotation_site.errors`). The shared
DRF kit is used qualified, `site_api.validated_body`, as DRF's own `serializers.CharField`.
"""

from sequences.api.annotations import SequenceAnnotationCollectionApi, SequenceAnnotationDetailApi
from sequences.api.auth import AuthLoginApi, AuthLogoutApi, UserMeApi
from sequences.api.detections import (
    DetectionCollectionApi,
    DetectionDetailApi,
    DetectionImageApi,
    DetectionUrlApi,
)
from sequences.api.export import ExportAlertsApi
from sequences.api.sequences import SequenceCollectionApi, SequenceDetailApi

__all__ = [
    "AuthLoginApi",
    "AuthLogoutApi",
    "DetectionCollectionApi",
    "DetectionDetailApi",
    "DetectionImageApi",
    "DetectionUrlApi",
    "ExportAlertsApi",
    "SequenceAnnotationCollectionApi",
    "SequenceAnnotationDetailApi",
    "SequenceCollectionApi",
    "SequenceDetailApi",
    "UserMeApi",
]
