"""Heavy modules loaded on first use, so that the CLI starts in a fraction of a second.

``torch = lazy("torch")`` binds a placeholder (the standard library's ``importlib.util.LazyLoader``) that
becomes the real module on its first attribute lookup, e.g. ``torch.Tensor``; after that it *is* torch, at
no cost. A plain ``import torch`` loads torch at once, so the modules that ``palette-kit tasks`` imports
(the task plugins and what they build on) use ``lazy`` and keep torch out of their module-level code:
string annotations, no torch base classes or decorators.
"""
from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy(name: str) -> ModuleType:
    """The module ``name``, imported on first use unless it is imported already."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
