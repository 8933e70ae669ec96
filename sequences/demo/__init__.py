"""The demo data set behind `manage.py seed_demo`: a month of alerts from four cameras of two
organisations, drawn with Pillow and written as an export folder the importer reads.

Most alerts are recurring false positives fixed in the landscape — an antenna on a ridge, low
cloud lying on a ridge in the morning, sun glare at dusk, a factory chimney's plume (industrial
smoke) — and a few are real fires, some of them right next to a recurring object. Every frame
is a 1280x720 JPEG (sky, two ridge lines, the objects) and the model's boxes sit on what is
drawn, with the jitter a detector has, so that the group assignment finds the recurring objects
by itself. Everything derives from `random.Random(seed)`: the same options give the same
folder.

- `scenario`: the cameras, views and the plan of the month (with a fire starting right on a
  labeled antenna, for the machine-label safeguards);
- `drawing`: landscapes, objects, frames and their JPEGs;
- `export`: the folder (`build_export`).

Seeding a database from it reviews groups, so it lives in the groups app (`groups.demo`).
"""

from sequences.demo.export import DEFAULT_SEED, DEFAULT_SEQUENCES, DemoExport, build_export

__all__ = [
    "DEFAULT_SEED",
    "DEFAULT_SEQUENCES",
    "DemoExport",
    "build_export",
]
