"""The code location: assets, checks, jobs and the chosen profile's resources."""

from __future__ import annotations

from dagster import Definitions

from assets.raw import RAW_ASSETS
from egress_platform.automation import JOBS
from resources.profiles import resources_for

defs = Definitions(assets=RAW_ASSETS, jobs=JOBS, resources=resources_for())
