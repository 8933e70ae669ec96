"""Importing sequences, by job (SPEC §8).

- `pipeline`: the one path of a record into the database (idempotency, validation, one
  transaction) and the assignment hook an import ends with;
- `export_format`: the local export folder (`sequences.jsonl` and its images);
- `platform_client`: the Pyronear alert API client and its retry rule;
- `platform_records`: platform answers read into import records;
- `platform_pull`: the days of the platform walked through the pipeline;
- `ahead`: records through the pipeline with the next one fetched while one is written;
- `remote_client`, `remote_records`, `remote_clone`, `remote_push`, `remote_cli`: another
  annotation API (this site or the reference): its client, its answers read into records, the
  clone, the push of labels back, and what their commands share;
- `report`: the counters, errors and chained assignment of an import, and its exit status;
- `cli`: what the `import_sequences` and `pull_sequences` commands share.
"""
