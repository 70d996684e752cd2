"""RMPE (Fang et al., ICCV 2017): the fitted parametric pose NMS (posekit.rmpe, posekit rmpe
fit-pnms), PGPG and the simulated detector (posekit.data.pgpg), the centred targets of the parallel
SPPE branch and their wiring into the engine. The SSTN model itself: tests/models/test_sstn.py."""

from __future__ import annotations

import json

import numpy as np
import pytest

from posekit.data.pgpg import (
    PGPGSampler, SimulatedDetector, apply_offsets, box_offsets, centred_keypoints, detector_pairs, fit_pgpg, kmeans,
    normalised_pose,
)
from posekit.errors import PosekitError
from posekit.nms import parametric_pose_nms
from posekit.rmpe import (
    AUTHORS_PNMS, PNMSParams, fit_pnms, load_pnms_params, pnms_ap, save_pnms_params, synthetic_proposals,
)
from posekit.skeleton import COCO17

SMALL_GRIDS = dict(rounds=1, eta_steps=12, sigma1_grid=(0.2, 1.0), sigma2_grid=(1.0, 2.65), lam_grid=(0.5, 1.7))


@pytest.fixture(scope="module")
def noisy_proposals():
    """Crowded scenes whose duplicates are far off (5-15% of the height): the authors' eta keeps
    many of them, so a fit has something to correct."""
    return synthetic_proposals(8, 5, error=(0.05, 0.15), duplicates=4)


# ------------------------------------------------------------------------------------ P-NMS
def test_fitted_parameters_differ_from_the_authors_and_change_what_nms_keeps(noisy_proposals):
    records, props = noisy_proposals
    fit = fit_pnms(records, props, **SMALL_GRIDS)
    assert fit.start_ap == pytest.approx(pnms_ap(records, props, AUTHORS_PNMS))
    assert fit.ap > fit.start_ap                        # the search found better parameters ...
    assert fit.ap == pytest.approx(pnms_ap(records, props, fit.params))   # ... and reports their true AP
    assert fit.params != AUTHORS_PNMS
    changed = [p for p in props
               if not np.array_equal(parametric_pose_nms(p.keypoints, p.scores, p.boxes, **fit.params.kwargs()),
                                     parametric_pose_nms(p.keypoints, p.scores, p.boxes))]
    assert changed, "the fitted parameters keep the same poses as the authors' everywhere"


def test_fit_is_deterministic_and_never_below_the_start(noisy_proposals):
    records, props = noisy_proposals
    a = fit_pnms(records, props, **SMALL_GRIDS)
    b = fit_pnms(records, props, **SMALL_GRIDS)
    assert a.params == b.params and a.ap == b.ap
    # starting from the fitted values nothing better is on the grid: the fit keeps them
    again = fit_pnms(records, props, start=a.params, **SMALL_GRIDS)
    assert again.ap >= a.ap and again.start_ap == pytest.approx(a.ap)


def test_params_file_round_trip_and_errors(tmp_path):
    p = PNMSParams(sigma1=0.5, sigma2=1.5, lam=1.0, eta=12.0)
    path = save_pnms_params(p, tmp_path / "pnms_params.json", {"ap": 0.5})
    assert load_pnms_params(path) == p
    assert json.loads(path.read_text())["fit"] == {"ap": 0.5}
    with pytest.raises(PosekitError, match="missing.json"):
        load_pnms_params(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"sigma1": 1}')
    with pytest.raises(PosekitError, match="bad.json.*sigma2"):
        load_pnms_params(tmp_path / "bad.json")
    assert p.for_keypoints(14).eta == pytest.approx(12.0 * 14 / 17)


def test_fit_pnms_command_writes_beside_the_checkpoint(tmp_path, noisy_proposals, capsys, monkeypatch):
    from posekit import rmpe
    from posekit.cli import main
    from posekit.data.formats import write_coco
    records, props = noisy_proposals
    write_coco(records, tmp_path / "gt.json")
    results = [{"image_id": p.image_id, "category_id": 1, "score": float(s),
                "keypoints": [float(v) for v in k.reshape(-1)]}
               for p in props for k, s in zip(p.keypoints, p.scores)]
    (tmp_path / "pred.json").write_text(json.dumps(results))
    run = tmp_path / "run"
    run.mkdir()
    small = dict(SMALL_GRIDS)
    rounds = small.pop("rounds")
    real = rmpe.fit_pnms
    monkeypatch.setattr(rmpe, "fit_pnms", lambda gt, pr, rounds=rounds: real(gt, pr, rounds=rounds, **small))
    code = main(["rmpe", "fit-pnms", str(tmp_path / "pred.json"), "--gt", str(tmp_path / "gt.json"),
                 "--checkpoint", str(run / "checkpoint.safetensors"), "--rounds", "1"])
    assert code == 0
    written = load_pnms_params(run / "pnms_params.json")
    assert written != AUTHORS_PNMS
    out = capsys.readouterr().out
    assert "authors' values: AP" in out and "fitted:" in out


