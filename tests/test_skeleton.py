import numpy as np
import pytest

from posekit.skeleton import (
    AIC14, BLAZEPOSE33, COCO17, CROWDPOSE14, FLIC11, JHMDB15, LSP14, MPII16, SPECS, KeypointSpec,
    get_spec, remap_index, remap_keypoints,
)


@pytest.mark.parametrize("spec", list(SPECS.values()), ids=list(SPECS))
def test_flip_index_mirrors_names(spec):
    for i, j in enumerate(spec.flip_index):
        a, b = spec.names[i], spec.names[j]
        if "left" in a:
            assert b == a.replace("left", "right")
        elif "right" in a:
            assert b == a.replace("right", "left")
        else:
            assert i == j
        assert spec.flip_index[j] == i


@pytest.mark.parametrize("spec", list(SPECS.values()), ids=list(SPECS))
def test_limbs_flip_to_limbs(spec):
    limbs = {frozenset(limb) for limb in spec.limbs}
    for a, b in spec.limbs:
        assert frozenset((spec.flip_index[a], spec.flip_index[b])) in limbs


def test_known_sizes_and_sources():
    sizes = {COCO17: 17, MPII16: 16, LSP14: 14, FLIC11: 11, AIC14: 14, CROWDPOSE14: 14,
             BLAZEPOSE33: 33, JHMDB15: 15}
    for spec, k in sizes.items():
        assert spec.num_keypoints == k
        assert spec.source
    assert COCO17.sigmas_array()[0] == pytest.approx(0.026)
    with pytest.raises(ValueError, match="no OKS sigmas"):
        MPII16.sigmas_array()


def test_bad_specs_are_refused():
    with pytest.raises(ValueError, match="no mirror"):
        KeypointSpec("x", ("left_a", "b"), (), None, "test")
    with pytest.raises(ValueError, match="bad limb"):
        KeypointSpec("x", ("a", "b"), ((0, 2),), None, "test")
    with pytest.raises(ValueError, match="sigmas"):
        KeypointSpec("x", ("a", "b"), (), (0.1,), "test")


def test_remap_between_specs_through_common_joints():
    pairs = dict(remap_index(MPII16, COCO17))
    assert pairs[MPII16.index("left_wrist")] == COCO17.index("left_wrist")
    assert MPII16.index("head_top") not in pairs  # COCO has no head top
    # MPII's upper_neck and LSP's neck are the same point
    assert dict(remap_index(MPII16, LSP14))[MPII16.index("upper_neck")] == LSP14.index("neck")
    kp = np.random.default_rng(0).random((2, 16, 3)).astype(np.float32)
    out = remap_keypoints(kp, MPII16, COCO17)
    assert out.shape == (2, 17, 3)
    np.testing.assert_array_equal(out[:, COCO17.index("right_ankle")], kp[:, 0])
    np.testing.assert_array_equal(out[:, COCO17.index("nose")], 0)
    back = remap_keypoints(out, COCO17, MPII16)
    for i, _ in remap_index(MPII16, COCO17):
        np.testing.assert_array_equal(back[:, i], kp[:, i])
    with pytest.raises(ValueError, match="expected"):
        remap_keypoints(kp, COCO17, MPII16)


def test_blazepose_to_coco_covers_all_coco_joints():
    assert len(remap_index(BLAZEPOSE33, COCO17)) == 17


def test_get_spec():
    assert get_spec("coco17") is COCO17
    with pytest.raises(KeyError, match="known"):
        get_spec("nope")


def test_import_posekit_does_not_import_torch():
    import subprocess
    import sys
    code = "import sys, posekit, posekit.metrics, posekit.data.records, posekit.geometry; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
