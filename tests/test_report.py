"""The report renders from a tiny synthetic study with every section present."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from drp.report.faithfulness import faithfulness_verdict
from drp.report.render import render_report
from drp.report.study_dir import load_study, per_drug_pearson
from tests.study_fixture import write_synthetic_study

SECTIONS = [
    "# Does graph attention help predict drug response?",
    "## Verdict",
    "## Data",
    "### Dropped items",
    "### Replicate noise ceiling",
    "## Results per split",
    "### mixed",
    "### drug_blind",
    "## Paired differences",
    "## Predicted vs observed",
    "## Per-drug correlation",
    "## Learning curves",
    "## Attention on molecules",
    "## Faithfulness of attention",
    "## Provenance",
    "### Model configuration",
    "### Data checksums",
]
FIGURES = [
    "fig_forest.png",
    "fig_pred_vs_obs.png",
    "fig_per_drug_r.png",
    "fig_learning_curves.png",
    "fig_faithfulness.png",
]


def _can_draw() -> bool:
    """RDKit's drawing module loads (it needs Cairo/X libraries headless servers may lack)."""
    try:
        import drp.report.molecules  # noqa: F401
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
    # verdict table first, with the three verdict metrics
    verdict = md.split("## Verdict")[1].split("## Data")[0]
    assert "| comparison | split | RMSE | per-drug r | per-cell r |" in verdict
    assert "edge features (gat_edge vs gat)" in verdict
    assert "0123abc" in md and "ab" * 32 in md  # provenance: commit + checksum
    assert "SMILES did not parse" in md and "0.910" in md  # drops + noise ceiling


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
    assert len(srcs) == len(FIGURES) + (4 if CAN_DRAW else 0)
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "http://" not in html and "https://" not in html
    assert "<link" not in html and "<script" not in html
    assert 'class="helps"' in html  # verdict colour coding
    for heading in ("Verdict", "Provenance", "Faithfulness of attention"):
        assert f">{heading}</h2>" in html


def test_report_survives_a_minimal_study(tmp_path: Path) -> None:
    study = write_synthetic_study(tmp_path / "study")
    for name in ("comparisons.csv", "attention.json", "faithfulness.csv"):
        (study / name).unlink()
    md, html = render_report(study, tmp_path / "out")
    text = md.read_text()
    assert "No comparisons were produced" in text
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


def test_missing_contract_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="study.json"):
        load_study(tmp_path)


def test_per_drug_pearson_constant_prediction_is_zero() -> None:
    pred = pd.DataFrame(
        {
            "drug_id": ["a"] * 4 + ["b"] * 4 + ["c"] * 2 + ["d"] * 3,
            "y_true": [1.0, 2, 3, 4, 1, 2, 3, 4, 1, 2, 5, 5, 5],
            "y_pred": [1.0, 2, 3, 5, 0.1 + 0.2, 0.3, 0.1 + 0.2, 0.3, 1, 2, 1, 2, 3],
        }
    )
    r = per_drug_pearson(pred)
    assert list(r.index) == ["a", "b"]  # c has too few cells, d a constant truth
    assert r["a"] == pytest.approx(np.corrcoef([1, 2, 3, 4], [1, 2, 3, 5])[0, 1])
    assert r["b"] == 0.0


def _faith(top: list[float], rnd: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"top_k_delta": top, "random_k_delta": rnd})


def test_faithfulness_verdicts() -> None:
    faithful = faithfulness_verdict(_faith([0.5, 0.6, 0.4, 0.7, 0.55, 0.65], [0.1] * 6))
    assert faithful["verdict"] == "faithful"
    assert faithful["p"] == pytest.approx(1 / 2**6)  # exact one-sided, all 6 ranks positive
    assert faithful["n_drugs"] == 6
    assert faithful["median_ratio"] == pytest.approx(5.75)
    decorative = faithfulness_verdict(
        _faith([0.1, 0.2, 0.1, 0.3, 0.2, 0.1], [0.2, 0.1, 0.3, 0.1, 0.2, 0.2])
    )
    assert decorative["verdict"] == "decorative"
    # top-k masking *less* disruptive than random is not faithful either
    assert faithfulness_verdict(_faith([0.1] * 6, [0.5] * 6))["verdict"] == "decorative"
    # 4 drugs can never reach p < 0.05 one-sided (min p = 1/16)
    assert faithfulness_verdict(_faith([0.5] * 4, [0.1] * 4))["verdict"] == "insufficient data"
    assert faithfulness_verdict(_faith([], []))["verdict"] == "insufficient data"
    with pytest.raises(ValueError, match="random_k_delta"):
        faithfulness_verdict(pd.DataFrame({"top_k_delta": [1.0]}))


def test_report_without_rdkit_drawing_says_why(tmp_path: Path, monkeypatch) -> None:
    # as on a headless GPU server whose RDKit cannot load libXrender.so.1
    import drp.report

    monkeypatch.delattr(drp.report, "molecules", raising=False)
    monkeypatch.setitem(sys.modules, "drp.report.molecules", None)
    md, html = render_report(write_synthetic_study(tmp_path / "study"), tmp_path / "out")
    assert "Molecules were not drawn: RDKit's drawing library does not load" in md.read_text()
    assert not list((tmp_path / "out").glob("mol_*.png"))
    assert html.is_file()


def test_draw_attention_checks_atom_count() -> None:
    # RDKit's drawing module needs Cairo/X libraries that some headless machines lack
    draw_attention = pytest.importorskip(
        "drp.report.molecules", exc_type=ImportError
    ).draw_attention
    png = draw_attention("CCO", [0.2, 0.3, 0.5], "ethanol")
    assert png[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="3 atoms but 2"):
        draw_attention("CCO", [0.5, 0.5])
    with pytest.raises(ValueError, match="cannot parse"):
        draw_attention("C1CC(", [1.0])
