"""Human-readable featurization report: counts and every drop, grouped by reason."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from drp.data.drug_structures import unresolved_notes
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
        *_screened_range_lines(ds),
        *_cell_identity_lines(ds),
        *_structure_lines(ds),
        *_missing_structure_lines(ds),
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


POLICY_TEXT = {
    "keep": "kept as measured (extrapolated values are trained and scored on)",
    "clip": "clipped to the ln of the nearer screened bound",
    "drop": "dropped (counted in the table of dropped items)",
}


def _screened_range_lines(ds: FeaturizedDataset) -> list[str]:
    """The policy for IC50 values outside the screened range, and how many there were."""
    info = ds.manifest.get("screened_range")
    if not info:
        return []
    lines = ["## Screened range", ""]
    if not info.get("ranges"):
        return [
            *lines,
            f"No screened range in this source: values outside it cannot be recognised "
            f"(policy `{info['policy']}` changes nothing).",
            "",
        ]
    known = int(info["known"])

    def share(n: int) -> str:
        return f"{n} ({n / known:.1%})" if known else str(n)

    return [
        *lines,
        f"Policy `{info['policy']}`: measurements outside their screened range are "
        f"{POLICY_TEXT[info['policy']]}. Of {info['measurements']} measurements, {known} have a "
        f"known range; {share(int(info['below']))} lie below the lowest screened concentration "
        f"and {share(int(info['above']))} above the highest. {info.get('pairs_outside', 0)} "
        "pairs are flagged `outside_range`.",
        "",
    ]


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


#: Drop reasons (stage ``responses``) that mean a drug had no usable structure.
NO_STRUCTURE_REASONS = ("drug id not in the drug table", "invalid SMILES (drug dropped)")
RECOVERED_HOW = {
    "alias": "alias of {alias_of}",
    "structure": "shipped structure",
    "user": "user table",
}


def _missing_structure_lines(ds: FeaturizedDataset) -> list[str]:
    """Response drugs given a structure from another table, and those still without one."""
    recovered = ds.manifest.get("sources", {}).get("recovered_structures") or []
    drops = ds.drops
    missing = drops[(drops.stage == "responses") & drops.reason.isin(NO_STRUCTURE_REASONS)]
    if not recovered and missing.empty:
        return []
    lines = ["## Drugs missing from the drug table", ""]
    if recovered:
        lines += [
            f"{len(recovered)} response drug(s) had no structure in the drug table and were "
            "given one (`drp.data.drug_structures`):",
            "",
            "| drug | how | source |",
            "|---|---|---|",
        ]
        for row in recovered:
            how = RECOVERED_HOW.get(row["how"], row["how"]).format(**row)
            lines.append(f"| {row['drug_id']} | {how} | {row['source']} |")
        lines.append("")
    if missing.empty:
        return [*lines, "Every measured drug has a structure.", ""]
    missing = missing.assign(item=missing["item"].astype(str)).sort_values(
        ["rows", "item"], ascending=[False, True]
    )
    notes = unresolved_notes()
    lines += [
        f"{len(missing)} drug(s) still have no structure; their {int(missing.rows.sum())} "
        "response rows (of cells with omics) are dropped:",
        "",
        "| drug | response rows | reason |",
        "|---|---|---|",
    ]
    for row in missing.itertuples():
        reason = f"{row.reason}. {notes[row.item]}" if row.item in notes else row.reason
        lines.append(f"| {row.item} | {row.rows} | {reason} |")
    return [*lines, ""]
