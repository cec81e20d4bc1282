"""The design sections: the declared questions with their margins, power and the precision
reached, early stopping, and the data (counts, drops, replicate noise).
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from drp.report.blocks import (
    Block,
    Heading,
    Para,
    Table,
    fmt_num,
    fmt_signed,
    fold_change,
    fold_change_pct,
    split_phrase,
)
from drp.report.study_dir import Study
from drp.study.presets import EXTERNAL

_METRIC_NAMES = {"rmse": "RMSE", "per_drug_r": "per-drug r"}


def convergence_text(study: Study) -> str:
    """How the model runs ended, per split: stopped early, or at the epoch cap, where the
    annealed learning rate has decayed to near zero."""
    r = study.results
    models = r[r["variant"].isin(study.models)]
    if models.empty or "epochs" not in models:
        return ""
    cap = study.meta.get("grid", {}).get("epochs", 0)
    if not cap:
        return ""
    parts = []
    for split in study.splits:
        runs = models[models["split"] == split]
        if runs.empty:
            continue
        best = runs["best_epoch"] if "best_epoch" in runs else runs["epochs"]
        stopped = float((runs["epochs"] < cap).mean())
        parts.append(
            f"{split}: {stopped:.0%} of {len(runs)} runs stopped early "
            f"(median best epoch {float(best.median()):.0f})"
        )
    return (
        f"Every model trained with early stopping on its validation part (at most {cap} epochs); "
        + "; ".join(parts)
        + ". A run that reaches the cap has finished its annealed schedule: the learning rate "
        "decays to near zero by the last epoch, so the cap ends training where the schedule does."
    )


DECLARATION = "declaration.md"


def find_declaration(study: Study, out_dir: Path | None = None) -> Path | None:
    """The study's ``declaration.md``: in the report's directory, else beside the study dir."""
    for folder in (out_dir, study.root.parent):
        if folder is not None and (Path(folder) / DECLARATION).is_file():
            return Path(folder) / DECLARATION
    return None


def _git(args: list[str], cwd: Path) -> str | None:
    """Stripped stdout of a git command, or None without git, outside a repository or on error."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def declaration_commit(path: Path) -> tuple[str, datetime | None, bool] | None:
    """(short hash, commit time, edited since) of the last commit touching ``path``; None when
    git is missing or the file was never committed."""
    log = _git(["log", "-1", "--format=%h %cI", "--", path.name], path.parent)
    if not log:
        return None
    short, _, stamp = log.partition(" ")
    try:
        when: datetime | None = datetime.fromisoformat(stamp)
    except ValueError:
        when = None
    edited = bool(_git(["status", "--porcelain", "--", path.name], path.parent))
    return short, when, edited


def _study_start(study: Study) -> datetime | None:
    stamp = study.meta.get("provenance", {}).get("date")
    try:
        when = datetime.fromisoformat(str(stamp))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def declaration_text(study: Study, out_dir: Path | None = None) -> str:
    """Where the design was declared and whether its commit predates the runs ("" if nowhere)."""
    path = find_declaration(study, out_dir)
    if path is None:
        return ""
    where = f"`{path.parent.name}/{DECLARATION}`"
    commit = declaration_commit(path)
    if commit is None:
        return (
            f"**Declaration.** The design is written down in {where}, but no git commit of it "
            "was found, so this report cannot show that it was declared before the runs."
        )
    short, when, edited = commit
    start = _study_start(study)
    stamp = f" ({when:%Y-%m-%d %H:%M %Z})" if when else ""
    text = f"**Declaration.** The design was declared in {where}, commit `{short}`{stamp}"
    if when is not None and start is not None and when > start:
        text += (
            f", which is later than the study's first run ({start:%Y-%m-%d %H:%M %Z}): that "
            "commit does not show the design was declared before the runs."
        )
    else:
        text += ", before the runs" + (
            f" (the study's first run: {start:%Y-%m-%d %H:%M %Z})." if start else "."
        )
    if edited:
        text += " The file has uncommitted edits since that commit."
    return text


DEVIATIONS = "deviations.md"


def deviation_blocks(study: Study, out_dir: Path | None = None) -> list[Block]:
    """What was done differently from the declaration: each paragraph of ``deviations.md``
    beside it (its title, what changed, why and the effect), or a line saying none is
    recorded; nothing without a declaration."""
    path = find_declaration(study, out_dir)
    if path is None:
        return []
    file = path.with_name(DEVIATIONS)
    if not file.is_file():
        return [Para(f"**Deviations.** None recorded (no `{DEVIATIONS}` beside the declaration).")]
    paragraphs = [
        " ".join(p.split())
        for p in file.read_text().split("\n\n")
        if p.strip() and not p.lstrip().startswith("#")
    ]
    head = Para(
        f"**Deviations from the declaration** (`{path.parent.name}/{DEVIATIONS}`, written "
        "as they arose; each says what changed, why, and what it does to the verdicts):"
    )
    return [head, *(Para(p) for p in paragraphs)]


