"""``posekit predict`` on videos through the CLI with a stub predictor (no weights): JSON lines
per frame with track ids, the detector every N frames, smoothing, truncated files, Ctrl-C,
``--sequence`` frame folders."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from posekit.cli import main
from posekit.commands import predict as predict_cmd
from posekit.pipelines.poses import Poses
from posekit.skeleton import COCO17


class StubDetector:
    def __init__(self) -> None:
        self.calls = 0

    def detect(self, image: np.ndarray):
        """One box around the white rectangle of the frame (see :func:`_video`)."""
        self.calls += 1
        ys, xs = np.nonzero(image[..., 0] > 200)
        return np.array([[xs.min(), ys.min(), xs.max(), ys.max()]], np.float32), np.array([0.8], np.float32)


class StubTopDown:
    """A top-down predictor: one pose per box, its keypoints spread over the box's top edge
    plus noise, scored 0.9; ``detector`` finds the white rectangle."""

    def __init__(self, noise: float = 0.0) -> None:
        self.detector = StubDetector()
        self.box_calls = 0
        self.rng = np.random.default_rng(0)
        self.noise = noise
        self.timings = {}
        self.draw_min_pose_score = 0.17

    def predict(self, image):
        b, s = self.detector.detect(image)
        return self.predict_boxes(image, b, s)

    def predict_boxes(self, image, boxes, scores):
        self.box_calls += 1
        kp = np.zeros((len(boxes), 17, 3), np.float32)
        for i, b in enumerate(boxes):
            kp[i, :, 0] = np.linspace(b[0], b[2], 17)
            kp[i, :, 1] = np.linspace(b[1], b[3], 17)
        kp[..., :2] += self.rng.normal(0, self.noise, kp[..., :2].shape) if self.noise else 0
        kp[..., 2] = 0.9
        return Poses(kp, np.full(len(boxes), 0.9, np.float32), boxes, COCO17)


@pytest.fixture
def stub(monkeypatch):
    s = StubTopDown()
    monkeypatch.setattr(predict_cmd, "load_predictor", lambda model, device, **options: s)
    return s


def _frame(i: int, size=(64, 48)) -> np.ndarray:
    img = np.full((size[1], size[0], 3), 40, np.uint8)
    cv2.rectangle(img, (5 + 2 * i, 5), (20 + 2 * i, 40), (255, 255, 255), -1)   # a "person" walking right
    return img


def _video(path, n: int = 8, fourcc: str = "mp4v"):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10.0, (64, 48))
    assert w.isOpened(), f"this OpenCV cannot write {fourcc}"
    for i in range(n):
        w.write(_frame(i))
    w.release()
    return path


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _frames_of(path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    return n


def test_video_gives_one_json_line_per_frame_with_track_ids(stub, tmp_path, capsys):
    src = _video(tmp_path / "clip.mp4")
    out = tmp_path / "out"
    assert main(["predict", str(src), "--out", str(out)]) == 0
    lines = _lines(out / "clip.mp4.jsonl")
    assert [ln["frame_index"] for ln in lines] == list(range(8))
    assert [ln["timestamp_s"] for ln in lines] == pytest.approx([i / 10 for i in range(8)])
    assert all(ln["detected"] for ln in lines) and stub.detector.calls == 8
    people = [ln["people"] for ln in lines]
    assert all(len(p) == 1 for p in people)
    assert {p[0]["track_id"] for p in people} == {0}                       # one person, one track
    first = people[0][0]
    assert len(first["keypoints"]) == 17 and len(first["keypoints"][0]) == 3 and len(first["bbox"]) == 4
    results = json.loads((out / "results.json").read_text())
    assert [r["frame_index"] for r in results] == list(range(8)) and {r["track_id"] for r in results} == {0}
    assert _frames_of(out / "clip_pose.mp4") == 8
    printed = capsys.readouterr().out
    assert "clip.mp4: 8 frames at" in printed and "fps end to end" in printed and "video overlay" in printed


def test_detector_every_n_frames_propagates_boxes(stub, tmp_path):
    src = _video(tmp_path / "clip.mp4")
    out = tmp_path / "out"
    assert main(["predict", str(src), "--out", str(out), "--detect-every", "3", "--no-overlays"]) == 0
    lines = _lines(out / "clip.mp4.jsonl")
    assert [ln["detected"] for ln in lines] == [i % 3 == 0 for i in range(8)]
    assert stub.detector.calls == 3                       # frames 0, 3, 6
    assert {ln["people"][0]["track_id"] for ln in lines} == {0}
    # the propagated box of frame 1 is frame 0's box moved by nothing yet (no velocity after one
    # frame), of frame 2 moved by the velocity measured between frames 0 and 1
    x0 = [ln["people"][0]["bbox"][0] for ln in lines]
    assert x0[1] == pytest.approx(x0[0], abs=0.01) and x0[2] == pytest.approx(x0[1] + (x0[1] - x0[0]), abs=0.6)


def test_smoothing_options_keep_every_frame(monkeypatch, tmp_path):
    noisy = StubTopDown(noise=3.0)
    monkeypatch.setattr(predict_cmd, "load_predictor", lambda model, device, **options: noisy)
    src = _video(tmp_path / "clip.mp4", n=12)
    from posekit.metrics.video import jitter, tracks_from_frames
    jit = {}
    for smooth in ("none", "one-euro", "savgol"):
        noisy.rng = np.random.default_rng(0)
        out = tmp_path / smooth
        assert main(["predict", str(src), "--out", str(out), "--smooth", smooth, "--no-overlays"]) == 0
        lines = _lines(out / "clip.mp4.jsonl")
        assert [ln["frame_index"] for ln in lines] == list(range(12))         # savgol: flushed at the end
        kps = [np.array([p["keypoints"] for p in ln["people"]]) for ln in lines]
        ids = [np.array([p["track_id"] for p in ln["people"]]) for ln in lines]
        jit[smooth] = jitter(tracks_from_frames(kps, ids))
    assert jit["one-euro"] < 0.7 * jit["none"] and jit["savgol"] < 0.7 * jit["none"]


def test_truncated_avi_stops_cleanly_at_the_last_good_frame(stub, tmp_path, capsys):
    full = _video(tmp_path / "full.avi", n=10, fourcc="MJPG").read_bytes()
    src = tmp_path / "cut.avi"
    src.write_bytes(full[:int(len(full) * 0.7)])
    out = tmp_path / "out"
    assert main(["predict", str(src), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    lines = _lines(out / "cut.avi.jsonl")                                  # every line valid JSON
    n = len(lines)
    assert 0 < n < 10
    assert f"stopped after frame {n - 1}: the file states 10 frames" in err
    assert _frames_of(out / "cut.avi_pose.mp4") == n                       # the overlay is finalised
    assert len(json.loads((out / "results.json").read_text())) == n


def test_truncated_mp4_is_one_clear_error(stub, tmp_path, capsys):
    full = _video(tmp_path / "full.mp4").read_bytes()
    src = tmp_path / "cut.mp4"
    src.write_bytes(full[:len(full) // 2])                                 # the index (moov) is gone
    assert main(["predict", str(src), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "cut.mp4: cannot open video" in err and "Traceback" not in err


def test_interrupt_leaves_valid_jsonl_and_video(stub, tmp_path, monkeypatch, capsys):
    src = _video(tmp_path / "clip.mp4")
    real = stub.predict_boxes

    def predict_boxes(image, boxes, scores):
        if stub.box_calls == 5:
            raise KeyboardInterrupt
        return real(image, boxes, scores)
    monkeypatch.setattr(stub, "predict_boxes", predict_boxes)
    out = tmp_path / "out"
    assert main(["predict", str(src), "--out", str(out), "--smooth", "savgol"]) == 130
    lines = _lines(out / "clip.mp4.jsonl")
    assert [ln["frame_index"] for ln in lines] == list(range(5))           # held savgol frames flushed
    assert _frames_of(out / "clip_pose.mp4") == 5
    assert len(json.loads((out / "results.json").read_text())) == 5


def test_sequence_folder_is_one_video(stub, tmp_path, capsys):
    seq = tmp_path / "seqs" / "walk"
    seq.mkdir(parents=True)
    for i in range(5):
        cv2.imwrite(str(seq / f"{i + 1:05d}.png"), _frame(i))
    (seq / "notes.txt").write_text("not a frame")
    out = tmp_path / "out"
    assert main(["predict", "--sequence", str(seq), "--out", str(out), "--fps", "5"]) == 0
    lines = _lines(out / "walk.jsonl")
    assert [ln["frame_file"] for ln in lines] == [f"walk/{i + 1:05d}.png" for i in range(5)]
    assert [ln["timestamp_s"] for ln in lines] == pytest.approx([i / 5 for i in range(5)])
    assert {ln["people"][0]["track_id"] for ln in lines} == {0}
    assert _frames_of(out / "walk_pose.mp4") == 5
    results = json.loads((out / "results.json").read_text())
    assert [r["file_name"] for r in results] == [f"walk/{i + 1:05d}.png" for i in range(5)]
    assert [r["image_id"] for r in results] == [1, 2, 3, 4, 5]


def test_sequence_needs_folders(stub, tmp_path, capsys):
    f = tmp_path / "a.png"
    cv2.imwrite(str(f), _frame(0))
    assert main(["predict", "--sequence", str(f), "--out", str(tmp_path / "out")]) == 1
    assert "not a folder" in capsys.readouterr().err


def test_webcam_until_the_camera_stops(stub, tmp_path, monkeypatch, capsys):
    class FakeCamera:
        """Camera 0 giving 4 frames, then nothing (as when unplugged)."""

        def __init__(self, index):
            assert index == 0
            self.i = 0

        def isOpened(self):
            return True

        def get(self, prop):
            return 0.0

        def read(self):
            self.i += 1
            return (True, _frame(self.i)) if self.i <= 4 else (False, None)

        def release(self):
            pass
    monkeypatch.setattr(cv2, "VideoCapture", FakeCamera)
    out = tmp_path / "out"
    assert main(["predict", "--webcam", "0", "--out", str(out), "--no-overlays"]) == 0
    lines = _lines(out / "webcam0.jsonl")
    assert [ln["frame_index"] for ln in lines] == [0, 1, 2, 3]
    ts = [ln["timestamp_s"] for ln in lines]
    assert ts == sorted(ts) and ts[0] >= 0                                   # wall-clock times
    assert {ln["people"][0]["track_id"] for ln in lines} == {0}


def test_bad_video_options(stub, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["predict", "x.mp4", "--detect-every", "0"])
    assert e.value.code == 2 and "--detect-every: must be at least 1" in capsys.readouterr().err
    assert main(["predict", "--out", str(tmp_path / "out")]) == 1
    assert "nothing to predict" in capsys.readouterr().err


def test_bottom_up_models_find_people_in_every_frame(monkeypatch, tmp_path):
    class BottomUp:
        """No predict_boxes: a bottom-up model."""

        def __init__(self):
            self.inner = StubTopDown()
            self.calls = 0

        def predict(self, image):
            self.calls += 1
            return self.inner.predict(image)
    bu = BottomUp()
    monkeypatch.setattr(predict_cmd, "load_predictor", lambda model, device, **options: bu)
    src = _video(tmp_path / "clip.mp4", n=5)
    out = tmp_path / "out"
    assert main(["predict", str(src), "--out", str(out), "--detect-every", "3", "--no-overlays"]) == 0
    lines = _lines(out / "clip.mp4.jsonl")
    assert all(ln["detected"] for ln in lines) and bu.calls == 5
    assert {ln["people"][0]["track_id"] for ln in lines} == {0}


def test_sequence_frames_take_their_image_ids_from_gt(stub, tmp_path):
    seq = tmp_path / "walk"
    seq.mkdir()
    for i in range(3):
        cv2.imwrite(str(seq / f"{i + 1:05d}.png"), _frame(i))
    gt = {"categories": [{"id": 1, "name": "person", "keypoints": list(COCO17.names), "skeleton": []}],
          "images": [{"id": 100 + i, "file_name": f"walk/{i + 1:05d}.png", "width": 64, "height": 48}
                     for i in range(3)],
          "annotations": [{"id": 1, "image_id": 100, "category_id": 1, "iscrowd": 0, "area": 100.0,
                           "bbox": [5, 5, 16, 36], "num_keypoints": 1,
                           "keypoints": [10, 10, 2] + [0, 0, 0] * 16}]}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    out = tmp_path / "out"
    assert main(["predict", "--sequence", str(seq), "--gt", str(tmp_path / "gt.json"), "--out", str(out),
                 "--no-overlays"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert [r["image_id"] for r in results] == [100, 101, 102]
