"""Training once: fingerprint cache hit/miss, determinism, atomic folders, the CLI end to end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from convbench.cli import main
from convbench.core.fsutil import atomic_dir
from convbench.models.data import DataConfig
from convbench.models.train import TrainConfig, train_all


def tiny_config(root, out, **kw) -> TrainConfig:
    data = DataConfig(data_dir=root, image_size=16, color_mode="grayscale", seed=kw.pop("seed", 0))
    return TrainConfig(models=kw.pop("models", ("lesson5_custom",)), epochs=1, seed=data.seed, data=data,
                       out=out, pretrain_epochs=1, workers=kw.pop("workers", 0), **kw)


def weights_of(trained):
    return [w for layer in trained.load().layers for w in layer.get_weights()]


@pytest.mark.slow
def test_second_train_is_a_cache_hit_and_seed_change_a_miss(image_folder, tmp_path):
    from convbench.core.records import TrainedRecord, read_record

    _, first = train_all(tiny_config(image_folder, tmp_path), progress=False)
    _, again = train_all(tiny_config(image_folder, tmp_path), progress=False)
    _, other = train_all(tiny_config(image_folder, tmp_path, seed=1), progress=False)
    assert first[0].record.cached is False and again[0].record.cached is True
    assert again[0].folder == first[0].folder and again[0].record.fingerprint == first[0].record.fingerprint
    assert other[0].folder != first[0].folder and other[0].record.cached is False
    stored = read_record(first[0].folder / "summary.json", TrainedRecord)
    assert stored.test_accuracy == first[0].record.test_accuracy and stored.params > 0
    assert stored.history["loss"] and len(stored.history["loss"]) == stored.epochs
    for name in (TrainedRecord.MODEL_FILE, TrainedRecord.INFERENCE_FILE, TrainedRecord.REFERENCE_FILE,
                 TrainedRecord.ILLUSTRATIONS_FILE):
        assert (first[0].folder / name).is_file(), name


@pytest.mark.slow
def test_same_seed_gives_identical_weights_whatever_the_number_of_workers(image_folder, tmp_path):
    # Workers pin TensorFlow to one thread, so two side by side train what one alone trains.
    # (lesson1's pretrained base would be trained first on each side: half a minute that shows nothing more.)
    _, two = train_all(tiny_config(image_folder, tmp_path / "a", models=("lesson5_custom", "lesson4_strided"),
                                   workers=2), progress=False)
    _, one = train_all(tiny_config(image_folder, tmp_path / "b", models=("lesson5_custom",), workers=1),
                       progress=False)
    assert two[0].record.fingerprint == one[0].record.fingerprint
    assert two[0].record.test_accuracy == one[0].record.test_accuracy
    for wa, wb in zip(weights_of(two[0]), weights_of(one[0])):
        np.testing.assert_array_equal(wa, wb)


def test_an_exception_mid_write_leaves_no_folder_at_all(tmp_path):
    final = tmp_path / "trained" / "m-123"
    with pytest.raises(RuntimeError):
        with atomic_dir(final) as tmp:
            (tmp / "model.keras").write_bytes(b"half")
            raise RuntimeError("failed mid-write")
    assert not final.exists()
    assert os.listdir(tmp_path / "trained") == []


def test_a_kill_mid_write_leaves_no_finished_folder(tmp_path):
    """SIGKILL cannot be caught: only the temporary folder may remain, never the final name."""
    final = tmp_path / "trained" / "m-123"
    writer = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from convbench.core.fsutil import atomic_dir
        with atomic_dir(Path({str(final)!r})) as tmp:
            (tmp / "model.keras").write_bytes(b"half")
            (Path({str(tmp_path)!r}) / "started").touch()
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", writer])
    deadline = time.monotonic() + 60
    while not (tmp_path / "started").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (tmp_path / "started").exists(), "the writer never got to write"
    assert not final.exists()
    assert [p.name.endswith(".tmp") for p in (tmp_path / "trained").iterdir()] == [True]


def test_a_finished_write_replaces_an_older_folder(tmp_path):
    final = tmp_path / "trained" / "m-123"
    for content in (b"old", b"new"):
        with atomic_dir(final) as tmp:
            (tmp / "model.keras").write_bytes(content)
    assert (final / "model.keras").read_bytes() == b"new"
    assert os.listdir(tmp_path / "trained") == ["m-123"]  # no .old or .tmp left behind


@pytest.mark.slow
def test_cli_train_end_to_end(image_folder, tmp_path, capsys):
    argv = ["train", "--data", str(image_folder), "--image-size", "16", "--color-mode", "grayscale",
            "--epochs", "1", "--models", "lesson4_strided", "--workers", "0", "--out", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "lesson4_strided" in out and "trained in" in out
    assert main(argv) == 0
    assert "cached" in capsys.readouterr().out


def test_cli_unknown_model_is_a_clean_error(tmp_path, capsys):
    assert main(["train", "--models", "lesson9", "--out", str(tmp_path)]) == 2
    assert "unknown model(s) lesson9; valid:" in capsys.readouterr().err
