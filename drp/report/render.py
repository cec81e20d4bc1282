"""Render a finished study directory into ``report.md`` and a self-contained ``report.html``.

Both files are written from one list of blocks (heading, paragraph, table, figure, code), so
they always hold the same content. Figures are written as PNGs beside the reports; the markdown
links them, the HTML embeds them as base64 data URIs (no external resources).
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from drp.core.files import atomic_write, atomic_write_text
from drp.report import plots
from drp.report.faithfulness import faithfulness_summary
from drp.report.study_dir import METRICS, Study, load_study, summary_table

QUESTION = "Does graph attention help predict drug response?"


# --------------------------------------------------------------------------- document blocks
@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Para:
    """Text with inline ``**bold**`` and ```code``` only."""

    text: str


@dataclass
class Table:
    """A table; ``classes`` maps (row position, column name) to a CSS class for the HTML."""

    frame: pd.DataFrame
    classes: dict[tuple[int, str], str] = field(default_factory=dict)


@dataclass
class Image:
    path: Path
    alt: str
    caption: str = ""


@dataclass
class Gallery:
    """Images laid out side by side in HTML (one after another in markdown)."""

    images: list[Image]


@dataclass
class Code:
    text: str
    lang: str = ""


Block = Heading | Para | Table | Image | Gallery | Code


# --------------------------------------------------------------------------- formatting helpers
def _num(x: object, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "–"
    if isinstance(x, (bool, np.bool_)):
        return str(x)
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}"
    if isinstance(x, dict):
        return ", ".join(f"{k}: {_num(v, digits)}" for k, v in x.items())
    if not isinstance(x, (float, np.floating)):
        return str(x)
    return f"{float(x):.{digits}f}".replace("-", "−")


def _p(x: object) -> str:
    if x is None or not np.isfinite(float(x)):  # type: ignore[arg-type]
        return "–"
    x = float(x)  # type: ignore[arg-type]
    return "<0.001" if x < 0.001 else f"{x:.3f}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"


def _inline_html(text: str) -> str:
    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def _md_cell(x: object) -> str:
    return str(x).replace("|", "\\|").replace("\n", " ")


# --------------------------------------------------------------------------- writers
def to_markdown(blocks: Sequence[Block], out_dir: Path) -> str:
    """Markdown with figures linked relative to ``out_dir``."""
    lines: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            lines += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Para):
            lines += [b.text, ""]
        elif isinstance(b, Table):
            cols = [str(c) for c in b.frame.columns]
            lines.append("| " + " | ".join(_md_cell(c) for c in cols) + " |")
            lines.append("|" + "|".join("---" for _ in cols) + "|")
            for row in b.frame.itertuples(index=False):
                lines.append("| " + " | ".join(_md_cell(v) for v in row) + " |")
            lines.append("")
        elif isinstance(b, (Image, Gallery)):
            for im in b.images if isinstance(b, Gallery) else [b]:
                rel = im.path.relative_to(out_dir).as_posix()
                lines.append(f"![{im.alt}]({rel})")
                if im.caption:
                    lines += ["", f"*{im.caption}*"]
                lines.append("")
        elif isinstance(b, Code):
            lines += [f"```{b.lang}", b.text, "```", ""]
    return "\n".join(lines).rstrip() + "\n"


_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1150px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #333; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: .15em; margin-top: 2em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.helps, td.faithful { background: #d9f0d3; }
td.equivalent { background: #dbe6f4; }
td.hurts, td.decorative { background: #f8d0cc; }
td.noev, td.insufficient { background: #eeeeee; }
img { max-width: 100%; }
figure { margin: .5em 0 1.5em; }
figcaption { font-size: 13px; color: #444; }
.gallery { display: flex; flex-wrap: wrap; gap: 12px; }
.gallery figure { width: 360px; margin: 0; border: 1px solid #ddd; padding: 6px; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; font-size: 12px; }
code { background: #f3f3f3; padding: 0 3px; }
"""


