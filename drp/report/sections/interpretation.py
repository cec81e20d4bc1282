"""The interpretation sections: attention drawn on held-out molecules, whether that attention
is faithful to the predictions, and biomarker recovery on unseen cells.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from drp.core.files import atomic_write
from drp.report import plots
from drp.report.blocks import (
    Block,
    Gallery,
    Heading,
    Image,
    Para,
    Table,
    figure,
    fmt_num,
    fmt_p,
    slug,
)
from drp.report.faithfulness import faithfulness_summary
from drp.report.study_dir import Study
from drp.report.writers import VERDICT_CLASS


def molecules_section(study: Study, out_dir: Path) -> list[Block]:
    blocks: list[Block] = [
        Heading("Attention on molecules"),
        Para(
            "Atoms coloured by the attention-pooling weight on an absolute scale: the weight "
            "times the number of atoms, so white is the uniform weight 1/n, red more and blue "
            "less than uniform (colour bar below). Each molecule is drawn from the drug-blind "
            "model of the fold that held it out: the model had never seen the drug."
        ),
    ]
    if not study.attention:
        return [*blocks, Para("No attention maps were produced by this study.")]
    try:
        # RDKit's drawing module links Cairo and X libraries that headless servers may lack
        from drp.featurize import depict
    except ImportError as err:
        return [
            *blocks,
            Para(
                f"Molecules were not drawn: RDKit's drawing library does not load on this "
                f"machine ({err}). The atom weights are in `attention.json` of the study."
            ),
        ]
    blocks.append(
        figure(
            plots.attention_colourbar(),
            out_dir,
            "fig_attention_scale.png",
            "attention colour scale",
            "Colour scale of the molecules: weight × n (1 = uniform).",
        )
    )
    images = []
    for i, entry in enumerate(study.attention):
        name = f"mol_{i:02d}_{slug(str(entry['drug_id']))}.png"
        try:
            png = depict.draw_attention(
                entry["smiles"], entry["atom_weights"], str(entry["drug_id"])
            )
        except ValueError as err:
            blocks.append(Para(f"{entry['drug_id']}: not drawn ({err})."))
            continue
        atomic_write(out_dir / name, lambda p, b=png: p.write_bytes(b))
        faith = entry.get("faithfulness") or []
        if isinstance(faith, dict):
            faith = [faith]
        ratios = ", ".join(
            f"{f.get('fraction', 0):.0%}: {f['top_k_delta'] / f['random_k_delta']:.2f}"
            for f in faith
            if f.get("random_k_delta")
        )
        n = len(entry["atom_weights"])
        uniform = faith[0].get("uniform_delta") if faith else None
        caption = (
            f"**{entry['drug_id']}** · {entry.get('split', '')} fold {entry.get('fold', '?')} · "
            f"{n} atoms, uniform weight 1/n = {1 / n:.3f}, top weight "
            f"{max(entry['atom_weights']):.3f}. Top/random deletion ratio {ratios or '–'}; "
            f"1/n pooling moves predictions by {fmt_num(uniform)} ln IC50."
        )
        images.append(Image(out_dir / name, f"attention on {entry['drug_id']}", caption))
    if images:
        blocks.append(Gallery(images))
    return blocks


def faithfulness_section(study: Study, out_dir: Path) -> list[Block]:
    blocks: list[Block] = [Heading("Faithfulness of attention")]
    f = study.faithfulness
    if f.empty or "fraction" not in f.columns:
        return [*blocks, Para("No faithfulness scores were produced by this study.")]
    summary = faithfulness_summary(f)
    splits = ", ".join(dict.fromkeys(f["split"]))
    rows, classes = [], {}
    for i, r in enumerate(summary.itertuples()):
        rows.append(
            {
                "atoms deleted": f"{r.fraction:.0%}",
                "drugs": r.n_drugs,
                "top/random ratio [95% CI]": f"{r.ratio:.2f} [{r.ratio_low:.2f}, {r.ratio_high:.2f}]",
                "drugs with ratio < 1": f"{r.share_below_1:.0%}",
                "median |Δ| top": fmt_num(r.median_top),
                "median |Δ| random": fmt_num(r.median_random),
                "median |Δ| 1/n pooling": fmt_num(r.median_uniform),
                "Wilcoxon p (top > random)": fmt_p(r.p_wilcoxon),
                "verdict": r.verdict,
            }
        )
        classes[(i, "verdict")] = VERDICT_CLASS.get(r.verdict, "")
    mid = f[np.isclose(f["fraction"], 0.2)] if (np.isclose(f["fraction"], 0.2)).any() else f
    mid = mid.assign(ratio=mid["top_k_delta"] / mid["random_k_delta"])
    anti = mid.nsmallest(8, "ratio")
    blocks += [
        Para(
            f"Models that never saw the drug ({splits}, every fold of the first seed) score each "
            "of their held-out drugs. The top-k attended atoms are deleted with their bonds and "
            "the graph rebuilt; the control deletes k random atoms of the same elements (5 "
            "draws). |Δ| is the mean absolute change of the predicted ln IC50 over up to 200 of "
            "the drug's test cells. The effect size is the geometric mean over drugs of the "
            "top/random ratio with a 95% t interval; **faithful** needs the interval above 1. "
            "The uniform control replaces the learned pooling weights by 1/n: if that barely "
            "moves predictions, the model does not rely on where its attention points. The "
            "fingerprint half of the hybrid input is left intact, so these numbers describe the "
            "graph half."
        ),
        Table(pd.DataFrame(rows), classes),
        Para(
            "Most anti-faithful drugs at 20% deleted (ratio top/random, lower = random atoms "
            "matter more): "
            + ", ".join(f"{r.drug_id} {r.ratio:.2f}" for r in anti.itertuples())
            + "."
        ),
        figure(
            plots.faithfulness_plot(f),
            out_dir,
            "fig_faithfulness.png",
            "faithfulness scatter",
            "One point per held-out drug and deleted fraction; above the diagonal (green), "
            "deleting the attended atoms moves the prediction more than deleting matched random "
            "atoms; red points are anti-faithful.",
        ),
    ]
    return blocks


def biomarker_section(study: Study, out_dir: Path) -> list[Block]:
    blocks: list[Block] = [Heading("Biomarker recovery on unseen cells")]
    b, summary = study.biomarkers, study.biomarker_summary
    if b.empty or not summary:
        return [*blocks, Para("No biomarker analysis was produced (it needs cell-blind runs).")]
    blocks.append(
        Para(
            f"Does `{study.default_variant}` reproduce known pharmacogenomics on cell lines it "
            f"never saw? Cell-blind test predictions ({fmt_num(summary.get('n_cells'))} cells, "
            f"every fold of the first seed). For each drug × binary feature (every gene's "
            "mutation; EGFR and ERBB2 copy-number gain and top-10% expression) with at least "
            "10 positive and 10 negative test cells, the observed effect is the difference in "
            "mean ln IC50 between positive and negative cells, the predicted effect the same "
            "difference of the predictions. Over all "
            f"{fmt_num(summary['n_associations'])} associations the two correlate with r = "
            f"**{fmt_num(summary['r_all'])}**; over the {fmt_num(summary['n_significant'])} with "
            f"observed FDR < {summary['fdr']} (Benjamini–Hochberg), r = "
            f"**{fmt_num(summary['r_significant'])}**, and the predicted effect has the observed "
            f"sign in {summary['sign_agreement_significant']:.0%} of them. Many of the strongest "
            "associations mark tissues rather than targets (a copy-number gain common in one "
            "lineage), so recovering them shows the model reads the cell, not that it knows "
            "the mechanism."
        )
    )
    named = b[b["subset"] == "classic"]
    if not named.empty:
        blocks.append(
            Table(
                pd.DataFrame(
                    {
                        "feature": named["feature"],
                        "drug": named["drug_id"],
                        "positive cells": named["n_pos"].map(lambda v: fmt_num(int(v))),
                        "observed effect": named["observed"].map(fmt_num),
                        "p (observed)": named["p_observed"].map(fmt_p),
                        "predicted effect": named["predicted"].map(fmt_num),
                        "p (predicted)": named["p_predicted"].map(fmt_p),
                    }
                )
            )
        )
    blocks.append(
        figure(
            plots.biomarker_plot(b),
            out_dir,
            "fig_biomarkers.png",
            "biomarker recovery",
            "Observed against predicted effect per drug × feature (ln IC50; negative = the "
            "positive cells are more sensitive); dashed = identity.",
        )
    )
    return blocks
