"""Screen a compound library against cell lines with a trained run, at library scale.

``screen`` reads a library (CSV/TSV/parquet with ``drug_id, smiles``; ``.smi`` with one
``SMILES name`` per line; ``.sdf``), standardises each molecule as ``drp featurize`` does, and
scores compounds ``chunk_size`` at a time against the chosen cells: each chunk's drugs and the
cells are encoded once (:func:`drp.training.batching.predict_indices`), its predictions are appended to
``predictions.parquet`` and folded into running top-K tables, so memory stays bounded by one
chunk whatever the library's size. Invalid molecules are counted and kept with RDKit's reason.
Each compound is flagged against the run's training drugs (:mod:`drp.prediction.domain`).

Output directory::

    predictions.parquet   cell_id, drug_id, ln_ic50_pred (float32), one row per scored pair
    compounds.csv         per scored compound: input and standardised SMILES, nearest training
                          drug, max_tanimoto, out_of_domain, mean/min prediction, best cell
    invalid.csv           drug_id, input, reason: every molecule that was not scored
    top_per_cell.csv      per cell: the K compounds with the lowest predicted ln IC50
    top_per_tissue.csv    per tissue: the K compounds with the lowest mean over its cells
    top_selective_per_tissue.csv  per tissue: the K compounds most selective for it (lowest
                          tissue mean minus the compound's mean over all screened cells)
    screen.json           counts, settings and provenance
    screen.md, screen.html (+ PNGs)   the summary (``drp.report.screen``)
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from drp.core.files import atomic_write, atomic_write_text
from drp.featurize.molecules import (
    InvalidSmilesError,
    mol_to_graph,
    morgan_fingerprint,
    physchem_descriptors,
    standardise,
    structure_key,
)
from drp.featurize.similarity import drug_identity, tanimoto_cross
from drp.prediction.domain import AD_THRESHOLD, training_drugs
from drp.prediction.library import Record, read_library
from drp.prediction.predictor import PredictionError, Predictor
from drp.prediction.ranking import RunningTopK, top_table
from drp.prediction.screen_record import screen_provenance
from drp.prediction.selectivity import ranking_evidence, tissue_selectivity
from drp.training.intervals import interval_half_width

OUTPUTS = (
    "predictions.parquet",
    "screen.json",
    "compounds.csv",
    "invalid.csv",
    "top_per_cell.csv",
    "top_per_tissue.csv",
    "top_selective_per_tissue.csv",
    "screen.md",
    "screen.html",
)
"""What a screen writes into its folder (and removes from it before it starts)."""

CHUNK_SIZE = 1024
"""Compounds scored per chunk: 1,024 x 921 GDSC2 cells is ~0.94M pairs per chunk."""
TOP_K = 10


# --------------------------------------------------------------------------- selection
def select_cells(
    predictor: Predictor, cells: Sequence[str] | None, tissue: str | None
) -> list[str]:
    """Cell ids to screen: the given ids, the cells of one tissue (case-insensitive), or all.

    Raises:
        PredictionError: both given, an unknown cell id, or an unknown tissue.
    """
    if cells and tissue:
        raise PredictionError("give --cells or --tissue, not both")
    if not tissue:
        # a cell named twice is screened once
        return list(dict.fromkeys(predictor.resolve_cells(list(cells) if cells else None)))
    frame = predictor.ds.cells
    tissues = frame["tissue"].astype("string")
    mask = (tissues.str.lower() == tissue.strip().lower()).fillna(False).to_numpy(bool)
    if not mask.any():
        known = sorted(tissues.dropna().unique())
        raise PredictionError(
            f"unknown tissue {tissue!r}; tissues of dataset {predictor.ds.name!r}: "
            f"{', '.join(known) if known else '(none recorded)'}"
        )
    return list(frame["cell_id"][mask])


# --------------------------------------------------------------------------- screening
@dataclass
class ScreenResult:
    """Counts and tables of a finished screen (the large pair table stays on disk)."""

    out_dir: Path
    n_read: int
    invalid: pd.DataFrame  # drug_id, input, reason
    compounds: pd.DataFrame  # one row per scored compound
    top_per_cell: pd.DataFrame
    top_per_tissue: pd.DataFrame
    top_selective_per_tissue: pd.DataFrame
    cell_ids: list[str]
    ad_threshold: float
    train_drugs_source: str
    meta: dict

    @property
    def n_scored(self) -> int:
        return len(self.compounds)

    @property
    def n_out_of_domain(self) -> int:
        return int(self.compounds["out_of_domain"].sum())

    def describe(self) -> str:
        """One line: molecules scored, invalid and out of domain, cells, and the summary."""
        return (
            f"{self.n_scored:,} of {self.n_read:,} molecules ({len(self.invalid):,} invalid, see "
            f"invalid.csv; {self.n_out_of_domain:,} out of domain) x {len(self.cell_ids):,} "
            f"cells -> {self.out_dir / 'screen.html'}"
        )


def _featurize_chunk(records: Sequence[Record], invalid: list[tuple[str, str, str]]):
    """Standardised graphs, fingerprints [n, bits], physicochemical descriptors [n, k], names,
    input and standardised SMILES and drug identities of the readable records; the others are
    appended to ``invalid`` with their reason."""
    graphs, fps, descriptors, names, inputs, standard, keys = [], [], [], [], [], [], []
    for name, smiles, reason in records:
        if smiles is None:
            invalid.append((name, "", reason))
            continue
        try:
            mol = standardise(smiles)
        except InvalidSmilesError as exc:
            invalid.append((name, smiles, str(exc)))
            continue
        graphs.append(mol_to_graph(mol.mol))
        fps.append(morgan_fingerprint(mol.mol))
        descriptors.append(physchem_descriptors(mol.mol))
        names.append(name)
        inputs.append(smiles)
        standard.append(mol.smiles)
        keys.append(structure_key(mol.mol))
    return graphs, fps, descriptors, names, inputs, standard, drug_identity(keys).to_numpy(str)


def screen(
    predictor: Predictor,
    library: Path,
    out_dir: Path,
    *,
    run_dir: Path | None = None,
    cells: Sequence[str] | None = None,
    tissue: str | None = None,
    top_k: int = TOP_K,
    chunk_size: int = CHUNK_SIZE,
    ad_threshold: float = AD_THRESHOLD,
    on_chunk: Callable[[int, int], None] | None = None,
    command: str = "",
    interval: float | None = None,
) -> ScreenResult:
    """Score every valid compound of ``library`` against the chosen cells; write ``out_dir``.

    Args:
        predictor: a trained run bound to its own dataset (``Predictor.from_run``).
        library: the library file (see :func:`read_library`).
        out_dir: output directory (see the module docstring), created when the first chunk
            is scored.
        run_dir: the run, for its training drugs (default ``predictor.estimator.run_dir``).
        cells, tissue: the cells to screen (default all; see :func:`select_cells`).
        top_k: compounds kept per cell and per tissue.
        chunk_size: compounds encoded and scored together.
        ad_threshold: ``out_of_domain`` = max Tanimoto to a training drug below this.
        on_chunk: called with (records done, records in all) after each chunk.
        command: the command line, recorded in ``screen.json``.
        interval: add conformal ``lo``/``hi`` at this level (0.50-0.99) to every pair of
            ``predictions.parquet``; needs a run calibrated on new drugs (drug- or
            cluster-blind), see :mod:`drp.training.intervals`.

    Raises:
        PredictionError: an unusable library or selection, bad settings, or no valid molecule.
    """
    if top_k < 1 or chunk_size < 1:
        raise PredictionError(f"top_k and chunk_size must be >= 1, got {top_k} and {chunk_size}")
    if not 0.0 <= ad_threshold <= 1.0:
        raise PredictionError(
            f"the AD threshold is a Tanimoto similarity in [0, 1], got {ad_threshold}"
        )
    start = time.perf_counter()
    library, out_dir = Path(library), Path(out_dir)
    records = read_library(library)
    ds = predictor.ds
    cell_ids = select_cells(predictor, cells, tissue)
    c_idx = np.array([ds.cell_index[c] for c in cell_ids], np.int64)
    run_dir = Path(run_dir or predictor.estimator.run_dir or ".")
    trained = training_drugs(run_dir, ds)
    train_fps = ds.fingerprints[[ds.drug_index[d] for d in trained.ids]]
    train_names = np.array(trained.ids, dtype=object)

    # cells without a tissue (NaN) are ranked per cell but belong to no tissue table
    tissue_of = ds.cells["tissue"].iloc[c_idx].astype("string").reset_index(drop=True)
    tissue_names = sorted(tissue_of.dropna().unique())
    tissue_rows = [np.flatnonzero(tissue_of.eq(t).fillna(False).to_numpy()) for t in tissue_names]
    top_cell = RunningTopK(len(cell_ids), top_k)
    top_tissue = RunningTopK(len(tissue_names), top_k)
    top_selective = RunningTopK(len(tissue_names), top_k)

    base = predictor.tensors
    prior = predictor.prior
    half_width = None
    if interval is not None:
        try:
            half_width = interval_half_width(run_dir, interval, new_drugs=True)
        except ValueError as exc:
            raise PredictionError(str(exc)) from None
    cell_array = pa.array(cell_ids, pa.string())
    invalid: list[tuple[str, str, str]] = []
    compounds: list[pd.DataFrame] = []
    writer: pq.ParquetWriter | None = None
    parquet_path = out_dir / "predictions.parquet"
    # written under a temporary name and moved into place when the screen is complete, so a
    # crashed screen leaves no predictions.parquet that looks finished
    partial = parquet_path.with_name(".predictions.parquet.partial")
    # an earlier screen's outputs go first: a crash must not leave new tables beside old ones
    for name in OUTPUTS:
        (out_dir / name).unlink(missing_ok=True)
    n_scored = 0
    try:
        for begin in range(0, len(records), chunk_size):
            chunk = records[begin : begin + chunk_size]
            graphs, fps, descriptors, names, inputs, standard, keys = _featurize_chunk(
                chunk, invalid
            )
            if names:
                n, fp = len(names), np.stack(fps)
                c = np.repeat(c_idx, n)
                d = np.tile(np.arange(n), len(c_idx))
                tensors = base.with_drugs(graphs, fp, np.stack(descriptors))
                pred = predictor.estimator.predict_at(
                    tensors, predictor.cell_ids, c, d, keys, prior
                )
                matrix = pred.reshape(len(c_idx), n)  # [cells, compounds of the chunk]
                cell_take = pa.array(np.repeat(np.arange(len(c_idx), dtype=np.int32), n))
                drug_take = pa.array(np.tile(np.arange(n, dtype=np.int32), len(c_idx)))
                columns = {
                    "cell_id": cell_array.take(cell_take),
                    "drug_id": pa.array(names, pa.string()).take(drug_take),
                    "ln_ic50_pred": pa.array(pred.astype(np.float32)),
                }
                if half_width is not None:
                    columns["lo"] = pa.array((pred - half_width).astype(np.float32))
                    columns["hi"] = pa.array((pred + half_width).astype(np.float32))
                table = pa.table(columns)
                if writer is None:
                    out_dir.mkdir(parents=True, exist_ok=True)
                    writer = pq.ParquetWriter(partial, table.schema)
                writer.write_table(table)

                ids = np.arange(n_scored, n_scored + n)
                top_cell.update(matrix, ids)
                selective = np.full(n, np.nan)
                selective_in = np.full(n, None, dtype=object)
                if tissue_names:
                    means = np.stack([matrix[rows].mean(axis=0) for rows in tissue_rows])
                    top_tissue.update(means, ids)
                    selectivity = tissue_selectivity(matrix, tissue_rows)  # [tissues, n]
                    top_selective.update(selectivity, ids)
                    selective, best_tissue = selectivity.min(axis=0), selectivity.argmin(axis=0)
                    selective_in = np.asarray(tissue_names, dtype=object)[best_tissue]
                sim = tanimoto_cross(fp, train_fps)  # [n, n_train]
                nearest = sim.argmax(axis=1)
                best = sim[np.arange(n), nearest]
                compounds.append(
                    pd.DataFrame(
                        {
                            "drug_id": names,
                            "smiles": inputs,
                            "smiles_standardised": standard,
                            "nearest_train_drug": train_names[nearest],
                            "max_tanimoto": best,
                            "out_of_domain": best < ad_threshold,
                            "mean_ln_ic50_pred": matrix.mean(axis=0),
                            "min_ln_ic50_pred": matrix.min(axis=0),
                            "best_cell": np.asarray(cell_ids, dtype=object)[matrix.argmin(axis=0)],
                            "most_selective_tissue": selective_in,
                            "selectivity": selective,
                        }
                    ).join(predictor.prior_columns(keys, fp))
                )
                n_scored += n
            if on_chunk is not None:
                on_chunk(min(begin + chunk_size, len(records)), len(records))
    except BaseException:
        if writer is not None:
            writer.close()
        partial.unlink(missing_ok=True)
        raise
    if writer is not None:
        writer.close()

    try:
        invalid_frame = pd.DataFrame(invalid, columns=["drug_id", "input", "reason"])
        if n_scored == 0:
            reasons = "; ".join(
                f"{r.drug_id}: {r.reason}" for r in invalid_frame.head(5).itertuples()
            )
            raise PredictionError(
                f"{library}: no valid molecule among {len(records):,} records ({reasons}"
                + (", ..." if len(invalid_frame) > 5 else "")
                + ")"
            )
        compound_frame = pd.concat(compounds, ignore_index=True)
        per_cell = top_table(top_cell, compound_frame, "cell_id", cell_ids, "ln_ic50_pred")
        n_cells = dict(zip(tissue_names, map(len, tissue_rows), strict=True))
        per_tissue = top_table(
            top_tissue, compound_frame, "tissue", tissue_names, "mean_ln_ic50_pred"
        )
        per_tissue.insert(1, "n_cells", per_tissue["tissue"].map(n_cells))
        selective = top_table(top_selective, compound_frame, "tissue", tissue_names, "selectivity")
        selective.insert(1, "n_cells", selective["tissue"].map(n_cells))

        for name, frame in (
            ("compounds.csv", compound_frame),
            ("invalid.csv", invalid_frame),
            ("top_per_cell.csv", per_cell),
            ("top_per_tissue.csv", per_tissue),
            ("top_selective_per_tissue.csv", selective),
        ):
            atomic_write(out_dir / name, lambda p, f=frame: f.to_csv(p, index=False))
        meta = screen_provenance(
            predictor, run_dir, library, records, invalid_frame, compound_frame
        )
        meta |= {
            "cells": len(cell_ids),
            "cells_without_tissue": int(tissue_of.isna().sum()),
            "tissue": tissue,
            "pairs": n_scored * len(cell_ids),
            "top_k": top_k,
            "chunk_size": chunk_size,
            "ad_threshold": ad_threshold,
            "ad_threshold_default": ad_threshold == AD_THRESHOLD,
            "train_drugs": trained.source,
            "train_drugs_recovered": trained.recovered,
            "command": command,
            "interval": None if interval is None else {"level": interval, "half_width": half_width},
            "selectivity_ranking": ranking_evidence(run_dir),
            "seconds": round(time.perf_counter() - start, 2),
        }
        os.replace(partial, parquet_path)  # the screen is complete: its predictions count
    except BaseException:
        partial.unlink(missing_ok=True)  # no file that looks like a finished screen
        raise
    atomic_write_text(out_dir / "screen.json", json.dumps(meta, indent=2, default=str))
    result = ScreenResult(
        out_dir,
        len(records),
        invalid_frame,
        compound_frame,
        per_cell,
        per_tissue,
        selective,
        cell_ids,
        ad_threshold,
        trained.source,
        meta,
    )
    return result  # compute never draws: callers ask drp.report.screen to write the summary