def external_text(design: dict) -> str:
    """The external new-drug test in words: drugs, pairs, assay offset and interval."""
    ext = design.get("external")
    if not ext:
        return ""
    source = str(ext.get("source", "the training screen")).upper()
    target = str(ext.get("target", "the external screen")).upper()
    cells = f" on {fmt_num(ext['test_cells'])} cells" if "test_cells" in ext else ""
    text = (
        f"**External new-drug test.** {fmt_num(ext.get('test_drugs'))} {target} drugs whose "
        f"structure {source} lacks, {fmt_num(ext.get('test_pairs'))} test pairs{cells} that "
        f"{source} measured."
    )
    if ext.get("training"):
        text += f" Training: {ext['training']}."
    if "offset" in ext:
        text += (
            f" {target}'s ln IC50 is moved onto {source}'s scale by the assay offset "
            f"**{fmt_signed(ext['offset'])}** ln IC50, the mean difference ({source} − {target}) "
            f"over the {fmt_num(ext.get('offset_pairs'))} (cell, structure) pairs both screens "
            f"measured; the median over the same pairs, {fmt_signed(ext.get('offset_median'))}, "
            "is the sensitivity check. RMSE depends on the offset, per-drug r does not."
        )
    test = ext.get("test")
    if test:
        text += f" Interval on the external set: {test}."
    if design.get("test"):
        text += f" On cross-validation splits: {design['test']}."
    return text


def offset_sensitivity_text(study: Study) -> str:
    """The declared sensitivity check: the external RMSE questions with the median offset."""
    t = study.offset_sensitivity
    ext = study.design.get("external") or {}
    if t.empty or "offset_median" not in ext or "offset" not in ext:
        return ""
    primary = study.answers
    parts = []
    for r in t.itertuples():
        hit = primary[
            (primary["question"] == r.question)
            & (primary["split"] == EXTERNAL)
            & (primary["metric"] == "rmse")
        ]
        before = f"{fmt_signed(hit['mean_diff'].iloc[0])} → " if len(hit) else ""
        parts.append(
            f"{r.question} {before}{fmt_signed(r.mean_diff)} "
            f"[{fmt_signed(r.ci_low)}, {fmt_signed(r.ci_high)}] ({r.verdict})"
        )
    return (
        f"**Sensitivity to the assay alignment** (declared secondary, unadjusted 95%): with the "
        f"median offset {fmt_signed(ext['offset_median'])} instead of the mean "
        f"{fmt_signed(ext.get('offset'))}, the external RMSE differences (attention − twin; "
        "mean difference with the mean offset → with the median, its interval and verdict): "
        + "; ".join(parts)
        + "."
    )


def _mean_effects_gain(study: Study, split: str, metric: str) -> str:
    """The default model's gain over mean effects on ``split`` (positive = better), from its
    baseline row in answers.csv when there is one, else from the mean over runs."""
    a, default = study.answers, study.default_variant
    if metric == "rmse" and not a.empty:
        hit = a[
            (a["role"] == "baseline")
            & (a["attention"] == default)
            & (a["twin"] == "mean_effects")
            & (a["split"] == split)
            & (a["metric"] == metric)
        ]
        if len(hit):
            r = hit.iloc[0]
            return (
                f"{fmt_signed(-r.mean_diff)} [{fmt_signed(-r.ci_high)}, {fmt_signed(-r.ci_low)}] "
                f"({_level(r.ci_level)} CI)"
            )
    res = study.results[study.results["split"] == split]
    if metric not in res:
        return "–"
    means = res.groupby("variant")[metric].mean()
    if default not in means or "mean_effects" not in means:
        return "–"
    gain = means[default] - means["mean_effects"]
    return f"{fmt_signed(-gain if metric == 'rmse' else gain)} (means over runs)"


def _level(x: float) -> str:
    return f"{100 * float(x):.4g}%"


def _asked_splits(study: Study) -> list[str]:
    asked = {
        s
        for q in study.design.get("questions", [])
        for s in (q["primary_split"], *q.get("secondary_splits", []))
    }
    return [s for s in study.splits if s in asked] + sorted(asked - set(study.splits))


