"""Render a finished study directory into ``report.md`` and a self-contained ``report.html``.

Both files are written from one list of blocks (heading, paragraph, table, figure, code), so
they always hold the same content. Figures are written as PNGs beside the reports; the markdown
links them, the HTML embeds them as base64 data URIs (no external resources).
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from drp.report import plots
from drp.report.faithfulness import faithfulness_verdict
from drp.report.study_dir import METRICS, Study, load_study, summary_table

QUESTION = "Does graph attention help predict drug response?"
VERDICT_METRICS = {"rmse": "lower", "per_drug_r": "higher", "per_cell_r": "higher"}


# --------------------------------------------------------------------------- document blocks
@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Para:
    """Text with inline ``**bold**`` and ```code``` only."""

    text: str


@dataclass
class Table:
    """A table; ``classes`` maps (row position, column name) to a CSS class for the HTML."""

    frame: pd.DataFrame
    classes: dict[tuple[int, str], str] = field(default_factory=dict)


@dataclass
class Image:
    path: Path
    alt: str
    caption: str = ""


@dataclass
class Gallery:
    """Images laid out side by side in HTML (one after another in markdown)."""

    images: list[Image]


@dataclass
class Code:
    text: str
    lang: str = ""


Block = Heading | Para | Table | Image | Gallery | Code


# --------------------------------------------------------------------------- formatting helpers
def _num(x: object, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "–"
    if isinstance(x, (bool, np.bool_)):
        return str(x)
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}"
    if isinstance(x, dict):
        return ", ".join(f"{k}: {_num(v, digits)}" for k, v in x.items())
    if not isinstance(x, (float, np.floating)):
        return str(x)
    return f"{float(x):.{digits}f}".replace("-", "−")


def _p(x: object) -> str:
    if x is None or not np.isfinite(float(x)):  # type: ignore[arg-type]
        return "–"
    x = float(x)  # type: ignore[arg-type]
    return "<0.001" if x < 0.001 else f"{x:.3f}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"


def _inline_html(text: str) -> str:
    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def _md_cell(x: object) -> str:
    return str(x).replace("|", "\\|").replace("\n", " ")


# --------------------------------------------------------------------------- writers
def to_markdown(blocks: Sequence[Block], out_dir: Path) -> str:
    """Markdown with figures linked relative to ``out_dir``."""
    lines: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            lines += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Para):
            lines += [b.text, ""]
        elif isinstance(b, Table):
            cols = [str(c) for c in b.frame.columns]
            lines.append("| " + " | ".join(_md_cell(c) for c in cols) + " |")
            lines.append("|" + "|".join("---" for _ in cols) + "|")
            for row in b.frame.itertuples(index=False):
                lines.append("| " + " | ".join(_md_cell(v) for v in row) + " |")
            lines.append("")
        elif isinstance(b, (Image, Gallery)):
            for im in b.images if isinstance(b, Gallery) else [b]:
                rel = im.path.relative_to(out_dir).as_posix()
                lines.append(f"![{im.alt}]({rel})")
                if im.caption:
                    lines += ["", f"*{im.caption}*"]
                lines.append("")
        elif isinstance(b, Code):
            lines += [f"```{b.lang}", b.text, "```", ""]
    return "\n".join(lines).rstrip() + "\n"


_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1150px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #333; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: .15em; margin-top: 2em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.helps, td.faithful { background: #d9f0d3; }
td.hurts, td.decorative { background: #f8d0cc; }
td.noev, td.insufficient { background: #eeeeee; }
img { max-width: 100%; }
figure { margin: .5em 0 1.5em; }
figcaption { font-size: 13px; color: #444; }
.gallery { display: flex; flex-wrap: wrap; gap: 12px; }
.gallery figure { width: 360px; margin: 0; border: 1px solid #ddd; padding: 6px; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; font-size: 12px; }
code { background: #f3f3f3; padding: 0 3px; }
"""


def _figure_html(im: Image) -> str:
    data = base64.b64encode(im.path.read_bytes()).decode("ascii")
    cap = f"<figcaption>{_inline_html(im.caption)}</figcaption>" if im.caption else ""
    return f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(im.alt)}">{cap}</figure>'


