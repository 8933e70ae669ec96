"""Benchmark of the pages at scale: what one page costs with a long history (see
bench/README.md).

Builds a history of N sequences (default 1,000,000) in a scratch database with set-based SQL
inserts (minutes for a million): about 5 % of the sequences in recurring groups of 2 to 60
members, a group of 5,000 (an antenna seen every evening for years) with a long audit log and
300 members removed by hand, single sightings, a fifth of the recurring groups labeled (half
of those validated) with their members' inherited labels checked but for a few that wait in the
check queue, human labels on most of the rest and the newest sequences still to annotate. Then it
serves the history with the production server (`make serve`'s gunicorn, DEBUG off, static files
collected, WEB_CONCURRENCY workers, CONN_MAX_AGE 60 as in README "Deploying"), logs in as a staff
user and prints one JSON line per page:

- one client: `median_ms` and `p95_ms` of --repeat requests (after 3 warm-up requests) of every
  page a person opens, the admin's changelists and three API lists;
- under load: `rps`, `p50_ms`, `p99_ms` and `errors` of the four annotator pages (the groups
  list, the group page, the annotation page, the check queue) under --connections concurrent
  connections for --duration seconds each (wrk when installed, else a bounded Python load
  generator); the load generator stops by itself;
- on each line, `load_1min`: the machine's load average then (other work inflates the figures).

With ``--against DIR`` (another checkout, e.g. ``git worktree add /tmp/before <commit>``) it
measures instead this checkout and that one side by side: two servers of one worker each on the
same history, one client alternating its --repeat requests of each page between them, and one
JSON line per page with each tree's median wall time and its worker's CPU time per request. On a
machine whose speed drifts, the difference between the two is what such a run can tell.

    DATABASE_URL=postgres://USER@HOST:5432/NAME .venv/bin/python bench/pages.py \\
        --sequences 100000 --keep

The history goes to a scratch database next to the configured one (``test_<NAME>``, created
with its schema by the migrations and dropped at the end unless ``--keep``); the configured
database itself is never touched. With ``--keep`` a later run of the same size and seed reuses
the kept history instead of building it. PostgreSQL only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotation_site.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
os.environ.setdefault("DEBUG", "false")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from page_load import (  # noqa: E402
    PASSWORD,
    USERNAME,
    Client,
    Server,
    load_python,
    load_wrk,
    machine_load,
    side_by_side,
    single_client,
)

BIG_GROUP = 5000  # members of the antenna seen every evening
BIG_REMOVED = 300  # members taken out of it by hand
BIG_HISTORY = 2000  # validations and unvalidations in its audit log
MEAN_GROUP = 12  # mean size of a recurring group
CAMERAS = 100
ORGANIZATIONS = 10
# The one annotator of the history (labels, checks, operations).
ACTOR = "(SELECT id FROM auth_user WHERE username = 'bench-annotator')"
FP_TYPES = "ARRAY['antenna','building','cliff','high_cloud','lens_flare']"

# --- the history -------------------------------------------------------------------------------


def marker(sequences: int, seed: int) -> str:
    return f"bench-pages-{sequences}-{seed}"


def build(sequences: int, detections: int, seed: int) -> None:
    """The whole history in a handful of set-based statements (triggers keep the counters)."""
    n = sequences
    recurring = max(1, round(n * 0.70 / MEAN_GROUP))
    statements = [
        "TRUNCATE groups_groupoperationmember, groups_groupoperation, "
        "sequences_sequenceannotation, sequences_detection, sequences_sequence, "
        "groups_sequencegroup, groups_grouptally, groups_checktally, groups_assignmentrun, "
        # Kept by triggers without foreign keys, so CASCADE does not reach it.
        "groups_groupwriter, sequences_queueentry, "
        "sequences_camera, sequences_organization RESTART IDENTITY CASCADE",
        f"SELECT setseed({(seed % 1000) / 1000})",
        "INSERT INTO sequences_organization (source_api, platform_id, name, created_at, "
        "updated_at) SELECT 'pyronear_french', i, "
        f"CASE WHEN i = 1 THEN '{marker(n, seed)}' ELSE 'org-' || i END, now(), now() "
        f"FROM generate_series(1, {ORGANIZATIONS}) AS i",
        "INSERT INTO sequences_camera (source_api, platform_id, name, organization_id, "
        "created_at, updated_at) SELECT 'pyronear_french', i, 'Camera ' || lpad(i::text, 3, '0'), "
        f"1 + i % {ORGANIZATIONS}, now(), now() FROM generate_series(1, {CAMERAS}) AS i",
        # Each sequence's plan: its group (1: the big one; 2..recurring+1: recurring groups, the
        # low ids biggest; above: single sightings), removed from the big group, or not grouped.
        f"""CREATE TEMP TABLE plan AS
        SELECT i, r, CASE
            WHEN i <= {BIG_GROUP} THEN 1
            WHEN i <= {BIG_GROUP + BIG_REMOVED} THEN NULL
            WHEN r < 0.70 THEN 2 + floor({recurring} * power(random(), 1.6))::int
            WHEN r < 0.95 THEN {recurring + 2} + i
            ELSE NULL END AS gid
        FROM (SELECT i, random() AS r FROM generate_series(1, {n}) AS i) AS s""",
        # Groups: camera and azimuth from the id; a fifth of the recurring ones labeled (half of
        # those validated); the big one labeled antenna and validated.
        f"""INSERT INTO groups_sequencegroup (id, camera_id, azimuth, representative_bbox,
            smoke_type, false_positive_type, is_unsure, is_validated, validated_at, labeled_at,
            created_at, updated_at, member_count)
        SELECT g, 1 + g % {CAMERAS}, (g * 37) % 360,
            '{{"xyxyn": [0.1, 0.1, 0.3, 0.3], "confidence": 0.8}}',
            NULL, CASE WHEN labeled THEN ({FP_TYPES})[1 + g % 5] END, false,
            validated, CASE WHEN validated THEN now() END, CASE WHEN labeled THEN now() END,
            timestamptz '2024-01-01' + (g::float / {recurring + n + 2}) * interval '700 days',
            now(), 0
        FROM (SELECT g, g = 1 OR (g <= {recurring + 1} AND g % 5 = 0) AS labeled,
                     g = 1 OR (g <= {recurring + 1} AND g % 10 = 0) AS validated
              FROM (SELECT DISTINCT gid AS g FROM plan WHERE gid IS NOT NULL) AS d) AS x""",
        "SELECT setval(pg_get_serial_sequence('groups_sequencegroup', 'id'), "
        "(SELECT max(id) FROM groups_sequencegroup))",
        # Sequences, oldest first over two years; a group's members share its camera and
        # azimuth.
        f"""INSERT INTO sequences_sequence (id, source_api, alert_api_id, lat, lon, azimuth,
            recorded_at, created_at, camera_id, organization_id, group_id, is_group_excluded,
            motion)
        SELECT p.i, 'pyronear_french', p.i, 44.5, 4.2,
            coalesce(g.azimuth, (p.i * 7) % 360),
            timestamptz '2024-01-01' + (p.i::float / {n}) * interval '700 days',
            now(), c.id, c.organization_id, p.gid,
            p.gid IS NULL AND p.i <= {BIG_GROUP + BIG_REMOVED}, 0.001
        FROM plan AS p
        LEFT JOIN groups_sequencegroup AS g ON g.id = p.gid
        JOIN sequences_camera AS c ON c.id = coalesce(g.camera_id, 1 + p.i % {CAMERAS})""",
        "SELECT setval(pg_get_serial_sequence('sequences_sequence', 'id'), "
        "(SELECT max(id) FROM sequences_sequence))",
        f"""INSERT INTO sequences_detection (id, sequence_id, alert_api_id, recorded_at,
            created_at, image, algo_predictions)
        SELECT (s.id - 1) * {detections} + f, s.id, f,
            s.recorded_at + f * interval '30 seconds', now(), 'detections/bench/dummy.jpg',
            jsonb_build_object('predictions', jsonb_build_array(jsonb_build_object(
                'xyxyn', jsonb_build_array(0.1 + f * 0.001, 0.1, 0.3, 0.3),
                'confidence', 0.7, 'class_name', 'smoke')))
        FROM sequences_sequence AS s CROSS JOIN generate_series(1, {detections}) AS f""",
        "SELECT setval(pg_get_serial_sequence('sequences_detection', 'id'), "
        "(SELECT max(id) FROM sequences_detection))",
        "INSERT INTO auth_user (username, password, is_staff, is_superuser, is_active, "
        "first_name, last_name, email, date_joined) VALUES "
        "('bench-annotator', '!', true, false, true, '', '', '', now()) "
        "ON CONFLICT (username) DO NOTHING",
        # The operations that labeled each labeled group (their id is the group's).
        f"""INSERT INTO groups_groupoperation (id, kind, created_at, details, group_id,
            actor_id)
        SELECT id, 'inherit', created_at + interval '1 day', '{{}}', id,
            {ACTOR}
        FROM groups_sequencegroup WHERE labeled_at IS NOT NULL""",
        "SELECT setval(pg_get_serial_sequence('groups_groupoperation', 'id'), "
        "(SELECT max(id) FROM groups_groupoperation))",
        # The big group's log: validations back and forth, then the removals.
        f"""INSERT INTO groups_groupoperation (kind, created_at, details, group_id, actor_id)
        SELECT CASE WHEN k % 2 = 0 THEN 'validate' ELSE 'unvalidate' END,
            timestamptz '2024-01-02' + k * interval '5 hours', '{{}}', 1,
            {ACTOR}
        FROM generate_series(1, {BIG_HISTORY}) AS k""",
        f"""INSERT INTO groups_groupoperation (kind, created_at, details, group_id,
            sequence_id, actor_id)
        SELECT 'remove_member', timestamptz '2025-06-01' + s.id * interval '1 minute', '{{}}',
            1, s.id, {ACTOR}
        FROM sequences_sequence AS s WHERE s.is_group_excluded""",
        "SELECT setval(pg_get_serial_sequence('groups_groupoperation', 'id'), "
        "(SELECT max(id) FROM groups_groupoperation))",
        # Annotations: members of labeled groups inherited the label (checked, but 5 % waiting
        # in the check queue); the newest 10 % wait for a person (3 % without a row); the rest
        # are human labels.
        f"""INSERT INTO sequences_sequenceannotation (sequence_id, annotation, processing_stage,
            has_smoke, has_false_positives, smoke_types, false_positive_types,
            has_missed_smoke, is_unsure, label_source, label_source_group_id,
            label_source_operation_id, updated_by_id, check_risk, check_reasons, checked_at,
            checked_by_id, created_at, updated_at)
        SELECT s.id,
            CASE WHEN queued THEN '{{"sequences_bbox": []}}'::jsonb ELSE jsonb_build_object(
                'sequences_bbox', jsonb_build_array(jsonb_build_object(
                    'is_smoke', false, 'smoke_type', NULL,
                    'false_positive_types', jsonb_build_array(fp),
                    'bboxes', jsonb_build_array(jsonb_build_object(
                        'detection_id', (s.id - 1) * {detections} + 1,
                        'xyxyn', jsonb_build_array(0.1, 0.1, 0.3, 0.3)))))) END,
            CASE WHEN queued THEN 'ready_to_annotate' WHEN inherited
                THEN 'seq_annotation_done' ELSE 'annotated' END,
            false, NOT queued, '[]',
            CASE WHEN queued THEN '[]'::jsonb ELSE jsonb_build_array(fp) END,
            false, false,
            CASE WHEN queued THEN NULL WHEN inherited THEN 'inherited' ELSE 'human' END,
            CASE WHEN inherited THEN s.group_id END, CASE WHEN inherited THEN s.group_id END,
            CASE WHEN inherited THEN NULL WHEN NOT queued THEN {ACTOR}
                END,
            CASE WHEN inherited THEN round((random() * 0.9)::numeric, 3) END, '[]',
            CASE WHEN inherited AND NOT waiting THEN s.recorded_at + interval '2 days' END,
            CASE WHEN inherited AND NOT waiting THEN {ACTOR} END,
            s.recorded_at + interval '1 hour', s.recorded_at + interval '1 day'
        FROM (
            SELECT s.*, g.labeled_at IS NOT NULL AS inherited,
                coalesce(g.false_positive_type, 'building') AS fp,
                random() < 0.05 AS waiting,
                g.labeled_at IS NULL AND s.id > {n} * 0.9 AS queued
            FROM sequences_sequence AS s
            LEFT JOIN groups_sequencegroup AS g ON g.id = s.group_id
            WHERE s.id <= {n} * 0.97 OR g.labeled_at IS NOT NULL
        ) AS s""",
        """INSERT INTO groups_groupoperationmember (operation_id, sequence_id, before, after)
        SELECT a.label_source_operation_id, a.sequence_id, NULL,
            '{"label_source": "inherited"}'
        FROM sequences_sequenceannotation AS a WHERE a.label_source = 'inherited'""",
        "DROP TABLE plan",
    ]
    from groups.counters import counters_drift, tallies_fold

    # One transaction, checks included: a history that fails them is not kept (its marker would
    # have a later run reuse it).
    with transaction.atomic():
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        # The tallies are delta rows appended by the triggers: folded, as a read would.
        tallies_fold()
        if sequences <= 200_000:
            assert counters_drift() == [], "the triggers missed a bulk write"


def analyze() -> None:
    """VACUUM ANALYZE, as autovacuum would after a load: planner statistics and the
    visibility map (index-only scans)."""
    connection.ensure_connection()
    raw = connection.connection
    autocommit = raw.autocommit
    raw.autocommit = True
    try:
        with raw.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    finally:
        raw.autocommit = autocommit


def ensure_history(args) -> dict:
    from django.contrib.auth import get_user_model

    from groups.models import SequenceGroup
    from sequences.models import Organization, Sequence

    started = time.perf_counter()
    reused = Organization.objects.filter(name=marker(args.sequences, args.seed)).exists()
    if not reused:
        build(args.sequences, args.detections, args.seed)
        analyze()
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(
        username=USERNAME, defaults={"is_staff": True, "is_superuser": True}
    )
    user.set_password(PASSWORD)
    user.save()
    typical = (
        SequenceGroup.objects.filter(member_count__gte=40, member_count__lte=60)
        .order_by("id")
        .values_list("id", flat=True)
        .first()
    )
    queued = (
        Sequence.objects.filter(annotation__processing_stage="ready_to_annotate")
        .order_by("id")
        .values_list("id", flat=True)
        .first()
    )
    return {
        "sequences": Sequence.objects.count(),
        "groups": SequenceGroup.objects.count(),
        "reused": reused,
        "build_seconds": round(time.perf_counter() - started, 1),
        "typical_group": typical,
        "queued_sequence": queued,
    }


def pages(history: dict, client: Client) -> dict[str, str]:
    from groups.models import SequenceGroup
    from groups.selectors import group_stats

    listed = group_stats()["total"]
    last = max(1, -(-listed // settings.GROUPS_LIST_PAGE_SIZE))
    big_members = SequenceGroup.objects.get(pk=1).member_count
    big_last = -(-big_members // settings.GROUPS_MEMBERS_PAGE_SIZE)
    return {
        "groups_list": "/groups/",
        "groups_all_by_camera": "/groups/?tab=all&sort=camera",
        "groups_all_page_200": "/groups/?tab=all&page=200",
        "groups_all_last_page": f"/groups/?tab=all&page={last}",
        "group_5000_members": "/groups/1/",
        "group_5000_last_members": f"/groups/1/?members={big_last}",
        "group_typical": f"/groups/{history['typical_group']}/",
        "check_queue": "/groups/check/",
        "to_annotate": "/sequences/",
        "done": "/sequences/done/",
        "annotate": f"/sequences/{history['queued_sequence']}/annotate/",
        "admin_sequences": "/admin/sequences/sequence/",
        "admin_detections": "/admin/sequences/detection/",
        "admin_annotations": "/admin/sequences/sequenceannotation/",
        "admin_operations": "/admin/groups/groupoperation/",
        "admin_groups": "/admin/groups/sequencegroup/",
        "api_sequences": "/api/v1/sequences/",
        "api_sequences_camera": "/api/v1/sequences/?camera_id=3",
        "api_sequence_groups": "/api/v1/sequence_groups/",
        "api_sequence_groups_labeled": "/api/v1/sequence_groups/?labeled=true&order_by=camera",
        "api_annotations": "/api/v1/annotations/sequences/",
        "api_annotations_stage": "/api/v1/annotations/sequences/?processing_stage=annotated",
        "api_group_5000": "/api/v1/sequence_groups/1",
    }


LOADED = ("groups_list", "group_5000_members", "annotate", "check_queue")


def chosen_pages(urls: dict[str, str], only: list[str] | None) -> list[str]:
    """The names of `urls` the run measures: those of --only, or all of them."""
    return [name for name in urls if not only or name in only]


def run(args) -> None:
    history = ensure_history(args)
    print(json.dumps({"history": history}), flush=True)
    if args.against:
        compare(args, history)
        return
    with Server(args.workers) as server:
        client = Client(server.port)
        client.login()
        urls = pages(history, client)
        chosen = chosen_pages(urls, args.only)
        for name in chosen:
            figures = single_client(client, urls[name], args.repeat)
            line = {"page": name, "url": urls[name], "sequences": history["sequences"]}
            print(json.dumps({**line, "clients": 1, **figures, **machine_load()}), flush=True)
        if args.duration <= 0:
            return
        load = load_wrk if shutil.which("wrk") and not args.python_load else load_python
        for name in LOADED:
            if name not in chosen:
                continue
            figures = load(client, urls[name], args.connections, args.duration)
            line = {"page": name, "url": urls[name], "sequences": history["sequences"]}
            figures = {**line, "clients": args.connections, **figures, **machine_load()}
            print(json.dumps(figures), flush=True)


def compare(args, history: dict) -> None:
    """This checkout and `args.against` side by side, page by page (see the module's doc)."""
    with Server(1) as this, Server(1, Path(args.against).resolve()) as against:
        pairs = {}
        for name, server in (("this", this), ("against", against)):
            client = Client(server.port)
            client.login()
            pairs[name] = (server, client)
        urls = pages(history, pairs["this"][1])
        for name in chosen_pages(urls, args.only):
            figures = side_by_side(pairs, urls[name], args.repeat)
            line = {"page": name, "url": urls[name], "sequences": history["sequences"]}
            print(json.dumps({**line, **figures, **machine_load()}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", type=int, default=1_000_000, help="history size")
    parser.add_argument("--detections", type=int, default=3, help="detections per sequence")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=30, help="one-client requests per page")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=int, default=15, help="seconds of load per page")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--only", nargs="*", help="only these pages (names of the JSON lines)")
    parser.add_argument("--python-load", action="store_true", help="not wrk, even if installed")
    parser.add_argument(
        "--against",
        metavar="DIR",
        help="another checkout to measure side by side with this one (one client, no load)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the scratch database afterwards; reuse a kept history of the same size",
    )
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        parser.error("set DATABASE_URL to a PostgreSQL server")
    original_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(
        verbosity=0, autoclobber=True, keepdb=args.keep, serialize=False
    )
    try:
        run(args)
    finally:
        connection.creation.destroy_test_db(original_name, verbosity=0, keepdb=args.keep)


if __name__ == "__main__":
    main()
