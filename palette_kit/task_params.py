"""Click parameters that come from the installed task plugins: ``--task`` and the options a task declares."""
from __future__ import annotations

from typing import TYPE_CHECKING

import click

from palette_kit.errors import PaletteError, PluginError
from palette_kit.tasks import load_task, task_names

if TYPE_CHECKING:
    from palette_kit.tasks.base import Option


class TaskChoice(click.Choice):
    """The installed task plugins, looked up when a value is checked (plugins may be installed later)."""

    def __init__(self) -> None:
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(task_names())

    @choices.setter
    def choices(self, value: tuple[str, ...]) -> None:
        """Ignored: the choices are always the installed plugins."""


def _named_task(args: list[str]) -> str | None:
    """The value of ``--task`` among raw command-line arguments, if any."""
    for i, arg in enumerate(args):
        if arg == "--task" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--task="):
            return arg.split("=", 1)[1]
    return None


def _option_help(task: str, option: Option) -> str:
    """A task option's help line, tagged with its task and showing its default when it has one."""
    default = "" if option.default is None else f" (default: {option.default})"
    return f"[{task}] {option.help}{default}"


class TaskCommand(click.Command):
    """A command that also takes the options of the task named by ``--task`` (listed by ``--help``).

    ``which`` picks the task's option list: ``"options"`` (train), ``"infer_options"`` (infer)
    or ``"eval_options"`` (evaluate).
    Their values reach the command in ``task_options``.
    """

    def __init__(self, *args, which: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.which, self.own_params = which, list(self.params)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        self.params = list(self.own_params)
        name = _named_task(args)
        if name in task_names():
            try:
                declared = getattr(load_task(name), self.which)
            except PaletteError:
                declared = ()  # the command itself reports the broken plugin
            taken = {flag for param in self.own_params for flag in param.opts}
            clashes = [o.flag for o in declared if o.flag in taken]
            if clashes:
                raise PluginError(f"task plugin {name!r} declares {', '.join(clashes)}, which "
                                  f"`palette-kit {self.name}` already has; rename the task option")
            self.params += [click.Option([o.flag, o.name], type=o.type, default=None, multiple=o.multiple,
                                         help=_option_help(name, o)) for o in declared]
            ctx.meta["task_option_names"] = [o.name for o in declared]
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        names = ctx.meta.get("task_option_names", [])
        ctx.params["task_options"] = {n: ctx.params.pop(n) for n in names if ctx.params.get(n) not in (None, ())}
        for n in names:
            ctx.params.pop(n, None)
        return super().invoke(ctx)
