"""The setup guide's troubleshooting list as checks: plain functions over the warehouse and the two APIs, each
returning a ``CheckResult`` with a pass/fail rule, counts, sample rows and remediation in the user's words.
Dagster (orchestration/defs/checks.py) and ``make doctor`` (orchestration/doctor.py) both run them."""

from ingest.health.result import CheckResult, Status

__all__ = ["CheckResult", "Status"]
