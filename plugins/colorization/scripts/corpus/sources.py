"""Where the photos are in the unpacked Debian packages: one function per source, each yielding ``Photo``s."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .attribution import debian_copyright, readme_entries
from .pzl import first_jpeg
from .rcc import Rcc


@dataclass
class Photo:
    """One picture with its provenance; ``group`` is the stratum of the validation split."""

    name: str
    package: str
    path: str
    group: str
    licence: str
    author: str
    pixels: np.ndarray  # H x W x 3 RGB, or H x W x 4 RGBA for cut-outs
    background: str = ""  # the photo a cut-out is composited on

    @property
    def is_cutout(self) -> bool:
        return self.pixels.shape[2] == 4


def decode(data: bytes | Path) -> np.ndarray:
    """RGB, or RGBA when the picture has transparency, as uint8."""
    with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as picture:
        picture.load()
        pixels = np.asarray(picture.convert("RGBA"))
    return pixels if pixels[..., 3].min() < 255 else pixels[..., :3]


def _copyright(root: Path, package: str, path: str) -> tuple[str, str]:
    return debian_copyright(root / "usr/share/doc" / package / "copyright", path)


def corpus_v1(root: Path, corpus: Path, attribution: Path) -> Iterator[Photo]:
    """The 67 photos of ``photo-corpus.tsv``, with the licences checked by hand in ``attribution``."""
    known = {r["path in package"]: r for r in csv.DictReader(attribution.open(encoding="utf-8"), delimiter="\t")}
    for row in csv.reader(corpus.open(encoding="utf-8"), delimiter="\t"):
        if not row or row[0].startswith("#"):
            continue
        package, path = row
        parts = Path(path).parts
        name = f"{parts[-4]}.jpg" if parts[-2] == "images" else Path(path).name  # plasma: all 2560x1600.jpg
        if (meta := known.get(path)) is None:
            raise SystemExit(f"{attribution}: no licence for {path} of {corpus}")
        yield Photo(name, package, path, package, meta["licence"], meta["author"],
                    decode(root / path.lstrip("/")))


#: gcompris bundles and the folders inside them that hold photos (not alphabets/ or numbers/).
GCOMPRIS = {
    "categorization": [f"resource/images/{f}/" for f in ("fishes", "monuments", "others", "renewable", "tools")],
    "explore_monuments": ["resource/egypt/", "resource/france/", "resource/germany/", "resource/india/",
                          "resource/usa/", "resource/wonders/"],
    "erase": ["resource/"],
    "explore_world_animals": ["resource/animals/"],
    "explore_farm_animals": ["resource/animals/"],
    "explore_world_music": ["resource/music/"],
}
PICTURE = (".webp", ".jpg", ".jpeg", ".png")


def _readme_entry(files: dict[str, bytes], path: str) -> dict[str, str]:
    """The paragraph about ``path`` in the nearest README of its folder or a folder above."""
    parts = path.split("/")
    for depth in range(len(parts) - 1, 0, -1):
        folder = "/".join(parts[:depth])
        readme = files.get(f"{folder}/README")
        if readme is not None and (entry := readme_entries(readme.decode("utf-8")).get("/".join(parts[depth:]))):
            return entry
    return {}


def gcompris(root: Path) -> Iterator[Photo]:
    package = "gcompris-qt-data"
    for bundle, folders in GCOMPRIS.items():
        files = dict(Rcc.open(root / f"usr/share/gcompris-qt/rcc/{bundle}.rcc").items())
        for folder in folders:
            prefix = f"gcompris/src/activities/{bundle}/{folder}"
            group = f"gcompris-{bundle}-{folder.rstrip('/').split('/')[-1]}"
            for path, data in files.items():
                name = path.removeprefix(prefix)
                if not path.startswith(prefix) or "/" in name or not name.endswith(PICTURE):
                    continue
                meta = _readme_entry(files, path)
                yield Photo(f"{group}-{Path(name).stem}.jpg", package,
                            f"/usr/share/gcompris-qt/rcc/{bundle}.rcc:/{path}", group,
                            meta.get("License", ""),
                            "; ".join(filter(None, (meta.get("Copyright"), meta.get("Source")))),
                            decode(data))


def tuxpaint_stamps(root: Path) -> Iterator[Photo]:
    """Every stamp PNG outside ``symbols/`` and ``cartoon/`` folders; ``photos.is_photo`` sorts out clip art."""
    package, base = "tuxpaint-stamps-default", root / "usr/share/tuxpaint/stamps"
    for file in sorted(base.rglob("*.png")):
        relative = file.relative_to(base)
        if relative.parts[0] == "symbols" or "cartoon" in relative.parts:
            continue
        path = f"/usr/share/tuxpaint/stamps/{relative}"
        licence, author = _copyright(root, package, path)
        yield Photo(f"tuxpaint-{'-'.join(relative.with_suffix('').parts)}.jpg", package, path,
                    f"tuxpaint-stamps-{relative.parts[0]}", licence, author, decode(file))


def _files(root: Path, package: str, folder: str, names: list[str] | None, prefix: str) -> Iterator[Photo]:
    """Plain picture files of ``folder``: the given ``names``, or every JPEG there."""
    base = root / folder.lstrip("/")
    for file in [base / n for n in names] if names else sorted(base.glob("*.jpg")):
        path = f"{folder}/{file.name}"
        licence, author = _copyright(root, package, path)
        yield Photo(f"{prefix}-{file.stem}.jpg", package, path, package, licence, author, decode(file))


def tuxpaint_templates(root: Path) -> Iterator[Photo]:
    yield from _files(root, "tuxpaint-data", "/usr/share/tuxpaint/templates", None, "tuxpaint-template")


LXQT = ["Butterfly-Kenneth-Wimer.jpg", "Valendas.png", "after-the-rain.jpg", "appleflower.png", "beam.png",
        "butterfly.png", "cloud.png", "drop.png", "flowers.png", "fog.jpg"]


def lxqt(root: Path) -> Iterator[Photo]:
    """The wallpapers' own ``License`` file says CC-BY-SA-3.0; the package's copyright says LGPL-2.1+."""
    for photo in _files(root, "lxqt-themes", "/usr/share/lxqt/wallpapers", LXQT, "lxqt"):
        photo.licence = f"CC-BY-SA-3.0 (wallpapers/License) / {photo.licence} (copyright)"
        photo.author = "LXQt Project Team, credits in usr/share/lxqt/wallpapers/License"
        yield photo


def darknet(root: Path) -> Iterator[Photo]:
    names = ["dog.jpg", "person.jpg", "horses.jpg", "giraffe.jpg", "eagle.jpg", "kite.jpg"]  # not scream.jpg
    yield from _files(root, "darknet", "/usr/share/darknet/data", names, "darknet")


def palapeli(root: Path) -> Iterator[Photo]:
    """Author and licence from the ``.desktop`` file beside each picture."""
    for photo in _files(root, "palapeli-data", "/usr/share/palapeli/collection", None, "palapeli"):
        desktop = root / photo.path.lstrip("/").replace(".jpg", ".desktop")
        fields = dict(line.split("=", 1) for line in desktop.read_text(encoding="utf-8").splitlines() if "=" in line)
        photo.licence = fields.get("X-KDE-PluginInfo-License") or photo.licence
        photo.author = "; ".join(filter(None, (fields.get("X-KDE-PluginInfo-Author"),
                                               fields.get("X-KDE-PluginInfo-Website")))) or photo.author
        yield photo


def lomiri_2004(root: Path) -> Iterator[Photo]:
    yield from _files(root, "lomiri-wallpapers-20.04", "/usr/share/backgrounds", ["Kleiber_by_Lukas_Baubkus.jpg"],
                      "lomiri")


def jigzo(root: Path) -> Iterator[Photo]:
    """The first JPEG stream of each puzzle, except ``penguin-3x2.pzl`` (CC-BY-NC-SA-1.0)."""
    package, folder = "jigzo-data", "/usr/share/games/jigzo/puzzles/00_default"
    for file in sorted((root / folder.lstrip("/")).glob("*.pzl")):
        if file.name == "penguin-3x2.pzl":
            continue
        path = f"{folder}/{file.name}"
        licence, author = _copyright(root, package, path)
        yield Photo(f"jigzo-{file.stem}.jpg", package, path, package, licence, author,
                    decode(first_jpeg(file.read_bytes())))


#: Every new source, by its Debian package.
SOURCES = {"gcompris-qt-data": gcompris, "tuxpaint-stamps-default": tuxpaint_stamps,
           "tuxpaint-data": tuxpaint_templates, "jigzo-data": jigzo, "lxqt-themes": lxqt, "darknet": darknet,
           "palapeli-data": palapeli, "lomiri-wallpapers-20.04": lomiri_2004}
