"""Is a row's accuracy really different from the trained fp32 model's? The report's reading of
the exact McNemar test (convbench.core.stats) on the discordant images a row recorded against
fp32: the level it calls significant, and how a p-value is written."""

from __future__ import annotations

from dataclasses import dataclass

from convbench.core.stats import mcnemar_exact_p

ALPHA = 0.05   # the level at which the report calls a difference significant


@dataclass(frozen=True)
class AccuracyDifference:
    """A row's accuracy minus fp32's on the same images, with the test's p-value."""

    delta_pp: float
    lost_images: int                   # fp32 right, the row wrong
    gained_images: int                 # the row right, fp32 wrong
    p_value: float

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA

    @property
    def p_text(self) -> str:
        """"0.13"; "0.004*": an asterisk marks p < ALPHA, a difference the images show is real."""
        return _p(self.p_value) + ("*" if self.significant else "")

    def text(self, unit: str = " pp") -> str:
        """"-0.40 pp (p=0.13)"; unit "" where a header states it."""
        return f"{self.delta_pp:+.2f}{unit} (p={self.p_text})"


def difference(row, fp32_accuracy: float | None) -> AccuracyDifference | None:
    """For a latency row that recorded its discordant counts against fp32; None otherwise (older
    runs, rows without accuracy, models without reference outputs)."""
    lost, gained = row.lost_vs_fp32_images, row.gained_vs_fp32_images
    if fp32_accuracy is None or row.accuracy is None or lost is None or gained is None:
        return None
    return AccuracyDifference((row.accuracy - fp32_accuracy) * 100, lost, gained, mcnemar_exact_p(lost, gained))


def _p(p: float) -> str:
    return "1" if p >= 0.995 else f"{p:.2g}" if p >= 0.001 else "<0.001"
