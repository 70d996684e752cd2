"""``posekit data inspect | convert | show``, run in-process through posekit.cli.main."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from posekit import cli
from posekit.data.formats import read_annotations, read_coco, write_coco
from posekit.data.synthetic import render_scene
from posekit.io import read_image, write_image


@pytest.fixture
def run(monkeypatch, capsys):
    """Call ``posekit.cli.main(argv)``, returning ``(exit code, stdout, stderr)``."""

    def _run(*argv: str) -> tuple[int, str, str]:
        try:
            code = cli.main(list(argv))
        except SystemExit as e:   # argparse: --help and usage errors
            code = e.code
        out, err = capsys.readouterr()
        return code, out, err
    return _run


@pytest.mark.parametrize("verb", [[], ["inspect"], ["convert"], ["show"], ["sample"]])
def test_help_for_every_verb(run, verb):
    code, out, _ = run("data", *verb, "--help")
    assert code == 0 and "usage: posekit data" in out


def test_data_without_verb_prints_help(run):
    code, out, _ = run("data")
    assert code == 2 and "inspect" in out and "convert" in out and "show" in out and "sample" in out


def test_inspect_coco_sample(run, shared_data):
    code, out, err = run("data", "inspect", str(shared_data / "coco" / "test_coco.json"))
    assert code == 0, err
    lines = out.splitlines()
    assert "images: 4 (0 without people)" in lines
    assert "people: 14 (0 crowd, 2 without labelled keypoints)" in lines
    assert "keypoint spec: coco17 (17 keypoints)" in lines
    # per-joint rows: index, name, labelled, visible, occluded; they add up to the total
    rows = [ln.split() for ln in lines if ln.startswith("  ") and ln.split()[1] in
            ("nose", "left_eye", "right_ankle", "left_hip")]
    assert len(rows) == 4
    raw = json.loads((shared_data / "coco" / "test_coco.json").read_text())
    nose = sum(a["keypoints"][2] > 0 for a in raw["annotations"])
    assert [r for r in rows if r[1] == "nose"][0][2] == str(nose)
    total = sum(v > 0 for a in raw["annotations"] for v in a["keypoints"][2::3])
    assert f"labelled keypoints: {total} " in out


def test_inspect_mpii_sample_mentions_estimated_head_boxes(run, shared_data):
    code, out, _ = run("data", "inspect", str(shared_data / "mpii" / "test_mpii.json"))
    assert code == 0
    assert "images: 5" in out and "people: 5" in out and "mpii16" in out
    assert "estimated from upper_neck/head_top" in out
    ankle = [ln.split() for ln in out.splitlines() if " right_ankle " in ln][0]
    assert ankle[2] == "3"   # two of the five people have no ankles labelled


def test_convert_mpii_and_aic_to_coco(run, shared_data, tmp_path):
    for src in ("mpii/test_mpii.json", "aic/test_aic.json"):
        out = tmp_path / (src.split("/")[0] + ".json")
        code, stdout, err = run("data", "convert", str(shared_data / src), str(out))
        assert code == 0, err
        assert "COCO keypoints JSON" in stdout
        a, b = read_annotations(shared_data / src), read_coco(out)
        assert [r.file_name for r in a] == [r.file_name for r in b]
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x.keypoints, y.keypoints)
            np.testing.assert_array_equal(x.boxes, y.boxes)


def test_bad_input_one_line_and_nonzero_exit(run, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [}')
    code, out, err = run("data", "inspect", str(bad))
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and str(bad) in err and "malformed JSON" in err
    kp_bad = tmp_path / "kp.json"
    kp_bad.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}],
        "annotations": [{"id": 1, "image_id": 1, "keypoints": [1, 2, 2] * 16}],
        "categories": [{"id": 1, "name": "person", "keypoints": [f"k{i}" for i in range(17)]}]}))
    code, _, err = run("data", "convert", str(kp_bad), str(tmp_path / "o.json"))
    assert code == 1 and f"{kp_bad}[annotations[0]]" in err and "expected 51" in err
    assert not (tmp_path / "o.json").exists()
    import scipy.io
    mat = tmp_path / "joints.mat"
    scipy.io.savemat(str(mat), {"joints": np.zeros((14, 2, 7))})
    code, _, err = run("data", "inspect", str(mat))
    assert code == 1 and str(mat) in err and "14x3xN (LSP-extended)" in err


def test_show_draws_pngs_and_skips_missing_image(run, shared_data, tmp_path):
    raw = json.loads((shared_data / "coco" / "test_coco.json").read_text())
    raw["images"].insert(1, {"id": 1, "file_name": "missing.jpg", "width": 64, "height": 48})
    ann = tmp_path / "with_missing.json"
    ann.write_text(json.dumps(raw))
    out_dir = tmp_path / "overlays"
    code, out, err = run("data", "show", str(ann), "--images", str(shared_data / "coco"),
                         "--out", str(out_dir))
    assert code == 1                                         # one image failed ...
    pngs = sorted(p.name for p in out_dir.iterdir())
    assert pngs == ["000000000785.png", "000000040083.png", "000000196141.png", "000000197388.png"]
    assert "missing.jpg" in err and f"{ann}[1]" in err and "skipped" in err
    assert "wrote 4 overlays" in out and "1 images failed" in out
    # ... and the rest are drawn: overlay has the image's size and differs from it
    src = read_image(shared_data / "coco" / "000000000785.jpg")
    drawn = read_image(out_dir / "000000000785.png")
    assert drawn.shape == src.shape
    assert (np.abs(drawn.astype(int) - src).sum(-1) > 60).mean() > 0.002


def test_show_mpii_skips_missing_image(run, shared_data, tmp_path):
    entries = json.loads((shared_data / "mpii" / "test_mpii.json").read_text())
    entries.insert(2, dict(entries[0], image="gone.jpg"))
    ann = tmp_path / "mpii.json"
    ann.write_text(json.dumps(entries))
    code, out, err = run("data", "show", str(ann), "--images", str(shared_data / "mpii"),
                         "--out", str(tmp_path / "o"))
    assert code == 1 and "gone.jpg" in err and f"{ann}[2]" in err   # third image record
    assert len(list((tmp_path / "o").glob("*.png"))) == 5


def test_show_mpii_draws_head_boxes(run, shared_data, tmp_path):
    code, out, err = run("data", "show", str(shared_data / "mpii" / "test_mpii.json"),
                         "--images", str(shared_data / "mpii"), "--out", str(tmp_path), "--limit", "1")
    assert code == 0, err
    rec = read_annotations(shared_data / "mpii" / "test_mpii.json")[0]
    img = read_image(tmp_path / "005808361.png")
    x0, y0, x1, _ = np.round(rec.head_boxes[0]).astype(int)
    top_edge = img[y0, x0 + 5:x1 - 5]
    assert (top_edge > 240).all(axis=-1).mean() > 0.9        # white head-box edge


def test_data_modules_do_not_import_torch():
    code = ("import sys, posekit.commands.data, posekit.data.formats, posekit.data.sample; "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# ------------------------------------------------------------------ outputs a user can trust
@pytest.fixture
def scenes(tmp_path):
    """Two small synthetic scenes: ``tmp_path/imgs/scene_{0,1}.png`` and their COCO file
    ``tmp_path/scenes.json`` (no ../shared needed)."""
    imgs = tmp_path / "imgs"
    records = []
    for i in range(2):
        img, rec = render_scene(i, size=(96, 72), num_people=(1, 2), file_name=f"scene_{i}.png",
                                image_id=i + 1)
        write_image(imgs / rec.file_name, img)
        records.append(rec)
    ann = tmp_path / "scenes.json"
    write_coco(records, ann)
    return ann, imgs


def _one_clean_line(err: str) -> None:
    """One error line, from posekit's own checks: no Python exception name, no -v hint."""
    assert err.count("\n") == 1, err
    assert "Error:" not in err and "Traceback" not in err and "run with -v" not in err, err


