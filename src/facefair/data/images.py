"""Image stores (a folder or the archive a dataset ships as) and the one decode function.

Every image, whether read from a folder, a zip or turned into the prepared cache, goes through
:func:`decode_image`, so training from the cache sees exactly the tensors it would see from
the files.
"""

from __future__ import annotations

import io
import os
import warnings
import zipfile
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


#: the formats a face image may come in (whatever the file's suffix says); MPO is a camera JPEG
FORMATS = ("JPEG", "MPO", "PNG", "BMP", "WEBP")
#: the largest image decoded (25 megapixels, 75 MB as RGB): a small file that declares more is a
#: decompression bomb, refused from its header before any pixel is decoded
MAX_PIXELS = 25_000_000
Image.init()  # every plugin registered, so that the list below names the ones this Pillow has
_OPENABLE = [f for f in FORMATS if f in Image.OPEN]


def decode_image(data: bytes, size: int, where: str) -> np.ndarray:
    """Image bytes -> (size, size, 3) uint8 RGB: camera orientation applied, any bit depth
    scaled to 8 bits, centre square crop, bilinear resize.

    The centre crop keeps the face's aspect ratio (CelebA's aligned images are 178x218);
    ``where`` names the file in the error raised for an empty, corrupt, oversized or
    non-image file.
    """
    if not data:
        raise DataError("empty image file (0 bytes)", where)
    try:
        with warnings.catch_warnings():  # Pillow warns of sizes facefair refuses below its own limit
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=_OPENABLE)
        with im:
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise DataError(f"image declares {w}x{h} pixels, more than the {MAX_PIXELS:,} facefair decodes "
                                "(a decompression bomb, or not a face crop)", where)
            im.load()
            rgb = _to_rgb(ImageOps.exif_transpose(im))
    except DataError:
        raise
    except Image.DecompressionBombError:  # Pillow refuses twice its own limit when it opens the header
        raise DataError(f"image declares more than {MAX_PIXELS:,} pixels, the most facefair decodes "
                        "(a decompression bomb, or not a face crop)", where) from None
    except UnidentifiedImageError:
        raise DataError(f"not an image in a supported format ({', '.join(FORMATS)})", where) from None
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(f"corrupt or unreadable image: {e}", where) from None
    w, h = rgb.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    rgb = rgb.crop((left, top, left + side, top + side))
    if side != size:
        rgb = rgb.resize((size, size), Image.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8)


def _to_rgb(im: Image.Image) -> Image.Image:
    """8-bit RGB of any mode. Pillow's own convert clips 16- and 32-bit values at 255 (a
    16-bit mid-grey becomes white), so deep images are scaled to their bit depth first."""
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        if im.mode == "F":
            top = 1.0 if a.size and float(np.nanmax(a)) <= 1.0 else 255.0
        else:
            top = 65535.0 if im.mode.startswith("I;16") or (a.size and a.max() > 255) else 255.0
        a = np.clip(np.nan_to_num(a) / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        im = Image.fromarray(a, mode="L")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        flat = Image.new("RGBA", im.size, (0, 0, 0, 255))  # transparent pixels as black, as Pillow's RGB convert
        im = Image.alpha_composite(flat, im)
    return im.convert("RGB")


class ImageStore(ABC):
    """Named image files under one root; names are POSIX paths relative to that root."""

    @abstractmethod
    def names(self) -> set[str]:
        """Every image name present."""

    @abstractmethod
    def read(self, name: str) -> bytes:
        """The raw bytes of one image."""

    @abstractmethod
    def describe(self, name: str = "") -> str:
        """A human-readable location, for messages."""

    def load(self, name: str, size: int) -> np.ndarray:
        """Decode one image to (size, size, 3) uint8."""
        return decode_image(self.read(name), size, self.describe(name))


class FolderStore(ImageStore):
    """Images in an extracted folder."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def names(self) -> set[str]:
        out = set()
        for dirpath, _, files in os.walk(self.root):
            rel = os.path.relpath(dirpath, self.root)
            for f in files:
                if f.lower().endswith(IMAGE_SUFFIXES):
                    out.add(f if rel == "." else f"{rel}/{f}".replace(os.sep, "/"))
        return out

    def read(self, name: str) -> bytes:
        path = self.root / name
        if path.is_symlink() and not path.resolve().is_relative_to(self.root.resolve()):
            raise DataError("image is a link that leaves the dataset root", path)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise DataError("image not found", path) from None
        except OSError as e:
            raise DataError(f"cannot read image: {e.strerror}", path) from None

    def describe(self, name: str = "") -> str:
        return str(self.root / name) if name else str(self.root)


class ZipStore(ImageStore):
    """Images inside a zip archive, optionally under a folder prefix within it.

    The archive handle is opened lazily per process, so DataLoader workers each get their own.
    """

    def __init__(self, path: Path, prefix: str = ""):
        self.path = Path(path)
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._zip: zipfile.ZipFile | None = None
        self._pid = -1
        try:
            with zipfile.ZipFile(self.path):
                pass
        except (zipfile.BadZipFile, OSError) as e:
            raise DataError(f"not a readable zip archive: {e}", self.path) from None

    def _handle(self) -> zipfile.ZipFile:
        if self._zip is None or self._pid != os.getpid():
            self._zip = zipfile.ZipFile(self.path)
            self._pid = os.getpid()
        return self._zip

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_zip"], state["_pid"] = None, -1
        return state

    def names(self) -> set[str]:
        n = len(self.prefix)
        return {m[n:] for m in self._handle().namelist()
                if m.startswith(self.prefix) and m.lower().endswith(IMAGE_SUFFIXES)}

    def read(self, name: str) -> bytes:
        try:
            return self._handle().read(self.prefix + name)
        except KeyError:
            raise DataError("image not found in archive", self.describe(name)) from None
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise DataError(f"cannot read archive member: {e}", self.describe(name)) from None

    def describe(self, name: str = "") -> str:
        return f"{self.path}:{self.prefix}{name}" if name else str(self.path)


def open_store(root: Path, folder: str, archive: str, prefix_in_archive: str = "") -> ImageStore:
    """The folder ``root/folder`` if extracted, else the archive ``root/archive``."""
    if folder and (root / folder).is_dir():
        return FolderStore(root / folder)
    if not folder and root.is_dir() and not (root / archive).is_file():
        return FolderStore(root)
    if (root / archive).is_file():
        return ZipStore(root / archive, prefix_in_archive)
    wanted = f"'{folder}/' or '{archive}'" if folder else f"image folders or '{archive}'"
    raise DataError(f"no images found: expected {wanted}", root)
