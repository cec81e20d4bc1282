"""The attention study: every attention component against its non-attention twin, on identical
folds, beside the naive baselines, with paired statistics.

Each grid cell (variant x split x fold x seed) is an independent job with its own run directory
under ``<study>/runs``; a finished cell (its compact record ``cells/<run>.json`` present, see
``drp.study.evidence``) is skipped, an interrupted one resumes from ``last.pt``, so a study can be
stopped and restarted, or resumed on another machine from its committed evidence.
Seed ``s`` uses folds drawn with seed ``s`` (repeated k-fold CV), which is the resampling design
the corrected resampled t-test assumes.
"""

from __future__ import annotations

import fcntl
import json
import platform
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from drp.core.claims import Claim, ClaimLost, clear_stale
from drp.core.config import RunConfig
from drp.core.executors import Executor, LocalExecutor
from drp.core.files import atomic_write_text
from drp.data.tables import summarise_drops
from drp.evaluation.metrics import noise_ceiling
from drp.evaluation.scoring import fit_predict, manifest_checksum
from drp.featurize.molecules import smiles_in_graph_order
from drp.featurize.store import FeaturizedDataset
from drp.models.baselines import BASELINES
from drp.models.registry import DEFAULT_VARIANT, variant_config
from drp.splits.folds import Fold, load_or_make_folds
from drp.study.answers import answer_table, per_drug_mixed_model
from drp.study.evidence import consolidate, is_finished, read_cells, read_groups, write_cell
from drp.study.interpretation import atom_attention, faithfulness
from drp.study.presets import (  # noqa: F401 (re-exported)
    ALL_VARIANTS,
    MARGINS,
    PRESETS,
    PRIMARY_METRIC,
    QUESTIONS,
    Preset,
    preset_by_name,
)
from drp.training.estimator import NeuralEstimator
from drp.training.loop import git_commit, hardware

SHOWCASE_DRUGS = ("Lapatinib", "Erlotinib", "Paclitaxel", "Cisplatin", "Gefitinib", "Docetaxel")


def run_name(variant: str, split: str, fold: int, seed: int) -> str:
    return f"{variant}__{split}__f{fold}__s{seed}"


class StudyFolds:
    """The study's folds, read from the shared cache once per (split, seed)."""

    def __init__(self, ds: FeaturizedDataset, k: int, folds_dir: Path) -> None:
        self.ds, self.k, self.folds_dir = ds, k, folds_dir
        self._memo: dict[tuple[str, int], list[Fold]] = {}

    def __call__(self, split: str, seed: int, fold: int) -> Fold:
        key = (split, seed)
        if key not in self._memo:
            self._memo[key] = load_or_make_folds(self.ds, split, self.k, seed, self.folds_dir)
        return self._memo[key][fold]


@dataclass(frozen=True)
class CellSpec:
    """One unit of work: a model cell (variant x split x fold x seed), or the baselines of one
    fold (``variant`` = :data:`BASELINES_CELL`). Picklable, so a Ray task can carry it; paths
    are absolute, so any worker can run it."""

    study: str
    dataset: str
    preset: Preset
    base: RunConfig
    variant: str
    split: str
    fold: int
    seed: int
    command: str = ""
    threads: int = 0  # torch threads for the cell (0: leave as is)

    @property
    def run(self) -> str:
        return run_name(self.variant, self.split, self.fold, self.seed)


BASELINES_CELL = "baselines"


def study_cells(
    study: Path, preset: Preset, dataset_dir: Path, base: RunConfig, threads: int = 0
) -> list[CellSpec]:
    """The grid's work units in run order: each fold's baselines before its first model."""
    specs, seen = [], set()
    common = {
        "study": str(Path(study).resolve()),
        "dataset": str(Path(dataset_dir).resolve()),
        "preset": preset,
        "base": base,
        "command": " ".join(sys.argv),
        "threads": threads,
    }
    for variant, split, fold, seed in preset.cells():
        if preset.baselines and (split, fold, seed) not in seen:
            seen.add((split, fold, seed))
            specs.append(
                CellSpec(**common, variant=BASELINES_CELL, split=split, fold=fold, seed=seed)
            )
        specs.append(CellSpec(**common, variant=variant, split=split, fold=fold, seed=seed))
    return specs


