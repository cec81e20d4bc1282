"""The report's "outside screened range" share: the range where known, CCLE's cap, else n/a."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from drp.report import plots
from drp.report.blocks import Para, Table
from drp.report.sections.results import figures_sections, worst_drugs_section
from drp.report.study_dir import Study, load_study
from tests.study_fixture import write_synthetic_study


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    return load_study(write_synthetic_study(tmp_path_factory.mktemp("sr") / "study"))


def _column(study: Study) -> tuple[list[str], str]:
    blocks = worst_drugs_section(study)
    table = next(b for b in blocks if isinstance(b, Table)).frame
    text = " ".join(b.text for b in blocks if isinstance(b, Para))
    return table["outside screened range"].tolist(), text


def _with_groups(study: Study, groups: pd.DataFrame) -> Study:
    return Study(study.root, study.meta, study.results, groups=groups)


def test_a_dataset_without_ranges_or_cap_reads_na(study: Study) -> None:
    column, text = _column(_with_groups(study, study.groups.assign(censored=0)))
    assert column and set(column) == {"n/a"}
    assert '"Outside screened range" reads n/a' in text


def test_the_cap_keeps_todays_share(study: Study) -> None:
    column, text = _column(study)  # the fixture's groups flag a tenth of each drug's pairs
    assert all(c.endswith("%") for c in column) and "8 µM cap" in text
    assert "reads n/a" not in text


def test_the_range_is_preferred_and_counted_over_known_pairs(study: Study) -> None:
    # the share is over pairs with a known range (here 4x the flagged ones), not over all pairs
    groups = study.groups.assign(outside_range=study.groups["n"], range_known=4 * study.groups["n"])
    column, text = _column(_with_groups(study, groups))
    assert set(column) == {"25%"}
    assert "over the pairs whose range is known" in text
    unknown = groups.assign(range_known=0, outside_range=0, censored=0)
    assert set(_column(_with_groups(study, unknown))[0]) == {"n/a"}


def test_overlay_flags_range_then_cap_then_nothing() -> None:
    frame = pd.DataFrame(
        {
            "outside_range": pd.array([True, None, False, False], dtype="boolean"),
            "censored": [False, True, True, False],
        }
    )
    outside, judged = plots.outside_range_flags(frame)
    assert outside.tolist() == [True, False, False, False]
    assert judged.tolist() == [True, False, True, True]
    assert plots.outside_range_basis(frame.drop(columns="outside_range")) == "cap"
    none = frame.assign(censored=False).drop(columns="outside_range")
    assert plots.outside_range_basis(none) is None
    assert not plots.outside_range_flags(none)[1].any()


def test_figure_caption_says_when_nothing_can_be_marked(study: Study, tmp_path: Path) -> None:
    preds = study.predictions.assign(censored=False)
    plain = Study(study.root, study.meta, study.results, groups=study.groups, predictions=preds)
    caption = _pred_vs_obs_caption(plain, tmp_path)
    assert "no pair can be marked as outside the screened concentration range" in caption
    ranged = preds.assign(outside_range=pd.array(np.arange(len(preds)) % 5 == 0, dtype="boolean"))
    marked = Study(study.root, study.meta, study.results, groups=study.groups, predictions=ranged)
    assert "orange crosses" in _pred_vs_obs_caption(marked, tmp_path)


def _pred_vs_obs_caption(study: Study, out: Path) -> str:
    blocks = figures_sections(study, out)
    return next(b for b in blocks if getattr(b, "alt", "") == "predicted vs observed").caption
