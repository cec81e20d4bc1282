"""The Python API: load a dataset, train a run, load it, predict, evaluate.

The ``drp`` command is a thin layer over these functions. Heavy modules (torch, PyG, RDKit)
are imported inside the functions, so importing this module stays cheap::

    import drp

    run = drp.load_run("runs/hybrid_mixed_f0_s0")
    run.predict(cells=["A549"], drugs=["1003"])  # DataFrame: cell_id, drug_id, ln_ic50_pred
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drp.core.config import DEVICES, RunConfig, apply_overrides, load_config
from drp.core.paths import DATA_DIR, dataset_path
from drp.models.baselines import DEFAULT_BASELINES

if TYPE_CHECKING:
    import pandas as pd

    from drp.featurize.store import FeaturizedDataset
    from drp.prediction.predictor import Predictor

__all__ = [
    "DATA_DIR",
    "Ensemble",
    "Run",
    "dataset_path",
    "default_run_dir",
    "evaluate",
    "evaluation",
    "Evaluation",
    "load_dataset",
    "combine_members",
    "load_ensemble",
    "load_run",
    "train",
    "training_config",
]

COLUMNS = ["cell_id", "drug_id", "ln_ic50_pred"]


def load_dataset(name_or_path: str | Path, data_dir: Path = DATA_DIR) -> FeaturizedDataset:
    """A featurized dataset by built-in name (``gdsc2``) or directory (see :func:`dataset_path`)."""
    from drp.featurize.store import FeaturizedDataset

    return FeaturizedDataset.load(dataset_path(name_or_path, data_dir))


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
    ) -> pd.DataFrame:
        """ln IC50 predictions, long format with columns ``cell_id, drug_id, ln_ic50_pred``
        (and ``lo, hi, interval_from`` with ``interval``).

        Args:
            cells: cell ids (default: every cell of the dataset).
            drugs: known drug ids (default: every drug), crossed with ``cells``.
            smiles: new drugs as ``{name: SMILES}``, crossed with ``cells``; not with ``drugs``.
            interval: coverage (0.50-0.99) of a split-conformal interval calibrated on the run's
                validation pairs (:mod:`drp.training.intervals`).

        Raises:
            ValueError: both ``drugs`` and ``smiles`` given.
            drp.prediction.predictor.PredictionError: unknown ids or invalid SMILES (a ValueError).
        """
        from drp.training.intervals import add_interval

        result = self._predict(cells, drugs, smiles)
        if interval is None:
            return result
        new_drug = self.predictor.new_drug_rows(result)
        return add_interval(result, self.path, interval, smiles is not None, new_drug)

    def _predict(
        self,
        cells: Sequence[str] | None,
        drugs: Sequence[str] | None,
        smiles: dict[str, str] | None,
    ) -> pd.DataFrame:
        import pandas as pd

        if drugs is not None and smiles is not None:
            raise ValueError(
                "give known drugs by id (drugs=...) or new drugs as SMILES (smiles=...), not both"
            )
        p = self.predictor
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
    ) -> pd.DataFrame:
        """Like :meth:`Run.predict`, plus ``ensemble_sd`` and ``n_models``."""
        from drp.evaluation.scoring import combine_members
        from drp.training.intervals import add_interval

        out = combine_members([r._predict(cells, drugs, smiles) for r in self.runs])
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
    (:func:`drp.evaluation.scoring.member_setting`): averaging, say, a study's ``runs/`` (every variant
    and split) would blend models that answer different questions.

    Raises:
        drp.prediction.predictor.PredictionError: a path holds no finished run, or the runs differ in one of
            those fields (the message names each field, its values and the runs with each).
    """
    from drp.evaluation.scoring import ensemble_mismatch
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


def _as_config(config: RunConfig | dict | str | Path | None, overrides: Sequence[str]) -> RunConfig:
    """A validated RunConfig from a RunConfig, a ``{"model": ..., "train": ...}`` dict or a
    TOML path (None: the defaults), with ``section.key=value`` ``overrides`` applied."""
    if config is None or isinstance(config, str | Path):
        return load_config(None if config is None else Path(config), list(overrides))
    data = config.to_dict() if isinstance(config, RunConfig) else config
    unknown = sorted(set(data) - {"model", "train"})
    if unknown:
        raise ValueError(f"unknown config section(s) {unknown}; use 'model' and 'train'")
    sections = {s: dict(data.get(s, {})) for s in ("model", "train")}
    return RunConfig.from_dict(apply_overrides(sections, list(overrides)))


