"""Exact grouping (issue 11): ground truth -> encode -> perfect heads -> decode and group gives
COCO AP >= 0.99, for the part affinity field codec and for Associative Embedding with ideal
tags (also HigherHRNet's two-resolution heads), on multi-person layouts with 1 to 20 people
whose arms cross and whose hands touch on purpose, and on random synthetic scenes. Also the
flip tests of both codecs: flip_back(encode(mirrored people)) == encode(people)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from posekit.codecs import AECodec, PAFCodec
from posekit.data.formats.coco import CocoResults
from posekit.data.records import ImageRecord
from posekit.data.synthetic import render_scene
from posekit.metrics.coco import coco_eval
from posekit.skeleton import COCO17

SIZE = 512
L_SHO, R_SHO, L_ELB, R_ELB, L_WRI, R_WRI = 5, 6, 7, 8, 9, 10

# a front-facing figure (subject's left on the image right), relative to its pelvis, at
# height ~186 px (scale 1)
_TEMPLATE = np.array([
    (0, -80), (6, -86), (-6, -86), (12, -82), (-12, -82), (24, -56), (-24, -56), (32, -16), (-32, -16),
    (36, 20), (-36, 20), (16, 0), (-16, 0), (18, 50), (-18, 50), (20, 100), (-20, 100)], np.float64)


def crossing_layout(n: int, seed: int) -> np.ndarray:
    """``(n, 17, 3)`` people in a 512x512 image on a grid of cells, side by side in pairs
    (A left, B right; odd one out alone). In pairs 0, 2, ... the two *left* forearms cross
    in an X at their middles (A's reaches right towards B, B's folds left across its body):
    same limb type, so their fields overlap there and are averaged, and each left wrist lies
    nearer the other person's left elbow than its own. In pairs 1, 3, ... A's left wrist
    touches B's right wrist (1.1 px apart: hands held). Joints are jittered and every joint
    is inside the image.

    (A joint placed *on* another person's limb of the same type, e.g. A's elbow on B's upper
    arm, is ambiguous for part affinity fields: the segment from B's shoulder to A's elbow
    follows B's field. Such layouts are not exact for PAF and are not built here.)"""
    rng = np.random.default_rng(seed)
    cols = 1 if n == 1 else 2 if n <= 4 else 4 if n <= 12 else 6
    rows = int(np.ceil(n / cols))
    cw, ch = SIZE / cols, SIZE / rows
    scale = min(0.85 * ch / 190.0, 1.6 * cw / 190.0, 1.5)
    kp = np.zeros((n, 17, 3), np.float64)
    for i in range(n):
        r, c = divmod(i, cols)
        pelvis = np.array([(c + 0.5) * cw, r * ch + (ch - 186 * scale) / 2 + 86 * scale])
        kp[i, :, :2] = pelvis + scale * _TEMPLATE + rng.uniform(-2, 2, (17, 2)) * scale
        kp[i, :, 2] = 2
    for a in range(0, n - 1, 2):
        b = a + 1
        if divmod(a, cols)[0] != divmod(b, cols)[0]:
            continue                                  # not side by side
        gap = kp[b, 0, 0] - kp[a, 0, 0]
        sa, sb = kp[a, L_SHO, :2], kp[b, L_SHO, :2]
        kp[a, L_ELB, :2] = sa + (0.25 * gap, 0.15 * gap)
        kp[b, L_ELB, :2] = sb + (-0.25 * gap, 0.15 * gap)
        if (a // 2) % 2 == 0:                         # the left forearms cross mid-limb (an X)
            kp[a, L_WRI, :2] = sa + (0.85 * gap, 0.45 * gap)
            kp[b, L_WRI, :2] = sb + (-0.85 * gap, 0.45 * gap)
        else:                                         # hands held: A's left wrist at B's right wrist
            kp[a, L_WRI, :2] = kp[b, R_WRI, :2] + (1.0, 0.5)
    assert (kp[..., :2] >= 0).all() and (kp[..., :2] <= SIZE - 1).all()
    return kp.astype(np.float32)


def _sep_ok(kp: np.ndarray, min_px: float) -> bool:
    """Whether any two people's joints of the same type are at least ``min_px`` apart (else
    their peaks merge: no codec at this stride can keep both)."""
    lab = kp[..., 2] > 0
    for k in range(kp.shape[1]):
        xy = kp[lab[:, k], k, :2]
        if len(xy) > 1:
            d = np.hypot(*(xy[:, None] - xy[None]).transpose(2, 0, 1))
            if d[np.triu_indices(len(xy), 1)].min() < min_px:
                return False
    return True


def random_scenes(count: int, seed: int, people: tuple[int, int]) -> list[np.ndarray]:
    """Random synthetic scenes (render_scene's keypoints, v = 0 outside the image) whose
    people are each connected in the skeleton and whose same-type joints are >= 16 px apart
    (4 grid px at stride 4)."""
    out, i = [], 0
    while len(out) < count:
        _, rec = render_scene(np.random.default_rng([seed, i]), size=(SIZE, SIZE), num_people=people,
                              height_range=(0.3, 0.6), clutter=0)
        i += 1
        kp = rec.keypoints.copy()
        inside = (kp[..., 0] >= 0) & (kp[..., 0] <= SIZE - 1) & (kp[..., 1] >= 0) & (kp[..., 1] <= SIZE - 1)
        kp[..., 2] = np.where(inside, 2.0, 0.0)
        kp = kp[(kp[..., 2] > 0).sum(axis=1) >= 3]
        if len(kp) and _sep_ok(kp, 16.0) and all(_connected(p) for p in kp):
            out.append(kp)
    return out


def _connected(kp: np.ndarray) -> bool:
    lab = set(np.flatnonzero(kp[:, 2] > 0).tolist())
    seen, todo = set(), [min(lab)]
    while todo:
        j = todo.pop()
        if j not in seen:
            seen.add(j)
            todo += [b if a == j else a for a, b in COCO17.limbs if j in (a, b) and (b if a == j else a) in lab]
    return seen == lab


def coco_ap(scenes: list[np.ndarray], decoded) -> dict:
    """COCO AP of decoded Instances (one image per scene) against the scenes' people."""
    records = [ImageRecord.create(f"s{i}.png", SIZE, SIZE, kp, COCO17, image_id=i) for i, kp in enumerate(scenes)]
    ids, kps, scores = [], [], []
    for i, inst in enumerate(decoded):
        keep = inst.scores[0] > 0
        ids += [i] * int(keep.sum())
        kps.append(inst.keypoints[0][keep].numpy())
        scores.append(inst.scores[0][keep].numpy())
    return coco_eval(records, CocoResults.create(np.array(ids), np.concatenate(kps), np.concatenate(scores)))


def _paf_decode(codec: PAFCodec, kp: np.ndarray):
    t = codec.encode(kp)
    return codec.decode_instances({"heatmaps": torch.from_numpy(t.heatmaps)[None],
                                   "pafs": torch.from_numpy(t.pafs)[None]})


def _ae_heads(codec: AECodec, kp: np.ndarray) -> dict:
    t = codec.encode(kp)
    heads = {"heatmaps": torch.from_numpy(t.heatmaps)[None], "tags": torch.from_numpy(codec.ideal_tags(kp))[None]}
    if codec.hr:
        heads["heatmaps_hr"] = torch.from_numpy(t.heatmaps_hr)[None]
    return heads


def test_crossing_layouts_cross_on_purpose():
    """The constructed layouts are what they claim: in each side-by-side pair the left elbows
    are nearer the other person's left shoulder, and the left forearms' segments intersect."""
    def cross(p1, p2, q1, q2):
        def o(a_, b_, c_):
            return np.sign((b_[0] - a_[0]) * (c_[1] - a_[1]) - (b_[1] - a_[1]) * (c_[0] - a_[0]))
        return o(p1, p2, q1) != o(p1, p2, q2) and o(q1, q2, p1) != o(q1, q2, p2)

    for n_people in (4, 20):
        kp = crossing_layout(n_people, 0)
        a, b = 0, 1
        for n, m in ((a, b), (b, a)):
            assert np.hypot(*(kp[n, L_WRI, :2] - kp[m, L_ELB, :2])) < np.hypot(*(kp[n, L_WRI, :2] - kp[n, L_ELB, :2]))
        assert cross(kp[a, L_ELB, :2], kp[a, L_WRI, :2], kp[b, L_ELB, :2], kp[b, L_WRI, :2])
        assert np.hypot(*(kp[2, L_WRI, :2] - kp[3, R_WRI, :2])) < 2.0      # hands held


@pytest.mark.parametrize("n", [1, 2, 5, 10, 20])
def test_paf_exact_grouping_crossing_layouts(n):
    codec = PAFCodec(COCO17, (SIZE, SIZE), stride=4, max_people=24)
    scenes = [crossing_layout(n, seed) for seed in range(2)]
    ap = coco_ap(scenes, [_paf_decode(codec, kp) for kp in scenes])
    assert ap["AP"] >= 0.99 and ap["AR"] >= 0.99, ap


@pytest.mark.parametrize("n", [1, 2, 5, 10, 20])
def test_ae_exact_grouping_crossing_layouts_ideal_tags(n):
    codec = AECodec(COCO17, (SIZE, SIZE), stride=4, max_people=24)
    scenes = [crossing_layout(n, seed) for seed in range(2)]
    ap = coco_ap(scenes, [codec.decode_instances(_ae_heads(codec, kp)) for kp in scenes])
    assert ap["AP"] >= 0.99 and ap["AR"] >= 0.99, ap


def test_exact_grouping_random_scenes_paf_ae_higherhrnet():
    """Random synthetic scenes of 2 to 8 people (any overlaps render_scene makes, people cut
    by the image border), both codecs and HigherHRNet's aggregated heads."""
    scenes = random_scenes(6, seed=11, people=(2, 8))
    assert sum(len(s) for s in scenes) >= 20
    paf = PAFCodec(COCO17, (SIZE, SIZE), stride=4, max_people=24)
    assert coco_ap(scenes, [_paf_decode(paf, kp) for kp in scenes])["AP"] >= 0.99
    for hr in (False, True):
        ae = AECodec(COCO17, (SIZE, SIZE), stride=4, hr=hr, max_people=24)
        ap = coco_ap(scenes, [ae.decode_instances(_ae_heads(ae, kp)) for kp in scenes])
        assert ap["AP"] >= 0.99, (hr, ap)


def test_ae_without_tags_information_fails():
    """The AE test can fail: with one tag for everybody the people are merged and AP falls."""
    codec = AECodec(COCO17, (SIZE, SIZE), stride=4, max_people=24)
    kp = crossing_layout(5, 0)
    heads = _ae_heads(codec, kp)
    heads["tags"] = (heads["tags"] > 0).float()
    assert coco_ap([kp], [codec.decode_instances(heads)])["AP"] < 0.5


def _mirror(kp: np.ndarray) -> np.ndarray:
    m = kp.copy()
    m[..., 0] = SIZE - 1 - m[..., 0]
    return m[:, list(COCO17.flip_index)]


def test_paf_flip_back_of_mirrored_people_is_the_encoding():
    codec = PAFCodec(COCO17, (SIZE, SIZE), stride=4)
    assert codec.supports_flip
    kp = crossing_layout(6, 3)
    kp[..., :2] += np.random.default_rng(0).uniform(-0.3, 0.3, kp[..., :2].shape)   # off the grid
    t, tm = codec.encode(kp), codec.encode(_mirror(kp))
    back = codec.flip_back({"heatmaps": torch.from_numpy(tm.heatmaps)[None], "pafs": torch.from_numpy(tm.pafs)[None]})
    np.testing.assert_allclose(back["heatmaps"][0].numpy(), t.heatmaps, atol=1e-5)
    np.testing.assert_allclose(back["pafs"][0].numpy(), t.pafs, atol=1e-5)
    assert np.abs(t.pafs).max() == pytest.approx(1.0)
    # a limb stored reversed: its mirror's field is negated
    rev = PAFCodec(COCO17, (SIZE, SIZE), stride=4, limbs=[(L_SHO, L_ELB), (R_ELB, R_SHO)])
    assert rev.flip_limbs() == [(1, -1.0), (0, -1.0)]
    t, tm = rev.encode(kp), rev.encode(_mirror(kp))
    back = rev.flip_back({"heatmaps": torch.from_numpy(tm.heatmaps)[None], "pafs": torch.from_numpy(tm.pafs)[None]})
    np.testing.assert_allclose(back["pafs"][0].numpy(), t.pafs, atol=1e-5)
    # without the mirror limb there is no flip
    with pytest.raises(Exception, match="mirror"):
        PAFCodec(COCO17, (SIZE, SIZE), limbs=[(L_SHO, L_ELB)]).flip_back(
            {"heatmaps": torch.zeros(1, 17, 128, 128), "pafs": torch.zeros(1, 2, 128, 128)})


def test_ae_flip_back_of_mirrored_people_is_the_encoding():
    codec = AECodec(COCO17, (SIZE, SIZE), stride=4, hr=True)
    kp = crossing_layout(6, 3)
    t, tm = codec.encode(kp), codec.encode(_mirror(kp))
    heads = {"heatmaps": torch.from_numpy(tm.heatmaps)[None], "heatmaps_hr": torch.from_numpy(tm.heatmaps_hr)[None],
             "tags": torch.from_numpy(codec.ideal_tags(_mirror(kp)))[None]}
    back = codec.flip_back(heads)
    np.testing.assert_allclose(back["heatmaps"][0].numpy(), t.heatmaps, atol=1e-5)
    np.testing.assert_allclose(back["heatmaps_hr"][0].numpy(), t.heatmaps_hr, atol=1e-5)
    # the tags of a joint move with its channel: left wrist tags now sit at the left wrists
    tags = back["tags"][0].numpy()
    mu = np.round(codec.input_to_heatmap(kp[:, L_WRI, :2])).astype(int)
    assert all(tags[L_WRI, y, x] == 2.0 * (n + 1) for n, (x, y) in enumerate(mu))
    # the flip test of perfect heads decodes as well as the heads
    avg = {k: 0.5 * (v + back[k]) for k, v in _ae_heads(codec, kp).items()}
    assert coco_ap([kp], [codec.decode_instances(avg)])["AP"] >= 0.99


def test_input_size_for_multiples():
    ae = AECodec(COCO17, stride=4, multiple=64)
    assert ae.input_size_for(640, 480, 512) == (512, 384)
    assert ae.input_size_for(480, 640, 512) == (384, 512)
    assert ae.input_size_for(1000, 300, 512) == (512, 192)      # 153.6 -> 192
    assert AECodec(COCO17).input_size_for(1000, 300, 512) == (512, 160)
    assert PAFCodec(COCO17).input_size_for(1000, 300, 512) == (512, 160)
    with pytest.raises(Exception, match="multiple of 64"):
        ae.input_size_for(640, 480, 480)
    with pytest.raises(Exception, match="multiple of 32"):
        PAFCodec(COCO17).input_size_for(640, 480, 500)


def test_ae_encode_targets_and_hr_frame():
    """Hand values: the Gaussian exp(-d^2 / (2 sigma^2)) at both resolutions, the max over
    people, the weights, the masks; the HigherHRNet grid is the stride-2 frame."""
    codec = AECodec(COCO17, (64, 64), stride=4, sigma=2.0, hr=True)
    kp = np.zeros((2, 17, 3), np.float32)
    kp[0, 0] = [4 * 3 + 1.5, 4 * 5 + 1.5, 2]          # heatmap (3, 5); hr grid (6.5, 10.5)
    kp[1, 0] = [4 * 6 + 1.5, 4 * 5 + 1.5, 1]          # heatmap (6, 5)
    ignore = np.zeros((16, 16), bool)
    ignore[0, 0] = True
    t = codec.encode(kp, ignore=ignore)
    assert t.heatmaps.shape == (17, 16, 16) and t.heatmaps_hr.shape == (17, 32, 32)
    assert t.heatmaps[0, 5, 3] == pytest.approx(1.0) and t.heatmaps[0, 5, 6] == pytest.approx(1.0)
    assert t.heatmaps[0, 5, 4] == pytest.approx(np.exp(-1 / 8))          # max, not sum
    assert t.heatmaps[0, 6, 3] == pytest.approx(np.exp(-1 / 8))
    assert t.heatmaps_hr[0, 10, 6] == pytest.approx(np.exp(-0.5 / 8))   # (0.5, 0.5) from (6.5, 10.5)
    np.testing.assert_array_equal(t.heatmap_weights[:2], [1, 0])
    assert t.mask[0, 0] == 0 and t.mask.sum() == 255
    assert (t.mask_hr[:2, :2] == 0).all() and t.mask_hr.sum() == 1024 - 4
    # decoding the hr heads maps back to the input exactly (sub-pixel); x_in = 2 x_hr + 0.5
    # at integer fine-grid pixels (a person between two fine pixels would make a plateau)
    kp = np.zeros((2, 17, 3), np.float32)
    kp[:, 0] = [[2 * 7 + 0.5, 2 * 9 + 0.5, 2], [2 * 20 + 0.25, 2 * 11 + 0.5, 2]]
    t = codec.encode(kp)
    heads = {"heatmaps": torch.from_numpy(t.heatmaps)[None], "heatmaps_hr": torch.from_numpy(t.heatmaps_hr)[None],
             "tags": torch.from_numpy(codec.ideal_tags(kp))[None]}
    inst = AECodec(COCO17, (64, 64), stride=4, hr=True, refine=False).decode_instances(heads)
    got = inst.keypoints[0][inst.scores[0] > 0][:, 0, :2].numpy()
    np.testing.assert_allclose(got[np.argsort(got[:, 0])], kp[:, 0, :2], atol=0.05)
