"""The ``drp`` command: thin Typer wrappers around the library.

Choices shown in help texts and checked on input come from the registries (``VARIANTS``,
``SPLITS``, ``DEVICES``, ``BASELINES``, ``PRESETS``, ``OMICS_CHOICES``). Every command turns a
configuration or input error into one ``error: ...`` line and exit status 1 (:func:`user_errors`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from drp import __version__
from drp.api import DATA_DIR, dataset_path
from drp.core.config import DEVICES
from drp.core.progress import console, results_console
from drp.models.baselines import BASELINES, DEFAULT_BASELINES
from drp.models.registry import VARIANTS
from drp.splits.folds import CROSS, SPLITS
from drp.study.presets import PRESETS

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Drug-response prediction on GDSC with edge-aware graph attention.",
)


def _listing(names) -> str:
    return ", ".join(names)


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
    """drp: featurize, train, evaluate, study, report, predict, screen."""


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on one line (markup in the message is shown as typed) and
    return an Exit(1) to raise."""
    console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    return typer.Exit(1)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn configuration, validation and input errors into :func:`fail`: never a traceback.

    ValueError covers ``TableError``, ``FoldCacheError``, ``PredictionError`` and config
    validation; OSError covers missing or existing files; RuntimeError the data sources'
    integrity errors. A KeyError's message is its argument (unknown ids).
    """
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
    bad = [v for v in values if v not in allowed]
    if bad:
        raise fail(f"{option}: unknown {bad}; choose from {list(allowed)}")


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
        typer.Option(
            help="Omics blocks of a built-in dataset (repeatable; an unknown name lists them)."
        ),
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
    auxiliary: Annotated[
        bool,
        typer.Option(
            help="With a built-in dataset, also featurize GDSC1 beside it: the auxiliary screen "
            "of the default new-drug prior (train.prior_auxiliary), from the same verified archive."
        ),
    ] = True,
) -> None:
    """Fetch (built-in), validate and featurize drugs, cell lines and responses."""
    from drp.core.config import TrainConfig
    from drp.core.progress import track
    from drp.data.gdsc import ensure_gdsc
    from drp.featurize.pipeline import OMICS_CHOICES, build_dataset, custom_tables, gdsc_tables
    from drp.featurize.report import write_featurization_report

    start = time.perf_counter()
    with user_errors():
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
            _check_choice("--omics", omics, OMICS_CHOICES)
            processed = ensure_gdsc(data_dir, log=lambda m: console.print(f"[dim]{escape(m)}[/]"))
            raw = gdsc_tables(processed, dataset, list(omics))
            target = out or data_dir / "featurized" / dataset
            screen = TrainConfig().prior_auxiliary
            if auxiliary and screen and screen != dataset:
                # the default prior reads it beside the dataset: featurized here, a new-drug
                # run trained after this command uses the same data as the README's figures
                aux = build_dataset(gdsc_tables(processed, screen, list(omics)), progress=track)
                aux.save(target.parent / screen)
                write_featurization_report(aux, target.parent / screen)
                console.print(
                    f"[green]featurized[/] {screen} beside it ({aux.manifest['counts']['drugs']} "
                    "drugs): the new-drug prior's auxiliary screen"
                )
        ds = build_dataset(raw, progress=track)
        ds.save(target)
        write_featurization_report(ds, target)
    counts = ds.manifest["counts"]
    console.print(
        f"[green]featurized[/] {ds.name}: {counts['pairs']:,} pairs, {counts['cells']:,} cells, "
        f"{counts['drugs']:,} drugs, {counts['dropped']:,} items dropped "
        f"(see {target / 'featurization_report.md'}) in {time.perf_counter() - start:.1f} s"
    )


def _write_table(frame, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        frame.to_parquet(out, index=False)
    else:
        frame.to_csv(out, index=False, sep="\t" if out.suffix == ".tsv" else ",")


@app.command()
def train(
    config: Annotated[
        Path | None,
        typer.Option(
            help="TOML config with the sections model and train (see drp/core/config.py)."
        ),
    ] = None,
    set_: Annotated[
        list[str],
        typer.Option("--set", help="Override SECTION.KEY=VALUE, e.g. model.conv=gcn (repeatable)."),
    ] = [],  # noqa: B006
    variant: Annotated[
        str | None, typer.Option(help=f"Named model variant: {_listing(VARIANTS)}.")
    ] = None,
    dataset: Annotated[str | None, typer.Option(help="Featurized dataset name or path.")] = None,
    split: Annotated[
        str | None, typer.Option(help=f"Split: {_listing(SPLITS)} (default mixed).")
    ] = None,
    fold: Annotated[int | None, typer.Option(help="Test fold index.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for folds and training.")] = None,
    fold_seed: Annotated[
        int | None,
        typer.Option(
            help="Draw the folds with this seed instead of --seed: runs with different --seed "
            "and one --fold-seed share their folds (a seed ensemble)."
        ),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Maximum epochs.")] = None,
    device: Annotated[str | None, typer.Option(help=f"Device: {_listing(DEVICES)}.")] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Run directory (default runs/<variant>_<split>_f<fold>_s<seed>[_fs<fold seed>])."
        ),
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run from last.pt.")] = False,
) -> None:
    """Train a model on one fold; writes a run directory with checkpoints and predictions."""
    from drp.api import default_run_dir, training_config
    from drp.api import train as train_api
    from drp.core.config import load_config
    from drp.core.progress import make_progress

    with user_errors():
        cfg = load_config(config, set_)
        if variant:
            _check_choice("--variant", variant, VARIANTS)
        cfg, name = training_config(
            cfg,
            variant=variant,
            dataset=dataset,
            split=split,
            fold=fold,
            seed=seed,
            epochs=epochs,
            device=device,
            fold_seed=fold_seed,
        )
    tc = cfg.train
    run_dir = out or default_run_dir(cfg, name)
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

        with user_errors():
            summary = train_api(
                cfg,
                run_dir,
                resume=resume,
                on_epoch=on_epoch,
                command=" ".join(sys.argv),
                name=name,
            ).summary
    console.print(
        f"[green]done[/]: best val RMSE {summary['best_val_rmse']:.3f} at epoch "
        f"{summary['best_epoch']} ({summary['epochs_run']} epochs); run in {escape(str(run_dir))}"
    )
    if prior := summary.get("drug_prior"):
        console.print(
            f"new drugs: main effect from the similarity prior ({prior['training_drugs']} "
            f"training + {prior['auxiliary_drugs']} auxiliary drugs, alpha {prior['alpha']}; "
            f"auxiliary: {prior['auxiliary']})"
        )


@app.command()
def predict(
    run_dirs: Annotated[
        list[Path],
        typer.Argument(
            help="A run directory from `drp train`; several runs (or a folder of runs) predict "
            "as an ensemble: their mean, with ensemble_sd beside it. An ensemble's runs must share "
            "variant, split, dataset and drug prior, e.g. the seeds of one fold (`drp train --seed "
            "N --fold-seed 0`); a study's runs/ (every variant and split) is refused."
        ),
    ],
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
    device: Annotated[str, typer.Option(help=f"Device: {_listing(DEVICES)}.")] = "cpu",
    dataset: Annotated[
        Path | None,
        typer.Option(
            help="Featurized dataset whose cells and drugs to predict (default: the run's; "
            "another dataset's features are looked up by id)."
        ),
    ] = None,
    interval: Annotated[
        float | None,
        typer.Option(
            help="Add lo/hi: a split-conformal interval at this coverage (0.50-0.99), "
            "calibrated on the run's validation pairs."
        ),
    ] = None,
) -> None:
    """Predict ln IC50 for pairs, the whole matrix, or new drugs given as SMILES."""
    from drp.api import combine_members, load_ensemble
    from drp.data.tables import read_table
    from drp.prediction.predictor import PredictionError
    from drp.training.intervals import add_interval

    chosen_smiles = bool(smiles) or smiles_file is not None
    chosen = sum([pairs is not None, matrix, chosen_smiles])
    if chosen != 1:
        raise fail("choose exactly one of --pairs, --matrix, --smiles/--smiles-file")
    _check_choice("--device", device, DEVICES)
    with user_errors():
        runs = load_ensemble(run_dirs, device, dataset).runs
        new: dict[str, str] = {}
        if chosen_smiles:
            new = dict(s.split("=", 1) for s in smiles if "=" in s)
            if len(new) != len(smiles):
                raise PredictionError("--smiles expects NAME=SMILES")
            if smiles_file is not None:
                table = read_table(smiles_file)
                if not {"drug_id", "smiles"} <= set(table.columns):
                    raise PredictionError(f"{smiles_file} needs columns drug_id, smiles")
                new.update(zip(table.drug_id.astype(str), table.smiles.astype(str), strict=True))
        wanted = read_table(pairs) if pairs is not None else None
        cell_list = [c.strip() for c in cells.split(",")] if cells else None
        members = []
        for run in runs:
            if wanted is not None:
                members.append(run.predictor.predict_pairs(wanted))
            elif matrix:
                members.append(run.predictor.predict_matrix())
            else:
                members.append(run.predict(cells=cell_list, smiles=new))
        result = members[0] if len(members) == 1 else combine_members(members)
        if interval is not None:
            paths = [run.path for run in runs]
            new_drug = runs[0].predictor.new_drug_rows(result)
            result = add_interval(result, paths, interval, chosen_smiles, new_drug)
        if len(runs) > 1:
            console.print(f"ensemble of {len(runs)} runs: mean prediction, sd in ensemble_sd")
    _write_table(result, out)
    console.print(f"[green]wrote[/] {len(result):,} predictions to {out}")


@app.command()
def screen(
    run_dir: Annotated[Path, typer.Argument(help="A run directory from `drp train`.")],
    library: Annotated[
        Path,
        typer.Option(
            help="Compound library: .csv/.tsv/.parquet (drug_id, smiles), .smi (SMILES name "
            "per line) or .sdf."
        ),
    ],
    cells: Annotated[
        str | None, typer.Option(help="Comma-separated cell ids (default: all cells).")
    ] = None,
    tissue: Annotated[str | None, typer.Option(help="Screen the cells of one tissue.")] = None,
    top: Annotated[int, typer.Option(help="Compounds kept per cell and per tissue.")] = 10,
    out: Annotated[
        Path | None, typer.Option(help="Output directory (default screens/<run>_<library>).")
    ] = None,
    ad_threshold: Annotated[
        float | None,
        typer.Option(
            help="Out of domain below this max Tanimoto to a training drug (default "
            "drp.prediction.screen.AD_THRESHOLD, measured on drug-blind folds)."
        ),
    ] = None,
    chunk_size: Annotated[int | None, typer.Option(help="Compounds scored together.")] = None,
    device: Annotated[str, typer.Option(help=f"Device: {_listing(DEVICES)}.")] = "cpu",
    interval: Annotated[
        float | None,
        typer.Option(
            help="Add lo/hi to every pair: a conformal interval at this coverage (0.50-0.99), "
            "calibrated on new drugs (needs a drug- or cluster-blind run)."
        ),
    ] = None,
) -> None:
    """Rank a compound library against cell lines: predictions, top-K tables, applicability
    domain, and a screen.md/screen.html summary."""
    from drp.core.progress import make_progress
    from drp.prediction.predictor import Predictor
    from drp.prediction.screen import AD_THRESHOLD, CHUNK_SIZE, read_library
    from drp.prediction.screen import screen as run_screen
    from drp.report.screen import write_screen_report

    _check_choice("--device", device, DEVICES)
    if top < 1:
        raise fail(f"--top must be >= 1, got {top}")
    threshold = AD_THRESHOLD if ad_threshold is None else ad_threshold
    target = out or Path("screens") / f"{run_dir.name}_{library.stem}"
    with user_errors():
        read_library(library)  # a bad library fails before the model loads
        predictor = Predictor.from_run(run_dir, device)
        with make_progress() as progress:
            task = progress.add_task(f"screening {library.name}", total=None, info="")
            result = run_screen(
                predictor,
                library,
                target,
                run_dir=run_dir,
                cells=[c.strip() for c in cells.split(",")] if cells else None,
                tissue=tissue,
                top_k=top,
                chunk_size=chunk_size or CHUNK_SIZE,
                ad_threshold=threshold,
                on_chunk=lambda done, total: progress.update(task, completed=done, total=total),
                command=" ".join(["drp", *sys.argv[1:]]),
                interval=interval,
            )
            write_screen_report(result)
    console.print(
        f"[green]screened[/] {result.n_scored:,} of {result.n_read:,} molecules "
        f"({len(result.invalid):,} invalid, see invalid.csv; {result.n_out_of_domain:,} out of "
        f"domain) x {len(result.cell_ids):,} cells -> {target / 'screen.html'}"
    )


@app.command()
def study(
    preset: Annotated[
        str,
        typer.Option(
            help="Preset: "
            + "; ".join(f"{n}: {p.description.split(':')[0]}" for n, p in PRESETS.items())
            + "."
        ),
    ] = "quick",
    dataset: Annotated[str, typer.Option(help="Featurized dataset name or path.")] = "gdsc2",
    name: Annotated[
        str | None, typer.Option(help="Study name (default <dataset>_<preset>).")
    ] = None,
    out_root: Annotated[Path, typer.Option(help="Where studies are written.")] = Path("studies"),
    config: Annotated[Path | None, typer.Option(help="Base TOML config for every variant.")] = None,
    set_: Annotated[
        list[str], typer.Option("--set", help="Override, e.g. train.device=cuda (repeatable).")
    ] = [],  # noqa: B006
    executor: Annotated[
        str,
        typer.Option(
            help="Where cells run: local (one after another here) or ray (one Ray task per "
            "cell; pip install -e '.[ray]')."
        ),
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            help="Ray cluster: auto (the running one) or ray://host:port; default: start a "
            "local Ray instance and stop it afterwards."
        ),
    ] = None,
    cpus_per_run: Annotated[
        float | None,
        typer.Option(
            help="CPUs each Ray task declares and torch threads per run (default: this "
            "process's torch threads, as --executor local uses, so both give the same metrics; "
            "at most a node's CPUs)."
        ),
    ] = None,
    gpus_per_run: Annotated[
        float,
        typer.Option(help="GPUs each Ray task declares; a fraction packs runs on one card."),
    ] = 0.0,
    max_retries: Annotated[
        int, typer.Option(help="Retries of a Ray task whose worker died (it resumes last.pt).")
    ] = 3,
) -> None:
    """Run (or resume) the attention study grid; then `drp report` writes the report.

    Several `drp study` processes, local or Ray, may share one study directory: each cell is
    claimed before it runs, so none runs twice."""
    from drp.core.config import load_config
    from drp.core.executors import EXECUTORS, LocalExecutor, RayExecutor
    from drp.study.runner import preset_by_name, run_study

    _check_choice("--executor", executor, EXECUTORS)
    if executor == "local" and (
        address or gpus_per_run or cpus_per_run is not None or max_retries != 3
    ):
        raise fail(
            "--address, --cpus-per-run, --gpus-per-run and --max-retries need --executor ray"
        )
    if (cpus_per_run is not None and cpus_per_run <= 0) or gpus_per_run < 0 or max_retries < 0:
        raise fail("--cpus-per-run must be > 0, --gpus-per-run and --max-retries >= 0")
    runner = (
        LocalExecutor()
        if executor == "local"
        else RayExecutor(address, cpus_per_run, gpus_per_run, max_retries)
    )
    with user_errors():
        chosen = preset_by_name(preset)
        base = load_config(config, set_)
        path = dataset_path(dataset)
        study_name = name or f"{Path(dataset).name}_{preset}"
        console.print(f"study [bold]{escape(study_name)}[/]: {escape(chosen.description)}")
        result = run_study(
            study_name,
            chosen,
            path,
            out_root,
            base,
            preset,
            log=lambda m: console.print(escape(m)),
            executor=runner,
        )
    console.print(f"[green]study written to[/] {result}; now run `drp report {result}`")


@app.command()
def tune(
    variant: Annotated[
        str | None, typer.Option(help=f"Model variant to tune: {_listing(VARIANTS)}.")
    ] = None,
    split: Annotated[
        str | None,
        typer.Option(help=f"Split kind to tune for: {_listing(SPLITS)} (default mixed)."),
    ] = None,
    fold: Annotated[
        int | None, typer.Option(help="Fold whose training part is searched (default 0).")
    ] = None,
    space: Annotated[
        Path | None,
        typer.Option(help="Search-space TOML (default drp/configs/tune_space.toml)."),
    ] = None,
    samples: Annotated[
        int | None, typer.Option(help="Trials (default the space file's num_samples).")
    ] = None,
    dataset: Annotated[
        str | None, typer.Option(help="Featurized dataset name or path (default gdsc2).")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="Base TOML config of every trial.")] = None,
    set_: Annotated[
        list[str], typer.Option("--set", help="Override SECTION.KEY=VALUE (repeatable).")
    ] = [],  # noqa: B006
    address: Annotated[
        str | None,
        typer.Option(help="Ray cluster (auto or ray://host:port); default a local instance."),
    ] = None,
    cpus_per_trial: Annotated[float, typer.Option(help="CPUs each trial declares.")] = 1.0,
    gpus_per_trial: Annotated[float, typer.Option(help="GPUs each trial declares.")] = 0.0,
    out: Annotated[
        Path | None, typer.Option(help="Output directory (default tune/<variant>_<split>).")
    ] = None,
) -> None:
    """Search hyper-parameters with Ray Tune + ASHA on validation pairs only; writes best.toml
    (for `drp train --config` and `drp study --config`) and trials.csv."""
    from drp.api import training_config
    from drp.core.config import load_config
    from drp.training.tune import DEFAULT_SPACE, SearchSpace, tune_search

    if split is not None:
        _check_choice("--split", split, SPLITS)
    if variant:
        _check_choice("--variant", variant, VARIANTS)
    if samples is not None and samples < 1:
        raise fail(f"--samples must be >= 1, got {samples}")
    with user_errors():
        search = SearchSpace.read(space or DEFAULT_SPACE)
        cfg, name = training_config(
            load_config(config, set_), variant=variant, dataset=dataset, split=split, fold=fold
        )
        tc = cfg.train
        target = out or Path("tune") / f"{name}_{tc.split}"
        n = samples or search.num_samples
        console.print(
            f"tuning [bold]{name}[/] on {tc.split} fold {tc.fold}: {n} trials, up to "
            f"{search.max_epochs} epochs, ASHA grace {search.grace_period}"
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
            command=" ".join(["drp", *sys.argv[1:]]),
        )
    console.print(
        f"[green]best[/] validation RMSE {record['best_val_rmse']:.4f} of {record['trials']} "
        f"trials ({record['trials_stopped_early']} stopped early by ASHA): "
        f"{escape(str(record['best_params']))} -> {target / 'best.toml'}"
    )


@app.command()
def report(
    study_dir: Annotated[Path, typer.Argument(help="A study directory from `drp study`.")],
    out: Annotated[
        Path | None, typer.Option(help="Output directory (default reports/<study name>).")
    ] = None,
) -> None:
    """Write report.md and a self-contained report.html (plus one PNG per figure), and copy the
    study's compact evidence to <out>/study, from which the same command regenerates it."""
    from drp.report.render import render_report
    from drp.study.evidence import export

    if not (study_dir / "study.json").exists():
        raise fail(f"{study_dir} is not a study directory (no study.json)")
    target = out or Path("reports") / study_dir.name
    with user_errors():
        md, html = render_report(study_dir, target)
        evidence = export(study_dir, target / "study")
    console.print(f"[green]report[/]: {md} and {html}; evidence in {evidence}")