def _figure_html(im: Image) -> str:
    data = base64.b64encode(im.path.read_bytes()).decode("ascii")
    cap = f"<figcaption>{_inline_html(im.caption)}</figcaption>" if im.caption else ""
    return f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(im.alt)}">{cap}</figure>'


def to_html(blocks: Sequence[Block], title: str) -> str:
    """One self-contained HTML page: inline CSS, images as data URIs."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
    ]
    for b in blocks:
        if isinstance(b, Heading):
            anchor = _slug(b.text.lower())
            parts.append(f'<h{b.level} id="{anchor}">{html.escape(b.text)}</h{b.level}>')
        elif isinstance(b, Para):
            parts.append(f"<p>{_inline_html(b.text)}</p>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{html.escape(str(c))}</th>" for c in b.frame.columns)
            rows = []
            for i, row in enumerate(b.frame.itertuples(index=False)):
                cells = []
                for col, v in zip(b.frame.columns, row, strict=True):
                    cls = b.classes.get((i, str(col)))
                    attr = f' class="{cls}"' if cls else ""
                    cells.append(f"<td{attr}>{_inline_html(str(v))}</td>")
                rows.append("<tr>" + "".join(cells) + "</tr>")
            parts.append(
                f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            )
        elif isinstance(b, Image):
            parts.append(_figure_html(b))
        elif isinstance(b, Gallery):
            parts.append(
                '<div class="gallery">' + "".join(_figure_html(i) for i in b.images) + "</div>"
            )
        elif isinstance(b, Code):
            parts.append(f"<pre><code>{html.escape(b.text)}</code></pre>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------- sections
_VERDICT_CLASS = {
    "helps": "helps",
    "hurts": "hurts",
    "equivalent": "equivalent",
    "inconclusive": "noev",
    "faithful": "faithful",
    "anti-faithful": "decorative",
    "unclear": "noev",
}
DRUG_BLIND_SPLITS = ("drug_blind", "cluster_blind")


def _level(x: float) -> str:
    return f"{100 * float(x):.4g}%"


def _interval(r: object) -> str:
    return f"{_num(r.mean_diff)} [{_num(r.ci_low)}, {_num(r.ci_high)}]"  # type: ignore[attr-defined]


def _answer_sentence(r: object) -> str:
    """Plain-language verdict of one primary answer row."""
    ci = f"{_level(r.ci_level)} CI {_num(r.ci_low)} to {_num(r.ci_high)}"  # type: ignore[attr-defined]
    margin = f"±{r.margin:g}"  # type: ignore[attr-defined]
    mean = float(r.mean_diff)  # type: ignore[attr-defined]
    if r.verdict == "equivalent":  # type: ignore[attr-defined]
        return (
            f"the RMSE difference is {_num(mean)} ({ci}), inside the declared margin of "
            f"{margin}: no difference that matters."
        )
    if r.verdict in ("helps", "hurts"):  # type: ignore[attr-defined]
        change = "lowers" if mean < 0 else "raises"
        return f"`{r.attention}` {change} RMSE by {_num(abs(mean))} ({ci}); margin {margin}."  # type: ignore[attr-defined]
    need = (
        f"equivalence would have needed an sd of paired differences of at most "
        f"{_num(r.sd_needed)} (observed {_num(r.sd_diff)})"  # type: ignore[attr-defined]
        if np.isfinite(r.sd_needed)  # type: ignore[attr-defined]
        else "the observed difference itself lies outside the margin"
    )
    return (
        f"the RMSE difference is {_num(mean)}, but its {ci} reaches beyond the {margin} margin, "
        f"so the study cannot tell; {need}. The minimum effect this design detects with 80% "
        f"power is {_num(r.mde80)}."  # type: ignore[attr-defined]
    )


def _answer_section(study: Study) -> list[Block]:
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
                f"{r.split}: {_num(r.mean_attention)} against `{r.twin}` {_num(r.mean_twin)}, "
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
            "share. " + _convergence_text(study)
        )
    )
    return blocks


_VERDICT_ORDER = ("helps", "equivalent", "hurts", "inconclusive")


def _convergence_text(study: Study) -> str:
    r = study.results
    models = r[r["variant"].isin(study.models)]
    if models.empty or "epochs" not in models:
        return ""
    cap = study.meta.get("grid", {}).get("epochs", 0)
    stopped = float((models["epochs"] < cap).mean()) if cap else float("nan")
    best = models["best_epoch"] if "best_epoch" in models else models["epochs"]
    rest = (
        f"; the other {1 - stopped:.0%} ran the whole annealed schedule, whose learning rate "
        "decays to near zero by its end"
        if stopped < 1
        else ""
    )
    return (
        f"Every model trained with early stopping on its validation part (at most {cap} epochs): "
        f"{stopped:.0%} of the {len(models)} runs stopped early{rest} (median best epoch "
        f"{float(best.median()):.0f})."
    )


def _seed_spread(study: Study) -> pd.DataFrame:
    """The default model's sd of test RMSE between the seeds of one fold index, per split (each
    seed draws its own folds, so this is the spread of a repetition: new folds and a new
    initialisation)."""
    r = study.results[study.results["variant"] == study.default_variant]
    rows = []
    for split, g in r.groupby("split", sort=False):
        per_fold = g.groupby("fold")["rmse"]
        sd = per_fold.std(ddof=1).dropna()
        if len(sd):
            rows.append(
                {
                    "split": split,
                    "fold indices with ≥ 2 seeds": len(sd),
                    "sd of RMSE between repetitions": _num(float(np.sqrt((sd**2).mean()))),
                }
            )
    return pd.DataFrame(rows)


def _seed_spread_blocks(study: Study) -> list[Block]:
    spread = _seed_spread(study)
    if spread.empty:
        return [Para("(No fold was trained with two seeds yet, so the spread is not measured.)")]
    return [Table(spread)]


def _design_section(study: Study) -> list[Block]:
    blocks: list[Block] = [Heading("Declared design")]
    a = study.answers
    if not study.design or a.empty:
        return [*blocks, Para("No declared design was recorded (design.json is missing).")]
    rows = []
    for q in study.design.get("questions", []):
        hit = a[(a["question"] == q["name"]) & (a["role"] == "primary")]
        r = hit.iloc[0] if len(hit) else None
        rows.append(
            {
                "question": q["name"],
                "attention vs twin": f"{q['attention']} vs {q['twin']}",
                "primary split": q["primary_split"],
                "secondary": ", ".join(q["secondary_splits"]) or "–",
                "margin (RMSE)": _num(r.margin if r is not None else np.nan),
                "paired runs": _num(int(r.n_pairs)) if r is not None else "–",
                "sd of differences": _num(r.sd_diff if r is not None else np.nan),
                "MDE at 80% power": _num(r.mde80 if r is not None else np.nan),
                "floor of the half-width": _num(r.floor_half_width if r is not None else np.nan),
            }
        )
    margins = study.design.get("margins", {})
    blocks += [
        Para(
            "Declared in the preset before any run: each question's primary split and metric "
            "(RMSE), its secondary splits, and the equivalence margins "
            + "; ".join(
                f"{metric}: " + ", ".join(f"{s} ±{m:g}" for s, m in by_split.items())
                for metric, by_split in margins.items()
            )
            + ". Drug-encoder questions are asked where drugs are new (drug-blind, and "
            "cluster-blind beside it); on mixed and cell-blind splits every test drug was seen "
            "in training. The fusion question is asked cell-blind."
        ),
        Table(pd.DataFrame(rows)),
        Para(
            "**Why these margins.** A margin is the smallest difference that would matter. "
            "Retraining the default model with another seed (which also draws other folds) moved "
            "its fold-0 test RMSE by sd 0.127 on drug-blind and 0.011 on mixed (three seeds, "
            'benchmarks/RESULTS.md, "Time to accuracy"); this study\'s own spread between its '
            "two repetitions of each fold index is in the table. A difference inside ±0.05 is "
            "well under what a repetition does on new drugs, and ±0.02 is about twice the "
            "repetition spread where drugs are known (cell-blind: about one spread)."
        ),
        *_seed_spread_blocks(study),
        Para(
            "**Power and its floor.** The corrected interval's half-width is t · √(1/J + "
            "n_test/n_train) · sd. More folds and seeds shrink 1/J but not n_test/n_train, so "
            "the half-width never falls below the floor in the table, however many runs are "
            "added. MDE: the smallest true difference this design detects with 80% power at "
            "its interval level. "
            + ", ".join(
                f"{s}: n_train {_num(int(n))}, n_test {_num(int(study.design['n_test'][s]))}"
                for s, n in study.design.get("n_train", {}).items()
            )
            + " (pairs a model is fitted on, validation excluded; test pairs of one fold)."
        ),
    ]
    return blocks


def _verdict_section(study: Study) -> list[Block]:
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
                "means": f"{_num(r.mean_attention)} vs {_num(r.mean_twin)}",
                "difference [CI]": _interval(r),
                "CI level": _level(r.ci_level) + (" adj." if r.adjusted else ""),
                "margin": f"±{r.margin:g}",
                "p (Holm)": _p(r.p_holm) if np.isfinite(r.p_holm) else f"{_p(r.p)} (unadj.)",
                "verdict": f"**{r.verdict}**",
            }
        )
        classes[(i, "verdict")] = _VERDICT_CLASS.get(r.verdict, "")
    blocks.append(Table(pd.DataFrame(rows), classes))
    return blocks


def _per_drug_tests_section(study: Study) -> list[Block]:
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
            "drugs": t["n_drugs"].map(_num),
            "runs": t["n_runs"].map(_num),
            "mean per-drug Δ RMSE [95% CI]": [
                f"{_num(e)} [{_num(lo)}, {_num(hi)}]"
                for e, lo, hi in zip(t["estimate"], t["ci_low"], t["ci_high"], strict=True)
            ],
            "p": t["p"].map(_p),
        }
    )
    return [*blocks, Table(frame)]


def _items(items: object, limit: int = 6) -> str:
    if isinstance(items, (list, tuple)):
        shown = ", ".join(str(x) for x in items[:limit])
        return shown + (f" … (+{len(items) - limit} more)" if len(items) > limit else "")
    return "" if items is None else str(items)


def _data_section(study: Study) -> list[Block]:
    ds = study.meta.get("dataset", {})
    summary = study.meta.get("data_summary", {})
    blocks: list[Block] = [
        Heading("Data"),
        Para(f"Dataset: **{ds.get('name', 'unknown')}**. Responses are ln IC50 with IC50 in µM."),
    ]
    counts = {**ds.get("counts", {}), **summary.get("counts", {})}
    if counts:
        blocks.append(
            Table(
                pd.DataFrame(
                    {"quantity": list(counts), "value": [_num(v) for v in counts.values()]}
                )
            )
        )
    drops = summary.get("drops", [])
    blocks.append(Heading("Dropped items", 3))
    if drops:
        frame = pd.DataFrame(drops).reindex(columns=["stage", "source", "reason", "items", "rows"])
        frame["items"] = frame["items"].map(_items)
        frame["rows"] = frame["rows"].map(lambda v: _num(v) if pd.notna(v) else "–")
        blocks.append(Table(frame.fillna("")))
    else:
        blocks.append(Para("Nothing was dropped."))
    ceiling = summary.get("noise_ceiling") or {}
    blocks.append(Heading("Replicate noise ceiling", 3))
    if ceiling and np.isfinite(ceiling.get("rmse", np.nan)):
        rmse, r = float(ceiling["rmse"]), float(ceiling.get("pearson", np.nan))
        blocks.append(
            Para(
                f"{_num(ceiling.get('n_pairs'))} cell–drug pairs were measured twice: in GDSC "
                "these are the same drug screened under two drug ids (often another "
                f"concentration range or batch). The two measurements differ by RMSE "
                f"{_num(rmse)} and correlate with r = {_num(r)}. One measurement's error is "
                f"therefore about {_num(rmse)}/√2 = **{_num(rmse / np.sqrt(2))}** ln IC50, and "
                f"the correlation a perfect model could reach against one measurement is about "
                f"√{_num(r)} = **{_num(np.sqrt(r)) if r > 0 else '–'}**. These pairs are noisier "
                "than the average pair, so the ceiling is conservative."
            )
        )
    else:
        blocks.append(
            Para("No replicate measurements were available to estimate the noise ceiling.")
        )
    return blocks


def _results_section(study: Study) -> list[Block]:
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


def _worst_drugs_section(study: Study) -> list[Block]:
    blocks: list[Block] = [Heading("Per-drug performance")]
    g = study.groups
    if g.empty:
        return [*blocks, Para("No per-drug metrics were recorded.")]
    drugs = g[(g["kind"] == "drug") & (g["variant"] == study.default_variant)]
    split = next((s for s in (*DRUG_BLIND_SPLITS, *study.splits) if s in set(drugs["split"])), None)
    if split is None:
        return [*blocks, Para("No per-drug metrics of the default model were recorded.")]
    d = drugs[drugs["split"] == split]
    per_drug = d.groupby("id").agg(
        runs=("rmse", "size"),
        pairs=("n", "sum"),
        rmse=("rmse", "mean"),
        r=("pearson", "mean"),
        observed=("mean_true", "mean"),
        predicted=("mean_pred", "mean"),
        censored=("censored", "sum"),
    )
    worst = per_drug.sort_values("rmse", ascending=False).head(10)
    table = pd.DataFrame(
        {
            "drug": worst.index,
            "runs": worst["runs"].map(_num),
            "RMSE": worst["rmse"].map(_num),
            "per-drug r": worst["r"].map(_num),
            "mean observed ln IC50": worst["observed"].map(_num),
            "mean predicted": worst["predicted"].map(_num),
            "outside screened range": [
                f"{c / n:.0%}" for c, n in zip(worst["censored"], worst["pairs"], strict=True)
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
        ),
        Table(table),
        Para(
            "A breakdown by target pathway is not given: the featurized dataset carries no "
            "pathway annotation."
            + (
                " No pair is flagged as outside the screened range: this dataset's response "
                "table records ln IC50 only, without each drug's screened concentrations, so "
                "such values cannot be recognised in it (CCLE's capped values are)."
                if worst["censored"].sum() == 0 and d["censored"].sum() == 0
                else ""
            )
        ),
    ]
    return blocks


def _figure(fig: object, out_dir: Path, name: str, alt: str, caption: str) -> Image:
    path = plots.save_figure(fig, out_dir / name)  # type: ignore[arg-type]
    return Image(path, alt, caption)


def _forest_section(study: Study, out_dir: Path) -> list[Block]:
    blocks: list[Block] = [Heading("Paired differences")]
    if study.answers.empty:
        blocks.append(Para("No comparisons were produced by this study."))
    else:
        blocks.append(
            _figure(
                plots.forest_plot(study.answers, study.splits),
                out_dir,
                "fig_forest.png",
                "forest plot",
                "Mean paired RMSE difference attention − twin with its corrected resampled t "
                "interval (level beside each row: primary rows adjusted), one panel per split; "
                "green band = the declared equivalence margin; colour = verdict.",
            )
        )
    return blocks


def _figures_sections(study: Study, out_dir: Path) -> list[Block]:
    default = study.default_variant
    blocks: list[Block] = [Heading("Predicted vs observed")]
    preds = study.predictions
    if not preds.empty:
        first = preds["seed"].min()
        preds = preds[(preds["variant"] == default) & (preds["seed"] == first)]
    blocks.append(
        _figure(
            plots.pred_vs_obs(preds, default, study.splits),
            out_dir,
            "fig_pred_vs_obs.png",
            "predicted vs observed",
            f"Test predictions of {default}, a random sample of each fold (first seed); "
            "dashed = identity; orange crosses: the measured IC50 lies outside the screened "
            "concentration range (an extrapolated value).",
        )
    )
    blocks.append(Heading("Per-drug correlation"))
    variants = list(dict.fromkeys([default, *study.twins, *study.baselines]))
    roles = {v: "baseline" for v in study.baselines}
    roles.update({v: "twin" for v in study.twins})
    roles[default] = "default"
    drugs = study.groups[study.groups["kind"] == "drug"] if not study.groups.empty else study.groups
    blocks.append(
        _figure(
            plots.per_drug_r_plot(drugs, variants, study.splits, roles),
            out_dir,
            "fig_per_drug_r.png",
            "per-drug Pearson r",
            "Pearson r across cell lines within each test drug (first seed, every fold): the "
            "default variant, its twins and the baselines. A constant prediction scores 0.",
        )
    )
    blocks.append(Heading("Learning curves"))
    blocks.append(
        _figure(
            plots.learning_curves(study.history, study.models, study.splits),
            out_dir,
            "fig_learning_curves.png",
            "learning curves",
            "Validation RMSE per epoch (early-stopping set, never the test fold): mean over "
            "folds × seeds, band = min–max; runs end at early stopping.",
        )
    )
    return blocks


def _molecules_section(study: Study, out_dir: Path) -> list[Block]:
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
        _figure(
            plots.attention_colourbar(),
            out_dir,
            "fig_attention_scale.png",
            "attention colour scale",
            "Colour scale of the molecules: weight × n (1 = uniform).",
        )
    )
    images = []
    for i, entry in enumerate(study.attention):
        name = f"mol_{i:02d}_{_slug(str(entry['drug_id']))}.png"
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
            f"1/n pooling moves predictions by {_num(uniform)} ln IC50."
        )
        images.append(Image(out_dir / name, f"attention on {entry['drug_id']}", caption))
    if images:
        blocks.append(Gallery(images))
    return blocks


def _faithfulness_section(study: Study, out_dir: Path) -> list[Block]:
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
                "median |Δ| top": _num(r.median_top),
                "median |Δ| random": _num(r.median_random),
                "median |Δ| 1/n pooling": _num(r.median_uniform),
                "Wilcoxon p (top > random)": _p(r.p_wilcoxon),
                "verdict": r.verdict,
            }
        )
        classes[(i, "verdict")] = _VERDICT_CLASS.get(r.verdict, "")
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
        _figure(
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


def _biomarker_section(study: Study, out_dir: Path) -> list[Block]:
    blocks: list[Block] = [Heading("Biomarker recovery on unseen cells")]
    b, summary = study.biomarkers, study.biomarker_summary
    if b.empty or not summary:
        return [*blocks, Para("No biomarker analysis was produced (it needs cell-blind runs).")]
    blocks.append(
        Para(
            f"Does `{study.default_variant}` reproduce known pharmacogenomics on cell lines it "
            f"never saw? Cell-blind test predictions ({_num(summary.get('n_cells'))} cells, "
            f"every fold of the first seed). For each drug × binary feature (every gene's "
            "mutation; EGFR and ERBB2 copy-number gain and top-10% expression) with at least "
            "10 positive and 10 negative test cells, the observed effect is the difference in "
            "mean ln IC50 between positive and negative cells, the predicted effect the same "
            "difference of the predictions. Over all "
            f"{_num(summary['n_associations'])} associations the two correlate with r = "
            f"**{_num(summary['r_all'])}**; over the {_num(summary['n_significant'])} with "
            f"observed FDR < {summary['fdr']} (Benjamini–Hochberg), r = "
            f"**{_num(summary['r_significant'])}**, and the predicted effect has the observed "
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
                        "positive cells": named["n_pos"].map(lambda v: _num(int(v))),
                        "observed effect": named["observed"].map(_num),
                        "p (observed)": named["p_observed"].map(_p),
                        "predicted effect": named["predicted"].map(_num),
                        "p (predicted)": named["p_predicted"].map(_p),
                    }
                )
            )
        )
    blocks.append(
        _figure(
            plots.biomarker_plot(b),
            out_dir,
            "fig_biomarkers.png",
            "biomarker recovery",
            "Observed against predicted effect per drug × feature (ln IC50; negative = the "
            "positive cells are more sensitive); dashed = identity.",
        )
    )
    return blocks


def _provenance_section(study: Study) -> list[Block]:
    meta = study.meta
    prov = meta.get("provenance", {})
    grid = meta.get("grid", {})
    facts = {
        "study": meta.get("name", ""),
        "preset": f"{meta.get('preset', '')} — {meta.get('preset_description', '')}",
        **{k: prov.get(k, "") for k in ("commit", "date", "python", "torch")},
        "hardware": _hardware(prov.get("hardware")),
        "variants": ", ".join(map(str, grid.get("variants", []))),
        "splits": ", ".join(map(str, grid.get("splits", []))),
        "folds": ", ".join(map(str, grid.get("folds", []))),
        "seeds": ", ".join(map(str, grid.get("seeds", []))),
        "epochs (early stopping patience)": f"{grid.get('epochs', '')} ({grid.get('patience', '')})",
        "model runs": len(study.results[study.results["variant"].isin(study.models)]),
        "training time of the model runs": _hours(study),
    }
    for i, later in enumerate(meta.get("resumed", [])):
        facts[f"resumed ({i + 1})"] = f"{later.get('commit', '')} on {later.get('date', '')}"
    blocks: list[Block] = [
        Heading("Provenance"),
        Table(pd.DataFrame({"field": list(facts), "value": [str(v) for v in facts.values()]})),
    ]
    if prov.get("command"):
        blocks += [Para("Command:"), Code(str(prov["command"]), "bash")]
    blocks += [
        Heading("Run configuration", 3),
        Para("What every run trained with (the variant changes only its model fields):"),
        Code(json.dumps(meta.get("config", {}), indent=2), "json"),
    ]
    files = meta.get("dataset", {}).get("manifest_files", {})
    blocks.append(Heading("Data checksums", 3))
    if files:
        blocks.append(Table(pd.DataFrame({"file": list(files), "sha256": list(files.values())})))
    else:
        blocks.append(Para("No data manifest was recorded."))
    return blocks


def _hardware(info: object) -> str:
    """One line for a ``drp.training.loop.hardware()`` record (or whatever was recorded)."""
    if not isinstance(info, dict):
        return str(info or "unknown hardware")
    parts = [str(info.get("gpu") or info.get("device") or "")]
    if info.get("cpus"):
        parts.append(f"{info['cpus']} CPU cores")
    if info.get("torch"):
        parts.append(f"torch {info['torch']}")
    if info.get("platform"):
        parts.append(str(info["platform"]))
    return ", ".join(p for p in parts if p)


def _hours(study: Study) -> str:
    r = study.results
    if "train_seconds" not in r:
        return "–"
    seconds = float(r.loc[r["variant"].isin(study.models), "train_seconds"].sum())
    return f"{seconds / 3600:.2f} h ({seconds / 60:.0f} min)"


def build_blocks(study: Study, out_dir: Path) -> list[Block]:
    """All report blocks in order; writes the figure PNGs into ``out_dir``."""
    meta = study.meta
    blocks: list[Block] = [
        Heading(f"{QUESTION} — {meta.get('name', study.root.name)}", 1),
        Para(
            f"Preset `{meta.get('preset', '')}` on {meta.get('dataset', {}).get('name', 'unknown')}"
            f", trained at commit `{meta.get('provenance', {}).get('commit', 'unknown')}`"
            f" on {_hardware(meta.get('provenance', {}).get('hardware'))}."
        ),
    ]
    blocks += _answer_section(study)
    blocks += _design_section(study)
    blocks += _verdict_section(study)
    blocks += _forest_section(study, out_dir)
    blocks += _per_drug_tests_section(study)
    blocks += _results_section(study)
    blocks += _worst_drugs_section(study)
    blocks += _figures_sections(study, out_dir)
    blocks += _molecules_section(study, out_dir)
    blocks += _faithfulness_section(study, out_dir)
    blocks += _biomarker_section(study, out_dir)
    blocks += _data_section(study)
    blocks += _provenance_section(study)
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
