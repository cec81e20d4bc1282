"""Exploration behind RESULTS.md's "Fingerprint kernels for the level" (issue 25): does a second
fingerprint kernel beside the prior's (Tanimoto on Morgan bits plus the descriptor kernel) place
a new drug's main effect better?

On the drug-blind folds (k = 5) of seeds 0 and 1, GDSC2's own drugs only, the product's prior
(:class:`~drp.models.drug_prior.DrugEffectPrior`, fitted on the training and validation pairs as
a run fits it) is scored against each test drug's measured main effect (mean over its test pairs
of ln IC50 minus the training cell mean; RMSE weighted by pairs). Each candidate adds ``w`` times
a kernel (MinMax on Morgan radius-2 counts, MinMax on atom-pair counts, Tanimoto on MACCS keys)
to the prior's kernel, with ``w`` and the penalty chosen leave-one-structure-out on the training
drugs as the prior chooses its own. Prints per-fold and mean figures; writes nothing.

Usage: ``python benchmarks/explore_level_kernels.py`` (about 20 seconds on a 2-core CPU).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from rdkit import Chem, RDLogger
from rdkit.Chem import MACCSkeys, rdFingerprintGenerator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from drp.featurize.similarity import tanimoto_cross  # noqa: E402
from drp.featurize.store import FeaturizedDataset  # noqa: E402
from drp.models.drug_prior import (  # noqa: E402
    ALPHAS,
    DrugEffectPrior,
    _group_loo_error,
    _removal_sets,
)
from drp.splits.cache import load_or_make_folds  # noqa: E402

DATASET = ROOT / "data" / "featurized" / "gdsc2"
WEIGHTS = (0.0, 0.5, 1.0, 2.0, 4.0)


def minmax(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[m, n] MinMax similarity of count vectors a [m, k] and b [n, k]."""
    low = np.stack([np.minimum(x, b).sum(1) for x in a])
    high = np.stack([np.maximum(x, b).sum(1) for x in a])
    return low / np.maximum(high, 1e-9)


def extra_kernels(ds: FeaturizedDataset) -> dict[str, np.ndarray]:
    """name -> [n_drugs, n_drugs] similarity over every drug of ``ds``."""
    RDLogger.DisableLog("rdApp.*")
    mols = [Chem.MolFromSmiles(s) for s in ds.drugs["smiles_standardised"]]
    morgan = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    pairs = rdFingerprintGenerator.GetAtomPairGenerator(fpSize=2048)
    mc = np.stack([morgan.GetCountFingerprintAsNumPy(m) for m in mols]).astype(float)
    ap = np.stack([pairs.GetCountFingerprintAsNumPy(m) for m in mols]).astype(float)
    maccs = np.stack([np.array(list(MACCSkeys.GenMACCSKeys(m)), np.uint8) for m in mols])
    return {
        "morgan counts": minmax(mc, mc),
        "atom-pair counts": minmax(ap, ap),
        "MACCS": tanimoto_cross(maccs, maccs),
    }


def main() -> None:
    ds = FeaturizedDataset.load(DATASET)
    kernels = extra_kernels(ds)
    pairs = ds.pairs.reset_index(drop=True)
    for seed in (0, 1):
        errors: dict[str, list[float]] = {}
        for fold in load_or_make_folds(ds, "drug_blind", k=5, fold_seed=seed):
            known = pairs.iloc[np.concatenate([fold.train, fold.val])]
            test = pairs.iloc[fold.test]
            prior = DrugEffectPrior.fit(ds, known)
            means = known.groupby("cell_id")["ln_ic50"].mean()
            test = test[test.cell_id.isin(means.index)]
            truth = (
                (test.ln_ic50 - test.cell_id.map(means)).groupby(test.drug_id).agg(["mean", "size"])
            )
            rows = [ds.drug_index[d] for d in truth.index]

            def rmse(pred: np.ndarray, truth=truth) -> float:
                diff = pred - truth["mean"].to_numpy()
                return float(np.sqrt(np.average(diff**2, weights=truth["size"].to_numpy())))

            errors.setdefault("prior", []).append(
                rmse(prior.predict(ds.fingerprints[rows], ds.descriptors[rows]))
            )
            own = [ds.drug_index[d] for d in prior.drug_ids[: prior.n_known]]
            base = prior.kernel(prior.fingerprints, prior.descriptors)
            base_new = prior.kernel(ds.fingerprints[rows], ds.descriptors[rows])
            tanimoto = tanimoto_cross(prior.fingerprints, prior.fingerprints)
            removals = _removal_sets(prior.groups, tanimoto, prior.n_known, None)
            y = prior.effects - prior.offset
            for name, k in kernels.items():
                k_own, k_new = k[np.ix_(own, own)], k[np.ix_(rows, own)]
                grid = [(w, a) for w in WEIGHTS for a in ALPHAS]
                loo = [_group_loo_error(base + w * k_own, y, a, removals) for w, a in grid]
                w, a = grid[int(np.argmin(loo))]
                coef = np.linalg.solve(base + w * k_own + a * np.eye(len(y)), y)
                errors.setdefault(name, []).append(
                    rmse((base_new + w * k_new) @ coef + prior.offset)
                )
                errors.setdefault(f"{name} weight", []).append(w)
            print(f"seed {seed} fold {fold.index}: " + ", ".join(
                f"{k} {v[-1]:.3f}" for k, v in errors.items()), flush=True)  # fmt: skip
        print(f"seed {seed} mean over folds: " + ", ".join(
            f"{k} {np.mean(v):.4f}" for k, v in errors.items()))  # fmt: skip


if __name__ == "__main__":
    main()
