"""The report's document model: the blocks (heading, paragraph, table, figure, gallery, code)
that both writers render, and the helpers the section builders share to fill them (number
formatting, file-name slugs, saving a figure as an image block).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from drp.report import plots


# --------------------------------------------------------------------------- document blocks
@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Para:
    """Text with inline ``**bold**`` and ```code``` only."""

    text: str


@dataclass
class Table:
    """A table; ``classes`` maps (row position, column name) to a CSS class for the HTML."""

    frame: pd.DataFrame
    classes: dict[tuple[int, str], str] = field(default_factory=dict)


@dataclass
class Image:
    path: Path
    alt: str
    caption: str = ""


@dataclass
class Gallery:
    """Images laid out side by side in HTML (one after another in markdown)."""

    images: list[Image]


@dataclass
class Code:
    text: str
    lang: str = ""


Block = Heading | Para | Table | Image | Gallery | Code


# --------------------------------------------------------------------------- helpers
def fmt_num(x: object, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "–"
    if isinstance(x, (bool, np.bool_)):
        return str(x)
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}"
    if isinstance(x, dict):
        return ", ".join(f"{k}: {fmt_num(v, digits)}" for k, v in x.items())
    if not isinstance(x, (float, np.floating)):
        return str(x)
    return f"{float(x):.{digits}f}".replace("-", "−")


def fmt_p(x: object) -> str:
    if x is None or not np.isfinite(float(x)):  # type: ignore[arg-type]
        return "–"
    x = float(x)  # type: ignore[arg-type]
    return "<0.001" if x < 0.001 else f"{x:.3f}"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"


def figure(fig: object, out_dir: Path, name: str, alt: str, caption: str) -> Image:
    """Save a matplotlib figure as ``out_dir / name`` and return its image block."""
    path = plots.save_figure(fig, out_dir / name)  # type: ignore[arg-type]
    return Image(path, alt, caption)