def training_config(
    config: RunConfig | dict | str | Path | None = None,
    *,
    overrides: Sequence[str] = (),
    variant: str | None = None,
    dataset: str | Path | None = None,
    data_dir: Path = DATA_DIR,
    split: str | None = None,
    fold: int | None = None,
    seed: int | None = None,
    epochs: int | None = None,
    device: str | None = None,
    fold_seed: int | None = None,
) -> tuple[RunConfig, str]:
    """The config ``drp train`` would use, and the run's model name.

    ``variant`` replaces the model section by a named variant; the keyword arguments that are
    not None override ``[train]``. The name is the variant, else ``DEFAULT_VARIANT``
    when the model is that variant's, else ``custom``.

    Raises:
        ValueError: invalid config or unknown variant.
        FileNotFoundError: the dataset is not featurized.
    """
    from drp.models.registry import DEFAULT_VARIANT, variant_config

    cfg = _as_config(config, overrides)
    if variant:
        cfg = replace(cfg, model=variant_config(variant, cfg.model))
    updates = {
        k: v
        for k, v in {
            "split": split,
            "fold": fold,
            "seed": seed,
            "fold_seed": fold_seed,
            "epochs": epochs,
            "device": device,
        }.items()
        if v is not None
    }
    if dataset:
        updates["dataset"] = str(dataset_path(dataset, data_dir))
    cfg = replace(cfg, train=replace(cfg.train, **updates)).validate()
    dataset_path(cfg.train.dataset, data_dir)
    name = variant or (
        DEFAULT_VARIANT if cfg.model == variant_config(DEFAULT_VARIANT) else "custom"
    )
    return cfg, name


def default_run_dir(config: RunConfig, name: str) -> Path:
    """``runs/<name>_<split>_f<fold>_s<seed>``, with ``_fs<fold_seed>`` when the folds were
    drawn with another seed than the training's."""
    tc = config.train
    draw = "" if tc.folds_seed == tc.seed else f"_fs{tc.folds_seed}"
    return Path("runs") / f"{name}_{tc.split}_f{tc.fold}_s{tc.seed}{draw}"


def train(
    config: RunConfig | dict | str | Path | None = None,
    out: str | Path | None = None,
    *,
    overrides: Sequence[str] = (),
    variant: str | None = None,
    dataset: str | Path | None = None,
    split: str | None = None,
    fold: int | None = None,
    seed: int | None = None,
    epochs: int | None = None,
    device: str | None = None,
    fold_seed: int | None = None,
    resume: bool = False,
    name: str | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    command: str = "drp.train (Python API)",
) -> Run:
    """Train one model on one fold, as ``drp train`` does, and return the loaded run.

    Args:
        config: RunConfig, ``{"model": {...}, "train": {...}}`` dict, TOML path, or None.
        out: run directory (default ``runs/<name>_<split>_f<fold>_s<seed>``).
        overrides, variant, dataset, split, fold, seed, epochs, device, fold_seed: as in
            :func:`training_config`.
        resume: continue an interrupted run from its ``last.pt``.
        name: model name recorded in the run (default from :func:`training_config`).
        on_epoch: called with each epoch's history row (``epoch, train_loss, val_rmse, ...``).
        command: what ``config.json`` records as the command.

    Raises:
        ValueError: invalid config; FileNotFoundError: dataset not featurized;
        FileExistsError: ``out`` holds a run and ``resume`` is False.
    """
    from drp.evaluation.scoring import train_run

    cfg, default_name = training_config(
        config,
        overrides=overrides,
        variant=variant,
        dataset=dataset,
        split=split,
        fold=fold,
        seed=seed,
        epochs=epochs,
        device=device,
        fold_seed=fold_seed,
    )
    name = name or default_name
    run_dir = Path(out) if out is not None else default_run_dir(cfg, name)
    train_run(cfg, run_dir, resume=resume, on_epoch=on_epoch, command=command, name=name)
    return load_run(run_dir)


