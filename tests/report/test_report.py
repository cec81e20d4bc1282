"""The report renders from a tiny synthetic study with every section present."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from drp.report.faithfulness import faithfulness_summary
from drp.report.render import render_report
from drp.report.study_dir import load_study
from tests.study_fixture import write_synthetic_study

SECTIONS = [
    "# Does graph attention help predict drug response?",
    "## The answer",
    "## Declared design",
    "## All comparisons",
    "## Paired differences",
    "## Per-drug analysis on new drugs",
    "## Results per split",
    "### mixed",
    "### drug_blind",
    "## Per-drug performance",
    "## Predicted vs observed",
    "## Per-drug correlation",
    "## Learning curves",
    "## Attention on molecules",
    "## Faithfulness of attention",
    "## Biomarker recovery on unseen cells",
    "## Data",
    "### Dropped items",
    "### Replicate noise ceiling",
    "## Provenance",
    "### Run configuration",
    "### Data checksums",
]
FIGURES = [
    "fig_forest.png",
    "fig_pred_vs_obs.png",
    "fig_per_drug_r.png",
    "fig_learning_curves.png",
    "fig_faithfulness.png",
    "fig_biomarkers.png",
]


def _can_draw() -> bool:
    """RDKit's drawing module loads (it needs Cairo/X libraries headless servers may lack)."""
    try:
        import drp.featurize.depict  # noqa: F401
    except ImportError:
        return False
    return True


CAN_DRAW = _can_draw()


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("report")
    study = write_synthetic_study(root / "study")
    md, html = render_report(study, root / "out")
    return md, html, root / "out"


def test_markdown_has_every_section_in_order(rendered: tuple[Path, Path, Path]) -> None:
    md = rendered[0].read_text()
    positions = []
    for heading in SECTIONS:
        assert re.search("^" + re.escape(heading), md, re.M), heading
        positions.append(md.index("\n" + heading) if not heading.startswith("# ") else 0)
    top = [p for h, p in zip(SECTIONS, positions, strict=True) if h.startswith("## ")]
    assert top == sorted(top), "top-level sections out of order"
    # the first screen: one verdict per declared question, and the default against a baseline
    answer = md.split("## The answer")[1].split("## Declared design")[0]
    assert "**4 declared questions, verdicts on their primary endpoint:" in answer
    for name in ("edge features", "attention conv", "attention pooling", "graph vs fingerprint"):
        assert f"**{name}**" in answer
    assert "**Does the default model (`gat_edge`) beat the best baseline?**" in answer
    # the synthetic twins differ by 0.03-0.10 RMSE with sd ~0.01: clear verdicts
    assert (
        "**attention conv** (`gat` vs `gcn`, 6 paired runs, 98.75% CI) — **helps** on new drugs "
        "(drug-blind CV): lower RMSE by" in answer
    )
    assert "0123abc" in md and "ab" * 32 in md  # provenance: commit + checksum
    assert "SMILES did not parse" in md
    # noise ceiling stated for one measurement: RMSE / sqrt(2) and sqrt(r)
    assert "0.62/√2 = **0.438**" in md.replace("0.620", "0.62") and "√0.910 = **0.954**" in md
    # the worst-predicted drugs and the anti-faithful drug are named
    assert "The 10 drugs the default model predicts worst on **drug_blind**" in md
    assert (
        "Over all 400 associations the observed and predicted effects correlate with r = **0.500**"
        in md
    )
    assert "Over the 10 with observed FDR < 0.05 (Benjamini–Hochberg), r = 0.900" in md
    assert "| ERBB2 high | Lapatinib | 12 |" in md
    assert (
        "Most anti-faithful drugs at 20% deleted (ratio top/random, lower = random atoms matter more): Paclitaxel"
        in md
    )


def test_every_png_exists_and_is_linked(rendered: tuple[Path, Path, Path]) -> None:
    md_path, _, out = rendered
    md = md_path.read_text()
    for name in FIGURES:
        assert (out / name).stat().st_size > 1000, name
        assert f"]({name})" in md
    mols = sorted(out.glob("mol_*.png"))
    expected = ["Lapatinib.png", "Erlotinib.png", "Paclitaxel.png", "Cisplatin.png"]
    assert [p.name.split("_", 2)[2] for p in mols] == (expected if CAN_DRAW else [])
    for p in [*mols, *(out / f for f in FIGURES)]:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_html_is_self_contained(rendered: tuple[Path, Path, Path]) -> None:
    html = rendered[1].read_text()
    srcs = re.findall(r'src="([^"]*)"', html)
    assert len(srcs) == len(FIGURES) + (5 if CAN_DRAW else 0)  # 4 molecules + their colour bar
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "http://" not in html and "https://" not in html
    assert "<link" not in html and "<script" not in html
    assert 'class="helps"' in html  # verdict colour coding
    for heading in ("The answer", "Provenance", "Faithfulness of attention"):
        assert f">{heading}</h2>" in html


