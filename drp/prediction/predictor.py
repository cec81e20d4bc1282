"""Predict ln IC50 from a saved run: given pairs, the whole cell x drug matrix, or new SMILES."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from drp.data.ids import match_cell_ids, normalize_cell_id, normalize_drug_id
from drp.featurize.similarity import drug_identity
from drp.featurize.store import FeaturizedDataset
from drp.models.drug_prior import DrugEffectPrior
from drp.models.model import DRPModel
from drp.training.batching import EntityTensors
from drp.training.checkpoint import load_model
from drp.training.estimator import NeuralEstimator
from drp.training.prior_inputs import drug_keys

__all__ = ["PredictionError", "Predictor", "check_run", "load_model"]


class PredictionError(ValueError):
    """Unknown ids or unusable inputs; the message names them."""


def check_run(run_dir: Path) -> Path:
    """``run_dir`` as a Path when it holds a trained model (``best.pt``).

    Raises:
        PredictionError: no ``best.pt`` (not a finished ``drp train`` run).
    """
    run_dir = Path(run_dir)
    if not (run_dir / "best.pt").exists():
        raise PredictionError(f"{run_dir} has no best.pt: is it a finished `drp train` run?")
    return run_dir


@dataclass
class Predictor:
    """A trained run (its :class:`~drp.training.estimator.NeuralEstimator`) bound to a dataset:
    the run's own, or another featurized dataset (cells and drugs looked up by id there)."""

    estimator: NeuralEstimator
    ds: FeaturizedDataset

    @property
    def model(self) -> DRPModel:
        return self.estimator.model_

    @property
    def cell_ids(self) -> np.ndarray:
        """[n_cells] ids of the dataset's cells, in the order of :attr:`tensors`."""
        return self.ds.cells["cell_id"].to_numpy()

    @property
    def tensors(self) -> EntityTensors:
        return self.estimator.entity_tensors(self.ds)

    @property
    def prior(self) -> DrugEffectPrior | None:
        """The run's new-drug prior without the drugs this dataset measured (None: no prior)."""
        return self.estimator.prior_for(self.ds)

    def drug_keys(self) -> np.ndarray:
        """[n_drugs] identities of the dataset's drugs, in the order of :attr:`tensors`."""
        return drug_keys(self.ds)

    def new_drug_rows(self, frame: pd.DataFrame) -> np.ndarray | None:
        """[n_rows] bool: the row's drug is new to the run (its identity is none of the
        training drugs'), from a ``new_drug`` column (SMILES predictions) or the dataset's
        structure keys; None for a run without a prior (its training drugs are not recorded)."""
        prior = self.estimator.prior_
        if prior is None:
            return None
        if "new_drug" in frame:
            return frame["new_drug"].to_numpy(bool)
        return prior.is_new(drug_keys(self.ds, frame["drug_id"].to_numpy()))

    def prior_columns(self, keys: np.ndarray, fingerprints: np.ndarray) -> pd.DataFrame:
        """Per new drug (identities ``keys`` [m], ``fingerprints`` [m, bits]): whether it is new
        to the run (``new_drug``), whether the prior placed its level (``prior_applied``),
        whether it is itself one of the prior's auxiliary drugs, and the prior's nearest drug
        with its similarity (:meth:`DrugEffectPrior.provenance`); empty without a prior."""
        prior = self.prior
        if prior is None:
            return pd.DataFrame(index=range(len(keys)))
        out = prior.provenance(keys, fingerprints)
        new = prior.is_new(keys)  # the training drugs stay in every refit of the prior
        out.insert(0, "new_drug", new)
        out.insert(1, "prior_applied", new & (prior.reference(self.cell_ids) is not None))
        return out

    @classmethod
    def from_run(cls, run_dir: Path, device: str = "cpu", dataset: Path | None = None) -> Predictor:
        """The run's best model on ``device`` (``auto``, ``cpu``, ``cuda``), bound to ``dataset``
        (default: the run's own).

        Raises:
            PredictionError: no finished run, CUDA asked for but absent, or ``dataset`` lacks
                the run's omics.
        """
        run_dir = check_run(run_dir)
        config = json.loads((run_dir / "config.json").read_text())
        ds = FeaturizedDataset.load(Path(dataset or config["dataset"]))
        try:
            estimator = NeuralEstimator.from_run(run_dir, device)
            estimator.entity_tensors(ds)  # fails early if ds lacks the run's omics
        except ValueError as exc:
            raise PredictionError(str(exc)) from None
        return cls(estimator, ds)

    def _check_ids(self, cells: pd.Series, drugs: pd.Series | None) -> None:
        unknown_c = sorted(set(cells) - set(self.ds.cell_index))
        if unknown_c:
            raise PredictionError(
                f"unknown cell id(s) {unknown_c[:10]} "
                f"({len(unknown_c)} in all); known cells are those of "
                f"dataset {self.ds.name!r}"
            )
        if drugs is not None:
            unknown_d = sorted(set(drugs) - set(self.ds.drug_index))
            if unknown_d:
                raise PredictionError(
                    f"unknown drug id(s) {unknown_d[:10]}; give new drugs as SMILES with --smiles"
                )

    def _cell_ids(self, names) -> list[str]:
        """User-given cell names -> the dataset's ids (spelling first, so lines kept apart
        such as ``KM-H2``/``KMH-2`` stay apart); unknown names keep their normalised form so
        :meth:`_check_ids` can name them."""
        names = list(names)
        found = match_cell_ids(names, self.ds.cell_index)
        return [
            f if f is not None else normalize_cell_id(n) for f, n in zip(found, names, strict=True)
        ]

    def resolve_cells(self, names: list[str] | None) -> list[str]:
        """The dataset's ids of user-given cell names (every cell when None or empty).

        Raises:
            PredictionError: a name matches no cell of the dataset.
        """
        cell_ids = self._cell_ids(names) if names else list(self.ds.cells.cell_id)
        self._check_ids(pd.Series(cell_ids), None)
        return cell_ids

    def predict_pairs(self, pairs: pd.DataFrame) -> pd.DataFrame:
        """``pairs`` with cell_id, drug_id -> adds ``ln_ic50_pred``."""
        for col in ("cell_id", "drug_id"):
            if col not in pairs.columns:
                raise PredictionError(
                    f"pairs table lacks column {col!r}; has {list(pairs.columns)}"
                )
        out = pairs.copy()
        out["cell_id"] = self._cell_ids(out["cell_id"])
        out["drug_id"] = out["drug_id"].map(normalize_drug_id)
        self._check_ids(out.cell_id, out.drug_id)
        out["ln_ic50_pred"] = self.estimator.predict(self.ds, out)
        return out

    def predict_matrix(self) -> pd.DataFrame:
        """Every cell x every drug, long format: cell_id, drug_id, ln_ic50_pred, measured."""
        n_c, n_d = len(self.ds.cells), len(self.ds.drugs)
        c = np.repeat(np.arange(n_c), n_d)
        d = np.tile(np.arange(n_d), n_c)
        out = pd.DataFrame(
            {
                "cell_id": self.ds.cells.cell_id.to_numpy()[c],
                "drug_id": self.ds.drugs.drug_id.to_numpy()[d],
                "ln_ic50_pred": self._predict(c, d),
            }
        )
        measured = set(zip(self.ds.pairs.cell_id, self.ds.pairs.drug_id, strict=True))
        out["measured"] = [p in measured for p in zip(out.cell_id, out.drug_id, strict=True)]
        return out

    def predict_smiles(
        self, smiles: dict[str, str], cells: list[str] | None = None
    ) -> pd.DataFrame:
        """New drugs (name -> SMILES) against known cells (all when None)."""
        # RDKit only here: training and predicting known drugs run where it is not installed
        from drp.featurize.molecules import (
            InvalidSmilesError,
            mol_to_graph,
            morgan_fingerprint,
            physchem_descriptors,
            standardise,
            structure_key,
        )

        graphs, fps, descriptors, names, keys, problems = [], [], [], [], [], []
        for name, smi in smiles.items():
            try:
                mol = standardise(smi).mol
            except InvalidSmilesError as exc:
                problems.append(f"{name}: {exc}")
                continue
            graphs.append(mol_to_graph(mol))
            fps.append(morgan_fingerprint(mol))
            descriptors.append(physchem_descriptors(mol))
            keys.append(structure_key(mol))
            names.append(name)
        if problems:
            raise PredictionError("invalid SMILES: " + "; ".join(problems))
        cell_ids = self.resolve_cells(cells)
        tensors = self.tensors.with_drugs(graphs, np.stack(fps), np.stack(descriptors))
        c_idx = np.array([self.ds.cell_index[c] for c in cell_ids])
        c = np.repeat(c_idx, len(names))
        d = np.tile(np.arange(len(names)), len(c_idx))
        identity = drug_identity(keys).to_numpy(str)
        pred = self.estimator.predict_at(tensors, self.cell_ids, c, d, identity, self.prior)
        out = pd.DataFrame(
            {
                "cell_id": np.array(cell_ids)[np.repeat(np.arange(len(c_idx)), len(names))],
                "drug_id": np.array(names)[d],
                "ln_ic50_pred": pred,
            }
        )
        # where each compound's level came from (its own GDSC1 measurement when it is one of
        # the prior's auxiliary drugs)
        sources = self.prior_columns(identity, np.stack(fps))
        return pd.concat([out, sources.iloc[d].reset_index(drop=True)], axis=1)

    def _predict(self, c: np.ndarray, d: np.ndarray) -> np.ndarray:
        """ln IC50 of pairs of row indices into ``ds.cells`` / ``ds.drugs``: [B]."""
        return self.estimator.predict_at(
            self.tensors, self.cell_ids, c, d, self.drug_keys(), self.prior
        )
