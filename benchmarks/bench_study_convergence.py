"""Are the study's models trained like a standalone `drp train`? Per fold, the study's default
variant against standalone runs of the same split, fold and seed.

The study must land within 0.02 test RMSE of a converged standalone `drp train` on the same fold
(an under-trained twin measures the budget, not the architecture). This script reads the study's
compact records and the standalone runs' ``config.json`` + ``predictions_test.parquet``, checks
that the run configs match, and appends one row per pair to ``benchmarks/RESULTS.md``.

    python benchmarks/bench_study_convergence.py studies/gdsc2_standard runs/db_hybrid_f0 ...
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_table import add_rows  # noqa: E402

from drp.models.registry import DEFAULT_VARIANT, variant_config  # noqa: E402
from drp.study.cells import run_name  # noqa: E402
from drp.study.evidence import cell_path  # noqa: E402

SECTION = "## Study runs against standalone `drp train`"
HEADER = f"""{SECTION}

`benchmarks/bench_study_convergence.py`: the study's default variant on a fold against a
standalone `drp train` run of the same split, fold and seed (same config). Target: within 0.02
test RMSE.

| date | study | split | fold | seed | study RMSE | standalone RMSE | difference | study epochs | standalone epochs | within 0.02 |
|---|---|---|---|---|---|---|---|---|---|---|
"""
TOLERANCE = 0.02


def compare(study: Path, run_dir: Path) -> dict[str, object]:
    config = json.loads((run_dir / "config.json").read_text())
    train = config["train"]
    model = {k: v for k, v in config["model"].items() if k != "name"}
    default = {k: v for k, v in asdict(variant_config(DEFAULT_VARIANT)).items() if k != "name"}
    if model != default:
        raise ValueError(f"{run_dir} is not a {DEFAULT_VARIANT} run: its model is {model}")
    split, fold, seed = train["split"], int(train["fold"]), int(train["seed"])
    record_path = cell_path(study, run_name(DEFAULT_VARIANT, split, fold, seed))
    if not record_path.is_file():
        raise FileNotFoundError(f"the study has no finished cell for {run_dir}: {record_path}")
    record = json.loads(record_path.read_text())
    pred = pd.read_parquet(run_dir / "predictions_test.parquet")
    standalone = float(np.sqrt(((pred.y_true - pred.y_pred) ** 2).mean()))
    summary = json.loads((run_dir / "summary.json").read_text())
    return {
        "split": split,
        "fold": fold,
        "seed": seed,
        "study": record["rmse"],
        "standalone": standalone,
        "study_epochs": record["epochs"],
        "standalone_epochs": summary.get("epochs_run"),
        "n": record["n"],
        "n_standalone": len(pred),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path)
    parser.add_argument("runs", type=Path, nargs="+")
    args = parser.parse_args()
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    rows = []
    for run_dir in args.runs:
        r = compare(args.study, run_dir)
        if r["n"] != r["n_standalone"]:
            raise ValueError(f"{run_dir}: {r['n_standalone']} test pairs, the study {r['n']}")
        diff = r["study"] - r["standalone"]
        ok = abs(diff) <= TOLERANCE
        print(f"{r['split']} fold {r['fold']}: study {r['study']:.4f}, standalone "
              f"{r['standalone']:.4f}, difference {diff:+.4f} ({'ok' if ok else 'OUTSIDE'})")  # fmt: skip
        rows.append(
            f"| {date} | {args.study.name} | {r['split']} | {r['fold']} | {r['seed']} | "
            f"{r['study']:.4f} | {r['standalone']:.4f} | {diff:+.4f} | {r['study_epochs']} | "
            f"{r['standalone_epochs']} | {'yes' if ok else 'no'} |\n"
        )
    add_rows(SECTION, HEADER, "".join(rows))


if __name__ == "__main__":
    main()
