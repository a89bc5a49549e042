"""Image I/O for real-world and broken inputs: every fixture is generated here with Pillow, OpenCV or numpy."""
import errno
import os
import stat
import struct
import time
import tracemalloc
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps

from palette_kit.imageio import decode
from palette_kit.errors import InputError
from palette_kit.imageio import IMAGE_SUFFIXES, MAX_PIXELS, collect_inputs, read_image, read_metadata, write_image

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0  # root reads files whatever their permissions


def photo(height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth BGR picture with a little noise (compresses like a photo)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([x / width * 255, y / height * 255, (x + y) / (width + height) * 255], -1)
    image += np.random.default_rng(seed).normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def png_bytes(width: int, height: int, idat: bytes = b"", bit_depth: int = 8, colour_type: int = 2) -> bytes:
    """A PNG built by hand (valid CRCs) whose header says ``width`` x ``height``."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(idat))
            + chunk(b"IEND", b""))


def pillow_bgr(picture: Image.Image) -> np.ndarray:
    return cv2.cvtColor(np.asarray(picture.convert("RGB")), cv2.COLOR_RGB2BGR)


def with_orientation(picture: Image.Image, orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


def error(path: Path) -> str:
    with pytest.raises(InputError) as info:
        read_image(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


# ------------------------------------------------------------------------------------------ ordinary pictures

def test_suffixes_and_limit():
    assert {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"} <= IMAGE_SUFFIXES
    assert 24_000_000 < MAX_PIXELS < 20000 * 20000


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".tif", ".webp"])
def test_reads_like_opencv(tmp_path, suffix):
    path = tmp_path / f"p{suffix}"
    cv2.imwrite(str(path), photo())
    image = read_image(path)
    assert image.dtype == np.uint8 and image.shape == (48, 64, 3) and image.flags.c_contiguous
    np.testing.assert_array_equal(image, cv2.imread(str(path), cv2.IMREAD_COLOR))


def test_complete_plain_pictures_are_decoded_by_opencv(tmp_path, monkeypatch):
    calls = []
    real_imdecode = cv2.imdecode
    monkeypatch.setattr(cv2, "imdecode", lambda *args: calls.append(1) or real_imdecode(*args))
    for name in ("p.jpg", "p.png", "p.webp", "p.bmp"):
        cv2.imwrite(str(tmp_path / name), photo())
    Image.fromarray(photo()).convert("RGBA").save(tmp_path / "a.png")
    for name, by_opencv in (("p.jpg", True), ("p.png", True), ("p.webp", True), ("p.bmp", False), ("a.png", False)):
        calls.clear()
        read_image(tmp_path / name)
        assert bool(calls) == by_opencv, name


def test_reads_a_24_megapixel_photo_with_two_copies_at_most(tmp_path):
    path = tmp_path / "big.jpg"
    big = cv2.resize(photo(400, 600), (6000, 4000), interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(str(path), big, [cv2.IMWRITE_JPEG_QUALITY, 80])
    del big
    tracemalloc.start()
    try:
        image = read_image(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert image.shape == (4000, 6000, 3)
    assert peak < 2 * image.nbytes  # the result and the compressed file, no float or extra full copies


def test_gray_gets_three_equal_channels(tmp_path):
    gray = photo()[..., 0]
    for name in ("g.png", "g.jpg", "g.webp"):
        Image.fromarray(gray, "L").save(tmp_path / name, lossless=True)
        image = read_image(tmp_path / name)
        assert image.shape == (48, 64, 3)
        assert (image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all()
    np.testing.assert_array_equal(read_image(tmp_path / "g.png")[..., 0], gray)
    Image.fromarray(gray > 128).convert("1").save(tmp_path / "bits.png")
    assert set(np.unique(read_image(tmp_path / "bits.png"))) <= {0, 255}


def test_exif_orientation_6_rotates(tmp_path):
    # a 64 x 32 picture (width x height): left half red, right half blue, stored with "rotate 90 clockwise"
    rgb = np.zeros((32, 64, 3), np.uint8)
    rgb[:, :32] = (255, 0, 0)
    rgb[:, 32:] = (0, 0, 255)
    for name in ("o.jpg", "o.webp", "o.png"):
        Image.fromarray(rgb).save(tmp_path / name, exif=with_orientation(Image.fromarray(rgb), 6), quality=95)
        image = read_image(tmp_path / name)
        assert image.shape == (64, 32, 3), name  # now portrait
        top, bottom = image[:24].reshape(-1, 3).mean(0), image[40:].reshape(-1, 3).mean(0)
        assert top[2] > 200 and top[0] < 60, name  # red (BGR) on top
        assert bottom[0] > 200 and bottom[2] < 60, name  # blue below


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("kind", ["RGB.png", "RGB.webp", "RGBA.png"])  # OpenCV decodes the first two, Pillow RGBA
def test_every_orientation_matches_pillow(tmp_path, orientation, kind):
    rgb = cv2.cvtColor(photo(6, 10, seed=orientation), cv2.COLOR_BGR2RGB)
    path = tmp_path / f"o.{kind}"
    picture = Image.fromarray(rgb).convert(kind.split(".")[0])
    picture.save(path, exif=with_orientation(picture, orientation), lossless=True)
    expected = pillow_bgr(ImageOps.exif_transpose(Image.open(path)))
    np.testing.assert_array_equal(read_image(path), expected)
    np.testing.assert_array_equal(decode._orient(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), orientation), expected)


# ------------------------------------------------------------------------------------------ real-world modes

def test_16_bit_gray_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 128, 129, 257, 1000, 32768, 65535]], np.uint16)
    expected = np.array([0, 0, 1, 1, 4, 128, 255], np.uint8)  # round(v * 255 / 65535)
    for name in ("g16.png", "g16.tif"):
        cv2.imwrite(str(tmp_path / name), values)
        assert Image.open(tmp_path / name).mode.startswith("I;16")
        image = read_image(tmp_path / name)
        assert image.shape == (1, 7, 3)
        np.testing.assert_array_equal(image[0, :, 0], expected)
        np.testing.assert_array_equal(image[..., 0], image[..., 2])


def test_32_bit_integer_gray_is_scaled(tmp_path):
    Image.fromarray(np.array([[0, 32768, 65535, 70000]], np.int32), "I").save(tmp_path / "i.tif")
    np.testing.assert_array_equal(read_image(tmp_path / "i.tif")[0, :, 1], [0, 128, 255, 255])


def test_16_bit_rgb_png_and_tiff_are_scaled(tmp_path):
    bgr = np.zeros((3, 4, 3), np.uint16)
    bgr[..., 0], bgr[..., 1], bgr[..., 2] = 65535, 32768, 1000  # B, G, R
    for name in ("c16.png", "c16.tif"):
        cv2.imwrite(str(tmp_path / name), bgr)
        image = read_image(tmp_path / name)
        assert image.shape == (3, 4, 3) and image.dtype == np.uint8
        assert (image == (255, 128, 4)).all(), name  # Pillow alone would give 3 for 1000 (high byte only)


def test_16_bit_rgba_png_transparency_on_white(tmp_path):
    bgra = np.zeros((2, 2, 4), np.uint16)
    bgra[0, 0] = (0, 0, 65535, 65535)  # opaque red
    bgra[0, 1] = (0, 0, 65535, 0)  # transparent
    cv2.imwrite(str(tmp_path / "a16.png"), bgra)
    image = read_image(tmp_path / "a16.png")
    assert tuple(image[0, 0]) == (0, 0, 255) and tuple(image[0, 1]) == (255, 255, 255)
    assert tuple(image[1, 1]) == (255, 255, 255)


def test_16_bit_gray_with_alpha_png(tmp_path):
    # (gray, alpha) pairs: half gray opaque, transparent, black half transparent
    row = b"\0" + struct.pack(">6H", 32768, 65535, 0, 0, 0, 32768)
    (tmp_path / "la16.png").write_bytes(png_bytes(3, 1, row, bit_depth=16, colour_type=4))
    image = read_image(tmp_path / "la16.png")
    assert image.shape == (1, 3, 3)
    np.testing.assert_array_equal(image[0, :, 1], [128, 255, 127])


def test_alpha_is_composited_on_white(tmp_path):
    rgba = np.zeros((1, 4, 4), np.uint8)
    rgba[0, 0] = (200, 100, 50, 255)  # opaque
    rgba[0, 1] = (200, 100, 50, 0)  # transparent
    rgba[0, 2] = (0, 0, 0, 128)  # half-transparent black
    rgba[0, 3] = (10, 20, 30, 0)
    for name in ("a.png", "a.webp", "a.tif"):
        Image.fromarray(rgba, "RGBA").save(tmp_path / name, lossless=True)
        image = read_image(tmp_path / name)
        assert image.shape == (1, 4, 3)
        assert tuple(image[0, 0]) == (50, 100, 200), name
        assert tuple(image[0, 1]) == (255, 255, 255) and tuple(image[0, 3]) == (255, 255, 255), name
        assert tuple(image[0, 2]) == (127, 127, 127), name  # 255 * (1 - 128 / 255), rounded


def test_opaque_rgba_keeps_its_colours(tmp_path):
    bgr = photo()
    rgba = np.dstack([cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), np.full(bgr.shape[:2], 255, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "o.png")
    np.testing.assert_array_equal(read_image(tmp_path / "o.png"), bgr)


def test_gray_with_alpha(tmp_path):
    la = np.array([[[100, 255], [100, 0], [0, 51]]], np.uint8)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    image = read_image(tmp_path / "la.png")
    np.testing.assert_array_equal(image[0, :, 0], [100, 255, 204])  # 255 - 255 * 51 / 255
    assert (image[..., 0] == image[..., 2]).all()


def test_cmyk_jpeg(tmp_path):
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg", quality=95)  # red ink
    assert Image.open(tmp_path / "cmyk.jpg").mode == "CMYK"
    image = read_image(tmp_path / "cmyk.jpg")
    assert image.shape == (16, 16, 3)
    assert np.abs(image.astype(int) - (0, 0, 255)).max() <= 8


def test_palette_png_with_and_without_transparency(tmp_path):
    indexes = np.array([[0, 1, 2]], np.uint8)
    palette = [255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 9)
    picture = Image.fromarray(indexes, "P")
    picture.putpalette(palette)
    picture.save(tmp_path / "p.png")
    picture.save(tmp_path / "pt.png", transparency=1)  # green is transparent
    assert Image.open(tmp_path / "p.png").mode == "P"
    assert read_image(tmp_path / "p.png")[0].tolist() == [[0, 0, 255], [0, 255, 0], [255, 0, 0]]
    assert read_image(tmp_path / "pt.png")[0].tolist() == [[0, 0, 255], [255, 255, 255], [255, 0, 0]]


def test_non_ascii_path_with_spaces(tmp_path):
    folder = tmp_path / "thư mục ảnh"
    path = folder / "ảnh màu 1.jpg"
    write_image(path, photo(), {"input": "ảnh màu 1.jpg", "seed": "3"})
    assert read_image(path).shape == (48, 64, 3)
    assert read_metadata(path) == {"input": "ảnh màu 1.jpg", "seed": "3"}
    assert collect_inputs([str(folder)]) == ([path], [])


# ------------------------------------------------------------------------------------------ bad input

def test_missing_file(tmp_path):
    assert error(tmp_path / "nope.jpg") == f"image not found: {tmp_path / 'nope.jpg'}"


def test_folder_is_not_an_image(tmp_path):
    assert error(tmp_path).startswith(f"not a readable image: {tmp_path} (")


def test_empty_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    assert error(tmp_path / "empty.png") == f"empty file: {tmp_path / 'empty.png'}"


def test_text_file_named_jpg(tmp_path):
    (tmp_path / "notes.jpg").write_text("this is not a picture\n")
    assert error(tmp_path / "notes.jpg").startswith(f"not a readable image: {tmp_path / 'notes.jpg'} (")


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".bmp", ".tif"])
def test_truncated_file(tmp_path, suffix, recwarn):
    path = tmp_path / f"cut{suffix}"
    _, encoded = cv2.imencode(suffix, photo(64, 96))
    path.write_bytes(encoded.tobytes()[:len(encoded) // 2])
    assert error(path) == f"truncated image: {path}"
    assert not recwarn.list  # one line, no warnings beside it


def test_truncated_16_bit_png(tmp_path):
    _, encoded = cv2.imencode(".png", (photo(64, 96).astype(np.uint16) * 257))
    (tmp_path / "cut16.png").write_bytes(encoded.tobytes()[:len(encoded) // 2])
    assert error(tmp_path / "cut16.png") == f"truncated image: {tmp_path / 'cut16.png'}"


def test_zero_size_image(tmp_path):
    (tmp_path / "zero.png").write_bytes(png_bytes(0, 0))
    (tmp_path / "flat.png").write_bytes(png_bytes(16, 0))
    assert error(tmp_path / "zero.png") == f"zero-size image: {tmp_path / 'zero.png'}"
    assert error(tmp_path / "flat.png") == f"zero-size image: {tmp_path / 'flat.png'}"


def test_decompression_bomb_is_refused_before_decoding(tmp_path, monkeypatch):
    (tmp_path / "bomb.png").write_bytes(png_bytes(20000, 20000, b"\0" * 1000))
    (tmp_path / "big.png").write_bytes(png_bytes(13000, 12000, b"\0" * 1000))  # over our limit, under Pillow's

    def no_decoding(*args, **kwargs):
        raise AssertionError("pixels were decoded")
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    monkeypatch.setattr(cv2, "imdecode", no_decoding)
    start = time.perf_counter()
    assert error(tmp_path / "bomb.png") == \
        f"image too large: {tmp_path / 'bomb.png'} (20000x20000 = 400 MP; the limit is 150 MP)"
    assert error(tmp_path / "big.png") == \
        f"image too large: {tmp_path / 'big.png'} (13000x12000 = 156 MP; the limit is 150 MP)"
    assert time.perf_counter() - start < 1
    assert Image.MAX_IMAGE_PIXELS is not None  # Pillow's own guard is left as it was


def test_unreadable_file(tmp_path, monkeypatch):
    path = tmp_path / "secret.jpg"
    cv2.imwrite(str(path), photo())
    path.chmod(0)
    if IS_ROOT:
        def denied(file, *args, **kwargs):
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        monkeypatch.setattr(decode, "open", denied, raising=False)
    try:
        assert error(path) == f"permission denied: {path}"
    finally:
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)


# ------------------------------------------------------------------------------------------ writing

@pytest.mark.parametrize("suffix", [".png", ".jpg", ".jpeg", ".webp"])
def test_metadata_round_trip(tmp_path, suffix):
    meta = {"seed": "42", "model": "colorization@abc123", "sampler": "ddim", "steps": "50",
            "input": "ảnh màu 1.jpg", "note": 'quotes " and \\ and {json}'}
    path = tmp_path / f"out{suffix}"
    write_image(path, photo(), meta, quality=90)
    assert read_metadata(path) == meta
    assert read_image(path).shape == (48, 64, 3)


def test_jpeg_and_webp_metadata_is_an_exif_user_comment(tmp_path):
    for name in ("out.jpg", "out.webp"):
        write_image(tmp_path / name, photo(), {"seed": "7"})
        comment = Image.open(tmp_path / name).getexif().get_ifd(0x8769)[0x9286]
        assert comment == b'ASCII\0\0\0{"seed": "7"}'


def test_png_metadata_is_text_chunks_and_pixels_are_unchanged(tmp_path):
    image = photo()
    write_image(tmp_path / "plain.png", image)
    write_image(tmp_path / "meta.png", image, {"seed": "1", "input": "ảnh.png"})
    _, encoded = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP])
    assert (tmp_path / "plain.png").read_bytes() == encoded.tobytes()  # OpenCV's PNG, rows less the row above
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "plain.png")), image)
    data = (tmp_path / "meta.png").read_bytes()
    assert b"tEXtseed\x001" in data and b"iTXtinput\0" in data
    assert Image.open(tmp_path / "meta.png").text == {"seed": "1", "input": "ảnh.png"}
    np.testing.assert_array_equal(read_image(tmp_path / "meta.png"), image)


def test_no_metadata_reads_empty(tmp_path):
    for name in ("a.png", "a.jpg", "a.webp", "a.bmp"):
        write_image(tmp_path / name, photo())
        assert read_metadata(tmp_path / name) == {}
    write_image(tmp_path / "m.bmp", photo(), {"seed": "1"})  # formats without metadata: pixels only
    assert read_metadata(tmp_path / "m.bmp") == {}
    cv2.imwrite(str(tmp_path / "other.jpg"), photo())
    assert read_metadata(tmp_path / "other.jpg") == {}
    with pytest.raises(InputError, match="image not found"):
        read_metadata(tmp_path / "missing.png")


def test_jpeg_quality_changes_size(tmp_path):
    image = photo(128, 128)
    write_image(tmp_path / "low.jpg", image, quality=30)
    write_image(tmp_path / "high.jpg", image, quality=95)
    write_image(tmp_path / "low.webp", image, quality=30)
    write_image(tmp_path / "high.webp", image, quality=95)
    assert (tmp_path / "low.jpg").stat().st_size < (tmp_path / "high.jpg").stat().st_size
    assert (tmp_path / "low.webp").stat().st_size < (tmp_path / "high.webp").stat().st_size
    assert np.abs(read_image(tmp_path / "high.jpg").astype(int) - image).mean() < 6


def test_lossless_formats_round_trip(tmp_path):
    image = photo()
    for name in ("r.png", "r.bmp", "r.tif", "r.tiff", "sub/dir/r.png"):
        write_image(tmp_path / name, image)
        np.testing.assert_array_equal(read_image(tmp_path / name), image)


def test_permissions_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        write_image(tmp_path / "u.jpg", photo(), {"seed": "1"})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "u.jpg").stat().st_mode) == 0o640


def test_failed_encode_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InputError, match="out.xyz"):
        write_image(out / "out.xyz", photo())
    with pytest.raises(InputError, match="bad.jpg"):
        write_image(out / "bad.jpg", photo().astype(np.float32))
    with pytest.raises(InputError, match="q.webp"):
        write_image(out / "q.webp", photo(), quality=0)
    with pytest.raises(InputError, match="new/x.xyz"):
        write_image(out / "new" / "x.xyz", photo())
    assert list(out.iterdir()) == []


def test_failed_write_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "keep.png"
    write_image(path, photo(seed=1))
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_image(path, photo(seed=2), {"seed": "2"})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.png"]


def test_non_latin_png_keyword_is_refused(tmp_path):
    with pytest.raises(InputError, match="k.png"):
        write_image(tmp_path / "k.png", photo(), {"hạt giống": "1"})
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------ collecting inputs

@pytest.fixture
def tree(tmp_path, monkeypatch):
    """a.jpg, notes.txt, d/{x.png, b.JPG, skip.txt, sub/{y.jpg, deeper/w.tiff}}, empty/, g/{1.png, 2.webp}."""
    monkeypatch.chdir(tmp_path)
    for name in ("a.jpg", "d/x.png", "d/b.JPG", "d/sub/y.jpg", "d/sub/deeper/w.tiff", "g/1.png", "g/2.webp",
                 "photo [1].jpg"):
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        Path(name).write_bytes(b"x")  # collecting never reads the files
    Path("notes.txt").write_text("n")
    Path("d/skip.txt").write_text("n")
    Path("empty").mkdir()
    return tmp_path


def test_collects_files_folders_and_globs_in_order(tree):
    paths, problems = collect_inputs(["notes.txt", "d", "g/*.png", "a.jpg"])
    assert problems == []
    assert paths == [Path(p) for p in ("notes.txt", "d/b.JPG", "d/sub/deeper/w.tiff", "d/sub/y.jpg", "d/x.png",
                                       "g/1.png", "a.jpg")]


def test_duplicates_are_removed_keeping_the_first(tree):
    paths, problems = collect_inputs(["a.jpg", "./a.jpg", str(tree / "a.jpg"), "d/sub/y.jpg", "d", "d/sub",
                                      "**/y.jpg"])
    assert problems == []
    assert paths == [Path(p) for p in ("a.jpg", "d/sub/y.jpg", "d/b.JPG", "d/sub/deeper/w.tiff", "d/x.png")]


def test_recursive_glob_and_literal_brackets(tree):
    paths, problems = collect_inputs(["**/*.jpg", "photo [1].jpg"])
    assert problems == []
    assert paths == [Path(p) for p in ("a.jpg", "d/sub/y.jpg", "photo [1].jpg")]
    assert collect_inputs(["g/*"]) == ([Path("g/1.png"), Path("g/2.webp")], [])


def test_problems_are_listed_and_the_rest_collected(tree):
    paths, problems = collect_inputs(["missing.jpg", "empty", "nothing/*.jpg", "g/*.bmp", "a.jpg"])
    assert paths == [Path("a.jpg")]
    assert problems == [("missing.jpg", "no such file or folder"), ("empty", "no pictures in folder"),
                        ("nothing/*.jpg", "pattern matches no pictures"), ("g/*.bmp", "pattern matches no pictures")]


def test_symlink_loops_are_reported_not_followed(tree):
    Path("d/sub/back").symlink_to(Path("d").resolve(), target_is_directory=True)  # d/sub/back -> d
    Path("d/self.jpg").symlink_to("self.jpg")  # a link to itself
    Path("d/gone.png").symlink_to("nowhere.png")
    Path("g/alias").symlink_to(Path("d").resolve(), target_is_directory=True)  # not a loop: d again elsewhere
    start = time.perf_counter()
    paths, problems = collect_inputs(["d", "g"])
    assert time.perf_counter() - start < 1
    assert paths == [Path(p) for p in ("d/b.JPG", "d/sub/deeper/w.tiff", "d/sub/y.jpg", "d/x.png", "g/1.png",
                                       "g/2.webp")]
    assert sorted(problems) == [("d/gone.png", "broken symbolic link"), ("d/self.jpg", "symlink loop"),
                                ("d/sub/back", "symlink loop")]
    assert collect_inputs(["d/self.jpg"]) == ([], [("d/self.jpg", "symlink loop")])


def test_unreadable_folder(tree, monkeypatch):
    locked = Path("d/sub")
    locked.chmod(0)
    if IS_ROOT:
        real_scandir = os.scandir

        def scandir(path="."):
            if Path(path) == locked:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real_scandir(path)
        monkeypatch.setattr(os, "scandir", scandir)
    try:
        paths, problems = collect_inputs(["d"])
    finally:
        locked.chmod(0o755)
    assert paths == [Path("d/b.JPG"), Path("d/x.png")]
    assert problems == [("d/sub", "permission denied")]


def test_read_errors_name_each_collected_file(tree):
    (tree / "e.jpg").write_bytes(b"")
    paths, problems = collect_inputs(["e.jpg", "a.jpg"])
    assert problems == []
    messages = []
    for path in paths:
        with pytest.raises(InputError) as info:
            read_image(path)
        messages.append(str(info.value))
    assert messages[0] == "empty file: e.jpg"
    assert messages[1].startswith("not a readable image: a.jpg (")
