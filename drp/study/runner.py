"""Run a study's grid of cells, resumably, and collect their results.

The attention study: every attention component against its non-attention twin, on identical
folds, beside the naive baselines, with paired statistics.

Each grid cell (variant x split x fold x seed) is an independent job with its own run directory
under ``<study>/runs``; a finished cell (its compact record ``cells/<run>.json`` present, see
``drp.study.evidence``) is skipped, an interrupted one resumes from ``last.pt``, so a study can be
stopped and restarted, or resumed on another machine from its committed evidence.
Seed ``s`` uses folds drawn with seed ``s`` (repeated k-fold CV), which is the resampling design
the corrected resampled t-test assumes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch

from drp.core.claims import Claim, ClaimLost, clear_stale
from drp.core.config import RunConfig
from drp.core.executors import Executor, LocalExecutor
from drp.core.files import atomic_write_text
from drp.evaluation.scoring import fit_predict
from drp.featurize.store import FeaturizedDataset
from drp.models.baselines import BASELINES
from drp.models.registry import DEFAULT_VARIANT, variant_config
from drp.study.answers import answer_table, offset_sensitivity, per_drug_mixed_model
from drp.study.attention import FAITHFULNESS_SPLITS, write_attention
from drp.study.cells import BASELINES_CELL, CellSpec, StudyFolds, is_done, run_name, study_cells
from drp.study.evidence import (
    RESTORED,
    cell_path,
    consolidate,
    is_finished,
    read_cells,
    read_groups,
    write_cell,
)
from drp.study.presets import (
    DECLARED_EXTERNAL_HALF_WIDTH,
    EXTERNAL,
    MARGINS,
    PRIMARY_METRIC,
    Preset,
)
from drp.study.settings import collect_lock, write_study_json
from drp.training.estimator import NeuralEstimator

_DATASETS: dict[tuple, tuple[FeaturizedDataset, StudyFolds]] = {}


def external_path(preset: Preset, dataset_dir: Path) -> Path | None:
    """Where the preset's external screen is (a name beside the dataset, or a path)."""
    if not preset.external:
        return None
    name = preset.external
    return Path(name) if "/" in name else Path(dataset_dir).parent / name


def study_folds(
    ds: FeaturizedDataset, preset: Preset, dataset_dir: Path, folds_dir: Path
) -> StudyFolds:
    """The study's folds; with an external screen, its new-drug test (drp.splits.external)."""
    external = None
    if EXTERNAL in preset.splits:
        from drp.splits.external import external_new_drugs

        path = external_path(preset, dataset_dir)
        if path is None:
            raise ValueError(f"the {EXTERNAL!r} split needs the preset's external screen")
        external = external_new_drugs(ds, FeaturizedDataset.load(path))
    return StudyFolds(ds, preset.k, folds_dir, external)


def _dataset(spec: CellSpec) -> tuple[FeaturizedDataset, StudyFolds]:
    """The dataset and fold cache of a unit, loaded once per worker process (keyed by the
    store's manifest, so a store featurized again is loaded again)."""
    folds_dir = Path(spec.base.train.folds_dir or Path(spec.dataset) / "folds")
    manifest = (Path(spec.dataset) / "manifest.json").read_bytes()
    key = (spec.dataset, hash(manifest), spec.preset.k, str(folds_dir), spec.preset.external)
    if key not in _DATASETS:
        ds = FeaturizedDataset.load(Path(spec.dataset))
        _DATASETS[key] = (ds, study_folds(ds, spec.preset, Path(spec.dataset), folds_dir))
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
    if is_done(spec) and not spec.restore:
        clear_stale(study, spec.run)
        return out | {"status": "finished"}
    claim = Claim.acquire(study, spec.run)
    if claim is None:
        return out | {"status": "claimed"}
    try:
        if is_done(spec) and not spec.restore:  # finished between the check and the claim
            return out | {"status": "finished"}
        if spec.threads:
            torch.set_num_threads(spec.threads)
        ds, folds = _dataset(spec)
        t0 = time.perf_counter()
        worker = {"attempt": claim.attempt, "worker": claim.owner}
        parts = folds.parts(spec.split, spec.seed, spec.fold)
        if spec.variant == BASELINES_CELL:
            _run_baselines(ds, spec, parts, claim, worker)
            return out | {"status": "done", "seconds": time.perf_counter() - t0} | worker
        summary, pred = _run_model(ds, spec, parts, claim, worker, record=not spec.restore)
        if spec.restore:
            _record_restored(study, spec.run, pred)
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


def analysis_runs(specs: list[CellSpec], preset: Preset, biomarkers: bool) -> list[CellSpec]:
    """The cells whose run directories the report's analyses read (the default variant, first
    seed: on the first new-drug split of the grid for attention and faithfulness, and with
    ``biomarkers`` on the cell-blind folds) that lack their checkpoint or test predictions, as
    ``restore`` units for :func:`run_cell`: a study resumed from its committed evidence alone
    has their records but not their runs."""
    blind = [s for s in FAITHFULNESS_SPLITS if s in preset.splits]
    wanted = set(blind[:1]) | ({"cell_blind"} if biomarkers else set())
    out = []
    for spec in specs:
        if spec.variant != DEFAULT_VARIANT or spec.seed != preset.seeds[0]:
            continue
        run_dir = Path(spec.study) / "runs" / spec.run
        complete = all((run_dir / f).is_file() for f in ("best.pt", "predictions_test.parquet"))
        if spec.split in wanted and not complete:
            out.append(replace(spec, restore=True))
    return out


