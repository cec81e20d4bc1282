"""Render a finished study directory into ``report.md`` and a self-contained ``report.html``.

Both files are written from one list of blocks (heading, paragraph, table, figure, code), so
they always hold the same content. Figures are written as PNGs beside the reports; the markdown
links them, the HTML embeds them as base64 data URIs (no external resources). The blocks are
in :mod:`drp.report.blocks`, the writers in :mod:`drp.report.writers` and the sections in
:mod:`drp.report.sections`.
"""

from __future__ import annotations

from pathlib import Path

from drp.core.files import atomic_write_text
from drp.report.blocks import Block, Heading, Para
from drp.report.sections.answer import answer_section, per_drug_tests_section, verdict_section
from drp.report.sections.design import data_section, design_section
from drp.report.sections.interpretation import (
    biomarker_section,
    faithfulness_section,
    molecules_section,
)
from drp.report.sections.provenance import hardware, provenance_section
from drp.report.sections.results import (
    figures_sections,
    forest_section,
    results_section,
    worst_drugs_section,
)
from drp.report.study_dir import Study, load_study
from drp.report.writers import to_html, to_markdown

QUESTION = "Does graph attention help predict drug response?"


def build_blocks(study: Study, out_dir: Path) -> list[Block]:
    """All report blocks in order; writes the figure PNGs into ``out_dir``."""
    meta = study.meta
    blocks: list[Block] = [
        Heading(f"{QUESTION} — {meta.get('name', study.root.name)}", 1),
        Para(
            f"Preset `{meta.get('preset', '')}` on {meta.get('dataset', {}).get('name', 'unknown')}"
            f", trained at commit `{meta.get('provenance', {}).get('commit', 'unknown')}`"
            f" on {hardware(meta.get('provenance', {}).get('hardware'))}."
        ),
    ]
    blocks += answer_section(study)
    blocks += design_section(study, out_dir)
    blocks += verdict_section(study)
    blocks += forest_section(study, out_dir)
    blocks += per_drug_tests_section(study)
    blocks += results_section(study)
    blocks += worst_drugs_section(study)
    blocks += figures_sections(study, out_dir)
    blocks += molecules_section(study, out_dir)
    blocks += faithfulness_section(study, out_dir)
    blocks += biomarker_section(study, out_dir)
    blocks += data_section(study)
    blocks += provenance_section(study)
    return blocks


def render_report(study_dir: Path, out_dir: Path) -> tuple[Path, Path]:
    """Write ``report.md``, ``report.html`` and the figure PNGs for a finished study.

    Args:
        study_dir: a study directory (see ``drp.report.study_dir``).
        out_dir: where the reports and PNGs go (created if missing).

    Returns:
        (markdown path, html path).
    """
    study = load_study(Path(study_dir))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    blocks = build_blocks(study, out_dir)
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    atomic_write_text(md_path, to_markdown(blocks, out_dir))
    title = f"{QUESTION} — {study.meta.get('name', study.root.name)}"
    atomic_write_text(html_path, to_html(blocks, title))
    return md_path, html_path