def test_convert_to_an_existing_folder_is_one_clear_line(run, scenes, tmp_path):
    ann, _ = scenes
    folder = tmp_path / "outdir"
    folder.mkdir()
    code, out, err = run("data", "convert", str(ann), str(folder))
    assert code == 1 and out == ""
    _one_clean_line(err)
    assert f"{folder}: is a folder" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imgs", "outdir", "scenes.json"]


def test_convert_under_a_file_is_one_clear_line(run, scenes, tmp_path):
    ann, _ = scenes
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    code, _, err = run("data", "convert", str(ann), str(blocker / "o.json"))
    assert code == 1
    _one_clean_line(err)
    assert str(blocker) in err and "a file of that name exists" in err
    assert blocker.read_text() == "x"


def test_convert_refuses_to_write_over_its_input(run, scenes):
    ann, _ = scenes
    before = ann.read_bytes()
    code, _, err = run("data", "convert", str(ann), str(ann.parent / "." / ann.name))
    assert code == 1 and "is the input file" in err
    _one_clean_line(err)
    assert ann.read_bytes() == before


def test_show_out_is_a_file_or_below_one(run, scenes, tmp_path):
    ann, imgs = scenes
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    code, _, err = run("data", "show", str(ann), "--images", str(imgs), "--out", str(blocker))
    assert code == 1 and f"{blocker}: --out must be a folder" in err
    _one_clean_line(err)
    code, _, err = run("data", "show", str(ann), "--images", str(imgs),
                       "--out", str(blocker / "sub"))
    assert code == 1 and "cannot create the output folder" in err and str(blocker) in err
    _one_clean_line(err)
    assert blocker.read_text() == "x"


