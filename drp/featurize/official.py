"""``RawTables`` from the official files labs hold: responses from one of a GDSC release,
PRISM or CTRP; omics and lineages from DepMap; structures from the source or the user.

Cells are keyed by official ids (:data:`~drp.data.readers.cells.OFFICIAL_CELL_ID_RULE`), drugs
by ``<source>:<id>``. Every removed row is counted in the DropLog with its reason, and
``sources`` records each file's SHA-256 and which column the response is (ln IC50 for GDSC and
PRISM, ln EC50 for CTRP). Responses carry the screened range (``min_conc_um, max_conc_um``, µM)
without acting on it.

Tissues use one vocabulary per dataset: GDSC's tissue descriptors when the release directory
holds ``Cell_Lines_Details`` (lines it does not list have no tissue), else DepMap's
``OncotreeLineage``; the two are never mixed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from drp.data.readers import (
    NO_STRUCTURE,
    OFFICIAL_CELL_ID_RULE,
    CellCrosswalk,
    assign_cell_ids,
    key_ctrp_cells,
    match_structures,
    read_ctrp,
    read_depmap,
    read_gdsc_release,
    read_prism,
)
from drp.data.readers.cells import COSMIC, DEPMAP
from drp.data.readers.depmap import OMICS_STEMS
from drp.data.sources import sha256_file
from drp.data.tables import TableError
from drp.data.validation import DropLog
from drp.featurize.pipeline import RawTables

RESPONSE_COLUMNS = [
    "cell_id",
    "cell_name",
    "drug_id",
    "drug_name",
    "ln_ic50",
    "min_conc_um",
    "max_conc_um",
]
DRUG_ID_RULE = (
    "drugs are keyed '<source>:<id>': GDSC1:/GDSC2:<DRUG_ID>, PRISM:<broad_id>, "
    "CTRP:<master_cpd_id>; names are labels (one GDSC name may carry several DRUG_IDs)"
)


def official_tables(
    name: str,
    *,
    gdsc_release: Path | str | None = None,
    depmap: Path | str | None = None,
    prism: Path | str | None = None,
    ctrp: Path | str | None = None,
    drug_structures: Path | str | None = None,
    omics: Sequence[str] = ("expression",),
    drops: DropLog | None = None,
    gdsc_dataset: str | None = None,
) -> RawTables:
    """Combine official release files into validated tables keyed by official ids.

    Args:
        name: the dataset's name.
        gdsc_release: directory with ``GDSC<n>_fitted_dose_response*`` (and optionally
            ``screened_compounds_rel_*``, ``Cell_Lines_Details*``), or that file.
        depmap: directory with ``Model.csv`` and the DepMap omics files (required: the omics).
        prism: directory with the PRISM secondary-screen curves (and treatment info).
        ctrp: directory with the CTRPv2 ``v20.*`` files.
        drug_structures: table with ``smiles`` and ``drug_id`` and/or ``drug_name``; required
            for GDSC (its release has no structures), filling gaps for PRISM and CTRP.
        omics: DepMap omics to read: ``expression``, ``mutation``, ``cnv``.
        drops: DropLog to extend (a new one by default).
        gdsc_dataset: ``GDSC1`` or ``GDSC2`` when the GDSC directory holds both.

    Raises:
        TableError: not exactly one response source, no DepMap omics, a missing file or
            column, or nothing left to join.
    """
    drops = drops if drops is not None else DropLog()
    given = {
        key: value
        for key, value in (("gdsc_release", gdsc_release), ("prism", prism), ("ctrp", ctrp))
        if value is not None
    }
    if len(given) != 1:
        raise TableError(
            "give exactly one response source (gdsc_release, prism or ctrp); got "
            f"{sorted(given) or 'none'}"
        )
    if depmap is None:
        raise TableError(
            "omics come from DepMap: give depmap=<directory with Model.csv and "
            f"{' / '.join(s[0] for s in OMICS_STEMS.values())}.csv>"
        )
    if not omics:
        raise TableError("no omics selected")
    unknown = [o for o in omics if o not in OMICS_STEMS]
    if unknown:
        raise TableError(
            f"omics {unknown} are not available from DepMap files; choose from {list(OMICS_STEMS)}"
        )

    dep = read_depmap(depmap, list(omics), drops)
    crosswalk = CellCrosswalk()
    if dep.models is not None:
        crosswalk.add_frame(dep.models, name_cols=("cell_name", "stripped_name"))
    files: dict[str, Path] = {f"depmap_{k}": v for k, v in dep.files.items()}
    notes: dict[str, object] = {}

    if gdsc_release is not None:
        if dep.models is None:
            raise TableError(
                f"{depmap}: no Model.csv; it links the Sanger/COSMIC ids of the GDSC responses "
                "to the DepMap ModelIDs of the omics"
            )
        if drug_structures is None:
            raise TableError(
                "the GDSC release holds no drug structures: give drug_structures=<table with "
                "drug_id or drug_name, and smiles> (--drug-structures)"
            )
        release = read_gdsc_release(gdsc_release, drops, gdsc_dataset)
        files.update({f"gdsc_{k}": v for k, v in release.files.items()})
        crosswalk.add_frame(release.responses)
        if release.cells is not None:
            crosswalk.add_frame(release.cells)
        source = str(release.files["responses"])
        responses = assign_cell_ids(release.responses, crosswalk, drops, "responses", source)
        drugs = release.drugs.assign(smiles=None)
        dataset = responses.drug_id.str.split(":").str[0].iloc[0] if len(responses) else "GDSC"
        response = {
            "source": f"{dataset} fitted dose response (GDSC release)",
            "column": "LN_IC50",
            "measure": "ln IC50 (natural log of the IC50 in µM; may be extrapolated)",
        }
        notes["screened_range"] = "MIN_CONC / MAX_CONC of each fitted curve (µM)"
        tissues = (
            _gdsc_tissues(release.cells, crosswalk, drops) if release.cells is not None else None
        )
        tissue_source = "Cell_Lines_Details: GDSC Tissue descriptor 1 / 2"
    elif prism is not None:
        release = read_prism(prism, drops)
        files.update({f"prism_{k}": v for k, v in release.files.items()})
        source = str(release.files["responses"])
        responses = assign_cell_ids(release.responses, crosswalk, drops, "responses", source)
        drugs = release.drugs
        response = {
            "source": "PRISM Repurposing secondary screen",
            "column": "ic50",
            "measure": "ln IC50 (natural log of the IC50 in µM)",
        }
        notes["screened_range"] = (
            "min/max dose of the compound in its screen (treatment info, µM)"
            if "treatment_info" in release.files
            else "not available (no treatment-info file)"
        )
        notes["several_smiles"] = release.several_smiles
        tissues = None
        tissue_source = None
    else:
        if dep.models is None:
            raise TableError(
                f"{depmap}: no Model.csv; CTRP lines have no official id and are keyed by "
                "their name through Model.csv"
            )
        release = read_ctrp(ctrp, drops)
        files.update({f"ctrp_{k}": v for k, v in release.files.items()})
        source = str(release.files["responses"])
        responses = key_ctrp_cells(release.responses, crosswalk, drops, "responses", source)
        responses = responses.rename(columns={"ln_ec50": "ln_ic50"})
        drugs = release.drugs
        response = {
            "source": "CTRPv2 curves_post_qc",
            "column": "apparent_ec50_umol",
            "measure": "ln EC50 (natural log of the apparent EC50 in µM), stored as ln_ic50",
        }
        notes["screened_range"] = "top_test_conc_umol as max_conc_um; no lowest dose (NaN)"
        tissues = None
        tissue_source = None

    if responses.empty:
        raise TableError(f"{source}: no usable response rows (all were dropped)")
    if tissues is None and dep.models is not None:
        tissues = _model_tissues(dep.models, crosswalk)
        tissue_source = "Model.csv: OncotreeLineage / OncotreePrimaryDisease"
    if tissues is not None:
        tissues[COSMIC] = pd.array(tissues.cell_id.map(crosswalk.cosmic_of), dtype="Int64")

    drugs, structure_notes = _structures(drugs, drug_structures, files, drops)
    if structure_notes:
        notes["drug_structures"] = structure_notes
    responses = _drop_unstructured(responses, drugs, drops, source)
    if responses.empty:
        raise TableError(f"{source}: no response row has a drug with a structure")
    omics_frames = {
        key: _key_omics(frame, crosswalk, drops, str(dep.files[f"omics_{key}"]))
        for key, frame in dep.omics.items()
    }
    responses["cell_name"] = responses["cell_name"].fillna(responses["cell_id"])
    responses = responses[RESPONSE_COLUMNS].reset_index(drop=True)
    sources = {
        "official": True,
        "responses_name": source,
        "response": response,
        "files": {str(p): sha256_file(Path(p)) for p in files.values()},
        "roles": {role: str(p) for role, p in files.items()},
        "cell_id_rule": OFFICIAL_CELL_ID_RULE,
        "drug_id_rule": DRUG_ID_RULE,
        "cell_name_collisions": crosswalk.name_collisions(responses.cell_id.unique()),
        "tissues": tissue_source,
        **notes,
    }
    drug_table = drugs[["drug_id", "smiles", "drug_name"]].reset_index(drop=True)
    return RawTables(name, responses, omics_frames, drug_table, tissues, sources, drops, {})


def _structures(
    drugs: pd.DataFrame, path: Path | str | None, files: dict[str, Path], drops: DropLog
) -> tuple[pd.DataFrame, dict]:
    """Fill missing SMILES from the user's table; drugs still without one are dropped."""
    drugs = drugs.copy()
    notes: dict = {}
    if path is not None:
        files["drug_structures"] = Path(path)
        match = match_structures(drugs, path)
        missing = drugs.smiles.isna()
        drugs.loc[missing, "smiles"] = drugs.drug_id[missing].map(match.smiles)
        gaps = set(drugs.drug_id[missing])
        used = {d: how for d, how in match.matched_by.items() if d in gaps}
        notes = {
            "file": str(path),
            "matched_by_drug_id": sum(h == "drug_id" for h in used.values()),
            "matched_by_drug_name": sum(h == "drug_name" for h in used.values()),
            "matched_by_synonym": sum(h == "synonym" for h in used.values()),
            "rows_matching_no_drug": match.unused,
        }
    lacking = drugs.drug_id[drugs.smiles.isna()].tolist()
    drops.add_many("drugs", str(path) if path else "drugs", lacking, NO_STRUCTURE)
    return drugs[drugs.smiles.notna()].reset_index(drop=True), notes


