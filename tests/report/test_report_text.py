"""The report's words: verdict sentences, the declared design, intervals, biomarkers, ceiling."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from drp.report.blocks import Heading, Para, Table, fmt_share, fold_change, split_phrase
from drp.report.sections import design as design_mod
from drp.report.sections.answer import answer_section, per_drug_tests_section, question_sentence
from drp.report.sections.design import ceiling_blocks, design_section
from drp.report.sections.interpretation import biomarker_section, egfr_text
from drp.report.sections.results import forest_section
from drp.report.study_dir import Study, load_study
from drp.study.answers import ANSWER_COLUMNS
from tests.study_fixture import write_synthetic_study

EXTERNAL_DESIGN = {
    "source": "gdsc2",
    "target": "gdsc1",
    "test_pairs": 140544,
    "test_drugs": 182,
    "test_cells": 914,
    "offset": 0.875,
    "offset_median": 0.819,
    "offset_pairs": 88439,
    "test": "seed-level paired differences on the one external set",
    "training": "all of the dataset's pairs but a fixed random 10% validation draw",
}


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    return load_study(write_synthetic_study(tmp_path_factory.mktemp("text") / "study"))


def _row(**kw: object) -> dict[str, object]:
    """An answers.csv row (defaults: an external primary RMSE row, equivalent)."""
    base: dict[str, object] = dict.fromkeys(ANSWER_COLUMNS, np.nan)
    base |= {
        "question": "graph alone: bond-aware vs plain attention",
        "attention": "graph_only",
        "twin": "graph_only_gat",
        "split": "external",
        "metric": "rmse",
        "role": "primary",
        "n_pairs": 20,
        "mean_attention": 2.40,
        "mean_twin": 2.396,
        "mean_diff": 0.004,
        "sd_diff": 0.01,
        "margin": 0.05,
        "ci_level": 1 - 0.05 / 15,
        "adjusted": True,
        "ci_low": -0.031,
        "ci_high": 0.039,
        "verdict": "equivalent",
    }
    return base | kw


def _text(blocks: list) -> str:
    return "\n".join(b.text for b in blocks if isinstance(b, (Para, Heading)))


def _external_study(study: Study) -> Study:
    rows = pd.DataFrame(
        [
            _row(),
            _row(metric="per_drug_r", margin=0.01, mean_diff=-0.002, ci_low=-0.008, ci_high=0.004),
        ]
    )
    design = study.design | {"external": EXTERNAL_DESIGN, "test": "Nadeau-Bengio corrected t"}
    return dataclasses.replace(
        study, answers=pd.concat([study.answers, rows], ignore_index=True), design=design
    )


# --------------------------------------------------------------------------- 1. verdict sentences
def test_external_question_reads_as_one_sentence_per_question() -> None:
    rows = pd.DataFrame(
        [
            _row(),
            _row(metric="per_drug_r", margin=0.01, mean_diff=-0.002, ci_low=-0.008, ci_high=0.004),
        ]
    )
    text = question_sentence(rows, {"external": EXTERNAL_DESIGN})
    assert text.startswith(
        "**graph alone: bond-aware vs plain attention** (`graph_only` vs `graph_only_gat`, "
        "20 seeds, 99.67% CIs) — **equivalent** on new drugs (external GDSC1 set): "
    )
    assert (
        "RMSE difference +0.004 [−0.031, +0.039] ln IC50 (within ±0.05, i.e. ±5% in IC50 "
        "fold-change); per-drug r difference −0.002 [−0.008, +0.004] (within ±0.01)." in text
    )


def test_inconclusive_says_cannot_tell_not_no_difference() -> None:
    rows = pd.DataFrame([_row(verdict="inconclusive", ci_low=-0.09, ci_high=0.08)])
    text = question_sentence(rows)
    assert "**inconclusive** on new drugs (external set)" in text
    assert "the interval includes zero but is wider than the ±0.05 margin" in text
    assert "cannot tell" in text and "no difference" not in text
    shifted = pd.DataFrame([_row(verdict="inconclusive", ci_low=-0.01, ci_high=0.06)])
    assert "reaches beyond the ±0.05 margin" in question_sentence(shifted)


def test_helps_and_mixed_verdicts_claim_no_more_than_each_endpoint() -> None:
    helps = _row(verdict="helps", mean_diff=-0.06, ci_low=-0.10, ci_high=-0.02)
    text = question_sentence(pd.DataFrame([helps]))
    assert "**helps** on new drugs" in text
    assert "lower RMSE by 0.060 [0.020, 0.100] ln IC50 (typical IC50 error about 6% smaller" in text
    assert "may be too small to matter" in text  # 0.02 lies inside the ±0.05 margin
    beyond = _row(verdict="helps", mean_diff=-0.12, ci_low=-0.18, ci_high=-0.06)
    assert "the whole interval beyond the ±0.05 margin" in question_sentence(pd.DataFrame([beyond]))
    r_row = _row(metric="per_drug_r", margin=0.01, verdict="inconclusive", ci_low=-0.02)
    text = question_sentence(pd.DataFrame([helps, r_row]))
    assert "— on new drugs (external set): RMSE **helps**: lower RMSE by 0.060" in text
    assert "; per-drug r **inconclusive**: difference +0.004 [−0.020, +0.039]" in text
    assert "cannot tell" in text


def test_rmse_translates_into_fold_change_and_split_labels() -> None:
    assert fold_change(2.39) == "11-fold" and fold_change(1.246) == "3.5-fold"
    assert split_phrase("external", {"external": {"target": "gdsc1"}}) == (
        "on new drugs (external GDSC1 set)"
    )


def test_answer_section_first_screen_on_an_external_study(study: Study) -> None:
    text = _text(answer_section(_external_study(study)))
    assert "— **equivalent** on new drugs (external GDSC1 set): RMSE difference +0.004" in text
    # the baseline sentence gives each RMSE as a typical IC50 error
    a = study.answers
    first = a[(a.role == "baseline") & (a.attention == "gat_edge")].iloc[0]
    assert f"{first.mean_attention:.3f} ({fold_change(first.mean_attention)}) against" in text


# --------------------------------------------------------------------------- 3. intervals per split
def test_intervals_are_named_per_split_and_reconciled(study: Study, tmp_path: Path) -> None:
    text = _text(answer_section(_external_study(study)))
    assert "All intervals are Nadeau–Bengio" not in text
    assert "Intervals on the cross-validation splits (mixed, drug_blind) are Nadeau–Bengio" in text
    assert "seed + drug-bootstrap intervals" in text
    assert "The per-drug mixed-model intervals (per-drug analysis below) measure another" in text
    per_drug = _text(per_drug_tests_section(study))
    assert (
        "These intervals measure another quantity than the new-drug rows' corrected t" in per_drug
    )
    assert "Bonferroni-adjusted only where drug-blind is a question's primary split" in per_drug
    forest = forest_section(_external_study(study), tmp_path)[-1]
    assert "seed + drug-bootstrap t on the external set" in forest.caption
    plain = forest_section(study, tmp_path)[-1].caption
    assert "Nadeau–Bengio corrected resampled t on cross-validation splits" in plain
    assert "external" not in plain


# --------------------------------------------------------------------------- 2. the declared design
def _git(args: list[str], cwd: Path, date: str) -> None:
    env = os.environ | {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=cwd, env=env, check=True, capture_output=True,
    )  # fmt: skip


def _declared(tmp_path: Path, date: str) -> tuple[Path, str]:
    out = tmp_path / "report"
    out.mkdir()
    (out / "declaration.md").write_text("# Declaration\n")
    _git(["init", "-q"], out, date)
    _git(["add", "declaration.md"], out, date)
    _git(["commit", "-q", "-m", "declare"], out, date)
    short = subprocess.run(
        ["git", "log", "-1", "--format=%h"], cwd=out, capture_output=True, text=True, check=True
    ).stdout.strip()
    return out, short


def test_design_quotes_the_declaration_commit(study: Study, tmp_path: Path) -> None:
    out, short = _declared(tmp_path, "2025-12-01T10:00:00+00:00")  # the study starts 2026-01-01
    text = _text(design_section(study, out))
    assert f"declared in `report/declaration.md`, commit `{short}`" in text
    assert "before the runs (the study's first run: 2026-01-01" in text


def test_deviations_beside_the_declaration_are_reported(study: Study, tmp_path: Path) -> None:
    out, _ = _declared(tmp_path, "2025-12-01T10:00:00+00:00")
    assert "**Deviations.** None recorded" in _text(design_section(study, out))
    (out / "deviations.md").write_text(
        "# Deviations\n\n**Runs trained again.** The analysis runs were\ntrained again.\n\n"
        "**Code changed.** A default changed; these runs are unaffected.\n"
    )
    text = _text(design_section(study, out))
    assert "**Deviations from the declaration** (`report/deviations.md`" in text
    assert "**Runs trained again.** The analysis runs were trained again." in text
    assert "**Code changed.** A default changed" in text and "# Deviations" not in text
    assert "None recorded" not in text
    assert "Deviations" not in _text(design_section(study, tmp_path / "elsewhere"))


def test_a_declaration_committed_after_the_runs_is_not_called_prior(
    study: Study, tmp_path: Path
) -> None:
    out, short = _declared(tmp_path, "2026-02-01T10:00:00+00:00")
    text = _text(design_section(study, out))
    assert f"commit `{short}`" in text and "later than the study's first run" in text
    assert ", before the runs" not in text


def test_declaration_without_git_is_tolerated(
    study: Study, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "declaration.md").write_text("# Declaration\n")

    def no_git(*args: object, **kwargs: object) -> None:
        raise FileNotFoundError("git")

    monkeypatch.setattr(design_mod.subprocess, "run", no_git)
    text = _text(design_section(study, tmp_path))
    assert "no git commit of it was found" in text
    # the study directory's parent is searched too
    beside = dataclasses.replace(study, root=tmp_path / "study")
    assert "declaration.md" in _text(design_section(beside, None))
    assert "Declaration" not in _text(design_section(study, tmp_path / "elsewhere"))


def test_design_describes_the_external_test(study: Study) -> None:
    text = _text(design_section(_external_study(study)))
    assert "**External new-drug test.** 182 GDSC1 drugs whose structure GDSC2 lacks" in text
    assert "140,544 test pairs on 914 cells" in text
    assert "assay offset **+0.875** ln IC50" in text and "88,439 (cell, structure) pairs" in text
    assert "the median over the same pairs, +0.819, is the sensitivity check" in text
    assert "Interval on the external set: seed-level paired differences" in text
    assert "On cross-validation splits: Nadeau-Bengio corrected t." in text
    assert "floor is z · s_drug" in text
    assert "External new-drug test" not in _text(design_section(study))


def test_margins_are_stated_on_their_scales_beside_the_gain(study: Study) -> None:
    blocks = design_section(study)
    text = _text(blocks)
    for gone in ("0.127", "0.137", "repetitions of each fold index", "between repetitions"):
        assert gone not in text
    assert "RMSE ±0.02 (±2% in IC50 fold-change) on known drugs and cells (mixed CV)" in text
    assert "±0.05 (±5% in IC50 fold-change) on new drugs (drug-blind CV)" in text
    assert "Per-drug r (the correlation across cell lines within a drug): ±0.01" in text
    table = next(b.frame for b in blocks if isinstance(b, Table) and "split" in b.frame)
    a = study.answers
    base = a[(a.role == "baseline") & (a.attention == "gat_edge") & (a.twin == "mean_effects")]
    mixed = base[base.split == "mixed"].iloc[0]
    gain = table.set_index("split").loc["mixed", "gat_edge gain over mean effects, RMSE"]
    assert gain.startswith(f"+{-mixed.mean_diff:.3f} [+{-mixed.ci_high:.3f}, ")
    assert table.set_index("split").loc["mixed", "RMSE margin (ln IC50)"] == (
        "±0.02 (±2% IC50 fold-change)"
    )


# --------------------------------------------------------------------------- 4. biomarkers
SUMMARY = {
    "n_associations": 1146637, "r_all": 0.610, "n_significant": 313, "r_significant": 0.927,
    "n_sign_agree_significant": 312, "sign_agreement_significant": 312 / 313, "fdr": 0.05,
    "n_cells": 919, "split_half_seed": 0, "n_split_half_selected": 200, "n_split_half": 180,
    "r_split_half": 0.71, "n_sign_agree_split_half": 170, "sign_agreement_split_half": 170 / 180,
}  # fmt: skip


def _classic(observed: float, predicted: float, p_pred: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "drug_id": ["Erlotinib", "Gefitinib", "Afatinib"],
            "feature": "EGFR mut",
            "n_pos": 100,
            "n_neg": 800,
            "observed": observed,
            "predicted": predicted,
            "p_observed": 0.02,
            "p_predicted": p_pred,
            "q_observed": 0.2,
            "subset": "classic",
        }
    )


def _biomarker_text(study: Study, summary: dict, tmp_path: Path) -> str:
    others = study.biomarkers[study.biomarkers["subset"] != "classic"]
    b = pd.concat([_classic(-0.37, -0.02, 0.6), others], ignore_index=True)
    s = dataclasses.replace(study, biomarkers=b, biomarker_summary=summary)
    return _text(biomarker_section(s, tmp_path))


def test_biomarkers_lead_with_all_and_give_the_split_half(study: Study, tmp_path: Path) -> None:
    text = _biomarker_text(study, SUMMARY, tmp_path)
    lead = "Over all 1,146,637 associations the observed and predicted effects correlate with r = **0.610**"
    assert lead in text
    assert text.index(lead) < text.index("0.927")
    assert "r = 0.927 and the signs agree in 99.7% (312 of 313), but both are inflated" in text
    assert "measured on the other half" in text and "r = **0.710**" in text
    assert "sign in 94.4% (170 of 180) of them" in text
    assert "100%" not in text


def test_biomarkers_without_split_half_state_the_caveat(study: Study, tmp_path: Path) -> None:
    old = {k: v for k, v in SUMMARY.items() if "split_half" not in k and "n_sign" not in k}
    old |= {"n_significant": 3000, "sign_agreement_significant": 2999 / 3000}
    text = _biomarker_text(study, old, tmp_path)
    assert "signs agree in >99.9% (2,999 of 3,000), but both are inflated" in text
    assert "No split-half estimate was recorded" in text and "100" not in text.split("FDR")[1]


def test_share_never_rounds_up_to_all() -> None:
    assert fmt_share(312, 313) == "99.7% (312 of 313)"
    assert fmt_share(9999, 10000) == ">99.9% (9,999 of 10,000)"
    assert fmt_share(5, 5) == "100.0% (5 of 5)"
    assert fmt_share(1, 10000) == "<0.1% (1 of 10,000)"


def test_egfr_classic_is_stated_either_way(study: Study, tmp_path: Path) -> None:
    text = _biomarker_text(study, SUMMARY, tmp_path)
    assert "Erlotinib observed −0.37 ln IC50 (p 0.020), predicted −0.02 (p 0.600)" in text
    assert ": the model misses it." in text
    assert "the model recovers it" in egfr_text(_classic(-0.4, -0.3, 0.01))
    assert "the model partly recovers it" in egfr_text(_classic(-0.4, -0.1, 0.01))
    against = egfr_text(_classic(0.3, 0.2, 0.01))
    assert "runs against the classic" in against
    assert "not testable here" in egfr_text(_classic(-0.4, -0.3, 0.01).iloc[:0])


# --------------------------------------------------------------------------- 5. noise ceiling
def test_a_beaten_ceiling_is_not_called_one(study: Study) -> None:
    results = study.results.copy()
    mixed = (results.variant == "gat_edge") & (results.split == "mixed")
    results.loc[mixed, "rmse"] = 0.40  # below 0.62/√2 = 0.438
    blocks = ceiling_blocks(dataclasses.replace(study, results=results))
    text = _text(blocks)
    assert blocks[0].text == "Replicate noise (not a ceiling)"
    assert "**These figures are not a ceiling**" in text
    assert "its test RMSE, 0.400, is below 0.438" in text
    assert "per-drug offset between the screens" in text and "conservative" not in text
    kept = _text(ceiling_blocks(study))  # the fixture's model (RMSE ≈ 1) stays above it
    assert "Replicate noise ceiling" in kept and "not a ceiling" not in kept


def test_the_ceiling_is_the_noise_within_drugs_against_every_split(study: Study) -> None:
    """With each drug's offset removed, the replicate noise is a ceiling the cell-blind model
    (the default's best split here) stays above; the raw figure would have been beaten."""
    raw = dict(n_pairs=6115, n_drugs=9, pearson=0.880, rmse=1.808, offset_share=0.578)
    proper = raw | {"rmse_within": 1.174, "pearson_within": 0.949}
    results = study.results.copy()
    results = results[results.split != "mixed"]
    results.loc[(results.variant == "gat_edge"), "rmse"] = 1.241  # below 1.808/√2, above 0.830
    results.loc[(results.variant == "gat_edge"), "pearson"] = 0.90
    meta = dict(study.meta, data_summary={"noise_ceiling": proper})
    text = _text(ceiling_blocks(dataclasses.replace(study, results=results, meta=meta)))
    assert "Replicate noise ceiling" in text and "not a ceiling" not in text
    assert "6,115 cell–drug pairs (9 drugs, each screened" in text
    assert "58% of their mean squared difference is a per-drug offset" in text
    assert "= **0.830** ln IC50" in text and "√0.949 = **0.974**" in text
    assert "stays above it (RMSE 1.241)." in text and "The estimate rests on 9 drugs only." in text
    beaten = _text(
        ceiling_blocks(
            dataclasses.replace(
                study, results=results, meta=dict(meta, data_summary={"noise_ceiling": raw})
            )
        )
    )
    assert "**These figures are not a ceiling**" in beaten and "1.241, is below 1.278" in beaten


def test_restored_runs_are_disclosed_beside_the_analyses(study: Study) -> None:
    from drp.report.sections.interpretation import restored_text

    assert restored_text(study, "cell_blind") == ""
    restored = pd.DataFrame(
        {
            "run": ["gat_edge__cell_blind__f0__s0", "gat_edge__cell_blind__f1__s0"],
            "committed_rmse": [1.20, 1.30],
            "restored_rmse": [1.2004, 1.2990],
        }
    )
    text = restored_text(dataclasses.replace(study, restored=restored), "cell_blind")
    assert "The 2 run(s) read here were trained again" in text and "at most 0.0010" in text
    assert restored_text(dataclasses.replace(study, restored=restored), "drug_blind") == ""


def test_egfr_within_lineage_is_stated_beside_the_pooled_effect() -> None:
    classic = _classic(-0.4, -0.3, 0.01).assign(
        observed_within=-0.9, p_observed_within=0.001, predicted_within=-0.1
    )
    text = egfr_text(classic)
    assert (
        "predicted −0.30 (p 0.010); within lineage observed −0.90 (p 0.001), predicted −0.10"
        in text
    )


# --------------------------------------------------------------------------- 6. screened range
def test_groups_without_any_range_column_read_na(study: Study) -> None:
    from drp.report.sections.results import worst_drugs_section

    groups = study.groups.drop(columns="censored")
    blocks = worst_drugs_section(Study(study.root, study.meta, study.results, groups=groups))
    table = next(b.frame for b in blocks if isinstance(b, Table))
    assert set(table["outside screened range"]) == {"n/a"}


def test_convergence_is_told_per_split_with_the_cap_explained(study: Study) -> None:
    results = study.results.copy()
    cap = study.meta["grid"]["epochs"]
    models = results["variant"].isin(study.models)
    first = results.loc[models, "split"].iloc[0]
    capped = models & (results["split"] == first)
    results.loc[capped, ["epochs", "best_epoch"]] = cap  # every run of one split hits the cap
    results.loc[models & ~capped, "epochs"] = cap - 1
    text = design_mod.convergence_text(dataclasses.replace(study, results=results))
    assert f"{first}: 0% of {int(capped.sum())} runs stopped early" in text
    others = [s for s in study.splits if s != first and (results.loc[models, "split"] == s).any()]
    assert others and all(f"{s}: 100% of" in text for s in others)
    assert "annealed schedule" in text


def test_worst_drugs_come_from_the_external_set_when_there_is_one(study: Study) -> None:
    from drp.report.sections.results import worst_drugs_section

    drugs = study.groups[
        (study.groups["kind"] == "drug") & (study.groups["variant"] == study.default_variant)
    ]
    external = drugs[drugs["split"] == drugs["split"].iloc[0]].assign(split="external")
    external = external.assign(id="external drug " + external["id"].astype(str), rmse=99.0)
    groups = pd.concat([study.groups, external], ignore_index=True)
    blocks = worst_drugs_section(Study(study.root, study.meta, study.results, groups=groups))
    table = next(b.frame for b in blocks if isinstance(b, Table))
    assert table["drug"].str.startswith("external drug").all()
    assert "**external**" in _text(blocks)


# --------------------------------------------------------------------------- plain first screen
def _primary_rows(verdicts: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "question": "graph alone: attention vs mean pooling",
            "attention": "graph_only",
            "twin": "graph_only_pool_mean",
            "metric": list(verdicts),
            "verdict": list(verdicts.values()),
            "ci_level": 1 - 0.01 / 3,
        }
    )


