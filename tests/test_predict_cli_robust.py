"""``posekit predict`` on awkward inputs, through the CLI entry point with a stub predictor (fast,
no weights): broken files, model crashes, output folders, name collisions, --gt in other formats,
GIF and video frames, counts, threads and timings."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from posekit.cli import main
from posekit.commands import predict as predict_cmd
from posekit.pipelines.poses import Poses
from posekit.skeleton import COCO17

CRASH_VALUE = 13     # an image whose first pixel has this red value makes the stub model raise


class StubPredictor:
    """Two poses per image: one scoring 0.9 at a fixed place, one scoring 0.0; records the
    shapes it saw and sets ``timings`` like the real predictors."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, ...]] = []
        self.boxes_seen: list[tuple[np.ndarray, np.ndarray]] = []
        self.timings: dict[str, float] = {}

    def predict(self, image: np.ndarray) -> Poses:
        if image[0, 0, 0] == CRASH_VALUE:
            raise RuntimeError("stub model exploded\nsecond line of the message")
        self.seen.append(image.shape)
        kp = np.zeros((2, 17, 3), np.float32)
        kp[0, :, :2] = [[10 + k, 20 + k] for k in range(17)]
        kp[0, :, 2] = 0.8
        kp[1, :, :2] = 5
        boxes = np.array([[10, 20, 26, 36], [4, 4, 6, 6]], np.float32)
        self.timings = {"detector": 1.5, "pose": 2.5}
        return Poses(kp, np.array([0.9, 0.0], np.float32), boxes, COCO17)

    def predict_boxes(self, image: np.ndarray, boxes: np.ndarray, scores: np.ndarray) -> Poses:
        """One pose per given box, at the box's top-left corner, scored as the box."""
        self.seen.append(image.shape)
        self.boxes_seen.append((boxes.copy(), scores.copy()))
        kp = np.zeros((len(boxes), 17, 3), np.float32)
        kp[:, :, :2] = boxes[:, None, :2]
        kp[:, :, 2] = 0.8
        return Poses(kp, scores, boxes, COCO17)


@pytest.fixture
def stub(monkeypatch):
    s = StubPredictor()
    monkeypatch.setattr(predict_cmd, "load_predictor", lambda model, device, **options: s)
    return s


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _image(path, value: int = 120, size=(40, 60)) -> bytes:
    img = np.full((*size, 3), value, np.uint8)
    img[5:15, 5:25] = 255 - value
    ok, buf = cv2.imencode(path.suffix, img)
    assert ok
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.tobytes())
    return buf.tobytes()


def _results(out) -> list[dict]:
    return json.loads((out / "results.json").read_text())