def _record_restored(study: Path, run: str, pred: pd.DataFrame) -> None:
    """``restored/<run>.json``: the committed and the restored test RMSE of a run trained
    again for the analyses, so the report states how closely it reproduced."""
    committed = json.loads(cell_path(study, run).read_text())
    row = {
        "run": run,
        "committed_rmse": committed["rmse"],
        "restored_rmse": float(((pred.y_pred - pred.y_true) ** 2).mean() ** 0.5),
    }
    (study / RESTORED).mkdir(exist_ok=True)
    atomic_write_text(study / RESTORED / f"{run}.json", json.dumps(row) + "\n")


def _run_model(
    ds: FeaturizedDataset,
    spec: CellSpec,
    parts: tuple,
    claim: Claim,
    worker: dict,
    record: bool = True,
) -> tuple[dict, pd.DataFrame]:
    """Train one model cell and (``record``) write its compact record; returns the training
    summary and the test predictions. An external cell trains like a mixed-split run (its
    validation part is a random draw of pairs) on all of the dataset, and predicts the
    external screen's new drugs."""
    run_dir = Path(spec.study) / "runs" / spec.run
    preset, base = spec.preset, spec.base
    cfg = RunConfig(
        model=variant_config(spec.variant, base.model),
        train=replace(
            base.train,
            dataset=spec.dataset,
            split="mixed" if spec.split == EXTERNAL else spec.split,
            fold=spec.fold,
            seed=spec.seed,
            fold_seed=-1,  # seed s draws its folds with s (repeated k-fold CV)
            k=preset.k,
            epochs=preset.epochs,
            patience=preset.patience,
        ),
    ).validate()
    train, val, test, test_ds = parts
    estimator = NeuralEstimator(
        cfg,
        spec.variant,
        run_dir,
        resume=(run_dir / "last.pt").exists(),
        command=spec.command,
        run_info={"counts": {"test": len(test)}},
        on_epoch=lambda row: claim.heartbeat(),
    )
    pred = fit_predict(estimator, ds, train, val, test, test_ds=test_ds, run_dir=run_dir)
    summary = estimator.summary_
    if not record:
        return summary, pred
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
        outside_range=test.get("outside_range"),
        sample=spec.variant == DEFAULT_VARIANT,
        seed=spec.seed,
    )
    return summary, pred


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
    folds = study_folds(ds, preset, dataset_dir, folds_path)
    started = time.perf_counter()
    write_study_json(study, name, preset, preset_name, ds, dataset_dir, base)
    specs = study_cells(study, preset, dataset_dir, base, threads=executor.threads)
    for split, seed in {(s.split, s.seed) for s in specs if s.split != EXTERNAL}:
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
    restore = analysis_runs(specs, preset, _biomarker_inputs(ds) is not None)
    if restore:
        log(f"training {len(restore)} finished run(s) again for the attention/biomarker analyses")
        restored = executor.run(run_cell, restore, log)
        missing = [r["run"] for r in restored if r["status"] != "done"]
        if missing:
            raise StudyError(
                f"{len(missing)} run(s) for the analyses failed or are held by another worker: "
                f"{', '.join(missing[:5])}; run the same command again when they are done"
            )
    with collect_lock(study):
        collect(study, preset, ds, folds)
    log(f"study {name} finished in {time.perf_counter() - started:.0f} s")
    return study


class StudyError(RuntimeError):
    """A study whose cells did not all finish."""


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


