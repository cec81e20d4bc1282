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
    fmt_share,
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


def restored_text(study: Study, split: str) -> str:
    """How closely the runs that were trained again for the analyses (a study resumed from its
    evidence alone) reproduced their committed test RMSE; empty when none was."""
    r = study.restored
    if r.empty or "run" not in r:
        return ""
    r = r[r["run"].str.contains(f"__{split}__")]
    if r.empty:
        return ""
    gap = (r["restored_rmse"] - r["committed_rmse"]).abs().max()
    return (
        f" The {len(r)} run(s) read here were trained again from their recorded config and "
        "seed (the study resumed from its committed evidence, without checkpoints); their test "
        f"RMSE differs from the committed cells' by at most {gap:.4f}."
    )


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
            "graph half." + "".join(restored_text(study, s) for s in dict.fromkeys(f["split"]))
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


EGFR_DRUGS = ("Erlotinib", "Gefitinib", "Afatinib")


def _recovered(r: object) -> str:
    """``recovers`` / ``partly recovers`` / ``misses`` for one classic association row."""
    obs, pred = float(r.observed), float(r.predicted)  # type: ignore[attr-defined]
    p_pred = float(r.p_predicted)  # type: ignore[attr-defined]
    if not (np.isfinite(obs) and np.isfinite(pred)) or np.sign(obs) != np.sign(pred):
        return "misses"
    if not (np.isfinite(p_pred) and p_pred < 0.05):
        return "misses"
    return "recovers" if abs(pred) >= 0.5 * abs(obs) else "partly recovers"


def egfr_text(classic: pd.DataFrame) -> str:
    """The EGFR-mutation classic stated whichever way it comes out."""
    rows = classic[(classic["feature"] == "EGFR mut") & classic["drug_id"].isin(EGFR_DRUGS)]
    if rows.empty:
        return (
            "**EGFR-mutant lines** (the classic sensitivity to erlotinib, gefitinib and "
            "afatinib): not testable here, too few EGFR-mutant test cells or no mutation data."
        )
    parts, calls = [], []
    for r in rows.itertuples():
        call = _recovered(r)
        calls.append(call)
        within = ""
        if "observed_within" in rows and np.isfinite(r.observed_within):
            within = (
                f"; within lineage observed {fmt_num(r.observed_within, 2)} (p "
                f"{fmt_p(r.p_observed_within)}), predicted {fmt_num(r.predicted_within, 2)}"
            )
        parts.append(
            f"{r.drug_id} observed {fmt_num(r.observed, 2)} ln IC50 (p {fmt_p(r.p_observed)}), "
            f"predicted {fmt_num(r.predicted, 2)} (p {fmt_p(r.p_predicted)}){within}"
        )
    if len(set(calls)) == 1:
        verdict = f"the model {calls[0]} it"
    else:
        verdict = "the model " + ", ".join(
            f"{c} it for {d}" for c, d in zip(calls, rows["drug_id"], strict=True)
        )
    weak = rows[~(rows["p_observed"] < 0.05)]["drug_id"].tolist()
    against = rows[rows["observed"] >= 0]["drug_id"].tolist()
    notes = []
    if weak:
        notes.append(f"the observed effect itself is not significant for {', '.join(weak)}")
    if against:
        notes.append(
            f"for {', '.join(against)} the observed effect runs against the classic (the "
            "mutant lines are not more sensitive here)"
        )
    note = f" ({'; '.join(notes)})" if notes else ""
    return (
        "**EGFR-mutant lines** (the classic sensitivity to erlotinib, gefitinib and afatinib): "
        + "; ".join(parts)
        + f": {verdict}{note}. Recovered means the predicted effect has the observed sign, "
        "p < 0.05 and at least half the observed size; partly, the same but smaller."
    )


