"""Writes of the groups app, by job; every change to a group goes through one of these
functions, and the public names are re-exported here.

- `propagation`: labeling a group and fanning the label out; propagation on a human save;
- `validation`: validating a group (which may label it from its members) and unvalidating it;
- `membership`: removing a member for good and re-including it;
- `merge`, `split`: one group's members moved into another, chosen members into a new group
  (`regroup`: the locks they share and the undo of their moves);
- `bulk`: one label on a list of sequences;
- `undo`: reverting one audited operation;
- `check`: the check queue's confirmations and "Not this";
- `audit`: snapshots and the audit rows every operation writes;
- `errors`: the errors, with their kinds and messages, and the locked lookups raising them.

Lock order on every path (SPEC §5.1): sequence rows (ascending id) -> the group row ->
annotation rows (ascending sequence id); the locks themselves are `sequences.services.locks`.
Results are small dataclasses; messages are module constants, so tests can assert on them.
"""

from groups.services.audit import (
    annotation_delete_log,
    group_snapshot,
    group_stamp_members,
    group_stamps_write,
    members_log,
)
from groups.services.bulk import (
    LABEL_BOTH,
    LABEL_MISSING,
    SKIP_SEQUENCE_NOT_FOUND,
    BulkOutcome,
    bulk_label_choice_errors,
    group_bulk_annotate,
)
from groups.services.check import (
    CheckOutcome,
    RejectOutcome,
    label_check_confirm,
    label_check_reject,
)
from groups.services.errors import (
    ALREADY_UNDONE,
    ANNOTATIONS_NOT_FOUND,
    FORCE_FORBIDDEN,
    FORCE_PERMISSION,
    GROUP_NOT_FOUND,
    IDS_REQUIRED,
    LABEL_CONFLICT,
    NOT_A_MEMBER,
    NOT_AN_ID,
    NOT_AN_UNCHECKED_MACHINE_LABEL,
    NOT_MEMBERS,
    OPERATION_NOT_FOUND,
    SEQUENCE_NOT_FOUND,
    UNDO_OF_UNDO,
    AlreadyUndone,
    AnnotationNotFound,
    BulkInvalid,
    CheckInvalid,
    FieldErrors,
    ForceForbidden,
    GroupLabelConflict,
    GroupNotFound,
    GroupServiceError,
    NotAMember,
    NotAnUncheckedMachineLabel,
    NotMembers,
    OperationNotFound,
    SequenceNotFound,
    UndoOfUndo,
)
from groups.services.membership import group_member_reinclude, group_member_remove
from groups.services.merge import (
    MERGE_LABELS_DIFFER,
    MERGE_OTHER_BUCKET,
    MERGE_RETIRED,
    MERGE_SAME_GROUP,
    MergeLabelsDiffer,
    MergeOutcome,
    MergeRefused,
    group_merge,
)
from groups.services.propagation import (
    CONFLICT_WARNING,
    FANOUT_FAILED_WARNING,
    group_propagate,
)
from groups.services.split import SPLIT_ALL_MEMBERS, SplitOutcome, group_split
from groups.services.undo import (
    LEFT_ALONE_EDITED,
    LEFT_ALONE_GROUP_DELETED,
    LEFT_ALONE_MEMBERSHIP,
    UndoOutcome,
    group_operation_undo,
)
from groups.services.validation import (
    VALIDATION_DISAGREE_WARNING,
    VALIDATION_LABEL_FAILED_WARNING,
    ValidationOutcome,
    group_unvalidate,
    group_validate,
)

__all__ = [
    "ALREADY_UNDONE",
    "ANNOTATIONS_NOT_FOUND",
    "CONFLICT_WARNING",
    "FANOUT_FAILED_WARNING",
    "FORCE_FORBIDDEN",
    "FORCE_PERMISSION",
    "GROUP_NOT_FOUND",
    "IDS_REQUIRED",
    "LABEL_BOTH",
    "LABEL_CONFLICT",
    "LABEL_MISSING",
    "LEFT_ALONE_EDITED",
    "LEFT_ALONE_GROUP_DELETED",
    "LEFT_ALONE_MEMBERSHIP",
    "MERGE_LABELS_DIFFER",
    "MERGE_OTHER_BUCKET",
    "MERGE_RETIRED",
    "MERGE_SAME_GROUP",
    "NOT_AN_ID",
    "NOT_AN_UNCHECKED_MACHINE_LABEL",
    "NOT_A_MEMBER",
    "NOT_MEMBERS",
    "OPERATION_NOT_FOUND",
    "SEQUENCE_NOT_FOUND",
    "SKIP_SEQUENCE_NOT_FOUND",
    "SPLIT_ALL_MEMBERS",
    "UNDO_OF_UNDO",
    "VALIDATION_DISAGREE_WARNING",
    "VALIDATION_LABEL_FAILED_WARNING",
    "AlreadyUndone",
    "AnnotationNotFound",
    "BulkInvalid",
    "BulkOutcome",
    "CheckInvalid",
    "CheckOutcome",
    "FieldErrors",
    "ForceForbidden",
    "GroupLabelConflict",
    "GroupNotFound",
    "GroupServiceError",
    "MergeLabelsDiffer",
    "MergeOutcome",
    "MergeRefused",
    "NotAMember",
    "NotAnUncheckedMachineLabel",
    "NotMembers",
    "OperationNotFound",
    "RejectOutcome",
    "SequenceNotFound",
    "SplitOutcome",
    "UndoOfUndo",
    "UndoOutcome",
    "ValidationOutcome",
    "bulk_label_choice_errors",
    "group_bulk_annotate",
    "group_member_reinclude",
    "group_merge",
    "group_member_remove",
    "group_operation_undo",
    "group_propagate",
    "group_split",
    "annotation_delete_log",
    "group_snapshot",
    "group_stamp_members",
    "group_stamps_write",
    "group_unvalidate",
    "group_validate",
    "label_check_confirm",
    "label_check_reject",
    "members_log",
]
