"""What the marts become for people: the analysts' read-only copy of them (``marts_copy``) and the funnel and ROI
charts (``charts``). Plain Python; ``orchestration/defs/analytics.py`` runs them after each build."""
