"""Human-readable featurization report: counts and every drop, grouped by reason."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from drp.data.validation import summarise_drops
from drp.featurize.store import FeaturizedDataset


def write_featurization_report(ds: FeaturizedDataset, root: Path) -> Path:
    """Write ``featurization_report.md`` beside the dataset and return its path."""
    counts = ds.manifest["counts"]
    lines = [
        f"# Featurization report: {ds.name}",
        "",
        f"Created {ds.manifest['created']}.",
        "",
        "| quantity | count |",
        "|---|---|",
    ]
    for key, value in counts.items():
        lines.append(f"| {key} | {value} |")
    lines += [
        "",
        f"Molecule standardisation: {ds.manifest['standardisation']}.",
        "",
        *_cell_identity_lines(ds),
        *_structure_lines(ds),
        "## Dropped items",
        "",
    ]
    summary = summarise_drops(ds.drops)
    if summary.empty:
        lines.append("Nothing was dropped.")
    else:
        lines += ["| stage | source | reason | items | table rows |", "|---|---|---|---|---|"]
        for row in summary.itertuples():
            lines.append(
                f"| {row.stage} | {row.source} | {row.reason} | {row.items} | {row.rows} |"
            )
        lines += ["", "Every dropped item is listed in `drops.csv`."]
    path = Path(root) / "featurization_report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _cell_identity_lines(ds: FeaturizedDataset) -> list[str]:
    """Cell names that normalise alike but are distinct lines, and what became of them."""
    identity = ds.manifest.get("cell_identity")
    if not identity:
        return []
    lines = ["## Cell identity", "", f"Rule: {identity['rule']}.", ""]
    collisions = identity.get("collisions", {})
    if not collisions:
        return [*lines, "No cell names collide after normalisation.", ""]
    kept = set(ds.cells["cell_id"])
    lines += ["| normalised | distinct lines | kept as | dropped |", "|---|---|---|---|"]
    for key, spellings in collisions.items():
        present = [s for s in spellings if s in kept]
        absent = [s for s in spellings if s not in kept]
        lines.append(
            f"| {key} | {', '.join(spellings)} | {', '.join(present) or '-'} | "
            f"{', '.join(absent) or '-'} |"
        )
    return [*lines, "", "Reasons for the dropped ones are in the table of dropped items.", ""]


def _structure_lines(ds: FeaturizedDataset) -> list[str]:
    """Drug ids that share a structure, and the similarity clusters."""
    drugs = ds.drugs
    if "structure_key" not in drugs.columns:
        return []
    lines = ["## Drug structures", ""]
    shared = structure_groups(drugs)
    lines.append(
        f"{len(drugs)} drug ids, {drugs['structure_key'].nunique()} distinct structures "
        f"({ds.manifest.get('structure_key', 'structure key')})."
    )
    if len(shared):
        lines += ["", "Ids that share a structure:", ""]
        lines += [f"- {', '.join(ids)} (`{key}`)" for key, ids in shared.items()]
    clustering = ds.manifest.get("clustering")
    if clustering and "structure_cluster" in drugs.columns:
        members = drugs.groupby("structure_cluster")["drug_id"].agg(sorted)
        sizes = members.map(len)
        lines += [
            "",
            f"Clusters: {clustering['method']} on {clustering['fingerprint']} fingerprints, "
            f"{clustering['similarity']} similarity >= {clustering['threshold']} to the centroid; "
            f"{len(members)} clusters, {int((sizes == 1).sum())} singletons, largest "
            f"{int(sizes.max())} drugs.",
            "",
        ]
        shared_clusters = members[sizes > 1].sort_values(key=lambda s: -s.map(len))
        if shared_clusters.empty:
            lines.append("Every cluster is a single drug: no two structures are that similar.")
        else:
            lines += ["| cluster | drugs | members |", "|---|---|---|"]
            for cluster, ids in shared_clusters.items():
                lines.append(f"| {cluster} | {len(ids)} | {', '.join(ids)} |")
    return [*lines, ""]


def structure_groups(drugs: pd.DataFrame) -> pd.Series:
    """``structure_key -> sorted drug ids`` for keys shared by several ids."""
    groups = drugs.groupby("structure_key")["drug_id"].agg(sorted)
    return groups[groups.map(len) > 1]