@dataclass
class Evaluation:
    """What ``drp evaluate`` scored: metric rows and what ``metrics.json`` records beside them.

    Attributes:
        table: one row per model x fold x subset (``metrics.csv``).
        dataset: the training dataset's directory.
        split_name: the split (``cross_dataset_<target>`` across datasets), for default paths.
        provenance: noise ceiling, data checksums, commit, machine, date, command (and the
            cross-dataset counts).
    """

    table: pd.DataFrame
    dataset: Path
    split_name: str
    provenance: dict[str, Any]

    @property
    def summary(self) -> pd.DataFrame:
        """Mean and sd over folds per model and subset (``metrics_summary.csv``)."""
        from drp.evaluation.scoring import summarise

        return summarise(self.table)

    @property
    def ceiling(self) -> dict[str, float] | None:
        """The replicate noise ceiling of the test pairs (None without replicates)."""
        return self.provenance.get("noise_ceiling")

    def default_out(self) -> Path:
        """``reports/evaluate/<dataset>_<split>``."""
        return Path("reports") / "evaluate" / f"{self.dataset.name}_{self.split_name}"

    def write(self, out: str | Path | None = None) -> Path:
        """``metrics.csv``, ``metrics_summary.csv`` and ``metrics.json`` in ``out`` (default
        :meth:`default_out`); returns the directory."""
        from drp.evaluation.scoring import write_metrics

        path = Path(out) if out is not None else self.default_out()
        write_metrics(self.table, path, extra=self.provenance)
        return path


def evaluation(
    runs: Sequence[str | Path] = (),
    baselines: Sequence[str] | None = DEFAULT_BASELINES,
    *,
    split: str | None = None,
    target: str | Path | None = None,
    dataset: str | Path | None = None,
    data_dir: Path = DATA_DIR,
    k: int | None = None,
    seed: int | None = None,
    cache_dir: Path | None = None,
    n_boot: int = 0,
    ensemble: bool = False,
    log: Callable[[str], None] | None = None,
    command: str = "drp.evaluate (Python API)",
) -> Evaluation:
    """Score runs and baselines on identical folds, as ``drp evaluate`` does.

    Args:
        runs: run directories (``config.json`` + ``predictions_test.parquet``).
        baselines: baseline names (``drp.models.baselines.BASELINES``); empty or None: none.
        split: the split; with runs it is theirs (another value is an error); without runs
            it is required. ``cross_dataset`` scores on ``target``.
        target: the test dataset of a cross-dataset split (``gdsc1``, ``ccle``, a path).
        dataset: training dataset (default the runs', else ``gdsc2``).
        data_dir: where raw and processed data live.
        k, seed: folds and fold seed without runs (default 5 and 0); with runs, theirs.
        cache_dir: fold cache without runs (default ``<dataset>/folds``).
        n_boot: bootstrap resamples for 95% CIs over the split's unit (0: none).
        ensemble: also score, per fold, the mean prediction of the runs that share model and
            fold (a seed ensemble: ``drp train --seed N --fold-seed 0``).
        log: progress messages.
        command: what the provenance records as the command.

    Raises:
        ValueError: nothing to evaluate, a missing split, or runs that disagree.
        FileNotFoundError: a dataset or a run's file is missing.
    """
    import pandas as pd

    from drp.evaluation.scoring import (
        evaluate_cross_dataset,
        evaluate_runs,
        evaluate_with_baselines,
        run_baselines,
        runs_setting,
    )
    from drp.featurize.store import FeaturizedDataset
    from drp.splits.folds import CROSS

    run_dirs = [Path(r) for r in runs]
    names = list(baselines or [])
    if not run_dirs and not names:
        raise ValueError("nothing to evaluate: give run directories and/or baselines")
    if split == CROSS and target is None:
        raise ValueError(f"split {CROSS} needs a target dataset (e.g. gdsc1 or ccle)")
    if ensemble and (split == CROSS or not run_dirs):
        raise ValueError("ensemble scoring needs runs of a within-dataset split")
    if not run_dirs and split is None:
        raise ValueError("a split is required without runs")
    given = None if dataset is None else dataset_path(dataset, data_dir)
    extra: dict[str, Any] = {}
    ceiling_ds = None  # whose replicates bound the test pairs: the target's across datasets
    if split == CROSS:
        if run_dirs:
            setting = runs_setting(run_dirs, dataset=given, keys=("dataset",))
            path = dataset_path(setting.dataset, data_dir)
        else:
            path = given or dataset_path("gdsc2", data_dir)
        ds = FeaturizedDataset.load(path)
        ceiling_ds = FeaturizedDataset.load(dataset_path(target, data_dir))
        table, cross = evaluate_cross_dataset(
            ds, ceiling_ds, run_dirs, names, seed=seed, n_boot=n_boot, log=log, dataset=path
        )
        split_name = f"{CROSS}_{Path(str(target)).name}"
        extra["cross_dataset"] = {
            "source": cross.source,
            "target": cross.target,
            "counts": cross.counts(),
            "dropped": cross.dropped,
            "drugs_matched": len(cross.drug_map),
        }
    elif run_dirs and names:
        table, setting = evaluate_with_baselines(
            run_dirs,
            names,
            split=split,
            k=k,
            seed=seed,
            dataset=given,
            n_boot=n_boot,
            ensemble=ensemble,
            log=log,
        )
        path, split_name = setting.dataset, setting.split
        ds = FeaturizedDataset.load(path)
    elif run_dirs:
        if split is not None or k is not None or seed is not None or given is not None:
            runs_setting(run_dirs, split=split, k=k, seed=seed, dataset=given)
        table = evaluate_runs(run_dirs, n_boot=n_boot, ensemble=ensemble)
        path = runs_setting(run_dirs[:1]).dataset
        split_name = "_".join(sorted(set(table["split"].astype(str))))
        ds = FeaturizedDataset.load(path) if path.exists() else None
    else:
        path = given or dataset_path("gdsc2", data_dir)
        ds = FeaturizedDataset.load(path)
        table = run_baselines(
            ds,
            split,
            k or 5,
            seed or 0,
            cache_dir or path / "folds",
            names,
            n_boot=n_boot,
            log=log,
            dataset_path=path,
        )
        split_name = split
    provenance = _evaluation_provenance(ds, Path(path), ceiling_ds or ds, command) | extra
    return Evaluation(pd.DataFrame(table), Path(path), str(split_name), provenance)