def test_show_never_writes_over_an_input_image(run, scenes):
    ann, imgs = scenes
    before = {p.name: p.read_bytes() for p in imgs.iterdir()}
    # overlays are named <stem>.png: with --out = --images they would replace scene_0.png
    for out in (imgs, imgs / "." / ".." / imgs.name):
        code, stdout, err = run("data", "show", str(ann), "--images", str(imgs), "--out", str(out))
        assert code == 1 and stdout == "" and "--out is the --images folder" in err
        _one_clean_line(err)
    assert {p.name: p.read_bytes() for p in imgs.iterdir()} == before


def test_show_reports_a_missing_images_folder_once(run, scenes, tmp_path):
    ann, _ = scenes
    code, out, err = run("data", "show", str(ann), "--images", str(tmp_path / "nope"),
                         "--out", str(tmp_path / "o"))
    assert code == 1 and out == ""
    _one_clean_line(err)
    assert f"{tmp_path / 'nope'}: --images folder not found" in err


def test_show_draws_the_synthetic_scenes(run, scenes, tmp_path):
    ann, imgs = scenes
    code, out, err = run("data", "show", str(ann), "--images", str(imgs),
                         "--out", str(tmp_path / "o"))
    assert code == 0, err
    assert "wrote 2 overlays" in out
    for name in ("scene_0.png", "scene_1.png"):
        src, drawn = read_image(imgs / name), read_image(tmp_path / "o" / name)
        assert drawn.shape == src.shape and (drawn != src).any()


def test_show_clips_keypoints_and_head_boxes_at_2e8(run, tmp_path):
    """Keypoints and head boxes far outside the image (2e8) are clipped when drawn, never an
    integer-overflow crash in OpenCV."""
    img = np.full((60, 80, 3), 90, np.uint8)
    write_image(tmp_path / "a.png", img)
    joints = [[40.0, 30.0]] * 16
    joints[3] = [2e8, -2e8]
    entry = {"image": "a.png", "joints": joints, "joints_vis": [1] * 16, "center": [40.0, 30.0],
             "scale": 0.2, "head_box": [1.0, 1.0, 2e8, 2e8]}
    (tmp_path / "m.json").write_text(json.dumps([entry]))
    code, out, err = run("data", "show", str(tmp_path / "m.json"), "--images", str(tmp_path),
                         "--out", str(tmp_path / "o"))
    assert code == 0, err
    drawn = read_image(tmp_path / "o" / "a.png")
    assert drawn.shape == img.shape and (drawn != img).any()
