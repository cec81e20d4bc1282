"""Study presets by name: the one place a preset is added (``drp study --preset`` choices),
and the study's declared design: its questions, their primary splits and equivalence margins.

Kept free of torch so the CLI can list the presets without importing the models.
"""

from __future__ import annotations

from dataclasses import dataclass

from drp.models.registry import VARIANTS

PRIMARY_METRIC = "rmse"
#: the split label of the external new-drug test (:mod:`drp.splits.external`): every seed
#: trained on all of the dataset but a fixed validation draw, tested on another screen's drugs
EXTERNAL = "external"


@dataclass(frozen=True)
class Question:
    """One question of the study, declared before any run.

    ``attention`` is the variant with the component under test, ``twin`` the same model
    without it. The verdict is given on ``primary`` (split) with each of ``endpoints`` (the
    primary metrics, RMSE unless declared otherwise); ``secondary`` splits are reported beside
    it, unadjusted.
    """

    name: str
    attention: str
    twin: str
    primary: str
    secondary: tuple[str, ...] = ()
    endpoints: tuple[str, ...] = (PRIMARY_METRIC,)
    #: seeds on the primary split: the preset's first ``repeats`` (0: all of them)
    repeats: int = 0


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

#: The definitive study's questions (issue 26): each attention component against its twin twice,
#: where the graph is the only drug input and in the product's hybrid, then graph + fingerprint
#: against the fingerprint alone, all on the external new drugs with RMSE and per-drug r as
#: endpoints (GDSC2 drug-blind CV beside them); fusion on cell-blind CV with 5 repeats.
_NEW_DRUGS = {
    "primary": EXTERNAL,
    "secondary": ("drug_blind",),
    "endpoints": ("rmse", "per_drug_r"),
}
DEFINITIVE_QUESTIONS: tuple[Question, ...] = (
    Question("graph alone: bond-aware vs plain attention", "graph_only", "graph_only_gat", **_NEW_DRUGS),
    Question("graph alone: attention vs GIN message passing", "graph_only", "graph_only_gin", **_NEW_DRUGS),
    Question("graph alone: attention vs mean pooling", "graph_only", "graph_only_pool_mean", **_NEW_DRUGS),
    Question("hybrid: bond-aware vs plain attention", "gat_edge", "gat", **_NEW_DRUGS),
    Question("hybrid: attention vs GIN message passing", "gat_edge", "gin", **_NEW_DRUGS),
    Question("hybrid: attention vs mean pooling", "gat_edge", "pool_mean", **_NEW_DRUGS),
    Question("graph + fingerprint vs fingerprint alone", "gat_edge", "fingerprint", **_NEW_DRUGS),
    Question("fusion: cross-attention vs concat", "cross_attention", "gat_edge", "cell_blind", repeats=5),
)  # fmt: skip

#: Equivalence margins (|difference| in the metric below which twins count as equivalent), on
#: stated scales: RMSE in ln IC50, so ±0.05 on new drugs is a typical prediction error moved by
#: a factor e^0.05 ≈ 1.05 (±5% of the fold-change) and ±0.02 where drugs are known; per-drug r
#: ±0.01, a fifth of what ranking cells by their mean sensitivity leaves to gain on new drugs
#: (0.64 against GDSC's replicate ceiling near 0.75). The report compares each with the default
#: model's own gain over mean effects.
MARGINS: dict[str, dict[str, float]] = {
    "rmse": {
        "mixed": 0.02,
        "cell_blind": 0.02,
        "tissue_blind": 0.02,
        "drug_blind": 0.05,
        "cluster_blind": 0.05,
    },
    "per_drug_r": dict.fromkeys(
        ("mixed", "cell_blind", "tissue_blind", "drug_blind", "cluster_blind", EXTERNAL), 0.01
    ),
}
MARGINS["rmse"][EXTERNAL] = 0.05
#: the external RMSE half-width the definitive declaration expected at J = 20 and 99.67%
#: (issue 26's pilot); the report says which questions reached it
DECLARED_EXTERNAL_HALF_WIDTH = 0.035


def question_by_name(name: str) -> Question:
    for q in (*QUESTIONS, *DEFINITIVE_QUESTIONS):
        if q.name == name:
            return q
    known = [q.name for q in (*QUESTIONS, *DEFINITIVE_QUESTIONS)]
    raise ValueError(f"unknown question {name!r}; choose from {known}")


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
    #: the screen of the external new-drug test (a featurized dataset's name beside the study's
    #: dataset, or a path); required when :data:`EXTERNAL` is among ``splits``
    external: str = ""

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
                    if split == q.primary:
                        seeds = self.seeds[: q.repeats] if q.repeats else self.seeds
                    else:
                        seeds = self.seeds[:1]
                    wanted |= {(v, split, seed) for v in (q.attention, q.twin) for seed in seeds}
        return [
            (v, s, f, seed)
            for seed in self.seeds
            for s in self.splits
            for f in ((0,) if s == EXTERNAL else self.folds)  # one training set, one test
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
    "definitive": Preset(
        "issue 26's declared design: 7 drug-encoder questions (attention where the graph is the "
        "only drug input and in the hybrid default, graph + fingerprint against fingerprint) on "
        "GDSC1's new drugs, every variant trained with 20 seeds on all of GDSC2 (RMSE and "
        "per-drug r; 10-fold drug-blind CV beside, one seed); fusion on 10-fold cell-blind CV "
        "x 5 repeats; about 10 hours on a 2-core CPU (declaration: reports/gdsc2_definitive/declaration.md)",
        (
            "gat_edge",
            "gat",
            "gin",
            "pool_mean",
            "fingerprint",
            "graph_only",
            "graph_only_gat",
            "graph_only_gin",
            "graph_only_pool_mean",
            "cross_attention",
        ),
        (EXTERNAL, "drug_blind", "cell_blind"),
        tuple(range(10)),
        tuple(range(20)),
        20,
        4,
        ("cell_mean", "mean_effects", "ridge"),
        k=10,
        questions=tuple(q.name for q in DEFINITIVE_QUESTIONS),
        external="gdsc1",
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