def test_report_survives_a_minimal_study(tmp_path: Path) -> None:
    study = write_synthetic_study(tmp_path / "study")
    for name in ("answers.csv", "attention.json", "faithfulness.csv", "groups.parquet"):
        (study / name).unlink()
    md, html = render_report(study, tmp_path / "out")
    text = md.read_text()
    assert "This study produced no answers" in text and "No comparisons were produced" in text
    assert "No per-drug metrics were recorded" in text
    assert "No faithfulness scores were produced" in text
    assert html.is_file()


def test_load_study_roles(tmp_path: Path) -> None:
    study = load_study(write_synthetic_study(tmp_path / "s"))
    assert study.default_variant == "gat_edge"
    assert study.baselines == ["mean_effects", "drug_mean", "global_mean"]
    assert study.models == ["gat_edge", "gat", "gcn", "pool_mean", "fingerprint"]
    assert study.twins == ["gat", "pool_mean", "fingerprint"]
    assert study.splits == ["mixed", "drug_blind"]
    assert len(study.history) == 5 * 2 * 3 * 2 * 5
    assert study.twins == ["gat", "pool_mean", "fingerprint"]


def test_missing_contract_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="study.json"):
        load_study(tmp_path)


def _faith(top: list[float], rnd: list[float], fraction: float = 0.2) -> pd.DataFrame:
    n = len(top)
    return pd.DataFrame(
        {
            "drug_id": [f"D{i}" for i in range(n)],
            "split": "drug_blind",
            "fraction": fraction,
            "k": 2,
            "top_k_delta": top,
            "random_k_delta": rnd,
        }
    )


def test_faithfulness_summary_effect_sizes() -> None:
    faithful = faithfulness_summary(_faith([0.5, 0.6, 0.4, 0.7, 0.55, 0.65], [0.1] * 6)).iloc[0]
    assert faithful.verdict == "faithful" and faithful.n_drugs == 6
    ratios = np.array([5, 6, 4, 7, 5.5, 6.5])
    assert faithful.ratio == pytest.approx(np.exp(np.log(ratios).mean()))
    assert faithful.ratio_low > 1 and faithful.share_below_1 == 0
    assert faithful.p_wilcoxon == pytest.approx(1 / 2**6)  # exact one-sided, all ranks positive
    mixed = faithfulness_summary(
        _faith([0.1, 0.2, 0.1, 0.3, 0.2, 0.1], [0.2, 0.1, 0.3, 0.1, 0.2, 0.2])
    )
    assert mixed.iloc[0].verdict == "unclear"
    anti = faithfulness_summary(_faith([0.1, 0.12, 0.09, 0.11], [0.5, 0.45, 0.55, 0.5])).iloc[0]
    assert anti.verdict == "anti-faithful" and anti.share_below_1 == 1
    both = faithfulness_summary(
        pd.concat([_faith([0.5] * 3, [0.1] * 3, 0.1), _faith([0.2] * 3, [0.2] * 3, 0.3)])
    )
    assert list(both.fraction) == [0.1, 0.3]
    with pytest.raises(ValueError, match="random_k_delta"):
        faithfulness_summary(pd.DataFrame({"top_k_delta": [1.0]}))


def test_report_without_rdkit_drawing_says_why(tmp_path: Path, monkeypatch) -> None:
    # as on a headless GPU server whose RDKit cannot load libXrender.so.1
    import drp.featurize

    monkeypatch.delattr(drp.featurize, "depict", raising=False)
    monkeypatch.setitem(sys.modules, "drp.featurize.depict", None)
    md, html = render_report(write_synthetic_study(tmp_path / "study"), tmp_path / "out")
    assert "Molecules were not drawn: RDKit's drawing library does not load" in md.read_text()
    assert not list((tmp_path / "out").glob("mol_*.png"))
    assert html.is_file()


def test_draw_attention_checks_atom_count() -> None:
    # RDKit's drawing module needs Cairo/X libraries that some headless machines lack
    draw_attention = pytest.importorskip(
        "drp.featurize.depict", exc_type=ImportError
    ).draw_attention
    png = draw_attention("CCO", [0.2, 0.3, 0.5], "ethanol")
    assert png[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="3 atoms but 2"):
        draw_attention("CCO", [0.5, 0.5])
    with pytest.raises(ValueError, match="cannot parse"):
        draw_attention("C1CC(", [1.0])
