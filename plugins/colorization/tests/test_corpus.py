"""The recipe's photo corpus: Qt resource bundles, jigzo puzzles, attribution, near-duplicates, the split."""
import csv
import random
from pathlib import Path

import cv2
import numpy as np
import pytest
from corpus import build, dedupe, photos, sources, split
from corpus.attribution import debian_copyright, readme_entries
from corpus.pzl import first_jpeg
from corpus.rcc import COMPRESSED, COMPRESSED_ZSTD, Rcc, RccError

RCC = Path(__file__).parent / "fixtures" / "rcc"  # tiny.rcc: made by Qt 5.15's rcc --binary from tiny.qrc


def texture(seed: int, height: int = 96, width: int = 128) -> np.ndarray:
    """A photo-like RGB picture: blurred colour noise, different for every seed."""
    noise = np.random.default_rng(seed).integers(0, 256, (height // 8, width // 8, 3)).astype(np.uint8)
    return cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)


def test_rcc_lists_the_files_of_the_bundle_with_their_compression():
    files = Rcc.open(RCC / "tiny.rcc").files()
    assert sorted(files) == ["notes.txt", "pics/README", "pics/tiny.png"]
    assert files["pics/README"][0] & COMPRESSED and files["notes.txt"][0] & COMPRESSED_ZSTD
    assert not files["pics/tiny.png"][0] & (COMPRESSED | COMPRESSED_ZSTD)


def test_rcc_reads_plain_and_zlib_entries_as_the_original_bytes():
    rcc = Rcc.open(RCC / "tiny.rcc")
    assert rcc.read("pics/tiny.png") == (RCC / "pics" / "tiny.png").read_bytes()
    assert rcc.read("pics/README") == (RCC / "pics" / "README").read_bytes()
    assert sources.decode(rcc.read("pics/tiny.png")).shape == (12, 16, 3)


def test_rcc_reads_zstd_entries():
    pytest.importorskip("zstandard")
    assert Rcc.open(RCC / "tiny.rcc").read("notes.txt") == (RCC / "notes.txt").read_bytes()


def test_rcc_refuses_what_is_not_a_bundle():
    with pytest.raises(RccError, match="qres"):
        Rcc(b"PK\x03\x04" + bytes(20))
    with pytest.raises(RccError, match="version"):
        Rcc(b"qres" + (9).to_bytes(4, "big") + bytes(16))


def _jpeg(pixels: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", pixels)[1].tobytes()


def test_pzl_first_stream_is_the_picture():
    picture, atlas = _jpeg(texture(0)), _jpeg(texture(1, 40, 40))
    assert first_jpeg(b"jigzo puzzle\n3 4\n" + picture + atlas) == picture


def test_pzl_skips_a_thumbnail_inside_the_first_stream():
    thumbnail = _jpeg(texture(2, 16, 16))
    picture = _jpeg(texture(0))
    app1 = b"\xff\xe1" + (len(thumbnail) + 8).to_bytes(2, "big") + b"Exif\x00\x00" + thumbnail
    with_thumbnail = picture[:2] + app1 + picture[2:]
    assert first_jpeg(b"header\n" + with_thumbnail + _jpeg(texture(1))) == with_thumbnail


def test_pzl_without_jpeg_is_an_error():
    with pytest.raises(ValueError, match="JPEG"):
        first_jpeg(b"just a header\n")


def test_near_duplicates_are_found_across_size_compression_and_mirroring():
    picture = texture(3, 240, 320)
    smaller = cv2.resize(picture, (160, 120), interpolation=cv2.INTER_AREA)
    recompressed = cv2.imdecode(np.frombuffer(_jpeg(smaller), np.uint8), cv2.IMREAD_COLOR)
    others = [texture(seed, 240, 320) for seed in range(4, 10)]
    keep, dropped = dedupe.unique([picture, *others, recompressed, picture[:, ::-1].copy()])
    assert keep == list(range(7))
    assert dropped == {7: 0, 8: 0}


def test_distinct_pictures_are_far_apart():
    hashes = [dedupe.dhash(texture(seed)) for seed in range(20)]
    assert min(dedupe.distance(a, b) for i, a in enumerate(hashes) for b in hashes[i + 1:]) > dedupe.THRESHOLD


def test_validation_split_is_stratified_and_deterministic():
    groups = {"big": 40, "mid": 11, "small": 4, "tiny": 3}
    names = [f"{g}-{i}.jpg" for g, n in groups.items() for i in range(n)]
    members = [n.split("-")[0] for n in names]
    held = split.validation(names, members)
    per_group = {g: sum(n.startswith(f"{g}-") for n in held) for g in groups}
    assert per_group == {"big": round(40 * split.VAL_FRACTION), "mid": 1, "small": 1, "tiny": 0}
    order = list(zip(names, members))
    random.Random(0).shuffle(order)
    assert split.validation([n for n, _ in order], [g for _, g in order]) == held
    assert split.validation(names, members, seed="another") != held


def test_debian_copyright_takes_the_last_matching_paragraph(tmp_path):
    text = ("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
            "Files: *\nCopyright: 2002 Someone\nLicense: GPL-2+\n\n"
            "Files: puzzles/00_default/penguin-3x2.pzl\nCopyright: Jon\nLicense: CC-BY-NC-SA-1.0\n text\n .\n more\n\n"
            "Files: 20.04/Kleiber.jpg\nCopyright: 2021, Lukas\n 2022, Other\nLicense: CC-BY-SA-3.0\n")
    path = tmp_path / "copyright"
    path.write_text(text)
    assert debian_copyright(path, "/usr/share/jigzo/puzzles/00_default/bike.pzl") == ("GPL-2+", "2002 Someone")
    assert debian_copyright(path, "/usr/share/jigzo/puzzles/00_default/penguin-3x2.pzl")[0] == "CC-BY-NC-SA-1.0"
    assert debian_copyright(path, "/usr/share/backgrounds/Kleiber.jpg") == ("CC-BY-SA-3.0", "2021, Lukas; 2022, Other")


def test_gcompris_readme_entries_by_file():
    entries = readme_entries("Copyright: A\nSource: https://x/a.jpg\nLicense: CC0-1.0\nFiles:\na.webp\nb.webp\n\n"
                             "Copyright: B\nLicense: Public Domain\nFiles: c.webp\n")
    assert entries["b.webp"]["Copyright"] == "A" and entries["a.webp"]["Source"] == "https://x/a.jpg"
    assert entries["c.webp"]["License"] == "Public Domain"


def test_clip_art_is_flat_and_photos_are_not():
    clip_art = np.zeros((64, 64, 4), np.uint8)
    clip_art[8:56, 8:56] = (200, 30, 30, 255)
    photo = np.dstack([texture(5, 64, 64), np.full((64, 64), 255, np.uint8)])
    assert photos.flat_fraction(clip_art) > build.MAX_FLAT > photos.flat_fraction(photo)


def test_black_and_white_has_no_chroma():
    gray = cv2.cvtColor(cv2.cvtColor(texture(6), cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    assert photos.chroma(gray) < build.MIN_CHROMA < photos.chroma(texture(6))


def test_downscale_never_upscales():
    assert photos.downscale(texture(7, 96, 128)).shape == (96, 128, 3)
    assert photos.downscale(texture(7, 960, 1280)).shape == (320, 427, 3)


def test_cutout_is_composited_inside_a_background_crop():
    cutout = np.zeros((50, 70, 4), np.uint8)
    cutout[10:40, 20:60] = (255, 0, 255, 255)
    background = texture(8, 320, 480)
    out = photos.composite(cutout, background, np.random.default_rng(0))
    assert out.shape == (round(30 * 1.3), round(40 * 1.3), 3)
    assert (out[out.shape[0] // 2, out.shape[1] // 2] == (255, 0, 255)).all()
    assert not (out[0, 0] == (255, 0, 255)).all()


def _fake_root(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Two plain photos of a v1 corpus (and their hand-kept licences) in a fake unpacked tree."""
    root, rows = tmp_path / "root", []
    for index in range(2):
        path = f"/usr/share/backgrounds/v1-{index}.jpg"
        (root / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / path.lstrip("/")), texture(100 + index, 400, 600))
        rows.append(["pkg-v1", path])
    corpus, attribution = tmp_path / "corpus.tsv", tmp_path / "attribution.tsv"
    corpus.write_text("# package\tpath\n" + "".join(f"{p}\t{q}\n" for p, q in rows))
    attribution.write_text("file\tpackage\tpath in package\tlicence\tauthor\n"
                           + "".join(f"v1-{i}.jpg\tpkg-v1\t{q}\tCC0-1.0\tA{i}\n" for i, (_, q) in enumerate(rows)))
    return root, corpus, attribution


def _new_source(root: Path):
    """Ten photos in two groups, a duplicate, a gray picture, one without a licence and four cut-outs."""
    for seed in range(10):
        yield sources.Photo(f"new-{seed}.jpg", "pkg-new", f"/p/{seed}", f"g{seed % 2}", "GPL-2", "B",
                            texture(seed, 200, 300))
    smaller = cv2.resize(texture(0, 200, 300), (150, 100), interpolation=cv2.INTER_AREA)
    yield sources.Photo("copy.jpg", "pkg-new", "/p/copy", "g0", "GPL-2", "B", smaller)
    yield sources.Photo("gray.jpg", "pkg-new", "/p/gray", "g0", "GPL-2", "B", np.full((100, 150, 3), 90, np.uint8))
    yield sources.Photo("unlicensed.jpg", "pkg-new", "/p/u", "g0", "", "", texture(99, 100, 150))
    for seed in range(4):
        cutout = np.zeros((120, 120, 4), np.uint8)
        cutout[20:100, 30:90, :3] = texture(50 + seed, 80, 60)
        cutout[20:100, 30:90, 3] = 255
        yield sources.Photo(f"cut-{seed}.jpg", "pkg-new", f"/c/{seed}", "cuts", "GPL-2", "C", cutout)


def test_build_writes_disjoint_splits_and_their_manifest(tmp_path, monkeypatch):
    root, corpus, attribution = _fake_root(tmp_path)
    monkeypatch.setattr(sources, "SOURCES", {"pkg-new": _new_source})
    work = tmp_path / "work"
    counts = build.build(root, corpus, attribution, work)
    train, val = ({p.name for p in (work / s).iterdir()} for s in ("train", "val"))
    assert not train & val and val and len(train | val) == 16 == sum(counts.values())
    with (work / "photo-attribution.tsv").open() as file:
        rows = {r["file"]: r for r in csv.DictReader(file, delimiter="\t")}
    assert set(rows) == train | val
    assert all(rows[n]["split"] == "val" for n in val) and rows["v1-1.jpg"]["author"] == "A1"
    for name in (n for n in rows if n.startswith("cut-")):
        assert rows[rows[name]["background"]]["split"] == rows[name]["split"]  # never a photo of the other split
    with (work / "dropped.tsv").open() as file:
        reasons = {r["file"]: r["reason"] for r in csv.DictReader(file, delimiter="\t")}
    assert reasons == {"copy.jpg": "near-duplicate of new-0.jpg", "gray.jpg": "black-and-white",
                       "unlicensed.jpg": "no licence found"}
    assert min(cv2.imread(str(work / "train" / "v1-0.jpg")).shape[:2]) == photos.SHORT_SIDE
