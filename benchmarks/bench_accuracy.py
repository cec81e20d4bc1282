"""Accuracy of the default model on GDSC2 mixed k-fold beside the mean-effects baseline.

Trains the default configuration (``drp train`` defaults) on each fold (seed 0, the shared fold
cache), scores it and the additive mean-effects baseline on the same test pairs, prints the
table and appends it to benchmarks/RESULTS.md. About 2.5 minutes a fold on the 2-core CPU.

Usage: ``python benchmarks/bench_accuracy.py [--dataset data/featurized/gdsc2] [--folds 0 1 2 3 4]
[--variant hybrid]`` (``--variant``: a registered model variant instead of the default).
"""

from __future__ import annotations

import argparse
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from drp.core.config import RunConfig
from drp.evaluation.runs import evaluate_with_baselines, train_run
from drp.featurize.store import FeaturizedDataset
from drp.models.registry import DEFAULT_VARIANT, variant_config

RESULTS = Path(__file__).with_name("RESULTS.md")
COLUMNS = ["rmse", "pearson", "per_drug_r", "per_cell_r"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="data/featurized/gdsc2")
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--runs", default="runs/accuracy")
    parser.add_argument("--variant", default=DEFAULT_VARIANT)
    args = parser.parse_args()
    ds = FeaturizedDataset.load(Path(args.dataset))
    base = RunConfig(model=variant_config(args.variant))
    run_dirs = []
    for fold in args.folds:
        cfg = replace(base, train=replace(base.train, dataset=args.dataset, fold=fold))
        run_dir = Path(args.runs) / f"{args.variant}_mixed_f{fold}"
        if not (run_dir / "predictions_test.parquet").exists():  # written last
            summary = train_run(
                cfg, run_dir, ds=ds, resume=(run_dir / "last.pt").exists(), name=args.variant
            )
            print(
                f"fold {fold}: best val RMSE {summary['best_val_rmse']:.3f} "
                f"({summary['epochs_run']} epochs, {summary['train_seconds']:.0f} s)"
            )
        run_dirs.append(run_dir)
    # the runs beside the baseline on exactly their folds (split, k, seed read from the runs)
    table, _ = evaluate_with_baselines(run_dirs, ["mean_effects"])
    table = table[table.subset == "all"]
    summary = table.groupby("model")[COLUMNS].agg(["mean", "std"])
    print(summary.round(3).to_string())
    write_results(summary, args.folds)


def write_results(summary: pd.DataFrame, folds: list[int]) -> None:
    commit = (
        subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        or "unknown"
    )
    lines = [
        f"\n## Accuracy: GDSC2 mixed split, folds {folds} (seed 0), "
        f"{datetime.now(UTC):%Y-%m-%d}, commit {commit}\n",
        "Written by `benchmarks/bench_accuracy.py`: a model variant (`drp train` defaults) and "
        "the additive mean-effects baseline on identical test pairs; mean ± sd over folds.\n",
        "| model | RMSE | Pearson | mean per-drug r | mean per-cell r |",
        "|---|---|---|---|---|",
    ]
    for model, row in summary.iterrows():
        cells = [f"{row[(c, 'mean')]:.3f} ± {row[(c, 'std')]:.3f}" for c in COLUMNS]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmarks\n"
    RESULTS.write_text(text + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