# ------------------------------------------------------------------------- detector and PGPG
def test_box_offsets_round_trip():
    rng = np.random.default_rng(0)
    true = np.array([[10, 20, 50, 120], [0, 0, 30, 40.0]])
    off = rng.normal(0, 0.2, size=(2, 4))
    assert np.allclose(box_offsets(apply_offsets(true, off), true), off)


def test_kmeans_finds_separated_clusters():
    rng = np.random.default_rng(1)
    centres = np.array([[0, 0], [10, 0], [0, 10.0]])
    x = np.concatenate([c + rng.normal(0, 0.3, size=(30, 2)) for c in centres])
    c, labels = kmeans(x, 3, seed=0)
    assert sorted(np.round(c).tolist()) == sorted(centres.tolist())
    assert len({tuple(labels[i * 30:(i + 1) * 30]) for i in range(3)}) == 3


def _people(n: int):
    from posekit.data.synthetic import make_dataset
    return [r for _, r in make_dataset(n, 3, size=(160, 160), num_people=(1, 1))]


def test_simulated_detector_is_fixed_per_person_and_depends_on_the_pose():
    det = SimulatedDetector(jitter=0.0, pull=0.5)
    rec = _people(1)[0]
    box, kp = rec.boxes[0].astype(np.float64), rec.keypoints[0]
    a, b = det(box, kp, None, (0, 0)), det(box, kp, np.random.default_rng(5), (0, 0))
    assert np.array_equal(a, b)                                     # the rng is not used: one box per person
    hips = kp[[11, 12], :2].mean(0)
    centre = (box[:2] + box[2:]) / 2
    assert np.allclose((a[:2] + a[2:]) / 2, centre + 0.5 * (hips - centre))
    jittered = SimulatedDetector(jitter=0.3, pull=0.0)
    assert not np.array_equal(jittered(box, kp, None, (0, 0)), jittered(box, kp, None, (0, 1)))


def test_pgpg_samples_follow_the_learnt_offsets_per_atomic_pose():
    """A detector with a pose-dependent bias (pull toward the pelvis) and little noise: PGPG's
    proposals for a person have the mean offset of that person's atomic pose, which differs
    between atomic poses and is not the zero offset of the true box."""
    records = _people(60)
    det = SimulatedDetector(jitter=0.05, pull=0.5)
    kps, true, detected = detector_pairs(records, det)
    model = fit_pgpg(kps, true, detected, atoms=4, seed=0)
    assert model.counts.sum() == len(kps) and (model.counts > 0).all()
    spread = np.ptp(model.means[:, 1])                               # vertical bias differs by pose
    assert spread > 0.02
    rng = np.random.default_rng(0)
    for j in range(len(kps))[:10]:
        a = model.atom(kps[j], true[j])
        boxes = model.sample(kps[j], true[j], rng, 400)
        mean = box_offsets(boxes, np.repeat(true[j][None], 400, 0)).mean(0)
        assert np.allclose(mean, model.means[a], atol=0.02), (mean, model.means[a])
    sampler = PGPGSampler(model)
    r1, r2 = np.random.default_rng(1), np.random.default_rng(2)
    assert not np.array_equal(sampler(true[0], kps[0], r1), sampler(true[0], kps[0], r2))  # fresh proposals


def test_normalised_pose_is_relative_to_the_box():
    kp = np.array([[10, 20, 2], [30, 60, 2], [0, 0, 0]], np.float32)
    v = normalised_pose(kp, np.array([10, 20, 30, 60.0]))
    assert np.allclose(v, [-0.5, -0.5, 0.5, 0.5, 0, 0])


# ------------------------------------------------------------------------- centred targets
def test_centred_keypoints_are_the_true_box_crop():
    from posekit.data.transforms import AugConfig, topdown_crop_params, topdown_transform
    rec = _people(1)[0]
    image = np.zeros((rec.height, rec.width, 3), np.uint8)
    box = rec.boxes[0].astype(np.float64)
    plain = topdown_transform(image, rec.keypoints[0], box, COCO17, (48, 64))
    poor = apply_offsets(box[None], np.array([[0.25, -0.2, 0.3, -0.25]]))[0]
    params = topdown_crop_params(rec.keypoints[0], poor, COCO17, (48, 64), np.random.default_rng(3),
                                 AugConfig(rotation_deg=20, rotation_prob=0.0, flip_prob=0.0))
    kc = centred_keypoints(rec.keypoints[0], box, params, COCO17, (48, 64))
    assert np.allclose(kc, plain.keypoints, atol=1e-4)                   # whatever box the crop used
    crop_kp = topdown_transform(image, rec.keypoints[0], poor, COCO17, (48, 64)).keypoints
    assert np.abs(crop_kp[:, :2] - kc[:, :2]).max() > 3                  # the poor crop is elsewhere


