"""What the sensors that do their work in the tick share (alerts.py, run_guard.py): they request no run, and each
tick's skip reason says what it did."""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg


def upkeep_sensor(
    minimum_interval_seconds: int, description: str
) -> Callable[[Callable[[dg.SensorEvaluationContext], dg.SkipReason]], dg.SensorDefinition]:
    """A sensor named after its function and on once deployed, like every schedule and sensor: nobody has to
    switch it on in the UI."""
    return dg.sensor(
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=description,
    )
