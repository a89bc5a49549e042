"""The colorize form, built from the task's declared ``infer_options``: each option described for the page, and
the values the page sends turned back into the option's values. The app knows no option by name.

An option whose type is a path is offered as a picture, painted over the photo or uploaded; the server writes
it under a name of its own, so no path a user gives ever reaches the disk.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from palette_kit.errors import InputError
from palette_kit.tasks.base import Option, resolve_options


def is_file(option: Option) -> bool:
    return isinstance(click.types.convert_type(option.type), click.Path)


def describe(option: Option) -> dict[str, Any]:
    """What the page needs to draw a field for ``option``: its kind, label, help, default and bounds."""
    kind = click.types.convert_type(option.type)
    field: dict[str, Any] = {"name": option.name, "flag": option.flag, "help": option.help,
                             "default": None if option.default is None or is_file(option) else option.default,
                             "multiple": option.multiple}
    if is_file(option):
        field["kind"] = "picture"
    elif isinstance(kind, click.Choice):
        field.update(kind="choice", choices=list(kind.choices))
    elif isinstance(kind, click.types.BoolParamType):
        field["kind"] = "bool"
    elif isinstance(kind, (click.types.IntParamType, click.types.FloatParamType)):
        integer = isinstance(kind, click.types.IntParamType)
        field.update(kind="number", step=1 if integer else "any",
                     min=getattr(kind, "min", None), max=getattr(kind, "max", None))
    else:
        field["kind"] = "text"
    return field


def read_options(declared: tuple[Option, ...], fields: dict[str, str], uploads: dict[str, Path],
                 task: str) -> dict[str, Any]:
    """The run options from the page's text ``fields`` (one value a line for a multiple option) and ``uploads``
    (the server's own files of picture options); what is empty keeps its default."""
    given: dict[str, Any] = {}
    for option in declared:
        text = fields.get(option.name, "")
        if is_file(option):
            if text:
                raise InputError(f"{option.flag}: send a picture, not a path")
            if option.name in uploads:
                given[option.name] = str(uploads[option.name])
        elif option.multiple:
            values = [line.strip() for line in text.splitlines() if line.strip()]
            if values:
                given[option.name] = values
        elif text.strip():
            given[option.name] = text.strip()
    return resolve_options(declared, given, task)
