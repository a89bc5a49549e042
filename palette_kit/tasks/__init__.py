"""The task contract and the registry that finds task plugins."""
from palette_kit.tasks.base import Option, Prepared, SamplingHook, Task
from palette_kit.tasks.registry import GROUP, load_task, task_names

__all__ = ["GROUP", "Option", "Prepared", "SamplingHook", "Task", "load_task", "task_names"]
