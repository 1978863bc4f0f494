"""`make dev`'s webserver for real: `dagster dev` started as a process, asked over GraphQL, stopped."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
QUERY = """
{
  assetNodes {
    assetKey { path }
    groupName
    description
    isPartitioned
    hasAssetChecks
    owners { ... on TeamAssetOwner { team } }
  }
  instance { daemonHealth { allDaemonStatuses { daemonType healthy } } }
  repositoriesOrError {
    ... on RepositoryConnection {
      nodes {
        schedules { name cronSchedule }
        sensors { name }
      }
    }
  }
}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _graphql(port: int, query: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body: dict[str, Any] = json.loads(response.read())
    return body


def _daemons_up(answer: dict[str, Any]) -> bool:
    """Every daemon has sent its heartbeat: `dagster dev` is fully started (a SIGTERM that
    arrives while a daemon is still loading waits out Dagster's own 60 s subprocess timeout)."""
    statuses = answer["data"]["instance"]["daemonHealth"]["allDaemonStatuses"]
    return bool(statuses) and all(s["healthy"] for s in statuses)


def _group_members(pgid: int) -> list[str]:
    """The live (not zombie) processes of a process group, as `pid command`.

    `killpg(pgid, 0)` also succeeds for zombies, and a container whose PID 1 does not reap
    orphans keeps them forever: a child that exited after `dagster dev` did is not left behind.
    """
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        command, _, rest = text.rpartition(")")
        state, _ppid, group = rest.split()[:3]
        if int(group) == pgid and state not in ("Z", "X"):
            members.append(f"{stat.parent.name} {command.partition('(')[2]}")
    return members


@pytest.fixture(scope="module")
def dagit(tmp_path_factory: pytest.TempPathFactory) -> Any:
    home = tmp_path_factory.mktemp("dagster-home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "EGRESS_LAKE_DIR": str(home / "lake")}
    dagster = Path(sys.executable).parent / "dagster"
    log = (home / "dagster-dev.log").open("w")
    process = subprocess.Popen(
        [str(dagster), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the webserver, daemon and code server
    )
    deadline = time.monotonic() + 180
    answer: dict[str, Any] = {}
    while time.monotonic() < deadline and process.poll() is None:
        try:
            answer = _graphql(port, QUERY)
            if answer.get("data", {}).get("assetNodes") and _daemons_up(answer):
                break
        except OSError:
            pass
        time.sleep(1)
    yield process, answer, home
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    log.close()


def test_webserver_serves_the_asset_graph_schedules_and_sensors(dagit: Any) -> None:
    _, answer, home = dagit
    assert answer, f"dagster dev never answered: {(home / 'dagster-dev.log').read_text()[-3000:]}"
    nodes = {"/".join(n["assetKey"]["path"]): n for n in answer["data"]["assetNodes"]}
    chain = [
        "raw_vpc_flow_logs",
        "processed_vpc_flow_logs",
        "egress_flows_hourly",
        "egress_features",
        "egress_model",
        "egress_anomalies",
        "rca_reports",
        "remediation_actions",
        "egress_alerts",
        "egress_dashboard",
    ]
    assert set(chain) <= set(nodes)
    for name, node in nodes.items():
        assert node["description"], name
        assert {"team": "egress-platform"} in node["owners"], name
    groups = {n["groupName"] for n in nodes.values()}
    assert {"raw", "processed", "egress", "detect", "respond", "report"} <= groups
    assert nodes["egress_anomalies"]["isPartitioned"] and nodes["raw_cur"]["isPartitioned"]
    assert nodes["raw_vpc_flow_logs"]["hasAssetChecks"]
    assert nodes["egress_model"]["hasAssetChecks"]
    repo = answer["data"]["repositoriesOrError"]["nodes"][0]
    schedules = {s["name"]: s["cronSchedule"] for s in repo["schedules"]}
    assert schedules["detect_hourly_schedule"] == "15 * * * *"
    assert schedules["retrain_daily_schedule"] == "30 0 * * *"
    assert {"anomaly_response_sensor", "pipeline_health_sensor"} <= {
        s["name"] for s in repo["sensors"]
    }


def test_webserver_stops_cleanly(dagit: Any) -> None:
    process, _, _ = dagit
    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(timeout=60) is not None
    deadline = time.monotonic() + 60
    while _group_members(process.pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _group_members(process.pid), f"dagster dev left {_group_members(process.pid)}"
