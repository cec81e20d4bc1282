"""The evaluation's metric table printed to the console (Rich)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from drp.evaluation.metrics import LOWER_IS_BETTER, TABLE_METRICS
from drp.training.intervals import INTERVAL_METRICS

if TYPE_CHECKING:
    from rich.console import Console


def print_metrics_table(
    summary: pd.DataFrame,
    console: Console | None = None,
    title: str = "mean ± sd over folds",
    ceiling: dict[str, float] | None = None,
) -> None:
    """Rich table: baselines (dim) beside models, ``mean ±sd`` per metric; best value in bold.

    ``split`` and ``subset`` get a column only when they vary; otherwise they go in the title.
    Numbers are never cut to an ellipsis: outside a terminal the table is printed at its natural
    width (:func:`drp.core.progress.print_renderable`), and in a narrow terminal cells fold.
    """
    from rich.console import Console
    from rich.table import Table

    from drp.core.progress import print_renderable

    console = console or Console()
    varying = [c for c in ("split", "subset") if summary[c].nunique() > 1]
    fixed = [f"{c} {summary[c].iloc[0]}" for c in ("split", "subset") if c not in varying]
    folds = sorted(summary["n_folds"].unique())
    parts = [*fixed, f"{'/'.join(map(str, folds))} fold(s)", title]
    has_ci = any(c.endswith("_lo_mean") for c in summary)
    if has_ci and "ci_unit" in summary:
        units = sorted(summary["ci_unit"].dropna().astype(str).unique())
        parts.append(f"[95% bootstrap CI resampling {' / '.join(units)}]")
    table = Table(title=", ".join(parts))
    table.add_column("model", overflow="fold")
    for col in varying:
        table.add_column(col, overflow="fold")
    shown = [m for m in TABLE_METRICS if f"{m}_mean" in summary]
    for m in shown:
        header = m + (" ↓" if m in LOWER_IS_BETTER else " ↑")
        table.add_column(header, justify="right", overflow="fold")
    # conformal coverage and width: no better direction (coverage should match its level)
    intervals = [m for m in INTERVAL_METRICS if f"{m}_mean" in summary]
    for m in intervals:
        header = m.replace("coverage_", "cov ").replace("_", " ")
        table.add_column(header, justify="right", overflow="fold")
    summary = summary.sort_values(["split", "subset", "kind", "model"], kind="stable")
    for _, block in summary.groupby(["split", "subset"], sort=False):
        best = {
            m: (block[f"{m}_mean"].min() if m in LOWER_IS_BETTER else block[f"{m}_mean"].max())
            for m in shown
        }
        for _, row in block.iterrows():
            cells = []
            for m in shown:
                mean, sd = row[f"{m}_mean"], row[f"{m}_sd"]
                text = "–" if pd.isna(mean) else f"{mean:.3f}"
                if not pd.isna(sd) and not pd.isna(mean):
                    text += f" ±{sd:.3f}"  # a space: narrow terminals wrap there
                lo, hi = row.get(f"{m}_lo_mean", np.nan), row.get(f"{m}_hi_mean", np.nan)
                if not (pd.isna(lo) or pd.isna(hi)):
                    text += f" \\[{lo:.3f}, {hi:.3f}]"
                cells.append(f"[bold]{text}[/]" if mean == best[m] else text)
            cells += [
                "–" if pd.isna(row[f"{m}_mean"]) else f"{row[f'{m}_mean']:.3f}" for m in intervals
            ]
            model = str(row["model"])
            if row.get("kind") == "baseline":
                model = f"[dim]{model}[/]"
            table.add_row(model, *(str(row[c]) for c in varying), *cells)
    if ceiling and ceiling.get("n_pairs"):
        table.caption = (
            f"replicate noise ceiling ({ceiling['n_pairs']:,} pairs measured twice): "
            f"rmse {ceiling['rmse']:.3f}, pearson {ceiling['pearson']:.3f}"
        )
    print_renderable(table, console)
