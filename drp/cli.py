"""The ``drp`` command: each command parses its options, calls one :mod:`drp.api` function and
prints what it did. Choices in help texts come from the registries the API re-exports; every
configuration or input error becomes one ``error: ...`` line and exit status 1."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from drp import __version__, api

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Drug-response prediction on GDSC with edge-aware graph attention.")
say = api.console.print
COMMAND = " ".join(["drp", *sys.argv[1:]])  # what provenance records


def opt(help_: str, *names: str) -> Any:
    """A keyword option with its help text (``names``: explicit flags, e.g. ``--set``)."""
    return typer.Option(*names, help=help_)


def _version(value: bool) -> None:
    if value:
        say(f"drp {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")] = False) -> None:
    """drp: featurize, train, evaluate, study, report, predict, screen."""


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on one line (markup shown as typed); return Exit(1) to raise."""
    say(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    return typer.Exit(1)


@contextmanager
def user_errors() -> Iterator[None]:
    """Input errors (ValueError, OSError, RuntimeError, KeyError) become :func:`fail`."""
    try:
        yield
    except typer.Exit:
        raise
    except KeyError as exc:
        raise fail(str(exc.args[0]) if exc.args else repr(exc)) from None
    except (ValueError, OSError, RuntimeError) as exc:
        raise fail(str(exc)) from None


def _check_choice(option: str, values: list[str] | str | None, allowed) -> None:
    values = [values] if isinstance(values, str) else list(values or [])
    if bad := [v for v in values if v not in allowed]:
        raise fail(f"{option}: unknown {bad}; choose from {list(allowed)}")


def _ids(text: str | None) -> list[str] | None:  # "A549, MCF7" -> ["A549", "MCF7"]
    return [c.strip() for c in text.split(",")] if text else None


def _log(message: str) -> None:
    say(f"[dim]{escape(message)}[/]")


DataDir = Annotated[Path, opt("Where raw and processed data live.")]
Device = Annotated[str, opt(f"Device: {', '.join(api.DEVICES)}.")]
Sets = Annotated[list[str], opt("Override SECTION.KEY=VALUE, e.g. model.conv=gcn (repeatable).", "--set")]


@app.command()
def featurize(
    dataset: Annotated[str, opt("Built-in dataset: gdsc2, gdsc1, ccle; or 'custom' with --responses/--omics-file/--drugs.")] = "gdsc2",
    omics: Annotated[list[str], opt("Omics blocks of a built-in dataset (repeatable; an unknown name lists them).")] = ["expression"],  # noqa: B006
    out: Annotated[Path | None, opt("Output directory (default data/featurized/<dataset>).")] = None,
    data_dir: DataDir = api.DATA_DIR,
    responses: Annotated[Path | None, opt("Custom response table.")] = None,
    omics_file: Annotated[list[str], opt("Custom omics NAME=PATH (repeatable).")] = [],  # noqa: B006
    drugs: Annotated[Path | None, opt("Custom drug table (drug_id, smiles).")] = None,
    tissues: Annotated[Path | None, opt("Custom tissue table (cell_id, tissue).")] = None,
    cell_col: Annotated[str, opt("Cell id column of the response table.")] = "cell_id",
    drug_col: Annotated[str, opt("Drug id column of the response table.")] = "drug_id",
    response_col: Annotated[str, opt("Response column.")] = "ln_ic50",
    unit: Annotated[str, opt("Response unit: ln_ic50 (ln µM), ic50_um, ic50_nm, ic50_mm, ic50_m.")] = "ln_ic50",
    name: Annotated[str, opt("Name of a custom dataset.")] = "custom",
    gdsc_release: Annotated[Path | None, opt("GDSC release files (GDSC1/2_fitted_dose_response, screened_compounds, Cell_Lines_Details; CSV or XLSX): responses keyed by Sanger model and DRUG_ID.")] = None,
    depmap: Annotated[Path | None, opt("DepMap release folder (Model.csv, expression, mutations, copy number): omics keyed through Model.csv.")] = None,
    prism: Annotated[Path | None, opt("PRISM Repurposing secondary folder (dose-response curve parameters, treatment info).")] = None,
    ctrp: Annotated[Path | None, opt("CTRPv2 folder (v20.data.curves_post_qc.txt and the v20.meta files): ln EC50 responses.")] = None,
    drug_structures: Annotated[Path | None, opt("Table of drug_id and/or drug_name with smiles, for drugs the sources give no structure.")] = None,
    outside_range: Annotated[str, opt("IC50s outside the screened range: keep (as measured), clip (to the bound) or drop.")] = "keep",
    auxiliary: Annotated[bool, opt("With a built-in dataset, also featurize GDSC1 beside it: the auxiliary screen of the default new-drug prior (train.prior_auxiliary), from the same verified archive.")] = True,
) -> None:
    """Fetch (built-in) or read (custom, official release files), validate and featurize drugs,
    cell lines and responses."""
    start = time.perf_counter()
    with user_errors():
        written = api.featurize(
            dataset, omics=omics, out=out, data_dir=data_dir, responses=responses,
            omics_files=omics_file, drugs=drugs, tissues=tissues, cell_col=cell_col,
            drug_col=drug_col, response_col=response_col, unit=unit, name=name,
            auxiliary=auxiliary, gdsc_release=gdsc_release, depmap=depmap, prism=prism, ctrp=ctrp,
            drug_structures=drug_structures, outside_range=outside_range, log=_log, progress=api.track,
        )
    for item in written:
        say(f"[green]featurized[/] {escape(item.describe())}")
    say(f"[green]done[/] in {time.perf_counter() - start:.1f} s")


@app.command()
def train(
    config: Annotated[Path | None, opt("TOML config with the sections model and train (see drp/core/config.py).")] = None,
    set_: Sets = [],  # noqa: B006
    variant: Annotated[str | None, opt(f"Named model variant: {', '.join(api.VARIANTS)}.")] = None,
    dataset: Annotated[str | None, opt("Featurized dataset name or path.")] = None,
    split: Annotated[str | None, opt(f"Split: {', '.join(api.SPLITS)} (default mixed).")] = None,
    fold: Annotated[int | None, opt("Test fold index.")] = None,
    seed: Annotated[int | None, opt("Seed for folds and training.")] = None,
    fold_seed: Annotated[int | None, opt("Draw the folds with this seed instead of --seed: runs with different --seed and one --fold-seed share their folds (a seed ensemble).")] = None,
    epochs: Annotated[int | None, opt("Maximum epochs.")] = None,
    device: Annotated[str | None, opt(f"Device: {', '.join(api.DEVICES)}.")] = None,
    out: Annotated[Path | None, opt("Run directory (default runs/<variant>_<split>_f<fold>_s<seed>[_fs<fold seed>]).")] = None,
    resume: Annotated[bool, opt("Continue an interrupted run from last.pt.")] = False,
) -> None:
    """Train a model on one fold; writes a run directory with checkpoints and predictions."""
    _check_choice("--variant", variant, api.VARIANTS)
    with user_errors():
        cfg, name = api.training_config(
            api.load_config(config, set_), variant=variant, dataset=dataset, split=split,
            fold=fold, seed=seed, epochs=epochs, device=device, fold_seed=fold_seed,
        )
    run_dir, tc = out or api.default_run_dir(cfg, name), cfg.train
    with api.make_progress() as progress, user_errors():
        on_epoch = api.on_epochs(progress, f"training {name} ({tc.split}, fold {tc.fold})", tc.epochs)
        run = api.train(cfg, run_dir, resume=resume, on_epoch=on_epoch, command=COMMAND, name=name)
    say(f"[green]done[/]: {escape(run.describe())}")


@app.command()
def predict(
    run_dirs: Annotated[list[Path], typer.Argument(help="A run directory from `drp train`; several runs (or a folder of runs) predict as an ensemble: their mean, with ensemble_sd beside it. An ensemble's runs must share variant, split, dataset and drug prior, e.g. the seeds of one fold (`drp train --seed N --fold-seed 0`); a study's runs/ (every variant and split) is refused."),],
    pairs: Annotated[Path | None, opt("Table with cell_id, drug_id.")] = None,
    matrix: Annotated[bool, opt("Predict every cell x drug.")] = False,
    smiles: Annotated[list[str], opt("New drug NAME=SMILES (repeatable).")] = [],  # noqa: B006
    smiles_file: Annotated[Path | None, opt("Table of new drugs: drug_id, smiles.")] = None,
    cells: Annotated[str | None, opt("Comma-separated cell ids for --smiles (default: all).")] = None,
    out: Annotated[Path, opt("Output .csv, .tsv or .parquet.")] = Path("predictions.csv"),
    device: Device = "cpu",
    dataset: Annotated[Path | None, opt("Featurized dataset whose cells and drugs to predict (default: the run's; another dataset's features are looked up by id).")] = None,
    interval: Annotated[float | None, opt("Add lo/hi: a split-conformal interval at this coverage (0.50-0.99), calibrated on the run's validation pairs.")] = None,
) -> None:
    """Predict ln IC50 for pairs, the whole matrix, or new drugs given as SMILES."""
    _check_choice("--device", device, api.DEVICES)
    with user_errors():
        result = api.predict(
            run_dirs, pairs=pairs, matrix=matrix, smiles=smiles, smiles_file=smiles_file,
            cells=_ids(cells), device=device, dataset=dataset, interval=interval,
        )
        api.write_table(result, out)
    ensemble = f" (mean of {result['n_models'].iloc[0]} runs, sd in ensemble_sd)" if "n_models" in result else ""
    say(f"[green]wrote[/] {len(result):,} predictions{ensemble} to {out}")


@app.command()
def screen(
    run_dir: Annotated[Path, typer.Argument(help="A run directory from `drp train`.")],
    library: Annotated[Path, opt("Compound library: .csv/.tsv/.parquet (drug_id, smiles), .smi (SMILES name per line) or .sdf."),],
    cells: Annotated[str | None, opt("Comma-separated cell ids (default: all cells).")] = None,
    tissue: Annotated[str | None, opt("Screen the cells of one tissue.")] = None,
    top: Annotated[int, opt("Compounds kept per cell and per tissue.")] = 10,
    out: Annotated[Path | None, opt("Output directory (default screens/<run>_<library>).")] = None,
    ad_threshold: Annotated[float | None, opt("Out of domain below this max Tanimoto to a training drug (default drp.prediction.domain.AD_THRESHOLD, measured on drug-blind folds).")] = None,
    chunk_size: Annotated[int | None, opt("Compounds scored together.")] = None,
    device: Device = "cpu",
    interval: Annotated[float | None, opt("Add lo/hi to every pair: a conformal interval at this coverage (0.50-0.99), calibrated on new drugs (needs a drug- or cluster-blind run).")] = None,
) -> None:
    """Rank a compound library against cell lines: predictions, top-K tables, applicability
    domain, and a screen.md/screen.html summary."""
    _check_choice("--device", device, api.DEVICES)
    with user_errors(), api.make_progress() as progress:
        on_chunk = api.on_steps(progress, f"screening {library.name}")
        r = api.screen(
            run_dir, library, out=out, cells=_ids(cells), tissue=tissue, top=top,
            ad_threshold=ad_threshold, chunk_size=chunk_size, device=device, interval=interval,
            on_chunk=on_chunk, command=COMMAND,
        )
    say(f"[green]screened[/] {escape(r.describe())}")


@app.command()
def study(
    preset: Annotated[str, opt("Preset: " + "; ".join(f"{n}: {p.description.split(':')[0]}" for n, p in api.PRESETS.items()) + ".")] = "quick",
    dataset: Annotated[str, opt("Featurized dataset name or path.")] = "gdsc2",
    name: Annotated[str | None, opt("Study name (default <dataset>_<preset>).")] = None,
    out_root: Annotated[Path, opt("Where studies are written.")] = Path("studies"),
    config: Annotated[Path | None, opt("Base TOML config for every variant.")] = None,
    set_: Annotated[list[str], opt("Override, e.g. train.device=cuda (repeatable).", "--set")] = [],  # noqa: B006 # fmt: skip
    executor: Annotated[str, opt("Where cells run: local (one after another here) or ray (one Ray task per cell; pip install -e '.[ray]').")] = "local",
    address: Annotated[str | None, opt("Ray cluster: auto (the running one) or ray://host:port; default: start a local Ray instance and stop it afterwards.")] = None,
    cpus_per_run: Annotated[float | None, opt("CPUs each Ray task declares and torch threads per run (default: this process's torch threads, as --executor local uses, so both give the same metrics; at most a node's CPUs).")] = None,
    gpus_per_run: Annotated[float, opt("GPUs each Ray task declares; a fraction packs runs on one card.")] = 0.0,
    max_retries: Annotated[int, opt("Retries of a Ray task whose worker died (it resumes last.pt).")] = 3,
) -> None:
    """Run (or resume) the attention study grid; then `drp report` writes the report.

    Several `drp study` processes, local or Ray, may share one study directory: each cell is
    claimed before it runs, so none runs twice."""
    _check_choice("--executor", executor, api.EXECUTORS)
    with user_errors():
        result = api.study(
            preset, dataset, name=name, out_root=out_root, config=config, overrides=set_,
            executor=executor, address=address, cpus_per_run=cpus_per_run,
            gpus_per_run=gpus_per_run, max_retries=max_retries, log=_log,
        )
    say(f"[green]study written to[/] {result}; now run `drp report {result}`")


@app.command()
def tune(
    variant: Annotated[str | None, opt(f"Model variant to tune: {', '.join(api.VARIANTS)}.")] = None,
    split: Annotated[str | None, opt(f"Split kind to tune for: {', '.join(api.SPLITS)} (default mixed).")] = None,
    fold: Annotated[int | None, opt("Fold whose training part is searched (default 0).")] = None,
    space: Annotated[Path | None, opt("Search-space TOML (default drp/configs/tune_space.toml).")] = None,
    samples: Annotated[int | None, opt("Trials (default the space file's num_samples).")] = None,
    dataset: Annotated[str | None, opt("Featurized dataset name or path (default gdsc2).")] = None,
    config: Annotated[Path | None, opt("Base TOML config of every trial.")] = None,
    set_: Annotated[list[str], opt("Override SECTION.KEY=VALUE (repeatable).", "--set")] = [],  # noqa: B006 # fmt: skip
    address: Annotated[str | None, opt("Ray cluster (auto or ray://host:port); default a local instance.")] = None,
    cpus_per_trial: Annotated[float, opt("CPUs each trial declares.")] = 1.0,
    gpus_per_trial: Annotated[float, opt("GPUs each trial declares.")] = 0.0,
    out: Annotated[Path | None, opt("Output directory (default tune/<variant>_<split>).")] = None,
) -> None:
    """Search hyper-parameters with Ray Tune + ASHA on validation pairs only; writes best.toml
    (for `drp train --config` and `drp study --config`) and trials.csv."""
    _check_choice("--split", split, api.SPLITS)
    _check_choice("--variant", variant, api.VARIANTS)
    with user_errors():
        r = api.tune(
            variant, split=split, fold=fold, space=space, samples=samples, dataset=dataset,
            config=config, overrides=set_, address=address, cpus_per_trial=cpus_per_trial,
            gpus_per_trial=gpus_per_trial, out=out, log=say, command=COMMAND,
        )
    best = f"validation RMSE {r['best_val_rmse']:.4f} of {r['trials']} trials ({r['trials_stopped_early']} stopped early by ASHA)"
    say(f"[green]best[/] {best}: {escape(str(r['best_params']))} -> {r['out'] / 'best.toml'}")


@app.command()
def report(
    study_dir: Annotated[Path, typer.Argument(help="A study directory from `drp study`.")],
    out: Annotated[Path | None, opt("Output directory (default reports/<study name>).")] = None,
) -> None:
    """Write report.md and a self-contained report.html (plus one PNG per figure), and copy the
    study's compact evidence to <out>/study, from which the same command regenerates it."""
    with user_errors():
        md, html, evidence = api.report(study_dir, out)
    say(f"[green]report[/]: {md} and {html}; evidence in {evidence}")


@app.command()
def evaluate(
    run_dirs: Annotated[list[Path] | None, typer.Argument(help="Training run directories (config.json + predictions_test.parquet).")] = None,
    baselines: Annotated[bool, opt("Also fit and score baselines on the same folds as the runs.", "--baselines")] = False,
    names: Annotated[list[str] | None, opt(f"Baseline to run (repeatable): {', '.join(api.BASELINES)}; default {', '.join(api.DEFAULT_BASELINES)}.", "--baseline")] = None,
    split: Annotated[str | None, opt(f"Split: {', '.join(api.SPLITS)}, or {api.CROSS} (with --target). With runs, taken from them (a different value is an error); without runs, required.")] = None,
    target: Annotated[str | None, opt(f"Test dataset of a {api.CROSS} split (gdsc1, ccle, a path).")] = None,
    dataset: Annotated[str | None, opt("Training dataset (built-in name or path); with runs, taken from them (default gdsc2 without runs).")] = None,
    data_dir: DataDir = api.DATA_DIR,
    k: Annotated[int | None, opt("Number of outer folds (with runs: theirs; else 5).")] = None,
    fold_seed: Annotated[int | None, opt("Seed of the fold draw (with runs: theirs; else 0).", "--fold-seed", "--seed")] = None,
    cache_dir: Annotated[Path | None, opt("Fold cache without runs (default <dataset>/folds).")] = None,
    n_boot: Annotated[int, opt("Bootstrap resamples for 95% CIs of rmse and pearson (0: none); blind splits resample their held-out unit (cell, drug structure, drug cluster, tissue).")] = 0,
    ensemble: Annotated[bool, opt("Also score, per fold, the mean prediction of the runs that share model and fold: a seed ensemble (`drp train --seed N --fold-seed 0`) is a model like any other.", "--ensemble")] = False,
    out: Annotated[Path | None, opt("Output directory (default reports/evaluate/<dataset>_<split>).")] = None,
) -> None:
    """Score run directories and baselines on identical folds; always writes metrics.csv (per
    fold), metrics_summary.csv (the printed table) and metrics.json, and says where."""
    _check_choice("--split", split, (*api.SPLITS, api.CROSS))
    start = time.perf_counter()
    with user_errors():
        result = api.evaluation(
            list(run_dirs or []), (names or api.DEFAULT_BASELINES) if baselines else (),
            split=split, target=target, dataset=dataset, data_dir=data_dir, k=k, fold_seed=fold_seed,
            cache_dir=cache_dir, n_boot=n_boot, ensemble=ensemble, log=_log, command=COMMAND,
        )
        out = result.write(out)
    api.print_metrics(result)
    say(f"[green]evaluated[/] in {time.perf_counter() - start:.1f} s {escape(result.describe(out))}")
