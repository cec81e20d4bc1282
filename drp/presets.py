"""Study presets by name: the one place a preset is added (``drp study --preset`` choices).

Kept free of torch so the CLI can list the presets without importing the models.
"""

from __future__ import annotations

from dataclasses import dataclass

from drp.models.registry import VARIANTS


@dataclass(frozen=True)
class Preset:
    description: str
    variants: tuple[str, ...]
    splits: tuple[str, ...]
    folds: tuple[int, ...]
    seeds: tuple[int, ...]
    epochs: int
    patience: int
    baselines: tuple[str, ...] = ("global_mean", "drug_mean", "cell_mean", "mean_effects", "ridge")
    k: int = 5


ALL_VARIANTS = tuple(VARIANTS)
PRESETS = {
    "smoke": Preset(
        "one fold of the mixed split, 3 epochs: checks the whole path in minutes; "
        "far too small for conclusions",
        ("gat_edge", "gat", "fingerprint"),
        ("mixed",),
        (0,),
        (0,),
        3,
        2,
        ("drug_mean", "mean_effects"),
    ),
    "quick": Preset(
        "6 variants x 3 splits x 2 of 5 folds x 1 seed, 5 epochs each (patience 2): fits "
        "30 minutes on a 2-core CPU, but the graph models are under-trained next to the "
        "default 20-epoch `drp train`, and two folds give the paired tests little power; "
        "GCN, max pooling, tissue-blind and more seeds only in 'full'",
        ("gat_edge", "gat", "gin", "pool_mean", "cross_attention", "fingerprint"),
        ("mixed", "cell_blind", "drug_blind"),
        (0, 1),
        (0,),
        5,
        2,
    ),
    "full": Preset(
        "8 variants x 4 splits x 5 folds x 3 seeds, up to 40 epochs: for a GPU or a long run",
        ALL_VARIANTS,
        ("mixed", "cell_blind", "drug_blind", "tissue_blind"),
        (0, 1, 2, 3, 4),
        (0, 1, 2),
        40,
        6,
    ),
}


def preset_by_name(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    return PRESETS[name]
