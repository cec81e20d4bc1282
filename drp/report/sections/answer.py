"""The answer sections: the verdict on each declared question with how sure it is, the table
of every paired comparison, and the per-drug mixed-model tests on new drugs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from drp.report import plots
from drp.report.blocks import (
    Block,
    Heading,
    Para,
    Table,
    fmt_num,
    fmt_p,
    fmt_signed,
    fold_change,
    fold_change_pct,
    split_phrase,
)
from drp.report.sections.design import convergence_text
from drp.report.study_dir import Study
from drp.report.writers import VERDICT_CLASS
from drp.study.presets import EXTERNAL, MARGINS

_VERDICT_ORDER = ("helps", "equivalent", "hurts", "inconclusive")


def _level(x: float) -> str:
    return f"{100 * float(x):.4g}%"


def _interval(r: object) -> str:
    return f"{fmt_num(r.mean_diff)} [{fmt_num(r.ci_low)}, {fmt_num(r.ci_high)}]"  # type: ignore[attr-defined]


_METRIC_NAMES = {"rmse": "RMSE", "per_drug_r": "per-drug r"}


def _runs(n: int, split: str) -> str:
    unit = "seed" if split == EXTERNAL else "paired run"
    return f"{n} {unit}{'s' if n != 1 else ''}"


def _margin_words(r: object) -> tuple[str, str]:
    """(``±0.05``, `` (±5% in IC50 fold-change)``) for RMSE; no scale for other metrics."""
    margin = float(r.margin)  # type: ignore[attr-defined]
    if not np.isfinite(margin):
        return "undeclared", ""
    if r.metric != "rmse":  # type: ignore[attr-defined]
        return f"±{margin:g}", ""
    return f"±{margin:g}", f" (±{fold_change_pct(margin)} in IC50 fold-change)"


def _endpoint_clause(r: object) -> str:
    """One endpoint of a question in words that claim no more than its verdict."""
    name = _METRIC_NAMES.get(r.metric, r.metric)  # type: ignore[attr-defined]
    unit = " ln IC50" if r.metric == "rmse" else ""  # type: ignore[attr-defined]
    lo, hi, mean = float(r.ci_low), float(r.ci_high), float(r.mean_diff)  # type: ignore[attr-defined]
    margin = float(r.margin)  # type: ignore[attr-defined]
    interval = f"[{fmt_signed(lo)}, {fmt_signed(hi)}]"
    verdict = r.verdict  # type: ignore[attr-defined]
    if verdict == "equivalent":
        m, scale = _margin_words(r)
        scale = scale.replace(" (±", ", i.e. ±").rstrip(")")
        return f"{name} difference {fmt_signed(mean)} {interval}{unit} (within {m}{scale})"
    if verdict in ("helps", "hurts"):
        word = "lower" if mean < 0 else "higher"
        near, far = sorted((abs(lo), abs(hi)))
        size = f"{fmt_num(abs(mean))} [{fmt_num(near)}, {fmt_num(far)}]"
        notes = []
        if r.metric == "rmse":  # type: ignore[attr-defined]
            change = "smaller" if mean < 0 else "larger"
            notes.append(f"typical IC50 error about {fold_change_pct(mean)} {change}")
        if np.isfinite(margin) and near >= margin:
            notes.append(f"the whole interval beyond the ±{margin:g} margin")
        else:
            notes.append(
                f"though the interval reaches inside the ±{margin:g} margin, so the difference "
                "may be too small to matter"
            )
        return f"{word} {name} by {size}{unit} ({'; '.join(notes)})"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{name}: no interval could be computed, so the study cannot tell"
    how = "is wider than" if hi - lo > 2 * margin else "reaches beyond"
    m, scale = _margin_words(r)
    return (
        f"{name} difference {fmt_signed(mean)} {interval}{unit}: the interval includes zero but "
        f"{how} the {m} margin{scale}, so the study cannot tell whether they differ"
    )


def question_sentence(rows: pd.DataFrame, design: dict | None = None) -> str:
    """One plain-English sentence for a declared question from its primary rows (one per
    endpoint, all on the question's primary split)."""
    first = rows.iloc[0]
    verdicts = list(dict.fromkeys(rows["verdict"]))
    levels = ", ".join(dict.fromkeys(_level(x) for x in rows["ci_level"]))
    head = (
        f"**{first['question']}** (`{first['attention']}` vs `{first['twin']}`, "
        f"{_runs(int(first['n_pairs']), str(first['split']))}, {levels} "
        f"CI{'s' if len(rows) > 1 else ''})"
    )
    where = split_phrase(str(first["split"]), design)
    clauses = [_endpoint_clause(r) for r in rows.itertuples()]
    tail = "."
    if len(verdicts) == 1:
        return f"{head} — **{verdicts[0]}** {where}: " + "; ".join(clauses) + tail
    parts = []
    for r, clause in zip(rows.itertuples(), clauses, strict=True):
        name = _METRIC_NAMES.get(r.metric, r.metric)
        parts.append(f"{name} **{r.verdict}**: {clause.removeprefix(name + ' ')}")
    return f"{head} — {where}: " + "; ".join(parts) + tail


def interval_text(study: Study) -> str:
    """Which interval each split's rows carry, and how the per-drug intervals differ."""
    a = study.answers
    present = set(a["split"]) if not a.empty else set()
    cv = [s for s in study.splits if s in present and s != EXTERNAL]
    cv += sorted(s for s in present if s not in cv and s != EXTERNAL)
    parts = []
    if cv:
        parts.append(
            f"Intervals on the cross-validation splits ({', '.join(cv)}) are Nadeau–Bengio "
            "corrected resampled t intervals, which widen for the training data that folds share."
        )
    if EXTERNAL in present:
        parts.append(
            "On the external new-drug set every seed trains on the same pairs and is tested on "
            "the same drugs, so its intervals are seed + drug-bootstrap intervals instead: mean ± "
            "t_{J−1} · √(s_seed²/J + s_drug²), s_seed the sd of the J seed-level differences and "
            "s_drug that of the seed-averaged difference over bootstrap draws of the test drugs; "
            "no fold-overlap correction."
        )
    if not study.per_drug_tests.empty:
        parts.append(
            per_drug_reconcile(
                "The per-drug mixed-model intervals (per-drug analysis below)",
                "the new-drug rows' intervals here",
            )
        )
    return " ".join(parts)


def per_drug_reconcile(theirs: str, ours: str) -> str:
    """Why the per-drug mixed-model intervals (``theirs``) and the drug-blind rows' corrected
    t intervals (``ours``) differ."""
    return (
        f"{theirs} measure another quantity than {ours}: the mean over drugs of each drug's RMSE "
        "difference, at 95%, unadjusted and without any fold-overlap correction, against the "
        "difference of each run's RMSE over all its test pairs, corrected for the training data "
        "that folds share (and Bonferroni-adjusted only where drug-blind is a question's primary "
        "split); so one can exclude zero while the other does not."
    )


_PLAIN = {
    "helps": "better {name}",
    "hurts": "worse {name}",
    "equivalent": "no difference in {name} that matters (within the margin)",
    "inconclusive": "the data cannot tell on {name}",
}
_UNIFORM = {
    "helps": "yes — `{att}` is better on {name}",
    "hurts": "no — `{att}` is worse on {name}",
    "equivalent": "no difference that matters — the differences in {name} lie within the declared margins",
    "inconclusive": "not known — the intervals on {name} are too wide to tell",
}
#: a per-drug r gap below this (the declared per-drug r margin on drug-blind) counts as level
RANKING_LEVEL = MARGINS["per_drug_r"]["drug_blind"]


def plain_sentence(rows: pd.DataFrame) -> str:
    """The answer to one declared question in plain words: better, worse, no difference that
    matters, or cannot tell (per endpoint where they disagree); with the interval level."""
    first = rows.iloc[0]
    names: dict[str, list[str]] = {}
    for r in rows.itertuples():
        names.setdefault(r.verdict, []).append(_METRIC_NAMES.get(r.metric, r.metric))
    if len(names) == 1:  # every endpoint has one verdict: say it once
        verdict, metrics = next(iter(names.items()))
        answer = _UNIFORM[verdict].format(name=" and ".join(metrics), att=first["attention"])
    else:
        answer = "mixed — " + "; ".join(
            _PLAIN[v].format(name=" or ".join(n)) for v, n in names.items()
        )
    level = ", ".join(dict.fromkeys(_level(x) for x in rows["ci_level"]))
    question = str(first["question"])
    return f"**{question[0].upper()}{question[1:]}:** {answer} ({level} intervals)."


def ranking_text(study: Study) -> str:
    """How the default model ranks the cells within a new drug against the cell mean (each
    cell's mean ln IC50 over the training drugs): mean per-drug r per new-drug split."""
    r = study.results
    if "per_drug_r" not in r:
        return ""
    parts, gaps = [], []
    for split in (EXTERNAL, "drug_blind", "cluster_blind"):
        here = r[r["split"] == split]
        ours = here[here["variant"] == study.default_variant]["per_drug_r"].mean()
        cells = here[here["variant"] == "cell_mean"]["per_drug_r"].mean()
        if not (np.isfinite(ours) and np.isfinite(cells)):
            continue
        parts.append(
            f"{split_phrase(split, study.design)} {fmt_num(ours)} against the cell mean's "
            f"{fmt_num(cells)}"
        )
        gaps.append(ours - cells)
    if not parts:
        return ""
    head = (
        "**Ranking the cells within a new drug** (mean per-drug r over runs, no interval): "
        f"`{study.default_variant}` scores " + "; ".join(parts) + ". "
    )
    if max(abs(g) for g in gaps) < RANKING_LEVEL:
        return head + (
            "Ranking the cells by their mean sensitivity to the training drugs (the cell mean) "
            f"does as well to within {RANKING_LEVEL:g}: the model adds next to nothing to which "
            "cells respond to a new compound."
        )
    return head + (
        f"The gap reaches {fmt_signed(max(gaps, key=abs))} somewhere, more than the "
        f"{RANKING_LEVEL:g} that counts as level; these are means, not tested here."
    )


def answer_section(study: Study) -> list[Block]:
    blocks: list[Block] = [Heading("The answer")]
    a = study.answers
    if a.empty:
        return [*blocks, Para("This study produced no answers (answers.csv is missing).")]
    primary = a[a["role"] == "primary"]
    counts = primary["verdict"].value_counts()
    summary = ", ".join(f"{counts[v]} {v}" for v in _VERDICT_ORDER if v in counts)
    n_questions = primary["question"].nunique()
    metrics = set(primary["metric"])
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
        endpoints = (
            "verdicts on their primary endpoint"
            if len(primary) == n_questions
            else f"verdicts on their {len(primary)} primary endpoints"
        )
        what = "RMSE difference" if metrics == {"rmse"} else "difference of each endpoint"
        blocks.append(
            Para(
                f"**{n_questions} declared questions, {endpoints}: {summary}.** Each verdict "
                f"compares the paired {what} (attention − twin, same training data and seeds) "
                "with an equivalence margin declared before the runs; RMSE in ln IC50, where an "
                "RMSE of r is a typical IC50 error of about e^r-fold."
            )
        )
    for _, rows in primary.groupby("question", sort=False):
        blocks.append(Para(plain_sentence(rows)))
    if not primary.empty:
        blocks.append(Table(_primary_table(primary)))
        blocks.append(Heading("Each answer in detail", 3))
    for _, rows in primary.groupby("question", sort=False):
        blocks.append(Para(question_sentence(rows, study.design)))
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
                f"{r.split}: {fmt_num(r.mean_attention)} ({fold_change(r.mean_attention)}) "
                f"against `{r.twin}` {fmt_num(r.mean_twin)} ({fold_change(r.mean_twin)}), "
                f"so it {word}{_unadjusted_only(r)} (difference {_interval(r)}, 95% CI, "
                f"{_runs(r.n_pairs, r.split)})"
            )
        blocks.append(
            Para(
                f"**Does the default model (`{study.default_variant}`) beat the best baseline?** "
                "Mean test RMSE per split (with the typical IC50 error it means): "
                + "; ".join(parts)
                + "."
            )
        )
    ranking = ranking_text(study)
    if ranking:
        blocks.append(Para(ranking))
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
            + "an unadjusted 95% interval unless marked adjusted. "
            + interval_text(study)
            + " "
            + convergence_text(study)
        )
    )
    return blocks


