"""Region attribution by group: the landmark geometry, shares with known answers, the
bootstrap comparison, and a synthetic face whose shortcut is drawn in one region."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from facefair.analysis.regions import group_shares, region_report, shares, summary
from facefair.auditing import Audited
from facefair.data.synthetic import SYNTHETIC_TEMPLATE, make_synthetic
from facefair.errors import DataError
from facefair.explain.ig import IntegratedGradientsExplainer
from facefair.face_regions import (
    CELEBA_TEMPLATE,
    REGIONS,
    read_celeba_landmarks,
    region_map,
    region_maps,
    template,
)


def test_landmarks_follow_the_centre_crop_and_resize() -> None:
    lm = template(1, *CELEBA_TEMPLATE, "t")
    # 178x218 -> a 178 square from y = 20, then x 96/178
    assert lm.in_input(96)[0, 0] == pytest.approx([69 * 96 / 178, 91 * 96 / 178])
    m = region_map(lm.in_input(96)[0], 96)
    at = lambda x, y: REGIONS[m[int(y * 96 / 178) - 11, int(x * 96 / 178)]]
    assert at(69, 111) == "eyes" and at(108, 111) == "eyes" and at(88, 152) == "mouth"
    assert at(88, 135) == "nose" and at(88, 60) == "forehead_hair" and at(5, 190) == "background"
    assert at(88, 182) == "chin_jaw" and at(60, 135) == "cheeks" and at(69, 97) == "brows"
    assert set(np.unique(m)) == set(range(len(REGIONS)))  # every region exists on a face


def test_shares_and_group_differences_known_answers() -> None:
    maps = np.zeros((4, 8, 8), np.int8)
    maps[:, :4] = REGIONS.index("eyes")
    maps[:, 4:] = REGIONS.index("mouth")
    attr = np.zeros((4, 8, 8))
    attr[:2, :4] = 1.0      # images 0, 1: all mass on the eyes
    attr[2:, :4] = -1.0     # images 2, 3: half on the eyes (|.|), half on the mouth
    attr[2:, 4:] = 2.0 / 2
    s = shares(attr, maps)
    assert s[0, REGIONS.index("eyes")] == 1 and s[2, REGIONS.index("mouth")] == pytest.approx(0.5)
    assert s.sum(1) == pytest.approx(np.ones(4))
    rng = np.random.default_rng(0)
    n = 200
    s = np.zeros((2 * n, len(REGIONS)))
    s[:, REGIONS.index("eyes")] = np.r_[rng.uniform(0.5, 0.7, n), rng.uniform(0.2, 0.4, n)]
    s[:, REGIONS.index("cheeks")] = 1 - s[:, REGIONS.index("eyes")]
    doc = group_shares(s, np.r_[np.zeros(n, int), np.ones(n, int)], np.zeros(2 * n, int), ["a", "b"], ["no"], 300)
    eyes = next(d for d in doc["differences"] if d["region"] == "eyes")
    assert eyes["diff"] == pytest.approx(-0.3, abs=0.02) and eyes["beyond_noise"] and eyes["high"] < 0
    nose = next(d for d in doc["differences"] if d["region"] == "nose")
    assert nose["diff"] == 0 and not nose["beyond_noise"]
    assert summary(doc).startswith("Regions whose share of the attribution differs between groups beyond noise: "
                                   "eyes (-30.")


def test_a_shortcut_drawn_in_one_region_puts_that_groups_mass_there(tmp_path: Path) -> None:
    """Synthetic faces; in group B's images a white mark is drawn on the forehead, and the
    model's logit counts white pixels (plus a faint reading of every pixel, so group A's
    images have attributions too). Group B's mass must sit on the forehead and hair, beyond
    noise against group A's, and the summary must name that region first."""
    size = 48
    data = make_synthetic(n_train=8, n_val=8, n_test=160, size=size, seed=3)
    task = data.task("smile", "group")
    test = np.flatnonzero(data.split == 2)
    pts = template(1, *SYNTHETIC_TEMPLATE, "t").in_input(size)[0]
    maps = region_map(pts, size)
    mark = np.zeros((size, size), bool)
    ys = np.nonzero(maps == REGIONS.index("forehead_hair"))[0]
    mark[ys.min() + 1:ys.min() + 7, size // 2 - 6:size // 2 + 6] = True
    assert (maps[mark] == REGIONS.index("forehead_hair")).all()
    images = data.images.copy()
    for i in test[task.group[test] == 1]:
        images[i][mark] = 255
    data.images = images
    class WhiteDetector(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            white = (x.min(1).values ** 32).sum((1, 2))  # ~1 a white pixel, < 0.01 anything below 0.86
            return torch.stack([torch.zeros_like(white), white + 1e-3 * x.sum((1, 2, 3))], 1)

    model = WhiteDetector()
    explainer = IntegratedGradientsExplainer(Audited(), model, steps=16)  # Gauss-Legendre: exact to degree 31
    doc = region_report(explainer, "ig", task, test, size, tmp_path, n_boot=300,
                        template_file=None)
    assert doc["landmarks"] == "the synthetic faces' drawing template"
    forehead = [d for d in doc["differences"] if d["region"] == "forehead_hair"]
    assert forehead and all(d["beyond_noise"] and d["diff"] > 0.3 and d["group"] == "B" for d in forehead)
    assert "forehead_hair" in doc["summary"].split(";")[0]
    assert (tmp_path / "regions.png").is_file()
    kept = json.loads((tmp_path / "regions.json").read_text())
    assert len(kept["per_image"]["ids"]) == len(test) and kept["summary"] == doc["summary"]


def test_a_landmarks_file_whose_rows_do_not_match_the_images(tmp_path: Path) -> None:
    path = tmp_path / "list_landmarks_align_celeba.txt"
    path.write_text("2\nlefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y "
                    "rightmouth_x rightmouth_y\n000001.jpg 69 109 106 113 77 142 73 152 108 154\n"
                    "000002.jpg 69 110 107 112 81 135 70 151 108 153\n")
    lm = read_celeba_landmarks(path, np.array(["000002.jpg", "000001.jpg"]))
    assert lm.points[0, 2].tolist() == [81, 135] and lm.frame == (178, 218)
    assert region_maps(lm, 32).shape == (2, 32, 32)
    with pytest.raises(DataError, match=r"has no row for 1 of the 2 images \(e.g. 000003.jpg\): its rows do not "
                                        "match the images"):
        read_celeba_landmarks(path, np.array(["000001.jpg", "000003.jpg"]))
    path.write_text(path.read_text() + "000004.jpg 1 2 3\n")
    with pytest.raises(DataError, match=r"line 5: a row is an image name and 10 coordinates, found 4 fields"):
        read_celeba_landmarks(path, np.array(["000001.jpg"]))


def test_a_manifests_landmark_columns_are_landmarks_not_labels(tmp_path: Path) -> None:
    from PIL import Image

    from facefair.analysis.regions import landmarks_for
    from facefair.data.manifest import load_manifest
    from facefair.face_regions import LANDMARK_COLUMNS

    rows = []
    for k, (w, h) in enumerate([(40, 60), (64, 64), (60, 40), (50, 50)]):
        Image.new("RGB", (w, h), (128, 100, 90)).save(tmp_path / f"f{k}.png")
        pts = [w * 0.35, h * 0.45, w * 0.65, h * 0.45, w * 0.5, h * 0.6, w * 0.38, h * 0.72, w * 0.62, h * 0.72]
        rows.append([f"f{k}.png", "yes" if k % 2 else "no", "a" if k < 2 else "b", *[f"{v:g}" for v in pts]])
    text = ",".join(["image", "smiling", "tone", *LANDMARK_COLUMNS]) + "\n"
    (tmp_path / "m.csv").write_text(text + "".join(",".join(r) + "\n" for r in rows))
    data = load_manifest(tmp_path / "m.csv")
    assert data.attributes == ["smiling", "tone"]  # the coordinates are not labels
    lm = landmarks_for(data, np.array([0, 2]))
    assert lm.frame is None and lm.sizes.tolist() == [[40, 60], [60, 40]]
    # image 0 (40x60): the centre 40x40 square starts at y = 10; its nose (20, 36) -> (16, 20.8) at 32 px
    assert lm.in_input(32)[0, 2] == pytest.approx([16.0, (36 - 10) * 32 / 40])
    assert lm.in_input(32)[1, 2] == pytest.approx([(30 - 10) * 32 / 40, 24 * 32 / 40])
    (tmp_path / "bad.csv").write_text(text + "f0.png,no,a," + ",".join(["x"] * 10) + "\n")
    with pytest.raises(DataError, match=r"bad.csv, line 2: landmark columns must hold numbers"):
        load_manifest(tmp_path / "bad.csv")


def test_the_regions_command_writes_into_the_run_folder_or_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``facefair regions RUN`` on a trained run: the document and picture in RUN/regions (where
    the report finds them), or in --out; a share per region for every group and class, summing to 1."""
    from facefair.cli import main
    from facefair.config import TrainConfig
    from facefair.report.html import write_report
    from facefair.trainer import train

    run = tmp_path / "run"
    train(TrainConfig(dataset="synthetic", dataset_options={"n_train": 128, "n_val": 64, "n_test": 64},  # type: ignore[arg-type]
                      arch="tiny", size=32, epochs=1, batch_size=32, progress=False), run)
    assert main(["regions", str(run), "--n", "24", "--steps", "4", "--bootstrap", "50"]) == 0
    doc_file = run / "regions" / "regions.json"
    assert f"wrote {doc_file} and regions.png" in capsys.readouterr().out
    doc = json.loads(doc_file.read_text())
    assert (run / "regions" / doc["png"]).is_file() and doc["n_images"] == 24
    assert sum(c["n"] for c in doc["cells"]) == 24
    for cell in doc["cells"]:
        assert sum(v[0] for v in cell["share"].values()) == pytest.approx(1.0, abs=1e-6)
    assert main(["evaluate", str(run), "--bootstrap", "20", "--no-progress"]) == 0
    page = write_report([str(run)], tmp_path / "report.html").read_text()
    assert "Where in the face, per group" in page
    assert main(["regions", str(run), "--n", "8", "--method", "ablation", "--bootstrap", "20",
                 "--out", str(tmp_path / "elsewhere")]) == 0
    assert f"wrote {tmp_path / 'elsewhere' / 'regions.json'}" in capsys.readouterr().out
