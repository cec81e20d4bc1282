"""Scoring models on folds: baselines and training runs on identical folds, metric tables.

Metric definitions live in :mod:`drp.evaluation.metrics`; this module runs models and writes/prints tables.
Every model, baseline or neural (:class:`drp.training.estimator.NeuralEstimator`), is scored on a
fold by one function, :func:`score_model`: fit on train/val, predict test (possibly from another
dataset's features) and write the run directory (:func:`fit_predict`), then metrics with the
split's bootstrap unit (:func:`score_predictions`). ``drp evaluate`` goes through it, ``drp
study`` through :func:`fit_predict` (it scores the run directories afterwards).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

from drp.core.files import atomic_write_text
from drp.evaluation.metrics import (
    LOWER_IS_BETTER,
    MIN_GROUP,
    TABLE_METRICS,
    aggregate_folds,
    evaluate_predictions,
)
from drp.featurize.similarity import drug_identity
from drp.training.intervals import INTERVAL_METRICS, interval_metrics

if TYPE_CHECKING:
    from rich.console import Console

    from drp.core.config import RunConfig
    from drp.featurize.store import FeaturizedDataset
    from drp.splits.cross_dataset import CrossDatasetSplit
    from drp.splits.folds import Fold
    from drp.training.loop import FoldIndices


class Model(Protocol):
    """The model contract shared by baselines and neural estimators."""

    name: str

    def fit(
        self, ds: FeaturizedDataset, train: pd.DataFrame, val: pd.DataFrame | None = None
    ) -> Model: ...

    def predict(self, ds: FeaturizedDataset, pairs: pd.DataFrame) -> np.ndarray: ...


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`drp.evaluation.metrics.aggregate_folds` plus the bootstrap unit (``ci_unit``) and the mean
    CI bounds (``<metric>_lo_mean``, ``<metric>_hi_mean``) where the table has them."""
    by = ("model", "kind", "split", "subset", "ci_unit")
    summary = aggregate_folds(table, by=by)
    bounds = [c for c in table if c.endswith(("_lo", "_hi"))]
    if bounds:
        keys = [c for c in by if c in table]
        means = table.groupby(keys, sort=False, dropna=False)[bounds].mean().add_suffix("_mean")
        summary = summary.merge(means.reset_index(), on=keys, how="left")
    return summary


