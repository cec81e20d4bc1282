"""Seed ensembles against single models on the same mixed-split folds.

An ensemble of the five *fold* models cannot be scored on mixed test folds without leakage: each
fold's test pairs are training pairs of the other four models. The leak-free measurement holds
the fold fixed and varies the training seed: for each fold, the default model is trained with
seeds 0..n-1 on the folds drawn with seed 0, and the members' mean prediction is scored beside
the single models' mean RMSE. Rows go to ``benchmarks/RESULTS.md``.

Usage: ``python benchmarks/bench_ensemble.py --folds 0 1 --members 3``
"""

from __future__ import annotations

import argparse
import subprocess
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from results_table import add_rows

from drp.core.config import RunConfig
from drp.evaluation.runs import train_run
from drp.featurize.store import FeaturizedDataset

HERE = Path(__file__).parent
SECTION = "## Ensembles"
HEADER = f"""{SECTION}

`benchmarks/bench_ensemble.py`: the default model trained with several seeds on one fold
(folds drawn with seed 0; only the initialisation and batch order change), its members' mean
prediction against the single models. Fold ensembles are not scored here: on the mixed split
each fold's test pairs train the other folds' models.

| date | commit | split | fold | members | single RMSE (mean ± sd) | ensemble RMSE | gain | ensemble_sd (median) | seconds |
|---|---|---|---|---|---|---|---|---|---|
"""


def rmse(frame: pd.DataFrame, pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((frame["y_true"].to_numpy() - pred) ** 2)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="mixed")
    parser.add_argument("--folds", type=int, nargs="+", default=[0])
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("runs/bench_ensemble"))
    args = parser.parse_args()
    base = RunConfig()
    ds = FeaturizedDataset.load(Path(base.train.dataset))
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
    ).stdout.strip()
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    rows = []
    for fold in args.folds:
        preds, t0 = [], time.perf_counter()
        for seed in range(args.members):
            run = args.out / f"{args.split}_f{fold}_seed{seed}"
            if not (run / "predictions_test.parquet").exists():
                # the fold is fixed (drawn with seed 0); the seed changes the training only
                train = replace(base.train, split=args.split, fold=fold, seed=seed, fold_seed=0)
                train_run(replace(base, train=train), run, ds=ds, resume=run.exists())
            preds.append(pd.read_parquet(run / "predictions_test.parquet"))
        seconds = time.perf_counter() - t0
        first = preds[0]
        for p in preds[1:]:
            if not p[["cell_id", "drug_id"]].equals(first[["cell_id", "drug_id"]]):
                raise ValueError(f"fold {fold}: members scored different test pairs")
        stacked = np.stack([p["y_pred"].to_numpy() for p in preds])
        singles = [rmse(first, s) for s in stacked]
        ensemble = rmse(first, stacked.mean(0))
        spread = float(np.median(stacked.std(0, ddof=1)))
        print(f"fold {fold}: singles {np.round(singles, 4)}, ensemble {ensemble:.4f}")
        rows.append(
            f"| {date} | {commit} | {args.split} | {fold} | {args.members} | "
            f"{np.mean(singles):.4f} ± {np.std(singles, ddof=1):.4f} | {ensemble:.4f} | "
            f"{ensemble - np.mean(singles):+.4f} | {spread:.3f} | {seconds:.0f} |\n"
        )
    add_rows(SECTION, HEADER, "".join(rows))


if __name__ == "__main__":
    main()
