"""The code location: every asset group's definitions, and the chosen profile's resources.

Each module of ``assets`` is one group's home (its assets, checks, jobs, schedules and
sensors, as a ``defs`` object); this module only gathers them, so a new group is a new module.
"""

from __future__ import annotations

import importlib
import pkgutil

from dagster import AssetsDefinition, Definitions

import assets
from resources.profiles import resources_for


def _group_definitions() -> list[Definitions]:
    found = []
    for module in pkgutil.iter_modules(assets.__path__):
        group = importlib.import_module(f"{assets.__name__}.{module.name}")
        if isinstance(getattr(group, "defs", None), Definitions):
            found.append(group.defs)
    return found


defs = Definitions.merge(*_group_definitions(), Definitions(resources=resources_for()))
ALL_ASSETS = [a for a in defs.assets or [] if isinstance(a, AssetsDefinition)]
