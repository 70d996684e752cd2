"""Learning, proved for a bottom-up model (CI size; issue 11): the synthetic_paf preset's model
(bottomup_tiny with part affinity fields), shrunk to fit CI: 96x96 scenes of 2-3 people, 512
training scenes without augmentation, width 24, batch 12, 150 steps, then COCO AP on 24
held-out scenes through the bottom-up predictor (the path of ``posekit predict``).

An untrained model finds nobody (AP 0). Measured here (2026-12-01, 2 cores under load ~17):
AP 0.072, AP50 0.290 in 73 s of training (87 s for the test); the bars are AP >= 0.05 and
AP50 >= 0.2 (the run is seeded and deterministic on one thread). The same model trained 200
steps reached AP 0.123 (95 s). The full run (``synthetic_paf``, 128x128, 2-4 people) reaches
AP >= 0.5; see docs/training.md, "Learning, proved (bottom-up)"."""

from __future__ import annotations

import torch

from posekit.engine.config import apply_overrides
from posekit.engine.presets import get_preset
from posekit.engine.train import train


def test_small_bottom_up_model_learns_to_find_and_group_synthetic_people(tmp_path):
    torch.set_num_threads(1)
    cfg = apply_overrides(get_preset("synthetic_paf"), [
        "data.input_size=[96, 96]", "data.num_people=[2, 3]", "data.num_train=512", "data.num_val=24",
        "data.aug=false", 'model.kwargs={"width": 24, "stages": 2}', "train.batch_size=12", "train.steps=150",
        "train.eval_every=0", "train.checkpoint_every=0", "train.progress=false"])
    result = train(cfg, tmp_path)
    final = result.evals[-1]
    print(f"\ntrained ({result.seconds:.0f} s): {final}")
    assert final["AP"] >= 0.05, final
    assert final["AP50"] >= 0.2, final