def is_done(spec: CellSpec) -> bool:
    """Whether the unit's records are all written."""
    if spec.variant != BASELINES_CELL:
        return is_finished(Path(spec.study), spec.run)
    return all(
        is_finished(Path(spec.study), run_name(b, spec.split, spec.fold, spec.seed))
        for b in spec.preset.baselines
    )


_DATASETS: dict[tuple, tuple[FeaturizedDataset, StudyFolds]] = {}


def _dataset(spec: CellSpec) -> tuple[FeaturizedDataset, StudyFolds]:
    """The dataset and fold cache of a unit, loaded once per worker process (keyed by the
    store's manifest, so a store featurized again is loaded again)."""
    folds_dir = Path(spec.base.train.folds_dir or Path(spec.dataset) / "folds")
    manifest = (Path(spec.dataset) / "manifest.json").read_bytes()
    key = (spec.dataset, hash(manifest), spec.preset.k, str(folds_dir))
    if key not in _DATASETS:
        ds = FeaturizedDataset.load(Path(spec.dataset))
        _DATASETS[key] = (ds, StudyFolds(ds, spec.preset.k, folds_dir))
    return _DATASETS[key]


def run_cell(spec: CellSpec) -> dict:
    """Run one unit unless it is finished or claimed by a live worker; the work a local loop
    or a Ray task does. The run's claim is held while it trains (:mod:`drp.core.claims`); an
    interrupted run resumes from its own ``last.pt``.

    Returns:
        ``{"run", "status"}`` with status ``finished`` (already done), ``claimed`` (another
        worker holds it, or took it over meanwhile) or ``done``; ``done`` adds ``seconds``,
        ``attempt``, ``worker`` and, for a model, ``val_rmse`` and ``epochs``.
    """
    out = {"run": spec.run}
    study = Path(spec.study)
    if is_done(spec):
        clear_stale(study, spec.run)
        return out | {"status": "finished"}
    claim = Claim.acquire(study, spec.run)
    if claim is None:
        return out | {"status": "claimed"}
    try:
        if is_done(spec):  # finished between the check and the claim
            return out | {"status": "finished"}
        if spec.threads:
            torch.set_num_threads(spec.threads)
        ds, folds = _dataset(spec)
        t0 = time.perf_counter()
        worker = {"attempt": claim.attempt, "worker": claim.owner}
        fold = folds(spec.split, spec.seed, spec.fold)
        if spec.variant == BASELINES_CELL:
            _run_baselines(ds, spec, fold, claim, worker)
            return out | {"status": "done", "seconds": time.perf_counter() - t0} | worker
        summary = _run_model(ds, spec, fold, claim, worker)
        return (
            out
            | {
                "status": "done",
                "seconds": time.perf_counter() - t0,
                "val_rmse": summary["best_val_rmse"],
                "epochs": summary["epochs_run"],
            }
            | worker
        )
    except ClaimLost:  # judged stale and taken over: the new owner finishes the cell
        return out | {"status": "claimed"}
    finally:
        claim.release()


