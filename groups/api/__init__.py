"""REST endpoints of sequence groups (SPEC §5.2–§5.9, §7.2), by job:

- `groups`: list, stats, detail, validation, members and the assignment run;
- `operations`: the audit log and undo;
- `labels`: bulk annotate and the check queue;
- `regroup`: merge candidates, merging and splitting groups;
- `shapes`: the read serializers they answer with.

One APIView per path, each operation with nested input/output serializers. Every rule lives in
`groups.services`, `groups.selectors` or `groups.assignment`; their `GroupServiceError`s become
responses in the shared exception handler (`annotation_site.api.errors`), with the status of
their kind.
"""

from groups.api.groups import (
    SequenceGroupAssignApi,
    SequenceGroupCollectionApi,
    SequenceGroupDetailApi,
    SequenceGroupMemberApi,
    SequenceGroupMemberReincludeApi,
    SequenceGroupStatsApi,
)
from groups.api.labels import LabelCheckApi, LabelCheckRejectApi, SequenceAnnotationBulkApi
from groups.api.operations import GroupOperationUndoApi, SequenceGroupOperationsApi
from groups.api.regroup import (
    SequenceGroupMergeApi,
    SequenceGroupMergeCandidatesApi,
    SequenceGroupSplitApi,
)

__all__ = [
    "GroupOperationUndoApi",
    "LabelCheckApi",
    "LabelCheckRejectApi",
    "SequenceAnnotationBulkApi",
    "SequenceGroupAssignApi",
    "SequenceGroupCollectionApi",
    "SequenceGroupDetailApi",
    "SequenceGroupMemberApi",
    "SequenceGroupMemberReincludeApi",
    "SequenceGroupMergeApi",
    "SequenceGroupMergeCandidatesApi",
    "SequenceGroupOperationsApi",
    "SequenceGroupSplitApi",
    "SequenceGroupStatsApi",
]
