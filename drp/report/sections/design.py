"""The design sections: the declared questions with their margins and power, the spread
between repetitions, early stopping, and the data (counts, drops, replicate noise ceiling).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from drp.report.blocks import Block, Heading, Para, Table, fmt_num
from drp.report.study_dir import Study


def convergence_text(study: Study) -> str:
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
                    "sd of RMSE between repetitions": fmt_num(float(np.sqrt((sd**2).mean()))),
                }
            )
    return pd.DataFrame(rows)


def _seed_spread_blocks(study: Study) -> list[Block]:
    spread = _seed_spread(study)
    if spread.empty:
        return [Para("(No fold was trained with two seeds yet, so the spread is not measured.)")]
    return [Table(spread)]


def design_section(study: Study) -> list[Block]:
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
                "margin (RMSE)": fmt_num(r.margin if r is not None else np.nan),
                "paired runs": fmt_num(int(r.n_pairs)) if r is not None else "–",
                "sd of differences": fmt_num(r.sd_diff if r is not None else np.nan),
                "MDE at 80% power": fmt_num(r.mde80 if r is not None else np.nan),
                "floor of the half-width": fmt_num(r.floor_half_width if r is not None else np.nan),
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
                f"{s}: n_train {fmt_num(int(n))}, n_test {fmt_num(int(study.design['n_test'][s]))}"
                for s, n in study.design.get("n_train", {}).items()
            )
            + " (pairs a model is fitted on, validation excluded; test pairs of one fold)."
        ),
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
    ceiling = summary.get("noise_ceiling") or {}
    blocks.append(Heading("Replicate noise ceiling", 3))
    if ceiling and np.isfinite(ceiling.get("rmse", np.nan)):
        rmse, r = float(ceiling["rmse"]), float(ceiling.get("pearson", np.nan))
        blocks.append(
            Para(
                f"{fmt_num(ceiling.get('n_pairs'))} cell–drug pairs were measured twice: in GDSC "
                "these are the same drug screened under two drug ids (often another "
                f"concentration range or batch). The two measurements differ by RMSE "
                f"{fmt_num(rmse)} and correlate with r = {fmt_num(r)}. One measurement's error is "
                f"therefore about {fmt_num(rmse)}/√2 = **{fmt_num(rmse / np.sqrt(2))}** ln IC50, and "
                f"the correlation a perfect model could reach against one measurement is about "
                f"√{fmt_num(r)} = **{fmt_num(np.sqrt(r)) if r > 0 else '–'}**. These pairs are noisier "
                "than the average pair, so the ceiling is conservative."
            )
        )
    else:
        blocks.append(
            Para("No replicate measurements were available to estimate the noise ceiling.")
        )
    return blocks
