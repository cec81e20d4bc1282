"""The Python API, the one face of drp: featurize, train, load, predict, screen, evaluate,
study, tune, report. The ``drp`` command parses options and calls one function here.

Heavy modules (torch, PyG, RDKit) are imported inside the functions, so importing this module
stays cheap::

    import drp

    run = drp.load_run("runs/hybrid_mixed_f0_s0")
    run.predict(cells=["A549"], drugs=["1003"])  # DataFrame: cell_id, drug_id, ln_ic50_pred
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drp.core.choices import CROSS, SPLITS
from drp.core.config import DEVICES, RunConfig, load_config
from drp.core.executors import EXECUTORS
from drp.core.paths import DATA_DIR, dataset_path
from drp.core.progress import console, make_progress, on_epochs, on_steps, results_console, track
from drp.data.tables import write_table
from drp.evaluation.evaluate import Evaluation, evaluation
from drp.models.baselines import BASELINES, DEFAULT_BASELINES
from drp.models.registry import VARIANTS
from drp.prediction.runs import Ensemble, Run, load_ensemble, load_run
from drp.study.presets import PRESETS
from drp.training.run_config import default_run_dir, training_config

if TYPE_CHECKING:
    import pandas as pd

    from drp.featurize.make import Featurized
    from drp.featurize.store import FeaturizedDataset
    from drp.prediction.screen import ScreenResult

__all__ = [
    "BASELINES",
    "CROSS",
    "DATA_DIR",
    "DEFAULT_BASELINES",
    "DEVICES",
    "EXECUTORS",
    "PRESETS",
    "SPLITS",
    "VARIANTS",
    "Ensemble",
    "Evaluation",
    "Run",
    "combine_members",
    "console",
    "dataset_path",
    "default_run_dir",
    "evaluate",
    "evaluation",
    "featurize",
    "load_config",
    "load_dataset",
    "load_ensemble",
    "load_run",
    "make_progress",
    "on_epochs",
    "on_steps",
    "predict",
    "print_metrics",
    "report",
    "results_console",
    "screen",
    "study",
    "track",
    "train",
    "training_config",
    "tune",
    "write_table",
]


def featurize(dataset: str = "gdsc2", **options: Any) -> list[Featurized]:
    """Fetch, validate and featurize a built-in dataset, or a ``custom`` one from its tables
    (options: :func:`drp.featurize.make.featurize`); returns the datasets written."""
    from drp.featurize.make import featurize as make

    return make(dataset, **options)


def load_dataset(name_or_path: str | Path, data_dir: Path = DATA_DIR) -> FeaturizedDataset:
    """A featurized dataset by built-in name (``gdsc2``) or directory (see :func:`dataset_path`)."""
    from drp.featurize.store import FeaturizedDataset

    return FeaturizedDataset.load(dataset_path(name_or_path, data_dir))


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
    from drp.evaluation.runs import train_run  # scoring the test part is part of a run

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


def predict(
    run_dirs: Sequence[str | Path],
    *,
    pairs: pd.DataFrame | str | Path | None = None,
    matrix: bool = False,
    smiles: Mapping[str, str] | Sequence[str] | None = None,
    smiles_file: str | Path | None = None,
    cells: Sequence[str] | None = None,
    device: str = "cpu",
    dataset: str | Path | None = None,
    interval: float | None = None,
) -> pd.DataFrame:
    """Predict ln IC50 with one run, or several as an ensemble (their mean, ``ensemble_sd``
    beside it), for exactly one of: ``pairs`` (a table or its path), the whole ``matrix``, or
    new drugs (``smiles``: ``{name: SMILES}`` or ``NAME=SMILES`` strings, and/or
    ``smiles_file`` with ``drug_id, smiles``) on ``cells``.

    Raises:
        drp.prediction.predictor.PredictionError: not exactly one input, unknown ids, invalid
            SMILES, runs that cannot form an ensemble (a ValueError).
    """
    from drp.data.tables import read_table
    from drp.prediction.predictor import PredictionError

    if smiles is not None and not isinstance(smiles, Mapping):
        named = dict(s.split("=", 1) for s in smiles if "=" in s)
        if len(named) != len(smiles):
            raise PredictionError("--smiles expects NAME=SMILES")
        smiles = named
    new = dict(smiles or {})
    chosen_smiles = bool(new) or smiles_file is not None
    if sum([pairs is not None, matrix, chosen_smiles]) != 1:
        raise PredictionError("choose exactly one of --pairs, --matrix, --smiles/--smiles-file")
    if smiles_file is not None:
        table = read_table(Path(smiles_file))
        if not {"drug_id", "smiles"} <= set(table.columns):
            raise PredictionError(f"{smiles_file} needs columns drug_id, smiles")
        new.update(zip(table.drug_id.astype(str), table.smiles.astype(str), strict=True))
    if isinstance(pairs, str | Path):
        pairs = read_table(Path(pairs))
    ensemble = load_ensemble(run_dirs, device, dataset)
    model = ensemble.runs[0] if len(ensemble.runs) == 1 else ensemble
    if chosen_smiles:
        return model.predict(cells=cells, smiles=new, interval=interval)
    return model.predict(cells=cells, interval=interval, pairs=pairs, matrix=matrix)


def screen(
    run_dir: str | Path,
    library: str | Path,
    *,
    out: str | Path | None = None,
    cells: Sequence[str] | None = None,
    tissue: str | None = None,
    top: int = 10,
    ad_threshold: float | None = None,
    chunk_size: int | None = None,
    device: str = "cpu",
    interval: float | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
    command: str = "drp.screen (Python API)",
) -> ScreenResult:
    """Rank a compound library against cell lines and write predictions, top-K tables, the
    applicability domain and a ``screen.md``/``screen.html`` summary to ``out`` (default
    ``screens/<run>_<library>``). See :func:`drp.prediction.screen.screen`.

    Raises:
        ValueError: ``top`` < 1, an unreadable library (checked before the model loads),
            unknown cells or tissue.
    """
    from drp.prediction.domain import AD_THRESHOLD
    from drp.prediction.library import read_library
    from drp.prediction.predictor import Predictor
    from drp.prediction.screen import CHUNK_SIZE
    from drp.prediction.screen import screen as run_screen
    from drp.report.screen import write_screen_report

    if top < 1:
        raise ValueError(f"--top must be >= 1, got {top}")
    run_dir, library = Path(run_dir), Path(library)
    read_library(library)  # a bad library fails before the model loads
    result = run_screen(
        Predictor.from_run(run_dir, device),
        library,
        Path(out) if out is not None else Path("screens") / f"{run_dir.name}_{library.stem}",
        run_dir=run_dir,
        cells=cells,
        tissue=tissue,
        top_k=top,
        chunk_size=chunk_size or CHUNK_SIZE,
        ad_threshold=AD_THRESHOLD if ad_threshold is None else ad_threshold,
        on_chunk=on_chunk,
        command=command,
        interval=interval,
    )
    write_screen_report(result)
    return result


def study(
    preset: str = "quick",
    dataset: str | Path = "gdsc2",
    *,
    name: str | None = None,
    out_root: str | Path = "studies",
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
    executor: str = "local",
    address: str | None = None,
    cpus_per_run: float | None = None,
    gpus_per_run: float = 0.0,
    max_retries: int = 3,
    log: Callable[[str], None] = print,
) -> Path:
    """Run (or resume) a study preset's grid (variant x split x fold x seed) on ``local`` or
    ``ray`` executors; returns the study directory for :func:`report`.

    Raises:
        ValueError: an unknown preset or executor, Ray options without ``executor="ray"``.
    """
    from drp.core.executors import LocalExecutor, RayExecutor
    from drp.study.presets import preset_by_name
    from drp.study.runner import run_study

    if executor not in EXECUTORS:
        raise ValueError(f"--executor: unknown {executor!r}; choose from {list(EXECUTORS)}")
    if executor == "local" and (
        address or gpus_per_run or cpus_per_run is not None or max_retries != 3
    ):
        raise ValueError(
            "--address, --cpus-per-run, --gpus-per-run and --max-retries need --executor ray"
        )
    if (cpus_per_run is not None and cpus_per_run <= 0) or gpus_per_run < 0 or max_retries < 0:
        raise ValueError("--cpus-per-run must be > 0, --gpus-per-run and --max-retries >= 0")
    runner = (
        LocalExecutor()
        if executor == "local"
        else RayExecutor(address, cpus_per_run, gpus_per_run, max_retries)
    )
    chosen = preset_by_name(preset)
    base = load_config(None if config is None else Path(config), list(overrides))
    path = dataset_path(dataset)
    study_name = name or f"{Path(dataset).name}_{preset}"
    log(f"study {study_name}: {chosen.description}")
    return run_study(
        study_name, chosen, path, Path(out_root), base, preset, log=log, executor=runner
    )


def tune(
    variant: str | None = None,
    *,
    split: str | None = None,
    fold: int | None = None,
    space: str | Path | None = None,
    samples: int | None = None,
    dataset: str | Path | None = None,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
    address: str | None = None,
    cpus_per_trial: float = 1.0,
    gpus_per_trial: float = 0.0,
    out: str | Path | None = None,
    log: Callable[[str], None] = print,
    command: str = "drp.tune (Python API)",
) -> dict[str, Any]:
    """Search hyper-parameters with Ray Tune + ASHA on validation pairs only; writes
    ``best.toml``, ``trials.csv`` and ``tune.json`` to ``out`` (default
    ``tune/<variant>_<split>``) and returns the record of ``tune.json`` plus ``out``.

    Raises:
        ValueError: ``samples`` < 1, a bad search space or config.
    """
    from drp.training.tune import DEFAULT_SPACE, SearchSpace, tune_search

    if samples is not None and samples < 1:
        raise ValueError(f"--samples must be >= 1, got {samples}")
    search = SearchSpace.read(Path(space) if space is not None else DEFAULT_SPACE)
    base = load_config(None if config is None else Path(config), list(overrides))
    cfg, name = training_config(base, variant=variant, dataset=dataset, split=split, fold=fold)
    tc = cfg.train
    target = Path(out) if out is not None else Path("tune") / f"{name}_{tc.split}"
    log(
        f"tuning {name} on {tc.split} fold {tc.fold}: {samples or search.num_samples} trials, "
        f"up to {search.max_epochs} epochs, ASHA grace {search.grace_period}"
    )
    record = tune_search(
        cfg,
        search,
        target,
        variant=name,
        num_samples=samples,
        address=address,
        cpus_per_trial=cpus_per_trial,
        gpus_per_trial=gpus_per_trial,
        command=command,
    )
    return {**record, "out": target}


def report(study_dir: str | Path, out: str | Path | None = None) -> tuple[Path, Path, Path]:
    """Write ``report.md``, a self-contained ``report.html`` and one PNG per figure to ``out``
    (default ``reports/<study name>``), and copy the study's compact evidence to
    ``<out>/study``, from which the same call regenerates it. Returns (md, html, evidence).

    Raises:
        FileNotFoundError: ``study_dir`` has no ``study.json``.
    """
    from drp.report.render import render_report
    from drp.study.evidence import export

    study_dir = Path(study_dir)
    if not (study_dir / "study.json").exists():
        raise FileNotFoundError(f"{study_dir} is not a study directory (no study.json)")
    target = Path(out) if out is not None else Path("reports") / study_dir.name
    md, html = render_report(study_dir, target)
    return md, html, export(study_dir, target / "study")


def print_metrics(result: Evaluation) -> None:
    """Print an evaluation's summary table (mean and sd over folds) to stdout."""
    from drp.report.console import print_metrics_table

    print_metrics_table(result.summary, results_console, ceiling=result.ceiling)


def combine_members(frames: Sequence[pd.DataFrame], column: str = "ln_ic50_pred") -> pd.DataFrame:
    """See :func:`drp.evaluation.ensembles.combine_members` (re-exported for the API)."""
    from drp.evaluation.ensembles import combine_members as combine

    return combine(frames, column)
