"""The screened concentration range of a measurement: which ln IC50s lie outside it, and the
declared policy for them (keep, clip to the bound, or drop, counted)."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pandas as pd

RANGE_COLUMNS = ("min_conc_um", "max_conc_um")
"""The screened concentration range of a measurement, in µM (NaN where the source has none)."""


class DropLog(Protocol):
    """Where dropped measurements are counted (:class:`drp.data.validation.DropLog`)."""

    def add(self, stage: str, source: str, item: str, reason: str, rows: int = 1) -> None: ...


OUTSIDE_RANGE_POLICIES = ("keep", "clip", "drop")
"""What to do with an IC50 outside its screened range (see :func:`apply_outside_range`)."""
DEFAULT_OUTSIDE_RANGE = "keep"
"""Train and score on the extrapolated value as measured: today's behaviour (the built-in data
has no ranges, so no number changes) and the common practice with GDSC's fitted ln IC50."""
OUTSIDE_RANGE_DROP_REASON = "IC50 outside the screened range (policy drop)"


def check_outside_range_policy(policy: str) -> None:
    """Raise ValueError naming the choices when ``policy`` is not one of them."""
    if policy not in OUTSIDE_RANGE_POLICIES:
        raise ValueError(f"outside_range={policy!r}: choose from {list(OUTSIDE_RANGE_POLICIES)}")


def flag_outside_range(responses: pd.DataFrame) -> pd.Series:
    """[n] nullable bool per measurement: ``ln_ic50`` below ln(``min_conc_um``) or above
    ln(``max_conc_um``); False only when both bounds are known and it lies within; NA otherwise
    (and everywhere when the table has no range columns)."""
    n = len(responses)
    if not set(RANGE_COLUMNS) <= set(responses.columns):
        return pd.Series(pd.array([pd.NA] * n, dtype="boolean"), index=responses.index)
    below, above, known = _range_sides(responses)
    flag = np.where(below | above, True, np.where(known, False, pd.NA))
    return pd.Series(pd.array(flag, dtype="boolean"), index=responses.index)


def _range_sides(responses: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[n] bools: below the known minimum, above the known maximum, both bounds known."""
    y = responses["ln_ic50"].to_numpy(np.float64)
    lo = responses["min_conc_um"].to_numpy(np.float64)
    hi = responses["max_conc_um"].to_numpy(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        ln_lo, ln_hi = np.log(lo), np.log(hi)
    below = np.isfinite(ln_lo) & (y < ln_lo)
    above = np.isfinite(ln_hi) & (y > ln_hi)
    return below, above, np.isfinite(ln_lo) & np.isfinite(ln_hi)


def apply_outside_range(
    responses: pd.DataFrame, policy: str, drops: DropLog, source: str
) -> tuple[pd.DataFrame, dict[str, object]]:
    """Flag each measurement against its screened range and apply ``policy``.

    Policies (:data:`OUTSIDE_RANGE_POLICIES`): ``keep`` the extrapolated ln IC50 as measured;
    ``clip`` it to the ln of the nearer bound (the flag stays True: the value is a bound, not a
    measurement); ``drop`` the measurement, counted in ``drops`` per pair with
    :data:`OUTSIDE_RANGE_DROP_REASON`. Measurements without a range are never changed.

    Returns (measurements with ``outside_range`` when the table has ranges, a record for the
    manifest: ``policy``, ``ranges`` (the source has any), ``measurements``, ``known`` (both
    bounds), ``below``, ``above``, ``clipped``, ``dropped``; counts before the policy).
    """
    check_outside_range_policy(policy)
    record: dict[str, object] = {"policy": policy, "ranges": False, "measurements": len(responses)}
    record |= dict.fromkeys(("known", "below", "above", "clipped", "dropped"), 0)
    if not set(RANGE_COLUMNS) <= set(responses.columns):
        return responses, record
    below, above, known = _range_sides(responses)
    has_bound = responses[list(RANGE_COLUMNS)].notna().any(axis=1).to_numpy()
    record |= {
        "ranges": bool(has_bound.any()),
        "known": int(known.sum()),
        "below": int(below.sum()),
        "above": int(above.sum()),
    }
    out = responses.assign(outside_range=flag_outside_range(responses))
    if policy == "clip":
        y = out["ln_ic50"].to_numpy(np.float64).copy()
        y[below] = np.log(out["min_conc_um"].to_numpy(np.float64)[below])
        y[above] = np.log(out["max_conc_um"].to_numpy(np.float64)[above])
        out["ln_ic50"] = y
        record["clipped"] = int((below | above).sum())
    elif policy == "drop":
        outside = below | above
        lost = out.loc[outside, ["cell_id", "drug_id"]].value_counts(sort=False).sort_index()
        for (cell, drug), n in lost.items():
            drops.add("responses", source, f"{cell} / {drug}", OUTSIDE_RANGE_DROP_REASON, int(n))
        out = out[~outside].reset_index(drop=True)
        record["dropped"] = int(outside.sum())
    return out, record