def write_metrics(table: pd.DataFrame, out_dir: Path, extra: dict | None = None) -> pd.DataFrame:
    """Write ``metrics.csv`` (one row per model x fold x subset), ``metrics_summary.csv``
    (mean/sd over folds) and ``metrics.json`` (both, plus ``extra``); returns the summary."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarise(table)
    table.to_csv(out_dir / "metrics.csv", index=False)
    summary.to_csv(out_dir / "metrics_summary.csv", index=False)
    payload = {
        "metrics": json.loads(table.to_json(orient="records")),
        "summary": json.loads(summary.to_json(orient="records")),
        "lower_is_better": sorted(LOWER_IS_BETTER),
    } | (extra or {})
    (out_dir / "metrics.json").write_text(json.dumps(payload, indent=2, default=str))
    return summary


def print_metrics_table(
    summary: pd.DataFrame,
    console: Console | None = None,
    title: str = "mean ± sd over folds",
    ceiling: dict[str, float] | None = None,
) -> None:
    """Rich table: baselines (dim) beside models, ``mean ±sd`` per metric; best value in bold.

    ``split`` and ``subset`` get a column only when they vary; otherwise they go in the title.
    Numbers are never cut to an ellipsis: outside a terminal the table is printed at its natural
    width (:func:`drp.core.progress.print_renderable`), and in a narrow terminal cells fold.
    """
    from rich.console import Console
    from rich.table import Table

    from drp.core.progress import print_renderable

    console = console or Console()
    varying = [c for c in ("split", "subset") if summary[c].nunique() > 1]
    fixed = [f"{c} {summary[c].iloc[0]}" for c in ("split", "subset") if c not in varying]
    folds = sorted(summary["n_folds"].unique())
    parts = [*fixed, f"{'/'.join(map(str, folds))} fold(s)", title]
    has_ci = any(c.endswith("_lo_mean") for c in summary)
    if has_ci and "ci_unit" in summary:
        units = sorted(summary["ci_unit"].dropna().astype(str).unique())
        parts.append(f"[95% bootstrap CI resampling {' / '.join(units)}]")
    table = Table(title=", ".join(parts))
    table.add_column("model", overflow="fold")
    for col in varying:
        table.add_column(col, overflow="fold")
    shown = [m for m in TABLE_METRICS if f"{m}_mean" in summary]
    for m in shown:
        header = m + (" ↓" if m in LOWER_IS_BETTER else " ↑")
        table.add_column(header, justify="right", overflow="fold")
    # conformal coverage and width: no better direction (coverage should match its level)
    intervals = [m for m in INTERVAL_METRICS if f"{m}_mean" in summary]
    for m in intervals:
        header = m.replace("coverage_", "cov ").replace("_", " ")
        table.add_column(header, justify="right", overflow="fold")
    summary = summary.sort_values(["split", "subset", "kind", "model"], kind="stable")
    for _, block in summary.groupby(["split", "subset"], sort=False):
        best = {
            m: (block[f"{m}_mean"].min() if m in LOWER_IS_BETTER else block[f"{m}_mean"].max())
            for m in shown
        }
        for _, row in block.iterrows():
            cells = []
            for m in shown:
                mean, sd = row[f"{m}_mean"], row[f"{m}_sd"]
                text = "–" if pd.isna(mean) else f"{mean:.3f}"
                if not pd.isna(sd) and not pd.isna(mean):
                    text += f" ±{sd:.3f}"  # a space: narrow terminals wrap there
                lo, hi = row.get(f"{m}_lo_mean", np.nan), row.get(f"{m}_hi_mean", np.nan)
                if not (pd.isna(lo) or pd.isna(hi)):
                    text += f" \\[{lo:.3f}, {hi:.3f}]"
                cells.append(f"[bold]{text}[/]" if mean == best[m] else text)
            cells += [
                "–" if pd.isna(row[f"{m}_mean"]) else f"{row[f'{m}_mean']:.3f}" for m in intervals
            ]
            model = str(row["model"])
            if row.get("kind") == "baseline":
                model = f"[dim]{model}[/]"
            table.add_row(model, *(str(row[c]) for c in varying), *cells)
    if ceiling and ceiling.get("n_pairs"):
        table.caption = (
            f"replicate noise ceiling ({ceiling['n_pairs']:,} pairs measured twice): "
            f"rmse {ceiling['rmse']:.3f}, pearson {ceiling['pearson']:.3f}"
        )
    print_renderable(table, console)


# ---- one model scored on one fold -------------------------------------------------------------
def prediction_frame(pairs: pd.DataFrame, y_pred: np.ndarray) -> pd.DataFrame:
    """``cell_id, drug_id, y_true, y_pred`` from pairs with ``ln_ic50``, plus ``censored``,
    ``subset`` and ``drug_id_other`` where ``pairs`` has them (cross-dataset tests)."""
    extra = [c for c in ("censored", "subset", "drug_id_other") if c in pairs]
    out = pairs[["cell_id", "drug_id", *extra]].reset_index(drop=True).copy()
    out.insert(2, "y_true", pairs["ln_ic50"].to_numpy(np.float64))
    out.insert(3, "y_pred", np.asarray(y_pred, np.float64))
    return out


def write_predictions(frame: pd.DataFrame, path: Path) -> None:
    """Write a prediction frame atomically (a finished run is one whose test file exists)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


#: Resampling unit of the cross-dataset subsets whose pairs cluster by a new entity: new
#: cells by ``cell_id``, new drugs by structure (``structure_key`` of the test dataset).
CROSS_SUBSET_UNIT = {
    "new_cell": ("cell_id", "cell"),
    "new_drug": ("structure_key", "drug structure"),
}


def _subset_groups(sub: pd.DataFrame, key: str, test_ds: FeaturizedDataset | None) -> np.ndarray:
    """[n] resampling label of each pair of a cross-dataset subset: its ``cell_id``, or its
    drug's identity (:func:`~drp.featurize.similarity.drug_identity` of its ``structure_key``) in
    ``test_ds`` (drug ids in the training id space, where two target ids of one structure share
    it); the drug id where the key is unknown."""
    if key != "structure_key":
        return sub[key].to_numpy()
    drugs = None if test_ds is None else test_ds.drugs
    if drugs is None or "structure_key" not in drugs:
        return sub["drug_id"].to_numpy()
    structure = drug_identity(
        drugs.drop_duplicates("drug_id").set_index("drug_id")["structure_key"]
    )
    return sub["drug_id"].map(structure).fillna(sub["drug_id"]).to_numpy()


