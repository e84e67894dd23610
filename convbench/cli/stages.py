"""The stage commands: train, optimize, bench, report and run (all four in a row)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from convbench.cli.options import (add_accuracy_budget, add_bench_args, add_console_args, add_data_args,
                                   add_optimize_args, add_ray_args, add_train_args, bench_options, folder,
                                   image_side, optimize_config, ray_problem, train_config)


def register(sub) -> None:
    p = sub.add_parser("train", help="train each lesson convnet once (cached by fingerprint)")
    add_train_args(p)
    add_data_args(p)
    add_console_args(p)
    p.set_defaults(handler=_cmd_train)

    p = sub.add_parser("optimize",
                       help="prune, cluster, quantize and convert every trained convnet or your --model (cached)")
    add_train_args(p)
    add_optimize_args(p)
    p.add_argument("--scaling-sides", nargs="*", type=image_side, metavar="PX",
                   help="input sides of the scaling benchmark's random-weight files to build, each 8..1024 "
                        "(default: 28 64 128; the option alone: none)")
    add_ray_args(p)
    add_data_args(p)
    add_console_args(p)
    p.set_defaults(handler=_cmd_optimize)

    p = sub.add_parser("bench", help="benchmark every artifact in the manifest with pytest-benchmark")
    add_bench_args(p)
    p.add_argument("--out", type=folder, default=Path("artifacts"), metavar="DIR",
                   help="artifacts folder (default artifacts/)")
    add_console_args(p)
    p.set_defaults(handler=_cmd_bench)

    p = sub.add_parser("report", help="write report.md, report.html and recommendation.json for a run; "
                                      "over two or more runs, the cross-machine report")
    p.add_argument("runs", nargs="+", type=Path, metavar="RUN",
                   help="a run folder (artifacts/runs/<time>) holding bench.json; two or more: the cross-machine "
                        "report over them (as `convbench fleet-report`)")
    add_accuracy_budget(p, "recommend variants, and judge the notes' accuracy claims,")
    from convbench.cli.fleet import add_cross_machine_args, add_save_arg

    add_cross_machine_args(p)
    add_save_arg(p)
    add_console_args(p)
    p.set_defaults(handler=_cmd_report)

    p = sub.add_parser("run", help="train (cached) -> optimize (cached) -> bench -> report, on the default data")
    add_train_args(p)
    add_optimize_args(p)
    add_bench_args(p, with_selection=False)
    add_accuracy_budget(p, "recommend variants, and judge the notes' accuracy claims,")
    add_ray_args(p)
    add_data_args(p)
    add_console_args(p)
    p.set_defaults(handler=_cmd_run)


def _cmd_train(args) -> int:
    from convbench.core.lock import folder_lock
    from convbench.models.train import train_all

    config = train_config(args)
    with folder_lock(args.out, "train"):
        dataset, trained = train_all(config)
    _print_trained(dataset.describe(), [t.record for t in trained], [t.folder for t in trained])
    return 0


def _print_trained(dataset, trained: list, folders: list) -> None:
    """dataset: a DatasetInfo; trained: TrainedRecords, with the folders they are in."""
    from convbench.core.tables import print_table

    rows = [[t.name, f"{t.test_accuracy:.2%}", f"{t.params:,}", f"{t.flops_per_image / 1e6:.2f}",
             "cached" if t.cached else
             ("your model, not retrained" if t.source else f"trained in {t.train_seconds:.1f} s"),
             str(folder)]
            for t, folder in zip(trained, folders)]
    print_table(["model", "test accuracy", "params", "MFLOP/image", "training", "folder"], rows,
                title=f"data: {dataset.name}, {len(dataset.class_names)} classes, input {tuple(dataset.input_shape)}, "
                      f"fingerprint {dataset.fingerprint[:12]}", right=(1, 2, 3))


def check_ray(args) -> None:
    """--ray's address, Ray itself and the options that cannot go with it: one UserError, before any work."""
    from convbench.core.errors import UserError

    problem = ray_problem(args)
    if problem:
        raise UserError(problem)
    if args.ray is not None:
        from convbench.fleet.cluster import import_ray, split_address

        split_address(args.ray)
        import_ray()


@contextlib.contextmanager
def job_runner(args):
    """How the optimize jobs run: local worker processes, or with --ray Ray tasks on the cluster
    (connected, and its software compared with this one, before any work)."""
    if args.ray is None:
        from convbench.core.workers import run_jobs

        yield run_jobs
        return
    from convbench.fleet.optimize import DEFAULT_TIMEOUT_S, cluster_runner

    with cluster_runner(args.ray, args.timeout or DEFAULT_TIMEOUT_S) as runner:
        yield runner


def _optimize(args, config, tables: bool = True, run=None) -> tuple[dict, bool]:
    """Train (cached) and optimize (cached); print what was trained and a summary (its per-model
    tables only with `tables`). -> (manifest, any failed)"""
    from convbench.core.workers import run_jobs
    from convbench.optimize.stage import optimize_all
    from convbench.optimize.summary import print_summary

    manifest = optimize_all(config, run=run or run_jobs)
    _print_trained(manifest.dataset, manifest.trained, [manifest.resolve(t.folder) for t in manifest.trained])
    return manifest, bool(print_summary(manifest, tables))