def to_html(blocks: Sequence[Block], title: str) -> str:
    """One self-contained HTML page: inline CSS, images as data URIs."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
    ]
    for b in blocks:
        if isinstance(b, Heading):
            anchor = _slug(b.text.lower())
            parts.append(f'<h{b.level} id="{anchor}">{html.escape(b.text)}</h{b.level}>')
        elif isinstance(b, Para):
            parts.append(f"<p>{_inline_html(b.text)}</p>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{html.escape(str(c))}</th>" for c in b.frame.columns)
            rows = []
            for i, row in enumerate(b.frame.itertuples(index=False)):
                cells = []
                for col, v in zip(b.frame.columns, row, strict=True):
                    cls = b.classes.get((i, str(col)))
                    attr = f' class="{cls}"' if cls else ""
                    cells.append(f"<td{attr}>{_inline_html(str(v))}</td>")
                rows.append("<tr>" + "".join(cells) + "</tr>")
            parts.append(
                f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            )
        elif isinstance(b, Image):
            parts.append(_figure_html(b))
        elif isinstance(b, Gallery):
            parts.append(
                '<div class="gallery">' + "".join(_figure_html(i) for i in b.images) + "</div>"
            )
        elif isinstance(b, Code):
            parts.append(f"<pre><code>{html.escape(b.text)}</code></pre>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------- sections
_VERDICT_CLASS = {"helps": "helps", "hurts": "hurts", "no evidence": "noev"}
_FAITH_CLASS = {
    "faithful": "faithful",
    "decorative": "decorative",
    "insufficient data": "insufficient",
}


def _verdict_section(study: Study) -> list[Block]:
    blocks: list[Block] = [Heading("Verdict")]
    c = study.comparisons
    if c.empty:
        return [*blocks, Para("No comparisons were produced by this study.")]
    metrics = [m for m in VERDICT_METRICS if m in set(c["metric"])]
    counts = c[c["metric"].isin(metrics)]["verdict"].value_counts()
    blocks.append(
        Para(
            "Each attention component is compared with its non-attention twin trained on the same "
            "folds and seeds. Cells give the verdict, the mean paired difference "
            "**attention − twin** with its 95% CI (Nadeau–Bengio corrected resampled t-test) and "
            "the Holm-adjusted p-value (family: all comparisons × splits of one metric). RMSE: "
            "lower is better; per-drug and per-cell r: higher is better. "
            f"Overall: **{counts.get('helps', 0)} helps**, {counts.get('no evidence', 0)} no "
            f"evidence, **{counts.get('hurts', 0)} hurts**."
        )
    )
    rows, classes = [], {}
    keys = c[["comparison", "attention", "twin", "split"]].drop_duplicates()
    split_order = {s: i for i, s in enumerate(study.splits)}
    keys = keys.assign(_o=keys["split"].map(split_order).fillna(len(split_order)))
    comp_order = {n: i for i, n in enumerate(dict.fromkeys(c["comparison"]))}
    keys = keys.assign(_c=keys["comparison"].map(comp_order)).sort_values(["_c", "_o"])
    for i, k in enumerate(keys.itertuples(index=False)):
        row = {"comparison": f"{k.comparison} ({k.attention} vs {k.twin})", "split": k.split}
        for m in metrics:
            hit = c[(c.comparison == k.comparison) & (c.split == k.split) & (c.metric == m)]
            label = plots.METRIC_LABELS.get(m, m)
            if hit.empty:
                row[label] = "–"
                continue
            r = hit.iloc[0]
            row[label] = (
                f"**{r.verdict}** {_num(r.mean_diff)} [{_num(r.ci_low)}, {_num(r.ci_high)}] "
                f"p={_p(r.p_holm)}"
            )
            classes[(i, label)] = _VERDICT_CLASS.get(r.verdict, "")
        rows.append(row)
    blocks.append(Table(pd.DataFrame(rows), classes))
    return blocks


def _items(items: object, limit: int = 6) -> str:
    if isinstance(items, (list, tuple)):
        shown = ", ".join(str(x) for x in items[:limit])
        return shown + (f" … (+{len(items) - limit} more)" if len(items) > limit else "")
    return "" if items is None else str(items)


def _data_section(study: Study) -> list[Block]:
    ds = study.meta.get("dataset", {})
    summary = study.meta.get("data_summary", {})
    blocks: list[Block] = [
        Heading("Data"),
        Para(f"Dataset: **{ds.get('name', 'unknown')}**."),
    ]
    counts = {**ds.get("counts", {}), **summary.get("counts", {})}
    if counts:
        blocks.append(
            Table(
                pd.DataFrame(
                    {"quantity": list(counts), "value": [_num(v) for v in counts.values()]}
                )
            )
        )
    drops = summary.get("drops", [])
    blocks.append(Heading("Dropped items", 3))
    if drops:
        frame = pd.DataFrame(drops).reindex(columns=["stage", "source", "reason", "items", "rows"])
        frame["items"] = frame["items"].map(_items)
        frame["rows"] = frame["rows"].map(lambda v: _num(v) if pd.notna(v) else "–")
        blocks.append(Table(frame.fillna("")))
    else:
        blocks.append(Para("Nothing was dropped."))
    ceiling = summary.get("noise_ceiling") or {}
    blocks.append(Heading("Replicate noise ceiling", 3))
    if ceiling:
        blocks.append(
            Para(
                f"Replicate measurements of the same cell–drug pair ({_num(ceiling.get('n_pairs'))} "
                f"pairs) agree with Pearson r = **{_num(ceiling.get('pearson'))}** and RMSE = "
                f"**{_num(ceiling.get('rmse'))}**. On pairs measured twice, one measurement "
                "predicts the other no better than this, which bounds what a model can reach on "
                "them. Caveat: in GDSC these repeats are the same drug name screened under "
                "different drug ids (often different concentration ranges or batches), so they "
                "are noisier than the average pair and the ceiling is conservative; models "
                "scoring below this RMSE over all pairs are not thereby beating the assay."
            )
        )
    else:
        blocks.append(
            Para("No replicate measurements were available to estimate the noise ceiling.")
        )
    return blocks


def _results_section(study: Study) -> list[Block]:
    metrics = [m for m in METRICS if m in study.results.columns]
    blocks: list[Block] = [
        Heading("Results per split"),
        Para(
            "Mean ± sd over folds × seeds (baselines: seed 0 only). "
            f"The default variant is **{study.default_variant}**; baselines are listed last."
        ),
    ]
    variants = study.models + study.baselines
    for split in study.splits:
        res = study.results[study.results["split"] == split]
        table = summary_table(res, variants, metrics)
        table.insert(
            1, "kind", ["baseline" if v in study.baselines else "model" for v in table["variant"]]
        )
        table["variant"] = [
            f"**{v}**" if v == study.default_variant else v for v in table["variant"]
        ]
        table = table.rename(columns={m: plots.METRIC_LABELS.get(m, m) for m in metrics})
        blocks += [Heading(split, 3), Table(table)]
    return blocks


def _figure(fig: object, out_dir: Path, name: str, alt: str, caption: str) -> Image:
    path = plots.save_figure(fig, out_dir / name)  # type: ignore[arg-type]
    return Image(path, alt, caption)


def _figures_sections(study: Study, out_dir: Path) -> list[Block]:
    blocks: list[Block] = [Heading("Paired differences")]
    if study.comparisons.empty:
        blocks.append(Para("No comparisons were produced by this study."))
    else:
        metrics = {
            m: b for m, b in VERDICT_METRICS.items() if m in set(study.comparisons["metric"])
        }
        fig = plots.forest_plot(study.comparisons, metrics, study.splits)
        blocks.append(
            _figure(
                fig,
                out_dir,
                "fig_forest.png",
                "forest plot",
                "Mean paired difference attention − twin with 95% CI (corrected resampled t); "
                "colour = verdict after Holm adjustment.",
            )
        )

    default = study.default_variant
    blocks.append(Heading("Predicted vs observed"))
    preds = {
        s: study.predictions[(default, s)]
        for s in study.splits
        if (default, s) in study.predictions
    }
    blocks.append(
        _figure(
            plots.pred_vs_obs(preds, default),
            out_dir,
            "fig_pred_vs_obs.png",
            "predicted vs observed",
            f"Test predictions of {default} pooled over folds (seed 0); dashed = identity.",
        )
    )

    blocks.append(Heading("Per-drug correlation"))
    variants = list(dict.fromkeys([default, *study.twins, *study.baselines]))
    groups = {v: "baseline" for v in study.baselines}
    groups.update({v: "twin" for v in study.twins})
    groups[default] = "default"
    blocks.append(
        _figure(
            plots.per_drug_r_plot(study.predictions, variants, study.splits, groups),
            out_dir,
            "fig_per_drug_r.png",
            "per-drug Pearson r",
            "Pearson r across cell lines within each drug, from pooled test predictions: "
            "the default variant, its twins and the baselines. A constant prediction scores 0.",
        )
    )

    blocks.append(Heading("Learning curves"))
    blocks.append(
        _figure(
            plots.learning_curves(study.history, study.models, study.splits),
            out_dir,
            "fig_learning_curves.png",
            "learning curves",
            "Validation RMSE per epoch (early-stopping set, never the test fold): mean over "
            "folds × seeds, band = min–max.",
        )
    )
    return blocks


def _molecules_section(study: Study, out_dir: Path) -> list[Block]:
    blocks: list[Block] = [
        Heading("Attention on molecules"),
        Para(
            "Atoms coloured by the attention-pooling weight (darker = more weight, scaled to the "
            "most attended atom). Faithfulness: change in prediction when the top-k attended atoms "
            "are masked versus k random atoms, and the Spearman correlation of attention with "
            "gradient saliency."
        ),
    ]
    if not study.attention:
        return [*blocks, Para("No attention maps were produced by this study.")]
    try:
        # RDKit's drawing module links Cairo and X libraries that headless servers may lack
        from drp.report import molecules
    except ImportError as err:
        return [
            *blocks,
            Para(
                f"Molecules were not drawn: RDKit's drawing library does not load on this "
                f"machine ({err}). The atom weights are in `attention.json` of the study."
            ),
        ]
    images = []
    for i, entry in enumerate(study.attention):
        f = entry.get("faithfulness") or {}
        name = f"mol_{i:02d}_{_slug(str(entry['drug_id']))}.png"
        try:
            png = molecules.draw_attention(
                entry["smiles"], entry["atom_weights"], str(entry["drug_id"])
            )
        except ValueError as err:
            blocks.append(Para(f"{entry['drug_id']}: not drawn ({err})."))
            continue
        (out_dir / name).write_bytes(png)
        caption = (
            f"**{entry['drug_id']}** · {entry.get('variant', '')} · {entry.get('split', '')} — "
            f"top-{f.get('k', '?')} Δ {_num(f.get('top_k_delta'))} vs random "
            f"{_num(f.get('random_k_delta'))}; saliency ρ {_num(f.get('saliency_spearman'))}"
        )
        images.append(Image(out_dir / name, f"attention on {entry['drug_id']}", caption))
    if images:
        blocks.append(Gallery(images))
    return blocks


def _faithfulness_rows(frame: pd.DataFrame, splits: list[str]) -> tuple[pd.DataFrame, dict, dict]:
    rows, classes = [], {}
    groups = [(s, frame[frame["split"] == s]) for s in splits if s in set(frame["split"])]
    # Overall: average each drug over splits first, so every drug counts once in the test.
    per_drug = frame.groupby("drug_id")[
        ["top_k_delta", "random_k_delta", "saliency_spearman"]
    ].mean()
    groups.append(("all (drug means)", per_drug))
    overall: dict = {}
    for i, (name, g) in enumerate(groups):
        v = faithfulness_verdict(g)
        overall = v
        rows.append(
            {
                "split": name,
                "drugs": v["n_drugs"],
                "median top-k Δ": _num(v["median_top_k_delta"]),
                "median random-k Δ": _num(v["median_random_k_delta"]),
                "median ratio": _num(v["median_ratio"], 2),
                "mean saliency ρ": _num(v["mean_saliency_spearman"]),
                "Wilcoxon p (top > random)": _p(v["p"]),
                "verdict": v["verdict"],
            }
        )
        classes[(i, "verdict")] = _FAITH_CLASS.get(str(v["verdict"]), "")
    return pd.DataFrame(rows), classes, overall


def _faithfulness_section(study: Study, out_dir: Path) -> list[Block]:
    blocks: list[Block] = [Heading("Faithfulness of attention")]
    f = study.faithfulness
    if f.empty:
        return [*blocks, Para("No faithfulness scores were produced by this study.")]
    if "saliency_spearman" not in f.columns:
        f = f.assign(saliency_spearman=np.nan)
    table, classes, overall = _faithfulness_rows(f, study.splits)
    k = sorted(set(f["k"])) if "k" in f.columns else []
    blocks.append(
        Para(
            f"Attention is **{overall['verdict']}** over {overall['n_drugs']} test drugs: a paired "
            "one-sided Wilcoxon test over drugs asks whether masking the top-k attended atoms "
            "(k = " + ", ".join(str(x) for x in k) + ") changes predictions more than masking k "
            f'random atoms (p = {_p(overall["p"])}). "faithful" needs p < {overall["alpha"]}; '
            'otherwise the attention is "decorative".'
        )
    )
    blocks.append(Table(table, classes))
    blocks.append(
        _figure(
            plots.faithfulness_plot(f),
            out_dir,
            "fig_faithfulness.png",
            "faithfulness scatter",
            "One point per test drug; above the diagonal, masking the attended atoms moves the "
            "prediction more than masking random atoms.",
        )
    )
    return blocks


def _provenance_section(study: Study) -> list[Block]:
    meta = study.meta
    prov = meta.get("provenance", {})
    grid = meta.get("grid", {})
    facts = {
        "study": meta.get("name", ""),
        "preset": f"{meta.get('preset', '')} — {meta.get('preset_description', '')}",
        **{k: prov.get(k, "") for k in ("commit", "date", "hardware", "python", "torch")},
        "variants": ", ".join(map(str, grid.get("variants", []))),
        "splits": ", ".join(map(str, grid.get("splits", []))),
        "folds": ", ".join(map(str, grid.get("folds", []))),
        "seeds": ", ".join(map(str, grid.get("seeds", []))),
        "epochs": grid.get("epochs", ""),
    }
    blocks: list[Block] = [
        Heading("Provenance"),
        Table(pd.DataFrame({"field": list(facts), "value": [str(v) for v in facts.values()]})),
    ]
    if prov.get("command"):
        blocks += [Para("Command:"), Code(str(prov["command"]), "bash")]
    blocks += [
        Heading("Model configuration", 3),
        Code(json.dumps(meta.get("config", {}), indent=2), "json"),
    ]
    files = meta.get("dataset", {}).get("manifest_files", {})
    blocks.append(Heading("Data checksums", 3))
    if files:
        blocks.append(Table(pd.DataFrame({"file": list(files), "sha256": list(files.values())})))
    else:
        blocks.append(Para("No data manifest was recorded."))
    return blocks


def build_blocks(study: Study, out_dir: Path) -> list[Block]:
    """All report blocks in order; writes the figure PNGs into ``out_dir``."""
    meta = study.meta
    blocks: list[Block] = [
        Heading(f"{QUESTION} — {meta.get('name', study.root.name)}", 1),
        Para(
            f"This report asks: **{QUESTION}** Preset `{meta.get('preset', '')}`"
            + (f" ({meta['preset_description']})" if meta.get("preset_description") else "")
            + f"; dataset {meta.get('dataset', {}).get('name', 'unknown')}; "
            f"generated from study commit `{meta.get('provenance', {}).get('commit', 'unknown')}`."
        ),
    ]
    blocks += _verdict_section(study)
    blocks += _data_section(study)
    blocks += _results_section(study)
    blocks += _figures_sections(study, out_dir)
    blocks += _molecules_section(study, out_dir)
    blocks += _faithfulness_section(study, out_dir)
    blocks += _provenance_section(study)
    return blocks


def render_report(study_dir: Path, out_dir: Path) -> tuple[Path, Path]:
    """Write ``report.md``, ``report.html`` and the figure PNGs for a finished study.

    Args:
        study_dir: a study directory (see ``drp.report.study_dir``).
        out_dir: where the reports and PNGs go (created if missing).

    Returns:
        (markdown path, html path).
    """
    study = load_study(Path(study_dir))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    blocks = build_blocks(study, out_dir)
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    md_path.write_text(to_markdown(blocks, out_dir), encoding="utf-8")
    title = f"{QUESTION} — {study.meta.get('name', study.root.name)}"
    html_path.write_text(to_html(blocks, title), encoding="utf-8")
    return md_path, html_path
