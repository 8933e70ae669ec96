"""What the dashboard draws: its figures as charts (`charts`), each bar a link to the list it
counts, and the staff's threshold report as two charts. Pure: no queries."""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse

from groups.dashboard.charts import Chart, Column, Segment, column_chart, share_bar
from groups.dashboard.figures import Figures, Window
from sequences.models import LabelSource
from sequences.selectors import BY_GROUP

# label_source -> (colour class, how the legend says it)
SOURCE_LOOK = {
    LabelSource.HUMAN: ("chart-human", "by a person"),
    LabelSource.PROPAGATED: ("chart-propagated", "by propagation"),
    LabelSource.INHERITED: ("chart-inherited", "by inheritance"),
    LabelSource.BULK: ("chart-bulk", "in bulk"),
    None: ("chart-unknown", "before provenance was recorded"),
}


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def list_url(name: str, **query: object) -> str:
    pairs = {key: value for key, value in query.items() if value not in (None, "")}
    return reverse(name) + (f"?{urlencode(pairs)}" if pairs else "")


def daily_chart(figures: Figures) -> Chart:
    """Sequences recorded per day: annotated (bottom) and still to annotate (top); a label
    every seventh day, ending today."""
    columns = []
    last = len(figures.daily) - 1
    for index, day in enumerate(figures.daily):
        when = day.day.isoformat()
        text = day.day.strftime("%d %b")
        columns.append(
            Column(
                label=text,
                show_label=(last - index) % 7 == 0,
                segments=[
                    Segment(
                        day.annotated,
                        "chart-annotated",
                        f"{text}: {plural(day.annotated, 'sequence')} annotated",
                        list_url("sequences:done", date_from=when, date_to=when),
                    ),
                    Segment(
                        day.to_annotate,
                        "chart-to-annotate",
                        f"{text}: {plural(day.to_annotate, 'sequence')} to annotate",
                        list_url("sequences:list", date_from=when, date_to=when),
                    ),
                ],
            )
        )
    return column_chart(columns, column_width=18, gap=5)


def source_segments(figures: Figures) -> list[Segment]:
    """Who labeled the window's annotated sequences, each share a link to the Done list."""
    window = figures.window
    total = figures.annotated
    segments = []
    for source, count in figures.sources.items():
        css, words = SOURCE_LOOK[source]
        share = f" ({count / total:.0%})" if total else ""
        segments.append(
            Segment(
                count,
                css,
                f"{plural(count, 'sequence')} labeled {words}{share}",
                _done_in(window, label_source=source) if source else None,
            )
        )
    return segments


def _done_in(window: Window, **query: object) -> str:
    return list_url(
        "sequences:done",
        date_from=window.first.isoformat(),
        date_to=window.last.isoformat(),
        **query,
    )


def check_chart(figures: Figures) -> Chart:
    """The check queue: machine labels waiting (the look-closely ones apart) and those rejected
    in the window (the list of rejected machine labels)."""
    waiting = figures.check_waiting - figures.check_look_closely
    check = reverse("groups:check")
    columns = [
        Column(
            "waiting",
            [
                Segment(
                    waiting, "chart-waiting", f"{plural(waiting, 'machine label')} waiting", check
                )
            ],
        ),
        Column(
            "look closely",
            [
                Segment(
                    figures.check_look_closely,
                    "chart-look-closely",
                    f"{plural(figures.check_look_closely, 'machine label')} to look at closely",
                    check,
                )
            ],
        ),
        Column(
            "rejected",
            [
                Segment(
                    figures.rejected,
                    "chart-rejected",
                    f"{plural(figures.rejected, 'machine label')} rejected in the last "
                    f"{figures.window.days} days",
                    rejected_url(figures.window),
                )
            ],
        ),
    ]
    return column_chart(columns, column_width=64, gap=28, height=160)


def rejected_url(window: Window) -> str:
    """The rejected machine labels of the window (the "rejected" figure)."""
    return list_url(
        "groups:rejected", date_from=window.first.isoformat(), date_to=window.last.isoformat()
    )


def saved_by_groups_url() -> str:
    """The Done list of the labels groups wrote (the "saved by groups" figure)."""
    return list_url("sequences:done", label_source=BY_GROUP)


def source_bar(figures: Figures) -> Chart:
    return share_bar(source_segments(figures))


def threshold_charts(rows: list[dict]) -> tuple[Chart, Chart]:
    """The staff's threshold report (`groups.reports`): clicks saved and label disagreement
    per matching threshold."""
    clicks = [
        Column(
            f"{row['threshold']:g}",
            [
                Segment(
                    row["clicks_saved"],
                    "chart-clicks",
                    f"threshold {row['threshold']:g}: {plural(row['clicks_saved'], 'click')} saved",
                )
            ],
        )
        for row in rows
    ]
    disagreement = [
        Column(
            f"{row['threshold']:g}",
            [
                Segment(
                    round(100 * (row["disagreement_share"] or 0), 1),
                    "chart-disagreement",
                    f"threshold {row['threshold']:g}: "
                    f"{100 * (row['disagreement_share'] or 0):.1f}% of labeled members disagree "
                    "with their group",
                )
            ],
        )
        for row in rows
    ]
    return (
        column_chart(clicks, column_width=48, gap=24, height=160),
        column_chart(disagreement, column_width=48, gap=24, height=160, unit="%"),
    )
