"""Applicability domain of `drp screen`: new-drug error against similarity to the training drugs.

Reads finished drug-blind runs (one per fold, e.g. ``drp train --split drug_blind --fold F``),
takes each held-out drug's max Tanimoto similarity to its fold's training drugs and its RMSE over
its test pairs, bins them, and picks the threshold with :func:`applicability.pick_ad_threshold`:
the lowest similarity above which every bin of at least ``--min-drugs`` drugs has a mean per-drug
RMSE below the mean over all held-out drugs (the typical error on a new drug). Below it a screened
compound's error is expected to exceed that typical error, so it is flagged out of domain.

Writes ``benchmarks/applicability_domain.png`` and a section in ``benchmarks/RESULTS.md``.

Usage: ``python benchmarks/bench_applicability.py --runs runs/db_f0 runs/db_f1 ...``
"""

from __future__ import annotations

import argparse
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from applicability import (  # noqa: E402
    applicability_curve,
    heldout_drug_applicability,
    pick_ad_threshold,
)
from results_table import add_rows  # noqa: E402

HERE = Path(__file__).parent
SECTION = "## Applicability domain"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", type=Path, required=True)
    parser.add_argument("--bin-width", type=float, default=0.1)
    parser.add_argument("--min-drugs", type=int, default=5)
    args = parser.parse_args()
    drugs = pd.concat(
        [heldout_drug_applicability(r).assign(run=r.name) for r in args.runs], ignore_index=True
    )
    bins = np.arange(0.0, 1.0 + args.bin_width / 2, args.bin_width)
    curve = applicability_curve(drugs.max_tanimoto.to_numpy(), drugs.rmse.to_numpy(), bins)
    typical = float(drugs.rmse.mean())
    threshold = pick_ad_threshold(curve, typical, args.min_drugs)
    rho = drugs[["max_tanimoto", "rmse"]].corr(method="spearman").iloc[0, 1]
    print(curve.round(3).to_string(index=False))
    print(
        f"{len(drugs)} held-out drugs; typical RMSE {typical:.3f}; Spearman {rho:.2f}; "
        f"threshold {threshold}"
    )
    figure(drugs, curve, typical, threshold, HERE / "applicability_domain.png")
    write_results(drugs, curve, typical, threshold, rho, args)


def figure(
    drugs: pd.DataFrame, curve: pd.DataFrame, typical: float, threshold: float | None, out: Path
) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.scatter(drugs.max_tanimoto, drugs.rmse, s=12, alpha=0.5, label="held-out drug")
    mid = (curve.sim_lo + curve.sim_hi) / 2
    ax.plot(mid, curve.rmse, "o-", color="black", label="bin mean")
    ax.axhline(typical, color="grey", ls="--", label=f"mean over drugs ({typical:.2f})")
    if threshold is not None:
        ax.axvline(threshold, color="tab:red", ls=":", label=f"threshold {threshold:.2f}")
    ax.set_xlabel("max Tanimoto similarity to a training drug (Morgan r=2, 2,048 bits)")
    ax.set_ylabel("per-drug RMSE on its test pairs (ln IC50)")
    ax.set_title("Drug-blind error against similarity to the training drugs")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def write_results(
    drugs: pd.DataFrame,
    curve: pd.DataFrame,
    typical: float,
    threshold: float | None,
    rho: float,
    args: argparse.Namespace,
) -> None:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
    ).stdout.strip()
    stamp = f"{datetime.now(UTC):%Y-%m-%d %H:%M}"
    header = (
        f"{SECTION}\n\nWritten by `benchmarks/bench_applicability.py` from drug-blind runs: "
        "each held-out drug's max Tanimoto similarity to its fold's training drugs against its "
        "RMSE; bins of the mean per-drug RMSE; the threshold is the lowest similarity above "
        "which every bin (of enough drugs) stays below the mean over all held-out drugs. "
        "Figure: `benchmarks/applicability_domain.png`.\n\n"
        "| date | commit | runs | drugs | mean per-drug RMSE | Spearman (similarity, RMSE) "
        "| threshold | bins: similarity [drugs] RMSE |\n|---|---|---|---|---|---|---|---|\n"
    )
    shown = curve[curve.n_drugs > 0]
    bins = "; ".join(
        f"{r.sim_lo:.1f}-{r.sim_hi:.1f} [{r.n_drugs}] {r.rmse:.2f}" for r in shown.itertuples()
    )
    runs = ", ".join(r.name for r in args.runs)
    row = (
        f"| {stamp} | {commit} | {runs} | {len(drugs)} | {typical:.3f} | {rho:.2f} | "
        f"{threshold if threshold is None else f'{threshold:.2f}'} | {bins} |\n"
    )
    add_rows(SECTION, header, row)


if __name__ == "__main__":
    main()
