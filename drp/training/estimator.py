"""The neural model behind the shared model contract: ``fit(ds, train, val) -> self`` and
``predict(ds, pairs) -> [n_pairs]`` ln IC50, as the baselines (:mod:`drp.models.baselines`).

:class:`NeuralEstimator` owns training (:class:`drp.training.loop.Trainer`), the omics scaler and the
target scaling fitted on the training pairs, and the checkpoint. ``predict`` looks features up
**by id** in the dataset it is given, which may be another featurized dataset than the one it
was fitted on (CCLE after GDSC2): its omics columns are aligned by feature name to the training
features (features it lacks are imputed with the training mean), its drug graphs and
fingerprints are its own. Checkpoint loading and omics alignment live in
:mod:`drp.training.checkpoint`, the new-drug prior's inputs in :mod:`drp.training.prior_inputs`.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import pandas as pd
import torch

from drp.core.config import RunConfig
from drp.core.device import model_device, resolve_device
from drp.core.files import atomic_write, atomic_write_text
from drp.models.drug_prior import FILE as PRIOR_FILE
from drp.models.drug_prior import DrugEffectPrior
from drp.models.registry import DEFAULT_VARIANT
from drp.training.batching import EntityTensors, OmicsScaler, predict_indices
from drp.training.checkpoint import align_omics, load_model, omics_features
from drp.training.prior_inputs import auxiliary_dataset, cluster_similarity, drug_keys

if TYPE_CHECKING:
    from drp.featurize.store import FeaturizedDataset


def _holdout(train: pd.DataFrame, seed: int, fraction: float = 0.1) -> tuple[pd.DataFrame, ...]:
    """Split ``train`` into (train, val) at random: the early-stopping set when none is given."""
    rng = np.random.default_rng(seed)
    n_val = max(1, round(fraction * len(train)))
    is_val = np.zeros(len(train), bool)
    is_val[rng.choice(len(train), n_val, replace=False)] = True
    return train[~is_val].reset_index(drop=True), train[is_val].reset_index(drop=True)


class NeuralEstimator:
    """A configured neural model (variant) with the baselines' ``fit``/``predict`` contract.

    Args:
        config: model and training configuration; ``config.train`` split/fold/k/seed are only
            recorded (``fit`` trains on the pairs it is given).
        name: label of the model (the variant name).
        run_dir: where ``config.json``, ``history.csv``, ``best.pt``/``last.pt``,
            ``predictions_val.parquet`` and ``drug_prior.npz`` (the new-drug prior, with
            ``train.drug_prior = "similarity"``) go (as ``drp train``); a temporary directory
            when None.
        resume: continue from ``run_dir/last.pt``; otherwise an existing run there is an error.
        on_epoch: called with each epoch's history row.
        command: command line recorded in ``config.json``.
        run_info: extra keys for ``config.json`` (e.g. the test-part size).
    """

    def __init__(
        self,
        config: RunConfig | None = None,
        name: str = DEFAULT_VARIANT,
        run_dir: Path | None = None,
        *,
        resume: bool = False,
        on_epoch: Callable[[dict], None] | None = None,
        command: str = "",
        run_info: dict[str, Any] | None = None,
    ) -> None:
        self.config = config or RunConfig()
        self.name = name
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.resume = resume
        self.on_epoch = on_epoch
        self.command = command
        self.run_info = run_info or {}
        self._tensors: tuple[FeaturizedDataset, EntityTensors] | None = None
        # (dataset, the prior it was derived from, the prior without what the dataset measured)
        self._prior_cache: tuple[FeaturizedDataset, DrugEffectPrior, DrugEffectPrior] | None = None
        self.prior_: DrugEffectPrior | None = None

    def __repr__(self) -> str:
        return f"NeuralEstimator(name={self.name!r}, run_dir={self.run_dir})"

    # ---- the contract --------------------------------------------------------------------
    def fit(
        self, ds: FeaturizedDataset, train: pd.DataFrame, val: pd.DataFrame | None = None
    ) -> Self:
        """Train on ``train`` (``cell_id, drug_id, ln_ic50``), early-stopping on ``val``.

        Without ``val``, a random 10% of ``train`` (seed ``config.train.seed``) is the
        early-stopping set. Scalers and target scaling come from ``train`` only. The best
        checkpoint (lowest validation RMSE) is kept.

        Raises:
            FileExistsError: ``run_dir`` already holds a run and ``resume`` is False.
            KeyError: a pair's cell or drug has no features in ``ds``.
        """
        from drp.training.loop import FoldIndices, Trainer
        from drp.training.run_record import write_run_config

        # the auxiliary screen is checked before training, so a bad one costs no training run
        auxiliary = (
            auxiliary_dataset(self.config, ds) if self.config.train.drug_prior != "none" else None
        )
        if val is None or len(val) == 0:
            train, val = _holdout(train, self.config.train.seed)
        cols = ["cell_id", "drug_id", "ln_ic50"]
        # The Trainer works on row indices of ds.pairs: give it a view whose pairs are exactly
        # train then val, in the order given (same shuffles as training on ds.pairs rows).
        view = replace(ds, pairs=pd.concat([train[cols], val[cols]], ignore_index=True))
        n_train, n_val = len(train), len(val)
        fold = FoldIndices(
            np.arange(n_train), np.arange(n_train, n_train + n_val), np.empty(0, np.int64)
        )
        scratch = None
        run_dir = self.run_dir
        if run_dir is None:
            scratch = tempfile.TemporaryDirectory(prefix="drp-fit-")
            run_dir = Path(scratch.name)
        else:
            if not self.resume and (run_dir / "last.pt").exists():
                raise FileExistsError(
                    f"{run_dir} already holds a run; use --resume or another --out"
                )
            counts = {"train": n_train, "val": n_val}
            info = dict(self.run_info)
            counts |= info.pop("counts", {})
            write_run_config(self.config, ds, counts, run_dir, self.command, self.name, info)
        try:
            trainer = Trainer(self.config, view, fold, run_dir, self.on_epoch)
            if self.resume:
                trainer.resume()
            self.summary_ = trainer.fit()
        finally:
            if scratch is not None:
                scratch.cleanup()
        self.model_ = trainer.model.eval()
        self.scaler_ = trainer.scaler
        self.target_mean_, self.target_std_ = trainer.target_mean, trainer.target_std
        self.omics_ = list(self.config.train.omics)
        self.omics_features_ = omics_features(ds, self.omics_)
        self.device_ = trainer.device
        self._tensors = None
        self._prior_cache = None
        self.prior_ = None
        if auxiliary is not None:
            self._fit_prior(ds, train, val, auxiliary, None if scratch is not None else run_dir)
        elif scratch is None:
            (run_dir / PRIOR_FILE).unlink(missing_ok=True)  # a prior of an earlier config
        return self

    def _fit_prior(
        self,
        ds: FeaturizedDataset,
        train: pd.DataFrame,
        val: pd.DataFrame,
        auxiliary: tuple[FeaturizedDataset | None, dict[str, str]],
        run_dir: Path | None,
    ) -> None:
        """Fit the new-drug prior (``auxiliary``: the screen and its note,
        :func:`auxiliary_dataset`) on the training and validation pairs: the validation drugs'
        responses are no test drug's, and on drug-blind folds they are ~18 more analogues.
        Where the validation drugs are new, their predictions and the conformal calibration in
        ``run_dir`` are first rewritten with a prior fitted on the training pairs alone (so each
        validation drug is predicted as new); the prior on both is saved."""
        from drp.training.intervals import write_calibration

        screen, note = auxiliary
        # on cluster-blind folds an auxiliary analogue of a held-out drug would undo the split
        near = cluster_similarity(ds) if self.config.train.split == "cluster_blind" else None
        blend = self.config.train.prior_pattern
        trained = np.unique(drug_keys(ds, train["drug_id"].unique()))
        val_is_new = not np.isin(drug_keys(ds, val["drug_id"].unique()), trained).all()
        if run_dir is not None and val_is_new:
            self.prior_ = DrugEffectPrior.fit(ds, train, screen, near, blend)
            frame = val[["cell_id", "drug_id"]].reset_index(drop=True)
            frame["y_true"] = val["ln_ic50"].to_numpy(np.float32)
            frame["y_pred"] = self.predict(ds, frame)
        both = pd.concat([train, val], ignore_index=True)
        # the validation drugs stay new to the run: the network never trained on them
        self.prior_ = replace(
            DrugEffectPrior.fit(ds, both, screen, near, blend), network_keys=trained
        )
        self.summary_ = dict(self.summary_, drug_prior=self.prior_.summary() | note)
        if run_dir is None:
            return
        self.prior_.save(run_dir / PRIOR_FILE)
        if val_is_new:
            atomic_write(
                run_dir / "predictions_val.parquet", lambda p: frame.to_parquet(p, index=False)
            )
            # a new drug's level error, calibrated over the drugs each predicted without its
            # own structure (cluster): drug-level exchangeability
            level_errors = self.prior_.loo_residuals()
            write_calibration(run_dir, frame, self.config.train.split, level_errors)
            rmse = float(np.sqrt(np.mean((frame.y_pred - frame.y_true) ** 2)))
            self.summary_["drug_prior"]["val_rmse"] = rmse  # best_val_rmse is the network's
        # else the trainer's validation predictions stand (mixed and cell-blind splits)
        atomic_write_text(run_dir / "summary.json", json.dumps(self.summary_, indent=2))

    def predict(self, ds: FeaturizedDataset, pairs: pd.DataFrame) -> np.ndarray:
        """[n_pairs] float64 ln IC50 from the features of ``ds`` (looked up by id).

        Raises:
            KeyError: a pair's cell or drug is not in ``ds``.
            ValueError: ``ds`` lacks the omics the model was trained on.
        """
        if not hasattr(self, "model_"):
            raise ValueError(f"{self!r} is not fitted: call fit() or NeuralEstimator.from_run()")
        c, d = ds.pair_indices(pairs)
        return self.predict_at(
            self.entity_tensors(ds), ds.cells["cell_id"].to_numpy(), c, d,
            drug_keys(ds), self.prior_for(ds),
        )  # fmt: skip

    def prior_for(self, ds: FeaturizedDataset) -> DrugEffectPrior | None:
        """The run's new-drug prior for predicting on ``ds``: without the auxiliary drugs
        that ``ds`` measured, so no prediction of ``ds`` rests on its own responses (scoring a
        GDSC2 run on GDSC1 leaves out every GDSC1 row; on CCLE the four CCLE drugs GDSC1 also
        screened). None without a prior."""
        if self.prior_ is None:
            return None
        cached = self._prior_cache
        if cached is not None and cached[0] is ds and cached[1] is self.prior_:
            return cached[2]
        measured = ds.drugs["drug_id"].isin(set(ds.pairs["drug_id"])).to_numpy()
        prior = self.prior_.without(set(drug_keys(ds)[measured]))
        self._prior_cache = (ds, self.prior_, prior)
        return prior

    def predict_at(
        self,
        tensors: EntityTensors,
        cell_ids: np.ndarray,
        c: np.ndarray,
        d: np.ndarray,
        drug_keys: np.ndarray,
        prior: DrugEffectPrior | None,
    ) -> np.ndarray:
        """[n] float64 ln IC50 of pairs of row indices ``c``/``d`` into ``tensors``' cells (ids
        ``cell_ids`` [n_cells]) and drugs (identities ``drug_keys`` [n_drugs]); new drugs take
        the main effect of ``prior`` (:mod:`drp.models.drug_prior`; :meth:`prior_for` the
        dataset predicted on), None: the network's own."""
        pred = self.unscale(predict_indices(self.model_, tensors, c, d))
        if prior is None or len(d) == 0:
            return pred
        drugs = np.unique(d)
        new = prior.is_new(np.asarray(drug_keys)[drugs])
        if not new.any():
            return pred
        fps = tensors.fingerprints[torch.as_tensor(drugs, device=tensors.device)].cpu().numpy()
        ref = prior.reference(cell_ids)
        if ref is None:
            warnings.warn(
                "too few of the run's training cells are in this dataset to place new drugs' "
                "main effect: they keep the network's",
                stacklevel=2,
            )
            return pred
        new_drugs = drugs[new]
        net_ref = self._reference_predictions(tensors, ref, new_drugs, c, d, pred)
        shift = np.zeros(int(drugs.max()) + 1)
        descriptors = tensors.descriptors[drugs[new]]
        shift[new_drugs] = prior.shift(fps[new], descriptors, net_ref, cell_ids[ref])
        out = pred + shift[d]
        if prior.pattern_blend > 0 and prior.profiles.size:
            out += _analogue_correction(
                prior, fps[new], new_drugs, net_ref, ref, cell_ids, c, d, pred
            )
        return out

    def _reference_predictions(
        self,
        tensors: EntityTensors,
        ref: np.ndarray,
        drugs: np.ndarray,
        c: np.ndarray,
        d: np.ndarray,
        pred: np.ndarray,
    ) -> np.ndarray:
        """The network's ln IC50 [n_ref, n_drugs] of ``drugs`` on the reference cells ``ref``,
        taken from ``pred`` (pairs ``c``/``d``) where the request already holds every such pair
        (a screen of all cells), else predicted."""
        grid = np.full((len(ref), len(drugs)), np.nan)
        ref_pos = np.full(int(max(c.max(), ref.max())) + 1, -1)
        ref_pos[ref] = np.arange(len(ref))
        drug_pos = np.full(int(d.max()) + 1, -1)
        drug_pos[drugs] = np.arange(len(drugs))
        rows, cols = ref_pos[c], drug_pos[d]
        hit = (rows >= 0) & (cols >= 0)
        grid[rows[hit], cols[hit]] = pred[hit]
        missing = np.isnan(grid).any(axis=0)
        if missing.any():
            todo = drugs[missing]
            grid[:, missing] = self.unscale(
                predict_indices(
                    self.model_, tensors, np.repeat(ref, len(todo)), np.tile(todo, len(ref))
                )
            ).reshape(len(ref), len(todo))
        return grid

    # ---- helpers ---------------------------------------------------------------------------
    def unscale(self, scaled: np.ndarray) -> np.ndarray:
        """[n] float64 ln IC50 from the model's [n] standardised outputs (the target scaling
        fitted on the training pairs)."""
        return np.asarray(scaled, np.float64) * self.target_std_ + self.target_mean_

    def entity_tensors(self, ds: FeaturizedDataset) -> EntityTensors:
        """Scaled omics, fingerprints and graphs of every cell and drug of ``ds``, on the
        model's device (cached for the last dataset asked)."""
        device = model_device(self.model_)
        if (
            self._tensors is not None
            and self._tensors[0] is ds
            and self._tensors[1].device == device
        ):
            return self._tensors[1]
        view = align_omics(ds, self.omics_features_, self.omics_)
        tensors = EntityTensors.from_dataset(view, self.omics_, self.scaler_, device)
        # Features missing from ``ds`` (NaN) sit at the training mean: 0 after scaling.
        tensors = replace(tensors, omics=torch.nan_to_num(tensors.omics, nan=0.0))
        self._tensors = (ds, tensors)
        return tensors

    @classmethod
    def from_run(cls, run_dir: Path, device: str | torch.device = "cpu") -> NeuralEstimator:
        """The fitted estimator of a ``drp train`` (or study) run directory, from ``best.pt``,
        with its model on ``device`` (``auto``, ``cpu``, ``cuda``).

        Raises:
            FileNotFoundError: no ``best.pt`` in ``run_dir``.
            ValueError: ``cuda`` was asked for but no CUDA device is available.
        """
        device = resolve_device(device)
        run_dir = Path(run_dir)
        checkpoint = run_dir / "best.pt"
        if not checkpoint.exists():
            raise FileNotFoundError(f"{run_dir} has no best.pt: is it a finished `drp train` run?")
        saved: dict[str, Any] = {}
        if (run_dir / "config.json").exists():
            saved = json.loads((run_dir / "config.json").read_text())
        model, state = load_model(checkpoint, device)
        config = RunConfig(model=model.config)
        if isinstance(saved.get("train"), dict):
            config = RunConfig.from_dict({"train": saved["train"]})
            config = replace(config, model=model.config)
        name = (saved.get("model") or {}).get("name") or run_dir.name
        est = cls(config, name, run_dir)
        est.model_ = model
        # on the CPU, as the Trainer fits it: EntityTensors scale the omics before moving them
        est.scaler_ = OmicsScaler(state["scaler_mean"].cpu(), state["scaler_scale"].cpu())
        est.target_mean_ = float(state["target_mean"])
        est.target_std_ = float(state["target_std"])
        est.omics_ = list(state["omics"])
        est.omics_features_ = state.get("omics_features")
        est.device_ = device
        est.summary_ = {k: state[k] for k in ("best_epoch", "best_rmse") if k in state}
        # the sidecar file applies the prior: a checkpoint and its files describe themselves
        if (run_dir / PRIOR_FILE).exists():
            est.prior_ = DrugEffectPrior.load(run_dir / PRIOR_FILE)
        return est


