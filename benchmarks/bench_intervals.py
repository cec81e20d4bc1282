"""Coverage and width of the conformal intervals on held-out test pairs.

For finished runs (one per fold of a split), calibrates each run exactly as ``drp train`` does
(:func:`drp.training.intervals.write_calibration`: split conformal on the validation pairs for known
drugs; drug-level conformal for drug- and cluster-blind runs, with the run's prior's
leave-one-structure-out level errors) and scores the run's test pairs: empirical coverage and
mean width at 80% and 90%, per fold and on average, and the spread over test drugs (the 10th
percentile of per-drug coverage, and the share of drugs with none of their cells covered).
Rows go to ``benchmarks/RESULTS.md``. Target (issue 22): on every split kind the mean over
folds within ±2 points of nominal, and no fold below nominal - 5 points.

With ``--schemes`` it also compares, on the same pairs, plain split conformal with two
difficulty-aware schemes from ``crepes`` (``pip install -e '.[bench]'``): Mondrian conformal
with one bin per drug, and normalised conformal scaled by each drug's residual sd on the
validation pairs; drug-blind folds cannot use them (their test drugs have no validation pairs).

Usage: ``python benchmarks/bench_intervals.py --split drug_blind --runs runs/a_f0 runs/a_f1 ...
[--schemes] [--label NAME]``
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from results_table import add_rows

from drp.models.drug_prior import FILE as PRIOR_FILE
from drp.models.drug_prior import DrugEffectPrior
from drp.training.intervals import NEW_DRUG_SPLITS, write_calibration

HERE = Path(__file__).parent
SECTION = "## Prediction intervals"
LEVELS = ("0.80", "0.90")


def calibrate(run: Path, split: str) -> dict[str, float]:
    """The run's quantiles, recomputed as ``drp train`` writes them at this commit."""
    val = pd.read_parquet(run / "predictions_val.parquet")
    errors = None
    prior_on = json.loads((run / "config.json").read_text())["train"]["drug_prior"] != "none"
    if split in NEW_DRUG_SPLITS and prior_on and (run / PRIOR_FILE).exists():
        errors = DrugEffectPrior.load(run / PRIOR_FILE).loo_residuals()
    with tempfile.TemporaryDirectory() as tmp:
        return write_calibration(Path(tmp), val, split, errors)["quantiles"]


def coverage(run: Path, split: str) -> dict[str, float]:
    test = pd.read_parquet(run / "predictions_test.parquet")
    q = calibrate(run, split)
    err = (test.y_pred - test.y_true).abs().to_numpy()
    out: dict[str, float] = {}
    for lv in LEVELS:
        covered = pd.Series(err <= q[lv]).groupby(test.drug_id.to_numpy()).mean()
        out |= {
            f"cov_{lv}": float(np.mean(err <= q[lv])),
            f"width_{lv}": 2 * q[lv],
            f"drug_p10_{lv}": float(covered.quantile(0.1)),
            f"drug_none_{lv}": float((covered == 0).mean()),
        }
    return out


SPREAD_SECTION = "## Interval coverage by fold and by drug"
SPREAD_HEADER = f"""{SPREAD_SECTION}

`benchmarks/bench_intervals.py` (same runs as "Prediction intervals"): the lowest fold's
coverage, and per fold the 10th percentile over test drugs of the share of a drug's test cells
covered, and the share of test drugs with none of their cells covered. Coverage is marginal over
pairs; these columns show how unevenly it falls on drugs.

| date | commit | machine | split | min fold 80% | drug p10 80% (per fold) | drugs none covered 80% | min fold 90% | drug p10 90% (per fold) | drugs none covered 90% |
|---|---|---|---|---|---|---|---|---|---|
"""

SCHEMES_SECTION = "## Conformal schemes"
SCHEMES_HEADER = f"""{SCHEMES_SECTION}

`benchmarks/bench_intervals.py --schemes`: on each run's validation (calibration) and test
pairs, plain split conformal against Mondrian conformal by drug and normalised conformal (sigma =
the drug's residual sd on the validation pairs), both from `crepes`. Mean over the runs' folds of
the test coverage and mean width (ln IC50).

| date | commit | split | runs | level | plain coverage | plain width | Mondrian coverage | Mondrian width | normalised coverage | normalised width |
|---|---|---|---|---|---|---|---|---|---|---|
"""


