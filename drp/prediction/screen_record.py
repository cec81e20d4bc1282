"""Where a screen came from, as ``screen.json`` records it (:mod:`drp.prediction.screen`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from drp.core.provenance import git_commit, hardware
from drp.data.sources import sha256_file
from drp.prediction.library import Record
from drp.prediction.predictor import Predictor


def screen_provenance(
    predictor: Predictor,
    run_dir: Path,
    library: Path,
    records: list[Record],
    invalid: pd.DataFrame,
    compounds: pd.DataFrame,
) -> dict:
    """What ``screen.json`` records of where a screen came from: the run, its model and prior,
    the library and its checksum, the counts, the commit, the hardware and the date."""
    return {
        "run_dir": str(run_dir.resolve()),
        "model": predictor.estimator.name,
        # new compounds' main effect: the run's similarity prior, or the network's own
        "drug_prior": _prior_provenance(predictor),
        "dataset": predictor.ds.name,
        "library": str(library.resolve()),
        "library_sha256": sha256_file(library),
        "read": len(records),
        "invalid": len(invalid),
        "scored": len(compounds),
        "out_of_domain": int(compounds["out_of_domain"].sum()),
        "git_commit": git_commit(),
        "hardware": hardware(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _prior_provenance(predictor: Predictor) -> dict | str:
    """The run's new-drug prior and whether it could place compounds here (enough of the
    run's training cells among the screened dataset's cells)."""
    prior = predictor.prior  # without the drugs the screened dataset measured
    if prior is None:
        return "none"
    ref = prior.reference(predictor.cell_ids)
    return prior.summary() | {
        "reference_cells": 0 if ref is None else len(ref),
        "applied": ref is not None,
    }
