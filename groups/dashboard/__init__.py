"""The dashboard: progress at a glance for an annotation lead, as a page (the landing page after
login) and in the API (`/api/v1/stats/...`). By job: `figures` (the reads), `charts` (pure SVG
geometry), `presenters` (the figures as charts, each bar a link to the list it counts),
`rejected` (the list behind the rejected figure: its days, reads and rows), `views` (the
pages) and `api` (the endpoints)."""
