"""Ensembles of runs: which runs may average (:func:`ensemble_mismatch`) and their mean.

Shared by the evaluation of seed ensembles (:func:`drp.evaluation.runs.evaluate_runs`) and by
predictions from several runs (:mod:`drp.prediction.runs`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd


def combine_members(frames: Sequence[pd.DataFrame], column: str = "ln_ic50_pred") -> pd.DataFrame:
    """One ensemble prediction from members' frames for the same pairs in the same order
    (``cell_id, drug_id``, the prediction ``column`` and any other columns, kept from the first
    member): the mean, ``ensemble_sd`` (sd over members) and ``n_models``.

    Raises:
        ValueError: the members predicted different pairs.
    """
    keys = ["cell_id", "drug_id"]
    first = frames[0]
    for f in frames[1:]:
        if len(f) != len(first) or not f[keys].reset_index(drop=True).equals(
            first[keys].reset_index(drop=True)
        ):
            raise ValueError("ensemble members predicted different pairs")
    stacked = np.stack([f[column].to_numpy() for f in frames])
    out = first.reset_index(drop=True).copy()
    out[column] = stacked.mean(0)
    out["ensemble_sd"] = stacked.std(0, ddof=1) if len(frames) > 1 else 0.0
    out["n_models"] = len(frames)
    return out


def manifest_checksum(files: Mapping[str, str]) -> str:
    """SHA-256 of a featurized dataset's file checksums (its manifest's ``files``, a run's
    ``data_files``): equal for the same data wherever it lies."""
    return hashlib.sha256(json.dumps(dict(files), sort_keys=True).encode()).hexdigest()


ENSEMBLE_FIELDS = ("variant", "split", "dataset", "prior")
"""What the members of one ensemble must share (:func:`member_setting`)."""


def member_setting(config: Mapping) -> dict[str, tuple[str, str]]:
    """A run's :data:`ENSEMBLE_FIELDS` from its ``config.json``, each as ``(identity, label)``:
    the variant (model name and a digest of its whole ``model`` section), the split kind, the dataset (identified by a checksum of its
    files where recorded, else by its path; labelled with both) and the drug prior
    (``train.drug_prior``, with ``train.prior_auxiliary`` when the prior is on). A value the
    run does not record reads ``unrecorded``."""
    train = config.get("train") or {}
    model = config.get("model")
    variant = str((model.get("name") if isinstance(model, dict) else model) or "unrecorded")
    variant_id = variant
    if isinstance(model, dict):  # the whole model section: --set model.hidden=64 is another model
        settings = {k: v for k, v in model.items() if k != "name"}
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
        variant_id = f"{variant} {digest.hexdigest()[:8]}"
    split = str(config.get("split") or train.get("split") or "unrecorded")
    path = str(config.get("dataset") or train.get("dataset") or "unrecorded")
    files = config.get("data_files") or {}
    data = f"data {manifest_checksum(files)[:12]}" if files else path
    prior = str(train.get("drug_prior") or "unrecorded")
    if prior == "similarity":
        prior += f" (auxiliary {train.get('prior_auxiliary') or 'none'})"
    return {
        "variant": (variant_id, variant_id),
        "split": (split, split),
        "dataset": (data, f"{data} ({path})" if files else path),
        "prior": (prior, prior),
    }


def ensemble_mismatch(configs: Mapping[str, Mapping], shown: int = 3) -> str | None:
    """None when the runs (name -> ``config.json``) can predict as one ensemble; else one line
    naming each field of :data:`ENSEMBLE_FIELDS` that differs, every value it takes and (up to
    ``shown`` of) the runs that have it."""
    settings = {run: member_setting(config) for run, config in configs.items()}
    parts = []
    for field in ENSEMBLE_FIELDS:
        groups: dict[str, tuple[str, list[str]]] = {}
        for run, setting in settings.items():
            identity, label = setting[field]
            groups.setdefault(identity, (label, []))[1].append(run)
        if len(groups) < 2:
            continue
        values = []
        for label, runs in groups.values():
            more = f" and {len(runs) - shown} more" if len(runs) > shown else ""
            values.append(f"{label} in {', '.join(runs[:shown])}{more}")
        parts.append(f"{field} ({'; '.join(values)})")
    return "; ".join(parts) or None
