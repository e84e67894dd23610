"""Records of the models and optimize stages: the data split, a trained model, an artifact, the
per-variant cache record, the scaling files, and the manifest that lists them all.

Every path in these records is relative to the folder of the file that holds it (the manifest's
folder, a variant's cache folder), so an artifacts folder can be copied to another path or
machine and still be read."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from convbench.core.records.quantization import LayerError, SelectiveSearch

MANIFEST_SCHEMA = "convbench.manifest/2"

# Set on a record after it is read (or before it is written): where it lives. Never serialized.
Location = Annotated[Path | None, Field(exclude=True)]


def relative_path(target: Path, folder: Path) -> str:
    """`target` as a POSIX path relative to `folder` (with '..' where needed)."""
    return Path(os.path.relpath(Path(target).resolve(), Path(folder).resolve())).as_posix()


@dataclass(kw_only=True)
class DatasetInfo:
    """What the models saw: normalized pixels, labels and split, keyed by `fingerprint`."""

    name: str
    fingerprint: str
    class_names: list[str]
    input_shape: list[int]
    split_sizes: dict[str, int]
    normalization: dict[str, Any]
    skipped_files: list[str] = field(default_factory=list)
    mirror_invariant: bool = True
    path: str | None = None            # the .npz split, relative to the manifest's folder


@dataclass(kw_only=True)
class BuiltOn:
    """Which machine made a file: a Ray node of `convbench optimize|run --ray` (training is
    deterministic per CPU, not across CPUs). Absent (None) on a record: made by the machine of the
    artifacts folder itself, or by a convbench that did not record it."""

    hostname: str
    machine_id: str | None = None      # MachineInfo.fingerprint of the node (the store's machine_id)
    ray_node_id: str | None = None     # Ray's node id, where a Ray task made it


@dataclass(kw_only=True)
class WeightStats:
    """Read back from the artifact's own weights (not the Keras model it came from)."""

    params: int
    nonzero_params: int
    unique_values_per_layer: dict[str, int]   # kernels only: clustering shows up here

    @property
    def sparsity(self) -> float:
        return 1.0 - self.nonzero_params / self.params if self.params else 0.0


@dataclass(kw_only=True)
class Verification:
    """The artifact run over the held-out split right after it was built, by one runtime."""

    runtime: str
    device: str
    threads: int | None
    images: int
    accuracy: Annotated[float, Field(ge=0.0, le=1.0)]
    agreement_vs_fp32: Annotated[float, Field(ge=0.0, le=1.0)]   # same class decision as the fp32 model
    max_abs_diff_vs_fp32: float


@dataclass(kw_only=True)
class ArtifactRecord:
    """One deployable file (or the trained Keras model itself, format 'keras')."""

    model: str
    variant: str
    format: str
    technique: str
    parent: str | None = None
    technique_params: dict[str, Any] = field(default_factory=dict)
    path: str | None = None            # relative to the folder of the record's file
    sha256: str | None = None
    bytes: int | None = None
    gzip_bytes: int | None = None
    weights: WeightStats | None = None
    flops_per_image: int | None = None
    input_shape: list[int] = field(default_factory=list)
    num_classes: int = 0
    verification: Verification | None = None
    finetune_seconds: float | None = None
    conversion_seconds: float | None = None
    wrapped_layers: list[str] = field(default_factory=list)
    left_out_layers: dict[str, str] = field(default_factory=dict)   # layer -> why
    layer_notes: dict[str, str] = field(default_factory=dict)       # layer -> how it was treated
    # A quantized file against its fp32 parent ("<variant>/<format>" of the file compared with).
    layer_errors: list[LayerError] = field(default_factory=list)
    layer_errors_reference: str | None = None
    layer_errors_note: str | None = None          # why a quantized file has no layer_errors
    exported_by: str | None = None                # the exporter used where there is a choice (Keras 3)
    selection: SelectiveSearch | None = None      # selective int8 formats: how its float layers were chosen
    error: str | None = None                      # it should apply but failed (exit code 1)
    skipped: str | None = None                    # it cannot apply to this model, and why (not a failure)
    built_on: BuiltOn | None = None               # a cluster node that made it (optimize --ray); None: this machine
    cached: bool = False               # this optimize run reused the file from its cache

    @property
    def ok(self) -> bool:
        """A verified file exists: neither failed nor skipped."""
        return self.error is None and self.skipped is None

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def accuracy(self) -> float | None:
        return self.verification.accuracy if self.verification else None

    @property
    def sparsity(self) -> float | None:
        return self.weights.sparsity if self.weights else None

    @property
    def label(self) -> str:
        return f"{self.model}/{self.variant}/{self.format}"


