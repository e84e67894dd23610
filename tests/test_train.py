"""Training once: fingerprint cache hit/miss, determinism, atomic folders, the CLI end to end."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from convbench.cli import main
from convbench.fsutil import atomic_dir
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
    _, first = train_all(tiny_config(image_folder, tmp_path), progress=False)
    _, again = train_all(tiny_config(image_folder, tmp_path), progress=False)
    _, other = train_all(tiny_config(image_folder, tmp_path, seed=1), progress=False)
    assert first[0].summary["cached"] is False and again[0].summary["cached"] is True
    assert again[0].folder == first[0].folder
    assert other[0].folder != first[0].folder and other[0].summary["cached"] is False
    summary = json.loads((first[0].folder / "summary.json").read_text())
    for key in ("test_accuracy", "params", "flops_per_image", "train_seconds", "fingerprint", "dataset"):
        assert key in summary
    assert (first[0].folder / "history.json").exists()


@pytest.mark.slow
def test_same_seed_gives_identical_weights_whatever_the_number_of_workers(image_folder, tmp_path):
    # Workers pin TensorFlow to one thread, so two side by side train what one alone trains.
    _, two = train_all(tiny_config(image_folder, tmp_path / "a", models=("lesson1_transfer", "lesson5_custom"),
                                   workers=2), progress=False)
    _, one = train_all(tiny_config(image_folder, tmp_path / "b", models=("lesson1_transfer",), workers=1),
                       progress=False)
    assert two[0].summary["fingerprint"] == one[0].summary["fingerprint"]
    assert two[0].summary["test_accuracy"] == one[0].summary["test_accuracy"]
    for wa, wb in zip(weights_of(two[0]), weights_of(one[0])):
        np.testing.assert_array_equal(wa, wb)


def test_interrupted_write_leaves_no_finished_folder(tmp_path):
    final = tmp_path / "trained" / "m-123"
    with pytest.raises(RuntimeError):
        with atomic_dir(final) as tmp:
            (tmp / "model.keras").write_bytes(b"half")
            raise RuntimeError("killed mid-write")
    assert not final.exists()
    assert os.listdir(tmp_path / "trained") == []


@pytest.mark.slow
def test_cli_train_end_to_end(image_folder, tmp_path, capsys):
    argv = ["train", "--data", str(image_folder), "--image-size", "16", "--color-mode", "grayscale",
            "--epochs", "1", "--models", "lesson4_strided", "--out", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "lesson4_strided" in out and "trained in" in out
    assert main(argv) == 0
    assert "cached" in capsys.readouterr().out


def test_cli_unknown_model_is_a_clean_error(tmp_path, capsys):
    assert main(["train", "--models", "lesson9", "--out", str(tmp_path)]) == 2
    assert "unknown model(s) lesson9; valid:" in capsys.readouterr().err