def _drop_unstructured(
    responses: pd.DataFrame, drugs: pd.DataFrame, drops: DropLog, source: str
) -> pd.DataFrame:
    """Responses of drugs without a structure, dropped and counted per drug."""
    lost = ~responses.drug_id.isin(set(drugs.drug_id))
    for drug, n in responses.drug_id[lost].value_counts().sort_index().items():
        drops.add("responses", source, str(drug), NO_STRUCTURE, int(n))
    return responses[~lost].reset_index(drop=True)


def _key_omics(
    frame: pd.DataFrame, crosswalk: CellCrosswalk, drops: DropLog, source: str
) -> pd.DataFrame:
    """An omics matrix indexed by ModelID re-keyed by cell id; unkeyable profiles and lines
    with two profiles (two ModelIDs linked to one line) are dropped and counted."""
    models = pd.DataFrame({DEPMAP: frame.index.astype(str)})
    keyed = assign_cell_ids(
        models.assign(row=np.arange(len(frame))), crosswalk, drops, "omics", source
    )
    dup = keyed.cell_id[keyed.cell_id.duplicated(keep=False)]
    for model, cell in zip(keyed[DEPMAP][dup.index], dup, strict=True):
        drops.add("omics", source, model, f"one of several DepMap models linked to {cell}")
    keyed = keyed.drop(index=dup.index)
    out = frame.iloc[keyed["row"].to_numpy()].copy()
    out.index = pd.Index(keyed.cell_id.to_numpy(), name="cell_id")
    return out