def test_each_question_is_answered_in_plain_words() -> None:
    from drp.report.sections.answer import plain_sentence

    both = plain_sentence(_primary_rows({"rmse": "inconclusive", "per_drug_r": "inconclusive"}))
    assert both == (
        "**Graph alone: attention vs mean pooling:** not known — the intervals on RMSE and "
        "per-drug r are too wide to tell (99.67% intervals)."
    )
    mixed = plain_sentence(_primary_rows({"rmse": "equivalent", "per_drug_r": "inconclusive"}))
    assert (
        "mixed — no difference in RMSE that matters (within the margin); the data cannot " in mixed
    )
    assert plain_sentence(_primary_rows({"rmse": "helps"})).startswith(
        "**Graph alone: attention vs mean pooling:** yes — `graph_only` is better on RMSE"
    )
    same = plain_sentence(_primary_rows({"rmse": "equivalent", "per_drug_r": "equivalent"}))
    assert "no difference that matters — the differences in RMSE and per-drug r lie within" in same


def test_ranking_against_the_cell_mean_claims_level_only_within_the_margin(study: Study) -> None:
    from drp.report.sections.answer import ranking_text

    results = study.results.copy()
    blind = results.split == "drug_blind"
    results.loc[blind & (results.variant == "gat_edge"), "per_drug_r"] = 0.642
    results = pd.concat(
        [results, results[blind & (results.variant == "gat_edge")].assign(variant="cell_mean")]
    )
    results.loc[results.variant == "cell_mean", "per_drug_r"] = 0.640
    level = ranking_text(dataclasses.replace(study, results=results))
    assert "0.642 against the cell mean's 0.640" in level and "does as well to within 0.01" in level
    results.loc[results.variant == "cell_mean", "per_drug_r"] = 0.600
    apart = ranking_text(dataclasses.replace(study, results=results))
    assert "does as well" not in apart and "The gap reaches +0.042" in apart