def score_predictions(
    frame: pd.DataFrame,
    labels: dict[str, object],
    ds: FeaturizedDataset | None = None,
    split: str | None = None,
    min_group: int = MIN_GROUP,
    n_boot: int = 0,
    seed: int = 0,
    test_ds: FeaturizedDataset | None = None,
) -> pd.DataFrame:
    """Metric rows of a prediction frame, with bootstrap CIs over the split's unit.

    The resampling unit comes from :func:`drp.splits.bootstrap.bootstrap_groups` (held-out cells,
    drug structures, drug clusters or tissues; pairs for mixed). Whenever ``split`` and ``ds``
    are known, every row records the split's unit in ``ci_unit`` and the number of units in
    ``ci_units``, with or without CIs (without ``ds``, or without CIs on a store featurized
    before structure keys, the unit cannot be looked up and ``ci_unit`` says ``pair``).
    A frame with a ``subset`` column (cross-dataset) gets rows for all pairs and for every
    subset (``seen_pair``, ``new_pair``, ``new_cell``, ``new_drug``; each also
    ``<subset>:uncensored`` when censored pairs exist); ``new_cell`` resamples its new cells,
    ``new_drug`` its new drug structures (looked up in ``test_ds``, the dataset the test
    pairs' features come from).
    """
    from drp.splits.bootstrap import bootstrap_groups, bootstrap_unit

    groups, unit = None, "pair"
    if split is not None and ds is not None and bootstrap_unit(split) != "pair":
        try:
            groups, unit = bootstrap_groups(ds, split, frame)
        except ValueError:
            # a store featurized before structure keys: fine for plain metrics, not for CIs
            if n_boot > 0:
                raise
    kwargs = {"min_group": min_group, "n_boot": n_boot, "seed": seed}
    rows = [evaluate_predictions(frame, labels, groups=groups, ci_unit=unit, **kwargs)]
    if "subset" in frame:
        for name, sub in frame.groupby("subset", sort=True):
            key, sub_unit = CROSS_SUBSET_UNIT.get(str(name), (None, "pair"))
            sub_groups = None if key is None else _subset_groups(sub, key, test_ds)
            part = evaluate_predictions(
                sub.reset_index(drop=True),
                labels,
                groups=sub_groups,
                ci_unit=sub_unit,
                **kwargs,
            )
            part["subset"] = part["subset"].map(
                lambda s, n=name: str(n) if s == "all" else f"{n}:{s}"
            )
            rows.append(part)
    return pd.concat(rows, ignore_index=True)


