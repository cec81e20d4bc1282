"""The ``drp`` command: thin Typer wrappers around the library."""

from __future__ import annotations

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
