"""Errors a user can act on: the CLI prints them as one line and exits non-zero."""


class PaletteError(Exception):
    """Base class of every error that reaches the user as a one-line message."""


class InputError(PaletteError):
    """A file, folder or option given by the user cannot be used."""


class PluginError(PaletteError):
    """A task plugin could not be found, loaded, or breaks the task contract."""


class CheckpointError(PaletteError):
    """A checkpoint is missing, incomplete, or not a palette-kit checkpoint."""


def reason(exc: BaseException) -> str:
    """The first line of what ``exc`` says (for an ``OSError``, its ``strerror``), for a one-line message."""
    text = (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__).splitlines()
    return text[0] if text else type(exc).__name__
