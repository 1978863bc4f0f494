"""What Dagit shows of the definitions: each asset's code_version comes from the code it runs (one
edit does not mark every asset), freshness policies on what an operator watches, blocking checks."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from assets import common
from assets.common import code_version_of

PACKAGE = "versioned_pkg"


def write(root: Path, name: str, text: str) -> None:
    (root / PACKAGE / f"{name}.py").write_text(textwrap.dedent(text))


@pytest.fixture
def package(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / PACKAGE).mkdir()
    write(tmp_path, "__init__", "")
    write(tmp_path, "pricing", "def rate():\n    return 0.09\n")
    write(tmp_path, "geo", "def region():\n    return 'us-east-1'\n")
    write(
        tmp_path,
        "routing",
        "from versioned_pkg.geo import region\n\ndef route():\n    return region()\n",
    )
    write(
        tmp_path,
        "assets",
        """
        from versioned_pkg.pricing import rate
        from versioned_pkg.routing import route

        def _helper():
            return rate()

        def priced():
            return _helper()

        def routed():
            return route()
        """,
    )
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in [n for n in sys.modules if n.split(".")[0] == PACKAGE]:
        del sys.modules[name]


def versions() -> dict[str, str]:
    common._module_digest.cache_clear()
    common._project_imports.cache_clear()
    for name in sorted(n for n in sys.modules if n.split(".")[0] == PACKAGE):
        del sys.modules[name]
    module: ModuleType = importlib.import_module(f"{PACKAGE}.assets")
    return {
        name: code_version_of(getattr(module, name), packages=(PACKAGE,))
        for name in ("priced", "routed")
    }


def test_an_edit_changes_the_versions_of_the_assets_that_run_it_and_no_other(
    package: Path,
) -> None:
    before = versions()
    assert before["priced"] != before["routed"]
    # A module only `priced` uses (through a helper of its own module).
    write(package, "pricing", "def rate():\n    return 0.085\n")
    after_pricing = versions()
    assert after_pricing["priced"] != before["priced"]
    assert after_pricing["routed"] == before["routed"]
    # A module `routed` reaches only through another module's import.
    write(package, "geo", "def region():\n    return 'eu-west-1'\n")
    after_geo = versions()
    assert after_geo["routed"] != after_pricing["routed"]
    assert after_geo["priced"] == after_pricing["priced"]


def test_every_asset_has_a_version_and_they_are_not_all_one() -> None:
    from egress_platform.app.definitions import ALL_ASSETS

    found = {k.path[-1]: v for a in ALL_ASSETS for k, v in a.code_versions_by_key.items()}
    assert all(found.values()) and len(found) >= 20
    assert len(set(found.values())) >= 10
    # The flow path and the dashboard run different code.
    assert found["egress_flows_hourly"] != found["egress_dashboard"]


def test_what_an_operator_watches_has_a_freshness_policy_and_blocking_checks() -> None:
    from datetime import timedelta

    from egress_platform.app.definitions import ALL_ASSETS

    specs = {k.path[-1]: s for a in ALL_ASSETS for k, s in a.specs_by_key.items()}
    for name in ("egress_flows_hourly", "egress_anomalies", "egress_alerts"):
        policy = specs[name].freshness_policy
        assert policy is not None, name
        assert policy.fail_window.to_timedelta() == timedelta(hours=3), name
    blocking = {
        (c.asset_key.path[-1], c.name) for a in ALL_ASSETS for c in a.check_specs if c.blocking
    }
    assert blocking == {
        ("egress_flows_hourly", "facts_are_classified_and_priced_within_the_book"),
        ("egress_anomalies", "events_have_stable_ids_and_open_once"),
    }