def _cmd_optimize(args) -> int:
    from convbench.core.lock import folder_lock
    from convbench.optimize.scaling import SIDES

    sides = SIDES if args.scaling_sides is None else tuple(args.scaling_sides)
    check_ray(args)
    config = optimize_config(args, sides)  # bad names and values fail here, before any work
    with job_runner(args) as run, folder_lock(args.out, "optimize"):
        _, failed = _optimize(args, config, run=run)
    print(f"manifest: {args.out / 'manifest.json'}")
    return 1 if failed else 0


def _mlflow_client(args):
    """The MLflow client of --mlflow, checked before any work; None without the option."""
    if not args.mlflow:
        return None
    from convbench.tracking import client

    return client(args.mlflow)


def _log_mlflow(tracker, run_dir, rc: int) -> int:
    if tracker is None or run_dir is None:
        return rc
    from convbench.core import quiet
    from convbench.tracking import log_run

    try:
        print(f"mlflow: logged as run {log_run(tracker, run_dir)} at {tracker.tracking_uri}")
    except Exception as exc:  # the run folder is kept whatever the server says
        print(f"convbench: error: logging {run_dir} to MLflow failed: {str(exc).splitlines()[0][:300]}",
              file=quiet.user_stream())
        return rc or 1
    return rc


def bench_and_store(options, tables: bool = True):
    """Benchmark into a new run folder, then add it to the artifacts folder's results store
    (checked first: a store this convbench cannot write fails in a second, not after minutes of
    measuring). Returns (exit status, run folder or None)."""
    from convbench.benchmarks.bench import run_bench_with_folder
    from convbench.store.db import check_store

    check_store(options.out)
    rc, run_dir = run_bench_with_folder(options, tables=tables)
    return (rc, None) if run_dir is None else (store_run(options.out, rc, run_dir), run_dir)


def store_run(out: Path, rc: int, run_dir: Path) -> int:
    """Add a published run folder to the store of artifacts folder `out`. A store that refuses
    it leaves the folder as it is, says how to store it later, and makes the exit status 1."""
    from convbench.core import quiet
    from convbench.core.errors import UserError
    from convbench.store.db import import_runs, store_path

    store = store_path(out)
    try:
        (done,) = import_runs(store, [run_dir])
    except UserError as exc:
        print(f"convbench bench: the run was not stored ({exc}); `convbench import {run_dir}` stores it later",
              file=quiet.user_stream())   # sys.stderr is the library log here
        return rc or 1
    print(f"stored as run {done.run_id[:12]} in {store}")
    return rc


def _cmd_bench(args) -> int:
    from convbench.core.lock import folder_lock

    options, tracker = bench_options(args), _mlflow_client(args)
    with folder_lock(args.out, "bench"):
        rc, run_dir = bench_and_store(options)
    return _log_mlflow(tracker, run_dir, rc)


def _cmd_report(args) -> int:
    from convbench.core.errors import UserError
    from convbench.core.records import resolve_bench_json

    for run in args.runs:
        resolve_bench_json(run)   # a missing run: its one line now, before the report's imports
    if len(args.runs) > 1:
        from convbench.cli.fleet import cross_machine_report

        return cross_machine_report(args.runs, args.price, args.reference, args.accuracy_budget, args.save)
    if args.price or args.reference or args.save:
        raise UserError("--price, --reference and --save: only for the cross-machine report, over two or more run "
                        "folders")
    from convbench.report.build import build_report

    print(f"report: {build_report(args.runs[0], args.accuracy_budget)}")
    return 0


def _cmd_run(args) -> int:
    import time

    from convbench.core import quiet
    from convbench.benchmarks.bench import BENCH_LOG
    from convbench.core.lock import folder_lock
    from convbench.core.tables import print_lines
    from convbench.store.db import check_store

    started = time.perf_counter()
    # Every option is checked before the first model trains: values while parsing; here the
    # cheap checks first, then the lesson and variant names (their registries import TensorFlow).
    options, tracker = bench_options(args), _mlflow_client(args)
    check_ray(args)
    check_store(args.out)   # before training and optimizing (minutes); bench checks again before measuring
    from convbench.optimize.scaling import QUICK_SIDES, SIDES
    from convbench.report.build import write_report

    config = optimize_config(args, QUICK_SIDES if args.quick else SIDES)
    with folder_lock(args.out, "run"):
        # The stages' own tables stay out: the report has them, the console a short summary.
        with job_runner(args) as run:   # --ray: the cluster for the optimize jobs only; the bench runs here
            _, failed = _optimize(args, config, tables=False, run=run)
        rc, run_dir = bench_and_store(options, tables=False)
    if run_dir is None:
        print("convbench run: the benchmark wrote no results; no report", file=quiet.user_stream())
        return rc or 1
    report = write_report(run_dir, args.accuracy_budget)
    print_lines(["", f"what to ship (accuracy within {args.accuracy_budget:g} pp of fp32):",
                 *(f"  {s.device}: {v}" for s in report.summaries for v in s.verdicts)])
    html = run_dir / "report.html"
    print(f"\nreport: {html}\n        {html.with_suffix('.md')}\n"
          f"convbench run finished in {time.perf_counter() - started:.0f} s")
    if not quiet.verbose():
        print(f"benchmark output (pytest): {run_dir / BENCH_LOG}")
    return _log_mlflow(tracker, run_dir, 1 if (rc or failed) else 0)
