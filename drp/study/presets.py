"""Study presets by name: the one place a preset is added (``drp study --preset`` choices),
and the study's declared design: its questions, their primary splits and equivalence margins.

Kept free of torch so the CLI can list the presets without importing the models.
"""

from __future__ import annotations

from dataclasses import dataclass

from drp.models.registry import VARIANTS


@dataclass(frozen=True)
class Question:
    """One question of the study, declared before any run.

    ``attention`` is the variant with the component under test, ``twin`` the same model
    without it. The verdict is given on ``primary`` (split) with the primary metric (RMSE);
    ``secondary`` splits are reported beside it, unadjusted.
    """

    name: str
    attention: str
    twin: str
    primary: str
    secondary: tuple[str, ...] = ()


#: The study's questions. A drug encoder only has to tell ~228 known drugs apart on the mixed and
#: cell-blind splits, so the drug-encoder questions are asked where drugs are new (drug-blind,
#: with cluster-blind beside it); the fusion question is about cells, so it is asked cell-blind.
QUESTIONS: tuple[Question, ...] = (
    Question(
        "bond-aware attention vs plain attention",
        "gat_edge",
        "gat",
        "drug_blind",
        ("cluster_blind",),
    ),
    Question(
        "attention message passing vs GIN (no attention)",
        "gat_edge",
        "gin",
        "drug_blind",
        ("cluster_blind",),
    ),
    Question(
        "attention pooling vs mean pooling",
        "gat_edge",
        "pool_mean",
        "drug_blind",
        ("cluster_blind",),
    ),
    Question(
        "cross-attention fusion vs concat", "cross_attention", "gat_edge", "cell_blind", ("mixed",)
    ),
    Question(
        "graph + fingerprint (hybrid GAT) vs fingerprint MLP alone",
        "gat_edge",
        "fingerprint",
        "drug_blind",
        ("cluster_blind",),
    ),
    Question("attention message passing vs GCN (no attention)", "gat_edge", "gcn", "drug_blind"),
    Question("attention pooling vs max pooling", "gat_edge", "pool_max", "drug_blind"),
    Question(
        "graph + fingerprint (hybrid GAT) vs the graph alone",
        "gat_edge",
        "graph_only",
        "drug_blind",
    ),
)

#: Equivalence margins (|difference| in the metric below which twins count as equivalent).
#: Justified against the spread of the default model between seeds (each seed also draws its
#: folds) on fold 0 (benchmarks/RESULTS.md, "Time to accuracy"): sd 0.011 RMSE on mixed, 0.127
#: on drug-blind. A difference inside the margin is well under what a repetition does to one
#: model on new drugs, and about twice that spread where drugs and cells are known.
MARGINS: dict[str, dict[str, float]] = {
    "rmse": {
        "mixed": 0.02,
        "cell_blind": 0.02,
        "tissue_blind": 0.02,
        "drug_blind": 0.05,
        "cluster_blind": 0.05,
    },
    "per_drug_r": dict.fromkeys(
        ("mixed", "cell_blind", "tissue_blind", "drug_blind", "cluster_blind"), 0.01
    ),
}
PRIMARY_METRIC = "rmse"


def question_by_name(name: str) -> Question:
    for q in QUESTIONS:
        if q.name == name:
            return q
    raise ValueError(f"unknown question {name!r}; choose from {[q.name for q in QUESTIONS]}")


@dataclass(frozen=True)
class Preset:
    """A study grid.

    Without ``questions`` the grid is every variant x split x fold x seed. With ``questions``
    it is the declared design: each question's two variants on its primary split with every
    seed, and on its secondary splits with the first seed only.
    """

    description: str
    variants: tuple[str, ...]
    splits: tuple[str, ...]
    folds: tuple[int, ...]
    seeds: tuple[int, ...]
    epochs: int
    patience: int
    baselines: tuple[str, ...] = ("global_mean", "drug_mean", "cell_mean", "mean_effects", "ridge")
    k: int = 5
    questions: tuple[str, ...] = ()

    def declared(self) -> list[Question]:
        """The preset's questions (all of :data:`QUESTIONS` whose variants are in the grid
        when the preset declares none)."""
        if self.questions:
            return [question_by_name(n) for n in self.questions]
        return [q for q in QUESTIONS if q.attention in self.variants and q.twin in self.variants]

    def cells(self) -> list[tuple[str, str, int, int]]:
        """The grid's (variant, split, fold, seed) cells, seed-major so that a partial study
        already holds whole folds of every variant."""
        if not self.questions:
            wanted = {
                (v, s, seed) for v in self.variants for s in self.splits for seed in self.seeds
            }
        else:
            wanted = set()
            for q in self.declared():
                for split in (q.primary, *q.secondary):
                    seeds = self.seeds if split == q.primary else self.seeds[:1]
                    wanted |= {(v, split, seed) for v in (q.attention, q.twin) for seed in seeds}
        return [
            (v, s, f, seed)
            for seed in self.seeds
            for s in self.splits
            for f in self.folds
            for v in self.variants
            if (v, s, seed) in wanted
        ]

    def fold_keys(self) -> list[tuple[str, int, int]]:
        """The (split, fold, seed) triples the grid trains on (the baselines' grid)."""
        return list(dict.fromkeys((s, f, seed) for _, s, f, seed in self.cells()))


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
    "standard": Preset(
        "the declared design on a 2-core CPU: the five main questions, each with 5 folds x 2 "
        "seeds = 10 paired runs on its primary split (drug-blind; cell-blind for fusion) and 5 "
        "on its secondary split, every run trained like `drp train` (20 epochs, patience 4)",
        ("gat_edge", "gat", "gin", "pool_mean", "fingerprint", "cross_attention"),
        ("drug_blind", "cluster_blind", "cell_blind", "mixed"),
        (0, 1, 2, 3, 4),
        (0, 1),
        20,
        4,
        questions=tuple(q.name for q in QUESTIONS[:5]),
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