def margins_blocks(study: Study) -> list[Block]:
    """The margins on their scales, each beside the default model's gain over mean effects."""
    margins = study.design.get("margins", {})
    splits = [s for s in _asked_splits(study) if any(s in m for m in margins.values())]
    if not splits:
        return []
    rmse, r = margins.get("rmse", {}), margins.get("per_drug_r", {})
    rows = [
        {
            "split": s,
            "RMSE margin (ln IC50)": f"±{rmse[s]:g} (±{fold_change_pct(rmse[s])} IC50 fold-change)"
            if s in rmse
            else "–",
            f"{study.default_variant} gain over mean effects, RMSE": _mean_effects_gain(
                study, s, "rmse"
            ),
            "per-drug r margin": f"±{r[s]:g}" if s in r else "–",
            f"{study.default_variant} gain over mean effects, per-drug r": _mean_effects_gain(
                study, s, "per_drug_r"
            ),
        }
        for s in splits
    ]
    by_margin: dict[float, list[str]] = {}
    for s in splits:
        if s in rmse:
            by_margin.setdefault(rmse[s], []).append(split_phrase(s, study.design))
    scales = "; ".join(
        f"±{m:g} (±{fold_change_pct(m)} in IC50 fold-change) {' and '.join(where)}"
        for m, where in by_margin.items()
    )
    per_drug = ", ".join(dict.fromkeys(f"±{r[s]:g}" for s in splits if s in r)) or "–"
    return [
        Para(
            "**Margins, on their scales.** A margin is the smallest difference that would "
            "matter. RMSE is in ln IC50, so a change of m moves the typical IC50 error by a "
            f"factor e^m: RMSE {scales}. Per-drug r (the correlation across cell lines within "
            f"a drug): {per_drug}. Each is set beside what the default model "
            f"(`{study.default_variant}`) gains over mean effects (a drug's and a cell's mean "
            "response, no structure or omics) on the same split, positive = better; a margin "
            "far below that gain is a small difference relative to what the models add."
        ),
        Table(pd.DataFrame(rows)),
    ]


def _power_text(study: Study) -> str:
    n_train = {s: n for s, n in study.design.get("n_train", {}).items() if s != EXTERNAL}
    text = ""
    if n_train:
        text = (
            "**Power and its floor.** On cross-validation splits the corrected interval's "
            "half-width is t · √(1/J + n_test/n_train) · sd. More repeats shrink 1/J and more "
            "folds shrink n_test/n_train, but smaller test folds make the sd of paired "
            "differences grow (each difference rests on fewer pairs), so in practice the "
            "half-width stays near the floor in the table (z · √(n_test/n_train) · sd at this "
            "design's fold size) however the runs are added. "
            + ", ".join(
                f"{s}: n_train {fmt_num(int(n))}, n_test {fmt_num(int(study.design['n_test'][s]))}"
                for s, n in n_train.items()
            )
            + " (pairs a model is fitted on, validation excluded; test pairs of one fold)."
        )
    if "external" in study.design or EXTERNAL in study.design.get("n_train", {}):
        text += (
            (" " if text else "**Power and its floor.** ")
            + "On the external set the half-width is t_{J−1} · √(s_seed²/J + s_drug²): more "
            "seeds shrink the first term only, so its floor is z · s_drug, set by the sample of "
            "test drugs."
        )
    return (
        text + " MDE: the smallest true difference this design detects with 80% power at its "
        "interval level."
    )


def _half_width(r: object) -> float:
    """Half the width of an answer row's interval (nan without a row)."""
    if r is None:
        return float("nan")
    return (float(r.ci_high) - float(r.ci_low)) / 2  # type: ignore[attr-defined]


def _expected_half_width(design: dict) -> float | None:
    """The external half-width the study declared (design.json), if any."""
    value = (design.get("expected_half_width") or {}).get(EXTERNAL)
    return float(value) if value is not None else None


