"""PoseFix: error synthesis (posekit.data.posefix), the refiner and its trainer (posekit.engine.posefix)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from posekit.data.posefix import ERROR_TYPES, joint_error_probabilities, ks_radius, synthesize_pose
from posekit.engine import posefix as pf
from posekit.engine.presets import get_posefix_preset
from posekit.models.posefix import PoseFixNet, render_pose
from posekit.skeleton import COCO17


@pytest.fixture(scope="module")
def tiny():
    torch.set_num_threads(1)
    cfg = get_posefix_preset("posefix_tiny")
    return cfg, pf.load_posefix_data(cfg, "train")


def _person(rng, n=17):
    gt = np.zeros((17, 3))
    gt[:, :2] = rng.uniform(20, 80, size=(17, 2))
    gt[:n, 2] = 2
    return gt


def test_ks_radius_gives_that_keypoint_similarity():
    sig = COCO17.sigmas_array()
    d = ks_radius(0.5, 900.0, sig)
    ks = np.exp(-d ** 2 / (2 * 900.0 * (2 * sig) ** 2))
    np.testing.assert_allclose(ks, 0.5)


def test_error_probabilities_are_posefix_table():
    p = joint_error_probabilities(17, 17, 0)
    np.testing.assert_allclose(p.sum(1), 1.0)
    # nose of a fully labelled person alone: jitter 0.10, miss 0.02, inversion 0.01, swap 0.01
    np.testing.assert_allclose(p[0], [0.86, 0.10, 0.02, 0.01, 0.01])
    # a left knee with few joints among a crowd: jitter 0.15 miss 0.15 inversion 0.06 swap 0.10
    np.testing.assert_allclose(joint_error_probabilities(17, 8, 1)[13], [0.54, 0.15, 0.15, 0.06, 0.10])
    assert (joint_error_probabilities(17, 4, 3) >= 0).all()


@pytest.mark.parametrize("kind", ["good", "jitter", "miss", "inversion", "swap"])
def test_each_error_lands_where_its_definition_says(kind):
    rng = np.random.default_rng(0)
    sig = COCO17.sigmas_array()
    area = 2500.0
    d85, d50, d10 = (ks_radius(k, area, sig) for k in (0.85, 0.5, 0.1))
    flip = np.asarray(COCO17.flip_index)
    for _ in range(20):
        gt = _person(rng)
        near = _person(rng)[None]
        pose, kinds = synthesize_pose(gt, near, area, COCO17, rng, only="jitter" if kind == "good" else kind,
                                      rate=0.0 if kind == "good" else 1.0)
        t = ERROR_TYPES.index(kind)
        for j in range(17):
            if kind == "inversion" and flip[j] == j:          # the nose has no opposite joint
                assert kinds[j] == 0
                continue
            assert kinds[j] == t
            d = np.linalg.norm(pose[j, :2] - gt[j, :2])
            if kind == "good":
                assert d <= d85[j] + 1e-6
            elif kind == "jitter":
                assert d85[j] - 1e-6 <= d <= d50[j] + 1e-6
            elif kind == "miss":
                assert d50[j] - 1e-6 <= d <= d10[j] + 1e-6
            elif kind == "inversion":
                assert np.linalg.norm(pose[j, :2] - gt[flip[j], :2]) <= d50[j] + 1e-6
            else:
                d_same = np.linalg.norm(pose[j, :2] - near[0, j, :2])
                d_pair = np.linalg.norm(pose[j, :2] - near[0, flip[j], :2])
                assert min(d_same, d_pair) <= d50[j] + 1e-6


def test_mixed_errors_follow_the_proportions():
    rng = np.random.default_rng(1)
    counts = np.zeros(5)
    for _ in range(600):
        _, kinds = synthesize_pose(_person(rng), np.zeros((0, 17, 3)), 2500.0, COCO17, rng)
        counts += np.bincount(kinds[kinds >= 0], minlength=5)
    assert counts[4] == 0                                   # no neighbour: no swap
    p = joint_error_probabilities(17, 17, 0) * [1, 1, 1, 1, 0]
    p[0, 3] = 0                                              # the nose cannot be inverted
    expected = (p / p.sum(1, keepdims=True)).sum(0) / 17
    np.testing.assert_allclose(counts / counts.sum(), expected, atol=0.015)


def test_render_pose_peaks_on_the_keypoint():
    pose = torch.tensor([[[5.0, 7.0, 1.0], [2.0, 3.0, 0.0]]])
    maps = render_pose(pose, (12, 10), sigma=1.5)
    assert maps.shape == (1, 2, 12, 10)
    assert divmod(int(maps[0, 0].argmax()), 10) == (7, 5) and float(maps[0, 0].max()) == pytest.approx(1.0)
    assert float(maps[0, 1].abs().max()) == 0.0


def _captured_poses(monkeypatch, cfg, data):
    seen = []

    class Seen(Exception):
        pass

    def spy(self, images, pose):
        seen.append(pose.detach().clone())
        raise Seen                                         # the first batch's input is all we need
    monkeypatch.setattr(PoseFixNet, "forward", spy)
    with pytest.raises(Seen):
        pf.train_posefix(replace(cfg, steps=1), data=data)
    rng = np.random.default_rng([cfg.seed, 0])
    idx = rng.choice(len(data), size=min(cfg.batch_size, len(data)), replace=False)
    return seen[0].numpy(), data.keypoints[idx]


def test_training_sees_corrupted_poses_and_not_when_switched_off(tiny, monkeypatch):
    cfg, data = tiny
    pose, gt = _captured_poses(monkeypatch, cfg, data)
    lab = gt[..., 2] > 0
    dist = np.linalg.norm(pose[..., :2] - gt[..., :2], axis=-1)[lab]
    assert (dist > 0.5).mean() > 0.3                        # the refiner is shown erroneous poses
    pose0, gt0 = _captured_poses(monkeypatch, replace(cfg, corrupt=False), data)
    np.testing.assert_allclose(pose0[..., :2], gt0[..., :2])


def test_train_save_load_and_evaluate_by_type(tiny, tmp_path):
    cfg, data = tiny
    model, losses = pf.train_posefix(cfg, tmp_path, data=data)
    assert len(losses) == cfg.steps and all(np.isfinite(v) for _, v in losses)
    loaded, cfg2 = pf.load_posefix(tmp_path / pf.CHECKPOINT_NAME)
    assert cfg2 == cfg
    x = data.images[:2]
    p = torch.from_numpy(data.keypoints[:2]).float()
    model.eval()
    torch.testing.assert_close(loaded(x, p), model(x, p))
    rows = pf.evaluate_by_error_type(loaded, cfg, data, types=("jitter", "miss"))
    assert rows["miss"][0] < rows["jitter"][0] <= 1.0        # input AP: far misses hurt more
    assert rows["miss"][2] > 0


def test_refine_image_poses_frames(tiny, monkeypatch):
    """With a refiner that returns its input, refinement maps each pose back where it was."""
    from posekit.pipelines.poses import Poses
    cfg, _ = tiny
    model = PoseFixNet(17, deconv_channels=8)
    monkeypatch.setattr(pf, "refine_poses", lambda m, c, images, poses: poses.clone())
    rng = np.random.default_rng(3)
    kp = np.zeros((2, 17, 3), np.float32)
    kp[..., :2] = rng.uniform(40, 90, size=(2, 17, 2))
    kp[..., 2] = 0.9
    boxes = np.array([[35, 30, 95, 100], [30, 35, 100, 95]], np.float32)
    poses = Poses(kp, np.array([0.9, 0.8]), boxes, COCO17)
    out = pf.refine_image_poses(model, cfg, np.zeros((120, 130, 3), np.uint8), poses)
    np.testing.assert_allclose(out.keypoints[..., :2], kp[..., :2], atol=1e-3)
    np.testing.assert_array_equal(out.boxes, boxes)


def test_predict_has_refine_option():
    from posekit.cli import build_parser
    args = build_parser().parse_args(["predict", "x.jpg", "--refine", "r.safetensors"])
    assert args.refine == "r.safetensors"


def test_posekit_train_writes_a_refiner_that_predict_refine_loads(tmp_path, capsys):
    """``posekit train posefix_tiny`` writes posefix.safetensors, refuses to write over it, and
    ``--set`` names a wrong key."""
    from posekit import cli
    from posekit.engine.posefix import load_posefix

    out = tmp_path / "pf"
    assert cli.main(["train", "posefix_tiny", "--out", str(out), "--set", "steps=2"]) == 0
    model, cfg = load_posefix(out / "posefix.safetensors")
    assert cfg.steps == 2 and cfg.input_size == (64, 64)
    assert cli.main(["train", "posefix_tiny", "--out", str(out)]) != 0
    assert "exists" in capsys.readouterr().err
    assert cli.main(["train", "posefix_tiny", "--out", str(tmp_path / "b"), "--set", "nope=1"]) != 0
    assert "nope=1" in capsys.readouterr().err