def scheme_coverage(run: Path) -> list[dict[str, float]]:
    """Coverage and mean width of plain, Mondrian (by drug) and normalised conformal."""
    import warnings

    from crepes import ConformalRegressor

    val = pd.read_parquet(run / "predictions_val.parquet")
    test = pd.read_parquet(run / "predictions_test.parquet")
    res = (val.y_true - val.y_pred).to_numpy()
    codes = {d: i for i, d in enumerate(sorted(set(val.drug_id) | set(test.drug_id)))}
    bins_val, bins_test = val.drug_id.map(codes).to_numpy(), test.drug_id.map(codes).to_numpy()
    if not np.isin(bins_test, bins_val).all():
        raise SystemExit(f"{run}: test drugs without validation pairs; schemes need known drugs")
    sd = val.assign(r=res).groupby("drug_id")["r"].std()
    sd = sd.fillna(sd.median())  # a drug with one validation pair: the typical drug's sd
    sig_val, sig_test = val.drug_id.map(sd).to_numpy(), test.drug_id.map(sd).to_numpy()
    y_hat, y = test.y_pred.to_numpy(), test.y_true.to_numpy()
    fitted = {
        "plain": (ConformalRegressor().fit(res), {}),
        "mondrian": (ConformalRegressor().fit(res, bins=bins_val), {"bins": bins_test}),
        "normalised": (ConformalRegressor().fit(res, sigmas=sig_val), {"sigmas": sig_test}),
    }
    rows = []
    for level in (0.8, 0.9):
        row: dict[str, float] = {"level": level}
        for name, (model, extra) in fitted.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a drug with too few pairs: infinite interval
                lo, hi = model.predict_int(y_hat, confidence=level, **extra).T
            row[f"{name}_coverage"] = float(np.mean((y >= lo) & (y <= hi)))
            row[f"{name}_width"] = float(np.mean(hi - lo))
        rows.append(row)
    return rows


def compare_schemes(split: str, runs: list[Path], commit: str) -> None:
    table = pd.DataFrame([row for r in runs for row in scheme_coverage(r)])
    means = table.groupby("level").mean()
    print(means.round(3).to_string())
    lines = ""
    for level, row in means.iterrows():
        cells = [f"{datetime.now(UTC):%Y-%m-%d %H:%M}", commit, split, str(len(runs))]
        cells.append(f"{level:.0%}")
        for name in ("plain", "mondrian", "normalised"):
            cells += [f"{row[f'{name}_coverage']:.3f}", f"{row[f'{name}_width']:.2f}"]
        lines += "| " + " | ".join(cells) + " |\n"
    add_rows(SCHEMES_SECTION, SCHEMES_HEADER, lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", required=True)
    parser.add_argument("--runs", nargs="+", type=Path, required=True)
    parser.add_argument("--schemes", action="store_true", help="compare conformal schemes")
    parser.add_argument("--machine", default=platform.node() or "?", help="where runs trained")
    args = parser.parse_args()
    table = pd.DataFrame([coverage(r, args.split) for r in args.runs])
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
    spread = [f"{datetime.now(UTC):%Y-%m-%d %H:%M}", commit, args.machine, args.split]
    for lv in LEVELS:
        spread += [
            f"{table[f'cov_{lv}'].min():.3f}",
            " / ".join(f"{x:.2f}" for x in table[f"drug_p10_{lv}"]),
            " / ".join(f"{x:.2f}" for x in table[f"drug_none_{lv}"]),
        ]
    add_rows(SPREAD_SECTION, SPREAD_HEADER, "| " + " | ".join(spread) + " |\n")
    if args.schemes:
        compare_schemes(args.split, args.runs, commit)


if __name__ == "__main__":
    main()
