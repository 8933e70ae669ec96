"""The sequence domain: what the cameras saw and what annotators said about it.

Enum columns are `TextChoices`; because choices do not constrain the database, every enum column
also carries a named CHECK constraint. The only references to the `groups` app are the three
string-referenced foreign keys (`Sequence.group`, `SequenceAnnotation.label_source_group`,
`SequenceAnnotation.label_source_operation`).
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse

from sequences.payloads import (
    FALSE_POSITIVE_LABELS,
    FALSE_POSITIVE_TYPES,
    SMOKE_LABELS,
    SMOKE_TYPES,
)


class SourceApi(models.TextChoices):
    PYRONEAR_FRENCH = "pyronear_french", "Pyronear French"
    ALERT_WILDFIRE = "alert_wildfire", "Alert Wildfire"
    API_CENIA = "api_cenia", "API Cenia"


class AnnotationType(models.TextChoices):
    """The platform's own class of an alert (`is_wildfire_alertapi`)."""

    WILDFIRE_SMOKE = "wildfire_smoke", "Wildfire smoke"
    OTHER_SMOKE = "other_smoke", "Other smoke"
    OTHER = "other", "Other"


class ProcessingStage(models.TextChoices):
    IMPORTED = "imported", "Imported"
    READY_TO_ANNOTATE = "ready_to_annotate", "Ready to annotate"
    UNDER_ANNOTATION = "under_annotation", "Under annotation"
    SEQ_ANNOTATION_DONE = "seq_annotation_done", "Sequence annotation done"
    IN_REVIEW = "in_review", "In review"
    NEEDS_MANUAL = "needs_manual", "Needs manual"
    ANNOTATED = "annotated", "Annotated"


def _choices(name: str, values: tuple[str, ...], labels: dict[str, str]) -> type:
    """A TextChoices of values declared in `sequences.payloads` (the pure validators' source)."""
    return models.TextChoices(name, [(value.upper(), (value, labels[value])) for value in values])


SmokeType = _choices("SmokeType", SMOKE_TYPES, SMOKE_LABELS)
FalsePositiveType = _choices("FalsePositiveType", FALSE_POSITIVE_TYPES, FALSE_POSITIVE_LABELS)


class LabelSource(models.TextChoices):
    """Provenance of an annotation's labels; NULL on the column means an import placeholder."""

    HUMAN = "human", "Human"
    INHERITED = "inherited", "Inherited"
    PROPAGATED = "propagated", "Propagated"
    BULK = "bulk", "Bulk"


# Writable annotations (and missing ones) may be created or overwritten by machine writes;
# every other stage is locked. DONE stages are the ones whose labels vote on validation.
WRITABLE_STAGES = frozenset({ProcessingStage.IMPORTED, ProcessingStage.READY_TO_ANNOTATE})
LOCKED_STAGES = frozenset(set(ProcessingStage) - WRITABLE_STAGES)
DONE_STAGES = frozenset(
    {
        ProcessingStage.SEQ_ANNOTATION_DONE,
        ProcessingStage.IN_REVIEW,
        ProcessingStage.ANNOTATED,
    }
)
MACHINE_SOURCES = frozenset({LabelSource.INHERITED, LabelSource.PROPAGATED, LabelSource.BULK})


def in_choices(field: str, choices: type[models.TextChoices], *, nullable: bool = False) -> Q:
    """The CHECK condition that limits an enum column to its values."""
    condition = Q(**{f"{field}__in": choices.values})
    if nullable:
        condition |= Q(**{f"{field}__isnull": True})
    return condition


class PlatformRecord(models.Model):
    """A row mirrored from an alert platform: unique by `(source_api, platform_id)`."""

    source_api = models.CharField(max_length=32, choices=SourceApi.choices)
    platform_id = models.IntegerField()
    name = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source_api", "platform_id"],
                name="%(app_label)s_%(class)s_unique_platform",
            ),
            models.CheckConstraint(
                condition=in_choices("source_api", SourceApi),
                name="%(app_label)s_%(class)s_source_api_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Organization(PlatformRecord):
    pass


class Camera(PlatformRecord):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="cameras")


