"""What the new-drug prior (:mod:`drp.models.drug_prior`) is fitted and applied with: drug
identities, the structure-cluster threshold and the auxiliary screen of ``train.prior_auxiliary``."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from drp.core.config import RunConfig
from drp.featurize.similarity import CLUSTER_SIMILARITY, drug_identity

if TYPE_CHECKING:
    from drp.featurize.store import FeaturizedDataset


def drug_keys(ds: FeaturizedDataset, drug_ids: np.ndarray | None = None) -> np.ndarray:
    """Identities [n] (:func:`~drp.featurize.similarity.drug_identity`) of ``drug_ids`` (default:
    every drug of ``ds``, in its row order).

    Raises:
        ValueError: ``ds`` was featurized by an older drp (no ``structure_key``).
    """
    if "structure_key" not in ds.drugs:
        raise ValueError(
            f"dataset {ds.name!r} has no drug structure keys (featurized by an older drp): run "
            "`drp featurize` again"
        )
    table = ds.drugs.set_index("drug_id")["structure_key"]
    keys = table if drug_ids is None else table.loc[list(drug_ids)]
    identity = drug_identity(keys)
    # a drug without a key is its own identity, never one with every other keyless drug
    missing = identity.isna().to_numpy()
    out = np.array(identity.to_numpy(object), dtype=object)  # a writable copy
    out[missing] = "id:" + keys.index.to_numpy(str)[missing]
    return out.astype(str)


def cluster_similarity(ds: FeaturizedDataset) -> float:
    """The Tanimoto threshold of ``ds``'s structure clusters (from its manifest)."""
    clustering = ds.manifest.get("clustering")
    if isinstance(clustering, dict) and "threshold" in clustering:
        return float(clustering["threshold"])
    return CLUSTER_SIMILARITY


def auxiliary_path(config: RunConfig) -> Path | None:
    """Where ``train.prior_auxiliary`` points (a dataset name beside ``train.dataset``, or a
    path); None when no auxiliary screen is configured."""
    name = config.train.prior_auxiliary
    if not name:
        return None
    return Path(name) if "/" in name else Path(config.train.dataset).parent / name


def auxiliary_dataset(
    config: RunConfig, ds: FeaturizedDataset
) -> tuple[FeaturizedDataset | None, dict[str, str]]:
    """The featurized auxiliary screen of ``train.prior_auxiliary``, or None with the reason
    when there is none to use (a screen that is not featurized yet warns).

    Raises:
        ValueError: the screen was featurized by an older drp (no drug structure keys).
    """
    from drp.featurize.store import FeaturizedDataset

    path = auxiliary_path(config)
    if path is None:
        return None, {"auxiliary": "none"}
    if path.resolve() == Path(config.train.dataset).resolve() or ds.name == path.name:
        return None, {"auxiliary": f"none ({path.name} is the training dataset)"}
    if not (path / "manifest.json").exists():
        reason = f"{path} is not featurized (`drp featurize --dataset {path.name}`)"
        warnings.warn(f"new-drug prior without auxiliary drugs: {reason}", stacklevel=2)
        return None, {"auxiliary": f"none: {reason}"}
    screen = FeaturizedDataset.load(path)
    if "structure_key" not in screen.drugs:
        raise ValueError(
            f"auxiliary screen {path} has no drug structure keys (featurized by an older drp): "
            f"run `drp featurize --dataset {path.name}` again"
        )
    return screen, {"auxiliary": str(path)}