@dataclass(kw_only=True)
class ModelSource:
    """A user's own model (--model PATH), taken as given: convbench does not retrain it."""

    path: str                          # the file or SavedModel folder, as found on this machine
    sha256: str                        # of the file (a folder: of every file's path and bytes)
    format: str                        # keras_zip | h5 | saved_model
    framework: str                     # tf_keras | keras3
    keras_version: str | None = None
    output_activation: str             # softmax | sigmoid


@dataclass(kw_only=True)
class TrainedRecord:
    """A trained lesson convnet, or a user's own model with `source` set (then epochs is 0 and
    batch_size/learning_rate are None: convbench did not train it). summary.json in its folder;
    a copy in the manifest."""

    name: str
    lesson: str
    fingerprint: str
    notes: str = ""
    test_accuracy: float
    params: int
    trainable_params: int
    flops_per_image: int
    flops_method: str
    train_seconds: float
    epochs: int
    batch_size: int | None
    learning_rate: float | None
    seed: int
    history: dict[str, list[float]] = field(default_factory=dict)
    base_fingerprint: str | None = None          # lesson 1: the pretrained base it started from
    source: ModelSource | None = None            # a user's own model: where it came from
    built_on: BuiltOn | None = None              # a cluster node that trained it (--ray); None: this machine
    folder: str = "."                            # relative to the manifest's folder
    cached: bool = False

    # Files inside the folder, by fixed names (the folder is the record's identity).
    MODEL_FILE = "model.keras"                   # the training model, augmentation included
    INFERENCE_FILE = "inference.keras"           # the export model, no augmentation layers
    REFERENCE_FILE = "reference_outputs.npy"     # fp32 outputs on the held-out split
    ILLUSTRATIONS_FILE = "illustrations.npz"     # lessons 2-4 drawn from its first conv


@dataclass(kw_only=True)
class BaseRecord:
    """Lesson 1's pretrained base (summary.json beside base.keras)."""

    fingerprint: str
    source_task: str
    source_train_accuracy: float
    epochs: int


@dataclass(kw_only=True)
class VariantRecord:
    """The cache record of one (model, variant): record.json in its folder. Artifact paths are
    relative to that folder."""

    fingerprint: str
    complete: bool
    finetune_history: dict[str, list[float]] = field(default_factory=dict)
    artifacts: list[ArtifactRecord] = field(default_factory=list)
    error: str | None = None
    cached: Annotated[bool, Field(exclude=True)] = False
    folder: Location = None


@dataclass(kw_only=True)
class ScalingRecord:
    """meta.json of one (architecture, input side): random-weight files for the scaling rows."""

    arch: str
    input_shape: list[int]
    num_classes: int
    fingerprint: str
    flops_per_image: int
    params: int
    weights: str
    calibration: str
    bytes: dict[str, int]
    cached: Annotated[bool, Field(exclude=True)] = False
    folder: Location = None

    def path(self, fmt: str) -> Path:
        from convbench.core.formats import file_name

        return Path(self.folder) / file_name(fmt)

    @property
    def side(self) -> int:
        return self.input_shape[0]