def test_broken_files_are_listed_and_every_good_image_has_results(stub, tmp_path, capsys):
    src = tmp_path / "in"
    for n in ("a.jpg", "c.png", "e.jpg"):
        _image(src / n)
    (src / "b.jpg").write_bytes(b"")                                      # zero bytes
    (src / "d.jpg").write_bytes(_image(tmp_path / "x.jpg")[:200])         # truncated
    (src / "f.png").write_text("not an image\n")                         # text named .png
    (src / "g.png").write_bytes(bytes.fromhex("89504e470d0a1a0a0000000d49484452") +
                                (40000).to_bytes(4, "big") * 2 + bytes(5))   # 40000 x 40000 header
    out = tmp_path / "out"
    code = main(["predict", str(src), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err and "cv2.error" not in err
    assert {r["file_name"] for r in _results(out)} == {"a.jpg", "c.png", "e.jpg"}
    failed = err.split("input(s) failed:")[1].strip().splitlines()
    assert len(failed) == 4
    assert any("b.jpg: empty file" in f for f in failed)
    assert any("d.jpg: truncated JPEG" in f for f in failed)
    assert any("f.png: cannot decode image" in f for f in failed)
    assert any("g.png: image is 40000 x 40000 pixels" in f for f in failed)


def test_a_crash_inside_the_model_is_one_line_and_the_batch_goes_on(stub, tmp_path, capsys):
    src = tmp_path / "in"
    _image(src / "a.jpg")
    _image(src / "b.png", value=CRASH_VALUE)
    _image(src / "c.jpg")
    out = tmp_path / "out"
    assert main(["predict", str(src), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{src / 'b.png'}: RuntimeError: stub model exploded\n" in err
    assert "second line" not in err and "Traceback" not in err
    assert {r["file_name"] for r in _results(out)} == {"a.jpg", "c.jpg"}


@pytest.mark.parametrize("make_out, problem", [
    ("file", "taken: --out must be a folder, but a file of that name exists"),
    ("under_a_file", "taken/sub: cannot create the output folder (Not a directory)")])
def test_an_unusable_out_is_one_readable_line(stub, tmp_path, capsys, make_out, problem):
    _image(tmp_path / "a.jpg")
    blocker = tmp_path / "taken"
    blocker.write_text("x")
    out = blocker if make_out == "file" else blocker / "sub"
    assert main(["predict", str(tmp_path / "a.jpg"), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"posekit predict: error: {tmp_path}/{problem}"]     # not "FileExistsError: ..."
    assert blocker.read_text() == "x"


def test_out_equal_to_the_input_folder_never_replaces_an_input(stub, tmp_path, capsys):
    src = tmp_path / "photos"
    before = {n: _image(src / n, value=v) for n, v in (("b.jpg", 100), ("b.png", 150), ("b_pose.jpg", 200))}
    assert main(["predict", str(src), "--out", str(src)]) == 0
    for name, data in before.items():
        assert (src / name).read_bytes() == data, f"{name} was overwritten"
    # b.jpg -> b_pose.jpg is an input, so b-2; b.png -> b.png_pose.jpg; b_pose.jpg -> b_pose_pose.jpg
    assert {p.name for p in src.iterdir()} == set(before) | {
        "b_pose-2.jpg", "b.png_pose.jpg", "b_pose_pose.jpg", "results.json"}
    assert len(_results(src)) == 6


def test_same_name_in_two_folders_stays_apart(stub, tmp_path, capsys):
    _image(tmp_path / "a" / "x.jpg", value=90)
    _image(tmp_path / "b" / "x.jpg", value=160)
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out)]) == 0
    assert sorted({r["file_name"] for r in _results(out)}) == ["a/x.jpg", "b/x.jpg"]
    a, b = cv2.imread(str(out / "a" / "x_pose.jpg")), cv2.imread(str(out / "b" / "x_pose.jpg"))
    assert a is not None and b is not None
    assert abs(int(a[-1, -1, 0]) - 90) < 8 and abs(int(b[-1, -1, 0]) - 160) < 8   # each its own input


def test_summary_counts_people_drawn_and_the_low_score_poses_kept(stub, tmp_path, capsys):
    _image(tmp_path / "a.jpg")
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path / "a.jpg"), "--out", str(out), "--min-pose-score", "0.2"]) == 0
    summary = capsys.readouterr().out
    assert "1 person with pose score >= 0.2 drawn" in summary
    assert "results.json also keeps 1 lower-scoring pose" in summary
    assert "2 poses" not in summary
    assert len(_results(out)) == 2


def test_results_carry_bbox_sequential_image_ids_and_file_names(stub, tmp_path, capsys):
    for n in ("b.jpg", "a.jpg", "c.jpg"):
        _image(tmp_path / "in" / n)
    (tmp_path / "in" / "bad.jpg").write_bytes(b"")
    out = tmp_path / "out"
    main(["predict", str(tmp_path / "in"), "--out", str(out), "--no-overlays"])
    res = _results(out)
    assert [(r["file_name"], r["image_id"]) for r in res[::2]] == [("a.jpg", 1), ("b.jpg", 2), ("c.jpg", 3)]
    assert res[0]["bbox"] == [10, 20, 16, 16]                   # xyxy (10, 20, 26, 36) as COCO xywh
    assert len(res[0]["keypoints"]) == 51 and res[0]["category_id"] == 1
    assert not list(out.glob("*.jpg"))                          # --no-overlays


def test_to_coco_bbox_is_xywh_and_optional():
    kp = np.zeros((1, 17, 3), np.float32)
    poses = Poses(kp, [0.5], [[1.5, 2, 11.5, 32]], COCO17)
    [d] = poses.to_coco(image_id=7, file_name="x.jpg", frame_index=3)
    assert d["bbox"] == [1.5, 2, 10, 30] and d["image_id"] == 7 and d["frame_index"] == 3
    assert "bbox" not in poses.to_coco(bbox=False)[0]


def _mpii_entry(name: str) -> dict:
    return {"image": name, "joints": [[20.0 + k, 10.0 + k] for k in range(16)], "joints_vis": [1] * 16,
            "center": [30.0, 20.0], "scale": 0.2}


def test_gt_in_mpii_json_gives_its_image_ids(stub, tmp_path, capsys):
    src = tmp_path / "mpii_images"
    for n in ("p.jpg", "q.jpg", "r.jpg"):
        _image(src / n)
    gt = tmp_path / "mpii.json"            # MPII's JSON list: ids in order of first appearance
    gt.write_text(json.dumps([_mpii_entry("r.jpg"), _mpii_entry("p.jpg"), _mpii_entry("r.jpg")]))
    out = tmp_path / "out"
    code = main(["predict", str(src), "--gt", str(gt), "--out", str(out)])
    captured = capsys.readouterr()
    ids = {r["file_name"]: r.get("image_id") for r in _results(out)}
    assert ids == {"r.jpg": 1, "p.jpg": 2, "q.jpg": None}
    assert code == 0 and "not among the images of" in captured.err and "q.jpg" in captured.err