def score_model(
    model: Model,
    ds: FeaturizedDataset,
    train: pd.DataFrame,
    val: pd.DataFrame | None,
    test: pd.DataFrame,
    labels: dict[str, object],
    *,
    split: str | None = None,
    test_ds: FeaturizedDataset | None = None,
    run_dir: Path | None = None,
    min_group: int = MIN_GROUP,
    n_boot: int = 0,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A model scored on a fold: fit on ``train``/``val`` of ``ds``, predict ``test`` from the
    features of ``test_ds`` (default ``ds``; another dataset for cross-dataset tests)
    (:func:`fit_predict`), metric rows with the split's bootstrap unit
    (:func:`score_predictions`).

    Returns:
        ``(rows, predictions)``: metric rows (one per subset) and the test prediction frame.
    """
    preds = fit_predict(model, ds, train, val, test, test_ds=test_ds, run_dir=run_dir)
    rows = score_predictions(preds, labels, ds, split, min_group, n_boot, seed, test_ds)
    return rows, preds


def fit_predict(
    model: Model,
    ds: FeaturizedDataset,
    train: pd.DataFrame,
    val: pd.DataFrame | None,
    test: pd.DataFrame,
    *,
    test_ds: FeaturizedDataset | None = None,
    run_dir: Path | None = None,
) -> pd.DataFrame:
    """Fit ``model`` on ``train``/``val`` of ``ds`` and return the prediction frame of ``test``
    (features from ``test_ds``, default ``ds``).

    With ``run_dir``, ``predictions_val.parquet`` and then ``predictions_test.parquet`` are
    written there (the test file last: its presence marks the run finished). A model that writes
    the validation predictions itself while fitting in ``run_dir`` (the neural estimator's
    trainer) is not asked to predict them again.
    """
    val_path = None if run_dir is None else Path(run_dir) / "predictions_val.parquet"
    if val_path is not None:
        val_path.unlink(missing_ok=True)  # so a file there after fit is this fit's
    model.fit(ds, train, val)
    preds = prediction_frame(test, model.predict(test_ds if test_ds is not None else ds, test))
    if val_path is not None:
        if val is not None and len(val) and not val_path.exists():
            write_predictions(prediction_frame(val, model.predict(ds, val)), val_path)
        write_predictions(preds, val_path.with_name("predictions_test.parquet"))
    return preds


# ---- runs and baselines -----------------------------------------------------------------------
def read_run_config(run_dir: Path) -> dict:
    """``config.json`` of a run directory.

    Raises:
        FileNotFoundError: naming the run and the missing file.
    """
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} is not a finished run: config.json missing")
    return json.loads(path.read_text())


def fold_seed(config: dict) -> int | None:
    """The seed a run's folds were drawn with (``fold_seed``; ``seed`` in runs from before it)."""
    value = config.get("fold_seed", config.get("seed"))
    return None if value is None else int(value)


def _run_labels(run_dir: Path, config: dict) -> dict[str, object]:
    model = config.get("model")
    name = model.get("name") if isinstance(model, dict) else model
    return {
        "model": name or Path(run_dir).name,
        "kind": "model",
        "split": config.get("split"),
        "fold": config.get("fold"),
        "seed": config.get("seed"),
        "run_dir": str(run_dir),
    }


def combine_members(frames: Sequence[pd.DataFrame], column: str = "ln_ic50_pred") -> pd.DataFrame:
    """One ensemble prediction from members' frames for the same pairs in the same order
    (``cell_id, drug_id``, the prediction ``column`` and any other columns, kept from the first
    member): the mean, ``ensemble_sd`` (sd over members) and ``n_models``.

    Raises:
        ValueError: the members predicted different pairs.
    """
    keys = ["cell_id", "drug_id"]
    first = frames[0]
    for f in frames[1:]:
        if len(f) != len(first) or not f[keys].reset_index(drop=True).equals(
            first[keys].reset_index(drop=True)
        ):
            raise ValueError("ensemble members predicted different pairs")
    stacked = np.stack([f[column].to_numpy() for f in frames])
    out = first.reset_index(drop=True).copy()
    out[column] = stacked.mean(0)
    out["ensemble_sd"] = stacked.std(0, ddof=1) if len(frames) > 1 else 0.0
    out["n_models"] = len(frames)
    return out


def manifest_checksum(files: Mapping[str, str]) -> str:
    """SHA-256 of a featurized dataset's file checksums (its manifest's ``files``, a run's
    ``data_files``): equal for the same data wherever it lies."""
    return hashlib.sha256(json.dumps(dict(files), sort_keys=True).encode()).hexdigest()


ENSEMBLE_FIELDS = ("variant", "split", "dataset", "prior")
"""What the members of one ensemble must share (:func:`member_setting`)."""


def member_setting(config: Mapping) -> dict[str, tuple[str, str]]:
    """A run's :data:`ENSEMBLE_FIELDS` from its ``config.json``, each as ``(identity, label)``:
    the variant (model name and a digest of its whole ``model`` section), the split kind, the dataset (identified by a checksum of its
    files where recorded, else by its path; labelled with both) and the drug prior
    (``train.drug_prior``, with ``train.prior_auxiliary`` when the prior is on). A value the
    run does not record reads ``unrecorded``."""
    train = config.get("train") or {}
    model = config.get("model")
    variant = str((model.get("name") if isinstance(model, dict) else model) or "unrecorded")
    variant_id = variant
    if isinstance(model, dict):  # the whole model section: --set model.hidden=64 is another model
        settings = {k: v for k, v in model.items() if k != "name"}
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
        variant_id = f"{variant} {digest.hexdigest()[:8]}"
    split = str(config.get("split") or train.get("split") or "unrecorded")
    path = str(config.get("dataset") or train.get("dataset") or "unrecorded")
    files = config.get("data_files") or {}
    data = f"data {manifest_checksum(files)[:12]}" if files else path
    prior = str(train.get("drug_prior") or "unrecorded")
    if prior == "similarity":
        prior += f" (auxiliary {train.get('prior_auxiliary') or 'none'})"
    return {
        "variant": (variant_id, variant_id),
        "split": (split, split),
        "dataset": (data, f"{data} ({path})" if files else path),
        "prior": (prior, prior),
    }


def ensemble_mismatch(configs: Mapping[str, Mapping], shown: int = 3) -> str | None:
    """None when the runs (name -> ``config.json``) can predict as one ensemble; else one line
    naming each field of :data:`ENSEMBLE_FIELDS` that differs, every value it takes and (up to
    ``shown`` of) the runs that have it."""
    settings = {run: member_setting(config) for run, config in configs.items()}
    parts = []
    for field in ENSEMBLE_FIELDS:
        groups: dict[str, tuple[str, list[str]]] = {}
        for run, setting in settings.items():
            identity, label = setting[field]
            groups.setdefault(identity, (label, []))[1].append(run)
        if len(groups) < 2:
            continue
        values = []
        for label, runs in groups.values():
            more = f" and {len(runs) - shown} more" if len(runs) > shown else ""
            values.append(f"{label} in {', '.join(runs[:shown])}{more}")
        parts.append(f"{field} ({'; '.join(values)})")
    return "; ".join(parts) or None


def evaluate_runs(
    run_dirs: Iterable[Path],
    min_group: int = MIN_GROUP,
    n_boot: int = 0,
    ds: FeaturizedDataset | None = None,
    ensemble: bool = False,
) -> pd.DataFrame:
    """Metric rows of training run directories.

    Each ``run_dir`` holds ``config.json`` (``dataset, split, fold, seed, k, model``) and
    ``predictions_test.parquet`` (``cell_id, drug_id, y_true, y_pred``). The model label is
    ``config["model"]["name"]`` when present, else the directory name. ``ci_unit`` is the
    split's unit (CIs with ``n_boot`` resample it), looked up in ``ds`` (default: the run's
    dataset, when it still exists; otherwise ``pair``).

    With ``ensemble``, every group of two or more runs that share model, dataset, split, k, fold
    seed and fold (a seed ensemble) is also scored as one model, ``<model> ensemble`` (kind ``ensemble``): the mean
    of their predictions, with ``n_models`` members and the mean of their conformal quantiles.

    Raises:
        FileNotFoundError: a run directory lacks one of the two files.
        ValueError: members of one ensemble predicted different test pairs.
    """
    from drp.featurize.store import FeaturizedDataset

    tables = []
    loaded: dict[str, FeaturizedDataset] = {}
    members: dict[tuple, list[tuple[Path, pd.DataFrame]]] = {}

    def dataset_of(config: dict) -> FeaturizedDataset | None:
        if ds is not None or not config.get("dataset") or not Path(config["dataset"]).exists():
            return ds
        path = str(config["dataset"])
        if path not in loaded:
            loaded[path] = FeaturizedDataset.load(Path(path))
        return loaded[path]

    def score(preds: pd.DataFrame, labels: dict, config: dict, runs: list[Path]) -> None:
        rows = score_predictions(
            preds, labels, dataset_of(config), config.get("split"), min_group, n_boot,
            fold_seed(config) or 0,
        )  # fmt: skip
        # conformal coverage on all of the fold's test pairs (same value on every subset row)
        tables.append(rows.assign(**interval_metrics(runs, preds)))

    configs: dict[Path, dict] = {}
    for run_dir in map(Path, run_dirs):
        pred_path = run_dir / "predictions_test.parquet"
        configs[run_dir] = config = read_run_config(run_dir)
        if not pred_path.exists():
            raise FileNotFoundError(f"{run_dir} is not a finished run: {pred_path.name} missing")
        preds = pd.read_parquet(pred_path)
        labels = _run_labels(run_dir, config)
        score(preds, labels, config, [run_dir])
        if ensemble:
            key = (labels["model"], str(config.get("dataset")), config.get("split"))
            key += (config.get("k"), fold_seed(config), config.get("fold"))
            # members must also share the model settings and the prior (member_setting)
            key += tuple(v[0] for v in member_setting(config).values())
            members.setdefault(key, []).append((run_dir, preds))
    for (model, *_), group in members.items():
        if len(group) < 2:
            continue  # one run is not an ensemble: its rows are already there
        pairs = ["cell_id", "drug_id"]
        frames = [p.sort_values(pairs, ignore_index=True) for _, p in group]
        try:
            mean = combine_members(frames, column="y_pred")
        except ValueError:
            raise ValueError(
                f"ensemble {model}: its runs {[str(r) for r, _ in group]} share a fold but "
                "scored different test pairs (the dataset or folds changed between them)"
            ) from None
        first, config = group[0][0], configs[group[0][0]]
        labels = _run_labels(first, config) | {
            "model": f"{model} ensemble",
            "kind": "ensemble",
            "seed": fold_seed(config),
            "run_dir": ";".join(str(r) for r, _ in group),
            "n_models": len(group),
        }
        score(mean.drop(columns=["ensemble_sd", "n_models"]), labels, config, [r for r, _ in group])
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def _save_baseline_config(run_dir: Path, config: dict) -> None:
    """``config.json`` of a baseline in the training run-directory layout."""
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.json", json.dumps(config, indent=2, default=str))


def check_baselines(names: Iterable[str] | None) -> list[str]:
    """The baseline names to run (default :data:`~drp.models.baselines.DEFAULT_BASELINES`).

    Raises:
        ValueError: naming the unknown names and the known ones.
    """
    from drp.models.baselines import BASELINES, DEFAULT_BASELINES

    names = list(names or DEFAULT_BASELINES)
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown}; choose from {list(BASELINES)}")
    return names


