"""Trained runs as predictors: one run, or several (folds, seeds) predicting as one model.

A run directory holds ``best.pt`` and its sidecar files (``config.json``, ``summary.json``,
``drug_prior.npz``, ``calibration.json``); :class:`Run` loads them on first use.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drp.core.config import DEVICES

if TYPE_CHECKING:
    import pandas as pd

    from drp.prediction.predictor import Predictor

COLUMNS = ["cell_id", "drug_id", "ln_ic50_pred"]


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


@dataclass
class Run:
    """A trained run directory. The model and its dataset load on first use (:attr:`predictor`).

    Attributes:
        path: the run directory (``best.pt``, ``config.json``, ``summary.json``, ...).
        config: the run's ``config.json`` (resolved config plus provenance).
        summary: the run's ``summary.json`` (best epoch, best val RMSE, ...); ``{}`` if absent.
        device: where the model runs: ``auto``, ``cpu`` or ``cuda``.
        dataset: featurized dataset to predict on (default: the run's own).
    """

    path: Path
    config: dict[str, Any]
    summary: dict[str, Any]
    device: str = "cpu"
    dataset: Path | None = None

    def describe(self) -> str:
        """What training reached (best validation RMSE and epoch), where the run is, and the
        new-drug prior it carries."""
        s = self.summary
        text = (
            f"best val RMSE {s['best_val_rmse']:.3f} at epoch {s['best_epoch']} "
            f"({s['epochs_run']} epochs); run in {self.path}"
        )
        if prior := s.get("drug_prior"):
            text += (
                f"\nnew drugs: main effect from the similarity prior ({prior['training_drugs']} "
                f"training + {prior['auxiliary_drugs']} auxiliary drugs, alpha {prior['alpha']}; "
                f"auxiliary: {prior['auxiliary']})"
            )
        return text

    @cached_property
    def predictor(self) -> Predictor:
        """The run's best model bound to its dataset (:class:`drp.prediction.predictor.Predictor`)."""
        from drp.prediction.predictor import Predictor

        return Predictor.from_run(self.path, self.device, self.dataset)

    def predict(
        self,
        cells: Sequence[str] | None = None,
        drugs: Sequence[str] | None = None,
        smiles: dict[str, str] | None = None,
        interval: float | None = None,
        *,
        pairs: pd.DataFrame | None = None,
        matrix: bool = False,
    ) -> pd.DataFrame:
        """ln IC50 predictions, long format with columns ``cell_id, drug_id, ln_ic50_pred``
        (and ``lo, hi, interval_from`` with ``interval``).

        Args:
            cells: cell ids (default: every cell of the dataset).
            drugs: known drug ids (default: every drug), crossed with ``cells``.
            smiles: new drugs as ``{name: SMILES}``, crossed with ``cells``; not with ``drugs``.
            interval: coverage (0.50-0.99) of a split-conformal interval calibrated on the run's
                validation pairs (:mod:`drp.training.intervals`).
            pairs: a table with ``cell_id, drug_id`` (its other columns are kept) instead.
            matrix: every cell x drug with a ``measured`` column, instead.

        Raises:
            ValueError: both ``drugs`` and ``smiles`` given.
            drp.prediction.predictor.PredictionError: unknown ids or invalid SMILES (a ValueError).
        """
        from drp.training.intervals import add_interval

        result = self._predict(cells, drugs, smiles, pairs, matrix)
        if interval is None:
            return result
        new_drug = self.predictor.new_drug_rows(result)
        return add_interval(result, self.path, interval, smiles is not None, new_drug)

    def _predict(
        self,
        cells: Sequence[str] | None,
        drugs: Sequence[str] | None,
        smiles: dict[str, str] | None,
        pairs: pd.DataFrame | None = None,
        matrix: bool = False,
    ) -> pd.DataFrame:
        import pandas as pd

        if drugs is not None and smiles is not None:
            raise ValueError(
                "give known drugs by id (drugs=...) or new drugs as SMILES (smiles=...), not both"
            )
        p = self.predictor
        if pairs is not None:
            return p.predict_pairs(pairs)
        if matrix:
            return p.predict_matrix()
        if smiles is not None:
            return p.predict_smiles(dict(smiles), list(cells) if cells else None)
        if cells is None and drugs is None:
            return p.predict_matrix()[COLUMNS]
        cell_ids = list(cells) if cells is not None else list(p.ds.cells.cell_id)
        drug_ids = list(drugs) if drugs is not None else list(p.ds.drugs.drug_id)
        pairs = pd.DataFrame(
            {
                "cell_id": [c for c in cell_ids for _ in drug_ids],
                "drug_id": [d for _ in cell_ids for d in drug_ids],
            }
        )
        return p.predict_pairs(pairs)[COLUMNS]


def load_run(run_dir: str | Path, device: str = "cpu", dataset: str | Path | None = None) -> Run:
    """A trained run directory from :func:`train` or ``drp train``.

    Args:
        run_dir: the run directory.
        device: ``auto``, ``cpu`` or ``cuda``.
        dataset: featurized dataset directory to predict on (default: the run's own; another
            dataset's cells and drugs are looked up by id).

    Raises:
        drp.prediction.predictor.PredictionError: no ``best.pt`` (not a finished run).
        ValueError: unknown ``device``.
    """
    from drp.prediction.predictor import check_run

    if device not in DEVICES:
        raise ValueError(f"device {device!r} is not one of {list(DEVICES)}")
    path = check_run(Path(run_dir))
    return Run(
        path=path,
        config=_read_json(path / "config.json"),
        summary=_read_json(path / "summary.json"),
        device=device,
        dataset=None if dataset is None else Path(dataset),
    )


@dataclass
class Ensemble:
    """Several trained runs (folds, seeds) predicting as one model.

    The prediction is the members' mean; ``ensemble_sd`` is their spread (sd over members), a
    measure of model uncertainty to read beside the conformal interval. The interval at a level
    uses the mean of the members' conformal quantiles: each member is calibrated on its own
    validation pairs, and the mean of members errs less than a typical member, so the interval
    is conservative (at least nominal coverage when the members' are).
    """

    runs: list[Run]

    def predict(
        self,
        cells: Sequence[str] | None = None,
        drugs: Sequence[str] | None = None,
        smiles: dict[str, str] | None = None,
        interval: float | None = None,
        *,
        pairs: pd.DataFrame | None = None,
        matrix: bool = False,
    ) -> pd.DataFrame:
        """Like :meth:`Run.predict`, plus ``ensemble_sd`` and ``n_models``."""
        from drp.evaluation.ensembles import combine_members
        from drp.training.intervals import add_interval

        out = combine_members([r._predict(cells, drugs, smiles, pairs, matrix) for r in self.runs])
        if interval is None:
            return out
        new_drug = self.runs[0].predictor.new_drug_rows(out)
        return add_interval(
            out, [r.path for r in self.runs], interval, smiles is not None, new_drug
        )


def load_ensemble(
    run_dirs: Sequence[str | Path], device: str = "cpu", dataset: str | Path | None = None
) -> Ensemble:
    """An ensemble of run directories; a directory that is not itself a run stands for every
    run directly inside it (a folder of runs of one variant and split, e.g. the seeds of one
    fold: ``drp train --seed N --fold-seed 0``).

    The members must agree on variant (model name), split kind, dataset and drug prior
    (:func:`drp.evaluation.ensembles.member_setting`): averaging, say, a study's ``runs/`` (every variant
    and split) would blend models that answer different questions.

    Raises:
        drp.prediction.predictor.PredictionError: a path holds no finished run, or the runs differ in one of
            those fields (the message names each field, its values and the runs with each).
    """
    from drp.evaluation.ensembles import ensemble_mismatch
    from drp.prediction.predictor import PredictionError

    paths: list[Path] = []
    for item in map(Path, run_dirs):
        if (item / "best.pt").exists() or not item.is_dir():
            paths.append(item)
            continue
        inner = sorted(p for p in item.iterdir() if (p / "best.pt").exists())
        if not inner:
            raise PredictionError(f"{item} is neither a finished run nor a folder of runs")
        paths += inner
    runs = [load_run(p, device, dataset) for p in paths]
    mismatch = ensemble_mismatch({str(r.path): r.config for r in runs})
    if mismatch:
        raise PredictionError(
            f"these {len(runs)} runs cannot predict as one ensemble: they differ in {mismatch}; "
            "give runs of one variant, split, dataset and prior (e.g. the seeds of one fold: "
            "drp train --seed N --fold-seed 0)"
        )
    return Ensemble(runs)
