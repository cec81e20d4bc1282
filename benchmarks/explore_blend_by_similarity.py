"""Exploration behind RESULTS.md's "Blending by similarity" (issue 25): would a blend weight
that depends on a new drug's similarity to its nearest training drug rank cells better than the
single ``train.prior_pattern = 0.7``?

The default's saved drug-blind test predictions (``bench_new_drugs.py --label
descriptor-prior-saved --seed S --save-predictions``, seeds 0 and 1) are per drug
``(1 - w) * network + w * analogues`` plus a constant (``drp/training/estimator.py``), so with the
analogue pattern recomputed here (`drp.models.drug_pattern`, as the product fits it) the
network's own pattern is recovered per drug, and every other weight can be scored without
training. Prints mean per-drug r by similarity bin and weight; writes nothing.

Usage: ``python benchmarks/explore_blend_by_similarity.py`` (about 15 s).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from drp.featurize.similarity import tanimoto_cross  # noqa: E402
from drp.featurize.store import FeaturizedDataset  # noqa: E402
from drp.models.drug_pattern import fit_pattern, residual_profiles, weights  # noqa: E402
from drp.splits.cache import load_or_make_folds  # noqa: E402

DATASET = ROOT / "data" / "featurized" / "gdsc2"
SAVED = ROOT / "runs" / "bench_new_drugs" / "predictions"
BLEND = 0.7  # train.prior_pattern of the saved runs
WEIGHTS = (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    return np.nan if np.ptp(x) == 0 or np.ptp(y) == 0 else float(np.corrcoef(x, y)[0, 1])


def drug_patterns(ds: FeaturizedDataset, seed: int) -> list[dict]:
    """Per test drug of every fold: observed, analogue, network and cell-mean patterns."""
    rows = []
    for fold in load_or_make_folds(ds, "drug_blind", 5, seed, DATASET / "folds"):
        train, _, test = fold.frames(ds.pairs)
        cells = train.groupby("cell_id")["ln_ic50"].mean()
        cell_ids = cells.index.to_numpy(str)
        ids = np.sort(train.drug_id.unique())
        profiles, observed = residual_profiles(train, ids, cell_ids)
        fps = ds.fingerprints[[ds.drug_index[d] for d in ids]]
        held = np.sort(test.drug_id.unique())
        k_new = tanimoto_cross(ds.fingerprints[[ds.drug_index[d] for d in held]], fps)
        fit = fit_pattern(tanimoto_cross(fps, fps), profiles.astype(np.float64), observed, ids)
        analogue = cells.to_numpy() + fit.scale * weights(k_new, fit.power) @ profiles
        table = pd.DataFrame(analogue, index=held, columns=cell_ids).stack()
        saved = pd.read_parquet(
            SAVED / f"descriptor-prior-saved_s{seed}_f{fold.index}_gat_edge.parquet"
        )
        saved = saved[saved.cell_id.isin(cell_ids)]
        saved["a"] = table.reindex(list(zip(saved.drug_id, saved.cell_id, strict=True))).to_numpy()
        nearest = dict(zip(held, k_new.max(1), strict=True))
        for drug, p in saved.groupby("drug_id"):
            if len(p) < 3:
                continue
            a, f = p.a.to_numpy(), p.y_pred.to_numpy()
            rows.append({"seed": seed, "similarity": nearest[drug], "t": p.y_true.to_numpy(),
                         "a": a, "n": (f - BLEND * a) / (1 - BLEND),
                         "m": p.cell_id.map(cells).to_numpy()})  # fmt: skip
    return rows


def main() -> None:
    ds = FeaturizedDataset.load(DATASET)
    table = pd.DataFrame([r for seed in (0, 1) for r in drug_patterns(ds, seed)])
    table["bin"] = pd.cut(table.similarity, [0, 0.3, 0.5, 1.01], right=False,
                          labels=["< 0.3", "0.3-0.5", ">= 0.5"])  # fmt: skip
    table["cell mean"] = [pearson(r.t, r.m) for r in table.itertuples()]
    for w in WEIGHTS:
        table[f"w {w}"] = [pearson(r.t, (1 - w) * r.n + w * r.a) for r in table.itertuples()]
    cols = ["cell mean"] + [f"w {w}" for w in WEIGHTS]
    print(table.groupby(["seed", "bin"], observed=True)[cols].mean().round(4).to_string())
    print(table.groupby("seed")[cols].mean().round(4).to_string())


if __name__ == "__main__":
    main()