def _evaluation_provenance(
    ds: FeaturizedDataset | None, path: Path, ceiling_ds: FeaturizedDataset | None, command: str
) -> dict[str, Any]:
    """The noise ceiling, data checksums, commit, machine and date beside the metrics."""
    from datetime import UTC, datetime

    from drp.evaluation.metrics import noise_ceiling
    from drp.training.loop import git_commit, hardware

    return {
        "noise_ceiling": None if ceiling_ds is None else noise_ceiling(ceiling_ds.replicates),
        "dataset": str(path),
        "data_files": ds.manifest.get("files", {}) if ds is not None else {},
        "git_commit": git_commit(),
        "hardware": hardware(),
        "command": command,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def evaluate(
    runs: Sequence[str | Path] = (),
    baselines: Sequence[str] | None = DEFAULT_BASELINES,
    *,
    per_fold: bool = False,
    **options: Any,
) -> pd.DataFrame:
    """Metrics of runs beside baselines fitted on exactly the runs' folds (see
    :func:`evaluation` for ``options``: split, target, dataset, k, seed, n_boot, ensemble, log).

    Returns:
        The mean and sd over folds per model and subset (``metrics_summary.csv`` of
        ``drp evaluate``), or with ``per_fold`` the rows of ``metrics.csv``.
    """
    result = evaluation(runs, baselines, **options)
    return result.table if per_fold else result.summary


def combine_members(frames: Sequence[pd.DataFrame], column: str = "ln_ic50_pred") -> pd.DataFrame:
    """See :func:`drp.evaluation.scoring.combine_members` (re-exported for the API)."""
    from drp.evaluation.scoring import combine_members as combine

    return combine(frames, column)
