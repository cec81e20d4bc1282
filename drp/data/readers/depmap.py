"""Readers of DepMap release files: ``Model.csv`` (the id crosswalk and lineages) and omics
matrices keyed by DepMap ModelID (ACH-…).

Files (found in a directory by name, or given directly):

- ``Model.csv``: ``ModelID, SangerModelID, COSMICID, CellLineName, StrippedCellLineName,
  CCLEName, OncotreeLineage, ...``; read by column name, since the order changes between
  releases.
- expression: ``OmicsExpressionProteinCodingGenesTPMLogp1.csv`` (up to 24Q4: an unnamed first
  column with the ModelID, gene columns ``SYMBOL (ENTREZ)``) or
  ``OmicsExpressionTPMLogp1HumanProteinCodingGenes.csv`` (from 25Q3: one row per profile with a
  ``ModelID`` column, a default-entry flag such as ``IsDefaultEntryForModel`` and metadata
  columns beside the genes).
- mutation: ``OmicsSomaticMutations.csv``, one row per variant (``ModelID, HugoSymbol, ...``).
- cnv: ``OmicsCNGene.csv``, laid out like the expression matrix.

Decisions on ambiguous points:

- Gene columns ``SYMBOL (ENTREZ)`` are named by their symbol; where two columns share a symbol
  both keep the full header. In the profile layout the gene columns are those written
  ``SYMBOL (ENTREZ)``; when none is, every numeric column that is not metadata.
- Where a default-entry flag exists (``IsDefaultEntryForModel``; Yes/No, True/False, 1/0) only
  the default profile of each model is kept; the others are dropped and counted. A model with
  two profiles and no flag raises TableError.
- The mutation matrix is binary: 1 where the file lists any variant of the gene in the model,
  0 elsewhere, over the models and genes the file lists (no filtering by variant class).
- Tissue is ``OncotreeLineage`` and its sub-type ``OncotreePrimaryDisease``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from drp.data.readers.cells import COSMIC, DEPMAP, NAME, SANGER
from drp.data.readers.files import (
    cosmic_id,
    depmap_id,
    find_file,
    find_optional,
    pick_column,
    read_official,
    require,
    sanger_id,
    text,
)
from drp.data.tables import TableError
from drp.data.validation import DropLog, omics_from_frame

MODEL_STEMS = ("Model",)
OMICS_STEMS = {
    "expression": (
        "OmicsExpressionProteinCodingGenesTPMLogp1",
        "OmicsExpressionTPMLogp1HumanProteinCodingGenes",
    ),
    "mutation": ("OmicsSomaticMutations",),
    "cnv": ("OmicsCNGene",),
}
GENE_HEADER = re.compile(r"^(?P<symbol>\S+) \((?P<entrez>\d+)\)$")
DEFAULT_FLAGS = ("IsDefaultEntryForModel",)
META_COLUMNS = {
    "modelid",
    "sequencingid",
    "modelconditionid",
    "profileid",
    "isdefaultentryformodel",
    "isdefaultentryformc",
    "isdefaultentry",
}
_YES = {"yes", "true", "1", "y", "t"}


@dataclass
class DepMapRelease:
    """DepMap files as plain frames.

    Attributes:
        models: ``Model.csv`` as ``depmap_id, sanger_model_id, cosmic_id, cell_name,
            stripped_name, ccle_name, tissue, tissue_sub_type``, or None without it.
        omics: name -> cells x features (float32, NaN = missing) indexed by ModelID.
        files: role -> path of every file read.
    """

    models: pd.DataFrame | None
    omics: dict[str, pd.DataFrame]
    files: dict[str, Path] = field(default_factory=dict)


def read_depmap(
    source: Path | str, omics: tuple[str, ...] | list[str], drops: DropLog
) -> DepMapRelease:
    """Read ``Model.csv`` (when present) and the ``omics`` (names of :data:`OMICS_STEMS`)
    from a DepMap release directory."""
    source = Path(source)
    if not source.is_dir():
        raise TableError(f"{source}: give the DepMap release directory (Model.csv, Omics*.csv)")
    unknown = [o for o in omics if o not in OMICS_STEMS]
    if unknown:
        raise TableError(
            f"omics {unknown} are not read from DepMap files; choose from {list(OMICS_STEMS)}"
        )
    files: dict[str, Path] = {}
    models = None
    if (model_path := find_optional(source, MODEL_STEMS, "DepMap Model.csv")) is not None:
        files["models"] = model_path
        models = read_models(model_path)
    frames = {}
    for name in omics:
        path = find_file(source, OMICS_STEMS[name], f"DepMap {name} file")
        files[f"omics_{name}"] = path
        frames[name] = (
            read_mutations(path, drops) if name == "mutation" else read_matrix(path, drops)
        )
    return DepMapRelease(models, frames, files)


def read_models(path: Path) -> pd.DataFrame:
    """``Model.csv`` as ``depmap_id, sanger_model_id, cosmic_id, cell_name, stripped_name,
    ccle_name, tissue, tissue_sub_type``; a ModelID listed twice raises TableError."""
    frame = read_official(path)
    require(frame, ["ModelID"], path)
    n = len(frame)

    def column(*names: str) -> pd.Series:
        for name in names:
            if name in frame.columns:
                return frame[name].map(text)
        return pd.Series([None] * n, index=frame.index, dtype=object)

    out = pd.DataFrame(
        {
            DEPMAP: frame["ModelID"].map(depmap_id),
            SANGER: frame["SangerModelID"].map(sanger_id) if "SangerModelID" in frame else None,
            COSMIC: pd.array(
                frame["COSMICID"].map(cosmic_id) if "COSMICID" in frame else [None] * n,
                dtype="Int64",
            ),
            NAME: column("CellLineName", "StrippedCellLineName"),
            "stripped_name": column("StrippedCellLineName"),
            "ccle_name": column("CCLEName"),
            "tissue": column("OncotreeLineage"),
            "tissue_sub_type": column("OncotreePrimaryDisease", "OncotreeSubtype"),
        }
    )
    bad = out[DEPMAP].isna()
    if bad.any():
        raise TableError(
            f"{path}: ModelID values that are not DepMap ids (ACH-...): "
            f"{frame['ModelID'][bad].astype(str).tolist()[:5]}"
        )
    dup = out[DEPMAP][out[DEPMAP].duplicated()].unique().tolist()
    if dup:
        raise TableError(f"{path}: ModelID listed more than once: {dup[:10]}")
    return out


def _gene_names(columns: list[str]) -> list[str]:
    """``TP53 (7157)`` -> ``TP53``, unless two columns share the symbol (then kept whole)."""
    symbols = [m.group("symbol") if (m := GENE_HEADER.match(c)) else c for c in columns]
    counts = pd.Series(symbols).value_counts()
    return [s if counts[s] == 1 else c for s, c in zip(symbols, columns, strict=True)]


def _default_flag(frame: pd.DataFrame) -> str | None:
    """The column that marks each model's default profile, if any."""
    for name in DEFAULT_FLAGS:
        if name in frame.columns:
            return name
    found = [
        c
        for c in frame.columns
        if re.search(r"default", c, re.I)
        and re.search(r"model", c, re.I)
        and not re.search(r"MC$|condition", c, re.I)
    ]
    return found[0] if found else None


