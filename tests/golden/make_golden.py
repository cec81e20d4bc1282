"""Regenerate the golden run that ``tests/training/test_golden.py`` checks.

Trains a tiny default-architecture model (hybrid drug input, edge-aware GAT, attention pooling)
for 3 epochs on the network-free fixture of ``tests/conftest.py``, deterministically on the CPU
in float32 with the new-drug prior off, and writes to ``tests/golden/``:

- ``run/best.pt``: the checkpoint, without the optimiser, scheduler and RNG states that only a
  resumed training needs (everything :meth:`NeuralEstimator.from_run` reads is kept);
- ``run/config.json``: the run's config, with the temporary paths and the machine-dependent
  provenance (date, commit, hardware, data checksums) left out;
- ``predictions.csv``: the run's predictions for every fixture cell x drug (``how = matrix``)
  and for one new drug given as SMILES (``how = smiles``), at full float64 precision.

Run it from the repository root when a change is meant to change predictions, and commit the
result with the change: ``python -m tests.golden.make_golden``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

if TYPE_CHECKING:
    from drp.api import Run
    from drp.core.config import RunConfig

GOLDEN = Path(__file__).resolve().parent
RUN = GOLDEN / "run"
PREDICTIONS = GOLDEN / "predictions.csv"
#: A new drug predicted from its SMILES (not in the fixture).
NEW_DRUG = {"caffeine": "Cn1cnc2c1c(=O)n(C)c(=O)n2C"}
#: Checkpoint entries a prediction needs (see ``load_model`` and ``NeuralEstimator.from_run``).
KEEP = (
    "hyper_parameters", "state_dict", "scaler_mean", "scaler_scale", "target_mean",
    "target_std", "omics", "omics_features", "best_epoch", "best_rmse", "epoch",
)  # fmt: skip
#: config.json entries that name this machine, this moment or a temporary directory.
VOLATILE = ("dataset", "data_files", "git_commit", "hardware", "command", "created")


def golden_config(dataset: Path) -> RunConfig:
    """The tiny run's config: small widths, float32 on the CPU, no new-drug prior."""
    from drp.core.config import ModelConfig, RunConfig, TrainConfig

    return RunConfig(
        model=ModelConfig(hidden=16, layers=2, heads=2, dropout=0.0, cell_block_hidden=32),
        train=TrainConfig(
            dataset=str(dataset),
            epochs=3,
            batch_size=16,
            device="cpu",
            precision="fp32",
            drug_prior="none",
            folds_dir=str(dataset.parent / "folds"),
        ),
    )


def golden_predictions(run: Run, how: str = "matrix") -> pd.DataFrame:
    """``cell_id, drug_id, ln_ic50_pred, how`` of a :class:`drp.api.Run` on the fixture."""
    frame = run.predict() if how == "matrix" else run.predict(smiles=NEW_DRUG)
    frame = frame[["cell_id", "drug_id", "ln_ic50_pred"]].assign(how=how)
    return frame.sort_values(["how", "cell_id", "drug_id"], kind="stable").reset_index(drop=True)


def main() -> None:
    """Train the tiny run in a temporary directory and write ``tests/golden/``."""
    import drp
    from drp.evaluation.runs import train_run
    from drp.training.loop import FoldIndices
    from tests.conftest import make_dataset, write_fixture_tables

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ds = make_dataset(write_fixture_tables(root / "tables"))
        ds.save(root / "ds")
        order = np.random.default_rng(0).permutation(len(ds.pairs))
        fold = FoldIndices(order[:56], order[56:66], order[66:])
        train_run(golden_config(root / "ds"), root / "run", ds=ds, fold=fold, name="golden")
        RUN.mkdir(parents=True, exist_ok=True)
        for stale in RUN.iterdir():
            stale.unlink()
        state = torch.load(root / "run" / "best.pt", weights_only=True, map_location="cpu")
        torch.save({k: state[k] for k in KEEP if k in state}, RUN / "best.pt")
        config = json.loads((root / "run" / "config.json").read_text())
        config = {k: v for k, v in config.items() if k not in VOLATILE}
        config["train"] |= {"dataset": "tests/conftest.py fixture", "folds_dir": ""}
        (RUN / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        run = drp.load_run(RUN, dataset=root / "ds")
        frame = pd.concat([golden_predictions(run), golden_predictions(run, "smiles")])
    frame.to_csv(PREDICTIONS, index=False, float_format="%.17g")
    size = sum(p.stat().st_size for p in GOLDEN.rglob("*") if p.is_file())
    print(f"wrote {RUN} and {PREDICTIONS} ({len(frame)} predictions; {size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
