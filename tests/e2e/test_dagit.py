"""`make dev`'s webserver for real: `egress dev` (which runs `dagster dev`) started as a process
the way make starts it, asked over GraphQL, and stopped when its parent (make) ends."""

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


@pytest.fixture(scope="module")
def dagit(tmp_path_factory: pytest.TempPathFactory) -> Any:
    home = tmp_path_factory.mktemp("dagster-home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "EGRESS_LAKE_DIR": str(home / "lake")}
    make = subprocess.Popen(["sleep", "3600"])  # stands in for `make dev`
    log = (home / "dagster-dev.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "egress_platform.app.cli",
            "dev",
            "-w",
            "workspace.yaml",
            "--port",
            str(port),
            "--parent-pid",
            str(make.pid),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
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
    yield process, answer, home, make
    make.kill()
    make.wait()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
    for pid in _processes_of(home):
        os.kill(pid, signal.SIGKILL)
    log.close()


def _processes_of(home: Path) -> list[int]:
    """The live processes whose environment names this test's DAGSTER_HOME."""
    marker = f"DAGSTER_HOME={home}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes().split(b"\0"):
                state = (environ.parent / "stat").read_text().rpartition(")")[2].split()[0]
                if state not in ("Z", "X"):
                    found.append(int(environ.parent.name))
        except OSError:
            continue
    return found


def test_webserver_serves_the_asset_graph_schedules_and_sensors(dagit: Any) -> None:
    _, answer, home, _ = dagit
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


def test_webserver_stops_when_make_ends_and_says_no_warning(dagit: Any) -> None:
    """make dies alone on SIGTERM; `egress dev` sees its parent end and stops everything."""
    process, _, home, make = dagit
    assert _processes_of(home), "nothing of dagster dev is running"
    started = time.monotonic()
    make.terminate()
    make.wait()
    assert process.wait(timeout=45) == 0
    while _processes_of(home) and time.monotonic() - started < 45:
        time.sleep(0.5)
    assert not _processes_of(home), f"dagster dev left {_processes_of(home)} after 45 s"
    log = (home / "dagster-dev.log").read_text()
    assert "has ended; stopping Dagit and the daemon" in log
    assert "Warning" not in log, [line for line in log.splitlines() if "Warning" in line]
