"""Applicability domain of a screen: a run's training drugs and the similarity threshold.

Each compound's Morgan fingerprint is compared with those of the run's training drugs
(:func:`training_drugs`); ``max_tanimoto`` is the similarity to the nearest one and
``out_of_domain`` is ``max_tanimoto < ad_threshold``. ``benchmarks/applicability.py`` measures
a threshold from drug-blind test predictions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from drp.core.choices import SPLITS
from drp.evaluation.run_dirs import run_fold_seed
from drp.featurize.store import FeaturizedDataset
from drp.splits.cache import fold_cache_path, load_or_make_folds

AD_THRESHOLD = 0.2
"""Applicability-domain threshold on the max Tanimoto similarity (Morgan radius 2, 2,048 bits)
to a training drug: below it a compound is flagged ``out_of_domain``. Measured on the five
GDSC2 drug-blind folds of the default model (``benchmarks/bench_applicability.py``): the 27
held-out drugs below 0.2 had mean per-drug RMSE 2.59 against 2.01 for the 201 above, but the
difference is not significant (Mann-Whitney p = 0.15) and similarity does not rank errors
overall (Spearman -0.01), so the flag is a weak warning. See :data:`AD_CAVEAT`."""
AD_CAVEAT = (
    "On GDSC2 drug-blind folds, held-out drugs below this similarity had larger errors (mean "
    "per-drug RMSE 2.59 against 2.01, 27 against 201 drugs), but not significantly (p = 0.15), "
    "and similarity did not rank errors overall (Spearman -0.01): treat the flag as a weak "
    "warning, and a compound above it as no safer than any new drug."
)


@dataclass(frozen=True)
class TrainingDrugs:
    """The drugs a run was trained on: ``ids`` in dataset order, ``source`` a sentence saying
    how they were found, ``recovered`` False when they are all drugs of the dataset instead."""

    ids: list[str]
    source: str
    recovered: bool


def training_drugs(run_dir: Path, ds: FeaturizedDataset) -> TrainingDrugs:
    """The drugs in the run's training pairs (``ds``: the run's own dataset).

    The run's ``config.json`` names split, k, seed and fold; the fold is read from the fold
    cache ``drp train`` used (``train.folds_dir`` or ``<dataset>/folds``), else rebuilt in
    memory from those settings (folds are a deterministic function of them). Validation pairs
    are not counted as training. When the fold cannot be recovered, every drug of ``ds`` is
    returned and the sentence says so.
    """
    everything = list(ds.drugs.drug_id)
    fallback = f"all {len(everything)} drugs of dataset {ds.name!r}"
    path = Path(run_dir) / "config.json"
    if not path.exists():
        return TrainingDrugs(
            everything, f"{fallback} (the run has no config.json naming its fold)", False
        )
    config = json.loads(path.read_text())
    split, k, fold = (config.get(key) for key in ("split", "k", "fold"))
    seed = run_fold_seed(config)
    if split not in SPLITS or None in (k, seed, fold):
        return TrainingDrugs(
            everything,
            f"{fallback} (the run records no within-dataset fold: split {split!r})",
            False,
        )
    train_cfg = config.get("train") or {}
    folds_dir = Path(train_cfg.get("folds_dir") or Path(config.get("dataset", ".")) / "folds")
    cache = fold_cache_path(folds_dir, ds.name, split, k, seed)
    try:
        if cache.exists():
            folds, how = load_or_make_folds(ds, split, k, seed, folds_dir), f"fold cache {cache}"
        else:
            folds = load_or_make_folds(ds, split, k, seed, None)
            how = "no fold cache found; folds rebuilt in memory from the run's settings"
        rows = folds[fold].train
    except (ValueError, KeyError, IndexError) as exc:
        return TrainingDrugs(
            everything, f"{fallback} (the run's fold could not be recovered: {exc})", False
        )
    kept = set(ds.pairs.drug_id.iloc[rows])
    drugs = [d for d in everything if d in kept]
    if not drugs:
        return TrainingDrugs(
            everything, f"{fallback} (the run's fold has no training pairs)", False
        )
    source = (
        f"the {len(drugs)} drugs of the training pairs of {split} fold {fold} "
        f"(k={k}, seed {seed}; {how})"
    )
    return TrainingDrugs(drugs, source, True)
