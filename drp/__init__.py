"""drp: drug-response prediction with edge-aware graph attention, and a study of whether attention helps.

The Python API (:mod:`drp.api`) is re-exported lazily, so ``import drp`` stays light::

    import drp

    run = drp.load_run("runs/hybrid_mixed_f0_s0")
    run.predict(cells=["A549"], smiles={"aspirin": "CC(=O)Oc1ccccc1C(=O)O"})
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Ensemble",
    "Run",
    "__version__",
    "evaluate",
    "load_dataset",
    "load_ensemble",
    "load_run",
    "predict",
    "screen",
    "train",
]
_API = frozenset(__all__) - {"__version__"}

if TYPE_CHECKING:
    from drp.api import (
        Ensemble,
        Run,
        evaluate,
        load_dataset,
        load_ensemble,
        load_run,
        predict,
        screen,
        train,
    )


def __getattr__(name: str) -> Any:
    """PEP 562: ``drp.load_run`` and friends import :mod:`drp.api` on first use (the loop
    and the scoring live in the packages :mod:`drp.training` and :mod:`drp.evaluation`, so no
    subpackage shadows ``drp.train``, ``drp.evaluate``, ``drp.predict`` or ``drp.screen``; the
    API's ``featurize``, ``study`` and ``report`` share their package's name, so they are
    reached as ``drp.api.featurize`` and so on)."""
    if name in _API:
        return getattr(import_module("drp.api"), name)
    raise AttributeError(f"module 'drp' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
