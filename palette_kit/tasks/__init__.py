"""The task contract and the registry that finds task plugins.

The contract's classes are imported on first use: the registry alone (what ``palette-kit --help`` needs)
does not import torch.
"""
from palette_kit.tasks.registry import GROUP, load_task, task_names

__all__ = ["GROUP", "Option", "Prepared", "SamplingHook", "Task", "load_task", "task_names"]
_CONTRACT = ("Option", "Prepared", "SamplingHook", "Task")


def __getattr__(name: str):
    if name in _CONTRACT:
        from palette_kit.tasks import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
