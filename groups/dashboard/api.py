"""The dashboard's figures in the API (`/api/v1/stats/...`): the same reads as the page
(`groups.dashboard.figures`), one endpoint per figure."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation_site.api import api_schema, validated_query
from groups.api.groups import IsStaff
from groups.dashboard import figures

TAGS = ["stats"]


class DaysQuerySerializer(serializers.Serializer):
    class Meta:
        ref_name = "StatsDaysQuery"

    days = serializers.IntegerField(
        required=False,
        default=figures.DEFAULT_DAYS,
        min_value=1,
        max_value=figures.MAX_DAYS,
        help_text=f"the window: the last N days, today included, 1..{figures.MAX_DAYS} "
        f"(default {figures.DEFAULT_DAYS})",
    )


def window_schema(summary: str, *, output: type[serializers.Serializer]):
    """The schema of a figure over the window (`days`, 422 when it is out of range)."""
    return api_schema(
        summary=summary,
        responses={200: output},
        parameters=[DaysQuerySerializer],
        errors=(422,),
        tags=TAGS,
    )


def _window(request) -> figures.Window:
    return figures.Window.ending_today(validated_query(DaysQuerySerializer, request)["days"])


class _WindowSerializer(serializers.Serializer):
    first = serializers.DateField(help_text="the window's first day (the site's time zone)")
    last = serializers.DateField(help_text="the window's last day: today")


class StatsDailyApi(APIView):
    class OutputSerializer(_WindowSerializer):
        class Meta:
            ref_name = "StatsDaily"

        class DaySerializer(serializers.Serializer):
            class Meta:
                ref_name = "StatsDay"

            day = serializers.DateField()
            annotated = serializers.IntegerField(
                help_text="sequences recorded that day that are annotated (the Done list)"
            )
            to_annotate = serializers.IntegerField(
                help_text="sequences recorded that day still to annotate (the To-annotate list)"
            )
            total = serializers.IntegerField()

        days = DaySerializer(many=True)

    @window_schema(
        "Sequences per day recorded in the window: annotated and still to annotate",
        output=OutputSerializer,
    )
    def get(self, request):
        window = _window(request)
        data = {"first": window.first, "last": window.last, "days": figures.daily_counts(window)}
        return Response(self.OutputSerializer(data).data)


class StatsLabelSourcesApi(APIView):
    class OutputSerializer(_WindowSerializer):
        class Meta:
            ref_name = "StatsLabelSources"

        annotated = serializers.IntegerField(help_text="annotated sequences recorded in the window")
        sources = serializers.DictField(
            child=serializers.IntegerField(),
            help_text="who labeled them: human, propagated, inherited, bulk, and unknown "
            "(saved before the provenance was recorded)",
        )
        saved_by_groups = serializers.IntegerField(
            help_text="annotations written by propagation or inheritance so far (all time)"
        )

    @window_schema(
        "Who labeled the annotated sequences: a person, propagation, inheritance, bulk",
        output=OutputSerializer,
    )
    def get(self, request):
        window = _window(request)
        sources = figures.source_counts(window)
        data = {
            "first": window.first,
            "last": window.last,
            "annotated": sum(sources.values()),
            "sources": {source or "unknown": count for source, count in sources.items()},
            "saved_by_groups": figures.saved_by_groups_count(),
        }
        return Response(self.OutputSerializer(data).data)


class StatsCheckQueueApi(APIView):
    class OutputSerializer(_WindowSerializer):
        class Meta:
            ref_name = "StatsCheckQueue"

        waiting = serializers.IntegerField(help_text="machine labels in the check queue")
        look_closely = serializers.IntegerField(help_text="of those, the ones to look at closely")
        rejected = serializers.IntegerField(
            help_text='machine labels rejected ("Not this") in the window and not undone'
        )

    @window_schema(
        "Machine labels waiting in the check queue, and rejected in the window",
        output=OutputSerializer,
    )
    def get(self, request):
        window = _window(request)
        check = figures.check_counts()
        data = {
            "first": window.first,
            "last": window.last,
            "waiting": check.total,
            "look_closely": check.look_closely,
            "rejected": figures.rejected_count(window),
        }
        return Response(self.OutputSerializer(data).data)


class StatsThresholdsApi(APIView):
    permission_classes = [IsStaff]

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "StatsThresholds"

        class RowSerializer(serializers.Serializer):
            class Meta:
                ref_name = "StatsThresholdRow"

            threshold = serializers.FloatField()
            groups = serializers.IntegerField()
            listed_groups = serializers.IntegerField()
            joined = serializers.IntegerField()
            clicks_saved = serializers.IntegerField()
            labeled_members = serializers.IntegerField()
            disagreeing_members = serializers.IntegerField()
            disagreement_share = serializers.FloatField(allow_null=True)

        thresholds = RowSerializer(many=True)

    @api_schema(
        summary="Staff: clicks saved and label disagreement per matching threshold "
        "(group_report's replay, cached for ten minutes)",
        responses={200: OutputSerializer},
        errors=(403,),
        tags=TAGS,
    )
    def get(self, request):
        return Response(self.OutputSerializer({"thresholds": figures.threshold_rows()}).data)
