"""Read a finished study directory (the contract between ``drp.study.runner`` and the report).

Layout (everything but ``runs/`` and the per-cell parquet files is the committed evidence)::

    study.json           name, preset, dataset, grid, provenance, the runs' config, data_summary
    design.json          the declared questions, margins, multiplicity family, fold sizes
    results.csv          one row per (variant, split, fold, seed) with metrics and epochs
    answers.csv          output of ``drp.study.answers.answer_table``
    per_drug_tests.csv   per-drug mixed-model comparison of each question on blind splits
    groups.parquet       per-drug and per-cell metrics of every run
    predictions.parquet  sampled test predictions of the default variant (+ ``censored``)
    cells/<run>.json     each run's record, with its validation curve
    attention.json       atom weights + faithfulness of a few well-known drugs
    biomarkers.csv/json  biomarker recovery on cell-blind test cells (``drp.evaluation.biomarkers``)
    faithfulness.csv     drug_id, split, fold, fraction, k, top_k_delta, random_k_delta, ...

Only ``study.json`` and ``results.csv`` are required; a missing optional file gives an empty
table and the report says the section was not produced.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from drp.models.baselines import BASELINES
from drp.models.registry import DEFAULT_VARIANT

BASELINE_ORDER = ("mean_effects", "drug_mean", "cell_mean", "global_mean", "ridge")
"""Report order of baselines when the study records none: strongest reference first."""
RESULT_COLUMNS = ["variant", "split", "fold", "seed"]
METRICS = ["rmse", "mae", "r2", "pearson", "spearman", "per_drug_r", "per_cell_r"]


@dataclass
class Study:
    """Everything a report needs, read from one study directory."""

    root: Path
    meta: dict
    results: pd.DataFrame
    answers: pd.DataFrame = field(default_factory=pd.DataFrame)
    design: dict = field(default_factory=dict)
    per_drug_tests: pd.DataFrame = field(default_factory=pd.DataFrame)
    groups: pd.DataFrame = field(default_factory=pd.DataFrame)
    predictions: pd.DataFrame = field(default_factory=pd.DataFrame)
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    attention: list[dict] = field(default_factory=list)
    faithfulness: pd.DataFrame = field(default_factory=pd.DataFrame)
    biomarkers: pd.DataFrame = field(default_factory=pd.DataFrame)
    biomarker_summary: dict = field(default_factory=dict)
    restored: pd.DataFrame = field(default_factory=pd.DataFrame)
    offset_sensitivity: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def splits(self) -> list[str]:
        """Splits in grid order (falling back to the order in results.csv)."""
        grid = self.meta.get("grid", {}).get("splits") or []
        seen = list(dict.fromkeys(self.results["split"]))
        return [s for s in grid if s in seen] + [s for s in seen if s not in grid]

    @property
    def baselines(self) -> list[str]:
        """Baseline variants present in results.csv."""
        names = self.meta.get("grid", {}).get("baselines") or [
            *BASELINE_ORDER,
            *(b for b in BASELINES if b not in BASELINE_ORDER),
        ]
        present = set(self.results["variant"])
        return [b for b in names if b in present]

    @property
    def models(self) -> list[str]:
        """Model (non-baseline) variants in grid order."""
        grid = self.meta.get("grid", {}).get("variants") or []
        seen = list(dict.fromkeys(self.results["variant"]))
        ordered = [v for v in grid if v in seen] + [v for v in seen if v not in grid]
        return [v for v in ordered if v not in self.baselines]

    @property
    def default_variant(self) -> str:
        """``grid.default_variant`` if given, else ``gat_edge`` if present, else the first model."""
        named = self.meta.get("grid", {}).get("default_variant")
        if named:
            return named
        models = self.models
        return DEFAULT_VARIANT if DEFAULT_VARIANT in models else (models[0] if models else "")

    @property
    def twins(self) -> list[str]:
        """Twins of the default variant named in answers.csv."""
        if self.answers.empty:
            return []
        a = self.answers[self.answers["role"] != "baseline"]
        return list(dict.fromkeys(a.loc[a["attention"] == self.default_variant, "twin"]))


def _csv(path: Path) -> pd.DataFrame:
    """The table, or an empty one when the file is absent or empty (a study of one variant
    asks no question: its answers.csv has no rows and no header)."""
    if not path.is_file():
        return pd.DataFrame()
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def _parquet(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.is_file() else pd.DataFrame()


def load_study(study_dir: Path) -> Study:
    """Read a study directory; raise ``FileNotFoundError``/``ValueError`` on a broken contract."""
    from drp.study.evidence import read_histories

    root = Path(study_dir)
    meta_path, results_path = root / "study.json", root / "results.csv"
    for p in (meta_path, results_path):
        if not p.is_file():
            raise FileNotFoundError(f"study directory {root} lacks {p.name}")
    meta = json.loads(meta_path.read_text())
    results = pd.read_csv(results_path)
    missing = [c for c in RESULT_COLUMNS if c not in results.columns]
    if missing:
        raise ValueError(f"results.csv lacks column(s): {', '.join(missing)}")
    design_path = root / "design.json"
    att_path = root / "attention.json"
    groups = _parquet(root / "groups.parquet")
    if not groups.empty:
        groups = groups.astype({c: str for c in ("kind", "id", "variant", "split")})
    predictions = _parquet(root / "predictions.parquet")
    if not predictions.empty:
        predictions = predictions.astype({"variant": str, "split": str})
    return Study(
        root,
        meta,
        results,
        answers=_csv(root / "answers.csv"),
        design=json.loads(design_path.read_text()) if design_path.is_file() else {},
        per_drug_tests=_csv(root / "per_drug_tests.csv"),
        groups=groups,
        predictions=predictions,
        history=read_histories(root),
        attention=json.loads(att_path.read_text()) if att_path.is_file() else [],
        faithfulness=_csv(root / "faithfulness.csv"),
        biomarkers=_csv(root / "biomarkers.csv"),
        biomarker_summary=json.loads((root / "biomarkers.json").read_text())
        if (root / "biomarkers.json").is_file()
        else {},
        restored=_csv(root / "restored_runs.csv"),
        offset_sensitivity=_csv(root / "offset_sensitivity.csv"),
    )


def summary_table(results: pd.DataFrame, variants: list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean ± sd over folds x seeds of each metric, one row per variant (in the given order)."""
    rows = []
    for v in variants:
        r = results[results["variant"] == v]
        if r.empty:
            continue
        row: dict[str, object] = {"variant": v, "runs": len(r)}
        for m in metrics:
            x = r[m].to_numpy(dtype=float) if m in r else np.array([np.nan])
            sd = np.nanstd(x, ddof=1) if np.isfinite(x).sum() > 1 else 0.0
            row[m] = f"{np.nanmean(x):.3f} ± {sd:.3f}" if np.isfinite(x).any() else "–"
        rows.append(row)
    return pd.DataFrame(rows)
