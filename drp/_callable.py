"""``drp.train`` and ``drp.evaluate`` name both a submodule and a function of :mod:`drp.api`.

Python binds ``drp.train`` to the submodule once it is imported, so the submodule itself is
made callable: ``drp.train(config, out)`` calls :func:`drp.api.train` whichever is bound,
while ``drp.train.train_run`` and ``from drp.train import ...`` keep working.
"""

from __future__ import annotations

import sys
import types
from importlib import import_module
from typing import Any


class CallableModule(types.ModuleType):
    """A module whose call is the :mod:`drp.api` function of the same (last) name."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        function = getattr(import_module("drp.api"), self.__name__.rsplit(".", 1)[-1])
        return function(*args, **kwargs)


def make_callable(module_name: str) -> None:
    """Make the already-imported module ``module_name`` call its :mod:`drp.api` namesake."""
    sys.modules[module_name].__class__ = CallableModule
