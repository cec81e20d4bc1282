"""Screened concentration ranges: carried to pairs, flagged, and the outside-range policy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from drp.data.ids import normalize_cell_id
from drp.data.screened_range import OUTSIDE_RANGE_DROP_REASON, flag_outside_range
from drp.data.tables import TableError
from drp.data.validation import DropLog, average_replicates, responses_from_frame
from drp.featurize.pipeline import build_dataset, custom_tables
from drp.featurize.report import write_featurization_report
from drp.featurize.store import FeaturizedDataset
from tests.conftest import make_dataset, write_fixture_tables

ABOVE = ("CELL-00", "aspirin")  # one replicate above its maximum, one inside
BELOW = ("CELL-01", "aspirin")  # below its minimum
UNKNOWN = ("CELL-02", "aspirin")  # no range


def _ranged_tables(root: Path) -> dict[str, Path]:
    """The conftest fixture with a screened range per measurement (every value well inside),
    except one measurement above its maximum, one below its minimum and one without a range;
    ABOVE also gets an in-range replicate screened over another range."""
    paths = write_fixture_tables(root)
    resp = pd.read_csv(paths["responses"])
    resp["min_conc_um"] = np.exp(resp["ln_ic50"]) / 100
    resp["max_conc_um"] = np.exp(resp["ln_ic50"]) * 100
    pair = list(zip(resp.cell_id, resp.drug_id, strict=True))
    above, below, unknown = (pair.index(p) for p in (ABOVE, BELOW, UNKNOWN))
    resp.loc[[above, below], ["min_conc_um", "max_conc_um"]] = [0.1, 10.0]
    resp.loc[above, "ln_ic50"] = np.log(10.0) + 1.0
    resp.loc[below, "ln_ic50"] = np.log(0.1) - 0.5
    resp.loc[unknown, ["min_conc_um", "max_conc_um"]] = np.nan
    replicate = {"cell_id": ABOVE[0], "drug_id": ABOVE[1], "ln_ic50": 0.0}
    replicate |= {"min_conc_um": 0.01, "max_conc_um": 5.0}
    resp = pd.concat([resp, pd.DataFrame([replicate])], ignore_index=True)
    resp.to_csv(paths["responses"], index=False)
    return paths


def _build(paths: dict[str, Path], policy: str) -> FeaturizedDataset:
    raw = custom_tables(
        "ranged", paths["responses"], {"expression": paths["omics"]}, paths["drugs"]
    )
    return build_dataset(raw, outside_range=policy)


@pytest.fixture(scope="module")
def ranged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _ranged_tables(tmp_path_factory.mktemp("ranged"))


def _id(key: tuple[str, str]) -> tuple[str, str]:
    """The (cell_id, drug_id) a written (name, drug) becomes."""
    return normalize_cell_id(key[0]), key[1]


def _pair(ds: FeaturizedDataset, key: tuple[str, str]) -> pd.Series | None:
    cell, drug = _id(key)
    rows = ds.pairs[(ds.pairs.cell_id == cell) & (ds.pairs.drug_id == drug)]
    return None if rows.empty else rows.iloc[0]


def test_pairs_carry_the_union_of_ranges_and_the_flag(ranged: dict[str, Path]) -> None:
    ds = _build(ranged, "keep")
    above = _pair(ds, ABOVE)
    assert above["n_replicates"] == 2
    assert above["min_conc_um"] == pytest.approx(0.01) and above["max_conc_um"] == 10.0
    assert bool(above["outside_range"])
    assert bool(_pair(ds, BELOW)["outside_range"])
    assert pd.isna(_pair(ds, UNKNOWN)["outside_range"])
    assert np.isnan(_pair(ds, UNKNOWN)["min_conc_um"])
    others = ds.pairs.set_index(["cell_id", "drug_id"]).drop(
        [_id(k) for k in (ABOVE, BELOW, UNKNOWN)]
    )
    assert (others["outside_range"] == False).all()  # noqa: E712
    assert ds.pairs["outside_range"].dtype == "boolean"


def test_keep_clip_drop_give_the_expected_values_and_counts(ranged: dict[str, Path]) -> None:
    keep, clip, drop = (_build(ranged, p) for p in ("keep", "clip", "drop"))
    # keep: the extrapolated values as measured
    assert _pair(keep, ABOVE)["ln_ic50"] == pytest.approx((np.log(10.0) + 1.0 + 0.0) / 2)
    assert _pair(keep, BELOW)["ln_ic50"] == pytest.approx(np.log(0.1) - 0.5)
    # clip: the nearer bound, the flag kept (a bound is not a measurement)
    assert _pair(clip, ABOVE)["ln_ic50"] == pytest.approx(np.log(10.0) / 2)
    assert _pair(clip, BELOW)["ln_ic50"] == pytest.approx(np.log(0.1))
    assert bool(_pair(clip, ABOVE)["outside_range"]) and bool(_pair(clip, BELOW)["outside_range"])
    # drop: the in-range replicate is all that is left of ABOVE, BELOW is gone
    above = _pair(drop, ABOVE)
    assert above["ln_ic50"] == pytest.approx(0.0) and above["n_replicates"] == 1
    assert not bool(above["outside_range"])
    assert _pair(drop, BELOW) is None
    lost = drop.drops[drop.drops.reason == OUTSIDE_RANGE_DROP_REASON]
    assert sorted(lost["item"]) == ["CELL00 / aspirin", "CELL01 / aspirin"]
    assert lost["rows"].sum() == 2 and set(lost["stage"]) == {"responses"}
    assert not (keep.drops.reason == OUTSIDE_RANGE_DROP_REASON).any()
    assert len(drop.replicates) == len(keep.replicates) - 2
    # every other pair is untouched by the policy
    for ds in (clip, drop):
        merged = keep.pairs.merge(ds.pairs, on=["cell_id", "drug_id"], suffixes=("", "_p"))
        merged = merged.set_index(["cell_id", "drug_id"]).drop(
            [_id(ABOVE), _id(BELOW)], errors="ignore"
        )
        np.testing.assert_allclose(merged["ln_ic50"], merged["ln_ic50_p"])


def test_manifest_records_policy_and_counts(ranged: dict[str, Path]) -> None:
    for policy in ("keep", "clip", "drop"):
        ds = _build(ranged, policy)
        info = ds.manifest["screened_range"]
        measured = info["measurements"]
        assert info["policy"] == policy and info["ranges"] is True
        assert (info["below"], info["above"], info["known"]) == (1, 1, measured - 1)
        assert info["clipped"] == (2 if policy == "clip" else 0)
        assert info["dropped"] == (2 if policy == "drop" else 0)
        assert info["pairs_outside"] == (0 if policy == "drop" else 2)
        expected = measured - info["dropped"]
        assert ds.manifest["counts"]["measurements"] == expected


def test_the_policy_survives_the_store_and_the_report(ranged, tmp_path: Path) -> None:
    ds = _build(ranged, "clip")
    ds.save(tmp_path / "ds")
    back = FeaturizedDataset.load(tmp_path / "ds")
    assert back.manifest["screened_range"] == ds.manifest["screened_range"]
    pd.testing.assert_series_equal(back.pairs["outside_range"], ds.pairs["outside_range"])
    text = write_featurization_report(back, tmp_path / "ds").read_text()
    assert "## Screened range" in text and "Policy `clip`" in text
    assert "1 (1.2%) lie below" in text and "1 (1.2%) above" in text


def test_a_dataset_without_ranges_says_so(fixture_tables: dict[str, Path], tmp_path) -> None:
    ds = make_dataset(fixture_tables)
    assert "outside_range" not in ds.pairs and "min_conc_um" not in ds.pairs
    info = ds.manifest["screened_range"]
    assert info["policy"] == "keep" and info["ranges"] is False
    assert info["below"] == info["above"] == info["dropped"] == 0
    text = write_featurization_report(ds, tmp_path).read_text()
    assert "No screened range in this source" in text


def test_keep_changes_no_number_of_a_dataset_without_ranges(fixture_tables) -> None:
    raw = custom_tables(
        "fixture", fixture_tables["responses"], {"expression": fixture_tables["omics"]},
        fixture_tables["drugs"],
    )  # fmt: skip
    dropped = build_dataset(raw, outside_range="drop")  # nothing to drop either
    default = make_dataset(fixture_tables)
    np.testing.assert_array_equal(dropped.pairs["ln_ic50"], default.pairs["ln_ic50"])


def test_an_unknown_policy_is_refused(ranged: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match=r"outside_range='censor'.*keep"):
        _build(ranged, "censor")


# ---- responses_from_frame and average_replicates ----------------------------------------------
def _frame(**columns: list) -> pd.DataFrame:
    base = {"cell_id": ["A", "B", "C"], "drug_id": ["d", "d", "d"], "ln_ic50": [0.0, 1.0, 2.0]}
    return pd.DataFrame(base | columns)


def test_responses_pass_the_range_through_blank_is_unknown() -> None:
    out = responses_from_frame(
        _frame(min_conc_um=[0.01, "", None], max_conc_um=[10, 5, None]), "r.csv", DropLog()
    )
    assert out["min_conc_um"].iloc[0] == 0.01 and np.isnan(out["min_conc_um"].iloc[1])
    assert out["max_conc_um"].tolist()[:2] == [10.0, 5.0]
    # the unit converts the IC50, never the range (always µM)
    um = responses_from_frame(
        _frame(min_conc_um=[0.5, 0.5, 0.5], max_conc_um=[8, 8, 8]).assign(ln_ic50=[1, 2, 4]),
        "r.csv", DropLog(), unit="ic50_um",
    )  # fmt: skip
    assert um["max_conc_um"].tolist() == [8.0, 8.0, 8.0]
    assert flag_outside_range(um).tolist() == [False, False, False]


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (
            {"min_conc_um": [0.1, 0, 0.1], "max_conc_um": [1, 1, 1]},
            "'min_conc_um'.*row\\(s\\) \\[1\\]",
        ),
        ({"min_conc_um": [0.1, 0.1, 0.1], "max_conc_um": [1, "ten", 1]}, "'max_conc_um'.*'ten'"),
        ({"min_conc_um": [0.1, 0.1, -1], "max_conc_um": [1, 1, 1]}, "'min_conc_um'"),
        ({"min_conc_um": [0.1, 0.1, 0.1], "max_conc_um": [1, np.inf, 1]}, "'max_conc_um'"),
        ({"min_conc_um": [0.1, 2, 0.1], "max_conc_um": [1, 1, 1]}, "above max_conc_um.*\\[1\\]"),
        ({"min_conc_um": [0.1, 0.1, 0.1]}, "missing column.*max_conc_um"),
    ],
)
def test_bad_ranges_raise_naming_file_and_column(columns: dict, message: str) -> None:
    with pytest.raises(TableError, match=f"r.csv: .*{message}"):
        responses_from_frame(_frame(**columns), "r.csv", DropLog())


def test_a_dropped_row_does_not_raise_for_its_range() -> None:
    frame = _frame(min_conc_um=[0.1, 0.1, 0], max_conc_um=[1, 1, 1]).assign(
        ln_ic50=[0.0, 1.0, np.nan]
    )
    drops = DropLog()
    assert len(responses_from_frame(frame, "r.csv", drops)) == 2
    assert len(drops.rows) == 1


def test_replicates_flag_a_pair_outside_if_any_is_and_unknown_if_none_is_known() -> None:
    measurements = pd.DataFrame(
        {
            "cell_id": ["A", "A", "B", "B", "C", "C"],
            "drug_id": ["d"] * 6,
            "ln_ic50": [0.0, 1.0, 0.0, 0.0, 0.0, 0.0],
            "min_conc_um": [0.5, 0.1, 0.5, np.nan, 0.1, 0.2],
            "max_conc_um": [2.0, 4.0, 2.0, np.nan, 2.0, 3.0],
        }
    )
    measurements["outside_range"] = flag_outside_range(measurements)
    assert measurements["outside_range"].tolist()[:2] == [False, False]
    pairs = average_replicates(measurements).set_index("cell_id")
    assert pairs.loc["A", "min_conc_um"] == 0.1 and pairs.loc["A", "max_conc_um"] == 4.0
    assert not pairs.loc["A", "outside_range"]
    assert pd.isna(pairs.loc["B", "outside_range"])  # one inside, one unknown: not known inside
    assert pairs.loc["C", "max_conc_um"] == 3.0 and not pairs.loc["C", "outside_range"]
    measurements.loc[1, "ln_ic50"] = np.log(4.0) + 0.1  # above A's second range only
    flagged = average_replicates(
        measurements.assign(outside_range=flag_outside_range(measurements))
    ).set_index("cell_id")
    assert bool(flagged.loc["A", "outside_range"])