def _keep_default(frame: pd.DataFrame, id_col: str, path: Path, drops: DropLog) -> pd.DataFrame:
    """Only each model's default profile, when the file flags one; others counted."""
    flag = _default_flag(frame)
    if flag is None:
        return frame
    is_default = frame[flag].astype(str).str.strip().str.lower().isin(_YES).to_numpy()
    dropped = frame[id_col][~is_default].astype(str).value_counts().sort_index()
    for model, n in dropped.items():
        drops.add(
            "omics", str(path), model, f"not the default entry for its model ({flag})", int(n)
        )
    return frame[is_default]


def read_matrix(path: Path, drops: DropLog) -> pd.DataFrame:
    """A DepMap cells x genes matrix (expression, copy number) in either layout, as float32
    indexed by ModelID; cells with too many missing values are dropped and counted."""
    frame = read_official(path)
    if "ModelID" in frame.columns:  # the profile layout (25Q3 on)
        frame = _keep_default(frame, "ModelID", path, drops)
        genes = [c for c in frame.columns if GENE_HEADER.match(c)]
        if not genes:
            genes = [
                c
                for c in frame.columns
                if c.lower() not in META_COLUMNS
                and not c.startswith("Unnamed")
                and pd.api.types.is_numeric_dtype(frame[c])
            ]
        frame = frame[["ModelID", *genes]]
    else:  # up to 24Q4: the first column (unnamed) holds the ModelID
        frame = frame.rename(columns={frame.columns[0]: "ModelID"})
    if frame.shape[1] < 2:
        raise TableError(f"{path}: no gene columns found beside ModelID")
    return _as_matrix(frame, path, drops)


def _as_matrix(frame: pd.DataFrame, path: Path, drops: DropLog) -> pd.DataFrame:
    ids = frame["ModelID"].map(depmap_id)
    for value in frame["ModelID"][ids.isna()].astype(str):
        drops.add("omics", str(path), value, "not a DepMap ModelID (ACH-...)")
    frame = frame[ids.notna().to_numpy()].assign(ModelID=ids[ids.notna()])
    matrix = omics_from_frame(frame, str(path), drops, id_col="ModelID")
    matrix.columns = _gene_names(list(matrix.columns))
    matrix.index.name = DEPMAP
    return matrix


def read_mutations(path: Path, drops: DropLog) -> pd.DataFrame:
    """``OmicsSomaticMutations.csv`` as a binary models x genes float32 matrix (1 = the file
    lists a variant of the gene in the model)."""
    frame = read_official(
        path,
        usecols=[
            "ModelID",
            "DepMap_ID",
            "HugoSymbol",
            "Hugo_Symbol",
            *DEFAULT_FLAGS,
        ],
    )
    id_col = pick_column(frame, ["ModelID", "DepMap_ID"], path)
    gene_col = pick_column(frame, ["HugoSymbol", "Hugo_Symbol"], path)
    frame = _keep_default(frame, id_col, path, drops)
    genes = frame[gene_col].map(text)
    no_gene = genes.isna()
    if no_gene.any():
        drops.add(
            "omics", str(path), "(no gene)", f"variant without a {gene_col}", int(no_gene.sum())
        )
    table = pd.DataFrame({"ModelID": frame[id_col].astype(str).str.strip(), "gene": genes})
    table = table[~no_gene.to_numpy()]
    if table.empty:
        raise TableError(f"{path}: no variant rows with a model and a gene")
    matrix = pd.crosstab(table["ModelID"], table["gene"]).gt(0).astype(np.float32)
    matrix.columns.name = None
    return _as_matrix(matrix.reset_index(), path, drops)
