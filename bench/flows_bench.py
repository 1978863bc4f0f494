"""``make bench``: flow logs -> classified -> priced -> egress_flows_hourly, at volume.

Generates flow-log objects with the simulator (AWS's S3 layout and header line), replicates its
hours forward in time until the target record counts are reached (plain text for 20M and 60M
records, gzip for 20M), then measures, each in its own process so peak RSS is its own:

* ours: ``facts_from_files`` -> ``classify`` -> ``price_facts`` (after one small warm-up call
  that loads the byte kernel's compiled code, or compiles it on the very first run),
* DuckDB: the same parse and hourly aggregation in one SQL query, 2 threads,
* the gzip limit: decompressing the same gzip objects to /dev/null on both cores.

and the product's own path (``assets``, also alone: ``python bench/flows_bench.py assets``):

* ``egress run`` over the simulated landing zone (gzip objects as AWS delivers them), in a fresh
  lake and Dagster instance: the seconds of the flow layers' materializations (raw, processed,
  ``egress_flows_hourly``) and of the whole run, beside DuckDB's parse and hourly aggregation of
  the same objects in the same run;
* ``hour_to_alert_seconds``: a 2,000-ENI account's last hour lands after the rest has been run;
  the wall seconds of the ``egress run`` process that takes it from landed objects to the
  alerts written (incremental: one new hour).

Writes ``bench/results/latest.json``. Generated data is cached under ``bench/data/``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl

ROOT = Path(__file__).resolve().parent
DATA = ROOT / "data"
RESULTS = ROOT / "results"
BASE_DAYS = 1
BASE_ENIS = 400
SEED = 5


def say(message: str) -> None:
    print(message, flush=True)


# ---- data generation --------------------------------------------------------------------------
def base_simulation() -> Path:
    from egress_platform.simulate import simulate

    out = DATA / f"sim-{BASE_DAYS}d-{BASE_ENIS}enis-seed{SEED}"
    if not (out / "ground_truth.json").is_file():
        say(f"simulating {BASE_DAYS} days with {BASE_ENIS} ENIs into {out} ...")
        simulate(out, date(2026, 11, 1), BASE_DAYS, SEED, enis=BASE_ENIS)
    return out


def flow_objects(sim: Path) -> list[Path]:
    return sorted(p for p in (sim / "AWSLogs").rglob("*.log.gz") if "vpcflowlogs" in p.as_posix())


def replicate(sim: Path, rows: int, kind: str) -> tuple[list[Path], int]:
    """Plain or gzip objects holding at least ``rows`` records: busier copies of the base hours.

    Replica ``r`` of an object carries the same hours, interfaces and peers with different
    ephemeral ports: more connections per hour, as in a busier account. The hourly facts stay
    the same size however many records there are, which is what makes memory flat testable.
    Replicas are cached; a larger set reuses the smaller one's objects.
    """
    folder = DATA / kind
    folder.mkdir(parents=True, exist_ok=True)
    base = [gzip.decompress(p.read_bytes()) for p in flow_objects(sim)]
    header = base[0].split(b"\n", 1)[0] + b"\n"
    frames = [_frame(data) for data in base]
    base_rows = sum(f.height for f in frames)
    replicas = -(-rows // base_rows)
    suffix = ".log.gz" if kind == "gzip" else ".log"
    files: list[Path] = []
    jobs = []
    with ProcessPoolExecutor(max_workers=2) as pool:
        for replica in range(replicas):
            for i, frame in enumerate(frames):
                # Keys sort by time, as S3 delivery keys do: an hour's objects are neighbours.
                path = folder / f"{i:04d}-r{replica:03d}{suffix}"
                files.append(path)
                if not path.is_file():
                    body = _busier(frame, replica)
                    jobs.append(pool.submit(_write, path, header + body, kind == "gzip"))
            if jobs:
                say(f"  {kind}: {(replica + 1) * base_rows:,} / {rows:,} records generated")
            if len(jobs) > 256:
                [j.result() for j in jobs]
                jobs.clear()
        [j.result() for j in jobs]
    return sorted(files), replicas * base_rows


def _frame(data: bytes) -> pl.DataFrame:
    return pl.read_csv(data, separator=" ", has_header=True, infer_schema=False, quote_char=None)


def _busier(frame: pl.DataFrame, replica: int) -> bytes:
    """The same records on other ephemeral ports (replica 0 is the simulator's own output)."""

    def moved(column: str) -> pl.Expr:
        port = pl.col(column).cast(pl.Int64)
        return (
            pl.when(port >= 32768)
            .then((port - 32768 + replica * 211) % 28232 + 32768)
            .otherwise(port)
            .cast(pl.String)
            .alias(column)
        )

    busier = frame.with_columns(moved("srcport"), moved("dstport")) if replica else frame
    return busier.write_csv(separator=" ", include_header=False, quote_style="never").encode()


def _write(path: Path, data: bytes, compress: bool) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(gzip.compress(data, compresslevel=6) if compress else data)
    tmp.replace(path)


# ---- measurements (each runs in a child process) ----------------------------------------------
def measure_ours(files: list[Path], sim: Path) -> dict[str, Any]:
    from egress_platform.etl.flow_files import facts_from_files
    from egress_platform.network.classify import classify
    from egress_platform.network.facts import flow_egress_facts
    from egress_platform.network.ip_ranges import load_ip_ranges
    from egress_platform.network.topology import NetworkMetadata
    from egress_platform.pricing.estimate import price_facts
    from egress_platform.sources import SOURCES
    from egress_platform.sources.ingest import ingest_objects

    config_files = sorted(
        p for p in (sim / "AWSLogs").rglob("*") if "Config" in p.as_posix() and p.is_file()
    )
    config = ingest_objects(SOURCES["config"], ((str(p), p.read_bytes()) for p in config_files))
    network = NetworkMetadata.from_config_items(config.records)
    ip_path = ROOT.parents[1] / "shared" / "samples" / "network" / "ip-ranges.json"
    ip_ranges = load_ip_ranges(ip_path) if ip_path.is_file() else None
    facts_from_files(files[:1], network.region)  # loads (or first compiles) the byte kernel
    start = time.perf_counter()
    facts, stats = facts_from_files(files, network.region)
    classified = classify(facts, network, ip_ranges)
    priced = price_facts(flow_egress_facts(classified))
    seconds = time.perf_counter() - start
    return {
        "rows": stats.records,
        "seconds": round(seconds, 3),
        "rows_per_s": round(stats.records / seconds),
        "files": stats.files,
        "robust_fallback_files": stats.robust_files,
        "quarantined": stats.quarantined,
        "egress_flows_hourly_rows": priced.height,
        "estimated_usd": round(float(priced["estimated_usd"].sum()), 2),
    }


def measure_duckdb(files: list[Path]) -> dict[str, Any]:
    import duckdb

    from egress_platform.sources import vpc_flow

    with gzip.open(files[0]) if files[0].suffix == ".gz" else files[0].open("rb") as first:
        header = first.readline().decode().split()
    types = {"String": "VARCHAR", "Int16": "SMALLINT", "Int32": "INTEGER", "Int64": "BIGINT"}
    columns = {f.replace("-", "_"): types[str(vpc_flow.FIELDS[f][0])] for f in header}
    con = duckdb.connect()
    con.execute("SET threads = 2")
    listing = "[" + ", ".join(f"'{p}'" for p in files) + "]"
    spec = "{" + ", ".join(f"'{k}': '{v}'" for k, v in columns.items()) + "}"
    query = f"""
        SELECT start - start % 3600 AS hour, account_id, region, interface_id, subnet_id, az_id,
               instance_id, action, log_status, flow_direction, srcaddr, dstaddr, pkt_srcaddr,
               pkt_dstaddr, traffic_path, pkt_src_aws_service, pkt_dst_aws_service,
               SUM(bytes) AS bytes, SUM(packets) AS packets, COUNT(*) AS flows
        FROM read_csv({listing}, delim = ' ', header = true, columns = {spec}, nullstr = '-',
                      quote = '', escape = '', auto_detect = false)
        GROUP BY ALL
    """
    start = time.perf_counter()
    result = con.execute(f"SELECT COUNT(*), SUM(flows) FROM ({query})").fetchone()
    seconds = time.perf_counter() - start
    assert result is not None
    return {"groups": int(result[0]), "rows": int(result[1]), "seconds": round(seconds, 3)}


def measure_gzip_limit(files: list[Path]) -> dict[str, Any]:
    """Decompression alone, to /dev/null, on both cores. Streaming in 1 MiB pieces is the
    fastest way measured here: on two threads it beats whole-object inflate (the pipeline's,
    which needs the whole text) by about 2x, as its output stays in cache."""

    def drain(path: Path) -> int:
        with gzip.open(path, "rb") as handle, open(os.devnull, "wb") as sink:
            while chunk := handle.read(1 << 20):
                sink.write(chunk)
        return 0

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(drain, files))
    return {"seconds": round(time.perf_counter() - start, 3)}


