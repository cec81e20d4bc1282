"""Coverage and width of the split-conformal intervals on held-out test pairs.

For finished runs (one per fold of a split), calibrates on each run's validation pairs with
:func:`drp.intervals.conformal_quantiles` (what ``calibration.json`` holds) and scores the run's
test pairs: empirical coverage and mean width at 80% and 90%, per fold and on average. Rows go
to ``benchmarks/RESULTS.md``. Target (intervals issue): 88-92% coverage at 90% on each split.

Usage: ``python benchmarks/bench_intervals.py --split mixed --runs runs/a_f0 runs/a_f1 ...``
"""

from __future__ import annotations

import argparse
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from results_table import add_rows

from drp.intervals import conformal_quantiles

HERE = Path(__file__).parent
SECTION = "## Prediction intervals"
LEVELS = ("0.80", "0.90")


def coverage(run: Path) -> dict[str, float]:
    val = pd.read_parquet(run / "predictions_val.parquet")
    test = pd.read_parquet(run / "predictions_test.parquet")
    q = conformal_quantiles((val.y_pred - val.y_true).abs().to_numpy())
    err = (test.y_pred - test.y_true).abs().to_numpy()
    return {f"cov_{lv}": float(np.mean(err <= q[lv])) for lv in LEVELS} | {
        f"width_{lv}": 2 * q[lv] for lv in LEVELS
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", required=True)
    parser.add_argument("--runs", nargs="+", type=Path, required=True)
    args = parser.parse_args()
    table = pd.DataFrame([coverage(r) for r in args.runs])
    print(table.round(3).to_string())
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
    ).stdout.strip()
    header = (
        f"{SECTION}\n\nWritten by `benchmarks/bench_intervals.py`: split-conformal intervals "
        "calibrated on each run's validation pairs (same blindness as the split), scored on "
        "its test pairs; coverage per fold and mean, mean width (ln IC50).\n\n"
        "| date | commit | split | runs | coverage 80% (per fold) | mean | width 80% | "
        "coverage 90% (per fold) | mean | width 90% |\n|---|---|---|---|---|---|---|---|---|---|\n"
    )
    cells = [f"{datetime.now(UTC):%Y-%m-%d %H:%M}", commit, args.split, str(len(args.runs))]
    for lv in LEVELS:
        col = table[f"cov_{lv}"]
        cells += [" / ".join(f"{x:.3f}" for x in col), f"{col.mean():.3f}"]
        cells.append(f"{table[f'width_{lv}'].mean():.2f}")
    add_rows(SECTION, header, "| " + " | ".join(cells) + " |\n")


if __name__ == "__main__":
    main()