def run_baselines(
    ds: FeaturizedDataset,
    split: str,
    k: int = 5,
    seed: int = 0,
    cache_dir: Path | None = None,
    names: Iterable[str] | None = None,
    min_group: int = MIN_GROUP,
    n_boot: int = 0,
    runs_dir: Path | None = None,
    log: Callable[[str], None] | None = None,
    dataset_path: Path | None = None,
    only_folds: Iterable[int] | None = None,
) -> pd.DataFrame:
    """Fit and score every baseline on the same (cached) folds (all, or ``only_folds``).

    Returns one row per baseline x fold x subset: ``model, kind, split, fold, seed, subset, n``,
    the metrics and ``ci_unit`` (CIs resample the split's held-out unit). With ``runs_dir``,
    each baseline fold is also written as a run directory ``<runs_dir>/<model>/fold<i>``
    (config.json, predictions_test/val.parquet).
    """
    from drp.models.baselines import BASELINES
    from drp.splits.cache import load_or_make_folds

    names = check_baselines(names)
    folds = load_or_make_folds(ds, split, k, seed, cache_dir)
    wanted = None if only_folds is None else set(only_folds)
    tables = []
    for fold in folds:
        if wanted is not None and fold.index not in wanted:
            continue
        train, val, test = fold.frames(ds.pairs)
        for name in names:
            labels = {"model": name, "kind": "baseline", "split": split, "fold": fold.index}
            run_dir = None
            if runs_dir is not None:
                run_dir = Path(runs_dir) / name / f"fold{fold.index}"
                _save_baseline_config(
                    run_dir,
                    {
                        "dataset": str(dataset_path or ds.name),
                        "split": split,
                        "fold": fold.index,
                        "seed": seed,
                        "k": k,
                        "model": {"name": name, "kind": "baseline"},
                    },
                )
            rows, _ = score_model(
                BASELINES[name](),
                ds,
                train,
                val,
                test,
                labels | {"seed": seed},
                split=split,
                run_dir=run_dir,
                min_group=min_group,
                n_boot=n_boot,
                seed=seed,
            )
            tables.append(rows)
            if log:
                row = rows.iloc[0]
                log(f"{split} fold {fold.index} {name}: rmse {row.rmse:.3f} r {row.pearson:.3f}")
    return pd.concat(tables, ignore_index=True)


