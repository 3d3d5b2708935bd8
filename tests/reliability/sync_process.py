"""``python -m tests.reliability.sync_process``: one ``sync_job`` run in a process of its own (so that a test can
SIGKILL it), configured by the environment alone. Its last line is ``SYNC_RESULT {"run_id": ..., "success": ...}``."""

from __future__ import annotations

import json
import sys

RESULT_PREFIX = "SYNC_RESULT "


def main() -> int:
    import dagster as dg

    from orchestration.definitions import defs

    job = defs().resolve_job_def("sync_job")
    result = job.execute_in_process(instance=dg.DagsterInstance.get(), raise_on_error=False)
    print(RESULT_PREFIX + json.dumps({"run_id": result.run_id, "success": result.success}), flush=True)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