def test_the_median_offset_check_is_reported_beside_the_mean_offset(study: Study) -> None:
    from drp.report.sections.design import offset_sensitivity_text

    assert offset_sensitivity_text(study) == ""
    ext = _external_study(study)
    row = ext.answers[(ext.answers.split == "external") & (ext.answers.metric == "rmse")].iloc[:1]
    sensitivity = row.assign(
        role="sensitivity", mean_diff=-0.031, ci_low=-0.05, ci_high=-0.012, verdict="helps"
    )
    text = offset_sensitivity_text(dataclasses.replace(ext, offset_sensitivity=sensitivity))
    assert "with the median offset +0.819 instead of the mean +0.875" in text
    before = f"{row.mean_diff.iloc[0]:+.3f}".replace("-", "−")
    assert f"{row.question.iloc[0]} {before} → −0.031 [−0.050, −0.012] (helps)" in text


def test_the_precision_reached_names_the_sd_that_set_it() -> None:
    from drp.report.sections.design import sd_met_text

    z = 2.935  # 99.67%, two-sided
    rows = pd.DataFrame(
        {
            "question": ["narrow", "drugs", "seeds"],
            "ci_low": [-0.03, -0.2, -0.5],
            "ci_high": [0.03, 0.2, 0.5],
            "ci_level": 1 - 0.05 / 15,
            "sd_diff": [0.01, 0.02, 0.4],
            "n_pairs": 4,
            "floor_half_width": [0.01 * z, 0.06 * z, 0.01 * z],
        }
    )
    # design_section passes answer rows as Series (answers.iloc[i]), which `in` cannot compare
    series = [r for _, r in rows.iterrows()]
    text = sd_met_text(series, 0.035)
    assert text == sd_met_text(list(rows.itertuples()), 0.035)
    assert "1 of 3 drug-encoder questions reach the RMSE half-width of 0.035" in text
    assert "drugs: 0.200 (seed sd 0.020 over 4 seeds, drug-sample sd 0.060; the drug sample" in text
    assert "seeds: 0.500 (seed sd 0.400 over 4 seeds, drug-sample sd 0.010; the seeds' term" in text
    assert "narrow:" not in text
    assert sd_met_text([], 0.035) == "" and sd_met_text(list(rows.itertuples()), None) == ""
    lone = rows.iloc[:1].assign(ci_low=np.nan, ci_high=np.nan, n_pairs=1)
    alone = sd_met_text([r for _, r in lone.iterrows()], 0.035)
    assert "0 of 1 drug-encoder questions reach" in alone and "narrow: no interval yet" in alone


def test_a_baseline_verdict_that_fails_holm_is_marked_unadjusted_only(study: Study) -> None:
    from drp.report.sections.answer import verdict_section

    a = study.answers.copy()
    base = a.index[a["role"] == "baseline"][:2]
    a.loc[base, "verdict"] = "hurts"
    a.loc[base, "p_holm"] = [0.713, 0.001]
    table = next(
        b for b in verdict_section(dataclasses.replace(study, answers=a)) if isinstance(b, Table)
    )
    verdicts = table.frame["verdict"].tolist()
    assert "**hurts** (unadjusted only)" in verdicts
    assert "**hurts**" in verdicts  # the one that survives Holm stays plain
    # the first screen's sentence on the default against the best baseline says the same
    default = a.index[(a["role"] == "baseline") & (a["attention"] == "gat_edge")][:1]
    a.loc[default, ["verdict", "p_holm"]] = ["hurts", 0.713]
    text = _text(answer_section(dataclasses.replace(study, answers=a)))
    assert "so it loses to it (unadjusted only) (difference" in text