# ---- the runs' own setting ---------------------------------------------------------------------
@dataclass(frozen=True)
class RunsSetting:
    """Dataset, split, k, seed and folds shared by a set of training runs.

    Attributes:
        dataset: featurized dataset directory the runs were trained on.
        split, k, seed: how their folds were drawn.
        folds: the fold indices the runs were tested on (sorted).
        folds_dir: the fold cache they used.
    """

    dataset: Path
    split: str
    k: int
    seed: int
    folds: tuple[int, ...]
    folds_dir: Path


def runs_setting(
    run_dirs: Sequence[Path],
    *,
    split: str | None = None,
    k: int | None = None,
    seed: int | None = None,
    dataset: Path | None = None,
    keys: Sequence[str] = ("dataset", "split", "k", "seed"),
) -> RunsSetting:
    """The setting of ``run_dirs``, read from their ``config.json``.

    The runs must agree on every name in ``keys`` (only ``dataset`` when scoring them on
    another dataset). Explicit ``split``/``k``/``seed`` must agree with the runs. An explicit
    ``dataset`` must be the runs' dataset, unless that directory no longer exists (moved).

    Raises:
        ValueError: the runs disagree with each other or with an explicit value (naming both).
        FileNotFoundError: a run has no ``config.json``.
    """
    if not run_dirs:
        raise ValueError("no run directories given")
    configs = {Path(r): read_run_config(r) for r in run_dirs}
    values: dict[str, dict[Path, object]] = {}
    for key in ("dataset", "split", "k", "seed"):
        # "seed" is the fold draw's seed: runs of a seed ensemble share it
        read = fold_seed if key == "seed" else (lambda c, key=key: c.get(key))
        values[key] = {r: read(c) for r, c in configs.items()}
        missing = [str(r) for r, v in values[key].items() if v is None]
        if missing and key in keys:
            raise ValueError(f"run(s) {missing} record no {key!r} in config.json")
    for key in keys:
        seen: dict[object, Path] = {}
        for run, value in values[key].items():
            seen.setdefault(value, run)
        if len(seen) > 1:
            shown = ", ".join(f"{run} has {value}" for value, run in seen.items())
            raise ValueError(
                f"the runs disagree on {key}: {shown}; evaluate runs of one setting together"
            )
    first = next(iter(configs))
    run_split, run_k, run_seed = (values[k_][first] for k_ in ("split", "k", "seed"))
    for key, given, have in (
        ("split", split, run_split),
        ("k", k, run_k),
        ("seed", seed, run_seed),
    ):
        if given is not None and given != have:
            raise ValueError(
                f"--{key} {given} contradicts the runs' {key} {have} (from {first}/config.json); "
                f"drop --{key} or evaluate other runs"
            )
    run_dataset = Path(str(values["dataset"][first]))
    if dataset is not None and Path(dataset).resolve() != run_dataset.resolve():
        if run_dataset.exists():
            raise ValueError(
                f"--dataset {dataset} is not the runs' dataset {run_dataset} "
                f"(from {first}/config.json)"
            )
        run_dataset = Path(dataset)  # the runs' dataset moved
    train_cfg = configs[first].get("train") or {}
    folds_dir = Path(train_cfg.get("folds_dir") or run_dataset / "folds")
    folds = tuple(sorted({int(c.get("fold", 0)) for c in configs.values()}))
    return RunsSetting(
        run_dataset,
        str(run_split),
        int(run_k or 0),
        int(run_seed or 0),
        folds,
        folds_dir,
    )


def check_runs_on_folds(run_dirs: Sequence[Path], folds: Sequence[Fold], ds: FeaturizedDataset):
    """Each run's test pairs must be exactly its fold's test pairs.

    Raises:
        ValueError: naming the run and fold (the fold cache or the dataset changed since).
    """
    by_index = {f.index: f for f in folds}
    for run in map(Path, run_dirs):
        config = read_run_config(run)
        pred_path = run / "predictions_test.parquet"
        if not pred_path.exists():
            raise FileNotFoundError(f"{run} is not a finished run: {pred_path.name} missing")
        fold = by_index.get(int(config.get("fold", 0)))
        if fold is None:
            raise ValueError(f"{run}: fold {config.get('fold')} is not among the folds")
        got = pd.read_parquet(pred_path, columns=["cell_id", "drug_id"])
        want = ds.pairs.iloc[fold.test][["cell_id", "drug_id"]]
        same = (
            len(got) == len(want)
            and pd.MultiIndex.from_frame(got).isin(pd.MultiIndex.from_frame(want)).all()
        )
        if not same:
            raise ValueError(
                f"{run}: its {len(got):,} test pairs are not the {len(want):,} of "
                f"{fold.split} fold {fold.index} (seed {fold.seed}) in the fold cache; the "
                "dataset or the folds changed since it was trained"
            )


