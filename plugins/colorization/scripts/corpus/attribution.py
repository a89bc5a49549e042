"""Licence and author of a file: Debian machine-readable copyright files and gcompris's per-folder READMEs."""
from __future__ import annotations

import fnmatch
from pathlib import Path


def _stanzas(text: str) -> list[dict[str, str]]:
    """Paragraphs of ``Field: value`` lines; continuation lines join their field with ``; ``."""
    stanzas, fields, last = [], {}, None
    for line in text.splitlines() + [""]:
        if not line.strip():
            if fields:
                stanzas.append(fields)
            fields, last = {}, None
        elif line[0] in " \t" or ":" not in line.split()[0]:
            if last and line.strip() != ".":
                fields[last] = f"{fields[last]}; {line.strip()}".strip("; ")
        else:
            last, _, value = line.partition(":")
            fields[last] = value.strip()
    return stanzas


def _matches(pattern: str, tails: list[str]) -> bool:
    """A tail of the path matches, or the pattern names this very file (without a wildcard) in another folder."""
    name = pattern.rsplit("/", 1)[-1]
    exact = not any(c in name for c in "*?[")
    return any(fnmatch.fnmatch(tail, pattern) for tail in tails) or (exact and name == tails[-1])


def debian_copyright(copyright_file: Path, path: str) -> tuple[str, str]:
    """(licence, copyright holders) of the installed ``path`` by a DEP-5 file: the last stanza whose
    ``Files`` pattern matches a tail of the path (installed paths keep only the end of the source path)."""
    found = ("", "")
    parts = Path(path).parts
    tails = ["/".join(parts[i:]) for i in range(len(parts))]
    for stanza in _stanzas(copyright_file.read_text(encoding="utf-8", errors="replace")):
        patterns = stanza.get("Files", "").replace(";", " ").split()
        if any(_matches(p.removeprefix("./"), tails) for p in patterns):
            found = (stanza.get("License", "").split(";")[0].strip(), stanza.get("Copyright", ""))
    return found


def readme_entries(text: str) -> dict[str, dict[str, str]]:
    """gcompris's READMEs: paragraphs of Copyright / Source / License / Files, by each listed file name."""
    entries = {}
    for stanza in _stanzas(text):
        for name in stanza.get("Files", "").replace(";", " ").split():
            entries[name] = stanza
    return entries