def _run_baselines(
    ds: FeaturizedDataset, spec: CellSpec, parts: tuple, claim: Claim, worker: dict
) -> None:
    """Fit the preset's baselines on one fold (the same :func:`~drp.evaluation.scoring.fit_predict`
    path as the neural variants) and write their compact records."""
    train, val, test, test_ds = parts
    for name in spec.preset.baselines:
        run = run_name(name, spec.split, spec.fold, spec.seed)
        if is_finished(Path(spec.study), run):
            continue
        claim.heartbeat()
        t0 = time.perf_counter()
        pred = fit_predict(BASELINES[name](), ds, train, val, test, test_ds=test_ds)
        labels = {"variant": name, "split": spec.split, "fold": spec.fold, "seed": spec.seed}
        write_cell(
            Path(spec.study),
            run,
            labels | {"kind": "baseline"},
            pred,
            {"train_seconds": time.perf_counter() - t0} | worker,
            censored=test.get("censored"),
            outside_range=test.get("outside_range"),
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
    flags = [c for c in ("censored", "outside_range") if c in ds.pairs]
    consolidate(study, ds.pairs[["cell_id", "drug_id", *flags]] if flags else None)
    n_train, n_test = fold_sizes(preset, folds)
    groups = read_groups(study)
    present = set(results.variant)
    questions = [q for q in preset.declared() if q.attention in present and q.twin in present]
    answer_table(results, questions, n_train, n_test, preset.baselines, groups=groups).to_csv(
        study / "answers.csv", index=False
    )
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
    if folds.external is not None and not groups.empty:
        shift = folds.external.summary()
        offset_sensitivity(groups, questions, shift["offset"], shift["offset_median"]).to_csv(
            study / "offset_sensitivity.csv", index=False
        )
    _write_design(study, preset, n_train, n_test, folds)
    restored = sorted((study / RESTORED).glob("*.json"))
    if restored:
        rows = [json.loads(p.read_text()) for p in restored]
        pd.DataFrame(rows).to_csv(study / "restored_runs.csv", index=False)
    if DEFAULT_VARIANT in preset.variants and (study / "runs").is_dir():
        write_attention(study, preset, ds, folds)
        _biomarkers(study, preset, ds)


def _biomarker_inputs(ds: FeaturizedDataset) -> tuple[str, Path] | None:
    """The built-in release and processed directory biomarker recovery reads (None: the
    dataset is not a built-in GDSC one, or its processed tables are not on disk)."""
    from drp.core.paths import DATA_DIR
    from drp.data.gdsc import processed_dir

    built_in = ds.manifest.get("sources", {}).get("built_in")
    processed = processed_dir(DATA_DIR)
    return (built_in, processed) if built_in is not None and processed.is_dir() else None


def _biomarkers(study: Path, preset: Preset, ds: FeaturizedDataset) -> None:
    """Biomarker recovery of the default model on cell-blind test cells (first seed, every
    fold, full predictions from the run directories), for a built-in GDSC dataset whose
    processed mutation/CNV/expression tables are on disk; otherwise the committed files stay."""
    from drp.evaluation.biomarkers import write_biomarkers
    from drp.featurize.pipeline import gdsc_tables

    inputs = _biomarker_inputs(ds)
    paths = [
        study
        / "runs"
        / run_name(DEFAULT_VARIANT, "cell_blind", f, preset.seeds[0])
        / "predictions_test.parquet"
        for f in preset.folds
    ]
    if inputs is None or not all(p.is_file() for p in paths):
        return
    built_in, processed = inputs
    omics = gdsc_tables(processed, built_in, ["mutation", "cnv", "expression"]).omics
    write_biomarkers(study, pd.concat([pd.read_parquet(p) for p in paths]), omics, ds.tissues)


def _write_design(
    study: Path,
    preset: Preset,
    n_train: dict[str, int],
    n_test: dict[str, int],
    folds: StudyFolds | None = None,
) -> None:
    """design.json: the declared questions, margins and family, the fold sizes used and, with
    an external test, what it holds and the assay offset applied."""
    questions = preset.declared()
    m = sum(len(q.endpoints) for q in questions)
    payload = {
        "questions": [
            {
                "name": q.name,
                "attention": q.attention,
                "twin": q.twin,
                "primary_split": q.primary,
                "secondary_splits": list(q.secondary),
                "primary_metric": PRIMARY_METRIC,
                "endpoints": list(q.endpoints),
                "primary_seeds": q.repeats or len(preset.seeds),
            }
            for q in questions
        ],
        "margins": MARGINS,
        "expected_half_width": {EXTERNAL: DECLARED_EXTERNAL_HALF_WIDTH},
        "family": {
            "primary": f"the {m} primary endpoints (each question's primary split with its "
            "declared endpoints)",
            "adjustment": "Bonferroni intervals at level 1 - 0.05/m; Holm p-values",
            "secondary": "unadjusted 95% intervals",
        },
        "n_train": n_train,
        "n_test": n_test,
        "test": "Nadeau-Bengio corrected resampled t interval (n_train excludes validation pairs)",
    }
    if folds is not None and folds.external is not None:
        payload["external"] = folds.external.summary() | {
            "test": "seed-level paired differences on the one external set; interval mean ± "
            "t_{J-1} sqrt(s_seed^2/J + s_drug^2), s_drug from a bootstrap over drugs (2,000 "
            "draws); no fold-overlap correction (every seed trains on the same pairs)",
            "training": "all of the dataset's pairs but a fixed random 10% validation draw "
            "(seed 0), the same for every seed and variant; trained like a mixed-split run",
        }
    (study / "design.json").write_text(json.dumps(payload, indent=1) + "\n")


def fold_sizes(preset: Preset, folds: StudyFolds) -> tuple[dict[str, int], dict[str, int]]:
    """Per split: the pairs a model is fitted on (training part, validation excluded) and the
    test pairs of one fold (fold 0 of the first seed), for the variance correction."""
    n_train, n_test = {}, {}
    for split, fold, seed in preset.fold_keys():
        if split not in n_train:
            train, _, test, _ = folds.parts(split, seed, fold)
            n_train[split], n_test[split] = len(train), len(test)
    return n_train, n_test
