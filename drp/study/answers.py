"""The study's answers: a verdict per declared question, against its equivalence margin.

Each question (``drp.study.presets.Question``) is tested on paired runs, ``d = metric(attention) -
metric(twin)`` per (fold, seed), with the Nadeau-Bengio corrected resampled t interval. The
verdict compares that interval with the question's margin ``m``:

* **equivalent**: the whole interval lies inside ``(-m, m)`` (a difference, if any, too small
  to matter);
* **helps** / **hurts**: the interval excludes zero on the better / worse side;
* **inconclusive**: anything else: the design could not tell.

Multiplicity: the *primary family* is the questions' primary endpoints (their primary split
with each declared endpoint metric, RMSE unless a question declares more). Their intervals are
Bonferroni-adjusted (level ``1 - alpha/m``) and their p-values Holm-adjusted over the family.
Secondary splits, other metrics and the rows against baselines are reported with unadjusted 95%
intervals, marked as such.

On the external new-drug test (:data:`~drp.study.presets.EXTERNAL`) every seed trains on the
same pairs and tests the same drugs: the interval is
:func:`~drp.study.statistics.external_paired_test`'s (seed-level paired differences, a
bootstrap over drugs for the drug sample), with no fold-overlap correction; its floor is the
drug term, reached as the seeds grow.

Power: with ``c = sqrt(1/J + n_test/n_train)`` and ``s`` the sd of the differences, the interval
half-width is ``t * c * s``. More repeats shrink ``1/J``; smaller test folds shrink
``n_test/n_train`` but raise ``s`` (each difference rests on fewer pairs), so the half-width
stays near ``z * sqrt(n_test/n_train) * s`` at the design's fold size (the floor). The minimum detectable
effect at 80% power is ``(t_{1-a/2} + t_{0.8}) * c * s``; for an inconclusive verdict the table
gives the sd of differences that the same mean would have needed for an equivalence verdict.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from drp.study.presets import EXTERNAL, MARGINS, PRIMARY_METRIC, Question
from drp.study.statistics import (
    PAIR_KEYS,
    Better,
    corrected_resampled_ttest,
    external_paired_test,
    holm,
)

ANSWER_COLUMNS = [
    "question",
    "attention",
    "twin",
    "split",
    "metric",
    "role",
    "n_pairs",
    "mean_attention",
    "mean_twin",
    "mean_diff",
    "sd_diff",
    "margin",
    "ci_level",
    "adjusted",
    "ci_low",
    "ci_high",
    "p",
    "p_holm",
    "mde80",
    "floor_half_width",
    "sd_needed",
    "verdict",
]
DIRECTIONS: dict[str, Better] = {"rmse": "lower", "per_drug_r": "higher", "per_cell_r": "higher"}


def equivalence_verdict(ci_low: float, ci_high: float, margin: float, better: Better) -> str:
    """``equivalent`` / ``helps`` / ``hurts`` / ``inconclusive`` for an interval of
    ``attention - twin`` (see the module docstring); ``inconclusive`` for a nan interval."""
    if not (np.isfinite(ci_low) and np.isfinite(ci_high)):
        return "inconclusive"
    if -margin < ci_low and ci_high < margin:
        return "equivalent"
    good_side = ci_high < 0 if better == "lower" else ci_low > 0
    bad_side = ci_low > 0 if better == "lower" else ci_high < 0
    if good_side:
        return "helps"
    if bad_side:
        return "hurts"
    return "inconclusive"


def power_terms(
    sd: float, j: int, n_train: int, n_test: int, level: float, power: float = 0.8
) -> dict[str, float]:
    """Design quantities of the corrected t interval at ``j`` paired runs.

    Returns ``t`` (critical value), ``c`` (the variance factor's square root), ``mde`` (minimum
    detectable mean difference at ``power``, two-sided at ``1 - level``) and ``floor`` (the
    half-width's limit as ``j`` grows).
    """
    if j < 2 or not np.isfinite(sd):
        nan = float("nan")
        return {"t": nan, "c": nan, "mde": nan, "floor": nan}
    df = j - 1
    t = float(sps.t.ppf(0.5 + level / 2, df))
    c = float(np.sqrt(1.0 / j + n_test / n_train))
    mde = (t + float(sps.t.ppf(power, df))) * c * sd
    floor = float(sps.norm.ppf(0.5 + level / 2)) * float(np.sqrt(n_test / n_train)) * sd
    return {"t": t, "c": c, "mde": mde, "floor": floor}


def _paired(results: pd.DataFrame, a: str, b: str, split: str, metric: str) -> pd.DataFrame:
    left = results[(results["variant"] == a) & (results["split"] == split)]
    right = results[(results["variant"] == b) & (results["split"] == split)]
    paired = left[[*PAIR_KEYS, metric]].merge(
        right[[*PAIR_KEYS, metric]], on=PAIR_KEYS, suffixes=("_a", "_b"), validate="one_to_one"
    )
    keep = np.isfinite(paired[f"{metric}_a"]) & np.isfinite(paired[f"{metric}_b"])
    return paired[keep]


def _row(
    name: str,
    a: str,
    b: str,
    split: str,
    metric: str,
    role: str,
    results: pd.DataFrame,
    n_train: Mapping[str, int],
    n_test: Mapping[str, int],
    level: float,
    adjusted: bool,
    margins: Mapping[str, Mapping[str, float]],
    groups: pd.DataFrame | None = None,
) -> dict[str, object] | None:
    if split == EXTERNAL:
        return _external_row(name, a, b, metric, role, level, adjusted, margins, groups)
    paired = _paired(results, a, b, split, metric)
    if paired.empty:
        return None
    xa, xb = paired[f"{metric}_a"].to_numpy(float), paired[f"{metric}_b"].to_numpy(float)
    diffs = xa - xb
    j = diffs.size
    sd = float(diffs.std(ddof=1)) if j > 1 else float("nan")
    t, p, lo, hi = corrected_resampled_ttest(diffs, n_train[split], n_test[split], level)
    margin = float(margins.get(metric, {}).get(split, np.nan))
    terms = power_terms(sd, j, n_train[split], n_test[split], level)
    mean = float(diffs.mean())
    # nan when no sd would do: the mean difference itself lies outside the margin
    need = (margin - abs(mean)) / (terms["t"] * terms["c"]) if margin > abs(mean) else np.nan
    better = DIRECTIONS[metric]
    return {
        "question": name,
        "attention": a,
        "twin": b,
        "split": split,
        "metric": metric,
        "role": role,
        "n_pairs": j,
        "mean_attention": float(xa.mean()),
        "mean_twin": float(xb.mean()),
        "mean_diff": mean,
        "sd_diff": sd,
        "margin": margin,
        "ci_level": level,
        "adjusted": adjusted,
        "ci_low": lo,
        "ci_high": hi,
        "p": p,
        "p_holm": np.nan,
        "mde80": terms["mde"],
        "floor_half_width": terms["floor"],
        "sd_needed": need if np.isfinite(margin) else np.nan,
        "verdict": equivalence_verdict(lo, hi, margin, better),
    }


def _external_row(
    name: str,
    a: str,
    b: str,
    metric: str,
    role: str,
    level: float,
    adjusted: bool,
    margins: Mapping[str, Mapping[str, float]],
    groups: pd.DataFrame | None,
) -> dict[str, object] | None:
    """A row of :data:`ANSWER_COLUMNS` from the external test's per-drug groups."""
    if groups is None or groups.empty or metric not in ("rmse", "per_drug_r"):
        return None
    drugs = groups[(groups["kind"] == "drug") & (groups["split"] == EXTERNAL)]
    left, right = drugs[drugs["variant"] == a], drugs[drugs["variant"] == b]
    if left.empty or right.empty:
        return None
    test = external_paired_test(left, right, metric, confidence=level)
    margin = float(margins.get(metric, {}).get(EXTERNAL, np.nan))
    j, mean = int(test["j"]), float(test["mean"])
    nan = float("nan")
    t = float(sps.t.ppf(0.5 + level / 2, j - 1)) if j > 1 else nan
    mde = (t + float(sps.t.ppf(0.8, j - 1))) * test["se"] if j > 1 else nan
    floor = float(sps.norm.ppf(0.5 + level / 2)) * test["sd_drug"]
    return {
        "question": name, "attention": a, "twin": b, "split": EXTERNAL, "metric": metric,
        "role": role, "n_pairs": j, "mean_attention": test["mean_a"], "mean_twin": test["mean_b"],
        "mean_diff": mean, "sd_diff": test["sd_seed"], "margin": margin, "ci_level": level,
        "adjusted": adjusted, "ci_low": test["ci_low"], "ci_high": test["ci_high"],
        "p": test["p"], "p_holm": nan, "mde80": mde, "floor_half_width": floor,
        "sd_needed": nan,
        "verdict": equivalence_verdict(test["ci_low"], test["ci_high"], margin, DIRECTIONS[metric]),
    }  # fmt: skip


def best_baseline(results: pd.DataFrame, baselines: Sequence[str], split: str) -> str | None:
    """The baseline with the lowest mean RMSE on ``split`` (None when none ran there)."""
    r = results[(results["split"] == split) & results["variant"].isin(list(baselines))]
    if r.empty:
        return None
    return str(r.groupby("variant")["rmse"].mean().idxmin())


def answer_table(
    results: pd.DataFrame,
    questions: Sequence[Question],
    n_train: Mapping[str, int],
    n_test: Mapping[str, int],
    baselines: Sequence[str] = (),
    alpha: float = 0.05,
    margins: Mapping[str, Mapping[str, float]] = MARGINS,
    groups: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every question on its primary and secondary splits (RMSE and per-drug r), and every
    model variant against the best baseline of each split; columns :data:`ANSWER_COLUMNS`.

    Args:
        results: one row per (variant, split, fold, seed) with ``rmse`` and ``per_drug_r``.
        questions: the declared questions.
        n_train: split -> pairs a model is fitted on in one fold (validation excluded).
        n_test: split -> test pairs of one fold.
        baselines: baseline names present in ``results``.
        groups: per-drug metrics of every cell (``read_groups``), for the external test.
    """
    rows: list[dict[str, object] | None] = []
    m = max(1, sum(len(q.endpoints) for q in questions))
    primary_level = 1 - alpha / m
    for q in questions:
        for split in (q.primary, *q.secondary):
            for metric in (PRIMARY_METRIC, "per_drug_r"):
                primary = split == q.primary and metric in q.endpoints
                role = "primary" if primary else "secondary"
                level = primary_level if primary else 1 - alpha
                rows.append(
                    _row(
                        q.name, q.attention, q.twin, split, metric, role, results, n_train,
                        n_test, level, primary, margins, groups,
                    )
                )  # fmt: skip
    models = list(dict.fromkeys(v for q in questions for v in (q.attention, q.twin)))
    for split in dict.fromkeys(results["split"]):
        base = best_baseline(results, baselines, split)
        if base is None:
            continue
        for variant in models:
            rows.append(
                _row(
                    f"{variant} vs the best baseline", variant, base, split, PRIMARY_METRIC,
                    "baseline", results, n_train, n_test, 1 - alpha, False, margins, groups,
                )
            )  # fmt: skip
    out = pd.DataFrame([r for r in rows if r is not None], columns=ANSWER_COLUMNS)
    for role in ("primary", "baseline"):
        idx = out.index[out["role"] == role]
        out.loc[idx, "p_holm"] = holm(out.loc[idx, "p"].to_numpy(float))
    return out


def _fit_mixed(model, sd: float):
    """The REML fit with the highest likelihood among L-BFGS, Powell and Nelder-Mead that
    converged with a sane standard error: at a zero run variance L-BFGS can report a converged
    fit whose standard error is absurd (10^6), so a fit whose intercept SE exceeds the data's sd
    is refused, and an optimiser that stops at a worse optimum than another is not kept (the
    first acceptable fit is not always the best one)."""
    best = None
    for method in ("lbfgs", "powell", "nm"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # boundary (zero run variance) warnings
            try:
                fit = model.fit(reml=True, method=method)
            except (ValueError, np.linalg.LinAlgError):
                continue
        se = float(fit.bse["Intercept"])
        acceptable = fit.converged and np.isfinite(se) and se <= sd and np.isfinite(fit.llf)
        if acceptable and (best is None or fit.llf > best.llf):
            best = fit
    return best


def per_drug_mixed_model(
    drugs: pd.DataFrame, attention: str, twin: str, split: str
) -> dict[str, float]:
    """Per-drug comparison on a drug-blind split: each held-out drug is predicted by a model
    that never saw it.

    ``d = rmse_attention(drug) - rmse_twin(drug)`` per (drug, fold, seed) is fitted by a linear
    mixed model ``d ~ 1 + (1 | fold run)`` (statsmodels ``MixedLM``, REML): the intercept is the
    mean per-drug difference, and the random intercept absorbs what a (fold, seed) run shares
    (its training drugs, its initialisation). Assumptions: drugs are exchangeable within a run,
    the run effects and residuals are normal, and one drug's results in different seeds are
    treated as independent (they are not quite; its interval is somewhat optimistic).

    Args:
        drugs: per-drug rows with ``variant, split, fold, seed, id, rmse``.

    Returns:
        ``estimate``, ``ci_low``, ``ci_high`` (95%), ``p``, ``n_drugs``, ``n_rows``, ``n_runs``;
        nan values when the model cannot be fitted.
    """
    import statsmodels.formula.api as smf

    keys = ["fold", "seed", "id"]
    a = drugs[(drugs["variant"] == attention) & (drugs["split"] == split)][[*keys, "rmse"]]
    b = drugs[(drugs["variant"] == twin) & (drugs["split"] == split)][[*keys, "rmse"]]
    paired = a.merge(b, on=keys, suffixes=("_a", "_b"))
    paired = paired.assign(
        d=paired["rmse_a"] - paired["rmse_b"],
        run=paired["seed"].astype(str) + ":" + paired["fold"].astype(str),
    )
    out = {
        "estimate": float("nan"),
        "ci_low": float("nan"),
        "ci_high": float("nan"),
        "p": float("nan"),
        "n_drugs": int(paired["id"].nunique()),
        "n_rows": len(paired),
        "n_runs": int(paired["run"].nunique()),
    }
    if out["n_runs"] < 2 or len(paired) < 3:
        return out
    fit = _fit_mixed(smf.mixedlm("d ~ 1", paired, groups=paired["run"]), paired["d"].std())
    if fit is None:
        return out
    lo, hi = fit.conf_int().loc["Intercept"]
    out |= {
        "estimate": float(fit.params["Intercept"]),
        "ci_low": float(lo),
        "ci_high": float(hi),
        "p": float(fit.pvalues["Intercept"]),
    }
    return out


def shifted_external_groups(groups: pd.DataFrame, shift: float) -> pd.DataFrame:
    """The external test's per-drug rows as if every observed ln IC50 were ``shift`` lower
    (another assay-alignment offset): per drug, RMSE² gains ``2·shift·mean error + shift²``
    (error = prediction − observation); correlations do not change. Only ``rmse`` and
    ``mean_true`` are moved (the RMSE test reads nothing else); other splits' rows are left
    out."""
    drugs = groups[(groups["kind"] == "drug") & (groups["split"] == EXTERNAL)].copy()
    error = drugs["mean_pred"].astype(float) - drugs["mean_true"].astype(float)
    squared = drugs["rmse"].astype(float) ** 2 + 2 * shift * error + shift**2
    drugs["rmse"] = np.sqrt(np.maximum(squared, 0.0))
    drugs["mean_true"] = drugs["mean_true"].astype(float) - shift
    return drugs


def offset_sensitivity(
    groups: pd.DataFrame,
    questions: Sequence[Question],
    offset: float,
    offset_median: float,
    margins: Mapping[str, Mapping[str, float]] = MARGINS,
) -> pd.DataFrame:
    """The declared sensitivity check of the assay alignment: every question asked on the
    external set, on RMSE, with the median offset instead of the mean (unadjusted 95%,
    ``role`` = ``sensitivity``); columns :data:`ANSWER_COLUMNS`."""
    shifted = shifted_external_groups(groups, offset - offset_median)
    rows = [
        _external_row(
            q.name, q.attention, q.twin, PRIMARY_METRIC, "sensitivity", 0.95, False, margins,
            shifted,
        )
        for q in questions
        if EXTERNAL in (q.primary, *q.secondary)
    ]  # fmt: skip
    return pd.DataFrame([r for r in rows if r is not None], columns=ANSWER_COLUMNS)
