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
from matplotlib.ticker import LogFormatter, NullFormatter  # noqa: E402

VERDICT_COLOURS = {
    "helps": "#1a9850",
    "equivalent": "#4575b4",
    "inconclusive": "#7f7f7f",
    "hurts": "#d73027",
}
LN_IC50 = "ln IC50 (IC50 in µM)"
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


def forest_plot(answers: pd.DataFrame, splits: list[str]) -> Figure:
    """Paired RMSE differences (attention - twin) with their intervals, one panel per split;
    the equivalence margin is shaded, colour = verdict.

    Args:
        answers: ``drp.study.answers.answer_table`` output (RMSE rows of the questions are drawn).
        splits: panel order.
    """
    rows = answers[(answers.get("metric") == "rmse") & (answers.get("role") != "baseline")]
    shown = [s for s in splits if s in set(rows.get("split", []))]
    fig, axes = plt.subplots(
        1, max(1, len(shown)), figsize=(3.6 * max(1, len(shown)) + 2.6, 1.3 + 0.42 * 6)
    )
    axes = np.atleast_1d(axes)
    if not shown:
        return _empty(fig, axes[0], "no comparisons")
    questions = list(dict.fromkeys(rows["question"]))
    ypos = {q: len(questions) - 1 - i for i, q in enumerate(questions)}
    for ax, split in zip(axes, shown, strict=True):
        sub = rows[rows["split"] == split]
        margin = float(sub["margin"].iloc[0])
        ax.axvspan(-margin, margin, color="#cfe8cf", alpha=0.6, lw=0)
        for r in sub.itertuples():
            y = ypos[r.question]
            colour = VERDICT_COLOURS.get(r.verdict, "black")
            if np.isfinite(r.ci_low) and np.isfinite(r.ci_high):
                ax.plot([r.ci_low, r.ci_high], [y, y], color=colour, lw=2.2)
            ax.plot(r.mean_diff, y, "o", color=colour, ms=5)
            level = f"{100 * r.ci_level:.4g}%"
            ax.text(1.0, y, f" n={r.n_pairs}, {level}", transform=ax.get_yaxis_transform(),
                    fontsize=7, va="center", color="0.35")  # fmt: skip
        ax.axvline(0, color="black", lw=0.8, ls="--")
        ax.set_title(f"{split} (margin ±{margin:g})", fontsize=10)
        ax.set_xlabel("Δ RMSE, attention − twin\n(ln IC50, IC50 in µM; ← attention better)")
        ax.set_yticks(list(ypos.values()))
        ax.set_yticklabels(list(ypos) if ax is axes[0] else [], fontsize=8)
        ax.set_ylim(-0.7, len(questions) - 0.3)
        ax.grid(axis="x", alpha=0.3)
    handles = [
        Line2D([], [], color=c, marker="o", lw=2, label=v) for v, c in VERDICT_COLOURS.items()
    ]
    handles.append(Line2D([], [], color="#cfe8cf", lw=8, label="equivalence margin"))
    fig.legend(
        handles=handles, loc="lower center", ncol=5, frameon=False, bbox_to_anchor=(0.5, -0.03)
    )
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def _stats_text(y: np.ndarray, yhat: np.ndarray) -> str:
    rmse = float(np.sqrt(np.mean((y - yhat) ** 2)))
    r = float(np.corrcoef(y, yhat)[0, 1]) if np.std(y) > 0 and np.std(yhat) > 0 else 0.0
    return f"n = {len(y):,}\nRMSE = {rmse:.3f}\nr = {r:.3f}"


def outside_range_basis(pairs: pd.DataFrame) -> str | None:
    """What marks a pair's IC50 as outside the screened range in this frame: ``range`` (an
    ``outside_range`` flag, known for some pairs), ``cap`` (``censored``: CCLE's 8 µM cap, set
    for some pairs), or None (neither: the dataset cannot tell, so shares read "n/a")."""
    if "outside_range" in pairs and pairs["outside_range"].notna().any():
        return "range"
    if "censored" in pairs and pairs["censored"].astype(bool).any():
        return "cap"
    return None


