"""``drp featurize`` as one function: fetch (built-in) or read (custom) the tables, featurize
them, and write each dataset with its featurization report."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from drp.core.config import TrainConfig
from drp.core.paths import DATA_DIR
from drp.data.gdsc import ensure_gdsc
from drp.data.screened_range import DEFAULT_OUTSIDE_RANGE, OUTSIDE_RANGE_POLICIES
from drp.featurize.official import official_tables
from drp.featurize.pipeline import (
    OMICS_CHOICES,
    Progress,
    RawTables,
    build_dataset,
    custom_tables,
    gdsc_tables,
)
from drp.featurize.report import write_featurization_report
from drp.featurize.store import FeaturizedDataset

CUSTOM = "custom"


@dataclass
class Featurized:
    """A dataset written by :func:`featurize`.

    Attributes:
        dataset: the featurized dataset.
        path: its directory (``manifest.json``, ``featurization_report.md``, ...).
        role: ``main``, or ``auxiliary`` for the new-drug prior's screen featurized beside it.
    """

    dataset: FeaturizedDataset
    path: Path
    role: str = "main"

    def describe(self) -> str:
        """One line: the counts, the drops and where the featurization report is."""
        n = self.dataset.manifest["counts"]
        if self.role == "auxiliary":
            return (
                f"{self.dataset.name} beside it ({n['drugs']} drugs): the new-drug prior's "
                "auxiliary screen"
            )
        return (
            f"{self.dataset.name}: {n['pairs']:,} pairs, {n['cells']:,} cells, {n['drugs']:,} "
            f"drugs, {n['dropped']:,} items dropped (see {self.path / 'featurization_report.md'})"
        )


def parse_omics_files(specs: Sequence[str]) -> dict[str, Path]:
    """``["expression=expr.csv", ...]`` -> ``{"expression": Path("expr.csv")}``.

    Raises:
        ValueError: a spec without ``=``.
    """
    out = {}
    for spec in specs:
        if "=" not in spec:
            raise ValueError(f"--omics-file expects NAME=PATH, got {spec!r}")
        name, path = spec.split("=", 1)
        out[name.strip()] = Path(path)
    return out


def featurize(
    dataset: str = "gdsc2",
    *,
    omics: Sequence[str] = ("expression",),
    out: Path | None = None,
    data_dir: Path = DATA_DIR,
    responses: Path | None = None,
    omics_files: Mapping[str, Path] | Sequence[str] | None = None,
    drugs: Path | None = None,
    tissues: Path | None = None,
    cell_col: str = "cell_id",
    drug_col: str = "drug_id",
    response_col: str = "ln_ic50",
    unit: str = "ln_ic50",
    name: str = CUSTOM,
    auxiliary: bool = True,
    gdsc_release: Path | None = None,
    depmap: Path | None = None,
    prism: Path | None = None,
    ctrp: Path | None = None,
    drug_structures: Path | None = None,
    outside_range: str = DEFAULT_OUTSIDE_RANGE,
    log: Callable[[str], None] = print,
    progress: Progress | None = None,
) -> list[Featurized]:
    """Featurize a built-in dataset (``gdsc2``, ``gdsc1``, ``ccle``: fetched and verified) or a
    ``custom`` one from ``responses``, ``omics_files`` (``{name: path}`` or ``NAME=PATH``
    strings) and ``drugs``, and save it.

    Official files a lab holds (``gdsc_release``, ``depmap``, ``prism``, ``ctrp``
    directories; one response source, omics from DepMap) make a dataset named ``name``, keyed
    by official ids (:func:`drp.featurize.official.official_tables`). ``drug_structures`` is a
    table (``drug_id`` and/or ``drug_name``, ``smiles``) giving structures the sources lack;
    ``outside_range`` (keep | clip | drop) is the policy for IC50s outside the screened range.

    With a built-in dataset and ``auxiliary``, the default new-drug prior's auxiliary screen
    (``train.prior_auxiliary``, GDSC1) is featurized beside it from the same archive, so a
    new-drug run trained afterwards uses the data the README's figures used.

    Returns:
        The datasets written, the auxiliary one (if any) first.

    Raises:
        ValueError: a custom dataset without its tables, an unknown omics block, bad tables.
    """
    if outside_range not in OUTSIDE_RANGE_POLICIES:
        raise ValueError(
            f"--outside-range: unknown {outside_range!r}; choose from {list(OUTSIDE_RANGE_POLICIES)}"
        )
    kwargs = {"outside_range": outside_range} | ({} if progress is None else {"progress": progress})
    if omics_files is not None and not isinstance(omics_files, Mapping):
        omics_files = parse_omics_files(omics_files)
    written: list[Featurized] = []
    official = {"gdsc_release": gdsc_release, "depmap": depmap, "prism": prism, "ctrp": ctrp}
    official = {key: Path(path) for key, path in official.items() if path is not None}
    if official:
        raw = official_tables(name, **official, drug_structures=drug_structures, omics=tuple(omics))
        target = out or data_dir / "featurized" / name
    elif dataset == CUSTOM:
        if responses is None or drugs is None or not omics_files:
            raise ValueError(
                "a custom dataset needs --responses, --drugs and at least one "
                "--omics-file NAME=PATH"
            )
        raw = custom_tables(
            name,
            responses,
            dict(omics_files),
            drugs,
            cell_col=cell_col,
            drug_col=drug_col,
            response_col=response_col,
            unit=unit,
            tissues_path=tissues,
            drug_structures=drug_structures,
        )
        target = out or data_dir / "featurized" / name
    else:
        unknown = [o for o in omics if o not in OMICS_CHOICES]
        if unknown:
            raise ValueError(f"--omics: unknown {unknown}; choose from {list(OMICS_CHOICES)}")
        processed = ensure_gdsc(data_dir, log=log)
        raw = gdsc_tables(processed, dataset, list(omics), drug_structures=drug_structures)
        target = out or data_dir / "featurized" / dataset
        screen = TrainConfig().prior_auxiliary
        if auxiliary and screen and screen != dataset:
            aux_raw = gdsc_tables(processed, screen, list(omics), drug_structures=drug_structures)
            written.append(_save(aux_raw, target.parent / screen, "auxiliary", kwargs))
    written.append(_save(raw, target, "main", kwargs))
    return written


def _save(raw: RawTables, target: Path, role: str, kwargs: dict) -> Featurized:
    ds = build_dataset(raw, **kwargs)
    # folds cached for an earlier featurization describe other pairs: drawn again on first use
    # (the draw is seeded, so the same pairs give the same folds)
    shutil.rmtree(target / "folds", ignore_errors=True)
    ds.save(target)
    write_featurization_report(ds, target)
    return Featurized(ds, target, role)
