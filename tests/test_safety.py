"""Nothing runs that should not, nothing lies after a crash: a hostile model in a manifest is
refused without running its code, the folder lock makes a second command wait and says who
holds it, stale temporaries go away, files get the umask's permissions, bad input fails before
any work with one line naming the file or value."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from convbench.cli import main
from convbench.core.errors import UserError
from convbench.core.fsutil import atomic_dir, remove_stale_temporaries, write_bytes_atomic
from convbench.core.lock import folder_lock


def test_a_hostile_h5_named_keras_is_refused_without_running_its_lambda(tmp_path):
    """An HDF5 model with a Lambda layer, saved as `inference.keras`: the legacy loader would
    run the lambda's bytecode (ignoring safe_mode). The runtime refuses the file unread."""
    from convbench.core.runtimes import RUNTIMES
    from convbench.core.tfsetup import keras

    marker = tmp_path / "pwned"
    target = str(marker)  # a str: the HDF5 writer serializes the lambda's closure
    model = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x + 0 * open(target, "w").write("x"))])
    model.save(tmp_path / "m.h5")
    hostile = tmp_path / "inference.keras"
    (tmp_path / "m.h5").rename(hostile)
    marker.unlink()  # building the model ran the lambda; from here on only loading could
    with pytest.raises(UserError, match=r"inference\.keras: not a zip \.keras model file"):
        RUNTIMES["keras_eager"].load(hostile)
    assert not marker.exists()
    # The hazard is real: the plain loader runs the lambda despite safe_mode.
    keras.models.load_model(hostile, safe_mode=True)
    assert marker.exists()


def test_a_lambda_in_a_zip_keras_file_is_refused_by_safe_mode(tmp_path):
    from convbench.core.runtimes import RUNTIMES
    from convbench.core.tfsetup import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x * 2)])
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(UserError, match=r"lambda\.keras: refused:.*safe_mode"):
        RUNTIMES["keras_eager"].load(tmp_path / "lambda.keras")


def test_stale_temporaries_of_killed_runs_are_removed(tmp_path):
    leftovers = [tmp_path / "runs" / ".20260101T000000Z.abc.tmp", tmp_path / "trained" / ".lesson4-12.x.tmp",
                 tmp_path / "optimized" / "m" / ".cqat-1.y.tmp"]
    for folder in leftovers:
        (folder / "sub").mkdir(parents=True)
    (tmp_path / ".manifest.json.q1.tmp").write_text("{")
    (tmp_path / "optimized" / ".scratch-7.onnx").write_bytes(b"")
    keep = [tmp_path / "manifest.json", tmp_path / "runs" / "20260101T000000Z" / "bench.json"]
    for path in keep:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    with folder_lock(tmp_path, "test"):
        pass
    assert all(p.exists() for p in keep)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.name.startswith(".") and p.name != ".convbench.lock"
                  and p.name != ".convbench.owner") == []
    assert remove_stale_temporaries(tmp_path / "missing") == []


def test_a_second_command_waits_for_the_lock_and_names_the_holder(tmp_path, capsys):
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from convbench.core.lock import folder_lock
        with folder_lock({str(tmp_path)!r}, "optimize"):
            open({str(tmp_path / "held")!r}, "w").close()
            time.sleep(30)
    """)])
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "held").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(UserError, match=rf"in use by convbench optimize \(pid {holder.pid}\) after 0.5 s"):
            with folder_lock(tmp_path, "bench", wait_s=0.5):
                pass
        assert "is in use by convbench optimize" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    with folder_lock(tmp_path, "bench", wait_s=5):  # free again once the holder is gone
        pass


@pytest.mark.parametrize("umask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700),
                                                         (0o002, 0o664, 0o775)])
def test_written_files_and_folders_follow_the_umask(tmp_path, umask, file_mode, dir_mode):
    old = os.umask(umask)
    try:
        write_bytes_atomic(tmp_path / "report.html", b"<html>")
        with atomic_dir(tmp_path / "run") as tmp:
            write_bytes_atomic(tmp / "bench.json", b"{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "report.html").stat().st_mode) == file_mode
    assert stat.S_IMODE((tmp_path / "run").stat().st_mode) == dir_mode
    assert stat.S_IMODE((tmp_path / "run" / "bench.json").stat().st_mode) == file_mode


def test_a_decompression_bomb_is_one_line_naming_the_image(tmp_path, monkeypatch):
    from PIL import Image

    from convbench.models.data import DataConfig, load_dataset
    from tests.support.images import write_image_folder

    root = write_image_folder(tmp_path / "d", per_class=10, size=20)
    Image.new("L", (64, 64)).save(root / "train" / "car" / "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # a 64x64 image is over twice the limit
    with pytest.raises(UserError, match=r"huge\.png: Image size \(4096 pixels\) exceeds limit"):
        load_dataset(DataConfig(data_dir=root, image_size=16))


@pytest.mark.parametrize("per_class, valid", [(1, False), (3, False), (3, True)])
def test_too_few_images_in_a_class_is_one_line_naming_it(tmp_path, per_class, valid):
    from convbench.models.data import DataConfig, load_dataset
    from tests.support.images import write_image_folder

    root = write_image_folder(tmp_path / "d", per_class=12, splits=("train", "valid") if valid else ("train",))
    for extra in sorted((root / "train" / "truck").iterdir())[per_class:]:
        extra.unlink()
    with pytest.raises(UserError, match=rf"'truck' has {per_class} image\(s\); a stratified split"):
        load_dataset(DataConfig(data_dir=root, image_size=16))


@pytest.mark.parametrize("bad, message", [(["--runtimes", "nope"], "unknown runtime"),
                                          (["--batches", "0"], "batches"),
                                          (["--variants", "int3"], "unknown variant")])
def test_run_rejects_bad_options_before_any_training(tmp_path, capsys, bad, message):
    started = time.perf_counter()
    assert main(["run", "--out", str(tmp_path / "a"), "--models", "lesson4_strided", *bad]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "a" / "trained").exists() and time.perf_counter() - started < 30


def test_ctrl_c_exits_130(monkeypatch, capsys):
    import convbench.cli.stages as stages

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(stages, "_cmd_train", interrupted)
    assert main(["train", "--models", "lesson4_strided"]) == 130
    assert "interrupted" in capsys.readouterr().err
