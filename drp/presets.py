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
        "6 variants x 3 splits x 2 of 5 folds x 1 seed, each trained like `drp train` (20 "
        "epochs, patience 4), so the models are converged: about 50 minutes on a 2-core CPU, "
        "estimated from run times (mixed ~100 s, blind runs stop earlier). Two folds give the paired tests little "
        "power; GCN, max pooling, the graph-only twin, tissue-blind and more seeds only in 'full'",
        ("gat_edge", "gat", "gin", "pool_mean", "cross_attention", "fingerprint"),
        ("mixed", "cell_blind", "drug_blind"),
        (0, 1),
        (0,),
        20,
        4,
    ),
    "full": Preset(
        f"{len(ALL_VARIANTS)} variants x 4 splits x 5 folds x 3 seeds, each trained like "
        "`drp train` (20 epochs, patience 4): runs of ~1 min on a 2-core CPU (about 9 hours in "
        "all), ~20 s on an H200 GPU",
        ALL_VARIANTS,
        ("mixed", "cell_blind", "drug_blind", "tissue_blind"),
        (0, 1, 2, 3, 4),
        (0, 1, 2),
        20,
        4,
    ),
}


def preset_by_name(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    return PRESETS[name]
