"""The training export: the alerts whose labels a person stands behind, out of the site as the
model team pulls them (the endpoint `GET /api/v1/export/alerts` and `manage.py export_alerts`).

By job:
- `selection`: the provenance rule, the filters, withdrawn alerts, the keyset cursor and the
  page query;
- `items`: the shape of one alert (shared by the endpoint and the manifest);
- `parameters`: the filters, cursor and page size, read from a query string or options;
- `dataset`: the dataset on disk (`manifest.jsonl`, `images/`), streamed page by page;
- `yolo`, `split`: the YOLO tree built from the dataset, and its camera-whole split.
"""

from sequences.exporting.items import (
    FALSE_POSITIVE,
    ORIGIN_CLIENT,
    ORIGIN_DETECTOR,
    ORIGINS,
    RECORD_KINDS,
    SMOKE,
    alert_item,
    iso,
    labeled_clusters,
    page_items,
)
from sequences.exporting.parameters import (
    FREE_TEXT,
    LIMIT_DEFAULT,
    LIMIT_MAX,
    MULTIPLE,
    ExportFilterSet,
    filters_read,
)
from sequences.exporting.selection import (
    CURSOR_INVALID,
    CURSOR_PATTERN,
    AlertKey,
    ExportFilters,
    Frame,
    Page,
    alert_rows,
    cursor_parse,
    cursor_text,
    exported_q,
    page_read,
    stood_behind,
)

__all__ = [
    "CURSOR_INVALID",
    "CURSOR_PATTERN",
    "FALSE_POSITIVE",
    "FREE_TEXT",
    "LIMIT_DEFAULT",
    "LIMIT_MAX",
    "MULTIPLE",
    "ORIGINS",
    "ORIGIN_CLIENT",
    "ORIGIN_DETECTOR",
    "RECORD_KINDS",
    "SMOKE",
    "AlertKey",
    "ExportFilterSet",
    "ExportFilters",
    "Frame",
    "Page",
    "alert_item",
    "alert_rows",
    "cursor_parse",
    "cursor_text",
    "exported_q",
    "filters_read",
    "iso",
    "labeled_clusters",
    "page_items",
    "page_read",
    "stood_behind",
]
