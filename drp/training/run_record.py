"""A run directory's ``config.json``: the resolved config, the data checksums and provenance
(git commit, hardware, command, date), with the keys ``drp evaluate`` reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from drp.core.config import RunConfig
from drp.core.files import atomic_write_text
from drp.core.provenance import git_commit, hardware

if TYPE_CHECKING:
    from drp.featurize.store import FeaturizedDataset


def write_run_config(
    config: RunConfig,
    ds: FeaturizedDataset,
    counts: dict[str, int],
    run_dir: Path,
    command: str = "",
    name: str = "model",
    extra: dict | None = None,
) -> None:
    """Resolved config + provenance, and the keys ``drp evaluate`` reads (``dataset, split,
    fold, seed, fold_seed, k``); ``counts`` are the pairs per part, ``extra`` more keys."""
    run_dir.mkdir(parents=True, exist_ok=True)
    tc = config.train
    payload = config.to_dict()
    payload["model"]["name"] = name
    payload |= {
        # absolute, so `drp predict` and `drp evaluate` work from any directory
        "dataset": str(Path(tc.dataset).resolve()),
        "split": tc.split,
        "fold": tc.fold,
        "seed": tc.seed,
        "fold_seed": tc.effective_fold_seed,
        "k": tc.k,
        "data_files": ds.manifest.get("files", {}),
        "counts": counts,
        "git_commit": git_commit(),
        "hardware": hardware(),
        "command": command,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    } | (extra or {})
    atomic_write_text(run_dir / "config.json", json.dumps(payload, indent=2, default=str))
