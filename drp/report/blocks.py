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
from drp.study.presets import EXTERNAL


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


def fmt_signed(x: object, digits: int = 3) -> str:
    """A difference with its sign: ``+0.004``, ``−0.031`` (``–`` when missing)."""
    text = fmt_num(x, digits)
    if text == "–" or text.startswith("−"):
        return text
    return "+" + text if float(x) != 0 else text  # type: ignore[arg-type]


def fold_change(rmse: float) -> str:
    """An RMSE in ln IC50 as the typical IC50 error factor: 2.39 -> ``11-fold``."""
    factor = float(np.exp(rmse))
    return f"{factor:.1f}-fold" if factor < 10 else f"{factor:.0f}-fold"


def fold_change_pct(diff: float) -> str:
    """An ln IC50 difference as a percent change of the IC50 factor: 0.05 -> ``5%``."""
    return f"{100 * (np.exp(abs(float(diff))) - 1):.0f}%"


def fmt_share(hits: int, total: int) -> str:
    """``99.7% (312 of 313)``: one decimal, never rounded up to 100% or down to 0%."""
    if total <= 0:
        return "–"
    text = f"{100 * hits / total:.1f}%"
    if hits < total and text == "100.0%":
        text = ">99.9%"
    elif hits > 0 and text == "0.0%":
        text = "<0.1%"
    return f"{text} ({hits:,} of {total:,})"


SPLIT_PHRASES = {
    "mixed": "on known drugs and cells (mixed CV)",
    "cell_blind": "on new cell lines (cell-blind CV)",
    "tissue_blind": "on new tissues (tissue-blind CV)",
    "drug_blind": "on new drugs (drug-blind CV)",
    "cluster_blind": "on new drug clusters (cluster-blind CV)",
}


def split_phrase(split: str, design: dict | None = None) -> str:
    """Plain words for a split label; ``external`` names its screen from ``design``."""
    if split == EXTERNAL:
        target = str((design or {}).get("external", {}).get("target", "")).upper()
        return f"on new drugs (external {target} set)" if target else "on new drugs (external set)"
    return SPLIT_PHRASES.get(split, f"on {split}")


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
