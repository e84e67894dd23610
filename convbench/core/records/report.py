"""Records of the report stage: recommendation.json, the fastest and the smallest artifact per
device and model whose accuracy, measured by the row's own runtime, device and threads, is
within a budget of the trained fp32 model's. "Fastest" is a pick among the rows whose speed
cannot be told apart (speed_ties), by the rule the file states (tie_rule)."""

from __future__ import annotations

from dataclasses import dataclass, field

RECOMMENDATION_SCHEMA = "convbench.recommendation/2"   # /2: speed ties and the rules stated
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
    fine_tuning_steps: int = 0         # techniques that fine-tuned it, its parents' included


@dataclass(kw_only=True)
class TiedRow:
    """A batch-1 row whose speed cannot be told apart from the fastest's."""

    variant: str
    format: str
    runtime: str
    threads: int | None
    p50_ms: float
    ratio: float                       # its median over the fastest's
    ratio_low: float                   # the interval of that ratio (tie_rule states its level)
    ratio_high: float


@dataclass(kw_only=True)
class ModelRecommendation:
    fp32_accuracy: float               # the trained Keras model's held-out accuracy
    fastest: RecommendedRow            # the pick among speed_ties by the tie rule
    smallest: RecommendedRow | None    # fewest gzip bytes within the budget; None: no sizes known
    speed_ties: list[TiedRow] = field(default_factory=list)   # the pick first; one row: no tie


@dataclass(kw_only=True)
class Recommendation:
    schema: str = RECOMMENDATION_SCHEMA
    accuracy_budget_pp: float
    tie_rule: str = ""                 # how speed ties are found and the pick made among them
    size_rule: str = ""                # which size "smallest" means
    devices: dict[str, dict[str, ModelRecommendation]] = field(default_factory=dict)   # device -> model
    not_recommended: dict[str, dict[str, str]] = field(default_factory=dict)           # device -> model -> why
