import numpy as np
import pytest

from posekit.data.records import ImageRecord
from posekit.errors import DataError
from posekit.io import list_inputs, read_image, write_image
from posekit.skeleton import COCO17


def test_read_write_image_round_trip(tmp_path):
    img = (np.arange(12 * 10 * 3) % 251).astype(np.uint8).reshape(12, 10, 3)
    write_image(tmp_path / "a.png", img)
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), img)


def test_read_image_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match="missing.jpg: image file not found"):
        read_image(tmp_path / "missing.jpg")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(DataError, match="bad.jpg: cannot decode"):
        read_image(bad)


def test_list_inputs_expands_folders(tmp_path):
    for n in ("b.jpg", "a.png", "c.txt"):
        (tmp_path / n).write_bytes(b"")
    assert [p.name for p in list_inputs([tmp_path])] == ["a.png", "b.jpg"]


def test_record_validation():
    kp = np.zeros((2, 17, 3), np.float32)
    kp[:, :, :2] = 5
    kp[:, :, 2] = 2
    kp[1, 3] = [1, 9, 2]
    r = ImageRecord.create("x.jpg", 10, 10, kp, COCO17)
    assert r.num_people == 2
    np.testing.assert_array_equal(r.boxes[1], [1, 5, 5, 9])
    assert r.areas[1] == pytest.approx(16)
    assert not r.crowd.any()
    empty = ImageRecord.create("e.jpg", 10, 10, [], COCO17)
    assert empty.keypoints.shape == (0, 17, 3)
    with pytest.raises(DataError, match=r"f.json\[3\]: 14 keypoints per person, but spec coco17 has 17"):
        ImageRecord.create("x.jpg", 10, 10, np.zeros((1, 14, 3)), COCO17, source="f.json", index=3)
    bad = kp.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        ImageRecord.create("x.jpg", 10, 10, bad, COCO17)
    with pytest.raises(DataError, match="boxes has shape"):
        ImageRecord.create("x.jpg", 10, 10, kp, COCO17, boxes=np.zeros((3, 4)))
    with pytest.raises(DataError, match="infinite"):
        ImageRecord.create("x.jpg", 10, 10, kp, COCO17, boxes=np.full((2, 4), np.inf))


def test_device_resolution():
    torch = pytest.importorskip("torch")
    from posekit.device import resolve_device
    from posekit.errors import PosekitError
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None).type in ("cpu", "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(PosekitError, match="CUDA is not available"):
            resolve_device("cuda")
    with pytest.raises(PosekitError, match="unknown device"):
        resolve_device("tpu9")
