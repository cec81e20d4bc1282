"""The summary of a ``drp screen``: ``screen.md`` and a self-contained ``screen.html``.

Built from the same blocks as the study report (:mod:`drp.report.blocks`): counts, invalid
molecules with their reasons, the library's similarity to the training drugs with the
applicability-domain threshold, the top compounds per tissue by potency and by selectivity
(with how far the run's within-drug ranking holds on new drugs), drawings of the top compounds
and provenance.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from drp.core.files import atomic_write, atomic_write_text
from drp.report import plots
from drp.report.blocks import Block, Gallery, Heading, Image, Para, Table, fmt_num, slug
from drp.report.writers import to_html, to_markdown

if TYPE_CHECKING:
    from drp.prediction.screen import ScreenResult

TOP_DRAWN = 8
"""Compounds drawn: the lowest mean predicted ln IC50 over the screened cells."""
TISSUE_ROWS = 5
"""Rows per tissue in the summary (``top_per_tissue.csv`` holds all K)."""


def _counts(result: ScreenResult) -> list[Block]:
    m = result.meta
    rows = {
        "molecules read": m["read"],
        "invalid (not scored)": m["invalid"],
        "scored": m["scored"],
        f"out of domain (max Tanimoto < {result.ad_threshold:.2f})": m["out_of_domain"],
        "cell lines": m["cells"],
        "pairs predicted": m["pairs"],
        "seconds": m["seconds"],
    }
    return [
        Heading("Counts"),
        Table(pd.DataFrame({"item": list(rows), "count": [fmt_num(v, 1) for v in rows.values()]})),
    ]


def _invalid(result: ScreenResult) -> list[Block]:
    blocks: list[Block] = [Heading("Invalid molecules")]
    if result.invalid.empty:
        return [*blocks, Para("Every molecule of the library was read and standardised.")]
    grouped = (
        result.invalid.groupby("reason", sort=False)["drug_id"]
        .agg(count="size", examples=lambda s: ", ".join(map(str, s.head(3))))
        .reset_index()
        .sort_values("count", ascending=False, kind="stable")
    )
    return [
        *blocks,
        Para(
            f"{len(result.invalid):,} molecules were not scored; RDKit's reasons below "
            "(every molecule is listed in `invalid.csv`)."
        ),
        Table(grouped.head(20)[["count", "reason", "examples"]]),
    ]


def _domain(result: ScreenResult) -> list[Block]:
    out = result.out_dir
    from drp.prediction.domain import AD_CAVEAT

    caveat = " " + AD_CAVEAT if result.meta.get("ad_threshold_default") else ""
    fig = plots.similarity_histogram(
        result.compounds["max_tanimoto"].to_numpy(), result.ad_threshold
    )
    path = plots.save_figure(fig, out / "fig_similarity.png")
    return [
        Heading("Applicability domain"),
        Para(
            "Each compound's Morgan fingerprint (radius 2, 2,048 bits) is compared with the "
            f"training drugs: {result.train_drugs_source}. A compound whose nearest training "
            f"drug has Tanimoto similarity below {result.ad_threshold:.2f} is flagged "
            f"`out_of_domain`; its predictions extrapolate.{caveat}"
        ),
        Image(path, "similarity histogram", "Max Tanimoto similarity to a training drug."),
    ]


def _tissues(result: ScreenResult) -> list[Block]:
    blocks: list[Block] = [Heading("Top compounds per tissue")]
    table = result.top_per_tissue
    if table.empty:
        return [*blocks, Para("The screened cell lines have no tissue recorded.")]
    shown = table[table["rank"] <= TISSUE_ROWS].copy()
    shown["mean_ln_ic50_pred"] = shown["mean_ln_ic50_pred"].map(fmt_num)
    shown["max_tanimoto"] = shown["max_tanimoto"].map(lambda x: fmt_num(x, 2))
    return [
        *blocks,
        Para(
            f"Ranked by mean predicted ln IC50 over the tissue's screened cells (lowest = most "
            f"sensitive); the first {TISSUE_ROWS} per tissue, all in `top_per_tissue.csv`."
        ),
        Table(shown),
    ]


def _selective(result: ScreenResult) -> list[Block]:
    blocks: list[Block] = [Heading("Most selective compounds per tissue")]
    table = result.top_selective_per_tissue
    if table.empty:
        return [*blocks, Para("The screened cell lines have no tissue recorded.")]
    shown = table[table["rank"] <= TISSUE_ROWS].copy()
    shown["selectivity"] = shown["selectivity"].map(fmt_num)
    shown["max_tanimoto"] = shown["max_tanimoto"].map(lambda x: fmt_num(x, 2))
    evidence = result.meta.get("selectivity_ranking") or {}
    if evidence.get("per_drug_r") is not None:
        trust = (
            f"That pattern ranked the cells of {evidence['drugs']} drugs new to the run with "
            f"per-drug Pearson r {evidence['per_drug_r']:.3f} ({evidence['source']})."
        )
    else:
        trust = f"No new-drug figure from this run: {evidence.get('source', 'not recorded')}."
    return [
        *blocks,
        Para(
            "Ranked by selectivity: the compound's mean predicted ln IC50 over the tissue's "
            "cells minus its mean over all screened cells (negative = the tissue is more "
            "sensitive than the compound's average cell), so a compound potent everywhere does "
            "not top every tissue. It rests on the model's cell-to-cell pattern within one drug. "
            f"{trust} The first {TISSUE_ROWS} per tissue, all in "
            "`top_selective_per_tissue.csv`."
        ),
        Table(shown),
    ]


def _molecules(result: ScreenResult) -> list[Block]:
    blocks: list[Block] = [
        Heading("Top compounds"),
        Para(
            f"The {TOP_DRAWN} compounds with the lowest mean predicted ln IC50 over the "
            "screened cells (standardised structures)."
        ),
    ]
    top = result.compounds.nsmallest(TOP_DRAWN, "mean_ln_ic50_pred")
    try:
        # RDKit's drawing module links Cairo and X libraries that headless servers may lack
        from drp.featurize import depict
    except ImportError as err:
        return [
            *blocks,
            Para(
                f"Molecules were not drawn: RDKit's drawing library does not load on this "
                f"machine ({err}). Their SMILES are in `compounds.csv`."
            ),
        ]
    images = []
    for i, row in enumerate(top.itertuples()):
        name = f"mol_{i:02d}_{slug(str(row.drug_id))}.png"
        try:
            png = depict.draw_molecule(row.smiles_standardised, str(row.drug_id))
        except ValueError as err:
            blocks.append(Para(f"{row.drug_id}: not drawn ({err})."))
            continue
        atomic_write(result.out_dir / name, lambda p, b=png: p.write_bytes(b))
        domain = "out of domain" if row.out_of_domain else "in domain"
        caption = (
            f"**{row.drug_id}** — mean ln IC50 {fmt_num(row.mean_ln_ic50_pred)}, best cell "
            f"{row.best_cell}; nearest training drug {row.nearest_train_drug} "
            f"(Tanimoto {fmt_num(row.max_tanimoto, 2)}, {domain})"
        )
        images.append(Image(result.out_dir / name, str(row.drug_id), caption))
    if images:
        blocks.append(Gallery(images))
    return blocks


def _provenance(result: ScreenResult) -> list[Block]:
    m = result.meta
    facts = {
        "run": m["run_dir"],
        "model": m["model"],
        "dataset": m["dataset"],
        "library": m["library"],
        "library sha256": m["library_sha256"],
        "commit": m["git_commit"],
        "date": m["created"],
        "hardware": fmt_num(m["hardware"]),
        "top K": m["top_k"],
        "chunk size": m["chunk_size"],
        "command": m.get("command") or "–",
    }
    return [
        Heading("Provenance"),
        Table(pd.DataFrame({"field": list(facts), "value": [str(v) for v in facts.values()]})),
        Para(
            "Files: `predictions.parquet` (every pair), `compounds.csv` (applicability domain "
            "per compound), `invalid.csv`, `top_per_cell.csv`, `top_per_tissue.csv`, "
            "`top_selective_per_tissue.csv`, `screen.json`."
        ),
    ]


def write_screen_report(result: ScreenResult) -> tuple[Path, Path]:
    """Write ``screen.md``, ``screen.html`` and their PNGs into ``result.out_dir``; returns
    the two paths."""
    title = f"Screen of {result.meta['library'].rsplit('/', 1)[-1]} with {result.meta['model']}"
    blocks: list[Block] = [
        Heading(title, 1),
        Para(
            f"{result.meta['scored']:,} compounds scored against {len(result.cell_ids):,} cell "
            f"lines of dataset {result.meta['dataset']} by the run `{result.meta['run_dir']}`."
        ),
    ]
    blocks += _counts(result)
    blocks += _invalid(result)
    blocks += _domain(result)
    blocks += _tissues(result)
    blocks += _selective(result)
    blocks += _molecules(result)
    blocks += _provenance(result)
    md, html = result.out_dir / "screen.md", result.out_dir / "screen.html"
    atomic_write_text(md, to_markdown(blocks, result.out_dir))
    atomic_write_text(html, to_html(blocks, title))
    return md, html
