"""A study's compact, committed evidence: one small record per finished grid cell.

Each cell (variant x split x fold x seed) leaves, under ``<study>/cells/``:

* ``<run>.json``: the run's test metrics, training summary (epochs, seconds, best validation
  RMSE), and its validation curve. Written last and atomically: its presence marks the cell
  finished, so a study resumes from these records alone (checkpoints are not needed).
* ``<run>.groups.parquet``: per-drug and per-cell test metrics (``kind`` = drug or cell, ``id``,
  ``n``, ``rmse``, ``pearson``, ``mean_true``, ``mean_pred``, ``censored``: pairs whose
  measured IC50 lies outside the screened concentration range).
* ``<run>.sample.parquet``: for the default variant only, up to :data:`SAMPLE_ROWS` test
  predictions (for the scatter plots).

A few kilobytes per cell; a 100-run study is a few MB, so it is committed beside its report.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from drp.core.files import atomic_write
from drp.evaluation.metrics import metrics

CELLS = "cells"
#: runs trained again for the analyses (``restore`` units of :func:`drp.study.runner.run_cell`), one json each
RESTORED = "restored"
SAMPLE_ROWS = 4000
METRIC_KEYS = ("rmse", "mae", "r2", "pearson", "spearman", "per_drug_r", "per_cell_r", "n")


def cell_path(study: Path, run: str) -> Path:
    """The record that marks a grid cell finished."""
    return Path(study) / CELLS / f"{run}.json"


def is_finished(study: Path, run: str) -> bool:
    return cell_path(study, run).is_file()


def group_table(
    pred: pd.DataFrame,
    censored: pd.Series | None = None,
    outside_range: pd.Series | None = None,
) -> pd.DataFrame:
    """Per-drug and per-cell metrics of one prediction frame.

    Args:
        pred: [n] rows with ``cell_id, drug_id, y_true, y_pred``.
        censored: [n] bool, aligned with ``pred``: the pair's IC50 is at CCLE's 8 µM cap.
        outside_range: [n] nullable bool, aligned with ``pred``: the pair's IC50 lies outside
            its screened concentration range (NA where unknown); adds the counts
            ``outside_range`` and ``range_known`` per group.
    """
    frame = pred.assign(
        se=(pred["y_true"] - pred["y_pred"]) ** 2,
        censored=False if censored is None else np.asarray(censored, dtype=bool),
    )
    if outside_range is not None:
        flag = pd.Series(pd.array(np.asarray(outside_range, dtype=object), dtype="boolean"))
        frame["outside_range"] = flag.eq(True).fillna(False).to_numpy(bool)
        frame["range_known"] = flag.notna().to_numpy(bool)
    tables = []
    for kind, key in (("drug", "drug_id"), ("cell", "cell_id")):
        codes, ids = pd.factorize(frame[key], sort=True)
        g = frame.groupby(codes, sort=True)
        table = pd.DataFrame(
            {
                "kind": kind,
                "id": np.asarray(ids, dtype=object).astype(str),
                "n": g.size().to_numpy(),
                "rmse": np.sqrt(g["se"].mean().to_numpy()),
                "mean_true": g["y_true"].mean().to_numpy(),
                "mean_pred": g["y_pred"].mean().to_numpy(),
                "censored": g["censored"].sum().to_numpy(),
            }
        )
        if outside_range is not None:
            table["outside_range"] = g["outside_range"].sum().to_numpy()
            table["range_known"] = g["range_known"].sum().to_numpy()
        table["pearson"] = _per_group_r(codes, frame, len(ids))
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def _per_group_r(codes: np.ndarray, frame: pd.DataFrame, n_groups: int) -> np.ndarray:
    """[n_groups] Pearson r of y_true and y_pred within each group (nan below 3 pairs or for a
    constant observed response; 0 for a constant prediction, as in :mod:`drp.evaluation.metrics`)."""
    out = np.full(n_groups, np.nan)
    t_all, p_all = frame["y_true"].to_numpy(float), frame["y_pred"].to_numpy(float)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(n_groups + 1))
    for g in range(n_groups):
        idx = order[bounds[g] : bounds[g + 1]]
        if idx.size < 3:
            continue
        t, p = t_all[idx], p_all[idx]
        if np.ptp(t) == 0:
            continue
        out[g] = 0.0 if np.ptp(p) == 0 else float(np.corrcoef(t, p)[0, 1])
    return out


def write_cell(
    study: Path,
    run: str,
    labels: dict[str, object],
    pred: pd.DataFrame,
    summary: dict,
    history: pd.DataFrame | None = None,
    censored: pd.Series | None = None,
    sample: bool = False,
    outside_range: pd.Series | None = None,
    seed: int = 0,
) -> Path:
    """Write one finished cell's compact record (groups and sample first, the json last)."""
    folder = Path(study) / CELLS
    folder.mkdir(parents=True, exist_ok=True)
    groups = group_table(pred, censored, outside_range)
    atomic_write(folder / f"{run}.groups.parquet", lambda p: groups.to_parquet(p, index=False))
    if sample:
        rows = pred.sample(min(SAMPLE_ROWS, len(pred)), random_state=seed).sort_index()
        rows = rows[["cell_id", "drug_id", "y_true", "y_pred"]].astype(
            {"y_true": "float32", "y_pred": "float32"}
        )
        atomic_write(folder / f"{run}.sample.parquet", lambda p: rows.to_parquet(p, index=False))
    m = metrics(pred)
    record = {
        **labels,
        **{k: (float(m[k]) if k != "n" else int(m[k])) for k in METRIC_KEYS},
        "epochs": int(summary.get("epochs_run", 0)),
        "best_epoch": int(summary.get("best_epoch", 0)),
        "best_val_rmse": summary.get("best_val_rmse"),
        "train_seconds": summary.get("train_seconds"),
        "precision": summary.get("precision"),
        # which worker ran it, on which try (drp.core.claims); not a result, kept out of read_cells
        "execution": {k: summary[k] for k in ("attempt", "worker") if k in summary},
        "history": []
        if history is None
        else [
            {
                "epoch": int(r.epoch),
                "train_loss": float(r.train_loss),
                "val_rmse": float(r.val_rmse),
            }
            for r in history.itertuples()
        ],
    }
    path = cell_path(study, run)
    atomic_write(path, lambda p: p.write_text(json.dumps(record, indent=1) + "\n"))
    return path