def sd_met_text(rows: list, expected: float | None) -> str:
    """Which external questions reached the declared half-width ``expected`` (none declared:
    no text), and for the others which sd made it wider: the seeds' (it shrinks with J) or
    the drug sample's (it does not)."""
    if not rows or expected is None:
        return ""
    within = [bool(np.isfinite(_half_width(r)) and _half_width(r) <= expected) for r in rows]
    reached = [r for r, ok in zip(rows, within, strict=True) if ok]
    wide = [r for r, ok in zip(rows, within, strict=True) if not ok]
    head = (
        f"**Precision reached on the external set:** {len(reached)} of {len(rows)} "
        f"drug-encoder questions reach the RMSE half-width of {expected:g} the declaration "
        "expected from the pilot."
    )
    if not wide:
        return head
    parts = []
    for r in wide:
        if not np.isfinite(_half_width(r)):
            parts.append(f"{r.question}: no interval yet ({int(r.n_pairs)} seeds)")
            continue
        z = float(sps.norm.ppf(0.5 + float(r.ci_level) / 2))
        drug_sd = float(r.floor_half_width) / z if z > 0 else float("nan")
        seed_term = float(r.sd_diff) / np.sqrt(max(int(r.n_pairs), 1))
        larger = (
            "the drug sample's term is the larger: more seeds cannot close the gap"
            if drug_sd >= seed_term
            else "the seeds' term is the larger: more seeds would narrow it"
        )
        parts.append(
            f"{r.question}: {fmt_num(_half_width(r))} (seed sd {fmt_num(r.sd_diff)} over "
            f"{int(r.n_pairs)} seeds, drug-sample sd {fmt_num(drug_sd)}; {larger})"
        )
    return head + " Wider: " + "; ".join(parts) + "."


def design_section(study: Study, out_dir: Path | None = None) -> list[Block]:
    blocks: list[Block] = [Heading("Declared design")]
    a = study.answers
    if not study.design or a.empty:
        return [*blocks, Para("No declared design was recorded (design.json is missing).")]
    rows, external_rows = [], []
    questions = study.design.get("questions", [])
    for q in questions:
        hit = a[(a["question"] == q["name"]) & (a["role"] == "primary") & (a["metric"] == "rmse")]
        r = hit.iloc[0] if len(hit) else None
        rows.append(
            {
                "question": q["name"],
                "attention vs twin": f"{q['attention']} vs {q['twin']}",
                "primary split": q["primary_split"],
                "endpoints": ", ".join(
                    _METRIC_NAMES.get(m, m)
                    for m in q.get("endpoints", [q.get("primary_metric", "rmse")])
                ),
                "secondary": ", ".join(q["secondary_splits"]) or "–",
                "margin (RMSE)": fmt_num(r.margin if r is not None else np.nan),
                "paired runs": fmt_num(int(r.n_pairs)) if r is not None else "–",
                "sd of differences": fmt_num(r.sd_diff if r is not None else np.nan),
                "half-width reached": fmt_num(_half_width(r)),
                "MDE at 80% power": fmt_num(r.mde80 if r is not None else np.nan),
                "floor of the half-width": fmt_num(r.floor_half_width if r is not None else np.nan),
            }
        )
        if r is not None and r.split == EXTERNAL:
            external_rows.append(r)
    primaries = {q["primary_split"] for q in questions}
    where = (
        "Drug-encoder questions are asked on new drugs: the external set first, drug-blind "
        "cross-validation beside it. "
        if EXTERNAL in primaries
        else "Drug-encoder questions are asked where drugs are new (drug-blind, and "
        "cluster-blind beside it); on mixed and cell-blind splits every test drug was seen "
        "in training. "
    )
    declared = declaration_text(study, out_dir)
    blocks += [
        Para(
            "Declared in the preset before any run: each question's primary split and endpoints "
            "(RMSE; per-drug r where declared), its secondary splits, and the equivalence "
            "margins. "
            + where
            + "The fusion question is asked cell-blind. The sd, MDE and floor are of the RMSE "
            "endpoint."
        ),
        *([Para(declared)] if declared else []),
        *deviation_blocks(study, out_dir),
        Table(pd.DataFrame(rows)),
        *(
            [Para(t)]
            if (t := sd_met_text(external_rows, _expected_half_width(study.design)))
            else []
        ),
        *([Para(t)] if (t := external_text(study.design)) else []),
        *([Para(t)] if (t := offset_sensitivity_text(study)) else []),
        *margins_blocks(study),
        Para(_power_text(study)),
    ]
    return blocks


def _items(items: object, limit: int = 6) -> str:
    if isinstance(items, (list, tuple)):
        shown = ", ".join(str(x) for x in items[:limit])
        return shown + (f" … (+{len(items) - limit} more)" if len(items) > limit else "")
    return "" if items is None else str(items)


