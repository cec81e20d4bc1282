"""Human-readable featurization report: counts and every drop, grouped by reason."""

from __future__ import annotations

from pathlib import Path

from drp.data.tables import summarise_drops
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