def _analogue_correction(
    prior: DrugEffectPrior,
    fingerprints: np.ndarray,
    new_drugs: np.ndarray,
    net_ref: np.ndarray,
    ref: np.ndarray,
    cell_ids: np.ndarray,
    c: np.ndarray,
    d: np.ndarray,
    pred: np.ndarray,
) -> np.ndarray:
    """[n] what moves the new drugs' pairs from the network's cell-to-cell pattern towards
    their analogues' (:mod:`drp.models.drug_pattern`), weight ``prior.pattern_blend``; both
    patterns are centred on the reference cells ``ref`` (``net_ref`` [n_ref, m]: the network's
    predictions there), so the level stays the prior's. 0 for known drugs and on cells the
    prior was not trained on."""
    position = np.full(int(max(d.max(), new_drugs.max())) + 1, -1)
    position[new_drugs] = np.arange(len(new_drugs))
    rows = np.flatnonzero(position[d] >= 0)
    cells = np.unique(c[rows])
    analogue = prior.pattern(fingerprints, np.concatenate([cell_ids[ref], cell_ids[cells]]))
    analogue_ref, analogue_at = analogue[: len(ref)], analogue[len(ref) :]
    cell_pos = np.full(int(c.max()) + 1, -1)
    cell_pos[cells] = np.arange(len(cells))
    j = position[d[rows]]
    wanted = analogue_at[cell_pos[c[rows]], j] - analogue_ref.mean(axis=0)[j]
    network = pred[rows] - net_ref.mean(axis=0)[j]
    out = np.zeros(len(d))
    out[rows] = np.nan_to_num(prior.pattern_blend * (wanted - network), nan=0.0)
    return out