def _run_model(
    ds: FeaturizedDataset, spec: CellSpec, fold: Fold, claim: Claim, worker: dict
) -> dict:
    """Train one model cell and write its compact record; returns the training summary."""
    run_dir = Path(spec.study) / "runs" / spec.run
    preset, base = spec.preset, spec.base
    cfg = RunConfig(
        model=variant_config(spec.variant, base.model),
        train=replace(
            base.train,
            dataset=spec.dataset,
            split=spec.split,
            fold=spec.fold,
            seed=spec.seed,
            fold_seed=-1,  # seed s draws its folds with s (repeated k-fold CV)
            k=preset.k,
            epochs=preset.epochs,
            patience=preset.patience,
        ),
    ).validate()
    train, val, test = fold.frames(ds.pairs)
    estimator = NeuralEstimator(
        cfg,
        spec.variant,
        run_dir,
        resume=(run_dir / "last.pt").exists(),
        command=spec.command,
        run_info={"counts": {"test": len(test)}},
        on_epoch=lambda row: claim.heartbeat(),
    )
    pred = fit_predict(estimator, ds, train, val, test, run_dir=run_dir)
    summary = estimator.summary_
    history = run_dir / "history.csv"
    labels = {"variant": spec.variant, "split": spec.split, "fold": spec.fold, "seed": spec.seed}
    write_cell(
        Path(spec.study),
        spec.run,
        labels | {"kind": "model"},
        pred,
        summary | worker,
        pd.read_csv(history) if history.exists() else None,
        censored=test.get("censored"),
        sample=spec.variant == DEFAULT_VARIANT,
        seed=spec.seed,
    )
    return summary


def run_study(
    name: str,
    preset: Preset,
    dataset_dir: Path,
    out_root: Path = Path("studies"),
    base: RunConfig | None = None,
    preset_name: str = "custom",
    log: Callable[[str], None] = print,
    executor: Executor | None = None,
) -> Path:
    """Run (or resume) the grid and write the study directory; returns its path.

    A cell whose compact record (``cells/<run>.json``) exists is finished and skipped, so a
    study resumes from its committed evidence alone; an interrupted cell resumes from its
    ``last.pt``. Cells run through ``executor`` (default :class:`~drp.core.executors.LocalExecutor`:
    one after the other in this process; :class:`~drp.core.executors.RayExecutor`: as Ray tasks).
    Cells claimed by another live worker on the same directory are left to it, and waited for
    before the results are collected. Every worker of a study must share its settings (grid,
    config, dataset): ``study.json`` records them and a call with others is refused.

    Raises:
        StudyMismatch: the directory holds a study with another preset, grid, config or
            dataset (nothing is run or written).
        StudyError: cells failed (their runs resume when the study is run again).
    """
    base = base or RunConfig()
    if base.train.fold_seed >= 0:
        raise ValueError(
            "a study draws seed s's folds with seed s (repeated k-fold CV); train.fold_seed is "
            "for single runs (seed ensembles): drop it from the study's config"
        )
    # The study compares drug encoders by their own predictions: a new drug's main effect comes
    # from the network, not from the similarity prior every variant would share.
    base = replace(base, train=replace(base.train, drug_prior="none"))
    folds_path = Path(base.train.folds_dir or Path(dataset_dir) / "folds").resolve()
    if base.train.folds_dir:  # absolute, so every worker (any working directory) reads them
        base = replace(base, train=replace(base.train, folds_dir=str(folds_path)))
    executor = executor or LocalExecutor()
    ds = FeaturizedDataset.load(dataset_dir)
    study = Path(out_root) / name
    (study / "runs").mkdir(parents=True, exist_ok=True)
    folds = StudyFolds(ds, preset.k, folds_path)
    started = time.perf_counter()
    _write_study_json(study, name, preset, preset_name, ds, dataset_dir, base)
    specs = study_cells(study, preset, dataset_dir, base, threads=executor.threads)
    for split, seed in {(s.split, s.seed) for s in specs}:
        folds(split, seed, 0)  # draw and cache the folds once, before workers read them
    todo = [s for s in specs if not is_done(s)]
    log(f"{len(specs) - len(todo)} of {len(specs)} cells already finished; {len(todo)} to run")
    results = executor.run(run_cell, todo, log)
    failed = [r["run"] for r in results if r["status"] == "failed"]
    held = {r["run"] for r in results if r["status"] == "claimed"}
    failed += wait_for_claimed([s for s in todo if s.run in held], log)
    if failed:
        raise StudyError(
            f"{len(failed)} cell(s) failed: {', '.join(failed[:5])}"
            f"{' ...' if len(failed) > 5 else ''}; run the same command again to resume them"
        )
    with collect_lock(study):
        collect(study, preset, ds, folds)
    log(f"study {name} finished in {time.perf_counter() - started:.0f} s")
    return study