@dataclass(kw_only=True)
class ScalingFiles:
    """A scaling folder (its meta.json a ScalingRecord) that the optimize stage built, as the
    manifest lists it: the bench reads these and builds nothing."""

    arch: str
    side: int
    folder: str                        # relative to the manifest's folder


@dataclass(kw_only=True)
class Manifest:
    """What the optimize stage made: the data split, the trained models, every artifact."""

    schema: str = MANIFEST_SCHEMA
    created: str
    dataset: DatasetInfo
    versions: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    optimize_seconds: float = 0.0
    trained: list[TrainedRecord] = field(default_factory=list)
    artifacts: list[ArtifactRecord] = field(default_factory=list)
    scaling: list[ScalingFiles] = field(default_factory=list)   # empty in manifests before the field
    path: Location = None

    @property
    def folder(self) -> Path:
        return Path(self.path).parent

    def resolve(self, relative: str) -> Path:
        """A path recorded in this manifest, on this machine."""
        return self.folder / relative

    def artifact_path(self, artifact: ArtifactRecord) -> Path:
        return self.resolve(artifact.path)

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(a.model for a in self.artifacts))

    @property
    def variants(self) -> list[str]:
        return list(dict.fromkeys(a.variant for a in self.artifacts))

    def artifact(self, model: str, variant: str, fmt: str) -> ArtifactRecord | None:
        return next((a for a in self.artifacts if (a.model, a.variant, a.format) == (model, variant, fmt)), None)

    def scaling_record(self, arch: str, side: int) -> ScalingRecord | None:
        """The random-weight files of (arch, side), None where optimize did not build them."""
        from convbench.core.records.io import read_record

        entry = next((e for e in self.scaling if (e.arch, e.side) == (arch, side)), None)
        if entry is None:
            return None
        folder = self.resolve(entry.folder)
        return replace(read_record(folder / "meta.json", ScalingRecord), folder=folder)

    def fine_tuning_steps(self, model: str, variant: str) -> int:
        """How many techniques that fine-tune the model a variant took, its parents' included: 0
        for a plain conversion of the trained model (technique "none"), 1 for pruned_80, 2 for
        pqat (pruning, then QAT). The recommendation prefers fewer among rows it cannot tell
        apart (report/ties.py); read from the records so that the report needs no registry."""
        steps, seen = 0, set()
        while variant not in seen:
            seen.add(variant)
            record = next((a for a in self.artifacts if (a.model, a.variant) == (model, variant)), None)
            if record is None:
                break
            steps += record.technique != "none"
            if record.parent is None:
                break
            variant = record.parent
        return steps

    def trained_model(self, model: str) -> TrainedRecord | None:
        return next((t for t in self.trained if t.name == model), None)

    def trained_file(self, model: str, name: str) -> Path | None:
        trained = self.trained_model(model)
        return None if trained is None else self.resolve(trained.folder) / name

    def is_own_model(self, model: str) -> bool:
        """A user's model (--model), not a lesson convnet."""
        trained = self.trained_model(model)
        return trained is not None and trained.source is not None

    def fp32_accuracy(self, model: str) -> float | None:
        """The held-out accuracy of the trained fp32 Keras model: every variant's yardstick."""
        trained = self.trained_model(model)
        return trained.test_accuracy if trained else None

    def relocated(self, new_path: Path) -> Manifest:
        """The same manifest with every path rewritten relative to `new_path`'s folder."""
        new_folder = Path(new_path).parent

        def move(relative: str | None) -> str | None:
            return None if relative is None else relative_path(self.resolve(relative), new_folder)

        return replace(
            self, path=Path(new_path),
            dataset=replace(self.dataset, path=move(self.dataset.path)),
            trained=[replace(t, folder=move(t.folder)) for t in self.trained],
            artifacts=[replace(a, path=move(a.path)) for a in self.artifacts],
            scaling=[replace(e, folder=move(e.folder)) for e in self.scaling])
