"""``egress``: the command line of the Egress Cost Optimizer."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError

from egress_platform.app.errors import CliError, StepFailed, UnusableInput
from egress_platform.settings import get_settings, reload_settings, settings_help
from egress_platform.sources import SOURCES, get_source
from egress_platform.sources.common import SourceError
from egress_platform.sources.vpc_flow import parse_log_format

DEFAULT_START = "2026-11-01"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"egress: error: {message}; see `{self.prog} --help`\n")


def _date(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD") from None


def _whole(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"{value} must be at least {least}")
    return value


def _positive(text: str) -> int:
    return _whole(text, 1)


def _non_negative(text: str) -> int:
    return _whole(text, 0)


MAX_DAYS, MAX_ENIS, LAST_DAY = 3660, 2000, date(2100, 12, 31)


def check_simulation(start: date, days: int, enis: int) -> None:
    """The simulator's limits, said before it starts rather than after an hour of work."""
    if days > MAX_DAYS:
        raise CliError(f"--days {days} is more than {MAX_DAYS} (ten years); simulate fewer days")
    if enis > MAX_ENIS:
        raise CliError(f"--enis {enis} is more than {MAX_ENIS}; simulate fewer ENIs")
    if start > LAST_DAY or (LAST_DAY - start).days + 1 < days:
        raise CliError(f"the simulated days must end by {LAST_DAY}; choose an earlier --start")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="egress",
        description="Egress Cost Optimizer: find, explain and fix AWS data-transfer cost surprises.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    sim = sub.add_parser(
        "simulate",
        help="write a synthetic account's logs, bill and ground truth in AWS's S3 layouts",
        description="Simulate an AWS account (flow logs, CUR, S3/CloudFront logs, Config, CloudTrail, "
        "Cost Explorer) with injected incidents; writes ground_truth.json beside the data.",
    )
    sim.add_argument("--out", required=True, type=Path, help="landing folder to write into")
    sim.add_argument(
        "--start",
        type=_date,
        default=_date(DEFAULT_START),
        help=f"first day, YYYY-MM-DD (default {DEFAULT_START})",
    )
    sim.add_argument("--days", type=_positive, default=21, help="number of days (default 21)")
    sim.add_argument(
        "--seed",
        type=_non_negative,
        default=7,
        help="random seed; same seed, same bytes (default 7)",
    )
    sim.add_argument(
        "--enis",
        type=_positive,
        default=10,
        help="workload ENIs; extra ones above 10 add generic workers (default 10)",
    )

    parse = sub.add_parser(
        "parse",
        help="parse files of one source and report records, quarantine and variant",
        description="Parse files of one source; prints per file the record count, the quarantined "
        "count with the first reasons, and the detected variant.",
    )
    parse.add_argument(
        "source", choices=list(SOURCES), metavar="SOURCE", help=f"one of: {', '.join(SOURCES)}"
    )
    parse.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="files to parse (plain, gzip or Parquet)",
    )
    parse.add_argument("--json", action="store_true", help="print a JSON list instead of text")
    parse.add_argument(
        "--log-format",
        help="flow-log format for files without a header line, e.g. '${version} ${srcaddr} ...'",
    )
    parse.add_argument(
        "--log-format-file",
        type=Path,
        help="file holding the flow-log format (like the AWS docs' .fields)",
    )

    demo = sub.add_parser(
        "demo",
        help="simulate an account and ingest every source through Dagster, with a summary",
        description="The main job: simulate an account into the lake's landing zone, materialize "
        "every raw asset (all partitions) through Dagster and print a per-source summary.",
    )
    demo.add_argument(
        "--days",
        type=_positive,
        default=None,
        help="days to simulate (default 21; 28 with EGRESS_SCALE=large, which also runs 40 ENIs)",
    )
    demo.add_argument("--seed", type=_non_negative, default=7, help="simulation seed (default 7)")
    demo.add_argument(
        "--start",
        type=_date,
        default=_date(DEFAULT_START),
        help=f"first day (default {DEFAULT_START})",
    )
    run = sub.add_parser(
        "run",
        help="run the whole pipeline over a landing zone that is already there (what is new)",
        description="Discover what has landed under --landing (all seven sources in AWS's own S3 "
        "layouts: AWSLogs/<account>/{vpcflowlogs,CloudTrail,Config}/<region>/..., CUR report "
        "folders with manifests, s3-access-logs/, cloudfront-logs/, cost-explorer/), take the "
        "partitions from the data, and materialize every layer from raw to the dashboard through "
        "the Dagster instance for what is new or changed since the last run. Writes "
        "<lake>/reports/summary.json. Exit 0 when the pipeline ran (anomalies or not), 1 when a "
        "step failed, 2 on unusable input. A second run over the same objects does nothing.",
        epilog="settings (environment variables, default in brackets):\n" + settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "--landing", required=True, help="landing zone: a folder or s3://bucket/prefix"
    )
    run.add_argument(
        "--lake", help="lake: a folder or s3://bucket/prefix (default $EGRESS_LAKE_DIR or ./lake)"
    )
    run.add_argument("--since", type=_date, help="only partitions from this day, YYYY-MM-DD")
    run.add_argument("--until", type=_date, help="only partitions up to this day, YYYY-MM-DD")
    ev = sub.add_parser(
        "evaluate",
        help="score the detector on simulated accounts, or on a labelled landing zone",
        description="Simulate one account per seed, run the local pipeline end to end (classify, "
        "price, features, daily-retrained model, hourly detection) and score the anomalies "
        "against ground_truth.json: recall, precision per event, detection delay, $ impact "
        "error, root cause, share of the bill explained. With --landing and --truth, score a "
        "landing zone that is already there (any tool's, in AWS's delivery layout) against a "
        "ground-truth file in the format of egress_platform/detect/ground_truth.schema.json.",
    )
    ev.add_argument(
        "--keep", type=Path, help="keep each seed's landing zone and lake under this folder"
    )
    ev.add_argument(
        "--cv",
        type=Path,
        metavar="KEPT",
        help="choose the detector settings by leave-one-seed-out cross-validation over the "
        "seeds a --keep run left in KEPT, and print the held-out figure",
    )
    ev.add_argument("--landing", help="a landing zone to score instead of simulated seeds")
    ev.add_argument("--truth", type=Path, help="its ground-truth JSON file (with --landing)")
    ev.add_argument(
        "--lake", type=Path, help="with --landing: where the lake goes (default: a temporary one)"
    )
    ev.add_argument(
        "--seeds", type=_seeds, default=[1, 2, 3], help="comma-separated (default 1,2,3)"
    )
    ev.add_argument("--days", type=_positive, default=21, help="days per account (default 21)")
    ev.add_argument("--out", type=Path, default=Path("evaluation.json"), help="JSON report path")
    ev.add_argument(
        "--ip-ranges",
        default="",
        help="AWS ip-ranges.json path or URL (default $EGRESS_IP_RANGES, else the simulator's own "
        "ip-ranges.json beside each landing zone)",
    )
    sc = sub.add_parser(
        "score",
        help="score any timestamp,value series with the detector core",
        description="Read a CSV with columns timestamp,value and write timestamp,value,anomaly_score "
        "(0..1; 0.632 is the core's alert line) with the detector core that egress_anomalies "
        "judges hours with: novelty against the values seen so far and the anomaly likelihood "
        "of the distance from the trailing level, from the first row on. Rows out of order are "
        "sorted and empty values are gaps (both noted on stderr).",
    )
    sc.add_argument("file", type=Path, help="CSV with columns timestamp,value")
    sc.add_argument("--out", type=Path, help="output CSV (default: standard output)")
    nab = sub.add_parser(
        "nab-eval",
        help="NAB score of the detector on a NAB-layout folder, beside the published detectors",
        description="Score every series under DIR/data/<corpus>/ (every corpus with --corpus all), "
        "compute the NAB score (standard, reward_low_FP_rate, reward_low_FN_rate) from "
        "DIR/labels/combined_windows.json with one threshold per profile over all files, and "
        "print it per corpus and in total beside the published detectors' scores on the same "
        "files (DIR/results/<detector>/*_scores.csv). --cv adds the leave-one-corpus-out figure.",
    )
    nab.add_argument("dir", type=Path, help="NAB folder, e.g. ../shared/samples/nab")
    nab.add_argument(
        "--corpus",
        default="all",
        help="data subfolder to score, or 'all' (default): every corpus under DIR/data",
    )
    nab.add_argument(
        "--cv",
        action="store_true",
        help="also print the leave-one-corpus-out figure: each corpus scored with the setting "
        "and threshold chosen on the other corpora",
    )
    nab.add_argument("--out", type=Path, default=Path("nab_scores.json"), help="JSON report path")
    approve = sub.add_parser(
        "approve",
        help="approve a planned remediation action and apply it",
        description="Record the approval of ACTION_ID (from remediation_actions, the demo's output "
        "or an alert) in the audit log, then re-materialize remediation_actions for its hour in "
        "approve mode so it is applied (unless its resource is protected or already fixed), and "
        "send the alerts. On AWS it also releases the Step Functions execution waiting for it.",
    )
    approve.add_argument("action_id", help="the action id, e.g. act-1f2e3d4c5b6a7988")
    approve.add_argument(
        "--by", default=os.environ.get("USER", "cli"), help="who approves (default $USER)"
    )
    dev = sub.add_parser(
        "dev",
        help="Dagit and the daemon on the lake (dagster dev), stopped on the first signal",
        description="Run `dagster dev` on the lake's Dagster instance ($DAGSTER_HOME, default "
        "<lake>/.dagster): Dagit on http://127.0.0.1:3000, the daemon running the landing "
        "sensor, schedules and automation conditions. The first SIGTERM, SIGINT (Ctrl-C) or "
        "SIGHUP, or the end of --parent-pid, stops all of it within seconds (`make dev` passes "
        "make's own pid). Sensors that start side effects (anomaly_response_sensor) stay "
        "stopped until you turn them on in Dagit.",
    )
    dev.add_argument(
        "-w",
        "--workspace",
        type=Path,
        default=Path("workspace.yaml"),
        help="default workspace.yaml",
    )
    dev.add_argument("--host", default="127.0.0.1", help="Dagit's address (default 127.0.0.1)")
    dev.add_argument("--port", type=_positive, default=3000, help="Dagit's port (default 3000)")
    dev.add_argument(
        "--parent-pid", type=int, default=None, help="stop when this process ends (make's pid)"
    )
    lineage = sub.add_parser(
        "audit-lineage",
        help="print the recorded lineage of an anomaly back to the landed files",
        description="Walk from the egress_anomalies partition that first reported ANOMALY_ID "
        "upstream through every asset partition it depends on, down to the landing objects of "
        "the raw partitions. Each step shows the materialization's run id, data version and code "
        "version, read from the Dagster instance's event log ($DAGSTER_HOME, default lake/.dagster).",
    )
    lineage.add_argument("anomaly_id", help="the anomaly id, e.g. anom-1a2b3c4d5e6f7a8b")
    lineage.add_argument("--json", action="store_true", help="print JSON instead of a tree")
    return parser


