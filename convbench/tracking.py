"""`--mlflow URI`: log a bench run to an MLflow tracking server, for teams that track runs
there: its parameters (options, commit, data, machine, versions), headline metrics (per row:
p50 latency, accuracy, efficiency against the roof, peak memory) and its files (bench.json,
the manifest snapshot, the report where there is one). Needs the `mlflow` extra."""

from __future__ import annotations

import os
import time
from pathlib import Path

from convbench.core.errors import UserError

EXPERIMENT = "convbench"
HEADLINES = ("p50_ms", "accuracy", "fraction_of_roof", "peak_rss_mib", "server_max_qps")   # StoredResult columns
RUN_FILES = ("bench.json", "manifest.json", "report.md", "report.html", "recommendation.json")
BATCH = 100  # MLflow takes at most 100 params and 1000 metrics per log_batch call


def client(uri: str):
    """An MlflowClient for `uri`, checked to answer now (no retries), so that a typo or a server
    that is down fails before the benchmark, not after it."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise UserError("--mlflow needs the mlflow extra: pip install 'convbench[mlflow]'") from None
    from mlflow.exceptions import MlflowException

    c = MlflowClient(tracking_uri=uri)
    # No retries for this one check: MLflow's default (7, with backoff) holds a dead URI for minutes.
    retries = os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES")
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    try:
        c.search_experiments(max_results=1)
    except (MlflowException, OSError) as exc:
        raise UserError(f"--mlflow {uri}: no MLflow tracking server answers "
                        f"({str(exc).splitlines()[0][:200]})") from None
    finally:
        if retries is None:
            del os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]
        else:
            os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = retries
    return c


def log_run(c, run_dir: Path, experiment: str = EXPERIMENT) -> str:
    """Log the run folder `run_dir` as one MLflow run; returns its MLflow run id."""
    from mlflow.entities import Metric, Param, RunTag

    from convbench.core.records import load_run
    from convbench.store.rows import run_id, stored_result

    run = load_run(run_dir)
    record, identity = run.record, run_id(run)
    found = c.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else c.create_experiment(experiment)
    tags = {"convbench.run_id": identity, "convbench.machine_id": record.machine.fingerprint}
    if record.git_commit:
        tags["mlflow.source.git.commit"] = record.git_commit
    mlrun = c.create_run(experiment_id, run_name=Path(run.folder).name, tags=tags)
    params = {**{f"option.{k}": v for k, v in record.options.items()}, "git_commit": record.git_commit,
              "git_dirty": record.git_dirty, "dataset_fingerprint": record.dataset_fingerprint,
              "machine": record.machine.summary, "machine_id": record.machine.fingerprint,
              **{f"version.{k}": v for k, v in {**record.versions, **record.runtime_versions}.items()},
              "roofs": record.roofs.describe()}
    now_ms = int(time.time() * 1000)
    metrics = [Metric(f"{name}/{row.label}", float(getattr(row, name)), now_ms, 0)
               for row in (stored_result(identity, r) for r in run.results)
               for name in HEADLINES if getattr(row, name) is not None]
    metrics.append(Metric("rows", float(len(run.results)), now_ms, 0))
    metrics.append(Metric("failed_rows", float(len(record.failed)), now_ms, 0))
    plist = [Param(k, str(v)[:6000]) for k, v in params.items()]
    for i in range(0, max(len(plist), len(metrics)), BATCH):
        c.log_batch(mlrun.info.run_id, metrics=metrics[i:i + BATCH], params=plist[i:i + BATCH],
                    tags=[RunTag("convbench.folder", str(run.folder))] if i == 0 else [])
    for name in RUN_FILES:
        if (run.folder / name).is_file():
            c.log_artifact(mlrun.info.run_id, str(run.folder / name))
    c.set_terminated(mlrun.info.run_id)
    return mlrun.info.run_id