def test_gt_coco_file_names_with_folders_match_relative_paths(stub, tmp_path, capsys):
    for d in ("clip1", "clip2"):
        _image(tmp_path / "frames" / d / "00001.png")
    gt = tmp_path / "ann.json"
    images = [{"id": 501, "file_name": "clip1/00001.png", "width": 60, "height": 40},
              {"id": 502, "file_name": "clip2/00001.png", "width": 60, "height": 40}]
    gt.write_text(json.dumps({"images": images, "annotations": [], "categories": [
        {"id": 1, "name": "person", "keypoints": list(COCO17.names), "skeleton": []}]}))
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path / "frames" / "clip1"), str(tmp_path / "frames" / "clip2"),
                 "--gt", str(gt), "--out", str(out)]) == 0
    assert {(r["file_name"], r["image_id"]) for r in _results(out)} == {
        ("clip1/00001.png", 501), ("clip2/00001.png", 502)}


def test_gif_and_video_frames_have_index_timestamp_and_an_overlay_video(stub, tmp_path, capsys):
    if not hasattr(cv2, "imwriteanimation"):
        pytest.skip(f"OpenCV {cv2.__version__} cannot write animated GIFs")
    src = tmp_path / "in"
    src.mkdir()
    anim = cv2.Animation()
    anim.frames, anim.durations = [np.full((40, 56, 3), 40 * i, np.uint8) for i in range(3)], [100] * 3
    assert cv2.imwriteanimation(str(src / "wave.gif"), anim)
    writer = cv2.VideoWriter(str(src / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 8.0, (64, 48))
    for i in range(4):
        writer.write(np.full((48, 64, 3), 50 * i, np.uint8))
    writer.release()
    out = tmp_path / "out"
    assert main(["predict", str(src), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    res = [r for r in _results(out) if r["score"] > 0.5]
    got = [(r["file_name"], r["frame_index"], r["timestamp_s"], r["image_id"]) for r in res]
    assert got == [("clip.avi", 0, 0.0, 1), ("clip.avi", 1, 0.125, 2), ("clip.avi", 2, 0.25, 3),
                   ("clip.avi", 3, 0.375, 4), ("wave.gif", 0, 0.0, 5), ("wave.gif", 1, 0.1, 6),
                   ("wave.gif", 2, 0.2, 7)]
    assert _count_frames(out / "clip.avi_pose.mp4") == 4 and _count_frames(out / "wave.gif_pose.mp4") == 3
    assert "video overlay" in captured.out and ("H.264 (avc1)" in captured.out or "mp4v" in captured.out)


def _count_frames(path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def test_threads_option_sets_torch_threads_and_the_default_is_the_usable_cpus(stub, tmp_path):
    import torch

    from posekit.device import set_threads
    _image(tmp_path / "a.jpg")
    assert main(["predict", str(tmp_path / "a.jpg"), "--out", str(tmp_path / "o"), "--threads", "1"]) == 0
    assert torch.get_num_threads() == 1
    from posekit.device import default_threads
    assert set_threads() == default_threads() == torch.get_num_threads()
    with pytest.raises(SystemExit):
        main(["predict", str(tmp_path / "a.jpg"), "--threads", "0"])


def test_verbose_prints_stage_timings_per_image_and_their_mean(stub, tmp_path, capsys):
    for n in ("a.jpg", "b.jpg"):
        _image(tmp_path / n)
    assert main(["-v", "predict", str(tmp_path), "--out", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "detector 1.5, pose 2.5" in ln]
    assert any(ln.startswith("a.jpg: read ") for ln in lines) and any(ln.startswith("b.jpg: read ") for ln in lines)
    assert any(ln.startswith("mean over 2 images/frames: read ") for ln in lines)


def test_interrupt_keeps_the_results_so_far(stub, tmp_path, monkeypatch, capsys):
    for n in ("a.jpg", "b.jpg", "c.jpg"):
        _image(tmp_path / "in" / n)
    calls = []
    real = stub.predict

    def predict(image):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(image)
    monkeypatch.setattr(stub, "predict", predict)
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path / "in"), "--out", str(out)]) == 130
    assert {r["file_name"] for r in _results(out)} == {"a.jpg"}
    assert "interrupted after 1 of 3 inputs" in capsys.readouterr().err


def test_the_same_file_twice_is_predicted_once(stub, tmp_path, capsys):
    _image(tmp_path / "a.jpg")
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path / "a.jpg"), str(tmp_path), "--out", str(out)]) == 0
    assert [r["file_name"] for r in _results(out)] == ["a.jpg", "a.jpg"]      # its two poses
    assert sorted(p.name for p in out.iterdir()) == ["a_pose.jpg", "results.json"]


