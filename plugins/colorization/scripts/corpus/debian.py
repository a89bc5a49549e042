"""Debian packages unpacked without installing them: ``apt-get download``, then ``dpkg -x``."""
from __future__ import annotations

import subprocess
from pathlib import Path


def unpack(packages: list[str], folder: Path) -> Path:
    """Download ``packages`` into ``folder`` and unpack them all into ``folder/root``, which is returned."""
    subprocess.run(["apt-get", "download", "-q", *sorted(set(packages))], cwd=folder, check=True)
    root = folder / "root"
    for deb in sorted(folder.glob("*.deb")):
        subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    return root
