"""Debian packages unpacked without installing them: ``apt-get download``, then ``dpkg -x``."""
from __future__ import annotations

import subprocess
from pathlib import Path


def unpack(packages: list[str], folder: Path) -> Path:
    """Download ``packages`` into ``folder`` and unpack them all into ``folder/root``, which is returned."""
    root = folder / "root"
    try:
        subprocess.run(["apt-get", "download", "-q", *sorted(set(packages))], cwd=folder, check=True)
        for deb in sorted(folder.glob("*.deb")):
            subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        raise SystemExit(f"could not download and unpack the Debian packages: {error}") from None
    return root
