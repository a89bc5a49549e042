"""Finds task plugins in the ``palette_kit.tasks`` entry-point group.

Built-in and third-party tasks go through the same lookup: a plugin is an installed
distribution that declares ``name = "module:TaskClass"`` in that group.
"""
from __future__ import annotations

import entrypoints

from palette_kit.errors import PluginError
from palette_kit.tasks.base import Task

GROUP = "palette_kit.tasks"


def _entry_points() -> dict[str, entrypoints.EntryPoint]:
    return entrypoints.get_group_named(GROUP)


def task_names() -> list[str]:
    """Names of the installed task plugins, sorted."""
    return sorted(_entry_points())


def load_task(name: str) -> type[Task]:
    """Load the task class registered as ``name``; errors name the entry point and keep the cause."""
    points = _entry_points()
    if name not in points:
        installed = ", ".join(sorted(points)) or "none"
        raise PluginError(f"unknown task {name!r}; installed tasks: {installed}")
    point = points[name]
    where = f"{GROUP} entry point {name!r} ({point.module_name}:{point.object_name})"
    try:
        cls = point.load()
    except Exception as exc:
        raise PluginError(f"{where} failed to load: {type(exc).__name__}: {exc}") from exc
    _check_contract(cls, name, where)
    return cls


def _check_contract(cls: object, name: str, where: str) -> None:
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise PluginError(f"{where} is not a palette_kit.tasks.Task subclass")
    problems = [
        f"{attr} must be a positive int"
        for attr in ("cond_channels", "target_channels")
        if not isinstance(getattr(cls, attr, None), property)  # worked out per instance, from its options
        and not (isinstance(getattr(cls, attr, None), int) and getattr(cls, attr) > 0)
    ]
    if getattr(cls, "name", None) != name:
        problems.append(f"its name attribute {getattr(cls, 'name', None)!r} differs from the entry point's")
    if not isinstance(getattr(cls, "description", None), str):
        problems.append("description must be a string")
    if cls.__abstractmethods__:
        problems.append(f"it does not implement {', '.join(sorted(cls.__abstractmethods__))}")
    if problems:
        raise PluginError(f"{where} breaks the task contract: {'; '.join(problems)}")
