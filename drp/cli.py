"""The ``drp`` command: thin Typer wrappers around the library."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from drp import __version__
from drp.progress import console

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Drug-response prediction on GDSC with edge-aware graph attention.",
)

DATA_DIR = Path("data")


def _version(value: bool) -> None:
    if value:
        console.print(f"drp {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """drp: featurize, train, evaluate, study, report, predict."""


def fail(message: str) -> typer.Exit:
    """Print a clear error and return an Exit(1) to raise."""
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(1)


def _parse_omics_files(specs: list[str]) -> dict[str, Path]:
    out = {}
    for spec in specs:
        if "=" not in spec:
            raise fail(f"--omics-file expects NAME=PATH, got {spec!r}")
        name, path = spec.split("=", 1)
        out[name.strip()] = Path(path)
    return out


@app.command()
def featurize(
    dataset: Annotated[
        str,
        typer.Option(
            help="Built-in dataset: gdsc2, gdsc1, ccle; or "
            "'custom' with --responses/--omics-file/--drugs."
        ),
    ] = "gdsc2",
    omics: Annotated[
        list[str],
        typer.Option(help="Omics to use (repeatable): expression, mutation, cnv, pathway."),
    ] = ["expression"],  # noqa: B006
    out: Annotated[
        Path | None, typer.Option(help="Output directory (default data/featurized/<dataset>).")
    ] = None,
    data_dir: Annotated[Path, typer.Option(help="Where raw and processed data live.")] = DATA_DIR,
    responses: Annotated[Path | None, typer.Option(help="Custom response table.")] = None,
    omics_file: Annotated[
        list[str], typer.Option(help="Custom omics NAME=PATH (repeatable).")
    ] = [],  # noqa: B006
    drugs: Annotated[Path | None, typer.Option(help="Custom drug table (drug_id, smiles).")] = None,
    tissues: Annotated[
        Path | None, typer.Option(help="Custom tissue table (cell_id, tissue).")
    ] = None,
    cell_col: Annotated[
        str, typer.Option(help="Cell id column of the response table.")
    ] = "cell_id",
    drug_col: Annotated[
        str, typer.Option(help="Drug id column of the response table.")
    ] = "drug_id",
    response_col: Annotated[str, typer.Option(help="Response column.")] = "ln_ic50",
    unit: Annotated[
        str, typer.Option(help="Response unit: ln_ic50 (ln µM), ic50_um, ic50_nm, ic50_mm, ic50_m.")
    ] = "ln_ic50",
    name: Annotated[str, typer.Option(help="Name of a custom dataset.")] = "custom",
) -> None:
    """Fetch (built-in), validate and featurize drugs, cell lines and responses."""
    from drp.data.gdsc import ensure_gdsc
    from drp.data.sources import DataIntegrityError, SourceUnavailableError
    from drp.data.tables import TableError
    from drp.featurize.pipeline import OMICS_CHOICES, build_dataset, custom_tables, gdsc_tables
    from drp.featurize.report import write_featurization_report
    from drp.progress import track

    start = time.perf_counter()
    try:
        if dataset == "custom":
            if responses is None or drugs is None or not omics_file:
                raise fail(
                    "a custom dataset needs --responses, --drugs and at least one "
                    "--omics-file NAME=PATH"
                )
            raw = custom_tables(
                name,
                responses,
                _parse_omics_files(omics_file),
                drugs,
                cell_col=cell_col,
                drug_col=drug_col,
                response_col=response_col,
                unit=unit,
                tissues_path=tissues,
            )
            target = out or data_dir / "featurized" / name
        else:
            bad = [o for o in omics if o not in OMICS_CHOICES]
            if bad:
                raise fail(f"unknown omics {bad}; choose from {list(OMICS_CHOICES)}")
            processed = ensure_gdsc(data_dir, log=lambda m: console.print(f"[dim]{m}[/]"))
            raw = gdsc_tables(processed, dataset, list(omics))
            target = out or data_dir / "featurized" / dataset
        ds = build_dataset(raw, progress=track)
        ds.save(target)
        write_featurization_report(ds, target)
    except (TableError, DataIntegrityError, SourceUnavailableError, FileNotFoundError) as exc:
        raise fail(str(exc)) from None
    counts = ds.manifest["counts"]
    console.print(
        f"[green]featurized[/] {ds.name}: {counts['pairs']:,} pairs, {counts['cells']:,} cells, "
        f"{counts['drugs']:,} drugs, {counts['dropped']:,} items dropped "
        f"(see {target / 'featurization_report.md'}) in {time.perf_counter() - start:.1f} s"
    )


def dataset_path(dataset: str, data_dir: Path = DATA_DIR) -> Path:
    """A built-in name (gdsc2) means data/featurized/<name>; anything else is a path."""
    path = Path(dataset)
    if not path.exists() and "/" not in dataset:
        path = data_dir / "featurized" / dataset
    if not (path / "manifest.json").exists():
        raise fail(f"no featurized dataset at {path}: run `drp featurize --dataset {dataset}`")
    return path


def _write_table(frame, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        frame.to_parquet(out, index=False)
    else:
        frame.to_csv(out, index=False, sep="\t" if out.suffix == ".tsv" else ",")


@app.command()
def train(
    config: Annotated[
        Path | None, typer.Option(help="TOML config with [model] and [train].")
    ] = None,
    set_: Annotated[
        list[str], typer.Option("--set", help="Override, e.g. model.conv=gcn (repeatable).")
    ] = [],  # noqa: B006
    variant: Annotated[
        str | None,
        typer.Option(
            help="Named model variant (gat_edge, gat, gin, "
            "gcn, pool_mean, pool_max, cross_attention, "
            "fingerprint)."
        ),
    ] = None,
    dataset: Annotated[str | None, typer.Option(help="Featurized dataset name or path.")] = None,
    split: Annotated[
        str | None, typer.Option(help="mixed, cell_blind, drug_blind, tissue_blind.")
    ] = None,
    fold: Annotated[int | None, typer.Option(help="Test fold index.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for folds and training.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Maximum epochs.")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda.")] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Run directory (default runs/<variant>_<split>_f<fold>_s<seed>)."),
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run from last.pt.")] = False,
) -> None:
    """Train a model on one fold; writes a run directory with checkpoints and predictions."""
    import sys
    from dataclasses import replace

    from drp.config import load_config
    from drp.models.registry import variant_config
    from drp.progress import make_progress
    from drp.train import train_run

    try:
        cfg = load_config(config, set_)
        if variant:
            cfg = replace(cfg, model=variant_config(variant, cfg.model))
        updates = {
            k: v
            for k, v in {
                "split": split,
                "fold": fold,
                "seed": seed,
                "epochs": epochs,
                "device": device,
            }.items()
            if v is not None
        }
        if dataset:
            updates["dataset"] = str(dataset_path(dataset))
        cfg = replace(cfg, train=replace(cfg.train, **updates))
        dataset_path(cfg.train.dataset)
    except ValueError as exc:
        raise fail(str(exc)) from None
    tc = cfg.train
    name = variant or ("gat_edge" if cfg.model == variant_config("gat_edge") else "custom")
    run_dir = out or Path("runs") / f"{name}_{tc.split}_f{tc.fold}_s{tc.seed}"
    with make_progress() as progress:
        task = progress.add_task(
            f"training {name} ({tc.split}, fold {tc.fold})", total=tc.epochs, info=""
        )

        def on_epoch(row: dict) -> None:
            progress.update(
                task,
                completed=row["epoch"],
                info=f"loss {row['train_loss']:.3f}  val RMSE {row['val_rmse']:.3f}",
            )

        try:
            summary = train_run(
                cfg,
                run_dir,
                resume=resume,
                on_epoch=on_epoch,
                command=" ".join(sys.argv),
                name=name,
            )
        except (FileExistsError, ValueError, KeyError) as exc:
            raise fail(str(exc)) from None
    console.print(
        f"[green]done[/]: best val RMSE {summary['best_val_rmse']:.3f} at epoch "
        f"{summary['best_epoch']} ({summary['epochs_run']} epochs); run in {run_dir}"
    )


@app.command()
def predict(
    run_dir: Annotated[Path, typer.Argument(help="A run directory from `drp train`.")],
    pairs: Annotated[Path | None, typer.Option(help="Table with cell_id, drug_id.")] = None,
    matrix: Annotated[bool, typer.Option(help="Predict every cell x drug.")] = False,
    smiles: Annotated[list[str], typer.Option(help="New drug NAME=SMILES (repeatable).")] = [],  # noqa: B006
    smiles_file: Annotated[
        Path | None, typer.Option(help="Table of new drugs: drug_id, smiles.")
    ] = None,
    cells: Annotated[
        str | None, typer.Option(help="Comma-separated cell ids for --smiles (default: all).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Output .csv, .tsv or .parquet.")] = Path(
        "predictions.csv"
    ),
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    dataset: Annotated[
        Path | None,
        typer.Option(help="Featurized dataset, if it moved since training (default: the run's)."),
    ] = None,
) -> None:
    """Predict ln IC50 for pairs, the whole matrix, or new drugs given as SMILES."""
    from drp.data.tables import TableError, read_table
    from drp.predict import PredictionError, Predictor

    chosen = sum([pairs is not None, matrix, bool(smiles) or smiles_file is not None])
    if chosen != 1:
        raise fail("choose exactly one of --pairs, --matrix, --smiles/--smiles-file")
    try:
        predictor = Predictor.from_run(run_dir, device, dataset)
        if pairs is not None:
            result = predictor.predict_pairs(read_table(pairs))
        elif matrix:
            result = predictor.predict_matrix()
        else:
            new = dict(s.split("=", 1) for s in smiles if "=" in s)
            if len(new) != len(smiles):
                raise PredictionError("--smiles expects NAME=SMILES")
            if smiles_file is not None:
                table = read_table(smiles_file)
                if not {"drug_id", "smiles"} <= set(table.columns):
                    raise PredictionError(f"{smiles_file} needs columns drug_id, smiles")
                new.update(zip(table.drug_id.astype(str), table.smiles.astype(str), strict=True))
            cell_list = [c.strip() for c in cells.split(",")] if cells else None
            result = predictor.predict_smiles(new, cell_list)
    except (PredictionError, TableError, FileNotFoundError) as exc:
        raise fail(str(exc)) from None
    _write_table(result, out)
    console.print(f"[green]wrote[/] {len(result):,} predictions to {out}")


@app.command()
def study(
    preset: Annotated[
        str,
        typer.Option(
            help="smoke (minutes), quick (<= 30 min on 2 CPU cores) or full (GPU / long run)."
        ),
    ] = "quick",
    dataset: Annotated[str, typer.Option(help="Featurized dataset name or path.")] = "gdsc2",
    name: Annotated[
        str | None, typer.Option(help="Study name (default <dataset>_<preset>).")
    ] = None,
    out_root: Annotated[Path, typer.Option(help="Where studies are written.")] = Path("studies"),
    config: Annotated[Path | None, typer.Option(help="Base TOML config for every variant.")] = None,
    set_: Annotated[
        list[str], typer.Option("--set", help="Override, e.g. train.device=cuda.")
    ] = [],  # noqa: B006
) -> None:
    """Run (or resume) the attention study grid; then `drp report` writes the report."""
    from drp.config import load_config
    from drp.study import preset_by_name, run_study

    try:
        chosen = preset_by_name(preset)
        base = load_config(config, set_)
    except ValueError as exc:
        raise fail(str(exc)) from None
    path = dataset_path(dataset)
    study_name = name or f"{Path(dataset).name}_{preset}"
    console.print(f"study [bold]{study_name}[/]: {chosen.description}")
    result = run_study(
        study_name, chosen, path, out_root, base, preset, log=lambda m: console.print(m)
    )
    console.print(f"[green]study written to[/] {result}; now run `drp report {result}`")


@app.command()
def report(
    study_dir: Annotated[Path, typer.Argument(help="A study directory from `drp study`.")],
    out: Annotated[
        Path | None, typer.Option(help="Output directory (default reports/<study name>).")
    ] = None,
) -> None:
    """Write report.md and a self-contained report.html (plus one PNG per figure)."""
    from drp.report.render import render_report

    if not (study_dir / "study.json").exists():
        raise fail(f"{study_dir} is not a study directory (no study.json)")
    target = out or Path("reports") / study_dir.name
    md, html = render_report(study_dir, target)
    console.print(f"[green]report[/]: {md} and {html}")


@app.command()
def evaluate(
    run_dirs: Annotated[
        list[Path] | None,
        typer.Argument(help="Training run directories (config.json + predictions_test.parquet)."),
    ] = None,
    baselines: Annotated[
        bool, typer.Option("--baselines", help="Also fit and score baselines on the same folds.")
    ] = False,
    names: Annotated[
        list[str] | None,
        typer.Option("--baseline", help="Baseline to run (repeatable; default all but hist_gbm)."),
    ] = None,
    split: Annotated[
        str,
        typer.Option(
            help="mixed, cell_blind, drug_blind, tissue_blind, or cross_dataset (with --target)."
        ),
    ] = "cell_blind",
    target: Annotated[
        str | None, typer.Option(help="Test dataset of a cross_dataset split (gdsc1, ccle, path).")
    ] = None,
    dataset: Annotated[
        str,
        typer.Option(help="Featurized dataset: built-in name (data/featurized/<name>) or path."),
    ] = "gdsc2",
    include_seen_pairs: Annotated[
        bool,
        typer.Option(
            "--include-seen-pairs",
            help="cross_dataset: keep target pairs also measured in the training dataset.",
        ),
    ] = False,
    data_dir: Annotated[Path, typer.Option(help="Where raw and processed data live.")] = DATA_DIR,
    k: Annotated[int, typer.Option(help="Number of outer folds.")] = 5,
    seed: Annotated[int, typer.Option(help="Fold seed.")] = 0,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Fold cache (default <dataset>/folds).")
    ] = None,
    n_boot: Annotated[
        int, typer.Option(help="Bootstrap resamples for 95% CIs of rmse and pearson (0: none).")
    ] = 0,
    out: Annotated[
        Path | None,
        typer.Option(help="Output directory (default reports/evaluate/<dataset>_<split>)."),
    ] = None,
) -> None:
    """Score run directories and baselines on identical folds; write metrics.csv/json."""
    import pandas as pd

    from drp.data.splits import SPLITS, FoldCacheError
    from drp.evaluate import (
        evaluate_runs,
        evaluate_runs_cross,
        print_metrics_table,
        run_baselines,
        run_baselines_cross,
        write_metrics,
    )
    from drp.featurize.store import FeaturizedDataset
    from drp.metrics import noise_ceiling
    from drp.models.baselines import BASELINES

    if not run_dirs and not baselines:
        raise fail("nothing to evaluate: give RUN_DIRS and/or --baselines")
    if split not in (*SPLITS, "cross_dataset"):
        raise fail(f"unknown split {split!r}; choose from {[*SPLITS, 'cross_dataset']}")
    if split == "cross_dataset" and target is None:
        raise fail("--split cross_dataset needs --target (e.g. gdsc1 or ccle)")
    bad = [n for n in names or [] if n not in BASELINES]
    if bad:
        raise fail(f"unknown baseline(s) {bad}; choose from {list(BASELINES)}")
    start = time.perf_counter()
    tables, ceiling = [], None
    try:
        path = dataset_path(dataset, data_dir)
        ds = FeaturizedDataset.load(path)
        ceiling = noise_ceiling(ds.replicates)
        log = lambda m: console.print(f"[dim]{m}[/]")  # noqa: E731
        if baselines and split == "cross_dataset":
            other = FeaturizedDataset.load(dataset_path(target, data_dir))
            cross = run_baselines_cross(
                ds, other, seed, names, n_boot=n_boot, log=log, exclude_seen=not include_seen_pairs
            )
            tables.append(cross)
        elif baselines:
            folds_dir = cache_dir or path / "folds"
            # beside trained runs, score baselines on exactly the runs' folds
            only = None
            if run_dirs:
                only = {
                    json.loads((Path(r) / "config.json").read_text()).get("fold") for r in run_dirs
                }
            tables.append(
                run_baselines(
                    ds,
                    split,
                    k,
                    seed,
                    folds_dir,
                    names,
                    n_boot=n_boot,
                    log=log,
                    dataset_path=path,
                    only_folds=only,
                )
            )
        if run_dirs and split == "cross_dataset":
            other = FeaturizedDataset.load(dataset_path(target, data_dir))
            tables.append(
                evaluate_runs_cross(
                    run_dirs, ds, other, n_boot=n_boot, exclude_seen=not include_seen_pairs
                )
            )
        elif run_dirs:
            tables.append(evaluate_runs(run_dirs, n_boot=n_boot))
    except (ValueError, FileNotFoundError, KeyError, FoldCacheError) as exc:
        raise fail(str(exc)) from None
    table = pd.concat(tables, ignore_index=True)
    split_name = split
    if split == "cross_dataset":
        split_name = f"cross_dataset_{Path(target).name}" + ("_seen" if include_seen_pairs else "")
    out = out or Path("reports") / "evaluate" / f"{Path(dataset).name}_{split_name}"
    summary = write_metrics(table, out, extra={"noise_ceiling": ceiling, "dataset": str(path)})
    print_metrics_table(summary, console, ceiling=ceiling)
    console.print(
        f"[green]evaluated[/] {table['model'].nunique()} models -> {out / 'metrics.csv'} "
        f"in {time.perf_counter() - start:.1f} s"
    )
