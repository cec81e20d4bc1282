"""A GDSC release with an extrapolated IC50, featurized from its official layout and run as a
tiny study: the report's "outside screened range" column shows the real share, not 0% or n/a."""

from pathlib import Path

from drp.core.config import ModelConfig, RunConfig, TrainConfig
from drp.featurize.official import official_tables
from drp.featurize.pipeline import build_dataset
from drp.report.blocks import Table
from drp.report.render import render_report
from drp.report.sections.results import worst_drugs_section
from drp.report.study_dir import load_study
from drp.study.presets import Preset
from drp.study.runner import run_study
from tests.data.test_readers import write_depmap, write_gdsc_release, write_structures


def test_release_ranges_reach_the_study_report(tmp_path: Path) -> None:
    raw = official_tables(
        "release",
        gdsc_release=write_gdsc_release(tmp_path / "gdsc"),
        depmap=write_depmap(tmp_path / "depmap"),
        drug_structures=write_structures(tmp_path / "structures.csv"),
    )
    ds = build_dataset(raw)
    assert ds.manifest["screened_range"]["above"] >= 1  # the fixture's extrapolated IC50
    ds.save(tmp_path / "ds")
    preset = Preset("tiny", ("gat_edge",), ("mixed",), (0,), (0,), 1, 1, ("drug_mean",), k=3)
    base = RunConfig(
        model=ModelConfig(hidden=16),
        train=TrainConfig(batch_size=16, folds_dir=str(tmp_path / "folds"), drug_prior="none"),
    )
    study = run_study("s", preset, tmp_path / "ds", tmp_path / "studies", base, log=lambda m: None)
    table = next(b for b in worst_drugs_section(load_study(study)) if isinstance(b, Table)).frame
    shares = table["outside screened range"].tolist()
    assert "n/a" not in shares and all(s.endswith("%") for s in shares)
    # the extrapolated pair's drug is among the worst only by chance, so check the evidence
    groups = load_study(study).groups
    assert int(groups["outside_range"].sum()) >= 1 and int(groups["range_known"].sum()) > 0
    md, _ = render_report(study, tmp_path / "report")
    assert "outside screened range" in md.read_text()