def evaluate_with_baselines(
    run_dirs: Sequence[Path],
    names: Iterable[str] | None = None,
    *,
    split: str | None = None,
    k: int | None = None,
    seed: int | None = None,
    dataset: Path | None = None,
    min_group: int = MIN_GROUP,
    n_boot: int = 0,
    ensemble: bool = False,
    log: Callable[[str], None] | None = None,
) -> tuple[pd.DataFrame, RunsSetting]:
    """Runs beside baselines fitted on exactly the runs' folds (split, k, seed, dataset and
    fold cache read from the runs; see :func:`runs_setting`); ``ensemble`` as in
    :func:`evaluate_runs`.

    Returns:
        ``(rows, setting)``: metric rows of runs and baselines, and the setting used.
    """
    from drp.featurize.store import FeaturizedDataset
    from drp.splits.cache import load_or_make_folds

    names = check_baselines(names)
    setting = runs_setting(run_dirs, split=split, k=k, seed=seed, dataset=dataset)
    ds = FeaturizedDataset.load(setting.dataset)
    folds = load_or_make_folds(ds, setting.split, setting.k, setting.seed, setting.folds_dir)
    check_runs_on_folds(run_dirs, folds, ds)
    runs = evaluate_runs(run_dirs, min_group, n_boot, ds=ds, ensemble=ensemble)
    base = run_baselines(
        ds,
        setting.split,
        setting.k,
        setting.seed,
        setting.folds_dir,
        names,
        min_group,
        n_boot,
        log=log,
        only_folds=setting.folds,
    )
    return pd.concat([runs, base], ignore_index=True), setting


# ---- cross-dataset ----------------------------------------------------------------------------
def run_training_pairs(
    run_dir: Path, ds: FeaturizedDataset, dataset: Path | None = None
) -> tuple[pd.DataFrame, dict[str, object]]:
    """The pairs of ``ds`` a training run was fitted on (train + val of its fold, read from the
    fold cache its ``config.json`` names) and a description of them.

    Args:
        run_dir: a finished ``drp train`` (or study) run of ``ds``.
        ds: its training dataset.
        dataset: where ``ds`` lives now, if the run's recorded dataset moved.

    Returns:
        ``(pairs, info)``: [m] rows of ``ds.pairs``, and ``train_split``, ``train_fold``,
        ``train_k``, ``train_seed``, ``n_train_pairs`` for the output rows.

    Raises:
        ValueError: the run records no split/k/seed, or its test pairs are not its fold's test
            pairs (the folds or the dataset changed since), so what it trained on is unknown.
    """
    from drp.core.choices import SPLITS
    from drp.splits.cache import load_or_make_folds

    setting = runs_setting([run_dir], dataset=dataset)
    if setting.split not in SPLITS:
        raise ValueError(
            f"{run_dir}: trained on split {setting.split!r}; cross-dataset evaluation needs runs "
            f"trained on one of {list(SPLITS)} (their fold says what they trained on)"
        )
    folds = load_or_make_folds(ds, setting.split, setting.k, setting.seed, setting.folds_dir)
    check_runs_on_folds([run_dir], folds, ds)
    fold = next(f for f in folds if f.index == setting.folds[0])
    rows = np.concatenate([fold.train, fold.val])
    info = {
        "train_split": setting.split,
        "train_fold": fold.index,
        "train_k": setting.k,
        "train_seed": setting.seed,
        "n_train_pairs": len(rows),
    }
    return ds.pairs.iloc[rows].reset_index(drop=True), info