class Sequence(models.Model):
    source_api = models.CharField(max_length=32, choices=SourceApi.choices)
    alert_api_id = models.BigIntegerField()
    # No index of its own: seq_camera_recorded_idx (camera, recorded_at) serves every lookup by
    # camera, and each extra index is one more write per import and per group assignment.
    camera = models.ForeignKey(
        Camera, on_delete=models.PROTECT, related_name="sequences", db_index=False
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="sequences"
    )
    lat = models.FloatField()
    lon = models.FloatField()
    azimuth = models.SmallIntegerField(null=True, blank=True, help_text="Whole degrees 0..359.")
    is_wildfire_alertapi = models.CharField(
        max_length=32, choices=AnnotationType.choices, null=True, blank=True
    )
    # The platform's temporal model: its score of the whole sequence and the versions that gave
    # it. NULL means "not scored", never "scored low".
    temporal_model_score = models.FloatField(null=True, blank=True)
    temporal_model_version = models.CharField(max_length=64, null=True, blank=True)
    temporal_api_version = models.CharField(max_length=64, null=True, blank=True)
    # How fast the box grows and moves over the first frames (`boxes.box_motion`); NULL until
    # measured, or when too few frames have a box.
    motion = models.FloatField(null=True, blank=True)
    recorded_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # No index of its own: seq_group_members_idx (group, recorded_at, id) serves every lookup by
    # group and gives a group's members in their order.
    group = models.ForeignKey(
        "groups.SequenceGroup",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="members",
        db_index=False,
    )
    is_group_excluded = models.BooleanField(
        default=False, help_text="Removed from grouping by hand; never re-attached automatically."
    )
    # When a label at a done stage was last taken off: the annotation deleted, or sent back to
    # a stage before done (undo, reject, a person's save). An annotation that still exists
    # dates its other changes itself (`updated_at`); a deleted one leaves only this. The
    # training export reports the alert as withdrawn to pulls older than it.
    label_withdrawn_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["recorded_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source_api", "alert_api_id"], name="sequences_sequence_unique_alert"
            ),
            models.CheckConstraint(
                condition=Q(group__isnull=True) | Q(is_group_excluded=False),
                name="sequences_sequence_grouped_not_excluded",
            ),
            models.CheckConstraint(
                condition=in_choices("source_api", SourceApi),
                name="sequences_sequence_source_api_valid",
            ),
            models.CheckConstraint(
                condition=in_choices("is_wildfire_alertapi", AnnotationType, nullable=True),
                name="sequences_sequence_platform_class_valid",
            ),
            models.CheckConstraint(
                condition=Q(azimuth__isnull=True) | Q(azimuth__gte=0, azimuth__lte=359),
                name="sequences_sequence_azimuth_range",
            ),
            models.CheckConstraint(
                condition=Q(temporal_model_score__isnull=True)
                | Q(temporal_model_score__gte=0, temporal_model_score__lte=1),
                name="sequences_sequence_temporal_score_range",
            ),
            models.CheckConstraint(
                condition=Q(motion__isnull=True) | Q(motion__gte=0),
                name="sequences_sequence_motion_not_negative",
            ),
        ]
        indexes = [
            models.Index(fields=["recorded_at", "id"], name="seq_recorded_idx"),
            models.Index(fields=["camera", "recorded_at"], name="seq_camera_recorded_idx"),
            # A group's members in their order: a page of a group of thousands, and its first,
            # middle and last members for the list's previews, are each an index range.
            models.Index(fields=["group", "recorded_at", "id"], name="seq_group_members_idx"),
            models.Index(fields=["created_at", "id"], name="seq_created_idx"),
            models.Index(
                fields=["recorded_at", "id"],
                condition=Q(group__isnull=True, is_group_excluded=False),
                name="seq_assignment_candidates_idx",
            ),
            # The sequences taken out of their group by hand (a group page's "Removed from this
            # group"): a few among millions, so any plan that walks them stays small.
            models.Index(
                fields=["id"],
                condition=Q(group__isnull=True, is_group_excluded=True),
                name="seq_removed_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Sequence #{self.pk} ({self.source_api} {self.alert_api_id})"

    def get_absolute_url(self) -> str:
        return reverse("sequences:annotate", args=[self.pk])


class QueueEntry(models.Model):
    """A sequence waiting in the To-annotate list, kept by the database (`sequences.queue`):
    `rank` 0 when its annotation is ready_to_annotate, 1 with no annotation or one at
    `imported`; annotated sequences have no entry. The list is one range of `queue_order_idx`
    whatever the history. Its own table, so that annotation writes never lock sequence rows."""

    sequence = models.OneToOneField(
        Sequence,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        primary_key=True,
        related_name="queue_entry",
    )
    rank = models.SmallIntegerField()
    recorded_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["rank", "recorded_at", "sequence"], name="queue_order_idx"),
        ]

    def __str__(self) -> str:
        return f"Sequence #{self.sequence_id} queued at rank {self.rank}"


def detection_image_path(instance: "Detection", filename: str) -> str:
    # Services name the files themselves (SPEC §2.2); this only covers admin uploads.
    return f"detections/sequence_{instance.sequence_id}/{filename}"


def empty_predictions() -> dict:
    return {"predictions": []}


class Detection(models.Model):
    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="detections")
    alert_api_id = models.BigIntegerField()
    recorded_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    image = models.ImageField(upload_to=detection_image_path, max_length=255)
    algo_predictions = models.JSONField(default=empty_predictions)
    others_bboxes = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["recorded_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sequence", "alert_api_id"], name="sequences_detection_unique_alert"
            ),
        ]
        indexes = [
            models.Index(fields=["sequence", "recorded_at", "id"], name="det_sequence_order_idx"),
        ]

    def __str__(self) -> str:
        return f"Detection #{self.pk} of sequence #{self.sequence_id}"

    @property
    def bucket_key(self) -> str:
        return self.image.name