FLOW_STEPS = ("raw_vpc_flow_logs", "processed_vpc_flow_logs", "egress_flows_hourly")


def measure_assets(landing: Path) -> dict[str, Any]:
    """``egress run`` over ``landing`` into a fresh lake: what the product ships, timed per step."""
    import tempfile

    from egress_platform.app.run import run_landing

    with tempfile.TemporaryDirectory(dir=DATA, prefix="assets-") as work:
        lake = Path(work) / "lake"
        start = time.perf_counter()
        outcome = run_landing(str(landing), str(lake), lambda _m: None, dagster_home=lake / ".dg")
        run_seconds = time.perf_counter() - start
    steps: dict[str, float] = {}
    for step in outcome.steps:
        steps[step["asset"]] = round(steps.get(step["asset"], 0.0) + step["seconds"], 1)
    records = int(outcome.summary["sources"]["vpc_flow"]["records"])
    flow_seconds = sum(steps.get(a, 0.0) for a in FLOW_STEPS)
    return {
        "rows": records,
        "seconds": round(flow_seconds, 1),
        "rows_per_s": round(records / flow_seconds) if flow_seconds else None,
        "run_seconds": round(run_seconds, 1),
        "flow_steps_seconds": {a: steps.get(a) for a in FLOW_STEPS},
        "steps_seconds": steps,
    }


