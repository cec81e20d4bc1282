"""Model variants by name: the one place a new variant is added. CLI choices derive from here."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from drp.core.config import ModelConfig

if TYPE_CHECKING:  # the model (torch, PyG) is imported only when built: the CLI reads VARIANTS
    from drp.models.model import DRPModel

DEFAULT_VARIANT = "gat_edge"

#: variant name -> the ModelConfig fields it changes from the default: the edge-aware GAT with
#: the fingerprint MLP beside it (``drug = hybrid``). Every graph twin keeps the fingerprint
#: part, so a comparison of twins measures the graph component alone; ``graph_only`` drops it,
#: and its ``graph_only_*`` twins ask each attention question where the graph is the only drug
#: input (issue 26: beside a fingerprint MLP an attention component can only add to it).
VARIANTS: dict[str, dict[str, str]] = {
    "gat_edge": {},
    "gat": {"conv": "gat"},
    "gin": {"conv": "gin"},
    "gcn": {"conv": "gcn"},
    "pool_mean": {"pool": "mean"},
    "pool_max": {"pool": "max"},
    "cross_attention": {"fusion": "cross_attention"},
    "fingerprint": {"drug": "fingerprint"},
    "graph_only": {"drug": "graph"},
    "graph_only_gat": {"drug": "graph", "conv": "gat"},
    "graph_only_gin": {"drug": "graph", "conv": "gin"},
    "graph_only_pool_mean": {"drug": "graph", "pool": "mean"},
}


def variant_config(name: str, base: ModelConfig | None = None) -> ModelConfig:
    """ModelConfig of a named variant on top of ``base``."""
    if name not in VARIANTS:
        raise ValueError(f"unknown variant {name!r}; choose from {sorted(VARIANTS)}")
    return replace(base or ModelConfig(), **VARIANTS[name])


def build_model(
    config: ModelConfig, omics_widths: list[int], atom_dim: int, bond_dim: int, fp_bits: int
) -> DRPModel:
    from drp.models.model import DRPModel

    return DRPModel(config, omics_widths, atom_dim, bond_dim, fp_bits)