def empty_annotation() -> dict:
    return {"sequences_bbox": []}


class SequenceAnnotation(models.Model):
    sequence = models.OneToOneField(Sequence, on_delete=models.CASCADE, related_name="annotation")
    annotation = models.JSONField(default=empty_annotation)
    processing_stage = models.CharField(max_length=32, choices=ProcessingStage.choices)
    has_smoke = models.BooleanField(default=False)
    has_false_positives = models.BooleanField(default=False)
    smoke_types = models.JSONField(default=list, blank=True)
    false_positive_types = models.JSONField(default=list, blank=True)
    has_missed_smoke = models.BooleanField(default=False)
    is_unsure = models.BooleanField(default=False)
    label_source = models.CharField(
        max_length=16, choices=LabelSource.choices, null=True, blank=True
    )
    label_source_group = models.ForeignKey(
        "groups.SequenceGroup",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    label_source_operation = models.ForeignKey(
        "groups.GroupOperation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # How closely a person should look at a machine label before confirming it, from 0 to 1,
    # and why (`sequences.safeguards`): set when the label is written, NULL for other labels.
    check_risk = models.FloatField(null=True, blank=True)
    check_reasons = models.JSONField(default=list, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=in_choices("processing_stage", ProcessingStage),
                name="sequences_sequenceannotation_stage_valid",
            ),
            models.CheckConstraint(
                condition=in_choices("label_source", LabelSource, nullable=True),
                name="sequences_sequenceannotation_label_source_valid",
            ),
            models.CheckConstraint(
                condition=Q(label_source_group__isnull=True)
                | Q(label_source__isnull=False, label_source__in=sorted(MACHINE_SOURCES)),
                name="sequences_sequenceannotation_source_group_machine_only",
            ),
            models.CheckConstraint(
                condition=Q(label_source_operation__isnull=True)
                | Q(label_source__isnull=False, label_source__in=sorted(MACHINE_SOURCES)),
                name="sequences_sequenceannotation_source_operation_machine_only",
            ),
            models.CheckConstraint(
                condition=Q(check_risk__isnull=True)
                | Q(
                    check_risk__gte=0,
                    check_risk__lte=1,
                    label_source__isnull=False,
                    label_source__in=sorted(MACHINE_SOURCES),
                ),
                name="sequences_sequenceannotation_risk_machine_only",
            ),
        ]
        indexes = [
            models.Index(
                fields=["processing_stage", "created_at", "id"], name="ann_stage_created_idx"
            ),
            models.Index(fields=["label_source"], name="ann_label_source_idx"),
            # The API's list, newest first.
            models.Index(fields=["created_at", "id"], name="ann_created_idx"),
            # The Done list, last annotated first.
            models.Index(
                F("updated_at").desc(),
                F("sequence").desc(),
                condition=Q(processing_stage__in=sorted(LOCKED_STAGES)),
                name="ann_done_idx",
            ),
            # The check queue, riskiest first: only the unchecked machine labels are indexed.
            models.Index(
                F("check_risk").desc(),
                "sequence",
                condition=Q(label_source__in=sorted(MACHINE_SOURCES), checked_at__isnull=True),
                name="ann_check_queue_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Annotation of sequence #{self.sequence_id} ({self.processing_stage})"

    @property
    def is_locked(self) -> bool:
        return self.processing_stage in LOCKED_STAGES

    @property
    def is_unchecked_machine_label(self) -> bool:
        return self.label_source in MACHINE_SOURCES and self.checked_at is None


class RemoteCopy(models.Model):
    """A sequence cloned from another annotation API (`clone_sequences`), and what
    `push_annotations` sent back to it.

    The remote's annotation is remembered by a fingerprint of its content (stage, flags and
    boxes, detections named by their alert ids), taken at the clone and again after each push
    or stage mark this site made: a push refuses to overwrite a remote annotation whose
    fingerprint changed since (someone else edited it there), unless forced. `pushed_fingerprint`
    is the fingerprint of the local annotation last sent, so a second push sends nothing new.
    An empty fingerprint means "no annotation".
    """

    sequence = models.OneToOneField(Sequence, on_delete=models.CASCADE, related_name="remote_copy")
    # The remote API's base, `/api/v1` included, as the commands normalise it.
    remote_url = models.CharField(max_length=255)
    remote_sequence_id = models.BigIntegerField()
    remote_fingerprint = models.CharField(max_length=64, blank=True)
    cloned_at = models.DateTimeField(auto_now_add=True)
    pushed_fingerprint = models.CharField(max_length=64, blank=True)
    pushed_at = models.DateTimeField(null=True, blank=True)
    pushes = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["remote_url", "remote_sequence_id"],
                name="sequences_remotecopy_unique_remote",
            ),
        ]

    def __str__(self) -> str:
        return f"Sequence #{self.sequence_id} from {self.remote_url} #{self.remote_sequence_id}"