def warm(files: list[Path]) -> float:
    """Read every file once so each measurement starts from the same page cache: whichever
    ran first would otherwise pay for the disk (on this VM the cache is reclaimed eagerly)."""
    start = time.perf_counter()

    def read(path: Path) -> None:
        with path.open("rb") as handle:
            while handle.read(1 << 22):
                pass

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(read, files))
    return round(time.perf_counter() - start, 1)


def child(kind: str, args: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; add its own peak RSS."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "measure", kind, json.dumps(args)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    output = proc.stdout.read()
    status = proc.wait()
    if status != 0:
        raise RuntimeError(f"measurement {kind} failed (exit status {status})")
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def peak_rss_mb() -> float:
    """This process's own high-water mark (VmHWM resets at exec, unlike a child's ru_maxrss)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def run_measure(kind: str, raw_args: str) -> None:
    args = json.loads(raw_args)
    files = [Path(p) for p in json.loads(Path(args["files"]).read_text())]
    if kind == "ours":
        result = measure_ours(files, Path(args["sim"]))
    elif kind == "assets":
        result = measure_assets(Path(args["sim"]))
    elif kind == "duckdb":
        result = measure_duckdb(files)
    else:
        result = measure_gzip_limit(files)
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


H2A_ENIS = 2000
H2A_DAYS = 4  # egress run judges hours from the fourth landed day on (app.run.WARMUP_DAYS = 3)


def egress_run(landing: Path, lake: Path) -> tuple[float, dict[str, Any]]:
    """One ``egress run`` process (as a user starts it): its wall seconds and its summary."""
    env = {**os.environ, "DAGSTER_HOME": str(lake / ".dagster")}
    ip_ranges = ROOT.parents[1] / "shared" / "samples" / "network" / "ip-ranges.json"
    if ip_ranges.is_file():
        env.setdefault("EGRESS_IP_RANGES", str(ip_ranges))
    (lake / ".dagster").mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    subprocess.run(
        [str(Path(sys.executable).parent / "egress"), "run", "--landing", str(landing),
         "--lake", str(lake)],
        check=True, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    summary: dict[str, Any] = json.loads((lake / "reports" / "summary.json").read_text())
    return seconds, summary


def hour_to_alert() -> dict[str, Any]:
    """Seconds from "the last hour's objects landed" to "its alerts written", through
    ``egress run`` on a 2,000-ENI account whose earlier hours were already run."""
    import shutil

    from egress_platform.simulate import simulate
    from egress_platform.sources.discover import discover

    sim = DATA / f"sim-{H2A_DAYS}d-{H2A_ENIS}enis-seed{SEED}"
    if not (sim / "ground_truth.json").is_file():
        say(f"simulating {H2A_DAYS} days with {H2A_ENIS} ENIs into {sim} ...")
        simulate(sim, date(2026, 11, 1), H2A_DAYS, SEED, enis=H2A_ENIS)
    files = [p for p in sim.rglob("*") if p.is_file()]
    listing = [(p.relative_to(sim).as_posix(), p.stat().st_size) for p in files]
    landed = discover(listing, lambda key: (sim / key).read_bytes())
    last = max(landed.hours("vpc_flow"))
    held = {key for parts in landed.objects.values() for key, _ in parts.get(last, [])}
    work = DATA / "hour-to-alert"
    shutil.rmtree(work, ignore_errors=True)
    landing, lake = work / "landing", work / "lake"
    for key, _ in listing:  # hard links: the same bytes, no copy
        if key not in held:
            (landing / key).parent.mkdir(parents=True, exist_ok=True)
            os.link(sim / key, landing / key)
    say(f"  egress run over all but {last} ({len(held)} objects held back) ...")
    first_seconds, _ = egress_run(landing, lake)
    for key in held:
        (landing / key).parent.mkdir(parents=True, exist_ok=True)
        os.link(sim / key, landing / key)
    say(f"  {len(held)} objects of {last} landed; egress run ...")
    seconds, summary = egress_run(landing, lake)
    steps = {s["asset"]: s["seconds"] for s in summary.get("steps", [])}
    return {
        "enis": H2A_ENIS,
        "hour": last,
        "objects": len(held),
        "hour_to_alert_seconds": round(seconds, 1),
        "in_command_seconds": summary.get("seconds"),
        "alerts_step_ran": "egress_alerts" in steps,
        "steps_seconds": steps,
        "first_run_seconds": round(first_seconds, 1),
    }


def assets_report(sim: Path) -> dict[str, Any]:
    """The product's own path beside DuckDB on the same landed objects, and hour to alert."""
    flow_files = flow_objects(sim)
    listing = DATA / "landed-flow-files.json"
    listing.write_text(json.dumps([str(f) for f in flow_files]))
    warm(flow_files)
    say(f"measuring egress run (the assets) over {sim} ...")
    ours = child("assets", {"files": str(listing), "sim": str(sim)})
    say(f"  {json.dumps(ours)}")
    say("measuring duckdb on the same landed gzip objects ...")
    duck = child("duckdb", {"files": str(listing), "sim": str(sim)})
    say(f"  {json.dumps(duck)}")
    say(f"measuring hour to alert ({H2A_ENIS} ENIs) ...")
    latency = hour_to_alert()
    say(f"  {json.dumps(latency)}")
    return {
        "assets": {
            "pipeline": "egress run: raw_vpc_flow_logs -> processed_vpc_flow_logs -> "
            "egress_flows_hourly (Dagster materializations, lake on disk), gzip objects",
            **ours,
            "duckdb_seconds": duck["seconds"],
            "duckdb_rows": duck["rows"],
            "duckdb_peak_rss_mb": duck["peak_rss_mb"],
            "ratio_to_duckdb": round(ours["seconds"] / duck["seconds"], 3),
        },
        "gzip_ratio_to_duckdb": round(ours["seconds"] / duck["seconds"], 3),
        "hour_to_alert_seconds": latency["hour_to_alert_seconds"],
        "hour_to_alert": latency,
    }


def write_report(report: dict[str, Any]) -> None:
    """Merge into latest.json: a partial run (``assets``) keeps the other keys."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "latest.json"
    previous = json.loads(path.read_text()) if path.is_file() else {}
    merged = {**previous, **report}
    path.write_text(json.dumps(merged, indent=2) + "\n")
    say(json.dumps(report, indent=2))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="generate (cached) data and run every measurement")
    run.add_argument("--rows", type=int, default=20_000_000, help="records in the main set")
    run.add_argument(
        "--large-rows", type=int, default=60_000_000, help="records in the large set (0 to skip)"
    )
    sub.add_parser("assets", help="only the product's path (egress run) and hour to alert")
    measure = sub.add_parser("measure", help=argparse.SUPPRESS)
    measure.add_argument("kind")
    measure.add_argument("args")
    ns = parser.parse_args()
    if ns.command == "measure":
        run_measure(ns.kind, ns.args)
        return 0
    sim = base_simulation()
    if ns.command == "assets":
        write_report(assets_report(sim))
        return 0
    rows = getattr(ns, "rows", 20_000_000)
    large = getattr(ns, "large_rows", 60_000_000)
    sets: dict[str, tuple[list[Path], int]] = {}
    if large:
        sets["plain_large"] = replicate(sim, large, "plain")
    sets["plain"] = replicate(sim, rows, "plain")
    sets["gzip"] = replicate(sim, rows, "gzip")
    lists = {}
    for name, (files, _) in sets.items():
        listing = DATA / f"{name}-files.json"
        listing.write_text(json.dumps([str(f) for f in files]))
        lists[name] = str(listing)

    def timed(kind: str, name: str) -> dict[str, Any]:
        seconds = warm(sets[name][0])
        say(f"measuring {kind} on {name} ({sets[name][1]:,} records; read once in {seconds} s) ...")
        result = child(kind, {"files": lists[name], "sim": str(sim)})
        say(f"  {json.dumps(result)}")
        return result

    plain = timed("ours", "plain")
    duck = timed("duckdb", "plain")
    gz = timed("ours", "gzip")
    gz_limit = timed("gzip_limit", "gzip")
    report: dict[str, Any] = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "pipeline": "flow-log objects -> facts_from_files -> classify -> price_facts",
        "rows": plain["rows"],
        "seconds": plain["seconds"],
        "rows_per_s": plain["rows_per_s"],
        "peak_rss_mb": plain["peak_rss_mb"],
        "duckdb_seconds": duck["seconds"],
        "duckdb_peak_rss_mb": duck["peak_rss_mb"],
        "ratio_to_duckdb": round(plain["seconds"] / duck["seconds"], 3),
        "gzip": {
            "rows": gz["rows"],
            "seconds": gz["seconds"],
            "rows_per_s": gz["rows_per_s"],
            "peak_rss_mb": gz["peak_rss_mb"],
            "gzip_limit_rows_per_s": round(gz["rows"] / gz_limit["seconds"]),
            "share_of_limit": round(
                gz["rows"] / gz["seconds"] / (gz["rows"] / gz_limit["seconds"]), 3
            ),
        },
        "targets": {
            "rows_per_s": 5_000_000,
            "gzip_share_of_limit": 0.8,
            "peak_rss_mb": 1536,
            "ratio_to_duckdb": 1.0,
        },
    }
    if large:
        big = timed("ours", "plain_large")
        report["large"] = {k: big[k] for k in ("rows", "seconds", "rows_per_s", "peak_rss_mb")}
    report |= assets_report(sim)
    write_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
