"""Data loading: the default MNIST split and the Kaggle-style image folder, bad inputs included."""

from __future__ import annotations

import numpy as np
import pytest

from convbench.cli import main
from convbench.core.errors import UserError
from convbench.models.data import DataConfig, Dataset, load_dataset
from tests.support.images import write_image_folder


@pytest.fixture(scope="module")
def mnist() -> Dataset:
    return load_dataset(DataConfig(seed=0))


def test_mnist_split_is_stratified_disjoint_and_train_normalized(mnist):
    assert mnist.input_shape == (28, 28, 1) and mnist.num_classes == 10
    sizes = [len(mnist.y_train), len(mnist.y_val), len(mnist.y_test)]
    assert sizes == [3500, 500, 1000]
    assert np.bincount(mnist.y_test).tolist() == [100] * 10
    assert np.bincount(mnist.y_val).tolist() == [50] * 10
    # Scaling uses the train split's min/max only: train spans exactly [0, 1].
    assert mnist.x_train.min() == 0.0 and mnist.x_train.max() == 1.0
    # No image appears in two splits (train, validation and test pairwise).
    train, val, test = ({row.tobytes() for row in x} for x in (mnist.x_train, mnist.x_val, mnist.x_test))
    assert not (train & val) and not (train & test) and not (val & test)


def test_mnist_same_seed_same_split_other_seed_other_split(mnist):
    again = load_dataset(DataConfig(seed=0))
    other = load_dataset(DataConfig(seed=1))
    assert again.fingerprint == mnist.fingerprint
    assert np.array_equal(again.y_test, mnist.y_test)
    assert other.fingerprint != mnist.fingerprint


def test_dataset_roundtrips_through_npz(mnist, tmp_path):
    mnist.save(tmp_path / "d.npz")
    back = Dataset.load(tmp_path / "d.npz")
    for split in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        assert np.array_equal(getattr(back, split), getattr(mnist, split)), split
    assert (back.class_names, back.pixel_min, back.pixel_max, back.mirror_invariant) == (
        mnist.class_names, mnist.pixel_min, mnist.pixel_max, False)
    assert back.fingerprint == mnist.fingerprint


def test_fingerprint_follows_the_pixels_not_the_file(mnist):
    from convbench.models.data import _split_and_normalize

    raw = (mnist.x_train * 255.0).round()  # any images: what matters is a one-pixel change
    labels = mnist.y_train
    config = DataConfig(seed=0)
    same = _split_and_normalize("m", ["a"], raw, labels, None, config, [])
    nudged = raw.copy()
    nudged[0, 0, 0, 0] += 1.0
    other = _split_and_normalize("m", ["a"], nudged, labels, None, config, [])
    assert same.fingerprint == _split_and_normalize("m", ["a"], raw, labels, None, config, []).fingerprint
    assert other.fingerprint != same.fingerprint


@pytest.mark.parametrize("damage", ["truncated", "garbage", "foreign"])
def test_a_broken_data_file_is_one_clear_error(mnist, tmp_path, damage):
    path = tmp_path / "d.npz"
    mnist.save(path)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a zip at all")
    else:
        np.savez(path, something=np.zeros(3))
    with pytest.raises(UserError, match=r"d\.npz: not a convbench data file"):
        Dataset.load(path)


def test_folder_with_valid_split(image_folder):
    ds = load_dataset(DataConfig(data_dir=image_folder, image_size=16, color_mode="rgb"))
    assert ds.class_names == ["car", "truck"]
    assert ds.input_shape == (16, 16, 3)
    assert len(ds.y_test) == 24                       # valid/ is the held-out test split
    assert len(ds.y_train) + len(ds.y_val) == 24      # validation carved from train/
    assert ds.mirror_invariant is True


def test_folder_without_valid_is_split_stratified(tmp_path):
    root = write_image_folder(tmp_path / "d", classes=("a", "b", "c"), per_class=20)
    ds = load_dataset(DataConfig(data_dir=root, image_size=12, color_mode="grayscale"))
    assert ds.input_shape == (12, 12, 1) and ds.num_classes == 3
    assert np.bincount(ds.y_test).tolist() == [4, 4, 4]


@pytest.mark.parametrize("make_bad, message", [
    (lambda root: root / "missing", "does not exist"),
    (lambda root: (root / "x" / "train").mkdir(parents=True) or root / "x", "at least two class folders"),
    (lambda root: (root / "y").mkdir() or root / "y", "expected a train/ folder"),
])
def test_bad_folders_are_user_errors(tmp_path, make_bad, message):
    with pytest.raises(UserError, match=message):
        load_dataset(DataConfig(data_dir=make_bad(tmp_path)))


def test_empty_class_is_an_error_naming_it(tmp_path):
    root = write_image_folder(tmp_path / "d")
    (root / "train" / "bus").mkdir()
    with pytest.raises(UserError, match=r"train/bus.*no readable images"):
        load_dataset(DataConfig(data_dir=root, image_size=16))


def test_non_image_file_is_an_error_naming_it(tmp_path):
    root = write_image_folder(tmp_path / "d")
    (root / "train" / "car" / "notes.txt").write_text("hello")
    with pytest.raises(UserError, match=r"notes\.txt: not an image file"):
        load_dataset(DataConfig(data_dir=root, image_size=16))


def test_corrupt_images_are_skipped_with_a_warning_listing_them(tmp_path):
    root = write_image_folder(tmp_path / "d")
    bad = root / "train" / "car" / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.warns(UserWarning, match="broken.jpg"):
        ds = load_dataset(DataConfig(data_dir=root, image_size=16))
    assert ds.skipped_files == [str(bad)]


def test_class_with_only_corrupt_images_is_an_error(tmp_path):
    root = write_image_folder(tmp_path / "d")
    (root / "train" / "van").mkdir()
    (root / "train" / "van" / "a.png").write_bytes(b"garbage")
    with pytest.raises(UserError, match=r"van.*no readable images \(unreadable: .*a\.png\)"):
        load_dataset(DataConfig(data_dir=root, image_size=16))


def test_bad_config_values_are_user_errors():
    with pytest.raises(UserError, match="color mode"):
        DataConfig(color_mode="cmyk")
    with pytest.raises(UserError, match="image size"):
        DataConfig(image_size=3)


def test_cli_reports_bad_data_without_traceback(tmp_path, capsys):
    code = main(["train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "a")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("convbench: error:") and "nope: data folder does not exist" in err
    assert "Traceback" not in err
    assert not (tmp_path / "a" / "trained").exists()
