"""Dataset readers on miniature datasets in the official layouts (folder and archive)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import jpeg_bytes, write_celeba

from facefair.data import load_dataset
from facefair.data.images import decode_image
from facefair.errors import ConfigError, DataError


@pytest.mark.parametrize("as_zip", [False, True])
def test_celeba_folder_and_zip(tmp_path: Path, as_zip: bool) -> None:
    root = write_celeba(tmp_path / "c", n=12, absent=(4,), as_zip=as_zip)
    data = load_dataset("celeba", root)
    assert len(data) == 11
    assert data.notes and "1 of 12 labelled images are absent" in data.notes[0]
    assert "000005.jpg" not in set(data.ids)
    assert set(np.unique(data.split)) == {0, 1, 2}
    assert data.classes["Male"] == ["not Male", "Male"]
    img = data.store.load(str(data.ids[0]), 32)
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    lines = (root / "list_attr_celeba.txt").read_text().splitlines()
    row = lines[2].split()
    assert data.labels["Smiling"][0] == (int(row[2]) + 1) // 2


@pytest.mark.parametrize("edit,line,msg", [
    (lambda ls: ls.__setitem__(4, ls[4] + " 1"), 5, "expected an image name and 3 values, found 5"),
    (lambda ls: ls.__setitem__(3, ls[3].replace("-1", " x", 1).replace(" 1", " x", 1)), 4, "must be -1 or 1"),
    (lambda ls: ls.__setitem__(6, ls[6].replace(" 1", " 0", 1).replace("-1", " 0", 1)), 7, "must be -1 or 1"),
    (lambda ls: ls.__setitem__(0, "13"), 1, "announces 13 rows but the file has 12"),
    (lambda ls: ls.__setitem__(5, ls[2]), 6, "duplicate image name"),
])
def test_celeba_malformed_label_file(tmp_path: Path, edit, line: int, msg: str) -> None:
    root = write_celeba(tmp_path / "c", n=12)
    path = root / "list_attr_celeba.txt"
    ls = path.read_text().splitlines()
    edit(ls)
    path.write_text("\n".join(ls) + "\n")
    with pytest.raises(DataError, match=rf"list_attr_celeba\.txt, line {line}: .*{msg}"):
        load_dataset("celeba", root)


def test_unknown_attribute_suggests_closest(celeba_dir: Path) -> None:
    data = load_dataset("celeba", celeba_dir)
    with pytest.raises(ConfigError, match="did you mean 'Smiling'"):
        data.task("smiling", "Male")
    with pytest.raises(ConfigError, match="did you mean 'Male'"):
        data.task("Smiling", "Mal")


def test_split_with_one_group_is_an_error(tmp_path: Path) -> None:
    root = write_celeba(tmp_path / "c", n=12)
    data = load_dataset("celeba", root)
    data.labels["Male"][data.split == 2] = 1
    with pytest.raises(DataError, match="split 'test' has only one 'Male' group"):
        data.task("Smiling", "Male")


def test_missing_root_and_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="root folder not found"):
        load_dataset("celeba", tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="list_attr_celeba.txt: label file not found"):
        load_dataset("celeba", tmp_path / "empty")
    with pytest.raises(ConfigError, match="needs --root"):
        load_dataset("celeba")


def test_corrupt_and_empty_images_are_named() -> None:
    with pytest.raises(DataError, match="x/a.jpg: empty image file"):
        decode_image(b"", 32, "x/a.jpg")
    with pytest.raises(DataError, match="x/b.jpg: corrupt or unreadable image"):
        decode_image(b"\xff\xd8\xff\xe0 not really a jpeg", 32, "x/b.jpg")
    truncated = jpeg_bytes(0)[:200]
    with pytest.raises(DataError, match="x/c.jpg: corrupt"):
        decode_image(truncated, 32, "x/c.jpg")


def test_decode_centre_crops_then_resizes() -> None:
    # 40 x 48 image with a distinct band at the top: the centre crop removes it
    from io import BytesIO

    from PIL import Image

    arr = np.full((48, 40, 3), 100, np.uint8)
    arr[:4] = 250
    buf = BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    out = decode_image(buf.getvalue(), 20, "t.png")
    assert out.shape == (20, 20, 3) and int(out.max()) == 100


def write_fairface(root: Path, n_train: int = 30, n_val: int = 14, as_zip: bool = False) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    races = ["White", "Black", "East Asian"]
    ages = ["3-9", "20-29", "10-19", "more than 70"]
    files = {}
    for part, n in (("train", n_train), ("val", n_val)):
        rows = ["file,age,gender,race,service_test"]
        for i in range(1, n + 1):
            f = f"{part}/{i}.jpg"
            rows.append(f"{f},{ages[i % 4]},{'Male' if i % 2 else 'Female'},{races[i % 3]},{i % 2 == 0}")
            files[f] = jpeg_bytes(i, 32, 32)
        (root / f"fairface_label_{part}.csv").write_text("\n".join(rows) + "\n")
    if as_zip:
        with zipfile.ZipFile(root / "fairface-img-margin025-trainval.zip", "w") as z:
            for f, b in files.items():
                z.writestr(f, b)
    else:
        for f, b in files.items():
            (root / f).parent.mkdir(exist_ok=True)
            (root / f).write_bytes(b)
    return root


@pytest.mark.parametrize("as_zip", [False, True])
def test_fairface_val_is_test_and_validation_is_carved(tmp_path: Path, as_zip: bool) -> None:
    root = write_fairface(tmp_path / "ff", as_zip=as_zip)
    data = load_dataset("fairface", root, val_fraction=0.2, split_seed=3)
    assert (data.split == 2).sum() == 14 and (data.split == 1).sum() == 6 and (data.split == 0).sum() == 24
    assert all(i.startswith("val/") for i in data.ids[data.split == 2])
    again = load_dataset("fairface", root, val_fraction=0.2, split_seed=3)
    assert (again.split == data.split).all()
    assert data.classes["gender"] == ["Female", "Male"]
    assert data.classes["age"] == ["3-9", "10-19", "20-29", "more than 70"]
    task = data.task("gender", "race+gender")
    assert task.n_groups == 6 and "White|Male" in task.group_classes  # FineFACE Table 2 groups
    assert data.store.load("train/3.jpg", 16).shape == (16, 16, 3)


def test_fairface_bad_row(tmp_path: Path) -> None:
    root = write_fairface(tmp_path / "ff")
    p = root / "fairface_label_val.csv"
    ls = p.read_text().splitlines()
    ls[4] = "val/4.jpg,20-29,,White,False"
    p.write_text("\n".join(ls) + "\n")
    with pytest.raises(DataError, match=r"fairface_label_val\.csv, line 5: empty value in column 'gender'"):
        load_dataset("fairface", root)


def test_utkface_names_keep_the_labels_they_carry(tmp_path: Path) -> None:
    d = tmp_path / "UTKFace"
    d.mkdir()
    good = ["25_0_0_20170116174525125.jpg.chip.jpg", "31_1_1_20170116.jpg.chip.jpg", "2_1_2_2017.jpg",
            "70_0_3_20170117.jpg.chip.jpg", "45_1_4_2017.jpg.chip.jpg", "8_0_1_2017.jpg"]
    # the real release's slips: no race field, a stray space, a missing dot, an empty field
    partial = ["39_1_20170116174525125.jpg.chip.jpg", "61_0_1_20170109150557335 .jpg.chip.jpg",
               "50_1_0_20170109jpg.chip.jpg", "53__0_20170116184028385.jpg.chip.jpg"]
    hopeless = ["x_y_z.jpg", "readme.txt"]
    for i, n in enumerate(good + partial + hopeless):
        (d / n).write_bytes(jpeg_bytes(i, 24, 24))
    data = load_dataset("utkface", tmp_path, split_seed=0)
    assert len(data) == 10
    assert data.skipped == [{"file": "x_y_z.jpg", "why": "no label in the name: age 'x'; gender 'y'; no race field"}]
    assert any("lack some label" in n for n in data.notes)

    def label(name: str, attr: str) -> str | None:
        code = data.labels[attr][[str(i).rsplit("/", 1)[-1] for i in data.ids].index(name)]
        return None if code < 0 else data.classes[attr][code]

    assert (label(good[1], "gender"), label(good[1], "race"), label(good[1], "age")) == ("Female", "Black", "30-39")
    assert label(good[3], "age") == "more than 70"  # FairFace's name for the last bin
    assert (label(partial[0], "gender"), label(partial[0], "race"), label(partial[0], "age")) == ("Female", None, "30-39")
    assert (label(partial[1], "race"), label(partial[2], "race")) == ("Black", "White")
    assert (label(partial[3], "gender"), label(partial[3], "age")) == (None, "50-59")
    # a gender task keeps the image without race; a race task leaves it out and says why
    from facefair.evaluation import cross_task  # the cross-dataset task (no per-split group check)

    gender = cross_task(data, "gender", "age", "Male")
    race = cross_task(data, "gender", "race", "Male")
    everyone = len(gender.indices("all"))
    assert everyone == 9 and len(race.indices("all")) == 8
    assert {s["file"] for s in race.skipped()} == {"x_y_z.jpg", partial[0], partial[3]}
    assert data.classes["age"][0] == "0-2" and data.classes["gender"] == ["Female", "Male"]


def test_utkface_same_image_in_two_folders_counts_once(tmp_path: Path) -> None:
    names = ["25_0_0_20170116174525125.jpg.chip.jpg", "31_1_1_20170116174525126.jpg.chip.jpg"]
    for folder in ("aligned", "crop_part1"):
        (tmp_path / folder).mkdir()
        for i, n in enumerate(names):
            (tmp_path / folder / n).write_bytes(jpeg_bytes(i, 24, 24))
    data = load_dataset("utkface", tmp_path, split_seed=0)
    assert len(data) == 2 and sorted(data.ids) == [f"aligned/{n}" for n in names]
    assert any("2 file names appear twice" in n and "counted once" in n for n in data.notes)


def test_manifest(tmp_path: Path) -> None:
    (tmp_path / "imgs").mkdir()
    rows = ["image,smiling,skin,split"]
    for i in range(12):
        (tmp_path / "imgs" / f"{i}.jpg").write_bytes(jpeg_bytes(i, 20, 20))
        rows.append(f"imgs/{i}.jpg,{1 if i % 2 else -1},{'dark' if i % 3 else 'light'},{['train', 'val', 'test'][i % 3]}")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    data = load_dataset("manifest", manifest=tmp_path / "m.csv")
    assert data.classes["smiling"] == ["-1", "1"] and data.labels["smiling"][1] == 1
    assert (data.split == np.array([0, 1, 2] * 4)).all()
    assert data.store.load("imgs/3.jpg", 8).shape == (8, 8, 3)


@pytest.mark.parametrize("row,msg", [
    ("imgs/missing.jpg,1,a", "image 'imgs/missing.jpg' not found"),
    ("../outside.jpg,1,a", "leaves the dataset root"),
    ("imgs/0.jpg,,a", "empty label in column 'y'"),
    ("imgs/0.jpg,1", "expected 3 columns, found 2"),
])
def test_manifest_errors_name_the_line(tmp_path: Path, row: str, msg: str) -> None:
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "0.jpg").write_bytes(jpeg_bytes(0))
    (tmp_path / "outside.jpg").write_bytes(jpeg_bytes(1))
    d = tmp_path / "ds"
    d.mkdir()
    (d / "imgs").symlink_to(tmp_path / "imgs")
    (d / "m.csv").write_text("image,y,g\nimgs/0.jpg,0,b\n" + row + "\n")
    with pytest.raises(DataError, match=rf"m\.csv, line 3: .*{msg}"):
        load_dataset("manifest", manifest=d / "m.csv")
