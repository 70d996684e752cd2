"""Bottom-up training through the engine (issue 11): whole-image synthetic scenes -> codec
targets with the loss mask -> masked multi-stage loss -> checkpoint -> a bottom-up Estimator
-> ``posekit predict`` and ``posekit eval-model`` on whole images."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from posekit.cli import main
from posekit.data.formats.coco import write_coco
from posekit.engine import train as T
from posekit.engine.checkpoint import load_checkpoint
from posekit.engine.config import apply_overrides
from posekit.engine.data import build_codec, build_eval_set, build_records, build_train_set, is_bottomup
from posekit.engine.presets import get_preset
from posekit.errors import PosekitError
from posekit.models.estimator import Estimator, load_estimator
from posekit.pipelines.bottomup import BottomUpPredictor
from posekit.skeleton import COCO17

torch.set_num_threads(1)


def tiny(*overrides: str):
    return apply_overrides(get_preset("synthetic_paf_tiny"), list(overrides))


@pytest.fixture(scope="module")
def paf_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("paf")
    return T.train(tiny(), out), out


def test_paf_trains_and_its_checkpoint_is_a_bottom_up_estimator(paf_run):
    result, out = paf_run
    assert [s for s, _ in result.losses] == [0, 1, 2, 3]
    assert all(np.isfinite(l) for _, l in result.losses)
    # the end-of-run evaluation is COCO AP on whole held-out images
    assert {"AP", "AP50", "AR"} <= set(result.evals[-1])
    est = Estimator.from_checkpoint(result.checkpoint)
    assert est.kind == "bottom-up" and est.input_size == (64, 64)
    assert type(est.codec).__name__ == "PAFCodec" and len(est.codec.limbs) == 19
    assert est.module.num_limbs == 19      # the builder got num_limbs from the codec
    cfg = tiny()
    records, images = build_records(cfg, "val", COCO17)
    image = images.get(records[0].file_name)
    poses = BottomUpPredictor(est).predict(image)
    assert poses.keypoints.ndim == 3 and poses.keypoints.shape[1:] == (17, 3)
    assert poses.keypoints.dtype == np.float32


def test_bottom_up_checkpoint_predicts_through_the_cli(paf_run, tmp_path, capsys):
    result, _ = paf_run
    records, images = build_records(tiny(), "val", COCO17)
    path = tmp_path / "scene.png"
    cv2.imwrite(str(path), cv2.cvtColor(images.get(records[0].file_name), cv2.COLOR_RGB2BGR))
    out = tmp_path / "pred"
    assert main(["predict", str(path), "--model", str(result.checkpoint), "--out", str(out)]) == 0
    entries = json.loads((out / "results.json").read_text())
    assert isinstance(entries, list)
    for e in entries:
        assert len(e["keypoints"]) == 17 * 3 and e["file_name"] == "scene.png"


def test_eval_model_on_a_bottom_up_checkpoint_equals_the_training_evaluation(paf_run, tmp_path, capsys):
    """``posekit eval-model`` scores whole images through the same predictor as the periodic
    evaluation: the same numbers on the same held-out scenes."""
    result, _ = paf_run
    cfg = tiny()
    records, images = build_records(cfg, "val", COCO17)
    folder = tmp_path / "images"
    folder.mkdir()
    for r in records:
        cv2.imwrite(str(folder / r.file_name), cv2.cvtColor(images.get(r.file_name), cv2.COLOR_RGB2BGR))
    gt = tmp_path / "gt.json"
    write_coco(records, gt, COCO17)
    assert main(["eval-model", str(result.checkpoint), "--gt", str(gt), "--images", str(folder), "--json"]) == 0
    printed = capsys.readouterr().out
    got = json.loads(printed[printed.index("{"):])
    want = result.evals[-1]
    for k in ("AP", "AR"):
        assert got[k] == pytest.approx(want[k], abs=1e-9), (got, want)


def test_resume_continues_the_bottom_up_loss_curve_exactly(tmp_path, paf_run):
    full, _ = paf_run
    cfg = tiny()
    first = T.train(cfg, tmp_path / "split", stop_at=2)
    assert first.losses == full.losses[:2]
    rest = T.train(cfg, tmp_path / "split", resume=tmp_path / "split" / "checkpoint.safetensors")
    assert [s for s, _ in rest.losses] == [2, 3]
    np.testing.assert_allclose([l for _, l in rest.losses], [l for _, l in full.losses[2:]], rtol=1e-5)


def test_ae_trains_a_few_steps_and_predicts(tmp_path):
    cfg = tiny("model.codec=ae", 'model.kwargs={"width": 16, "head": "ae"}', "model.sigma=2")
    result = T.train(cfg, tmp_path)
    assert all(np.isfinite(l) for _, l in result.losses)
    est = load_estimator(result.checkpoint)
    assert est.kind == "bottom-up" and type(est.codec).__name__ == "AECodec"
    records, images = build_records(cfg, "val", COCO17)
    poses = BottomUpPredictor(est).predict(images.get(records[0].file_name))
    assert poses.keypoints.shape[1:] == (17, 3)


def test_ae_loss_reaches_the_tags():
    """The AE loss of a batch depends on the tag maps (pull/push) and on the heatmaps."""
    from posekit.losses import ae_loss_total
    cfg = tiny("model.codec=ae", "model.sigma=2")
    codec = build_codec(cfg)
    ds = build_train_set(cfg, codec, COCO17)
    from torch.utils.data import default_collate
    batch = default_collate([ds[0], ds[1]])
    K, (w, h) = 17, codec.heatmap_size
    tags = torch.zeros(2, K, h, w, requires_grad=True)
    heads = {"heatmaps": batch["heatmaps"].clone(), "tags": tags}
    loss = ae_loss_total(heads, batch, codec)
    # perfect heatmaps, all tags equal: no pull, full push (1 per pair of people) times 1e-3
    assert loss.item() == pytest.approx(1e-3, rel=1e-6)
    # distinct tags (at d = 0 the push term is flat): the gradient reaches the tag maps
    tags = torch.randn(2, K, h, w, generator=torch.Generator().manual_seed(0)).requires_grad_()
    loss = ae_loss_total({"heatmaps": batch["heatmaps"].clone(), "tags": tags}, batch, codec)
    loss.backward()
    assert tags.grad.abs().sum() > 0
    # and the heatmap term counts once per stage
    off = {"heatmaps": batch["heatmaps"] + 0.1, "tags": tags.detach()}
    one = ae_loss_total({**off, "stages": [off]}, batch, codec).item()
    two = ae_loss_total({**off, "stages": [off, off]}, batch, codec).item()
    assert two == pytest.approx(2 * one, rel=1e-6) and one > 0.005


def test_bottom_up_config_is_checked():
    assert is_bottomup(tiny()) and not is_bottomup(get_preset("synthetic_tiny"))
    with pytest.raises(PosekitError, match="square"):
        tiny("data.input_size=[64, 96]")
    with pytest.raises(PosekitError, match="model.codec"):
        tiny("model.codec=pafs")
    with pytest.raises(PosekitError, match="num_people"):
        tiny("data.num_people=[3, 2]")


def test_bottom_up_synthetic_sets_are_whole_scenes_with_the_asked_number_of_people():
    cfg = tiny("data.num_people=[3, 4]")
    records, _ = build_records(cfg, "train", COCO17)
    assert all(3 <= r.num_people <= 4 for r in records)
    assert all((r.width, r.height) == (64, 64) for r in records)
    ev = build_eval_set(cfg, COCO17)
    assert ev.kind == "bottom-up" and ev.dataset is None and ev.metric == "coco"


def test_bottom_up_training_on_the_real_coco_sample_masks_its_unlabelled_people(shared_data, tmp_path):
    """COCO JSON -> whole images -> PAF targets with W(p) = 0 on the crowd and keypoint-less
    people's boxes -> two steps -> COCO AP on the same images through the predictor."""
    coco = shared_data / "coco"
    cfg = tiny("data.dataset=coco", f"data.ann={coco / 'test_coco.json'}", f"data.images={coco}",
               "data.input_size=[128, 128]", "train.steps=2", "train.checkpoint_every=0")
    codec = build_codec(cfg)
    ds = build_train_set(cfg, codec, COCO17)
    records = ds.records
    unlabelled = [i for i, r in enumerate(records)
                  if (r.crowd | ~(r.keypoints[..., 2] > 0).any(-1)).any() and (r.keypoints[..., 2] > 0).any()]
    assert unlabelled, "the COCO sample has images with unlabelled people or crowds"
    masked = [ds.indices.index(i) for i in unlabelled if i in ds.indices]
    assert any((ds[j]["mask"] == 0).any() for j in masked)
    result = T.train(cfg, tmp_path)
    assert all(np.isfinite(l) for _, l in result.losses) and "AP" in result.evals[-1]


def test_evaluation_rounds_the_nominal_input_up_to_a_side_the_codec_accepts():
    """OpenPose's 368 is not a multiple of the PAF codec's 32: evaluation runs at 384 (and a
    64 input stays 64)."""
    from posekit.engine.evaluate import bottomup_predictor
    from posekit.models.bottomup_tiny import bottomup_tiny
    from posekit.models.estimator import imagenet_inputs
    for side, want in ((368, 384), (64, 64)):
        cfg = apply_overrides(get_preset("openpose_coco"), [f"data.input_size=[{side}, {side}]"])
        codec = build_codec(cfg)
        est = Estimator(bottomup_tiny(), codec, input_size=(side, side), spec=COCO17, normalise=imagenet_inputs,
                        kind="bottom-up")
        assert bottomup_predictor(est).long_side == want