class StudyError(RuntimeError):
    """A study whose cells did not all finish."""


class StudyMismatch(ValueError):
    """A study directory started with another preset, grid, config or dataset than this call:
    its cells would mix two designs."""


def _flatten(value: object, prefix: str) -> dict[str, object]:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for key, item in value.items():
            out |= _flatten(item, f"{prefix}.{key}")
        return out
    return {prefix: value}


LOCATIONS = ("config.train.dataset", "config.train.folds_dir")
"""Config keys that say where data lies, not what it is: the dataset is compared by checksum,
so a study resumes from another machine or working directory."""
_IN_GRID = ("config.train.epochs", "config.train.patience", "config.train.k")


def study_settings(info: dict) -> dict[str, object]:
    """What every worker of one study must share, from a ``study.json`` payload, as dotted
    keys: ``preset``, ``grid.*``, ``config.*`` (less :data:`LOCATIONS`) and ``dataset`` (the
    manifest checksum)."""
    settings: dict[str, object] = {}
    if "preset" in info:
        settings["preset"] = info["preset"]
    dataset = info.get("dataset") or {}
    if "manifest_sha256" in dataset or "manifest_files" in dataset:
        settings["dataset"] = dataset.get("manifest_sha256") or manifest_checksum(
            dataset["manifest_files"]
        )
    settings |= _flatten(info.get("grid", {}), "grid")
    config = _flatten(info.get("config", {}), "config")
    settings |= {k: v for k, v in config.items() if k not in LOCATIONS + _IN_GRID}
    return settings


def check_same_study(study: Path, first: dict, now: dict) -> None:
    """Refuse to add ``now`` (a ``study.json`` payload) to the study recorded as ``first``.

    Only keys both record are compared, so a study written by an older ``drp`` still resumes.

    Raises:
        StudyMismatch: one line naming every setting that differs (up to six), with both values.
    """
    old, new = study_settings(first), study_settings(now)
    keys = [k for k in new if k in old and old[k] != new[k]]
    if not keys:
        return

    def shown(key: str, info: dict, value: object) -> str:
        if key != "dataset":
            return repr(value)
        return f"{str(value)[:12]} ({(info.get('dataset') or {}).get('path', '?')})"

    diffs = [f"{k} {shown(k, first, old[k])} there, {shown(k, now, new[k])} here" for k in keys]
    more = f" and {len(diffs) - 6} more" if len(diffs) > 6 else ""
    raise StudyMismatch(
        f"{study} holds a study with other settings: {'; '.join(diffs[:6])}{more}; run it with "
        "its own preset, config and dataset (see its study.json), or choose another --name"
    )


def wait_for_claimed(
    specs: list[CellSpec], log: Callable[[str], None], poll: float = 2.0
) -> list[str]:
    """Wait for the units that another worker held; run any whose worker died here.

    Returns the runs that failed when taken over (empty when all finished)."""
    pending = [s for s in specs if not is_done(s)]
    if pending:
        log(f"waiting for {len(pending)} cell(s) held by other workers")
    failed: list[str] = []
    while pending:
        time.sleep(poll)
        for spec in list(pending):
            try:
                result = run_cell(spec)  # finished, still claimed, or taken over and run
            except Exception as exc:  # noqa: BLE001 (reported, and the study resumes)
                log(f"{spec.run} failed: {exc}")
                failed.append(spec.run)
                pending.remove(spec)
                continue
            if result["status"] != "claimed":
                pending.remove(spec)
    return failed


