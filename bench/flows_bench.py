"""``make bench``: what ``egress run`` ships, at volume, beside DuckDB and polars in the same run.

Generates flow-log objects with the simulator (AWS's S3 key layout, header line), replicates its
hours into busier copies until the target record counts are reached (plain text for 20M and 60M
records, gzip for 20M), lays each set out as a landing zone (the flow objects plus the
simulation's other sources, hard-linked), then measures, each in its own process so its peak
RSS is its own:

* ``assets`` (ours): ``egress run`` over the landing zone into a fresh lake and Dagster
  instance; the figure is the seconds of the flow layers' materializations (raw_vpc_flow_logs:
  one pass over the objects to per-hour shape sums, each record once; processed_vpc_flow_logs:
  classified; egress_flows_hourly: priced), the run's other layers reported beside it;
* DuckDB: the same parse and hourly aggregation per record shape in one SQL query, 2 threads
  (classification and pricing, which ours includes, are not in its figure);
* polars streaming: the same parse and aggregation with ``scan_csv`` and the streaming engine;
* the gzip limit: decompressing the same gzip objects to /dev/null on both cores.

and ``hour_to_alert_seconds``: a 2,000-ENI account's last hour lands after the rest has been
run; the wall seconds of the ``egress run`` process that takes it from landed objects to the
alerts written (incremental: one new hour). ``python bench/flows_bench.py assets`` runs only
the small set and hour to alert.

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

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parent
DATA = ROOT / "data"
RESULTS = ROOT / "results"
BASE_DAYS = 1
BASE_ENIS = 400
SEED = 5
IP_RANGES = ROOT.parents[1] / "shared" / "samples" / "network" / "ip-ranges.json"


def say(message: str) -> None:
    print(message, flush=True)


# ---- data generation --------------------------------------------------------------------------
def simulation(days: int, enis: int) -> Path:
    """The simulator's account of ``days`` and ``enis`` (cached under bench/data)."""
    from egress_platform.simulate import simulate

    out = DATA / f"sim-{days}d-{enis}enis-seed{SEED}"
    if not (out / "ground_truth.json").is_file():
        say(f"simulating {days} days with {enis} ENIs into {out} ...")
        simulate(out, date(2026, 11, 1), days, SEED, enis=enis)
    return out


def base_simulation() -> Path:
    return simulation(BASE_DAYS, BASE_ENIS)


def flow_objects(sim: Path) -> list[Path]:
    return sorted(p for p in (sim / "AWSLogs").rglob("*.log.gz") if "vpcflowlogs" in p.as_posix())