def evaluate_cross_dataset(
    ds: FeaturizedDataset,
    target: FeaturizedDataset,
    run_dirs: Sequence[Path] = (),
    names: Iterable[str] = (),
    seed: int | None = None,
    min_group: int = MIN_GROUP,
    n_boot: int = 0,
    log: Callable[[str], None] | None = None,
    device: str = "cpu",
    dataset: Path | None = None,
) -> tuple[pd.DataFrame, CrossDatasetSplit]:
    """Baselines (trained on all of ``ds``) and trained runs scored on ``target``'s pairs.

    Test pairs come from :func:`drp.splits.cross_dataset.cross_dataset_split`: every target pair, drug
    ids in ``ds``'s id space, labelled ``seen_pair`` / ``new_pair`` / ``new_cell`` /
    ``new_drug``; every model predicts them from the target's own omics, graphs and
    fingerprints. Baselines are fitted on the cross-dataset fold (all of ``ds``'s pairs, a
    random 10% for validation) and the subsets are relative to all of ``ds``. A run was trained
    on one fold of a within-dataset split: its subsets are relabelled relative to the pairs it
    trained on (train + val of that fold, :func:`run_training_pairs`), so a drug-blind run's
    held-out drugs count as new drugs. Rows: subset ``all`` (+ ``uncensored``) and one per
    subset; split label ``cross_dataset:<target>``; ``train_split``/``train_fold``/
    ``n_train_pairs`` say what each model was trained on.

    Args:
        seed: seed of the baselines' validation draw and of the bootstraps; default: the runs'
            seed (when they agree), else 0. Each run's rows carry its own seed.
        dataset: where ``ds`` lives, when the runs' recorded dataset moved.

    Returns:
        ``(rows, cross)``: the metric rows and the split (its counts and ``dropped``).

    Raises:
        ValueError: the target has no testable pair, lacks structure keys, or a run's training
            pairs cannot be recovered from its fold.
    """
    from drp.models.baselines import BASELINES
    from drp.splits.cross_dataset import cross_dataset_split
    from drp.training.estimator import NeuralEstimator

    names = check_baselines(names) if names else []
    run_dirs = [Path(r) for r in run_dirs]
    configs = {r: read_run_config(r) for r in run_dirs}
    if seed is None:
        seeds = {c.get("seed") for c in configs.values()} - {None}
        seed = int(seeds.pop()) if len(seeds) == 1 else 0
    cross = cross_dataset_split(ds, target, seed)
    if log:
        counts = ", ".join(f"{k} {v:,}" for k, v in cross.counts().items())
        log(f"{ds.name} -> {target.name}: {len(cross.test_pairs):,} test pairs ({counts})")
        drops = ", ".join(f"{reason}: {n:,}" for reason, n in cross.dropped.items())
        log(f"{target.name} pairs dropped: {sum(cross.dropped.values()):,} ({drops})")
    if cross.test_pairs.empty:
        raise ValueError(f"no pairs of {target.name} are testable with a model of {ds.name}")
    split = f"cross_dataset:{target.name}"
    test = cross.test_pairs
    tables = []
    if names:
        train, val, _ = cross.fold.frames(ds.pairs)
        trained_on = {
            "train_split": "all",
            "train_fold": np.nan,
            "n_train_pairs": len(train) + len(val),
        }
        for name in names:
            labels = {"model": name, "kind": "baseline", "split": split, "fold": 0, "seed": seed}
            rows, _ = score_model(
                BASELINES[name](),
                ds,
                train,
                val,
                test,
                labels | trained_on,
                split=split,
                test_ds=cross.test_ds,
                min_group=min_group,
                n_boot=n_boot,
                seed=seed,
            )
            tables.append(rows)
    for run_dir, config in configs.items():
        trained, info = run_training_pairs(run_dir, ds, dataset)
        run_test = cross.relabel(ds, trained)
        if log:
            counts = ", ".join(f"{k} {v:,}" for k, v in cross.counts(run_test).items())
            log(
                f"{run_dir} ({info['train_split']} fold {info['train_fold']}, "
                f"{info['n_train_pairs']:,} training pairs): {counts}"
            )
        estimator = NeuralEstimator.from_run(run_dir, device)
        frame = prediction_frame(run_test, estimator.predict(cross.test_ds, run_test))
        labels = _run_labels(run_dir, config) | {"split": split}
        labels |= {k: info[k] for k in ("train_split", "train_fold", "n_train_pairs")}
        run_seed = fold_seed(config) or 0
        tables.append(
            score_predictions(
                frame, labels, ds, split, min_group, n_boot, run_seed, test_ds=cross.test_ds
            )
        )
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    return table, cross


def train_run(
    config: RunConfig,
    run_dir: Path,
    *,
    ds: FeaturizedDataset | None = None,
    fold: FoldIndices | Fold | None = None,
    resume: bool = False,
    on_epoch: Callable[[dict], None] | None = None,
    command: str = "",
    name: str = "model",
) -> dict:
    """Train one configured model on one fold (``drp train``); returns the summary (best
    epoch, best val RMSE). The run directory gets ``predictions_test.parquet`` last, so its
    presence marks a finished run.

    Raises:
        FileExistsError: ``run_dir`` holds a run and ``resume`` is False.
    """
    from drp.featurize.store import FeaturizedDataset
    from drp.splits.run_folds import fold_for
    from drp.training.estimator import NeuralEstimator

    config.validate()
    ds = ds or FeaturizedDataset.load(Path(config.train.dataset))
    fold = fold or fold_for(ds, config)
    train, val, test = fold.frames(ds.pairs)
    run_dir = Path(run_dir)
    estimator = NeuralEstimator(
        config,
        name,
        run_dir,
        resume=resume,
        on_epoch=on_epoch,
        command=command,
        run_info={"counts": {"test": len(test)}},
    )
    fit_predict(estimator, ds, train, val, test, run_dir=run_dir)
    return estimator.summary_
