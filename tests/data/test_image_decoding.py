"""Every image decoded faithfully or refused with its file named: camera orientation applied,
deep pixels scaled to 8 bits, only image formats, no decompression bomb, no link out of the
dataset root. The images are made here (a few hundred bytes each), not shipped."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facefair.data.images import FolderStore, decode_image
from facefair.errors import DataError


def _bytes(im: Image.Image, fmt: str, **kw: object) -> bytes:
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


def test_a_16_bit_grey_is_scaled_not_clipped() -> None:
    for value, want in ((32768, 128), (65535, 255), (0, 0)):
        data = _bytes(Image.fromarray(np.full((8, 8), value, np.uint16)), "PNG")
        assert Image.open(io.BytesIO(data)).mode == "I;16"
        assert decode_image(data, 8, "grey.png")[0, 0].tolist() == [want] * 3  # Pillow's own convert: 255


def test_camera_orientation_is_applied() -> None:
    a = np.zeros((32, 64, 3), np.uint8)
    a[:, :32] = (255, 0, 0)  # left half red, right half blue, as stored
    a[:, 32:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise: the left half on top
    px = decode_image(_bytes(Image.fromarray(a), "JPEG", quality=100, exif=exif), 32, "camera.jpg").astype(int)
    assert px[2, 28, 0] > 200 and px[2, 28, 2] < 60  # top: red
    assert px[29, 2, 2] > 200 and px[29, 2, 0] < 60  # bottom: blue


def test_transparent_pixels_are_black_as_before() -> None:
    a = np.zeros((4, 4, 4), np.uint8)
    a[..., 0], a[..., 3] = 255, 0  # red, fully transparent
    assert decode_image(_bytes(Image.fromarray(a, "RGBA"), "PNG"), 4, "x.png")[0, 0].tolist() == [0, 0, 0]


def test_what_is_not_a_face_image_is_refused_naming_the_file() -> None:
    gif = _bytes(Image.new("RGB", (4, 4)), "GIF")
    with pytest.raises(DataError, match="not an image in a supported format") as e:
        decode_image(gif, 4, "face_001.jpg")  # any format Pillow opens was accepted whatever the suffix
    assert "face_001.jpg" in str(e.value)
    png = bytearray(_bytes(Image.new("L", (1, 1)), "PNG"))  # a 1x1 PNG whose header claims 10000x10000
    png[16:24] = struct.pack(">II", 10000, 10000)
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))
    with pytest.raises(DataError, match="declares 10000x10000 pixels") as e:
        decode_image(bytes(png), 4, "bomb.png")
    assert "bomb.png" in str(e.value)
    png[16:24] = struct.pack(">II", 30000, 30000)  # beyond twice Pillow's own limit: it refuses on open
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))
    with pytest.raises(DataError, match="declares more than 25,000,000 pixels"):
        decode_image(bytes(png), 4, "bomb.png")


def test_a_link_out_of_the_dataset_root_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "secret.png"
    root.mkdir()
    outside.write_bytes(_bytes(Image.new("RGB", (4, 4)), "PNG"))
    (root / "inside.png").write_bytes(outside.read_bytes())
    (root / "link.png").symlink_to(outside)
    store = FolderStore(root)
    assert store.load("inside.png", 4).shape == (4, 4, 3)
    with pytest.raises(DataError, match="link that leaves the dataset root"):
        store.read("link.png")
