"""Exploration behind RESULTS.md's "How strong is the EGFR-mutation signal?" (issue 25): can a
learner that is not told a drug's target single out EGFR mutation for the EGFR inhibitors?

Two measurements on the dataset featurized with mutation (``data/featurized/gdsc2_views``):

1. For each of erlotinib, gefitinib, afatinib (and lapatinib), the rank of EGFR among every gene
   mutated in at least 10 cells by the |Welch t| of mutant against other cells' ln IC50, on all
   cells (an upper bound on what any training fold shows).
2. A per-drug mutation term fitted where it has the best chance: on the cell-blind folds of seed 0
   (k = 5), the residual of each training pair after its drug's and its cell's mean, regressed on
   the cells' mutation bits (unmeasured training pairs count as residual 0; one ridge per drug,
   ``RidgeCV`` with the penalty chosen per drug by leave-one-out), predicted for the test cells; the EGFR effect of that term alone (mutant minus
   other test cells) against the observed one, and the test RMSE of drug mean + term against the
   drug mean.

Prints the figures; writes nothing. Usage: ``python benchmarks/explore_egfr_signal.py``
(about 1 minute on a 2-core CPU).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.linear_model import RidgeCV

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from drp.featurize.store import FeaturizedDataset  # noqa: E402
from drp.splits.cache import load_or_make_folds  # noqa: E402

DATASET = ROOT / "data" / "featurized" / "gdsc2_views"
EGFR_DRUGS = ("Erlotinib", "Gefitinib", "Afatinib")
MIN_MUTANTS = 10


def egfr_rank(pairs: pd.DataFrame, mutated: pd.DataFrame, drug: str) -> tuple[int, float, int]:
    """(rank of EGFR by |Welch t|, its |t|, genes ranked) for one drug over all its cells."""
    y = pairs[pairs.drug_id == drug].set_index("cell_id").ln_ic50
    x = mutated.loc[y.index].to_numpy()
    values = y.to_numpy()
    t = pd.Series(
        [stats.ttest_ind(values[m], values[~m], equal_var=False).statistic for m in x.T],
        index=mutated.columns,
    ).abs()
    order = t.sort_values(ascending=False)
    return int(np.flatnonzero(order.index == "EGFR")[0]) + 1, float(t["EGFR"]), len(order)


def mutation_term(ds: FeaturizedDataset, mutated: pd.DataFrame) -> pd.DataFrame:
    """Test pairs of the cell-blind folds (seed 0) with ``base`` (the training drug mean) and
    ``term`` (the per-drug ridge on mutation bits, fitted to the training residuals)."""
    pairs = ds.pairs.reset_index(drop=True)
    out = []
    for fold in load_or_make_folds(ds, "cell_blind", k=5, fold_seed=0):
        train = pairs.iloc[np.concatenate([fold.train, fold.val])]
        test = pairs.iloc[fold.test].copy()
        drug_mean = train.groupby("drug_id").ln_ic50.mean()
        centred = train.ln_ic50 - train.drug_id.map(drug_mean)
        residual = centred - train.cell_id.map(centred.groupby(train.cell_id).mean())
        table = pd.DataFrame({"c": train.cell_id, "d": train.drug_id, "r": residual})
        y = table.pivot_table(index="c", columns="d", values="r").fillna(0.0)
        x = mutated.loc[y.index].astype(float)
        x = x.loc[:, x.sum() >= MIN_MUTANTS]
        centre = x.mean()
        ridge = RidgeCV(alphas=np.logspace(0, 4, 9), alpha_per_target=True)
        ridge.fit(x - centre, y.to_numpy())
        cells = test.cell_id.unique()
        term = pd.DataFrame(
            ridge.predict(mutated.loc[cells, x.columns].astype(float) - centre),
            index=cells,
            columns=y.columns,
        ).stack()
        test = test.join(term.rename("term"), on=["cell_id", "drug_id"])
        out.append(test.assign(term=test.term.fillna(0.0), base=test.drug_id.map(drug_mean)))
        print(f"fold {fold.index}: {x.shape[1]} genes, median penalty {np.median(ridge.alpha_):g}")
    return pd.concat(out)


def main() -> None:
    ds = FeaturizedDataset.load(DATASET)
    mutated = ds.omics["mutation"] > 0
    mutated = mutated.loc[:, mutated.sum() >= MIN_MUTANTS]
    for drug in (*EGFR_DRUGS, "Lapatinib"):
        rank, t, n = egfr_rank(ds.pairs, mutated, drug)
        print(f"{drug}: EGFR mutation ranks {rank} of {n} mutated genes (|t| {t:.2f})")
    pred = mutation_term(ds, mutated)

    def rmse(p: pd.Series) -> float:
        return float(np.sqrt(np.mean((pred.ln_ic50 - p) ** 2)))

    print(
        f"test RMSE: drug mean {rmse(pred.base):.4f}, + mutation term {rmse(pred.base + pred.term):.4f}"
    )
    egfr = ds.omics["mutation"]["EGFR"] > 0
    for drug in EGFR_DRUGS:
        p = pred[pred.drug_id == drug]
        pos = p.cell_id.map(egfr).to_numpy(bool)
        observed = p.ln_ic50[pos].mean() - p.ln_ic50[~pos].mean()
        term = p.term[pos].mean() - p.term[~pos].mean()
        print(
            f"{drug}: observed {observed:+.3f}, mutation term {term:+.3f} ({pos.sum()} mutant cells)"
        )


if __name__ == "__main__":
    main()
