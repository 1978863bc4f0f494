"""The code location: assets, checks, jobs and the chosen profile's resources."""

from __future__ import annotations

from dagster import Definitions

from assets.detect import DETECT_ASSETS
from assets.egress import EGRESS_ASSETS
from assets.processed import PROCESSED_ASSETS
from assets.raw import RAW_ASSETS
from assets.report import REPORT_ASSETS
from assets.respond import RESPOND_ASSETS
from egress_platform.automation import JOBS, SCHEDULES
from egress_platform.sensors import SENSORS
from resources.profiles import resources_for

ALL_ASSETS = [
    *RAW_ASSETS,
    *PROCESSED_ASSETS,
    *EGRESS_ASSETS,
    *DETECT_ASSETS,
    *RESPOND_ASSETS,
    *REPORT_ASSETS,
]
defs = Definitions(
    assets=ALL_ASSETS,
    jobs=JOBS,
    schedules=SCHEDULES,
    sensors=SENSORS,
    resources=resources_for(),
)
