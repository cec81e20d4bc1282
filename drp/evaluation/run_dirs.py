"""Training run directories read back: ``config.json``, row labels, the runs' common setting.

A run directory holds ``config.json`` and, once finished, ``predictions_test.parquet``
(:func:`drp.evaluation.scoring.fit_predict`). :func:`runs_setting` reads the dataset, split, k,
fold seed and folds a set of runs share; :func:`check_runs_on_folds` checks that each run's test
pairs are its fold's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from drp.featurize.store import FeaturizedDataset
    from drp.splits.fold import Fold


def read_run_config(run_dir: Path) -> dict:
    """``config.json`` of a run directory.

    Raises:
        FileNotFoundError: naming the run and the missing file.
    """
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} is not a finished run: config.json missing")
    return json.loads(path.read_text())


def run_fold_seed(config: dict) -> int | None:
    """The seed a run's folds were drawn with (``fold_seed``; ``seed`` in runs from before it)."""
    value = config.get("fold_seed", config.get("seed"))
    return None if value is None else int(value)


def run_labels(run_dir: Path, config: dict) -> dict[str, object]:
    """The labels of a run's metric rows (``model, kind, split, fold, seed, run_dir``) from its
    ``config.json``; the model is ``config["model"]["name"]``, else the directory name."""
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


@dataclass(frozen=True)
class RunsSetting:
    """Dataset, split, k, fold seed and folds shared by a set of training runs.

    Attributes:
        dataset: featurized dataset directory the runs were trained on.
        split, k, fold_seed: how their folds were drawn.
        folds: the fold indices the runs were tested on (sorted).
        folds_dir: the fold cache they used.
    """

    dataset: Path
    split: str
    k: int
    fold_seed: int
    folds: tuple[int, ...]
    folds_dir: Path


def runs_setting(
    run_dirs: Sequence[Path],
    *,
    split: str | None = None,
    k: int | None = None,
    fold_seed: int | None = None,
    dataset: Path | None = None,
    keys: Sequence[str] = ("dataset", "split", "k", "fold_seed"),
) -> RunsSetting:
    """The setting of ``run_dirs``, read from their ``config.json``.

    The runs must agree on every name in ``keys`` (only ``dataset`` when scoring them on
    another dataset). Explicit ``split``/``k``/``fold_seed`` must agree with the runs. An explicit
    ``dataset`` must be the runs' dataset, unless that directory no longer exists (moved).

    Raises:
        ValueError: the runs disagree with each other or with an explicit value (naming both).
        FileNotFoundError: a run has no ``config.json``.
    """
    if not run_dirs:
        raise ValueError("no run directories given")
    configs = {Path(r): read_run_config(r) for r in run_dirs}
    values: dict[str, dict[Path, object]] = {}
    for key in ("dataset", "split", "k", "fold_seed"):
        # runs of a seed ensemble share the fold draw's seed
        read = run_fold_seed if key == "fold_seed" else (lambda c, key=key: c.get(key))
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
    run_split, run_k, run_seed = (values[k_][first] for k_ in ("split", "k", "fold_seed"))
    for key, given, have in (
        ("split", split, run_split),
        ("k", k, run_k),
        ("fold-seed", fold_seed, run_seed),
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
                f"{fold.split} fold {fold.index} (seed {fold.fold_seed}) in the fold cache; the "
                "dataset or the folds changed since it was trained"
            )
