"""Exploration behind RESULTS.md's "How the analogue pattern is transferred" (issue 25): ways
of moving training drugs' cell-to-cell patterns onto a new drug, scored alone (no network) by
per-drug r on the drug-blind folds (k = 5) of seeds 0 and 1, over all test drugs and over those
whose nearest training drug is < 0.3 similar. Prints a table; writes nothing.

Usage: ``python benchmarks/explore_pattern_transfer.py`` (about 2 minutes on a 2-core CPU).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from bench_new_drugs import nearest_similarity, per_drug  # benchmarks/, the script's folder

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from drp.featurize.similarity import tanimoto_cross  # noqa: E402
from drp.featurize.store import FeaturizedDataset  # noqa: E402
from drp.models.drug_pattern import fit_pattern, residual_profiles, weights  # noqa: E402
from drp.models.drug_prior import (  # noqa: E402
    DrugEffectPrior,
    _descriptor_similarity,
    _signed_log,
    auxiliary_effects,
    main_effects,
)
from drp.splits.cache import load_or_make_folds  # noqa: E402

DATA = ROOT / "data" / "featurized"


def standardised(ds: FeaturizedDataset, ids: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Signed-log descriptors of ``ids`` on the scale of those of ``ref`` (z-scores)."""
    rows = _signed_log(ds.descriptors[[ds.drug_index[d] for d in ids]])
    base = _signed_log(ds.descriptors[[ds.drug_index[d] for d in ref]])
    centre, spread = np.nanmean(base, 0), np.nanstd(base, 0)
    return np.nan_to_num((rows - centre) / np.where(spread > 0, spread, 1.0))


def candidates(
    ds: FeaturizedDataset, aux: FeaturizedDataset, train: pd.DataFrame, test: pd.DataFrame, held
):
    """name -> predicted [held drugs, training cells] ln IC50, and the training cell ids. The
    test pairs serve one oracle only: weighting by the held drugs' true potency."""
    cells = train.groupby("cell_id")["ln_ic50"].mean()
    cell_ids, mean = cells.index.to_numpy(str), cells.to_numpy()
    ids = np.sort(train.drug_id.unique())
    profiles, observed = residual_profiles(train, ids, cell_ids)
    profiles = profiles.astype(np.float64)
    fps = ds.fingerprints[[ds.drug_index[d] for d in ids]]
    new = ds.fingerprints[[ds.drug_index[d] for d in held]]
    k_train, k_new = tanimoto_cross(fps, fps), tanimoto_cross(new, fps)
    close_train = _descriptor_similarity(standardised(ds, ids, ids), standardised(ds, ids, ids))
    close_new = _descriptor_similarity(standardised(ds, held, ids), standardised(ds, ids, ids))
    fit = fit_pattern(k_train, profiles, observed, ids)
    analogue = fit.scale * weights(k_new, fit.power) @ profiles
    out = {
        "cell mean": np.broadcast_to(mean, analogue.shape),
        "analogues (product)": mean + analogue,
    }
    # GDSC1's drugs beside the training drugs as analogues
    rows = auxiliary_effects(ds, aux, train)
    aux_pairs = aux.pairs[aux.pairs.drug_id.isin(rows.drug_ids) & aux.pairs.cell_id.isin(cell_ids)]
    aux_profiles, aux_observed = residual_profiles(aux_pairs, rows.drug_ids, cell_ids)
    both = np.vstack([profiles, aux_profiles])
    both_fps = np.vstack([fps, rows.fingerprints])
    fit_both = fit_pattern(
        tanimoto_cross(both_fps, both_fps), both, np.vstack([observed, aux_observed]),
        np.concatenate([ids, rows.keys]),
    )  # fmt: skip
    transfer = weights(tanimoto_cross(new, both_fps), fit_both.power) @ both
    out["analogues + GDSC1 drugs"] = mean + fit_both.scale * transfer
    for w in (0.3, 1.0):
        mixed_train, mixed_new = (
            (k_train + w * close_train) / (1 + w),
            (k_new + w * close_new) / (1 + w),
        )
        fit_mixed = fit_pattern(mixed_train, profiles, observed, ids)
        out[f"analogues, Tanimoto + {w} descriptors"] = mean + fit_mixed.scale * (
            weights(mixed_new, fit_mixed.power) @ profiles
        )
    for alpha in (0.3, 1.0, 3.0):
        coef = np.linalg.solve(k_train + alpha * np.eye(len(ids)), profiles)
        out[f"kernel ridge on profiles, alpha {alpha}"] = mean + k_new @ coef
    u, s, vt = np.linalg.svd(profiles, full_matrices=False)
    for k in (5, 20):
        loadings = u[:, :k] * s[:k]
        coef = np.linalg.solve(k_train + np.eye(len(ids)), loadings)
        out[f"kernel ridge on {k} components"] = mean + (k_new @ coef) @ vt[:k]
        out[f"analogues on {k} components"] = mean + fit.scale * (
            (weights(k_new, fit.power) @ loadings) @ vt[:k]
        )
    wide = train.pivot_table(index="drug_id", columns="cell_id", values="ln_ic50").reindex(
        index=ids, columns=cell_ids
    )
    z = wide.sub(wide.mean(axis=1), axis=0).div(wide.std(axis=1), axis=0).mean(axis=0).to_numpy()
    z_scaled = z * mean.std() / z.std()
    out["z-scored mean profile"] = np.broadcast_to(z, analogue.shape)
    out["z-scored mean + analogues"] = z_scaled + analogue
    out["rank mean profile"] = np.broadcast_to(
        wide.rank(axis=1, pct=True).mean(axis=0).to_numpy(), analogue.shape
    )
    # analogues by potency: training drugs weighted by closeness of their main effect
    effects = main_effects(train).reindex(ids).to_numpy()
    predicted = DrugEffectPrior.fit(ds, train).predict(
        new, ds.descriptors[[ds.drug_index[d] for d in held]]
    )
    true = main_effects(pd.concat([train, test])).reindex(held).to_numpy()
    for label, potency in (("predicted", predicted), ("oracle: true", true)):
        gap = np.exp(-((potency[:, None] - effects[None, :]) ** 2) / 2)
        gap /= gap.sum(1, keepdims=True)
        out[f"potency neighbours ({label}) + analogues"] = mean + 0.5 * gap @ profiles + analogue
    return out, cell_ids


