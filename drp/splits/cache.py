"""Fold cache: folds stored as parquet with a JSON sidecar, read back and re-checked.

Folds are cached as parquet keyed by ``cell_id, drug_id`` with a JSON sidecar recording the fold
format and grouping (:func:`load_or_make_folds`) so every model of a study sees identical folds.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from drp.core.files import temp_write
from drp.splits.entities import Entities, split_key
from drp.splits.fold import Fold
from drp.splits.folds import make_folds
from drp.splits.leakage import check_fold

if TYPE_CHECKING:
    from drp.featurize.store import FeaturizedDataset

FOLD_FORMAT = 3
"""Version of the cached folds. 1 (no ``format`` in the sidecar): drug-blind folds grouped by
``drug_id``, which let two ids of one structure straddle train and test. 2: grouped by
``structure_key``; ``cluster_blind`` added. 3: grouped by drug identity (the InChIKey
connectivity block), so stereo and charge variants of one skeleton are held out together (on
GDSC1, GDSC2 and CCLE no two structures share a skeleton: their folds are those of format 2)."""

ROLES = ("train", "val", "test", "excluded")


class FoldCacheError(ValueError):
    """A cached fold file does not match the dataset (or the fold format) it is loaded for."""


def fold_cache_path(cache_dir: Path, name: str, split: str, k: int, fold_seed: int) -> Path:
    return Path(cache_dir) / f"{name}_{split}_k{k}_s{fold_seed}.parquet"


def folds_to_frame(pairs: pd.DataFrame, folds: list[Fold]) -> pd.DataFrame:
    """Tidy role table: ``cell_id, drug_id, fold_0 .. fold_{k-1}`` with a role per fold."""
    out = pairs[["cell_id", "drug_id"]].reset_index(drop=True).copy()
    for fold in folds:
        role = np.full(len(pairs), "excluded", dtype=object)
        role[fold.train] = "train"
        role[fold.val] = "val"
        role[fold.test] = "test"
        out[f"fold_{fold.index}"] = pd.Categorical(role, categories=ROLES)
    return out


def folds_from_frame(
    pairs: pd.DataFrame, frame: pd.DataFrame, split: str, fold_seed: int, source: str = "fold cache"
) -> list[Fold]:
    """Inverse of :func:`folds_to_frame`, re-indexed onto ``pairs`` by ``(cell_id, drug_id)``.

    Raises:
        FoldCacheError: the cached pairs are not exactly the pairs of ``pairs``.
    """
    keys = pd.MultiIndex.from_frame(pairs[["cell_id", "drug_id"]])
    cached = pd.MultiIndex.from_frame(frame[["cell_id", "drug_id"]])
    if len(cached) != len(keys) or not cached.isin(keys).all() or not keys.isin(cached).all():
        raise FoldCacheError(
            f"{source}: cached folds cover {len(cached):,} pairs that differ from the dataset's "
            f"{len(keys):,}; delete the file to rebuild the folds"
        )
    pos = cached.get_indexer(keys)  # dataset row i -> cache row pos[i]
    folds = []
    fold_cols = sorted((c for c in frame if c.startswith("fold_")), key=lambda c: int(c[5:]))
    for col in fold_cols:
        role = frame[col].astype(str).to_numpy()[pos]
        folds.append(
            Fold(
                index=int(col[5:]),
                train=np.flatnonzero(role == "train"),
                val=np.flatnonzero(role == "val"),
                test=np.flatnonzero(role == "test"),
                split=split,
                fold_seed=fold_seed,
                excluded=np.flatnonzero(role == "excluded"),
            )
        )
    return folds


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _cache_meta_expected(ds: FeaturizedDataset, split: str) -> dict:
    """Sidecar fields a cached fold file must match to be served for ``(ds, split)``."""
    expected = {"format": FOLD_FORMAT, "grouping": split_key(split)}
    if split == "cluster_blind":
        expected["clustering"] = ds.manifest.get("clustering")
    return expected


def load_or_make_folds(
    ds: FeaturizedDataset,
    split: str,
    k: int = 5,
    fold_seed: int = 0,
    cache_dir: Path | None = None,
    val_fraction: float = 0.1,
) -> list[Fold]:
    """Folds of ``ds.pairs``, read from
    ``<cache_dir>/<name>_<split>_k<k>_s<fold_seed>.parquet``.

    The first call builds and writes them with a JSON sidecar of the settings, the fold format
    (:data:`FOLD_FORMAT`), the grouping (``split_key``), for cluster-blind the clustering of
    ``ds.manifest`` and the parquet's checksum. Both files are written atomically (temporary
    file + ``os.replace``), the sidecar first, so a crash leaves either no parquet (rebuilt next
    time) or a matching pair. Later calls check the sidecar, read the folds back by
    ``(cell_id, drug_id)`` and re-run the leakage checks.

    Raises:
        FoldCacheError: the cache has no sidecar, another fold format or grouping (folds cached
            by an older drp grouped drug-blind folds by drug id), another clustering, a checksum
            that does not match, other pairs, or another ``val_fraction``. The message names
            the file to delete; runs trained on the old folds should be retrained.
        ValueError: the split needs a drug column the dataset lacks (re-run ``drp featurize``).
    """
    entities = Entities.of(ds)
    if cache_dir is None:
        return make_folds(ds.pairs, split, k, fold_seed, entities, val_fraction)
    path = fold_cache_path(cache_dir, ds.name, split, k, fold_seed)
    meta_path = path.with_suffix(".json")
    rebuild = "delete it (and retrain runs that used it) to rebuild the folds"
    if path.exists():
        if not meta_path.exists():
            raise FoldCacheError(f"{path}: no sidecar {meta_path.name} to verify it; {rebuild}")
        meta = json.loads(meta_path.read_text())
        got = {"format": meta.get("format", 1), "grouping": meta.get("grouping")}
        if got["format"] == 2 and split not in ("drug_blind", "cluster_blind"):
            got["format"] = FOLD_FORMAT  # format 3 changed only the drug-grouped splits
        if split == "cluster_blind":
            got["clustering"] = meta.get("clustering")
        expected = _cache_meta_expected(ds, split)
        if got != expected:
            raise FoldCacheError(
                f"{path}: cached folds have {got}, this drp builds {expected} (format 1 grouped "
                f"drug-blind folds by drug id, so one structure could straddle train and test); "
                f"{rebuild}"
            )
        if meta.get("val_fraction", val_fraction) != val_fraction:
            raise FoldCacheError(
                f"{path}: cached with val_fraction={meta['val_fraction']}, asked {val_fraction}; "
                f"{rebuild}"
            )
        if meta.get("sha256") != _sha256(path):
            raise FoldCacheError(f"{path}: checksum differs from its sidecar's; {rebuild}")
        folds = folds_from_frame(ds.pairs, pd.read_parquet(path), split, fold_seed, str(path))
        if len(folds) != k:
            raise FoldCacheError(f"{path}: holds {len(folds)} folds, expected {k}")
        for fold in folds:
            check_fold(ds.pairs, fold, entities)
        return folds
    folds = make_folds(ds.pairs, split, k, fold_seed, entities, val_fraction)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = folds_to_frame(ds.pairs, folds)
    tmp_parquet = temp_write(path, lambda p: frame.to_parquet(p, index=False))
    meta = _cache_meta_expected(ds, split) | {
        "dataset": ds.name,
        "split": split,
        "k": k,
        "seed": fold_seed,
        "val_fraction": val_fraction,
        "n_pairs": len(ds.pairs),
        "n_excluded": folds[0].n_excluded,
        "sha256": _sha256(tmp_parquet),
        "sizes": [
            {"fold": f.index, "train": len(f.train), "val": len(f.val), "test": len(f.test)}
            for f in folds
        ],
    }
    try:
        tmp_meta = temp_write(meta_path, lambda p: p.write_text(json.dumps(meta, indent=2)))
        os.replace(tmp_meta, meta_path)
        os.replace(tmp_parquet, path)
    finally:
        tmp_parquet.unlink(missing_ok=True)
    return folds