@contextmanager
def collect_lock(study: Path, name: str = ".collect.lock") -> Iterator[None]:
    """One collector at a time per study directory (an exclusive ``flock`` on ``name``)."""
    with open(Path(study) / name, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run_baselines(
    ds: FeaturizedDataset, spec: CellSpec, fold: Fold, claim: Claim, worker: dict
) -> None:
    """Fit the preset's baselines on one fold (the same :func:`~drp.evaluation.scoring.fit_predict`
    path as the neural variants) and write their compact records."""
    train, val, test = fold.frames(ds.pairs)
    for name in spec.preset.baselines:
        run = run_name(name, spec.split, spec.fold, spec.seed)
        if is_finished(Path(spec.study), run):
            continue
        claim.heartbeat()
        t0 = time.perf_counter()
        pred = fit_predict(BASELINES[name](), ds, train, val, test)
        labels = {"variant": name, "split": spec.split, "fold": spec.fold, "seed": spec.seed}
        write_cell(
            Path(spec.study),
            run,
            labels | {"kind": "baseline"},
            pred,
            {"train_seconds": time.perf_counter() - t0} | worker,
            censored=test.get("censored"),
        )


def collect(study: Path, preset: Preset, ds: FeaturizedDataset, folds: StudyFolds) -> None:
    """Turn the finished cells' records into results.csv, answers.csv, per_drug_tests.csv,
    design.json and the consolidated groups.parquet and predictions.parquet; with the default
    model's checkpoints present, also attention.json and faithfulness.csv (otherwise those
    committed with the evidence are kept)."""
    cells = read_cells(study)
    if cells.empty:
        return
    results = cells.drop(columns=["run"]).rename(columns={"n": "n_test"})
    results.to_csv(study / "results.csv", index=False)
    consolidate(
        study, ds.pairs[["cell_id", "drug_id", "censored"]] if "censored" in ds.pairs else None
    )
    n_train, n_test = fold_sizes(preset, folds)
    present = set(results.variant)
    questions = [q for q in preset.declared() if q.attention in present and q.twin in present]
    answer_table(results, questions, n_train, n_test, preset.baselines).to_csv(
        study / "answers.csv", index=False
    )
    groups = read_groups(study)
    drugs = groups[groups["kind"] == "drug"]
    per_drug = [
        {
            "question": q.name,
            "split": split,
            **per_drug_mixed_model(drugs, q.attention, q.twin, split),
        }
        for q in questions
        for split in (q.primary, *q.secondary)
        if split in FAITHFULNESS_SPLITS
    ]
    pd.DataFrame(per_drug).to_csv(study / "per_drug_tests.csv", index=False)
    _write_design(study, preset, n_train, n_test)
    if DEFAULT_VARIANT in preset.variants and (study / "runs").is_dir():
        write_attention(study, preset, ds, folds)
        _biomarkers(study, preset, ds)


def _biomarkers(study: Path, preset: Preset, ds: FeaturizedDataset) -> None:
    """Biomarker recovery of the default model on cell-blind test cells (first seed, every
    fold, full predictions from the run directories), for a built-in GDSC dataset whose
    processed mutation/CNV/expression tables are on disk; otherwise the committed files stay."""
    from drp.core.paths import DATA_DIR
    from drp.data.gdsc import processed_dir
    from drp.evaluation.biomarkers import write_biomarkers
    from drp.featurize.pipeline import gdsc_tables

    built_in = ds.manifest.get("sources", {}).get("built_in")
    processed = processed_dir(DATA_DIR)
    paths = [
        study
        / "runs"
        / run_name(DEFAULT_VARIANT, "cell_blind", f, preset.seeds[0])
        / "predictions_test.parquet"
        for f in preset.folds
    ]
    if built_in is None or not all(p.is_file() for p in paths) or not processed.is_dir():
        return
    omics = gdsc_tables(processed, built_in, ["mutation", "cnv", "expression"]).omics
    write_biomarkers(study, pd.concat([pd.read_parquet(p) for p in paths]), omics)


def _write_design(
    study: Path, preset: Preset, n_train: dict[str, int], n_test: dict[str, int]
) -> None:
    """design.json: the declared questions, margins and family, and the fold sizes used."""
    questions = preset.declared()
    payload = {
        "questions": [
            {
                "name": q.name,
                "attention": q.attention,
                "twin": q.twin,
                "primary_split": q.primary,
                "secondary_splits": list(q.secondary),
                "primary_metric": PRIMARY_METRIC,
            }
            for q in questions
        ],
        "margins": MARGINS,
        "family": {
            "primary": f"the {len(questions)} primary endpoints (one split, RMSE, per question)",
            "adjustment": "Bonferroni intervals at level 1 - 0.05/m; Holm p-values",
            "secondary": "unadjusted 95% intervals",
        },
        "n_train": n_train,
        "n_test": n_test,
        "test": "Nadeau-Bengio corrected resampled t interval (n_train excludes validation pairs)",
    }
    (study / "design.json").write_text(json.dumps(payload, indent=1) + "\n")


def fold_sizes(preset: Preset, folds: StudyFolds) -> tuple[dict[str, int], dict[str, int]]:
    """Per split: the pairs a model is fitted on (training part, validation excluded) and the
    test pairs of one fold (fold 0 of the first seed), for the variance correction."""
    n_train, n_test = {}, {}
    for split, fold, seed in preset.fold_keys():
        if split not in n_train:
            fi = folds(split, seed, fold)
            n_train[split], n_test[split] = len(fi.train), len(fi.test)
    return n_train, n_test


FAITHFULNESS_SPLITS = ("drug_blind", "cluster_blind")


def write_attention(
    study: Path,
    preset: Preset,
    ds: FeaturizedDataset,
    folds: StudyFolds,
    max_cells: int = 200,
    device: str | None = None,
) -> None:
    """Faithfulness and atom weights of the default model, from models that never saw the drug.

    For the first drug-blind split of the grid (cluster-blind if there is no drug-blind one;
    any split as a last resort), every fold of the first seed: each test drug is scored by its
    fold's model over up to ``max_cells`` of its test cells (``faithfulness.csv``, one row per
    drug x deleted fraction), and the showcase drugs' atom weights come from the fold where they
    were held out (``attention.json``).

    The models run on ``device``; by default the study's ``train.device`` (``study.json``),
    where ``cuda`` falls back to the CPU when no GPU is present now.
    """
    from drp.core.device import resolve_device

    if device is None:
        info = study / "study.json"
        config = json.loads(info.read_text()).get("config", {}) if info.exists() else {}
        device = (config.get("train") or {}).get("device", "auto")
        device = "auto" if device == "cuda" else device
    run_device = resolve_device(device)
    seed = preset.seeds[0]
    trained = [
        s for s in preset.splits if any(c[:2] == (DEFAULT_VARIANT, s) for c in preset.cells())
    ]
    blind = [s for s in FAITHFULNESS_SPLITS if s in trained]
    if not trained:
        return
    split = (blind or trained)[0]
    rows, showcase = [], []
    for fold in preset.folds:
        run_dir = study / "runs" / run_name(DEFAULT_VARIANT, split, fold, seed)
        if not (run_dir / "best.pt").exists():
            continue
        fi = folds(split, seed, fold)
        estimator = NeuralEstimator.from_run(run_dir, run_device)
        model, tensors = estimator.model_, estimator.entity_tensors(ds)
        model.eval()
        test = ds.pairs.iloc[fi.test]
        rng = np.random.default_rng(seed)
        scores: dict[str, list[dict]] = {}
        for drug_id, group in test.groupby("drug_id"):
            cells = group.cell_id.map(ds.cell_index).to_numpy()
            if len(cells) > max_cells:
                cells = rng.choice(cells, max_cells, replace=False)
            d = ds.drug_index[drug_id]
            scores[drug_id] = faithfulness(
                model,
                ds.graphs[d],
                tensors,
                cells,
                estimator.target_std_,
                seed=seed,
                fingerprint=tensors.fingerprints[d],
            )
            rows += [
                {"drug_id": drug_id, "split": split, "fold": fold, **r} for r in scores[drug_id]
            ]
        for drug_id in SHOWCASE_DRUGS:
            if drug_id not in scores:
                continue
            d = ds.drug_index[drug_id]
            weights = atom_attention(model, ds.graphs[d], tensors.fingerprints[d])
            smiles, ordered = smiles_in_graph_order(ds.drugs.smiles.iloc[d], weights)
            showcase.append(
                {
                    "drug_id": drug_id,
                    "smiles": smiles,
                    "atom_weights": ordered,
                    "split": split,
                    "fold": fold,
                    "variant": DEFAULT_VARIANT,
                    "faithfulness": scores[drug_id],
                }
            )
    if not rows:  # no checkpoint here: keep the tables committed with the evidence
        return
    pd.DataFrame(rows).to_csv(study / "faithfulness.csv", index=False)
    order = {name: i for i, name in enumerate(SHOWCASE_DRUGS)}
    showcase.sort(key=lambda e: order[e["drug_id"]])
    (study / "attention.json").write_text(json.dumps(showcase, indent=1) + "\n")


def _write_study_json(
    study: Path,
    name: str,
    preset: Preset,
    preset_name: str,
    ds: FeaturizedDataset,
    dataset_dir: Path,
    base: RunConfig,
) -> None:
    """Write (or, resuming, update) ``study.json``: the grid, config, dataset and provenance.
    Under a lock, so that of two workers starting at once the second sees the first's record.

    Raises:
        StudyMismatch: the directory's study has other settings (:func:`check_same_study`).
    """
    drops = summarise_drops(ds.drops).to_dict(orient="records")
    payload = {
        "name": name,
        "preset": preset_name,
        "preset_description": preset.description,
        "dataset": {
            "name": ds.name,
            "path": str(dataset_dir),
            "manifest_sha256": manifest_checksum(ds.manifest.get("files", {})),
            "manifest_files": ds.manifest.get("files", {}),
            "counts": ds.manifest.get("counts", {}),
        },
        "grid": {
            "variants": list(preset.variants),
            "splits": list(preset.splits),
            "folds": list(preset.folds),
            "seeds": list(preset.seeds),
            "k": preset.k,
            "epochs": preset.epochs,
            "patience": preset.patience,
            "baselines": list(preset.baselines),
            "questions": list(preset.questions),
            "default_variant": DEFAULT_VARIANT,
        },
        "provenance": {
            "commit": git_commit(),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "hardware": hardware(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "command": " ".join(sys.argv),
        },
        # what every run trained with: the base config with the preset's schedule and folds
        "config": RunConfig(
            model=base.model,
            train=replace(
                base.train,
                dataset=str(dataset_dir),
                epochs=preset.epochs,
                patience=preset.patience,
                k=preset.k,
            ),
        ).to_dict(),
        "data_summary": {
            "counts": ds.manifest.get("counts", {}),
            "drops": drops,
            "noise_ceiling": noise_ceiling(ds.replicates),
        },
    }
    payload = json.loads(json.dumps(payload, default=str))  # tuples as lists, as read back
    info = study / "study.json"
    with collect_lock(study, ".study.lock"):
        if info.exists():  # a resumed study keeps the provenance of its first run
            first = json.loads(info.read_text())
            check_same_study(study, first, payload)
            payload["resumed"] = [*first.get("resumed", []), payload["provenance"]]
            payload["provenance"] = first.get("provenance", payload["provenance"])
        atomic_write_text(info, json.dumps(payload, indent=2, default=str))
