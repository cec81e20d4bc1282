"""Report figures (matplotlib, Agg backend). Each function returns a ``Figure``; nothing is shown."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import LogFormatter  # noqa: E402

from drp.report.study_dir import per_drug_pearson  # noqa: E402

VERDICT_COLOURS = {"helps": "#1a9850", "no evidence": "#7f7f7f", "hurts": "#d73027"}
METRIC_LABELS = {
    "rmse": "RMSE",
    "mae": "MAE",
    "r2": "R²",
    "pearson": "Pearson r",
    "spearman": "Spearman ρ",
    "per_drug_r": "per-drug r",
    "per_cell_r": "per-cell r",
}


def save_figure(fig: Figure, path: Path, dpi: int = 110) -> Path:
    """Write ``fig`` as PNG and close it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    return path


def _empty(fig: Figure, ax: plt.Axes, text: str) -> Figure:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_axis_off()
    return fig


def forest_plot(
    comparisons: pd.DataFrame, metrics: dict[str, str], splits: list[str] | None = None
) -> Figure:
    """Paired differences (attention - twin) with 95% CIs; one panel per metric.

    Args:
        comparisons: ``drp.stats.compare`` output.
        metrics: metric -> ``"lower"``/``"higher"`` (which direction is better), in panel order.

    Rows are comparison x split (comparisons in table order, splits in ``splits`` order, first
    at the top), coloured by verdict.
    """
    metrics = {m: b for m, b in metrics.items() if m in set(comparisons.get("metric", []))}
    n_panels = max(1, len(metrics))
    keys = (
        comparisons[["comparison", "split"]].drop_duplicates().itertuples(index=False)
        if not comparisons.empty
        else []
    )
    rank = {s: i for i, s in enumerate(splits or [])}
    first = {c: i for i, c in enumerate(dict.fromkeys(comparisons.get("comparison", [])))}
    keys = sorted((tuple(k) for k in keys), key=lambda k: (first[k[0]], rank.get(k[1], len(rank))))
    height = 1.2 + 0.32 * max(1, len(keys))
    fig, axes = plt.subplots(1, n_panels, figsize=(4.2 * n_panels + 1.8, height), sharey=True)
    axes = np.atleast_1d(axes)
    if not keys:
        return _empty(fig, axes[0], "no comparisons")
    ypos = {k: len(keys) - 1 - i for i, k in enumerate(keys)}
    for ax, (metric, better) in zip(axes, metrics.items(), strict=False):
        sub = comparisons[comparisons["metric"] == metric]
        for r in sub.itertuples():
            y = ypos[(r.comparison, r.split)]
            colour = VERDICT_COLOURS.get(r.verdict, "black")
            lo, hi = r.ci_low, r.ci_high
            if np.isfinite(lo) and np.isfinite(hi):
                ax.plot([lo, hi], [y, y], color=colour, lw=2, solid_capstyle="butt")
            ax.plot(r.mean_diff, y, "o", color=colour, ms=5)
        ax.axvline(0, color="black", lw=0.8, ls="--")
        arrow = "←" if better == "lower" else "→"
        ax.set_title(
            f"{METRIC_LABELS.get(metric, metric)}\n(attention better {arrow})", fontsize=10
        )
        ax.set_xlabel("attention − twin")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(list(ypos.values()))
    axes[0].set_yticklabels([f"{c} · {s}" for c, s in ypos], fontsize=8)
    axes[0].set_ylim(-0.7, len(keys) - 0.3)
    handles = [
        Line2D([], [], color=c, marker="o", lw=2, label=v) for v, c in VERDICT_COLOURS.items()
    ]
    fig.legend(
        handles=handles, loc="lower center", ncol=3, frameon=False, bbox_to_anchor=(0.5, -0.02)
    )
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def _stats_text(y: np.ndarray, yhat: np.ndarray) -> str:
    rmse = float(np.sqrt(np.mean((y - yhat) ** 2)))
    r = float(np.corrcoef(y, yhat)[0, 1]) if np.std(y) > 0 and np.std(yhat) > 0 else 0.0
    return f"n = {len(y):,}\nRMSE = {rmse:.3f}\nr = {r:.3f}"


def pred_vs_obs(predictions: dict[str, pd.DataFrame], variant: str) -> Figure:
    """Hexbin density of predicted against observed ln IC50, one panel per split."""
    splits = list(predictions)
    fig, axes = plt.subplots(1, max(1, len(splits)), figsize=(3.8 * max(1, len(splits)), 3.8))
    axes = np.atleast_1d(axes)
    if not splits:
        return _empty(fig, axes[0], f"no predictions for {variant}")
    for ax, split in zip(axes, splits, strict=True):
        p = predictions[split]
        y, yhat = p["y_true"].to_numpy(float), p["y_pred"].to_numpy(float)
        lo = float(min(y.min(), yhat.min()))
        hi = float(max(y.max(), yhat.max()))
        pad = 0.03 * (hi - lo or 1.0)
        lim = (lo - pad, hi + pad)
        hb = ax.hexbin(y, yhat, gridsize=40, bins="log", cmap="viridis", mincnt=1, extent=lim * 2)
        ax.plot(lim, lim, color="red", lw=0.8, ls="--")
        ax.set_xlim(lim)
        ax.set_ylim(lim)
        ax.set_aspect("equal")
        ax.set_title(f"{variant} · {split}", fontsize=10)
        ax.set_xlabel("observed ln IC50")
        ax.set_ylabel("predicted ln IC50")
        ax.text(0.03, 0.97, _stats_text(y, yhat), transform=ax.transAxes, va="top", fontsize=8)
        cb = fig.colorbar(hb, ax=ax, shrink=0.8, label="pairs per bin (log scale)")
        # plain numbers ("300", "2e+04"), minor ticks labelled only when few decades are shown
        cb.ax.yaxis.set_major_formatter(LogFormatter(labelOnlyBase=False))
        cb.ax.yaxis.set_minor_formatter(
            LogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.5))
        )
    fig.tight_layout()
    return fig


