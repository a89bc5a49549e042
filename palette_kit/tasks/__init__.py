"""The task contract and the registry that finds task plugins."""
from palette_kit.tasks.base import Prepared, Task
from palette_kit.tasks.registry import GROUP, load_task, task_names

__all__ = ["GROUP", "Prepared", "Task", "load_task", "task_names"]
