"""What kind of file a user's `--model PATH` is, read from its bytes before any loader runs:
a Keras zip (.keras, and whether Keras 3 or tf_keras wrote it), a legacy HDF5 (.h5) file, or a
tf_keras SavedModel folder. Pickle-based formats, and SavedModels without Keras metadata, are
refused here, before anything could unpickle or run them.
No TensorFlow import: this runs first and must fail fast on bad input."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from convbench.core.errors import UserError
from convbench.core.fingerprint import sha256_path

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")     # a local file header; an empty archive
NPY_SIGNATURE = b"\x93NUMPY"
# Formats whose loading unpickles, i.e. can run arbitrary code: refused whatever they contain.
PICKLE_SUFFIXES = (".pkl", ".pickle", ".pt", ".pth", ".joblib", ".jbl", ".sav", ".dill", ".npy", ".npz", ".ckpt")
SAVE_HINT = "save it with model.save('model.keras') (tf_keras or Keras 3) and pass that file"


@dataclass(frozen=True)
class ModelFile:
    path: Path
    format: str                 # "keras_zip" | "h5" | "saved_model"
    framework: str              # "tf_keras" | "keras3"
    keras_version: str | None   # as the file records it; None for a SavedModel (tf_keras writes none)
    sha256: str                 # of the file, or of a folder's relative paths and file contents


def inspect_model_file(path) -> ModelFile:
    """Format, framework and content hash of a model path; UserError (naming the path) when it is
    missing, pickle-based, corrupt or truncated, or not a format convbench reads."""
    path = Path(path)
    if path.is_dir():
        return _saved_model(path)
    if not path.is_file():
        raise UserError(f"{path}: no such model file or folder")
    with open(path, "rb") as fh:
        head = fh.read(16)
    if not head:
        raise UserError(f"{path}: empty file, not a model")
    _refuse_pickle(path, head)
    if head.startswith(ZIP_SIGNATURES):
        return _keras_zip(path)
    if head.startswith(HDF5_SIGNATURE):
        return ModelFile(path, "h5", *_h5_framework(path), sha256_path(path))
    if path.suffix.lower() in (".keras", ".h5", ".hdf5"):
        raise UserError(f"{path}: corrupt model file: a {path.suffix} file should start with the "
                        f"{'zip' if path.suffix.lower() == '.keras' else 'HDF5'} signature, found bytes {head[:8]!r}")
    raise UserError(f"{path}: not a model format convbench reads; expected a Keras .keras zip, an HDF5 "
                    f".h5 file or a SavedModel folder (first bytes {head[:8]!r})")


def _refuse_pickle(path: Path, head: bytes) -> None:
    # Protocol 2+ pickles start with PROTO (0x80) and the protocol number; torch.save and joblib
    # write pickles too, and a .npy file holding objects is unpickled by np.load(allow_pickle=True).
    is_pickle = head[:1] == b"\x80" and 2 <= head[1] <= 5
    if path.suffix.lower() in PICKLE_SUFFIXES or is_pickle or head.startswith(NPY_SIGNATURE):
        raise UserError(f"{path}: pickle-based format refused: loading it could run arbitrary code; {SAVE_HINT}")


def _keras_zip(path: Path) -> ModelFile:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if any(name.endswith((".pkl", "/data.pkl")) for name in names):
                # torch.save's zip format: a pickle inside a zip.
                raise UserError(f"{path}: a zip holding a pickle (PyTorch-style) is refused: loading it could run "
                                f"code; {SAVE_HINT}")
            if "config.json" not in names or "metadata.json" not in names:
                raise UserError(f"{path}: a zip file but not a Keras .keras archive "
                                "(no config.json/metadata.json inside)")
            broken = archive.testzip()   # reads every member and checks its CRC
            if broken is not None:
                raise UserError(f"{path}: corrupt .keras file: member {broken} fails its CRC check")
            metadata = json.loads(archive.read("metadata.json"))
    except zipfile.BadZipFile as exc:
        raise UserError(f"{path}: corrupt or truncated .keras file ({exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: corrupt .keras file: metadata.json is not JSON ({exc})") from None
    version = str(metadata.get("keras_version", ""))
    return ModelFile(path, "keras_zip", _framework_of(version, path), version, sha256_path(path))


def _h5_framework(path: Path) -> tuple[str, str]:
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            version = h5.attrs.get("keras_version")
            config = h5.attrs.get("model_config")
    except OSError as exc:  # h5py says "truncated file", "bad object header", ...
        raise UserError(f"{path}: corrupt or truncated HDF5 file ({str(exc).splitlines()[0]})") from None
    if config is None:
        raise UserError(f"{path}: an HDF5 file without a model config (weights only?): save the whole model")
    _refuse_lambda(path, config.encode() if isinstance(config, str) else bytes(config))
    version = version.decode() if isinstance(version, bytes) else str(version or "")
    return _framework_of(version, path), version


def _refuse_lambda(path: Path, config: bytes) -> None:
    """H5 and tf_keras SavedModel loading ignore safe_mode: a Lambda layer's marshalled Python
    bytecode would be rebuilt and run. Both keep the model config as JSON text, so the class
    name is found before any loader runs (the zip format is guarded by safe_mode instead)."""
    if b'"class_name": "Lambda"' in config:
        raise UserError(f"{path}: has a Lambda layer (Python bytecode that loading this format would run, "
                        f"unguarded by safe_mode): refused; {SAVE_HINT} with the Lambda replaced by a registered layer")


def _framework_of(keras_version: str, path: Path) -> str:
    major = keras_version.split(".")[0]
    if major == "3":
        return "keras3"
    if major == "2":
        return "tf_keras"
    raise UserError(f"{path}: unknown Keras version {keras_version!r} in the file (expected 2.x from tf_keras or 3.x)")


def _saved_model(path: Path) -> ModelFile:
    if not (path / "saved_model.pb").is_file() and not (path / "saved_model.pbtxt").is_file():
        raise UserError(f"{path}: a folder but not a SavedModel (no saved_model.pb inside)")
    # tf_keras writes keras_metadata.pb beside the graph; tf.saved_model.save and Keras 3's
    # model.export() do not, and their folders load as bare TF graphs, not Keras models.
    if not (path / "keras_metadata.pb").is_file():
        raise UserError(f"{path}: a SavedModel without Keras metadata (tf.saved_model.save or Keras 3's export()): "
                        f"a bare TF graph can hold any op (file reads and writes included) and has no Keras layers "
                        f"to check or compress; {SAVE_HINT}")
    _refuse_lambda(path, (path / "keras_metadata.pb").read_bytes())
    return ModelFile(path, "saved_model", "tf_keras", None, sha256_path(path))
