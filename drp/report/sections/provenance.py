"""The provenance section: what ran where (commit, hardware, grid, training time), the run
configuration and the data checksums.
"""

from __future__ import annotations

import json

import pandas as pd

from drp.report.blocks import Block, Code, Heading, Para, Table
from drp.report.study_dir import Study


def provenance_section(study: Study) -> list[Block]:
    meta = study.meta
    prov = meta.get("provenance", {})
    grid = meta.get("grid", {})
    facts = {
        "study": meta.get("name", ""),
        "preset": f"{meta.get('preset', '')} — {meta.get('preset_description', '')}",
        **{k: prov.get(k, "") for k in ("commit", "date", "python", "torch")},
        "hardware": hardware(prov.get("hardware")),
        "variants": ", ".join(map(str, grid.get("variants", []))),
        "splits": ", ".join(map(str, grid.get("splits", []))),
        "folds": ", ".join(map(str, grid.get("folds", []))),
        "seeds": ", ".join(map(str, grid.get("seeds", []))),
        "epochs (early stopping patience)": f"{grid.get('epochs', '')} ({grid.get('patience', '')})",
        "model runs": len(study.results[study.results["variant"].isin(study.models)]),
        "training time of the model runs": _hours(study),
    }
    for i, later in enumerate(meta.get("resumed", [])):
        facts[f"resumed ({i + 1})"] = f"{later.get('commit', '')} on {later.get('date', '')}"
    blocks: list[Block] = [
        Heading("Provenance"),
        Table(pd.DataFrame({"field": list(facts), "value": [str(v) for v in facts.values()]})),
    ]
    if prov.get("command"):
        blocks += [Para("Command:"), Code(str(prov["command"]), "bash")]
    blocks += [
        Heading("Run configuration", 3),
        Para("What every run trained with (the variant changes only its model fields):"),
        Code(json.dumps(meta.get("config", {}), indent=2), "json"),
    ]
    files = meta.get("dataset", {}).get("manifest_files", {})
    blocks.append(Heading("Data checksums", 3))
    if files:
        blocks.append(Table(pd.DataFrame({"file": list(files), "sha256": list(files.values())})))
    else:
        blocks.append(Para("No data manifest was recorded."))
    return blocks


def hardware(info: object) -> str:
    """One line for a ``drp.core.provenance.hardware()`` record (or whatever was recorded)."""
    if not isinstance(info, dict):
        return str(info or "unknown hardware")
    parts = [str(info.get("gpu") or info.get("device") or "")]
    if info.get("cpus"):
        parts.append(f"{info['cpus']} CPU cores")
    if info.get("torch"):
        parts.append(f"torch {info['torch']}")
    if info.get("platform"):
        parts.append(str(info["platform"]))
    return ", ".join(p for p in parts if p)


def _hours(study: Study) -> str:
    r = study.results
    if "train_seconds" not in r:
        return "–"
    seconds = float(r.loc[r["variant"].isin(study.models), "train_seconds"].sum())
    return f"{seconds / 3600:.2f} h ({seconds / 60:.0f} min)"