def test_engine_wires_detector_pgpg_and_centred_targets():
    from posekit.data.pgpg import PGPGSampler as Sampler
    from posekit.engine.config import apply_overrides
    from posekit.engine.data import build_codec, build_eval_set, build_train_set
    from posekit.engine.presets import get_preset
    cfg = apply_overrides(get_preset("rmpe_sb_r18_synthetic"), ["data.num_train=24", "data.num_val=4"])
    codec = build_codec(cfg)
    ds = build_train_set(cfg, codec, COCO17)
    assert isinstance(ds.box_sampler, Sampler) and ds.centred_targets
    s = ds[0]
    assert s["parallel_heatmaps"].shape == s["heatmaps"].shape
    assert not np.allclose(s["parallel_heatmaps"].numpy(), s["heatmaps"].numpy())
    ev = build_eval_set(cfg, COCO17).dataset
    assert isinstance(ev.box_sampler, SimulatedDetector) and not ev.centred_targets
    off = build_train_set(apply_overrides(cfg, ["data.pgpg_atoms=0", "model.arch=simple_baseline_r18"]), codec, COCO17)
    assert isinstance(off.box_sampler, SimulatedDetector) and not off.centred_targets
    with pytest.raises(PosekitError, match="detector_jitter"):
        build_train_set(apply_overrides(cfg, ["data.detector_jitter=0"]), codec, COCO17)


def test_held_out_crops_pad_the_box_as_the_training_crops_do():
    """``data.aug_kwargs`` padding (the box's context, RMPE's box extension) reaches the held-out
    crops too, so that a model is scored on crops like those it was trained on."""
    from posekit.engine.config import apply_overrides
    from posekit.engine.data import build_eval_set
    from posekit.engine.presets import get_preset
    cfg = apply_overrides(get_preset("rmpe_sb_r18_synthetic"), ["data.num_train=8", "data.num_val=4"])
    plain = build_eval_set(cfg, COCO17).dataset
    wide = build_eval_set(apply_overrides(cfg, {"data.aug_kwargs": {**cfg.data.aug_kwargs, "padding": 1.6}}),
                          COCO17).dataset
    assert plain.aug.padding == pytest.approx(1.25) and wide.aug.padding == pytest.approx(1.6)
    assert isinstance(wide.box_sampler, SimulatedDetector)
    assert np.allclose(wide[0]["size"].numpy(), plain[0]["size"].numpy() * 1.6 / 1.25, rtol=1e-5)


def test_predict_pose_nms_rmpe_uses_the_fitted_parameters_beside_the_checkpoint(tmp_path, noisy_proposals):
    """``posekit predict --pose-nms rmpe``: with pnms_params.json beside the checkpoint the poses go
    through P-NMS with those parameters (here: a different set survives than with the authors'),
    without it through the predictor's own NMS set to rmpe."""
    import argparse

    from posekit.commands.predict import _with_pose_nms
    from posekit.pipelines.poses import Poses
    _, props = noisy_proposals
    fitted = PNMSParams(sigma1=1.0, sigma2=2.65, lam=1.7, eta=5.0)
    p = next(q for q in props
             if len(parametric_pose_nms(q.keypoints, q.scores, q.boxes, **fitted.kwargs()))
             != len(parametric_pose_nms(q.keypoints, q.scores, q.boxes)))

    class Fake:
        pose_nms = "oks"
        name = "fake"

        def predict(self, image):
            return Poses(p.keypoints.astype(np.float32), p.scores.astype(np.float32), p.boxes.astype(np.float32),
                         COCO17)

        def predict_boxes(self, image, boxes, scores):
            return self.predict(image)

    ckpt = tmp_path / "checkpoint.safetensors"
    args = argparse.Namespace(model=str(ckpt), pose_nms="rmpe", pnms_params=None)
    plain = _with_pose_nms(args, Fake())
    assert isinstance(plain, Fake) and plain.pose_nms == "rmpe"        # no file: the predictor's own
    save_pnms_params(fitted, tmp_path / "pnms_params.json")
    wrapped = _with_pose_nms(args, Fake())
    assert wrapped.predictor.pose_nms == "none" and wrapped.name == "fake"
    got = wrapped.predict(None)
    want = parametric_pose_nms(p.keypoints, p.scores, p.boxes, **fitted.kwargs())
    assert len(got) == len(want) != len(parametric_pose_nms(p.keypoints, p.scores, p.boxes))
    assert len(wrapped.predict_boxes(None, None, None)) == len(want)
    with pytest.raises(PosekitError, match="--pnms-params goes with --pose-nms rmpe"):
        _with_pose_nms(argparse.Namespace(model="x", pose_nms="oks", pnms_params="p.json"), Fake())
