"""The study grid as work units: one :class:`CellSpec` per cell, its run name and shared folds."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from drp.core.config import RunConfig
from drp.featurize.store import FeaturizedDataset
from drp.splits.cache import load_or_make_folds
from drp.splits.external import ExternalTest
from drp.splits.fold import Fold
from drp.study.evidence import is_finished
from drp.study.presets import EXTERNAL, Preset


def run_name(variant: str, split: str, fold: int, seed: int) -> str:
    return f"{variant}__{split}__f{fold}__s{seed}"


class StudyFolds:
    """The study's folds, read from the shared cache once per (split, seed); the
    :data:`~drp.study.presets.EXTERNAL` split is ``external``'s one training fold."""

    def __init__(
        self,
        ds: FeaturizedDataset,
        k: int,
        folds_dir: Path,
        external: ExternalTest | None = None,
    ) -> None:
        self.ds, self.k, self.folds_dir, self.external = ds, k, folds_dir, external
        self._memo: dict[tuple[str, int], list[Fold]] = {}

    def __call__(self, split: str, seed: int, fold: int) -> Fold:
        if split == EXTERNAL:
            return self._external().cross.fold
        key = (split, seed)
        if key not in self._memo:
            self._memo[key] = load_or_make_folds(self.ds, split, self.k, seed, self.folds_dir)
        return self._memo[key][fold]

    def parts(
        self, split: str, seed: int, fold: int
    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, FeaturizedDataset | None]:
        """``(train, val, test, test_ds)`` of one cell: ``test_ds`` is the screen the test
        pairs are predicted from (None: the study's own dataset)."""
        train, val, test = self(split, seed, fold).frames(self.ds.pairs)
        if split != EXTERNAL:
            return train, val, test, None
        external = self._external()
        return train, val, external.test_pairs, external.cross.test_ds

    def _external(self) -> ExternalTest:
        if self.external is None:
            raise ValueError(f"the {EXTERNAL!r} split needs the preset's external screen")
        return self.external


@dataclass(frozen=True)
class CellSpec:
    """One unit of work: a model cell (variant x split x fold x seed), or the baselines of one
    fold (``variant`` = :data:`BASELINES_CELL`). Picklable, so a Ray task can carry it; paths
    are absolute, so any worker can run it."""

    study: str
    dataset: str
    preset: Preset
    base: RunConfig
    variant: str
    split: str
    fold: int
    seed: int
    command: str = ""
    threads: int = 0  # torch threads for the cell (0: leave as is)
    restore: bool = False  # train a finished cell's run again, its record kept (the analyses)

    @property
    def run(self) -> str:
        return run_name(self.variant, self.split, self.fold, self.seed)


BASELINES_CELL = "baselines"


def study_cells(
    study: Path, preset: Preset, dataset_dir: Path, base: RunConfig, threads: int = 0
) -> list[CellSpec]:
    """The grid's work units in run order: each fold's baselines before its first model."""
    specs, seen = [], set()
    common = {
        "study": str(Path(study).resolve()),
        "dataset": str(Path(dataset_dir).resolve()),
        "preset": preset,
        "base": base,
        "command": " ".join(sys.argv),
        "threads": threads,
    }
    for variant, split, fold, seed in preset.cells():
        if preset.baselines and (split, fold, seed) not in seen:
            seen.add((split, fold, seed))
            specs.append(
                CellSpec(**common, variant=BASELINES_CELL, split=split, fold=fold, seed=seed)
            )
        specs.append(CellSpec(**common, variant=variant, split=split, fold=fold, seed=seed))
    return specs


def is_done(spec: CellSpec) -> bool:
    """Whether the unit's records are all written."""
    if spec.variant != BASELINES_CELL:
        return is_finished(Path(spec.study), spec.run)
    return all(
        is_finished(Path(spec.study), run_name(b, spec.split, spec.fold, spec.seed))
        for b in spec.preset.baselines
    )
