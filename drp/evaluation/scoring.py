"""One model scored on one fold: the shared :class:`Model` contract, fit and predict, metrics.

Every model, baseline or neural (:class:`drp.training.estimator.NeuralEstimator`), is scored on a
fold by one function, :func:`score_model`: fit on train/val, predict test (possibly from another
dataset's features) and write the run directory (:func:`fit_predict`), then metrics with the
split's bootstrap unit (:func:`score_predictions`). ``drp evaluate`` goes through it, ``drp
study`` through :func:`fit_predict` (it scores the run directories afterwards). Metric
definitions live in :mod:`drp.evaluation.metrics`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

from drp.evaluation.metrics import MIN_GROUP, evaluate_predictions
from drp.evaluation.tables import prediction_frame, write_predictions
from drp.featurize.similarity import drug_identity

if TYPE_CHECKING:
    from drp.featurize.store import FeaturizedDataset


class Model(Protocol):
    """The model contract shared by baselines and neural estimators."""

    name: str

    def fit(
        self, ds: FeaturizedDataset, train: pd.DataFrame, val: pd.DataFrame | None = None
    ) -> Model: ...

    def predict(self, ds: FeaturizedDataset, pairs: pd.DataFrame) -> np.ndarray: ...


#: Resampling unit of the cross-dataset subsets whose pairs cluster by a new entity: new
#: cells by ``cell_id``, new drugs by structure (``structure_key`` of the test dataset).
CROSS_SUBSET_UNIT = {
    "new_cell": ("cell_id", "cell"),
    "new_drug": ("structure_key", "drug structure"),
}


def _subset_groups(sub: pd.DataFrame, key: str, test_ds: FeaturizedDataset | None) -> np.ndarray:
    """[n] resampling label of each pair of a cross-dataset subset: its ``cell_id``, or its
    drug's identity (:func:`~drp.featurize.similarity.drug_identity` of its ``structure_key``) in
    ``test_ds`` (drug ids in the training id space, where two target ids of one structure share
    it); the drug id where the key is unknown."""
    if key != "structure_key":
        return sub[key].to_numpy()
    drugs = None if test_ds is None else test_ds.drugs
    if drugs is None or "structure_key" not in drugs:
        return sub["drug_id"].to_numpy()
    structure = drug_identity(
        drugs.drop_duplicates("drug_id").set_index("drug_id")["structure_key"]
    )
    return sub["drug_id"].map(structure).fillna(sub["drug_id"]).to_numpy()


def score_predictions(
    frame: pd.DataFrame,
    labels: dict[str, object],
    ds: FeaturizedDataset | None = None,
    split: str | None = None,
    min_group: int = MIN_GROUP,
    n_boot: int = 0,
    seed: int = 0,
    test_ds: FeaturizedDataset | None = None,
) -> pd.DataFrame:
    """Metric rows of a prediction frame, with bootstrap CIs over the split's unit.

    The resampling unit comes from :func:`drp.splits.bootstrap.bootstrap_groups` (held-out cells,
    drug structures, drug clusters or tissues; pairs for mixed). Whenever ``split`` and ``ds``
    are known, every row records the split's unit in ``ci_unit`` and the number of units in
    ``ci_units``, with or without CIs (without ``ds``, or without CIs on a store featurized
    before structure keys, the unit cannot be looked up and ``ci_unit`` says ``pair``).
    A frame with a ``subset`` column (cross-dataset) gets rows for all pairs and for every
    subset (``seen_pair``, ``new_pair``, ``new_cell``, ``new_drug``; each also
    ``<subset>:uncensored`` when censored pairs exist); ``new_cell`` resamples its new cells,
    ``new_drug`` its new drug structures (looked up in ``test_ds``, the dataset the test
    pairs' features come from).
    """
    from drp.splits.bootstrap import bootstrap_groups, bootstrap_unit

    groups, unit = None, "pair"
    if split is not None and ds is not None and bootstrap_unit(split) != "pair":
        try:
            groups, unit = bootstrap_groups(ds, split, frame)
        except ValueError:
            # a store featurized before structure keys: fine for plain metrics, not for CIs
            if n_boot > 0:
                raise
    kwargs = {"min_group": min_group, "n_boot": n_boot, "seed": seed}
    rows = [evaluate_predictions(frame, labels, groups=groups, ci_unit=unit, **kwargs)]
    if "subset" in frame:
        for name, sub in frame.groupby("subset", sort=True):
            key, sub_unit = CROSS_SUBSET_UNIT.get(str(name), (None, "pair"))
            sub_groups = None if key is None else _subset_groups(sub, key, test_ds)
            part = evaluate_predictions(
                sub.reset_index(drop=True),
                labels,
                groups=sub_groups,
                ci_unit=sub_unit,
                **kwargs,
            )
            part["subset"] = part["subset"].map(
                lambda s, n=name: str(n) if s == "all" else f"{n}:{s}"
            )
            rows.append(part)
    return pd.concat(rows, ignore_index=True)


def score_model(
    model: Model,
    ds: FeaturizedDataset,
    train: pd.DataFrame,
    val: pd.DataFrame | None,
    test: pd.DataFrame,
    labels: dict[str, object],
    *,
    split: str | None = None,
    test_ds: FeaturizedDataset | None = None,
    run_dir: Path | None = None,
    min_group: int = MIN_GROUP,
    n_boot: int = 0,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A model scored on a fold: fit on ``train``/``val`` of ``ds``, predict ``test`` from the
    features of ``test_ds`` (default ``ds``; another dataset for cross-dataset tests)
    (:func:`fit_predict`), metric rows with the split's bootstrap unit
    (:func:`score_predictions`).

    Returns:
        ``(rows, predictions)``: metric rows (one per subset) and the test prediction frame.
    """
    preds = fit_predict(model, ds, train, val, test, test_ds=test_ds, run_dir=run_dir)
    rows = score_predictions(preds, labels, ds, split, min_group, n_boot, seed, test_ds)
    return rows, preds


def fit_predict(
    model: Model,
    ds: FeaturizedDataset,
    train: pd.DataFrame,
    val: pd.DataFrame | None,
    test: pd.DataFrame,
    *,
    test_ds: FeaturizedDataset | None = None,
    run_dir: Path | None = None,
) -> pd.DataFrame:
    """Fit ``model`` on ``train``/``val`` of ``ds`` and return the prediction frame of ``test``
    (features from ``test_ds``, default ``ds``).

    With ``run_dir``, ``predictions_val.parquet`` and then ``predictions_test.parquet`` are
    written there (the test file last: its presence marks the run finished). A model that writes
    the validation predictions itself while fitting in ``run_dir`` (the neural estimator's
    trainer) is not asked to predict them again.
    """
    val_path = None if run_dir is None else Path(run_dir) / "predictions_val.parquet"
    if val_path is not None:
        val_path.unlink(missing_ok=True)  # so a file there after fit is this fit's
    model.fit(ds, train, val)
    preds = prediction_frame(test, model.predict(test_ds if test_ds is not None else ds, test))
    if val_path is not None:
        if val is not None and len(val) and not val_path.exists():
            write_predictions(prediction_frame(val, model.predict(ds, val)), val_path)
        write_predictions(preds, val_path.with_name("predictions_test.parquet"))
    return preds
