"""Is the sync healthy, and if not, why: the setup guide's troubleshooting list as checks (plain functions over
the warehouse and the two APIs, each returning a ``CheckResult`` with a pass/fail rule, counts, sample rows and
remediation in the user's words), the run-start preflight of the configuration, the freshness rules of the
schedules (``cron``, ``freshness``), the alerts sent to a person (``alerts``), and ``python -m health.trace``, one
person's journey through the sync.

Plain Python with no Dagster imports: Dagster (orchestration/defs/health.py) and ``make doctor``
(orchestration/doctor.py) both run the checks.
"""

from health.result import CheckResult, Status

__all__ = ["CheckResult", "Status"]