def outside_range_flags(pairs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """[n] pairs flagged outside the screened range and [n] pairs that could be judged, on the
    basis :func:`outside_range_basis` names (none judged when it is None)."""
    basis = outside_range_basis(pairs)
    if basis == "range":
        flag = pairs["outside_range"].astype("boolean")
        return flag.eq(True).fillna(False).to_numpy(bool), flag.notna().to_numpy(bool)
    if basis == "cap":
        return pairs["censored"].to_numpy(bool), np.ones(len(pairs), bool)
    return np.zeros(len(pairs), bool), np.zeros(len(pairs), bool)


def pred_vs_obs(predictions: pd.DataFrame, variant: str, splits: list[str]) -> Figure:
    """Hexbin density of predicted against observed ln IC50, one panel per split; pairs whose
    measured IC50 lies outside the screened concentration range are overlaid
    (:func:`outside_range_flags`: ``outside_range`` where known, else CCLE's ``censored``).

    Args:
        predictions: sampled test predictions with ``split, y_true, y_pred``
            (+ ``outside_range``, ``censored``).
    """
    shown = [s for s in splits if s in set(predictions.get("split", []))]
    fig, axes = plt.subplots(1, max(1, len(shown)), figsize=(3.9 * max(1, len(shown)), 3.9))
    axes = np.atleast_1d(axes)
    if not shown:
        return _empty(fig, axes[0], f"no predictions for {variant}")
    for ax, split in zip(axes, shown, strict=True):
        p = predictions[predictions["split"] == split]
        y, yhat = p["y_true"].to_numpy(float), p["y_pred"].to_numpy(float)
        lo = float(min(y.min(), yhat.min()))
        hi = float(max(y.max(), yhat.max()))
        pad = 0.03 * (hi - lo or 1.0)
        lim = (lo - pad, hi + pad)
        hb = ax.hexbin(y, yhat, gridsize=40, bins="log", cmap="viridis", mincnt=1, extent=lim * 2)
        outside, judged = outside_range_flags(p)
        if outside.any():
            share = outside.sum() / judged.sum()
            ax.scatter(y[outside], yhat[outside], s=3, marker="x", lw=0.5, color="#ff7f0e",
                       label=f"outside screened range ({share:.0%})")  # fmt: skip
            ax.legend(loc="lower right", fontsize=7, markerscale=3)
        ax.plot(lim, lim, color="red", lw=0.8, ls="--")
        ax.set_xlim(lim)
        ax.set_ylim(lim)
        ax.set_aspect("equal")
        ax.set_title(f"{variant} · {split}", fontsize=10)
        ax.set_xlabel(f"observed {LN_IC50}", fontsize=8)
        ax.set_ylabel(f"predicted {LN_IC50}", fontsize=8)
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
    drugs: pd.DataFrame,
    variants: list[str],
    splits: list[str],
    groups: dict[str, str] | None = None,
) -> Figure:
    """Distribution over test drugs of the per-drug Pearson r (box + points), one panel per split.

    Args:
        drugs: per-drug rows (``variant, split, seed, pearson``); the first seed is drawn.
        groups: variant -> ``"default"``, ``"twin"`` or ``"baseline"`` (point colour).
    """
    groups = groups or {}
    shown = [s for s in splits if s in set(drugs.get("split", []))]
    n = max(1, len(shown))
    width = max(4.0, 0.7 * len(variants) + 1.5)
    # many variants: one panel per row, so the figure stays readable at page width
    rows, cols = (n, 1) if len(variants) > 8 else (1, n)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, 4.0 * rows))
    axes = np.atleast_1d(axes)
    if not shown:
        return _empty(fig, axes[0], "no per-drug metrics")
    first_seed = drugs[drugs["seed"] == drugs["seed"].min()]
    rng = np.random.default_rng(0)
    for ax, split in zip(axes, shown, strict=True):
        names, data = [], []
        for v in variants:
            d = first_seed[(first_seed["variant"] == v) & (first_seed["split"] == split)]
            d = d["pearson"].dropna().to_numpy(float)
            if d.size:
                names.append(v)
                data.append(d)
        if not names:
            _empty(fig, ax, f"nothing on {split}")
            continue
        pos = np.arange(1, len(names) + 1)
        ax.boxplot(data, positions=pos, widths=0.6, showfliers=False)
        for i, d in zip(pos, data, strict=True):
            colour = GROUP_COLOURS.get(groups.get(names[i - 1], ""), "C0")
            ax.scatter(i + rng.uniform(-0.18, 0.18, len(d)), d, s=8, alpha=0.5, color=colour)
            ax.text(i, 1.04, f"{np.median(d):.2f}", ha="center", fontsize=7)
        ax.set_xticks(pos)
        ax.set_xticklabels(names, rotation=40, ha="right", fontsize=8)
        ax.axhline(0, color="black", lw=0.6)
        ax.set_ylim(-1.05, 1.12)
        ax.set_ylabel("per-drug Pearson r, observed vs predicted ln IC50", fontsize=8)
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
    """Validation RMSE per epoch: mean over folds x seeds (line) and min-max band, per split,
    drawn while at least half of a variant's runs still train."""
    n = max(1, len(splits))
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.6), sharey=True)
    axes = np.atleast_1d(axes)
    if history.empty:
        return _empty(fig, axes[0], "no training histories")
    for ax, split in zip(axes, splits, strict=True):
        h = history[history["split"] == split]
        for i, v in enumerate([v for v in variants if v in set(h["variant"])]):
            g = h[h["variant"] == v].groupby("epoch")["val_rmse"]
            stats = g.agg(["mean", "min", "max", "size"])
            # runs end at early stopping: a mean over the few still training is survivor noise
            stats = stats[stats["size"] >= 0.5 * stats["size"].max()]
            ax.plot(stats.index, stats["mean"], color=f"C{i}", lw=1.5, label=v)
            ax.fill_between(stats.index, stats["min"], stats["max"], color=f"C{i}", alpha=0.15)
        ax.set_title(split, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("validation RMSE (ln IC50)")
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.tight_layout()
    return fig


def faithfulness_plot(frame: pd.DataFrame, label: int = 4) -> Figure:
    """Per-drug change of the prediction when deleting the top-k attended atoms against k
    element-matched random atoms, one panel per deleted fraction (log-log); the ``label`` most
    anti-faithful drugs of each panel are named."""
    fractions = sorted(set(frame.get("fraction", [])))
    fig, axes = plt.subplots(1, max(1, len(fractions)), figsize=(4.0 * max(1, len(fractions)), 4.0))
    axes = np.atleast_1d(axes)
    if frame.empty or not fractions:
        return _empty(fig, axes[0], "no faithfulness scores")
    positive = frame[(frame["top_k_delta"] > 0) & (frame["random_k_delta"] > 0)]
    lo = float(positive[["top_k_delta", "random_k_delta"]].min().min()) * 0.8
    hi = float(positive[["top_k_delta", "random_k_delta"]].max().max()) * 1.25
    for ax, fraction in zip(axes, fractions, strict=True):
        g = positive[positive["fraction"] == fraction]
        ratio = g["top_k_delta"] / g["random_k_delta"]
        ax.scatter(g["random_k_delta"], g["top_k_delta"], s=12, alpha=0.6,
                   c=np.where(ratio >= 1, "#1a9850", "#d73027"))  # fmt: skip
        named = g.assign(ratio=ratio).nsmallest(label, "ratio").sort_values("top_k_delta")
        for k, r in enumerate(named.itertuples()):  # staggered, so close points stay legible
            ax.annotate(str(r.drug_id), (r.random_k_delta, r.top_k_delta), fontsize=6,
                        xytext=(6, -10 + 9 * k), textcoords="offset points",
                        arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "0.4"})  # fmt: skip
        ax.plot([lo, hi], [lo, hi], color="black", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_title(
            f"{fraction:.0%} of atoms deleted: {np.mean(ratio < 1):.0%} of drugs below", fontsize=9
        )
        ax.set_xlabel("|Δ ln IC50|, matched random atoms deleted", fontsize=8)
        ax.set_ylabel("|Δ ln IC50|, top attended atoms deleted", fontsize=8)
    fig.tight_layout()
    return fig


def biomarker_plot(table: pd.DataFrame) -> Figure:
    """Observed against predicted effect (mean ln IC50 positive - negative cells) of drug x
    feature associations: a random sample (grey), those with observed FDR < 0.05 (blue) and the
    named classics (red, labelled)."""
    fig, ax = plt.subplots(figsize=(5.2, 4.8))
    if table.empty:
        return _empty(fig, ax, "no biomarker associations")
    styles = {"sample": ("0.7", 4, "random sample"), "significant": ("#4575b4", 8, "FDR < 0.05"),
              "classic": ("#d73027", 30, "classics")}  # fmt: skip
    for subset, (colour, size, label) in styles.items():
        g = table[table["subset"] == subset]
        ax.scatter(g["observed"], g["predicted"], s=size, color=colour, alpha=0.7, label=label)
    lim = float(np.nanmax(np.abs(table[["observed", "predicted"]].to_numpy()))) * 1.05
    classics = table[table["subset"] == "classic"].sort_values("predicted", ascending=False)
    # the classics crowd near the origin: their labels stand in a column in the empty
    # lower-right quadrant, each joined to its point
    for y, r in zip(np.linspace(-0.2, -0.92, max(2, len(classics))) * lim,
                    classics.itertuples(), strict=False):  # fmt: skip
        ax.annotate(f"{r.feature} · {r.drug_id}", (r.observed, r.predicted), xytext=(0.3 * lim, y),
                    fontsize=6, va="center",
                    arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "#d73027"})  # fmt: skip
    ax.plot([-lim, lim], [-lim, lim], color="black", lw=0.8, ls="--")
    ax.axhline(0, color="0.5", lw=0.5)
    ax.axvline(0, color="0.5", lw=0.5)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_xlabel("observed effect, Δ mean ln IC50 (positive − negative cells)", fontsize=8)
    ax.set_ylabel("predicted effect, Δ mean predicted ln IC50", fontsize=8)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def attention_colourbar() -> Figure:
    """The molecules' colour scale: an atom's weight relative to the uniform weight 1/n."""
    from drp.featurize.depict import RELATIVE_RANGE, attention_cmap

    fig, ax = plt.subplots(figsize=(5.2, 0.9))
    lo, hi = RELATIVE_RANGE
    norm = matplotlib.colors.LogNorm(lo, hi)
    bar = fig.colorbar(
        matplotlib.cm.ScalarMappable(norm=norm, cmap=attention_cmap()), cax=ax,
        orientation="horizontal",
    )  # fmt: skip
    ticks = [lo, 0.5, 1.0, 2.0, hi]
    bar.set_ticks(ticks, labels=[f"{t:g}×" + (" (uniform 1/n)" if t == 1 else "") for t in ticks])
    bar.ax.xaxis.set_minor_formatter(NullFormatter())  # log minor labels collide
    bar.ax.axvline(1.0, color="black", lw=1.5)
    bar.set_label("attention weight × number of atoms (log scale; 1 = uniform)", fontsize=8)
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
