"""`--mlflow URI` against a real local MLflow tracking server (sqlite backend, artifacts served by
the server, a free loopback port): a run folder is logged and read back through MLflow's own
client. Skipped, with the reason, where the mlflow extra is not installed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from tests.support.factories import latency_bench, memory_bench, samples, write_run

pytest.importorskip("mlflow", reason="the mlflow extra is not installed (pip install -e '.[mlflow]'; make test does)")

from convbench.cli import main  # noqa: E402
from convbench.tracking import client, log_run  # noqa: E402

KEY = "lesson5_custom", "tflite_int8", "tflite_int8", "litert", "cpu", 1, 1
START_TIMEOUT_S = 180  # a cold start imports MLflow twice and creates the database: ~15 s, more on busy cores


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    log = (folder / "server.log").open("wb")
    # `python -m mlflow`, not the venv's `mlflow` script: a script's shebang names the interpreter
    # it was installed with, which in a copied venv is another checkout's.
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1",
                             "--port", str(port), "--workers", "1", "--backend-store-uri",
                             f"sqlite:///{folder / 'mlflow.db'}", "--artifacts-destination", str(folder / "artifacts")],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start: {(folder / 'server.log').read_text()[-2000:]}")
            time.sleep(0.25)
        yield uri
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and its uvicorn worker
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_a_run_is_logged_and_read_back_through_mlflow(server, tmp_path):
    from mlflow.tracking import MlflowClient

    times = samples(0, 0.5, 0.01)
    run = write_run(tmp_path / "20260101T000000Z", [latency_bench(KEY, times, accuracy=0.97, fraction_of_roof=0.25),
                                                    memory_bench(peak_rss_mib=123.0)], git_commit="ab" * 20)
    (run / "report.md").write_text("# report\n")
    mlrun_id = log_run(client(server), run)

    got = MlflowClient(server).get_run(mlrun_id)
    label = "lesson5_custom/tflite_int8/tflite_int8 litert cpu b1 t1"
    assert got.data.metrics[f"p50_ms/latency {label}"] == pytest.approx(float(np.median(times)) * 1e3)
    assert got.data.metrics[f"accuracy/latency {label}"] == pytest.approx(0.97)
    assert got.data.metrics[f"fraction_of_roof/latency {label}"] == pytest.approx(0.25)
    assert got.data.metrics["peak_rss_mib/memory lesson5_custom/tflite_fp32/tflite_fp32 litert cpu b1 t1"] == 123.0
    assert got.data.params["git_commit"] == "ab" * 20 and got.data.params["machine"].startswith("Test CPU")
    assert got.data.tags["mlflow.source.git.commit"] == "ab" * 20 and got.info.status == "FINISHED"
    names = {a.path for a in MlflowClient(server).list_artifacts(mlrun_id)}
    assert names == {"bench.json", "report.md"}
    copy = MlflowClient(server).download_artifacts(mlrun_id, "bench.json", str(tmp_path / "back"))
    assert Path(copy).read_bytes() == (run / "bench.json").read_bytes()


def test_a_server_that_does_not_answer_fails_before_any_work(tmp_path, capsys):
    out = tmp_path / "artifacts"
    rc = main(["bench", "--out", str(out), "--mlflow", f"http://127.0.0.1:{free_port()}"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "no MLflow tracking server answers" in err
    assert not (out / "runs").exists()


def test_a_run_mlflow_cannot_take_is_one_error_line_and_the_folder_stays(server, tmp_path, capsys):
    from convbench.cli.stages import _log_mlflow

    run = tmp_path / "20260101T000000Z"
    run.mkdir()
    (run / "bench.json").write_text("{not json")
    assert _log_mlflow(client(server), run, 0) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"convbench: error: logging {run} to MLflow failed: ")
    assert (run / "bench.json").read_text() == "{not json"
