"""The results sections: test metrics per split, the worst-predicted drugs, and the figures
of paired differences, predictions, per-drug correlation and learning curves.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from drp.core.choices import NEW_DRUG_SPLITS
from drp.report import plots
from drp.report.blocks import Block, Heading, Para, Table, figure, fmt_num
from drp.report.study_dir import METRICS, Study, summary_table
from drp.study.presets import EXTERNAL

BASIS_TEXT = {
    "range": " Counted against each measurement's screened concentrations, over the pairs "
    "whose range is known.",
    "cap": " Here that is CCLE's 8 µM cap: IC50 values reported at the highest concentration.",
}
"""What the share rests on (:func:`groups_outside_basis`); without a basis it reads n/a."""


def groups_outside_basis(groups: pd.DataFrame) -> str | None:
    """The basis of the per-group "outside screened range" counts: ``range`` (columns
    ``outside_range`` = pairs outside their screened range and, where written, ``range_known``
    = pairs whose range is known), ``cap`` (``censored`` = pairs at CCLE's cap, when any is),
    or None (neither: the dataset cannot tell, and the share reads "n/a")."""
    if "outside_range" in groups:
        known = groups["range_known"] if "range_known" in groups else groups["n"]
        if known.sum() > 0:
            return "range"
    if "censored" in groups and groups["censored"].sum() > 0:
        return "cap"
    return None


def results_section(study: Study) -> list[Block]:
    metrics = [m for m in METRICS if m in study.results.columns]
    blocks: list[Block] = [
        Heading("Results per split"),
        Para(
            "Test metrics, mean ± sd over the runs (folds × seeds) of each variant on the split. "
            f"The default variant is **{study.default_variant}**; baselines are listed last. "
            "RMSE and MAE in ln IC50 units."
        ),
    ]
    variants = study.models + study.baselines
    for split in study.splits:
        res = study.results[study.results["split"] == split]
        table = summary_table(res, variants, metrics)
        table.insert(
            1, "kind", ["baseline" if v in study.baselines else "model" for v in table["variant"]]
        )
        table["variant"] = [
            f"**{v}**" if v == study.default_variant else v for v in table["variant"]
        ]
        table = table.rename(columns={m: plots.METRIC_LABELS.get(m, m) for m in metrics})
        blocks += [Heading(split, 3), Table(table)]
    return blocks


def worst_drugs_section(study: Study) -> list[Block]:
    blocks: list[Block] = [Heading("Per-drug performance")]
    g = study.groups
    if g.empty:
        return [*blocks, Para("No per-drug metrics were recorded.")]
    drugs = g[(g["kind"] == "drug") & (g["variant"] == study.default_variant)]
    # new drugs first: the external set where the study has one, then the blind splits
    order = (EXTERNAL, *NEW_DRUG_SPLITS, *study.splits)
    split = next((s for s in order if s in set(drugs["split"])), None)
    if split is None:
        return [*blocks, Para("No per-drug metrics of the default model were recorded.")]
    d = drugs[drugs["split"] == split]
    basis = groups_outside_basis(d)
    counted = {"range": ("outside_range", "range_known"), "cap": ("censored", "n")}
    flagged, judged = counted.get(basis, ("n", "n"))
    if basis == "range" and judged not in d:
        judged = "n"
    per_drug = d.groupby("id").agg(
        runs=("rmse", "size"),
        pairs=("n", "sum"),
        rmse=("rmse", "mean"),
        r=("pearson", "mean"),
        observed=("mean_true", "mean"),
        predicted=("mean_pred", "mean"),
        flagged=(flagged, "sum"),
        judged=(judged, "sum"),
    )
    worst = per_drug.sort_values("rmse", ascending=False).head(10)
    table = pd.DataFrame(
        {
            "drug": worst.index,
            "runs": worst["runs"].map(fmt_num),
            "RMSE": worst["rmse"].map(fmt_num),
            "per-drug r": worst["r"].map(fmt_num),
            "mean observed ln IC50": worst["observed"].map(fmt_num),
            "mean predicted": worst["predicted"].map(fmt_num),
            "outside screened range": [
                f"{c / n:.0%}" if basis and n > 0 else "n/a"
                for c, n in zip(worst["flagged"], worst["judged"], strict=True)
            ],
        }
    )
    blocks += [
        Para(
            f"The 10 drugs the default model predicts worst on **{split}** (RMSE over each drug's "
            f"test cells, mean over seeds; {len(per_drug)} drugs in all). Most miss by the drug's "
            'overall level (mean predicted against mean observed). "Outside screened range" is '
            "the share of the drug's pairs whose IC50 lies beyond the highest or lowest screened "
            "concentration: those ln IC50 values are extrapolations of the fitted curve."
            + BASIS_TEXT.get(basis, "")
        ),
        Table(table),
        Para(
            "A breakdown by target pathway is not given: the featurized dataset carries no "
            "pathway annotation."
            + (
                ' "Outside screened range" reads n/a: this dataset\'s response table records '
                "ln IC50 only, without each measurement's screened concentrations, so such "
                "values cannot be recognised in it (CCLE's capped values could be)."
                if basis is None
                else ""
            )
        ),
    ]
    return blocks


def _interval_kinds(study: Study) -> str:
    """Which interval the forest plot draws, per kind of split present."""
    splits = set(study.answers["split"])
    kinds = []
    if splits - {EXTERNAL}:
        kinds.append("Nadeau–Bengio corrected resampled t on cross-validation splits")
    if EXTERNAL in splits:
        kinds.append("seed + drug-bootstrap t on the external set")
    return "; ".join(kinds)


def forest_section(study: Study, out_dir: Path) -> list[Block]:
    blocks: list[Block] = [Heading("Paired differences")]
    if study.answers.empty:
        blocks.append(Para("No comparisons were produced by this study."))
    else:
        blocks.append(
            figure(
                plots.forest_plot(study.answers, study.splits),
                out_dir,
                "fig_forest.png",
                "forest plot",
                "Mean paired RMSE difference attention − twin with its interval ("
                + _interval_kinds(study)
                + "; level beside each row: primary rows adjusted), one panel per split; "
                "green band = the declared equivalence margin; colour = verdict.",
            )
        )
    return blocks


def figures_sections(study: Study, out_dir: Path) -> list[Block]:
    default = study.default_variant
    blocks: list[Block] = [Heading("Predicted vs observed")]
    preds = study.predictions
    if not preds.empty:
        first = preds["seed"].min()
        preds = preds[(preds["variant"] == default) & (preds["seed"] == first)]
    marks = (
        "orange crosses: the measured IC50 lies outside the screened concentration range (an "
        "extrapolated value)."
        if plots.outside_range_basis(preds)
        else "no pair can be marked as outside the screened concentration range: the dataset "
        "records no screened ranges."
    )
    blocks.append(
        figure(
            plots.pred_vs_obs(preds, default, study.splits),
            out_dir,
            "fig_pred_vs_obs.png",
            "predicted vs observed",
            f"Test predictions of {default}, a random sample of each fold (first seed); "
            f"dashed = identity; {marks}",
        )
    )
    blocks.append(Heading("Per-drug correlation"))
    variants = list(dict.fromkeys([default, *study.twins, *study.models, *study.baselines]))
    roles = {v: "baseline" for v in study.baselines}
    roles.update({v: "twin" for v in study.models})
    roles[default] = "default"
    drugs = study.groups[study.groups["kind"] == "drug"] if not study.groups.empty else study.groups
    blocks.append(
        figure(
            plots.per_drug_r_plot(drugs, variants, study.splits, roles),
            out_dir,
            "fig_per_drug_r.png",
            "per-drug Pearson r",
            "Pearson r across cell lines within each test drug (first seed, every fold): the "
            "default variant, every other model of the study (the twins of its questions) and "
            "the baselines. A constant prediction scores 0.",
        )
    )
    blocks.append(Heading("Learning curves"))
    blocks.append(
        figure(
            plots.learning_curves(study.history, study.models, study.splits),
            out_dir,
            "fig_learning_curves.png",
            "learning curves",
            "Validation RMSE per epoch (early-stopping set, never the test fold): mean over "
            "folds × seeds, band = min–max; runs end at early stopping, and a line ends where "
            "fewer than half of its runs still train.",
        )
    )
    return blocks
