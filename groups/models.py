"""Recurring objects: sequence groups, the assignment run log (and lock), the audit log, and the
tallies the database keeps for the list's counts and the navigation badges.

The stored counters (`SequenceGroup.member_count`, `SequenceGroup.camera_sort_name`,
`GroupTally`, `CheckTally`, `GroupWriter`) are written by database triggers (migrations 0005
and 0009), never by the application; `groups.counters` reads them and `manage.py
recount_groups` verifies them.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse

from sequences.models import FalsePositiveType, SmokeType, in_choices

# The group list's indexes cover groups of at least this many members: the default listing
# minimum (GROUPS_MIN_LISTED_MEMBERS) and any larger one. Singletons, most groups of a long
# history, stay out of them.
LIST_INDEX_MIN_MEMBERS = 2
# Tallies count groups by size up to this many members ("this many or more" beyond), so any
# listing minimum up to it is answered from the tallies.
TALLY_SIZE_CAP = 10

_TABS = {
    "u": Q(labeled_at__isnull=True),
    "l": Q(labeled_at__isnull=False),
    "a": Q(),
}
_SORT_COLUMNS = {
    "members": "member_count",
    "created": "created_at",
    "camera": "camera_sort_name",
    "azimuth": "azimuth",
}


def _list_indexes() -> list[models.Index]:
    """One index per tab (to label, labeled, all) and sort key of the group list, each over
    the listed groups only, ending with the id tie-break: a page is an index range scan."""
    listed = Q(member_count__gte=LIST_INDEX_MIN_MEMBERS)
    return [
        models.Index(
            fields=[column, "id"],
            condition=listed & condition,
            name=f"group_{tab}_{key}_idx",
        )
        for tab, condition in _TABS.items()
        for key, column in _SORT_COLUMNS.items()
    ]


class SequenceGroup(models.Model):
    # No index of its own: group_bucket_idx (camera, azimuth, id) serves lookups by camera.
    camera = models.ForeignKey(
        "sequences.Camera",
        on_delete=models.PROTECT,
        related_name="sequence_groups",
        db_index=False,
    )
    azimuth = models.SmallIntegerField()
    representative_bbox = models.JSONField(
        help_text='{"xyxyn": [x1, y1, x2, y2], "confidence": c} of the founding sequence.'
    )
    smoke_type = models.CharField(max_length=16, choices=SmokeType.choices, null=True, blank=True)
    false_positive_type = models.CharField(
        max_length=16, choices=FalsePositiveType.choices, null=True, blank=True
    )
    is_unsure = models.BooleanField(default=False)
    is_validated = models.BooleanField(default=False)
    validated_at = models.DateTimeField(null=True, blank=True)
    validated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    labeled_at = models.DateTimeField(null=True, blank=True)
    labeled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_by_run = models.ForeignKey(
        "AssignmentRun",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="created_groups",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Kept by the database: the number of member sequences, and the camera's name lower-cased
    # (the list's camera sort key). A save from the application never changes them.
    member_count = models.IntegerField(default=0, editable=False)
    camera_sort_name = models.CharField(max_length=255, null=True, blank=True, editable=False)
    # Set when the group was merged into another (`groups.services.merge`): it keeps its history
    # but no members, the assignment never joins it again and its page points to the target.
    # NULL: a live group. An undo of the merge clears it.
    merged_into = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(member_count__gte=0),
                name="groups_sequencegroup_member_count_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(smoke_type__isnull=True) | Q(false_positive_type__isnull=True),
                name="groups_sequencegroup_label_xor",
            ),
            models.CheckConstraint(
                condition=(
                    Q(labeled_at__isnull=True)
                    & Q(smoke_type__isnull=True)
                    & Q(false_positive_type__isnull=True)
                )
                | (
                    Q(labeled_at__isnull=False)
                    & (Q(smoke_type__isnull=False) | Q(false_positive_type__isnull=False))
                ),
                name="groups_sequencegroup_labeled_at_consistency",
            ),
            models.CheckConstraint(
                condition=in_choices("smoke_type", SmokeType, nullable=True),
                name="groups_sequencegroup_smoke_type_valid",
            ),
            models.CheckConstraint(
                condition=in_choices("false_positive_type", FalsePositiveType, nullable=True),
                name="groups_sequencegroup_false_positive_type_valid",
            ),
            models.CheckConstraint(
                condition=Q(azimuth__gte=0, azimuth__lte=359),
                name="groups_sequencegroup_azimuth_range",
            ),
            models.CheckConstraint(
                condition=Q(is_validated=True, validated_at__isnull=False)
                | Q(is_validated=False, validated_at__isnull=True, validated_by__isnull=True),
                name="groups_sequencegroup_validated_consistency",
            ),
            models.CheckConstraint(
                condition=~Q(merged_into=F("id")),
                name="groups_sequencegroup_not_merged_into_itself",
            ),
        ]
        indexes = [
            models.Index(fields=["camera", "azimuth", "id"], name="group_bucket_idx"),
            models.Index(fields=["created_at", "id"], name="group_created_idx"),
            *_list_indexes(),
        ]

    def __str__(self) -> str:
        return f"Group #{self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("groups:detail", args=[self.pk])

    @property
    def is_labeled(self) -> bool:
        return self.smoke_type is not None or self.false_positive_type is not None


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    ABANDONED = "abandoned", "Abandoned"


class RunTrigger(models.TextChoices):
    COMMAND = "command", "Command"
    API = "api", "API"
    IMPORT = "import", "Import"


class AssignmentRun(models.Model):
    """One group assignment run. The `running` row is the single-runner lock."""

    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING)
    trigger = models.CharField(max_length=16, choices=RunTrigger.choices)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    processed = models.PositiveIntegerField(default=0)
    new_groups = models.PositiveIntegerField(default=0)
    joined_existing = models.PositiveIntegerField(default=0)
    inherited_annotations = models.PositiveIntegerField(default=0)
    joined_not_inherited = models.PositiveIntegerField(default=0)
    # Joiners of a labeled group that a machine-label safeguard held back from its label.
    held_back = models.PositiveIntegerField(default=0)
    skipped_no_bbox = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=Q(status="running"),
                name="groups_assignmentrun_single_running",
            ),
            models.CheckConstraint(
                condition=in_choices("status", RunStatus),
                name="groups_assignmentrun_status_valid",
            ),
            models.CheckConstraint(
                condition=in_choices("trigger", RunTrigger),
                name="groups_assignmentrun_trigger_valid",
            ),
            models.CheckConstraint(
                condition=Q(status="running", finished_at__isnull=True)
                | (~Q(status="running") & Q(finished_at__isnull=False)),
                name="groups_assignmentrun_finished_consistency",
            ),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} ({self.status})"


class OperationKind(models.TextChoices):
    INHERIT = "inherit", "Inherit"
    PROPAGATE = "propagate", "Propagate"
    BULK = "bulk", "Bulk"
    VALIDATE = "validate", "Validate"
    UNVALIDATE = "unvalidate", "Unvalidate"
    REMOVE_MEMBER = "remove_member", "Remove member"
    REINCLUDE_MEMBER = "reinclude_member", "Re-include member"
    CHECK = "check", "Check"
    REJECT = "reject", "Reject"
    # An annotation deleted (through the API or the admin), kept whole for an undo.
    DELETE = "delete", "Delete annotation"
    # Every member of one group moved into another (`groups.services.merge`).
    MERGE = "merge", "Merge"
    # Chosen members moved out into a new group (`groups.services.split`).
    SPLIT = "split", "Split"
    UNDO = "undo", "Undo"


class GroupOperation(models.Model):
    """One audited, undoable change (SPEC §5.8). Operations are never deleted."""

    kind = models.CharField(max_length=32, choices=OperationKind.choices)
    group = models.ForeignKey(
        SequenceGroup,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="operations",
    )
    sequence = models.ForeignKey(
        "sequences.Sequence",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="group_operations",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    run = models.ForeignKey(
        AssignmentRun,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="operations",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    group_before = models.JSONField(null=True, blank=True)
    group_after = models.JSONField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    undo_of = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="undone_by",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=in_choices("kind", OperationKind),
                name="groups_groupoperation_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(kind="undo", undo_of__isnull=False)
                | (~Q(kind="undo") & Q(undo_of__isnull=True)),
                name="groups_groupoperation_undo_of_consistency",
            ),
        ]
        indexes = [
            models.Index(fields=["group", "created_at"], name="op_group_created_idx"),
            # The admin's list, newest first.
            models.Index(fields=["created_at", "id"], name="op_created_idx"),
        ]

    def __str__(self) -> str:
        return f"Operation {self.pk} ({self.kind})"


class GroupOperationMember(models.Model):
    """One annotation an operation wrote, with what an undo needs (NULL = no annotation row)."""

    # No index of their own: the unique (operation, sequence) serves the lookups by operation,
    # opmember_sequence_idx (sequence, operation) those by sequence, without a table read.
    operation = models.ForeignKey(
        GroupOperation, on_delete=models.CASCADE, related_name="members", db_index=False
    )
    sequence = models.ForeignKey(
        "sequences.Sequence", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["operation", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["operation", "sequence"], name="groups_groupoperationmember_unique"
            ),
        ]
        indexes = [
            # An operation's member rows by sequence: the writers' triggers follow a moved
            # sequence's rows along it, without a table read.
            models.Index(fields=["sequence", "operation"], name="opmember_sequence_idx"),
        ]

    def __str__(self) -> str:
        return f"Sequence #{self.sequence_id} in operation {self.operation_id}"


class GroupWriter(models.Model):
    """An operation that wrote current members of a group, with how many: the history panel of
    a group page lists these operations without probing the audit log once per member.

    Kept by the database's triggers (migration 0009) as members are written, move between
    groups, or go; a row whose count falls to zero is deleted. No foreign-key constraints: the
    triggers own the rows, and a group or operation deleted takes its rows with it through
    the same triggers (its members leave it, or its member rows go). A row at zero lives only
    until the end of the statement that brought it there.
    """

    pk = models.CompositePrimaryKey("group_id", "operation_id")
    group = models.ForeignKey(
        SequenceGroup, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    operation = models.ForeignKey(
        GroupOperation, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    members = models.IntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(members__gte=0), name="groups_groupwriter_members_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return (
            f"Operation {self.operation_id} wrote {self.members} members of group {self.group_id}"
        )


class GroupTally(models.Model):
    """Groups counted by camera (NULL: every camera), label state (labeled, unsure, neither),
    validation and size (the
    member count, capped at TALLY_SIZE_CAP): the tab counts and the badge of the group list.

    Rows are deltas appended by the database's triggers whenever a group is created, deleted,
    or changes one of these (appending never waits for a lock, so concurrent writers never
    queue behind a shared counter); a count is the sum of its rows, and
    `groups.counters.tallies_fold` folds them back to one row per key.
    """

    camera = models.ForeignKey(
        "sequences.Camera",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    is_labeled = models.BooleanField()
    is_validated = models.BooleanField()
    # Unsure without a label (the Unsure tab); a labeled group counts as labeled whatever it says.
    is_unsure = models.BooleanField(default=False)
    size = models.SmallIntegerField()
    groups = models.IntegerField()

    def __str__(self) -> str:
        return f"{self.groups:+d} groups of size {self.size} on camera {self.camera_id}"


class CheckTally(models.Model):
    """Unchecked machine labels (the check queue) counted by risk, in hundredths (the
    `check_risk` floored; NULL: no risk recorded): the Check badge. Delta rows, as
    GroupTally."""

    risk_bucket = models.SmallIntegerField(null=True, blank=True)
    labels = models.IntegerField()

    def __str__(self) -> str:
        return f"{self.labels:+d} labels at risk {self.risk_bucket}"