def replicate(sim: Path, rows: int, kind: str) -> tuple[Path, list[Path], int]:
    """A landing zone whose flow objects hold at least ``rows`` records: busier copies of the
    base hours, plain or gzip, under AWS's keys (``..._<hash>r<replica>.log[.gz]``), beside the
    simulation's other sources. Returns (landing zone, its flow objects, records).

    Replica ``r`` of an object carries the same hours, interfaces and peers with different
    ephemeral ports: more connections per hour, as in a busier account. The hourly facts stay
    the same size however many records there are, which is what makes memory flat testable.
    Replicas are cached; a larger set reuses the smaller one's objects (hard links).
    """
    store = DATA / kind
    sources = flow_objects(sim)
    base = [gzip.decompress(p.read_bytes()) for p in sources]
    header = base[0].split(b"\n", 1)[0] + b"\n"
    frames = [_frame(data) for data in base]
    base_rows = sum(f.height for f in frames)
    replicas = -(-rows // base_rows)
    suffix = ".log.gz" if kind == "gzip" else ".log"
    landing = DATA / "landing" / f"{kind}-{replicas * base_rows}"
    files: list[Path] = []
    jobs = []
    with ProcessPoolExecutor(max_workers=2) as pool:
        for replica in range(replicas):
            for source, frame in zip(sources, frames, strict=True):
                key = source.relative_to(sim).as_posix().removesuffix(".log.gz")
                path = store / f"{key}r{replica:03d}{suffix}"
                files.append(path)
                if not path.is_file():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    body = _busier(frame, replica)
                    jobs.append(pool.submit(_write, path, header + body, kind == "gzip"))
            if jobs:
                say(f"  {kind}: {(replica + 1) * base_rows:,} / {rows:,} records generated")
            if len(jobs) > 256:
                [j.result() for j in jobs]
                jobs.clear()
        [j.result() for j in jobs]
    if not (landing / ".complete").is_file():
        for path in [p for p in sim.rglob("*") if p.is_file()]:
            key = path.relative_to(sim).as_posix()
            if "vpcflowlogs" not in key and key != "ground_truth.json":
                _link(path, landing / key)
        for path in files:
            _link(path, landing / path.relative_to(store))
        (landing / ".complete").write_text("")
    return landing, sorted(files), replicas * base_rows


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        os.link(source, target)


REALISTIC_BUSY_ENIS = 10
REALISTIC_REMOTES_PER_DAY = 1_000_000  # distinct remote addresses a day per busy ENI
REALISTIC_IPV6_SHARE = 0.1


def realistic() -> tuple[Path, list[Path], int]:
    """A landing zone at real cardinality: the 2,000-ENI account's first day (its NAT gateways,
    endpoints and v5 records with pkt-srcaddr/pkt-dstaddr and traffic-path), plus, per hour, one
    more object per busy internet-facing ENI: each of the ten busiest meets a million distinct
    remote addresses a day (a tenth IPv6), each connection logged both ways, so the number of
    (interface, peer) shapes grows with the records instead of staying flat."""
    sim = h2a_simulation()
    landing = DATA / "landing" / "realistic"
    day = "2026/11/01"
    flows = sorted(p for p in sim.rglob("*.log.gz") if "vpcflowlogs" in p.as_posix())
    day_flows = [p for p in flows if f"/{day}/" in p.as_posix()]
    header = gzip.decompress(day_flows[0].read_bytes()).split(b"\n", 1)[0] + b"\n"
    if not (landing / ".complete").is_file():
        for path in [p for p in sim.rglob("*") if p.is_file()]:
            key = path.relative_to(sim).as_posix()
            if key != "ground_truth.json" and ("vpcflowlogs" not in key or f"/{day}/" in key):
                _link(path, landing / key)
        records = pl.concat([_frame(gzip.decompress(p.read_bytes())) for p in day_flows])
        busy = (
            records.filter(
                (pl.col("flow-direction") == "egress") & (pl.col("type") == "IPv4")
                & ~pl.col("dstaddr").str.contains(r"^(10\.|172\.|192\.168\.)")
            )
            .group_by("interface-id").len().sort("len", descending=True)
            .head(REALISTIC_BUSY_ENIS).get_column("interface-id").to_list()
        )  # fmt: skip
        own = records.filter(pl.col("interface-id").is_in(busy)).unique("interface-id")
        rng = np.random.default_rng(SEED)
        with ProcessPoolExecutor(max_workers=2) as pool:
            jobs = []
            for n, eni in enumerate(own.iter_rows(named=True)):
                remotes = _remote_addresses(rng, REALISTIC_REMOTES_PER_DAY)
                for hour, source in enumerate(day_flows):
                    share = len(remotes) // len(day_flows)
                    peers = remotes[hour * share : (hour + 1) * share]
                    key = source.relative_to(sim).as_posix().replace(".log.gz", f"b{n:02d}.log.gz")
                    body = _busy_hour(eni, peers, hour, int(rng.integers(0, 2**31)))
                    jobs.append(pool.submit(_write, landing / key, header + body, True))
                say(f"  realistic: busy ENI {n + 1}/{len(own)} written")
            [j.result() for j in jobs]
        (landing / ".complete").write_text("")
    files = sorted(p for p in landing.rglob("*.log.gz") if "vpcflowlogs" in p.as_posix())
    rows = sum(gzip.decompress(p.read_bytes()).count(b"\n") - 1 for p in files)
    return landing, files, rows


def _remote_addresses(rng: np.random.Generator, count: int) -> list[str]:
    """Distinct public addresses: IPv4 outside the special-purpose ranges, and IPv6."""
    v4 = rng.integers(1 << 24, 224 << 24, size=count * 2, dtype=np.int64)
    first = v4 >> 24
    v4 = v4[~np.isin(first, [10, 100, 127, 169, 172, 192, 198, 203])]
    v4 = np.unique(v4)[: int(count * (1 - REALISTIC_IPV6_SHARE))]
    rng.shuffle(v4)
    quads = [f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}" for a in v4.tolist()]
    v6 = [
        f"2a0{rng.integers(0, 10)}:{g[0]:x}:{g[1]:x}:{g[2]:x}::{g[3]:x}"
        for g in rng.integers(1, 0xFFFF, size=(count - len(quads), 4)).tolist()
    ]
    return quads + v6


def _busy_hour(eni: dict[str, Any], peers: list[str], hour: int, seed: int) -> bytes:
    """One hour of a busy ENI's connections, one egress and one ingress record each."""
    rng = np.random.default_rng(seed)
    n = len(peers)
    epoch = 1793491200 + hour * 3600
    start = epoch + rng.integers(0, 3000, n)
    packets = rng.integers(1, 200, n)
    frame = pl.DataFrame(
        {
            "peer": peers,
            "sport": rng.integers(32768, 60999, n),
            "start": start,
            "packets": packets,
            "bytes": packets * rng.integers(60, 1500, n),
        }
    ).with_columns(
        pl.when(pl.col("peer").str.contains(":")).then(pl.lit("IPv6")).otherwise(pl.lit("IPv4"))
        .alias("type")
    )  # fmt: skip

    def side(direction: str) -> pl.Expr:
        me, peer = pl.lit(eni["srcaddr"]), pl.col("peer")
        out = direction == "egress"
        src, dst = (me, peer) if out else (peer, me)
        sport, dport = (pl.col("sport"), pl.lit(443)) if out else (pl.lit(443), pl.col("sport"))
        fields = [
            pl.lit("5"), pl.lit(eni["account-id"]), pl.lit(eni["interface-id"]), src, dst,
            sport.cast(pl.String), dport.cast(pl.String), pl.lit("6"),
            pl.col("packets").cast(pl.String), pl.col("bytes").cast(pl.String),
            pl.col("start").cast(pl.String), (pl.col("start") + 60).cast(pl.String),
            pl.lit("ACCEPT"), pl.lit("OK"), pl.lit(eni["vpc-id"]), pl.lit(eni["subnet-id"]),
            pl.lit(eni["instance-id"]), pl.lit(eni["az-id"]), pl.col("type"), src, dst,
            pl.lit("-"), pl.lit("-"), pl.lit(direction), pl.lit("8" if out else "-"),
            pl.lit(eni["region"]),
        ]  # fmt: skip
        return pl.concat_str(fields, separator=" ")

    lines = frame.select(pl.concat_list(side("egress"), side("ingress")).alias("line")).explode(
        "line"
    )
    return ("\n".join(lines.get_column("line").to_list()) + "\n").encode()


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


def measure_polars(files: list[Path]) -> dict[str, Any]:
    """polars' own streaming engine on the same objects: scan, parse, group per hour and shape."""
    from egress_platform.network.classify import STAGE_KEY
    from egress_platform.sources import vpc_flow

    with gzip.open(files[0]) if files[0].suffix == ".gz" else files[0].open("rb") as first:
        header = first.readline().decode().split()
    scan = pl.scan_csv(
        [str(p) for p in files],
        separator=" ",
        has_header=False,
        skip_rows=1,
        schema=vpc_flow.text_schema(header),
        null_values=["-"],
        quote_char=None,
    )
    present = [k for k in STAGE_KEY if k in scan.collect_schema().names()]
    query = (
        scan.with_columns((pl.col("start") - pl.col("start") % 3600).alias("hour"))
        .group_by("hour", *present)
        .agg(pl.col("bytes").sum(), pl.col("packets").sum(), pl.len().alias("flows"))
    )
    start = time.perf_counter()
    result = query.collect(engine="streaming")
    seconds = time.perf_counter() - start
    return {
        "groups": result.height,
        "rows": int(result["flows"].sum()),
        "seconds": round(seconds, 3),
    }


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
    flow = outcome.summary["sources"]["vpc_flow"]
    records = int(flow["records"]) + int(flow.get("duplicates_dropped", 0))
    flow_seconds = sum(steps.get(a, 0.0) for a in FLOW_STEPS)
    return {
        "rows": records,
        "seconds": round(flow_seconds, 1),
        "rows_per_s": round(records / flow_seconds) if flow_seconds else None,
        "run_seconds": round(run_seconds, 1),
        "flow_steps_seconds": {a: steps.get(a) for a in FLOW_STEPS},
        "steps_seconds": steps,
        "quarantined": int(flow["quarantined"]),
        "estimated_usd": outcome.summary.get("estimated_usd"),
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
    env = dict(os.environ)
    if IP_RANGES.is_file():  # AWS's own ranges when ../shared is beside the clone
        env.setdefault("EGRESS_IP_RANGES", str(IP_RANGES))
    proc = subprocess.Popen(
        [sys.executable, __file__, "measure", kind, json.dumps(args)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
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
    if kind == "assets":
        result = measure_assets(Path(args["landing"]))
    elif kind == "polars":
        result = measure_polars(files)
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
    if IP_RANGES.is_file():
        env.setdefault("EGRESS_IP_RANGES", str(IP_RANGES))
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


def h2a_simulation() -> Path:
    """The 2,000-ENI account of 4 days (hour to alert, and the realistic set's first day)."""
    return simulation(H2A_DAYS, H2A_ENIS)


def hour_to_alert() -> dict[str, Any]:
    """Seconds from "the last hour's objects landed" to "its alerts written", through
    ``egress run`` on a 2,000-ENI account whose earlier hours were already run."""
    import shutil

    from egress_platform.sources.discover import discover

    sim = h2a_simulation()
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


def measure_set(name: str, landing: Path, files: list[Path]) -> dict[str, Any]:
    """``egress run`` (the assets), DuckDB and polars on one landing zone's flow objects."""
    listing = DATA / f"{name}-files.json"
    listing.write_text(json.dumps([str(f) for f in files]))
    args = {"files": str(listing), "landing": str(landing)}
    results = {}
    for kind in ("assets", "duckdb", "polars"):
        seconds = warm(files)
        say(f"measuring {kind} on {name} ({len(files)} objects, read once in {seconds} s) ...")
        results[kind] = child(kind, args)
        say(f"  {json.dumps(results[kind])}")
    ours, duck, polars = results["assets"], results["duckdb"], results["polars"]
    return {
        **{k: ours[k] for k in ("rows", "seconds", "rows_per_s", "peak_rss_mb")},
        "run_seconds": ours["run_seconds"],
        "flow_steps_seconds": ours["flow_steps_seconds"],
        "steps_seconds": ours["steps_seconds"],
        "quarantined": ours["quarantined"],
        "duckdb_rows": duck["rows"],
        "duckdb_seconds": duck["seconds"],
        "duckdb_peak_rss_mb": duck["peak_rss_mb"],
        "ratio_to_duckdb": round(ours["seconds"] / duck["seconds"], 3),
        "polars_seconds": polars["seconds"],
        "polars_peak_rss_mb": polars["peak_rss_mb"],
        "ratio_to_polars": round(ours["seconds"] / polars["seconds"], 3),
    }


def latency_report() -> dict[str, Any]:
    say(f"measuring hour to alert ({H2A_ENIS} ENIs) ...")
    latency = hour_to_alert()
    say(f"  {json.dumps(latency)}")
    return {"hour_to_alert_seconds": latency["hour_to_alert_seconds"], "hour_to_alert": latency}


def write_report(report: dict[str, Any]) -> None:
    """Merge into latest.json: a partial run (``assets``) keeps the other keys."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "latest.json"
    previous = json.loads(path.read_text()) if path.is_file() else {}
    merged = {**previous, **report}
    path.write_text(json.dumps(merged, indent=2) + "\n")
    say(json.dumps(report, indent=2))


PIPELINE = (
    "egress run: landed objects -> raw_vpc_flow_logs (one pass: per-hour shape sums, each "
    "record once) -> processed_vpc_flow_logs (classified) -> egress_flows_hourly (priced); "
    "Dagster materializations, lake and instance on disk"
)


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
    sub.add_parser("assets", help="only the simulation's own landing zone and hour to alert")
    measure = sub.add_parser("measure", help=argparse.SUPPRESS)
    measure.add_argument("kind")
    measure.add_argument("args")
    ns = parser.parse_args()
    if ns.command == "measure":
        run_measure(ns.kind, ns.args)
        return 0
    sim = base_simulation()
    report: dict[str, Any] = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "pipeline": PIPELINE,
    }
    if ns.command == "assets":
        small = measure_set("small", sim, flow_objects(sim))
        write_report(report | {"assets": {"small": small}} | latency_report())
        return 0
    rows = getattr(ns, "rows", 20_000_000)
    large = getattr(ns, "large_rows", 60_000_000)
    sets = {"plain": replicate(sim, rows, "plain"), "gzip": replicate(sim, rows, "gzip")}
    if large:
        sets["plain_large"] = replicate(sim, large, "plain")
    sets["realistic"] = realistic()
    measured = {
        name: measure_set(name, landing, files) for name, (landing, files, _) in sets.items()
    }
    seconds = warm(sets["gzip"][1])
    say(f"measuring the gzip limit (read once in {seconds} s) ...")
    listing = DATA / "gzip-files.json"
    gz_limit = child("gzip_limit", {"files": str(listing), "landing": ""})
    plain, gz = measured["plain"], measured["gzip"]
    report |= {
        **{k: plain[k] for k in ("rows", "seconds", "rows_per_s", "peak_rss_mb")},
        "duckdb_seconds": plain["duckdb_seconds"],
        "duckdb_peak_rss_mb": plain["duckdb_peak_rss_mb"],
        "ratio_to_duckdb": plain["ratio_to_duckdb"],
        "gzip": {
            **{k: gz[k] for k in ("rows", "seconds", "rows_per_s", "peak_rss_mb")},
            "duckdb_seconds": gz["duckdb_seconds"],
            "gzip_limit_rows_per_s": round(gz["rows"] / gz_limit["seconds"]),
            "share_of_limit": round(
                gz["rows"] / gz["seconds"] / (gz["rows"] / gz_limit["seconds"]), 3
            ),
        },
        "gzip_ratio_to_duckdb": gz["ratio_to_duckdb"],
        "assets": measured,
        "realistic": {
            "set": "the 2,000-ENI account's first day (NAT gateways, endpoints, v5 records with "
            f"pkt-srcaddr/pkt-dstaddr and traffic-path) plus {REALISTIC_BUSY_ENIS} busy ENIs "
            f"meeting {REALISTIC_REMOTES_PER_DAY:,} distinct remote addresses a day each "
            f"({REALISTIC_IPV6_SHARE:.0%} IPv6), gzip",
            **{
                k: measured["realistic"][k]
                for k in (
                    "rows",
                    "seconds",
                    "rows_per_s",
                    "peak_rss_mb",
                    "flow_steps_seconds",
                    "duckdb_seconds",
                    "ratio_to_duckdb",
                    "polars_seconds",
                    "ratio_to_polars",
                )
            },
        },
        "targets": {
            "rows_per_s": 4_000_000,
            "ratio_to_duckdb": 1.0,
            "realistic_ratio_to_duckdb": 0.8,
            "peak_rss_mb": 1024,
            "hour_to_alert_seconds": 60,
        },
    }
    if large:
        big = measured["plain_large"]
        report["large"] = {k: big[k] for k in ("rows", "seconds", "rows_per_s", "peak_rss_mb")}
    write_report(report | latency_report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