def data_section(study: Study) -> list[Block]:
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
                    {"quantity": list(counts), "value": [fmt_num(v) for v in counts.values()]}
                )
            )
        )
    drops = summary.get("drops", [])
    blocks.append(Heading("Dropped items", 3))
    if drops:
        frame = pd.DataFrame(drops).reindex(columns=["stage", "source", "reason", "items", "rows"])
        frame["items"] = frame["items"].map(_items)
        frame["rows"] = frame["rows"].map(lambda v: fmt_num(v) if pd.notna(v) else "–")
        blocks.append(Table(frame.fillna("")))
    else:
        blocks.append(Para("Nothing was dropped."))
    blocks += ceiling_blocks(study)
    return blocks


def _default_best(study: Study) -> tuple[float, float, str]:
    """The default model's best split (its lowest mean test RMSE over the splits it ran on):
    that RMSE, the mean Pearson r on the same split, and the split (nan, nan, "" when none)."""
    r = study.results
    runs = r[r["variant"] == study.default_variant]
    if runs.empty:
        return float("nan"), float("nan"), ""
    means = runs.groupby("split")[["rmse", "pearson"]].mean()
    where = str(means.rmse.idxmin())
    return float(means.rmse[where]), float(means.pearson[where]), where


def ceiling_blocks(study: Study) -> list[Block]:
    """The replicate agreement, with each drug's offset between its two screens removed where
    recorded, called a ceiling only when no split of the default model beats it."""
    ceiling = study.meta.get("data_summary", {}).get("noise_ceiling") or {}
    if not ceiling or not np.isfinite(ceiling.get("rmse", np.nan)):
        return [
            Heading("Replicate noise ceiling", 3),
            Para("No replicate measurements were available to estimate the noise ceiling."),
        ]
    raw_rmse, raw_r = float(ceiling["rmse"]), float(ceiling.get("pearson", np.nan))
    proper = "rmse_within" in ceiling
    rmse = float(ceiling["rmse_within"]) if proper else raw_rmse
    r = float(ceiling["pearson_within"]) if proper else raw_r
    one = rmse / np.sqrt(2)
    best_r = float(np.sqrt(r)) if r > 0 else float("nan")
    model_rmse, model_r, where = _default_best(study)
    below = np.isfinite(model_rmse) and model_rmse < one
    above = np.isfinite(model_r) and np.isfinite(best_r) and model_r > best_r
    drugs = f"{fmt_num(ceiling['n_drugs'])} drugs, " if "n_drugs" in ceiling else ""
    n_drugs = fmt_num(ceiling["n_drugs"]) if "n_drugs" in ceiling else "a few"
    text = (
        f"{fmt_num(ceiling.get('n_pairs'))} cell–drug pairs ({drugs}each screened under two "
        "drug ids, often another concentration range or batch) were measured twice. The two "
        f"measurements differ by RMSE {fmt_num(raw_rmse)} and correlate with r = "
        f"{fmt_num(raw_r)}. "
    )
    if proper:
        text += (
            f"{float(ceiling['offset_share']):.0%} of their mean squared difference is a "
            "per-drug offset between the two screens, not noise of a pair; with each drug's "
            f"offset removed they differ by RMSE {fmt_num(rmse)} and correlate with r = "
            f"{fmt_num(r)}. "
        )
    text += (
        "If they differ by measurement noise alone, one measurement's error is about "
        f"{fmt_num(rmse)}/√2 = **{fmt_num(one)}** ln IC50 (a typical IC50 error of "
        f"{fold_change(one)}), and the correlation a perfect model could reach against one "
        f"measurement about √{fmt_num(r)} = "
        f"**{fmt_num(best_r) if np.isfinite(best_r) else '–'}**."
    )
    if not (below or above):
        best = (
            f" The default model where it does best, {split_phrase(where, study.design)}, stays "
            f"above it (RMSE {fmt_num(model_rmse)})."
            if where
            else ""
        )
        return [
            Heading("Replicate noise ceiling", 3),
            Para(text + best + f" The estimate rests on {n_drugs} drugs only."),
        ]  # fmt: skip
    beaten = []
    if below:
        beaten.append(f"its test RMSE, {fmt_num(model_rmse)}, is below {fmt_num(one)}")
    if above:
        beaten.append(f"its Pearson r, {fmt_num(model_r)}, is above {fmt_num(best_r)}")
    text += (
        f" **These figures are not a ceiling**: the default model (`{study.default_variant}`) "
        f"{split_phrase(where, study.design)} does better than they allow "
        f"({' and '.join(beaten)}). They rest on the few drugs screened under two ids"
        + (
            ""
            if proper
            else ", and the two measurements of a pair include a per-drug offset between the "
            "screens, so their difference overstates the measurement noise of a typical pair"
        )
        + "."
    )
    return [Heading("Replicate noise (not a ceiling)", 3), Para(text)]