@app.command()
def evaluate(
    run_dirs: Annotated[
        list[Path] | None,
        typer.Argument(help="Training run directories (config.json + predictions_test.parquet)."),
    ] = None,
    baselines: Annotated[
        bool,
        typer.Option(
            "--baselines", help="Also fit and score baselines on the same folds as the runs."
        ),
    ] = False,
    names: Annotated[
        list[str] | None,
        typer.Option(
            "--baseline",
            help=f"Baseline to run (repeatable): {_listing(BASELINES)}; "
            f"default {_listing(DEFAULT_BASELINES)}.",
        ),
    ] = None,
    split: Annotated[
        str | None,
        typer.Option(
            help=f"Split: {_listing(SPLITS)}, or {CROSS} (with --target). With runs, taken "
            "from them (a different value is an error); without runs, required."
        ),
    ] = None,
    target: Annotated[
        str | None, typer.Option(help=f"Test dataset of a {CROSS} split (gdsc1, ccle, a path).")
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(
            help="Training dataset (built-in name or path); with runs, taken from them "
            "(default gdsc2 without runs)."
        ),
    ] = None,
    data_dir: Annotated[Path, typer.Option(help="Where raw and processed data live.")] = DATA_DIR,
    k: Annotated[
        int | None, typer.Option(help="Number of outer folds (with runs: theirs; else 5).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Fold seed (with runs: theirs; else 0).")] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(help="Fold cache without runs (default <dataset>/folds)."),
    ] = None,
    n_boot: Annotated[
        int,
        typer.Option(
            help="Bootstrap resamples for 95% CIs of rmse and pearson (0: none); blind splits "
            "resample their held-out unit (cell, drug structure, drug cluster, tissue)."
        ),
    ] = 0,
    ensemble: Annotated[
        bool,
        typer.Option(
            "--ensemble",
            help="Also score, per fold, the mean prediction of the runs that share model and "
            "fold: a seed ensemble (`drp train --seed N --fold-seed 0`) is a model like any other.",
        ),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(help="Output directory (default reports/evaluate/<dataset>_<split>)."),
    ] = None,
) -> None:
    """Score run directories and baselines on identical folds; always writes metrics.csv (per
    fold), metrics_summary.csv (the printed table) and metrics.json, and says where."""
    from drp.api import evaluation
    from drp.evaluation.scoring import check_baselines, print_metrics_table

    run_dirs = list(run_dirs or [])
    if not run_dirs and not baselines:
        raise fail("nothing to evaluate: give RUN_DIRS and/or --baselines")
    if split is not None:
        _check_choice("--split", split, (*SPLITS, CROSS))
    if names:
        with user_errors():
            check_baselines(names)
    if n_boot < 0:
        raise fail(f"--n-boot must be >= 0 (0: no CIs), got {n_boot}")
    if k is not None and k < 2:
        raise fail(f"--k must be >= 2 (each fold is tested once), got {k}")
    if split == CROSS and target is None:
        raise fail(f"--split {CROSS} needs --target (e.g. gdsc1 or ccle)")
    if target is not None and split != CROSS:
        raise fail(f"--target is only for --split {CROSS}")
    if not run_dirs and split is None:
        raise fail(
            f"--split is required without runs (one of {_listing(SPLITS)} or {CROSS}); "
            "`drp train` uses mixed"
        )
    start = time.perf_counter()
    with user_errors():
        result = evaluation(
            run_dirs,
            (names or DEFAULT_BASELINES) if baselines else (),
            split=split,
            target=target,
            dataset=dataset,
            data_dir=data_dir,
            k=k,
            seed=seed,
            cache_dir=cache_dir,
            n_boot=n_boot,
            ensemble=ensemble,
            log=lambda m: console.print(f"[dim]{escape(m)}[/]"),
            command=" ".join(["drp", *sys.argv[1:]]),
        )
        out = result.write(out)
    summary, table = result.summary, result.table
    print_metrics_table(summary, results_console, ceiling=result.ceiling)
    console.print(
        f"[green]evaluated[/] {table['model'].nunique()} models in "
        f"{time.perf_counter() - start:.1f} s: per fold in {escape(str(out / 'metrics.csv'))}, "
        f"the table above in {escape(str(out / 'metrics_summary.csv'))}, both with provenance "
        f"in {escape(str(out / 'metrics.json'))}"
    )