def test_drawing_thresholds_default_to_the_pipelines_own():
    """Unset thresholds take the chosen pipeline's pose-score threshold (top-down 0.17,
    bottom-up 0.2: chosen on the real samples) and viz's keypoint threshold; given ones stay."""
    import argparse

    from posekit.commands.predict import _default_thresholds
    from posekit.pipelines.registry import PIPELINES
    from posekit.viz import DRAW_MIN_KEYPOINT_SCORE

    for name, want in (("movenet-thunder", 0.17), ("multipose-320", 0.2)):
        args = argparse.Namespace(model=name, min_score=None, min_pose_score=None)
        _default_thresholds(args)
        assert args.min_pose_score == PIPELINES[name].draw_min_pose_score == want
        assert args.min_score == DRAW_MIN_KEYPOINT_SCORE
    args = argparse.Namespace(model="movenet-thunder", min_score=0.5, min_pose_score=0.4)
    _default_thresholds(args)
    assert (args.min_score, args.min_pose_score) == (0.5, 0.4)


def _boxes_file(path, entries) -> str:
    path.write_text(json.dumps([{"category_id": 1, **e} for e in entries]))
    return str(path)


def test_given_boxes_are_found_by_image_id_through_gt_or_by_file_name(stub, tmp_path, capsys):
    """--boxes: a COCO results list of person boxes. With --gt, an image's boxes are those with
    its id (xywh -> xyxy, below --box-score dropped, other categories ignored); without, those
    whose file_name names it (a results.json of predict does); an image without boxes gets no
    pose, and is named."""
    src = tmp_path / "in"
    for n in ("a.jpg", "b.jpg", "c.jpg"):
        _image(src / n)
    gt = tmp_path / "ann.json"
    gt.write_text(json.dumps({"images": [{"id": 7, "file_name": "a.jpg", "width": 60, "height": 40},
                                         {"id": 9, "file_name": "b.jpg", "width": 60, "height": 40}],
                              "annotations": [], "categories": [
                                  {"id": 1, "name": "person", "keypoints": list(COCO17.names), "skeleton": []}]}))
    dets = _boxes_file(tmp_path / "dets.json", [
        {"image_id": 7, "bbox": [1.5, 2, 10, 20], "score": 0.9}, {"image_id": 7, "bbox": [3, 4, 5, 6], "score": 0.1},
        {"image_id": 9, "bbox": [0, 0, 30, 30], "score": 0.5}, {"image_id": 9, "bbox": [5, 5, 5, 5], "score": 0.9,
                                                                 "category_id": 2}])
    out = tmp_path / "out"
    assert main(["predict", str(src), "--gt", str(gt), "--boxes", dets, "--box-score", "0.2", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    res = {(r["file_name"], tuple(r["bbox"]), r["score"]) for r in _results(out)}
    assert res == {("a.jpg", (1.5, 2.0, 10.0, 20.0), 0.9), ("b.jpg", (0.0, 0.0, 30.0, 30.0), 0.5)}
    np.testing.assert_array_equal(stub.boxes_seen[0][0], [[1.5, 2, 11.5, 22]])
    assert "1 image(s) without boxes" in err and "c.jpg" in err

    # the results of that run, as boxes for another one: found by file name, no --gt needed
    out2 = tmp_path / "out2"
    assert main(["predict", str(src), "--boxes", str(out / "results.json"), "--out", str(out2)]) == 0
    assert {(r["file_name"], tuple(r["bbox"])) for r in _results(out2)} == {(f, b) for f, b, _ in res}


def test_given_boxes_need_a_way_to_their_images(stub, tmp_path, capsys):
    _image(tmp_path / "a.jpg")
    dets = _boxes_file(tmp_path / "dets.json", [{"image_id": 1, "bbox": [0, 0, 5, 5], "score": 1.0}])
    assert main(["predict", str(tmp_path / "a.jpg"), "--boxes", dets, "--out", str(tmp_path / "o")]) == 1
    assert "dets.json: entries name their images by image_id only: give --gt ANN" in capsys.readouterr().err
    nobox = _boxes_file(tmp_path / "kp.json", [{"image_id": 1, "keypoints": [0] * 51, "score": 1.0}])
    assert main(["predict", str(tmp_path / "a.jpg"), "--boxes", nobox, "--out", str(tmp_path / "o")]) == 1
    assert "kp.json: its entries have no 'bbox'" in capsys.readouterr().err
