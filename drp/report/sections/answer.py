"""The answer sections: the verdict on each declared question with how sure it is, the table
of every paired comparison, and the per-drug mixed-model tests on new drugs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from drp.report import plots
from drp.report.blocks import Block, Heading, Para, Table, fmt_num, fmt_p
from drp.report.sections.design import convergence_text
from drp.report.study_dir import Study
from drp.report.writers import VERDICT_CLASS

_VERDICT_ORDER = ("helps", "equivalent", "hurts", "inconclusive")


def _level(x: float) -> str:
    return f"{100 * float(x):.4g}%"


def _interval(r: object) -> str:
    return f"{fmt_num(r.mean_diff)} [{fmt_num(r.ci_low)}, {fmt_num(r.ci_high)}]"  # type: ignore[attr-defined]


def _answer_sentence(r: object) -> str:
    """Plain-language verdict of one primary answer row."""
    ci = f"{_level(r.ci_level)} CI {fmt_num(r.ci_low)} to {fmt_num(r.ci_high)}"  # type: ignore[attr-defined]
    margin = f"±{r.margin:g}"  # type: ignore[attr-defined]
    mean = float(r.mean_diff)  # type: ignore[attr-defined]
    if r.verdict == "equivalent":  # type: ignore[attr-defined]
        return (
            f"the RMSE difference is {fmt_num(mean)} ({ci}), inside the declared margin of "
            f"{margin}: no difference that matters."
        )
    if r.verdict in ("helps", "hurts"):  # type: ignore[attr-defined]
        change = "lowers" if mean < 0 else "raises"
        return f"`{r.attention}` {change} RMSE by {fmt_num(abs(mean))} ({ci}); margin {margin}."  # type: ignore[attr-defined]
    need = (
        f"equivalence would have needed an sd of paired differences of at most "
        f"{fmt_num(r.sd_needed)} (observed {fmt_num(r.sd_diff)})"  # type: ignore[attr-defined]
        if np.isfinite(r.sd_needed)  # type: ignore[attr-defined]
        else "the observed difference itself lies outside the margin"
    )
    return (
        f"the RMSE difference is {fmt_num(mean)}, but its {ci} reaches beyond the {margin} margin, "
        f"so the study cannot tell; {need}. The minimum effect this design detects with 80% "
        f"power is {fmt_num(r.mde80)}."  # type: ignore[attr-defined]
    )


def answer_section(study: Study) -> list[Block]:
    blocks: list[Block] = [Heading("The answer")]
    a = study.answers
    if a.empty:
        return [*blocks, Para("This study produced no answers (answers.csv is missing).")]
    primary = a[a["role"] == "primary"]
    counts = primary["verdict"].value_counts()
    summary = ", ".join(f"{counts[v]} {v}" for v in _VERDICT_ORDER if v in counts)
    if primary.empty:
        asked = sorted({q["primary_split"] for q in study.design.get("questions", [])})
        blocks.append(
            Para(
                "**No verdict: none of the declared questions' primary splits ("
                + ", ".join(asked)
                + f") is in this study's grid ({', '.join(study.splits)}).** This preset checks "
                "the path; `drp study --preset standard` answers the questions."
            )
        )
    else:
        blocks.append(
            Para(
                f"**{len(primary)} declared questions, verdicts on their primary endpoint: "
                f"{summary}.** Each verdict compares the paired RMSE difference (attention − "
                "twin, same folds and seeds) with an equivalence margin declared before the runs."
            )
        )
    for r in primary.itertuples():
        blocks.append(
            Para(
                f"**{r.question}** (`{r.attention}` vs `{r.twin}`, {r.split}, {r.n_pairs} paired "
                f"runs): **{r.verdict}**: {_answer_sentence(r)}"
            )
        )
    base = a[(a["role"] == "baseline") & (a["attention"] == study.default_variant)]
    if not base.empty:
        parts = []
        for r in base.itertuples():
            word = {
                "helps": "beats it",
                "hurts": "loses to it",
                "equivalent": "is level with it",
                "inconclusive": "cannot be told apart from it",
            }[r.verdict]
            parts.append(
                f"{r.split}: {fmt_num(r.mean_attention)} against `{r.twin}` {fmt_num(r.mean_twin)}, "
                f"so it {word} (difference {_interval(r)}, 95% CI, {r.n_pairs} "
                f"run{'s' if r.n_pairs != 1 else ''})"
            )
        blocks.append(
            Para(
                f"**Does the default model (`{study.default_variant}`) beat the best baseline?** "
                "Mean test RMSE per split: " + "; ".join(parts) + "."
            )
        )
    family = ""
    if len(primary):
        named = study.design.get("family", {}).get("primary", "")
        family = (
            f"The primary endpoints form one family ({named}): their intervals are "
            f"Bonferroni-adjusted ({_level(primary['ci_level'].iloc[0])} each) and their "
            "p-values Holm-adjusted. Every other row (secondary splits, per-drug r, baselines) "
            "is "
        )
    blocks.append(
        Para(
            "**How sure.** "
            + (family or "Every row is ")
            + "an unadjusted 95% interval unless marked adjusted. All intervals are Nadeau–Bengio "
            "corrected resampled t intervals, which widen for the training data that folds "
            "share. " + convergence_text(study)
        )
    )
    return blocks


def verdict_section(study: Study) -> list[Block]:
    blocks: list[Block] = [Heading("All comparisons")]
    a = study.answers
    if a.empty:
        return [*blocks, Para("No comparisons were produced by this study.")]
    blocks.append(
        Para(
            "Every paired comparison: primary rows first (adjusted intervals), then secondary "
            "splits and metrics, then each model against the best baseline of each split "
            "(unadjusted 95%). Differences are attention − twin (or model − baseline); RMSE in "
            "ln IC50 units, lower is better; per-drug r: higher is better."
        )
    )
    order = {"primary": 0, "secondary": 1, "baseline": 2}
    a = a.assign(_o=a["role"].map(order)).sort_values("_o", kind="stable")
    rows, classes = [], {}
    for i, r in enumerate(a.itertuples()):
        rows.append(
            {
                "comparison": f"{r.question} ({r.attention} vs {r.twin})",
                "split": r.split,
                "metric": plots.METRIC_LABELS.get(r.metric, r.metric),
                "role": r.role,
                "runs": r.n_pairs,
                "means": f"{fmt_num(r.mean_attention)} vs {fmt_num(r.mean_twin)}",
                "difference [CI]": _interval(r),
                "CI level": _level(r.ci_level) + (" adj." if r.adjusted else ""),
                "margin": f"±{r.margin:g}",
                "p (Holm)": fmt_p(r.p_holm) if np.isfinite(r.p_holm) else f"{fmt_p(r.p)} (unadj.)",
                "verdict": f"**{r.verdict}**",
            }
        )
        classes[(i, "verdict")] = VERDICT_CLASS.get(r.verdict, "")
    blocks.append(Table(pd.DataFrame(rows), classes))
    return blocks


def per_drug_tests_section(study: Study) -> list[Block]:
    t = study.per_drug_tests
    if not t.empty:
        t = t[t["n_runs"] >= 2]
    blocks: list[Block] = [Heading("Per-drug analysis on new drugs")]
    if t.empty:
        return [*blocks, Para("No per-drug analysis was produced (no drug-blind runs).")]
    blocks.append(
        Para(
            "On drug-blind splits each drug is predicted by a model that never saw it. Per drug, "
            "d = RMSE(attention) − RMSE(twin) is fitted by a linear mixed model d ~ 1 + (1 | "
            "fold run) (statsmodels MixedLM, REML): the intercept is the mean per-drug "
            "difference, the random intercept absorbs what a (fold, seed) run shares. "
            "Assumptions: drugs are exchangeable within a run, effects are normal, and a drug's "
            "results under different seeds are treated as independent, which makes the interval "
            "somewhat optimistic. Unadjusted 95% intervals."
        )
    )
    frame = pd.DataFrame(
        {
            "question": t["question"],
            "split": t["split"],
            "drugs": t["n_drugs"].map(fmt_num),
            "runs": t["n_runs"].map(fmt_num),
            "mean per-drug Δ RMSE [95% CI]": [
                f"{fmt_num(e)} [{fmt_num(lo)}, {fmt_num(hi)}]"
                for e, lo, hi in zip(t["estimate"], t["ci_low"], t["ci_high"], strict=True)
            ],
            "p": t["p"].map(fmt_p),
        }
    )
    return [*blocks, Table(frame)]
