"""``posekit data sample``: a sample every README example runs on, without ../shared.

The synthetic part needs nothing from the network. The astronaut part needs the demo photo,
which :func:`posekit.demo.fetch_demo_image` fetches once with pip and caches (``make demo``
does it); those tests skip, naming the reason, only when pip cannot fetch it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from posekit import cli
from posekit.data import sample
from posekit.data.formats import read_annotations, read_coco, read_coco_results
from posekit.errors import DataError, PosekitError
from posekit.io import VideoReader, read_image, write_image
from posekit.skeleton import COCO17, MPII16, remap_index

SYNTHETIC = ["synthetic_1.png", "synthetic_2.png", "synthetic_3.png"]


@pytest.fixture
def run(capsys):
    """``posekit.cli.main(argv)`` -> ``(exit code, stdout, stderr)``."""

    def _run(*argv: str) -> tuple[int, str, str]:
        code = cli.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err
    return _run


@pytest.fixture(scope="module")
def photo():
    from posekit.demo import fetch_demo_image

    try:
        return fetch_demo_image()
    except PosekitError as e:
        pytest.skip(f"the demo photo is not cached and pip cannot fetch it: {e}")


def test_synthetic_sample_feeds_inspect_convert_show_and_eval(run, tmp_path):
    d = tmp_path / "sample"
    code, out, err = run("data", "sample", "--out", str(d), "--no-photo")
    assert code == 0, err
    assert sorted(p.name for p in d.iterdir()) == sorted(
        SYNTHETIC + ["coco.json", "coco_results.json", "README.txt"])
    people = sum(r.num_people for _, r in sample.synthetic_scenes())
    assert people >= 6                                     # "several people" for eval

    code, out, err = run("data", "inspect", str(d / "coco.json"))
    assert code == 0, err
    assert "images: 3 (0 without people)" in out and f"people: {people} (0 crowd" in out

    code, out, err = run("data", "convert", str(d / "coco.json"), str(tmp_path / "copy.json"))
    assert code == 0, err
    for a, b in zip(read_coco(d / "coco.json"), read_coco(tmp_path / "copy.json")):
        np.testing.assert_array_equal(a.keypoints, b.keypoints)

    code, out, err = run("data", "show", str(d / "coco.json"), "--images", str(d),
                         "--out", str(tmp_path / "overlays"))
    assert code == 0 and "wrote 3 overlays" in out, err

    code, out, err = run("eval", str(d / "coco.json"), str(d / "coco_results.json"),
                         "--metric", "coco", "--format", "json")
    assert code == 0, err
    stats = json.loads(out)
    assert 0.2 < stats["AP"] < 0.95 and 0.2 < stats["AR"] < 0.95   # noisy: not perfect, not junk
    code, out, err = run("eval", str(d / "coco.json"), str(d / "coco_results.json"),
                         "--metric", "pck")
    assert code == 0 and "PCK (bbox)@0.2" in out, err


def test_synthetic_ground_truth_is_exact_and_images_lossless(tmp_path):
    written = sample.write_sample(tmp_path, photo=None)
    assert [p.name for p in written] == SYNTHETIC + ["coco.json", "coco_results.json", "README.txt"]
    got = read_coco(tmp_path / "coco.json")
    for (img, rec), back in zip(sample.synthetic_scenes(), got):
        assert back.file_name == rec.file_name and back.image_id == rec.image_id
        np.testing.assert_array_equal(back.keypoints, rec.keypoints)
        np.testing.assert_array_equal(back.boxes, rec.boxes)
        np.testing.assert_array_equal(read_image(tmp_path / rec.file_name), img)


def test_simulated_predictions_have_the_documented_noise(tmp_path):
    sample.write_sample(tmp_path, photo=None)
    gt = read_coco(tmp_path / "coco.json")
    res = read_coco_results(tmp_path / "coco_results.json", num_keypoints=17)
    people = [(r, p) for r in gt for p in range(r.num_people)]
    assert len(res) == len(people)
    for i, (e, (r, p)) in enumerate(zip(res, people)):
        assert e.image_id == r.image_id
        level = i % 3
        assert e.score == (0.9, 0.75, 0.5)[level]
        height = r.boxes[p, 3] - r.boxes[p, 1]
        err = (e.keypoints[:, :2] - r.keypoints[p, :, :2]) / height
        # 34 normal draws: the sample standard deviation lies within +-45 % of sigma
        assert 0.55 < err.std() / (0.02, 0.05, 0.10)[level] < 1.45, (i, err.std())


def test_the_astronaut_annotations_agree_with_each_other_and_with_the_model():
    coco, mpii = sample.astronaut_records()
    # the COCO and MPII hand annotations are one person: equal on the joints both specs have
    shared = remap_index(MPII16, COCO17)
    assert len(shared) == 12
    for i, j in shared:
        np.testing.assert_array_equal(mpii.keypoints[0, i], coco.keypoints[0, j])
    assert (mpii.keypoints[0, :, 2] > 0).sum() == 8                   # 5 limb joints + 3 own
    # an independent source: every joint labelled visible is within 5 % of the person's
    # height of the default pipeline's stored prediction (no swapped sides, no typo)
    pred = np.asarray(sample.THUNDER_POSES[0][1], np.float32).reshape(17, 3)
    vis = coco.keypoints[0, :, 2] == 2
    dist = np.hypot(*(pred[vis, :2] - coco.keypoints[0, vis, :2]).T)
    height = coco.boxes[0, 3] - coco.boxes[0, 1]
    assert vis.sum() == 8 and dist.max() < 0.05 * height, dist
    # and the box holds every labelled joint
    lab = coco.keypoints[0, :, 2] > 0
    x0, y0, x1, y1 = coco.boxes[0]
    assert ((coco.keypoints[0, lab, 0] > x0) & (coco.keypoints[0, lab, 0] < x1)).all()
    assert ((coco.keypoints[0, lab, 1] > y0) & (coco.keypoints[0, lab, 1] < y1)).all()


def test_sample_with_the_photo(run, tmp_path, photo):
    d = tmp_path / "sample"
    code, out, err = run("data", "sample", "--out", str(d))
    assert code == 0, err
    assert sorted(p.name for p in d.iterdir()) == sorted(n for n, _ in sample.SAMPLE_FILES)
    assert len(sample.SAMPLE_FILES) == 11 and "astronaut_pan.mp4, astronaut_pan_frames" in out
    assert (d / "astronaut.png").read_bytes() == photo.read_bytes()

    # the video: 30 frames at 12 fps, the camera move over the photo (lossy, but the same picture)
    want = sample.astronaut_pan_frames(read_image(photo))
    with VideoReader(d / "astronaut_pan.mp4") as video:
        assert video.fps == pytest.approx(12.0) and video.frame_count == 30
        got = np.stack([f for _, f in video])
    assert got.shape == want.shape == (30, 320, 320, 3)
    err = np.abs(got.astype(np.float32) - want).mean(axis=(1, 2, 3))
    assert err.max() < 6, err
    assert np.abs(want[0].astype(np.float32) - want[-1]).mean() > 30     # the picture moves
    # and every third frame as a JPEG in a frame folder, for predict --sequence
    jpegs = sorted((d / "astronaut_pan_frames").iterdir())
    assert [f.name for f in jpegs] == [f"{j:06d}.jpg" for j in range(10)]
    for f, w in zip(jpegs, want[::3]):
        assert np.abs(read_image(f).astype(np.float32) - w).mean() < 3
    readme = (d / "README.txt").read_text()
    assert "astronaut_pan.mp4" in readme and "posekit predict" in readme

    coco, mpii = sample.astronaut_records()
    got = read_coco(d / "coco.json")
    assert [r.file_name for r in got] == ["astronaut.png"] + SYNTHETIC
    np.testing.assert_array_equal(got[0].keypoints, coco.keypoints)
    np.testing.assert_array_equal(got[0].boxes, coco.boxes)
    # MPII's JSON is 1-based and keeps no occlusion: the reader gives back the 0-based joints
    back = read_annotations(d / "mpii.json")
    assert len(back) == 1 and back[0].num_people == 1 and back[0].spec == MPII16
    lab = mpii.keypoints[0, :, 2] > 0
    np.testing.assert_array_equal(back[0].keypoints[0, :, 2] > 0, lab)
    np.testing.assert_allclose(back[0].keypoints[0, lab, :2], mpii.keypoints[0, lab, :2], atol=1e-4)
    assert (back[0].width, back[0].height) == (512, 512)     # read from the photo beside it
    raw = json.loads((d / "mpii.json").read_text())
    assert raw[0]["scale"] == pytest.approx(496 / 200) and raw[0]["center"] == [189.5, 264.5]

    code, out, err = run("data", "inspect", str(d / "mpii.json"))
    assert code == 0 and "people: 1 (0 crowd" in out and "labelled keypoints: 8 " in out, err
    code, out, err = run("eval", str(d / "mpii.json"), str(d / "mpii_results.json"),
                         "--metric", "pckh")
    assert code == 0 and out.startswith("PCKh@0.5"), err
    code, out, err = run("eval", str(d / "coco.json"), str(d / "coco_results.json"),
                         "--metric", "coco", "--format", "json")
    assert code == 0 and 0 < json.loads(out)["AP"] < 1, err


def test_the_video_camera_moves_inside_the_photo_and_maps_points_exactly():
    win = sample.astronaut_pan_windows()
    assert win.shape == (sample.PAN_FRAMES, 3)
    np.testing.assert_allclose(win[0], (0, 0, 512))                   # starts on the whole photo
    left, top, side = win.T
    assert (left >= 0).all() and (top >= 0).all() and (left + side <= 512).all() \
        and (top + side <= 512).all()
    assert np.all(np.diff(side) < 0) and side[-1] < 0.75 * 512         # zooms in, steadily
    step = np.abs(np.diff(side))
    assert step[0] < 0.2 * step.max() and step[-1] < 0.2 * step.max()  # slow at both ends

    # the frames show the photo where pan_to_frame says (pixel centres at integers): a bright
    # blob's centroid lands within 0.05 px of the mapped point in every frame
    yy, xx = np.mgrid[:512, :512]
    centre = np.array([201.0, 147.0])
    blob = 255 * np.exp(-((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / (2 * 6.0 ** 2))
    photo = np.repeat(blob[..., None], 3, axis=2).round().astype(np.uint8)
    frames = sample.astronaut_pan_frames(photo)
    fy, fx = np.mgrid[:sample.PAN_SIZE, :sample.PAN_SIZE]
    for f, w in zip(frames, win):
        m = f[..., 0].astype(np.float64)
        got = np.array([(m * fx).sum(), (m * fy).sum()]) / m.sum()
        assert np.hypot(*(got - sample.pan_to_frame(centre, w))) < 0.05, (w, got)
    # the astronaut's nose moves right and her shoulders spread as the camera closes in
    coco, _ = sample.astronaut_records()
    nose, l_sh, r_sh = (coco.keypoints[0, COCO17.index(n), :2]
                        for n in ("nose", "left_shoulder", "right_shoulder"))
    first, last = (sample.pan_to_frame(np.stack([nose, l_sh, r_sh]), w) for w in (win[0], win[-1]))
    assert last[0, 0] - first[0, 0] > 40
    assert (last[1, 0] - last[2, 0]) > 1.3 * (first[1, 0] - first[2, 0])


def test_sample_does_not_overwrite_without_force(run, tmp_path):
    d = tmp_path / "s"
    assert run("data", "sample", "--out", str(d), "--no-photo")[0] == 0
    (d / "coco.json").write_text("mine")
    code, out, err = run("data", "sample", "--out", str(d), "--no-photo")
    assert code == 1 and out == "" and "already holds" in err and "--force" in err
    assert err.count("\n") == 1 and (d / "coco.json").read_text() == "mine"
    code, _, err = run("data", "sample", "--out", str(d), "--no-photo", "--force")
    assert code == 0, err
    assert len(read_coco(d / "coco.json")) == 3


def test_sample_out_that_is_a_file(run, tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    code, _, err = run("data", "sample", "--out", str(blocker), "--no-photo")
    assert code == 1 and f"{blocker}: --out must be a folder" in err and err.count("\n") == 1


def test_sample_refuses_a_photo_it_did_not_annotate(tmp_path):
    other = tmp_path / "other.png"
    write_image(other, np.zeros((512, 512, 3), np.uint8))
    with pytest.raises(DataError, match="not the astronaut photo the sample annotates"):
        sample.write_sample(tmp_path / "s", photo=other)
    assert not (tmp_path / "s").exists()


def test_demo_module_fails_in_one_line_when_pip_cannot_fetch(tmp_path):
    env = {"POSEKIT_CACHE": str(tmp_path / "cache"), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin",
           "PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
           "PIP_RETRIES": "0", "PIP_TIMEOUT": "1", "PIP_NO_CACHE_DIR": "1"}
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    proc = subprocess.run([sys.executable, "-m", "posekit.demo"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("posekit.demo: error: pip download scikit-image failed"), \
        proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