def _seeds(text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"seeds must be comma-separated integers, not {text!r}"
        ) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        reload_settings()  # the environment, read once for this command (errors said below)
        handler = {
            "simulate": cmd_simulate,
            "parse": cmd_parse,
            "demo": cmd_demo,
            "run": cmd_run,
            "evaluate": cmd_evaluate,
            "score": cmd_score,
            "nab-eval": cmd_nab_eval,
            "approve": cmd_approve,
            "dev": cmd_dev,
            "audit-lineage": cmd_audit_lineage,
        }[args.command]
        return handler(args)
    except (CliError, SourceError, UnusableInput) as exc:
        print(f"egress: error: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        problem = exc.errors()[0]
        name = "EGRESS_" + str(problem["loc"][0]).upper() if problem["loc"] else "a setting"
        print(f"egress: error: {name}: {problem['msg']}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file or folder the command was pointed at
        where = f" {exc.filename}" if exc.filename else ""
        print(f"egress: error:{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except StepFailed as exc:
        print(f"egress: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("egress: interrupted", file=sys.stderr)
        return 130


def _say(message: str) -> None:
    print(message, flush=True)


def cmd_dev(args: argparse.Namespace) -> int:
    from egress_platform.app.dev import dagster_dev_command, run_dev

    if not args.workspace.is_file():
        raise CliError(f"{args.workspace} is not a file; run `egress dev` from the repository root")
    from egress_platform.app.event_log import ensure_instance_settings

    home = Path(os.environ.get("DAGSTER_HOME") or get_settings().lake_root() / ".dagster")
    try:
        ensure_instance_settings(home)
    except OSError as exc:
        raise CliError(f"cannot write the Dagster instance at {home}: {exc.strerror}") from exc
    os.environ["DAGSTER_HOME"] = str(home.resolve())
    command = dagster_dev_command(args.workspace, args.host, args.port)
    return run_dev(command, args.parent_pid, say=_say)


def cmd_simulate(args: argparse.Namespace) -> int:
    from egress_platform.simulate import simulate

    check_simulation(args.start, args.days, args.enis)
    started = time.monotonic()
    try:
        summary = simulate(
            args.out, args.start, args.days, args.seed, args.enis, progress=lambda m: _say(f"  {m}")
        )
    except OSError as exc:
        raise CliError(
            f"cannot write to {args.out}: {exc.strerror}; choose a writable --out folder"
        ) from exc
    _say(
        f"simulated account {summary.account_id}: {args.days} days from {args.start}, "
        f"{summary.incidents} incidents, in {time.monotonic() - started:.1f}s"
    )
    for source in SOURCES:
        _say(
            f"  {source:<14} {summary.files.get(source, 0):>6} files {summary.records.get(source, 0):>10,} records "
            f"{summary.bytes_written.get(source, 0) / 1e6:>8.1f} MB"
        )
    _say(f"ground truth: {args.out / 'ground_truth.json'}")
    return 0


def _log_format(args: argparse.Namespace) -> list[str] | None:
    text = args.log_format
    if args.log_format_file is not None:
        try:
            text = args.log_format_file.read_text()
        except OSError as exc:
            raise CliError(
                f"cannot read --log-format-file {args.log_format_file}: {exc.strerror}"
            ) from exc
    if text is None:
        return None
    if not text.strip():
        raise CliError(
            "the flow-log format is empty; give its fields, e.g. '${version} ${srcaddr} ...'"
        )
    try:
        return parse_log_format(text)
    except ValueError as exc:
        raise CliError(str(exc)) from exc


def cmd_parse(args: argparse.Namespace) -> int:
    spec = get_source(args.source)
    log_format = _log_format(args)
    if log_format is not None and args.source != "vpc_flow":
        raise CliError("--log-format applies to the vpc_flow source only")
    reports: list[dict[str, Any]] = []
    for path in args.paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CliError(
                f"cannot read {path}: {exc.strerror}; check the path and permissions"
            ) from exc
        from egress_platform.sources import vpc_flow

        file_format = log_format
        sidecar = path.with_suffix(".fields")
        if args.source == "vpc_flow" and file_format is None and sidecar.is_file():
            # A saved copy of the flow log's log-format beside the file (as in the AWS docs samples).
            file_format = parse_log_format(sidecar.read_text())
        result = (
            vpc_flow.parse_bytes(data, str(path), file_format)
            if args.source == "vpc_flow"
            else spec.parse(data, str(path))
        )
        reasons = result.quarantine.get_column("reason").to_list()
        reports.append(
            {
                "path": str(path),
                "records": result.records.height,
                "quarantined": result.quarantined,
                "input_records": result.input_records,
                "variant": result.variant,
                "first_reasons": list(dict.fromkeys(reasons))[:3],
                "notes": result.notes,
            }
        )
    if args.json:
        print(json.dumps(reports, indent=2))
        return 0
    for r in reports:
        print(
            f"{r['path']}: {r['records']} records, {r['quarantined']} quarantined  [{r['variant']}]"
        )
        for reason in r["first_reasons"]:
            print(f"    quarantined: {reason}")
        for note in r["notes"]:
            print(f"    note: {note}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from egress_platform.app.demo import demo_scale, run_demo

    scale = demo_scale()
    days = args.days or get_settings().demo_days or scale.days
    check_simulation(args.start, days, scale.enis)
    return run_demo(args.start, days, args.seed, _say, scale.enis)


def cmd_run(args: argparse.Namespace) -> int:
    from egress_platform.app.run import run_landing, say_summary

    if args.since and args.until and args.since > args.until:
        raise CliError(f"--since {args.since} is after --until {args.until}")
    outcome = run_landing(args.landing, args.lake, _say, args.since, args.until)
    if outcome.ran:
        say_summary(outcome.summary, _say)
        _say(f"summary: {outcome.summary_uri}")
        _say(f"done in {outcome.summary['seconds']:.0f}s")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from egress_platform.app.evaluation import evaluate, table

    if (args.landing is None) != (args.truth is None):
        raise CliError("--landing and --truth go together: the landing zone and its ground truth")
    if not args.seeds:
        raise CliError("--seeds names no seed; give comma-separated integers, e.g. 1,2,3")
    remote = args.ip_ranges.startswith(("http://", "https://"))
    if args.ip_ranges and not remote and not Path(args.ip_ranges).is_file():
        raise CliError(
            f"--ip-ranges {args.ip_ranges} does not exist; give AWS's ip-ranges.json path or URL"
        )
    _writable_file(args.out, "--out")
    if args.ip_ranges:
        os.environ["EGRESS_IP_RANGES"] = args.ip_ranges
        reload_settings()
    if args.cv is not None:
        from egress_platform.app.evaluation import cross_validate

        if not args.cv.is_dir():
            raise CliError(f"--cv {args.cv} is not a folder; give the folder --keep wrote")
        _say(f"cross-validating the detector settings over the seeds kept in {args.cv} ...")
        try:
            report = cross_validate(args.cv, _say)
        except ValueError as error:
            raise CliError(str(error)) from None
        args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
        _say(
            f"held out: F1 {report['held_out_f1']:.3f}, median delay "
            f"{report['held_out_median_delay_h']} h; chosen on all seeds: "
            f"{report['chosen_on_all_seeds']}"
        )
        _say(f"report written to {args.out}")
        return 0
    if args.landing is not None:
        report = _evaluate_landing(args)
    else:
        _say(f"evaluating seeds {args.seeds} over {args.days} days each ...")
        report = evaluate(args.seeds, args.days, _say, args.keep)
    _say(table(report))
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    _say(f"report written to {args.out}")
    return 0


def _evaluate_landing(args: argparse.Namespace) -> dict[str, Any]:
    import tempfile

    from egress_platform.app.evaluation import TruthError, evaluate_landing, load_truth

    if not str(args.landing).startswith("s3://") and not Path(args.landing).is_dir():
        raise CliError(f"--landing {args.landing} is not a folder; give the landing zone's root")
    try:
        load_truth(args.truth)  # before the run, not after it
    except TruthError as error:
        raise CliError(str(error)) from None
    _say(f"evaluating the landing zone {args.landing} against {args.truth} ...")
    if args.lake is not None:
        return evaluate_landing(args.landing, args.truth, args.lake, _say)
    with tempfile.TemporaryDirectory(prefix="egress-eval-") as tmp:
        return evaluate_landing(args.landing, args.truth, Path(tmp) / "lake", _say)


def _writable_file(path: Path, flag: str) -> None:
    """Fail before the work, not after it: the output must be a file in a writable folder."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise CliError(f"{flag} {path} is a folder; give a file name")
    if not folder.is_dir():
        raise CliError(f"{flag} {path}: folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise CliError(f"{flag} {path}: folder {folder} is not writable")


def cmd_score(args: argparse.Namespace) -> int:
    import sys

    from egress_platform.detect.series_score import read_series, score_series

    if not args.file.is_file():
        raise SourceError(f"{args.file} does not exist")
    if args.out:
        _writable_file(args.out, "--out")
    try:
        series, notes = read_series(str(args.file))
    except ValueError as exc:
        raise SourceError(str(exc)) from None
    for note in notes:
        print(f"note: {args.file}: {note}", file=sys.stderr)
    scored = score_series(series)
    if args.out:
        scored.write_csv(args.out)
        _say(f"{scored.height:,} points scored into {args.out}")
    else:
        sys.stdout.write(scored.write_csv())
    return 0


def cmd_nab_eval(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from egress_platform.detect import core, nab
    from egress_platform.detect.series_score import read_series

    labels = args.dir / "labels" / "combined_windows.json"
    if not (args.dir / "data").is_dir() or not labels.is_file():
        raise SourceError(
            f"{args.dir} is not a NAB folder (needs data/<corpus>/ and labels/combined_windows.json)"
        )
    _writable_file(args.out, "--out")
    try:
        windows = nab.load_windows(labels)
    except (ValueError, TypeError, AttributeError) as exc:
        raise SourceError(f"{labels} is not NAB's combined_windows.json: {exc}") from None
    corpora = nab.corpora_in(args.dir, args.corpus)
    settings = nab.grid_settings() if args.cv else {}
    default = ",".join(f"{k}={getattr(core.DEFAULT_SETTINGS, k):g}" for k in nab.CV_GRID)
    settings.setdefault(default, {})
    series: list[tuple[str, np.ndarray, list[tuple[int, int]]]] = []
    for corpus in corpora:
        paths = sorted((args.dir / "data" / corpus).glob("*.csv"))
        if not paths:
            raise CliError(f"no CSV files under {args.dir / 'data' / corpus}; is --corpus right?")
        labelled = 0
        for path in paths:
            name = f"{corpus}/{path.name}"
            try:
                frame, _ = read_series(str(path))
            except ValueError as exc:
                raise SourceError(str(exc)) from None
            stamps = frame.get_column("timestamp").to_list()
            values = frame.get_column("value").fill_null(float("nan")).to_numpy()
            series.append((name, values, nab.window_indices(stamps, windows.get(name, []))))
            labelled += len(series[-1][2])
        _say(f"  {corpus}: {len(paths)} files, {labelled} windows")
    scored: dict[str, list[nab.LabelledFile]] = {}
    for label, changes in settings.items():
        chosen = core.DEFAULT_SETTINGS.with_(**changes)
        scored[label] = [
            nab.LabelledFile(name, core.score(values, chosen), found)
            for name, values, found in series
        ]
    _say(f"  scored {len(series)} files with {len(settings)} setting(s)")
    items = scored[default]
    thresholds = np.r_[core.to_score(np.geomspace(0.3, 30.0, 240)), 1.01]
    found = nab.evaluate_detector(scored, default, corpora, thresholds, args.cv)
    table: dict[str, dict[str, dict[str, float]]] = found["table"]  # type: ignore[assignment]
    if (args.dir / "results").is_dir():
        table.update(nab.published_table(args.dir / "results", items, corpora))
    columns = [*corpora, "total"]
    for profile in nab.PROFILES:
        _say(f"\n{profile} (normalised NAB score; one threshold per profile over all files)")
        _say(f"{'detector':<24}" + "".join(f"{c[:13]:>14}" for c in columns))
        ranked = sorted(table.items(), key=lambda kv: -kv[1].get(profile, {}).get("total", -1e9))
        for detector, by_profile in ranked:
            cells = by_profile.get(profile, {})
            _say(
                f"{detector:<24}" + "".join(f"{cells.get(c, float('nan')):>14.1f}" for c in columns)
            )
    if args.cv:
        _say("\nheld-out: per corpus, the setting and threshold chosen on the other corpora")
        for profile, held_out in found["cv"].items():  # type: ignore[attr-defined]
            for fold in held_out:
                _say(
                    f"  {profile:<20} {fold['corpus']:<24} {fold['setting']:<36} "
                    f"threshold {fold['threshold']:.4f}"
                )
    report = {"files": len(items), "corpora": corpora, "settings": default, **found}
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    _say(f"report written to {args.out}")
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    from egress_platform.app.operate import approve_action

    return approve_action(args.action_id, args.by, _say)


def cmd_audit_lineage(args: argparse.Namespace) -> int:
    from egress_platform.app import lineage
    from egress_platform.app.run import quiet_dagster
    from resources.profiles import lake_dir

    quiet_dagster()
    from dagster import DagsterInstance

    from egress_platform.app.definitions import defs

    home = os.environ.setdefault("DAGSTER_HOME", str(lake_dir() / ".dagster"))
    if not Path(home, "dagster.yaml").is_file():
        raise CliError(f"no Dagster instance at {home}; run `make demo` first or set DAGSTER_HOME")
    instance = DagsterInstance.get()
    resources = defs.resources or {}
    try:
        report = lineage.audit(
            args.anomaly_id, instance, defs.resolve_asset_graph(), resources["lake"]
        )
    except (lineage.UnknownAnomaly, lineage.NotMaterialized) as exc:
        raise CliError(str(exc.args[0])) from None
    print(json.dumps(report, indent=2) if args.json else lineage.render_tree(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