GROUP_COLOURS = {"default": "#d62728", "twin": "#1f77b4", "baseline": "#7f7f7f"}


def per_drug_r_plot(
    predictions: dict[tuple[str, str], pd.DataFrame],
    variants: list[str],
    splits: list[str],
    groups: dict[str, str] | None = None,
) -> Figure:
    """Distribution of per-drug Pearson r over drugs (box + points), one panel per split.

    ``groups`` maps a variant to ``"default"``, ``"twin"`` or ``"baseline"`` (point colour).
    """
    groups = groups or {}
    n = max(1, len(splits))
    fig, axes = plt.subplots(1, n, figsize=(max(4.0, 0.7 * len(variants) + 1.5) * n, 4.0))
    axes = np.atleast_1d(axes)
    if not splits:
        return _empty(fig, axes[0], "no predictions")
    rng = np.random.default_rng(0)
    for ax, split in zip(axes, splits, strict=True):
        names, data = [], []
        for v in variants:
            if (v, split) in predictions:
                names.append(v)
                data.append(per_drug_pearson(predictions[(v, split)]).to_numpy())
        if not names:
            _empty(fig, ax, f"no predictions for {split}")
            continue
        pos = np.arange(1, len(names) + 1)
        ax.boxplot(data, positions=pos, widths=0.6, showfliers=False)
        for i, d in zip(pos, data, strict=True):
            colour = GROUP_COLOURS.get(groups.get(names[i - 1], ""), "C0")
            ax.scatter(i + rng.uniform(-0.18, 0.18, len(d)), d, s=8, alpha=0.5, color=colour)
            if len(d):
                ax.text(i, 1.04, f"{np.median(d):.2f}", ha="center", fontsize=7)
        ax.set_xticks(pos)
        ax.set_xticklabels(names, rotation=40, ha="right", fontsize=8)
        ax.axhline(0, color="black", lw=0.6)
        ax.set_ylim(-1.05, 1.12)
        ax.set_ylabel("per-drug Pearson r")
        ax.set_title(f"{split} (median above)", fontsize=10)
    present = [g for g in GROUP_COLOURS if g in set(groups.values())]
    if present:
        handles = [
            Line2D([], [], ls="", marker="o", color=GROUP_COLOURS[g], label=g) for g in present
        ]
        fig.legend(handles=handles, loc="upper right", fontsize=8, ncol=len(handles))
        fig.tight_layout(rect=(0, 0, 1, 0.93))
        return fig
    fig.tight_layout()
    return fig


def learning_curves(history: pd.DataFrame, variants: list[str], splits: list[str]) -> Figure:
    """Validation RMSE per epoch: mean over folds x seeds (line) and min-max band, per split."""
    n = max(1, len(splits))
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.6), sharey=True)
    axes = np.atleast_1d(axes)
    if history.empty:
        return _empty(fig, axes[0], "no training histories")
    for ax, split in zip(axes, splits, strict=True):
        h = history[history["split"] == split]
        for i, v in enumerate([v for v in variants if v in set(h["variant"])]):
            g = h[h["variant"] == v].groupby("epoch")["val_rmse"]
            stats = g.agg(["mean", "min", "max"])
            ax.plot(stats.index, stats["mean"], color=f"C{i}", lw=1.5, label=v)
            ax.fill_between(stats.index, stats["min"], stats["max"], color=f"C{i}", alpha=0.15)
        ax.set_title(split, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("validation RMSE")
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.tight_layout()
    return fig


def faithfulness_plot(frame: pd.DataFrame) -> Figure:
    """Per-drug prediction change from masking the top-k attended vs k random atoms."""
    fig, ax = plt.subplots(figsize=(4.4, 4.2))
    if frame.empty:
        return _empty(fig, ax, "no faithfulness scores")
    for i, (split, g) in enumerate(frame.groupby("split", sort=False)):
        ax.scatter(
            g["random_k_delta"], g["top_k_delta"], s=14, alpha=0.7, color=f"C{i}", label=split
        )
    hi = float(np.nanmax(frame[["top_k_delta", "random_k_delta"]].to_numpy())) * 1.05 or 1.0
    ax.plot([0, hi], [0, hi], color="black", lw=0.8, ls="--")
    ax.set_xlim(0, hi)
    ax.set_ylim(0, hi)
    ax.set_xlabel("|Δ prediction|, k random atoms masked")
    ax.set_ylabel("|Δ prediction|, top-k attended atoms masked")
    ax.set_title("Above the diagonal = attention is informative", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def similarity_histogram(similarity: np.ndarray, threshold: float) -> Figure:
    """Histogram of each compound's max Tanimoto similarity to the training drugs [n], with
    the applicability-domain ``threshold`` marked."""
    fig, ax = plt.subplots(figsize=(5.6, 3.4))
    sim = np.asarray(similarity, dtype=float)
    if sim.size == 0:
        return _empty(fig, ax, "no scored compounds")
    ax.hist(sim, bins=np.linspace(0.0, 1.0, 41), color="#4c72b0", edgecolor="white")
    ax.axvline(threshold, color="#d73027", ls="--", lw=1.2, label=f"threshold {threshold:.2f}")
    ax.set_xlim(0, 1)
    ax.set_xlabel("max Tanimoto similarity to a training drug (Morgan r=2, 2048 bits)")
    ax.set_ylabel("compounds")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