def read_cells(study: Path) -> pd.DataFrame:
    """One row per finished cell: its labels, metrics and training summary (no history, no
    execution record)."""
    rows = []
    for p in sorted((Path(study) / CELLS).glob("*.json")):
        record = json.loads(p.read_text())
        record.pop("history", None)
        record.pop("execution", None)
        rows.append({"run": p.stem, **record})
    return pd.DataFrame(rows)


def read_histories(study: Path) -> pd.DataFrame:
    """Validation curves of every finished cell: run labels + epoch, train_loss, val_rmse."""
    frames = []
    for p in sorted((Path(study) / CELLS).glob("*.json")):
        record = json.loads(p.read_text())
        history = pd.DataFrame(record.get("history") or [])
        if history.empty:
            continue
        for key in ("variant", "split", "fold", "seed"):
            history[key] = record[key]
        frames.append(history)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


GROUPS = "groups.parquet"
PREDICTIONS = "predictions.parquet"
LABELS = ("variant", "split", "fold", "seed")


def _labels(study: Path, run: str) -> dict | None:
    record_path = cell_path(study, run)
    return json.loads(record_path.read_text()) if record_path.is_file() else None


def _read_labelled(study: Path, suffix: str, consolidated: str) -> pd.DataFrame:
    """Every finished cell's ``<run><suffix>`` file with the cell's labels, plus the rows of the
    ``consolidated`` file (the committed evidence) for cells whose own file is absent."""
    frames, seen = [], set()
    for p in sorted((study / CELLS).glob(f"*{suffix}")):
        labels = _labels(study, p.name.removesuffix(suffix))
        if labels is None:
            continue
        frames.append(pd.read_parquet(p).assign(**{k: labels[k] for k in LABELS}))
        seen.add(tuple(labels[k] for k in LABELS))
    if (study / consolidated).is_file():
        old = pd.read_parquet(study / consolidated)
        old = old.astype({"variant": str, "split": str})
        keys = zip(*(old[k] for k in LABELS), strict=True)
        frames.append(old[[k not in seen for k in keys]])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def read_groups(study: Path) -> pd.DataFrame:
    """Per-drug and per-cell metrics of every finished cell, with its labels: the per-cell files
    where present, else the consolidated ``groups.parquet`` of the committed evidence."""
    out = _read_labelled(Path(study), ".groups.parquet", GROUPS)
    if out.empty:
        return out
    return out.astype({"kind": str, "id": str, "variant": str, "split": str})


def read_samples(study: Path) -> pd.DataFrame:
    """Sampled test predictions of the default variant (every split, fold and seed), with
    labels: the per-cell files where present, else the consolidated ``predictions.parquet``."""
    return _read_labelled(Path(study), ".sample.parquet", PREDICTIONS)


def consolidate(study: Path, censored: pd.DataFrame | None = None) -> None:
    """Write ``groups.parquet`` and ``predictions.parquet`` (compact, zstd) from every finished
    cell; ``censored`` (``cell_id, drug_id`` and ``censored`` and/or ``outside_range``) flags
    the sampled pairs at CCLE's cap and those outside their screened range (NA: unknown)."""
    study = Path(study)
    groups = read_groups(study)
    if not groups.empty:
        groups = groups.astype(
            {"kind": "category", "id": "category", "variant": "category", "split": "category"}
            | dict.fromkeys(("rmse", "mean_true", "mean_pred", "pearson"), "float32")
        )
        atomic_write(
            study / GROUPS, lambda p: groups.to_parquet(p, compression="zstd", index=False)
        )
    samples = read_samples(study)
    if not samples.empty:
        if censored is not None:
            flags = [c for c in ("censored", "outside_range") if c in censored]
            samples = samples.drop(columns=flags, errors="ignore").merge(
                censored, on=["cell_id", "drug_id"], how="left"
            )
            if "censored" in samples:
                samples["censored"] = samples["censored"].fillna(False).astype(bool)
        atomic_write(
            study / PREDICTIONS, lambda p: samples.to_parquet(p, compression="zstd", index=False)
        )


EVIDENCE_FILES = (
    "study.json",
    "design.json",
    "results.csv",
    "answers.csv",
    "per_drug_tests.csv",
    GROUPS,
    PREDICTIONS,
    "attention.json",
    "faithfulness.csv",
    "biomarkers.csv",
    "biomarkers.json",
    "restored_runs.csv",
    "offset_sensitivity.csv",
)


def export(study: Path, dest: Path) -> Path:
    """Copy a study's compact evidence (the files above and ``cells/*.json``; no checkpoints,
    no per-cell parquet files) to ``dest``: enough to regenerate its report with ``drp report``
    and to resume the study elsewhere. Returns ``dest``."""
    import shutil

    study, dest = Path(study), Path(dest)
    if study.resolve() == dest.resolve():
        return dest
    (dest / CELLS).mkdir(parents=True, exist_ok=True)
    for name in EVIDENCE_FILES:
        if (study / name).is_file():
            shutil.copyfile(study / name, dest / name)
    for record in sorted((study / CELLS).glob("*.json")):
        shutil.copyfile(record, dest / CELLS / record.name)
    return dest
