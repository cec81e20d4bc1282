"""A trained model rebuilt from its checkpoint alone, and the view of a dataset it predicts on:
omics columns aligned by name to the features the checkpoint records."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from drp.core.config import ModelConfig
from drp.core.device import resolve_device
from drp.models.model import DRPModel, check_architecture
from drp.models.registry import build_model

if TYPE_CHECKING:
    from drp.featurize.store import FeaturizedDataset


def load_model(checkpoint: Path, device: str | torch.device = "cpu") -> tuple[DRPModel, dict]:
    """Rebuild a model from a checkpoint alone (no CLI, no config file); returns (model, state).

    The model goes to ``device`` (``auto``, ``cpu``, ``cuda``); the rest of ``state`` (scaler,
    optimiser, history) stays on the CPU, where datasets are read and scalers applied.

    Raises:
        ValueError: ``cuda`` was asked for but no CUDA device is available.
    """
    device = resolve_device(device)
    state = torch.load(checkpoint, weights_only=True, map_location="cpu")
    hp = state["hyper_parameters"]
    check_architecture(hp, checkpoint)
    model = build_model(
        ModelConfig(**hp["config"]),
        hp["omics_widths"],
        hp["atom_dim"],
        hp["bond_dim"],
        hp["fp_bits"],
    )
    model.load_state_dict(state["state_dict"])
    return model.to(device).eval(), state


def omics_features(ds: FeaturizedDataset, names: list[str]) -> dict[str, list[str]]:
    """Feature (column) names of each omics block, the order the model was trained on."""
    missing = [n for n in names if n not in ds.omics]
    if missing:
        raise ValueError(f"dataset {ds.name!r} lacks omics {missing}; it has {list(ds.omics)}")
    return {n: [str(c) for c in ds.omics[n].columns] for n in names}


def align_omics(
    ds: FeaturizedDataset, features: dict[str, list[str]] | None, names: list[str]
) -> FeaturizedDataset:
    """``ds`` with each omics block reindexed to the training ``features`` (same row order).

    Features ``ds`` lacks become NaN (imputed downstream with the training mean). Returns ``ds``
    itself when the columns already match. Without recorded ``features`` (old checkpoints) the
    widths must match.

    Raises:
        ValueError: ``ds`` lacks an omics block, or shares no feature with the training data.
    """
    have = omics_features(ds, names)
    if features is None:
        return ds
    blocks = dict(ds.omics)
    changed = False
    for name in names:
        if have[name] == features[name]:
            continue
        shared = len(set(have[name]) & set(features[name]))
        if shared == 0:
            raise ValueError(
                f"omics {name!r} of dataset {ds.name!r} shares no feature with the training data"
            )
        blocks[name] = ds.omics[name].reindex(columns=features[name])
        changed = True
    return replace(ds, omics=blocks) if changed else ds