def main() -> None:
    ds, aux = FeaturizedDataset.load(DATA / "gdsc2"), FeaturizedDataset.load(DATA / "gdsc1")
    scores: dict[tuple[int, str], list[tuple[float, float]]] = {}
    for seed in (0, 1):
        folds = load_or_make_folds(ds, "drug_blind", 5, seed, DATA / "gdsc2" / "folds")
        for f in range(5):
            train, _, test = folds[f].frames(ds.pairs)
            held = test.drug_id.unique()
            near = nearest_similarity(ds, train, test)
            preds, cell_ids = candidates(ds, aux, train, test, held)
            at = pd.Series(np.arange(len(cell_ids)), index=cell_ids).reindex(test.cell_id)
            known = at.notna().to_numpy()
            part = test[known]
            ci = at.to_numpy()[known].astype(int)
            di = pd.Series(np.arange(len(held)), index=held)[part.drug_id].to_numpy()
            for name, grid in preds.items():
                frame = part[["cell_id", "drug_id"]].assign(
                    y_true=part.ln_ic50.to_numpy(), y_pred=grid[di, ci]
                )
                table = per_drug(frame, near)
                low = table[table.similarity < 0.3].r.mean()
                scores.setdefault((seed, name), []).append((table.r.mean(), low))
            print(f"seed {seed} fold {f} done", flush=True)
    names = list(dict.fromkeys(name for _, name in scores))
    rows = [
        {
            "pattern": name,
            **{
                f"{label} s{seed}": np.mean([x[i] for x in scores[(seed, name)]])
                for seed in (0, 1)
                for i, label in enumerate(("per-drug r", "< 0.3"))
            },
        }
        for name in names
    ]
    print(pd.DataFrame(rows).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
