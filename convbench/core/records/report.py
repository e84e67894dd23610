"""Records of the report stage: recommendation.json, the fastest and the smallest artifact per
device and model whose accuracy, measured by the row's own runtime, device and threads, is
within a budget of the trained fp32 model's."""

from __future__ import annotations

from dataclasses import dataclass, field

RECOMMENDATION_SCHEMA = "convbench.recommendation/1"
RECOMMENDATION_FILE = "recommendation.json"


@dataclass(kw_only=True)
class RecommendedRow:
    """A latency row the recommendation picked."""

    variant: str
    format: str
    runtime: str
    batch: int
    threads: int | None
    p50_ms: float
    accuracy: float                    # measured by this row's own session on the held-out split
    accuracy_drop_pp: float            # fp32 minus this row's, percentage points
    bytes: int | None = None           # of the artifact file (manifest)
    gzip_bytes: int | None = None


@dataclass(kw_only=True)
class ModelRecommendation:
    fp32_accuracy: float               # the trained Keras model's held-out accuracy
    fastest: RecommendedRow            # lowest batch-1 p50 within the budget
    smallest: RecommendedRow | None    # fewest artifact bytes within the budget; None: no sizes known


@dataclass(kw_only=True)
class Recommendation:
    schema: str = RECOMMENDATION_SCHEMA
    accuracy_budget_pp: float
    devices: dict[str, dict[str, ModelRecommendation]] = field(default_factory=dict)   # device -> model
    not_recommended: dict[str, dict[str, str]] = field(default_factory=dict)           # device -> model -> why
