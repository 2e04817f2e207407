"""The bounded contexts and how the foundation finds their optional modules.

A context contributes by having a module at a conventional path (``rules.py`` with SWEEPS,
``api.py`` / ``web.py`` with a router, ``cli.py``, ``demo.py``, ``subscribers.py``); the
foundation imports the ones that exist, in the order of its own list.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def optional_module(name: str) -> ModuleType | None:
    """Import ``name`` if that module exists; a missing import *inside* it still raises."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            return None
        raise


def present(names: tuple[str, ...]) -> list[ModuleType]:
    """The modules among ``names`` that exist, in order."""
    return [module for module in map(optional_module, names) if module is not None]