def _primary_table(primary: pd.DataFrame) -> pd.DataFrame:
    """One row per primary endpoint: the question, the difference with its interval, the
    margin and the verdict."""
    return pd.DataFrame(
        {
            "question": primary["question"],
            "compared": primary["attention"] + " vs " + primary["twin"],
            "endpoint": primary["metric"].map(lambda m: _METRIC_NAMES.get(m, m)),
            "difference [CI]": [_interval(r) for r in primary.itertuples()],
            "margin": primary["margin"].map(lambda m: f"±{m:g}" if np.isfinite(m) else "–"),
            "verdict": primary["verdict"].map(lambda v: f"**{v}**"),
        }
    )


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
            "ln IC50 units, lower is better; per-drug r: higher is better. p-values are "
            "Holm-adjusted within their own family: the primary rows together, and the baseline "
            "rows together. A baseline row's helps or hurts reads its unadjusted interval; where "
            "the family's Holm p is 0.05 or more it is marked *unadjusted only*."
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
                "margin": f"±{r.margin:g}" if np.isfinite(r.margin) else "–",
                "p (Holm)": fmt_p(r.p_holm) if np.isfinite(r.p_holm) else f"{fmt_p(r.p)} (unadj.)",
                "verdict": f"**{r.verdict}**" + _unadjusted_only(r),
            }
        )
        classes[(i, "verdict")] = VERDICT_CLASS.get(r.verdict, "")
    blocks.append(Table(pd.DataFrame(rows), classes))
    return blocks


def _unadjusted_only(row) -> str:
    """`` (unadjusted only)`` for a baseline row whose interval excludes zero while its family's
    Holm-adjusted p does not reach 0.05, else ``""``."""
    decisive = row.verdict in ("helps", "hurts")
    return (
        " (unadjusted only)" if decisive and row.role == "baseline" and row.p_holm >= 0.05 else ""
    )


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
            "somewhat optimistic. Unadjusted 95% intervals. "
            + per_drug_reconcile("These intervals", "the new-drug rows' corrected t intervals")
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
