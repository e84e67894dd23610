"""What a report figure is (PNG bytes, or the reason it could not be drawn) and the one
matplotlib-to-PNG helper the run plots and the lesson drawings share."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # no display: the report runs in CI and over ssh
import matplotlib.pyplot as plt  # noqa: E402


@dataclass(frozen=True)
class Figure:
    name: str                          # figures/<name>.png beside report.md
    caption: str
    png: bytes | None = None
    missing: str | None = None         # why there is no PNG; the report prints it

    @property
    def png_base64(self) -> str:
        return base64.b64encode(self.png or b"").decode()

    @classmethod
    def drawn(cls, name: str, caption: str, png: bytes | None, missing: str) -> Figure:
        """`png`, or the `missing` reason where the drawing function had no data (returned None)."""
        return cls(name, caption, png, None if png else missing)


def png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def subplots(*args, **kwargs):
    return plt.subplots(*args, **kwargs)