def _gdsc_tissues(cells: pd.DataFrame, crosswalk: CellCrosswalk, drops: DropLog) -> pd.DataFrame:
    """Cell_Lines_Details keyed by cell id: ``cell_id, tissue, tissue_sub_type, cosmic_id,
    cell_name``."""
    keyed = assign_cell_ids(cells, crosswalk, drops, "tissues", "Cell_Lines_Details")
    return _unique_tissues(keyed, drops, "Cell_Lines_Details")


def _model_tissues(models: pd.DataFrame, crosswalk: CellCrosswalk) -> pd.DataFrame:
    """Model.csv lineages keyed by cell id. A model that cannot be keyed only loses its
    lineage here (its omics and responses are dropped and counted where they are keyed), so
    this annotation pass keeps its own, unreported log."""
    annotation_only = DropLog()
    keyed = assign_cell_ids(models, crosswalk, annotation_only, "tissues", "Model.csv")
    return _unique_tissues(keyed, annotation_only, "Model.csv")


def _unique_tissues(keyed: pd.DataFrame, drops: DropLog, source: str) -> pd.DataFrame:
    columns = ["cell_id", "tissue", "tissue_sub_type", COSMIC, "cell_name"]
    keyed = keyed.reindex(columns=columns).drop_duplicates(subset=["cell_id", "tissue"])
    dup = keyed.cell_id[keyed.cell_id.duplicated()].unique().tolist()
    for cell in dup:
        drops.add("tissues", source, cell, "cell listed with different tissues")
    out = keyed[~keyed.cell_id.isin(dup)].drop_duplicates(subset="cell_id")
    return out.reset_index(drop=True)