def _share(summary: dict, hits: str, share: str, total: str) -> str:
    """Sign agreement as ``99.7% (312 of 313)``; older summaries record the share only."""
    n = int(summary.get(total) or 0)
    k = summary.get(hits)
    if k is None:
        k = round(float(summary.get(share, np.nan)) * n) if n else 0
    return fmt_share(int(k), n)


def recovery_text(summary: dict) -> str:
    """r over all associations first, then the significant ones without selection bias."""
    fdr = summary.get("fdr", 0.05)
    text = (
        f"Over all {fmt_num(summary['n_associations'])} associations the observed and "
        f"predicted effects correlate with r = **{fmt_num(summary['r_all'])}**. "
    )
    same_cells = (
        f"Over the {fmt_num(summary['n_significant'])} with observed FDR < {fdr} "
        f"(Benjamini–Hochberg), r = {fmt_num(summary['r_significant'])} and the signs agree in "
        + _share(summary, "n_sign_agree_significant", "sign_agreement_significant", "n_significant")
        + ", but both are inflated: selecting on the observed effect keeps the large effects, "
        "which any predictor of the right sign tracks."
    )
    if "r_all_within" in summary:
        text += (
            "Within lineage (each effect estimated with a fixed effect per tissue, so a "
            "feature common in one tissue is compared with the other cells of that tissue), "
            f"over {fmt_num(summary['n_associations_within'])} associations r = "
            f"**{fmt_num(summary['r_all_within'])}**. "
        )
    if "r_split_half" not in summary:
        return (
            text + same_cells + " No split-half estimate was recorded for this study, so no "
            "unbiased figure for the significant subset can be given."
        )
    return (
        text + same_cells + " Selected instead on one random half of the test cells (seed "
        f"{summary.get('split_half_seed', 0)}) and measured on the other half, the "
        f"{fmt_num(summary['n_split_half'])} associations significant on the first half "
        f"(FDR < {fdr}) and testable on the second correlate with r = "
        f"**{fmt_num(summary['r_split_half'])}**, and the predicted effect has the observed "
        "sign in "
        + _share(summary, "n_sign_agree_split_half", "sign_agreement_split_half", "n_split_half")
        + " of them."
    )


def lineage_text(summary: dict) -> str:
    """How many significant pooled associations hold within lineage; the caveat alone where
    the within-lineage effects were not computed."""
    if "n_significant_within_kept" not in summary:
        return (
            " A pooled association can mark a tissue rather than a target (a copy-number gain "
            "common in one lineage): recovering it shows the model reads the cell, not that it "
            "knows the mechanism."
        )
    kept, n = int(summary["n_significant_within_kept"]), int(summary["n_significant"])
    return (
        f" Of the {fmt_num(n)} significant pooled associations, {fmt_share(kept, n)} keep "
        "p < 0.05 within lineage; the others may mark a tissue rather than a target, and "
        "recovering them shows the model reads the cell, not that it knows the mechanism."
    )


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
            "difference of the predictions. "
            + recovery_text(summary)
            + lineage_text(summary)
            + restored_text(study, "cell_blind")
        )
    )
    classic = b[b["subset"] == "classic"]
    blocks.append(Para(egfr_text(classic)))
    if not classic.empty:
        blocks.append(
            Table(
                pd.DataFrame(
                    {
                        "feature": classic["feature"],
                        "drug": classic["drug_id"],
                        "positive cells": classic["n_pos"].map(lambda v: fmt_num(int(v))),
                        "observed effect": classic["observed"].map(fmt_num),
                        "p (observed)": classic["p_observed"].map(fmt_p),
                        "predicted effect": classic["predicted"].map(fmt_num),
                        "p (predicted)": classic["p_predicted"].map(fmt_p),
                    }
                    | (
                        {
                            "observed within lineage": classic["observed_within"].map(fmt_num),
                            "predicted within lineage": classic["predicted_within"].map(fmt_num),
                        }
                        if "observed_within" in classic
                        else {}
                    )
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
