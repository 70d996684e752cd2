"""Named experiment presets: plain functions returning an :class:`ExperimentConfig`.

``posekit train PRESET --set key=value`` starts from one of these. To add a preset, write a
function and add it to :data:`PRESETS`.

Two kinds:

* **posekit's own** (``synthetic_sb_r18``, ``synthetic_tiny``, ``coco_sample_finetune``): short
  runs chosen for a CPU, described in their docstrings;
* **the papers' recipes** (``hrnet_w32_coco_256x192`` ... ``jain2013_flic``): each survey
  architecture with the values of its paper or official code: input and heatmap size, σ,
  optimizer, learning rate and schedule, epochs (as steps for a stated data-set size), batch,
  augmentation and the evaluation protocol. :data:`RECIPES` says where every value comes from
  (:class:`Recipe`), and :func:`recipe_table` prints them with their sources (the table in
  ``docs/training.md``, kept current by ``benchmarks/recipe_table.py --write``). The data paths
  are those of the data set's standard layout, relative to ``data.root``:
  ``posekit train hrnet_w32_coco_256x192 --set data.root=/data/coco``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from posekit.engine.config import (
    DataConfig, EvalConfig, ExperimentConfig, ModelConfig, OptimConfig, ScheduleConfig, TrainConfig,
)
from posekit.errors import PosekitError

__all__ = ["PRESETS", "RECIPES", "RECIPE_ITEMS", "Recipe", "get_preset", "SEARCH_PRESETS", "get_search_preset",
           "evopose2d_search_synthetic", "evopose2d_search_tiny", "POSEFIX_PRESETS", "get_posefix_preset", "posefix_synthetic", "posefix_tiny",
           "epoch_steps", "recipe_values",
           "recipe_table", "epochs_of", "synthetic_sb_r18", "synthetic_tiny", "synthetic_paf_tiny", "synthetic_paf", "synthetic_ae",
           "openpose_coco", "ae_hourglass_coco", "higherhrnet_w32_coco", "deepercut_coco", "BOTTOMUP_SOURCES",
           "coco_sample_finetune", "rmpe_sb_r18_synthetic", "rmpe_coco",
           "hrnet_w32_coco_256x192", "hrnet_w48_coco_384x288", "simple_baseline_r50_coco_256x192",
           "simple_baseline_r152_coco_384x288", "cpn_r50_coco_256x192", "mspn_coco_256x192", "hourglass8_mpii_256",
           "cpm_mpii_368", "prm_mpii_256", "efficientpose_ii_mpii", "evopose2d_s_coco_256x192", "deeppose_lsp",
           "jain2013_flic"]

# ../shared/data beside the repository root (src/posekit/engine -> parents[3] is the repo).
SHARED_DATA = (Path(__file__).resolve().parents[3] / ".." / "shared" / "data").resolve()


def synthetic_sb_r18() -> ExperimentConfig:
    """SimpleBaseline R18 at 128x96 on procedural synthetic figures: the "learning, proved"
    run (target: torso-normalised PCK@0.2 >= 0.90 on held-out scenes within 5 minutes on a
    2-core CPU; see docs/training.md for the measured curve).

    Chosen for a short CPU budget, where the number of optimizer steps is what counts:

    * fp32: bf16 autocast (``train.amp``) is only faster on CPUs with AVX512-BF16/AMX; on the
      AVX2-only development CPU a step took 19 s with it against 0.77 s without;
    * σ = 2 heatmap pixels at 24x32 (the default would be 1): a wider target gives a useful
      gradient sooner when training from scratch; DARK decoding keeps the sub-pixel accuracy;
    * skip connections (``skips=True``, not in the paper): the trunk's C4/C3/C2 features are
      added to the deconvolutions of the same size. From scratch, without them the stride-32
      bottleneck is all the head sees, and wrists and elbows are learnt slowly: 0.860 torso
      PCK@0.2 after 440 steps (287 s) without, 0.937 with, at the same cost per step;
    * 64-channel deconvolutions (the paper's 256 is for COCO): 0.56 s a step instead of 0.87,
      and torso PCK@0.2 at equal time is higher;
    * 360 steps (about 4.3 minutes here), evaluated every 90;
    * mild augmentation (flip, scale 0.85-1.15, rotation ±15° half the time, no half-body
      crops): the held-out figures lean by at most 25° and are whole, so the default strong
      augmentation (±40°, half-body) spends the few epochs on cases that are never tested.
    """
    return ExperimentConfig(
        name="synthetic_sb_r18",
        data=DataConfig(dataset="synthetic", spec="coco17", input_size=(96, 128), num_train=2048,
                        num_val=128, aug=True,
                        aug_kwargs={"scale_range": [0.85, 1.15], "rotation_deg": 15.0, "rotation_prob": 0.5,
                                    "half_body_prob": 0.0}),
        model=ModelConfig(arch="simple_baseline_r18", kwargs={"deconv_channels": 64, "skips": True}, codec="msra",
                          decoder="dark", sigma=2.0),
        optim=OptimConfig(optimizer="adamw", lr=2e-3, weight_decay=1e-4, grad_clip=5.0),
        schedule=ScheduleConfig(kind="cosine", warmup_steps=10, min_lr_factor=0.02),
        train=TrainConfig(steps=360, batch_size=16, eval_every=90, checkpoint_every=90, log_every=10),
    )


def synthetic_tiny() -> ExperimentConfig:
    """A seconds-long run for tests and smoke checks (64x64 crops, SimpleBaseline R18)."""
    return ExperimentConfig(
        name="synthetic_tiny",
        data=DataConfig(dataset="synthetic", spec="coco17", input_size=(64, 64), num_train=256,
                        num_val=32, aug=False),
        model=ModelConfig(arch="simple_baseline_r18", codec="msra"),
        optim=OptimConfig(optimizer="adam", lr=1e-3),
        schedule=ScheduleConfig(kind="cosine", warmup_steps=2),
        train=TrainConfig(steps=6, batch_size=8, eval_every=0, checkpoint_every=3, log_every=1,
                          progress=False),
    )


def synthetic_paf_tiny() -> ExperimentConfig:
    """A seconds-long bottom-up run for tests: ``bottomup_tiny`` with part affinity fields on
    64x64 synthetic scenes of 2 to 3 people (``model.codec=paf``, stride 4)."""
    return ExperimentConfig(
        name="synthetic_paf_tiny",
        data=DataConfig(dataset="synthetic", spec="coco17", input_size=(64, 64), num_train=64,
                        num_val=8, num_people=(2, 3), aug=False),
        model=ModelConfig(arch="bottomup_tiny", kwargs={"width": 16}, codec="paf", stride=4),
        optim=OptimConfig(optimizer="adam", lr=1e-3),
        schedule=ScheduleConfig(kind="cosine", warmup_steps=2),
        train=TrainConfig(steps=4, batch_size=4, eval_every=0, checkpoint_every=2, log_every=1,
                          progress=False),
    )


def synthetic_paf() -> ExperimentConfig:
    """The bottom-up "learning, proved" run: ``bottomup_tiny`` (PAF heads, 2 stages) on 128x128
    synthetic scenes of 2 to 4 people, scored with COCO AP on held-out scenes through the
    bottom-up predictor (target: AP >= 0.5 within 10 minutes on a 2-core CPU; see
    docs/training.md for the measured figure). σ = 1.5 and limb width 1 heatmap pixel (the PAF
    codec's defaults) on the 32x32 grid; mild whole-image augmentation (flip, scale 0.85-1.15,
    rotation ±10°)."""
    return ExperimentConfig(
        name="synthetic_paf",
        data=DataConfig(dataset="synthetic", spec="coco17", input_size=(128, 128), num_train=2048,
                        num_val=64, num_people=(2, 4), aug=True,
                        aug_kwargs={"scale_range": [0.85, 1.15], "rotation_deg": 10.0, "shift": 0.05}),
        model=ModelConfig(arch="bottomup_tiny", kwargs={"width": 32, "stages": 2}, codec="paf", stride=4),
        optim=OptimConfig(optimizer="adamw", lr=2e-3, weight_decay=1e-4, grad_clip=5.0),
        schedule=ScheduleConfig(kind="cosine", warmup_steps=20, min_lr_factor=0.02),
        train=TrainConfig(steps=500, batch_size=16, eval_every=100, checkpoint_every=100, log_every=20),
        eval=EvalConfig(flip_test=False),
    )


def rmpe_sb_r18_synthetic() -> ExperimentConfig:
    """RMPE (Fang et al., ICCV 2017) on synthetic figures with a poor person detector: the
    synthetic_sb_r18 recipe with SSTN (``sstn_sb_r18``: a spatial transformer and de-transformer
    around SimpleBaseline R18, trained with the parallel SPPE branch), crops from a simulated
    detector whose boxes are off by up to ±30% (``data.detector_jitter``; the same detector on the
    held-out scenes) and PGPG proposals from 8 atomic poses (``data.pgpg_atoms``). Predict with
    ``--pose-nms rmpe`` and the parameters ``posekit rmpe fit-pnms`` writes beside the checkpoint.
    The STN (``model.kwargs``): ``stn_mode="scale_shift"`` (a scale and a shift per axis: what a
    box error is; the centred targets keep the crop's rotation, so there is no rotation to undo)
    and ``stn_warmup`` = half the steps: the STN is held at the identity while the SPPE learns
    joints on the plain crops, then the localisation net and the parallel branch start (RMPE
    trains its STN around a trained SPPE; here inside the same number of steps).
    Switch one off with ``--set model.arch=simple_baseline_r18 --set
    'model.kwargs={"deconv_channels": 64, "skips": true}'`` or ``data.pgpg_atoms=0``;
    docs/rmpe.md has the ablation.
    """
    from dataclasses import replace
    base = synthetic_sb_r18()
    return replace(base, name="rmpe_sb_r18_synthetic",
                   data=replace(base.data, detector_jitter=0.3, detector_pull=0.3, pgpg_atoms=8),
                   model=replace(base.model, arch="sstn_sb_r18",
                                 kwargs={**base.model.kwargs, "stn_mode": "scale_shift",
                                         "stn_warmup": base.train.steps // 2, "theta_loss": True}))


def rmpe_coco() -> ExperimentConfig:
    """RMPE's top-down framework on COCO: SSTN around an 8-stack hourglass SPPE at 320x256
    (heatmaps 80x64), RMSprop at 2.5e-4, flip, ±30° rotation, scale 0.75-1.25, training crops
    from PGPG learnt on a simulated detector's boxes (16 atomic poses; stored COCO detector boxes
    are not read in training), evaluated like the Simple Baselines recipes (detector boxes, COCO
    AP). The SPPE, input and optimizer follow the authors' AlphaPose release as far as its
    defaults are known here; they are not verified against its code, and this preset is not in
    the recipe table (RECIPES) for that reason. Paths are relative to ``data.root``.
    """
    from dataclasses import replace
    aug = _aug(rotation=30.0, rotation_prob=1.0, scale=(0.75, 1.25), flip=0.5)
    return ExperimentConfig(
        name="rmpe_coco",
        data=replace(_coco_data((256, 320), aug), detector_jitter=0.3, detector_pull=0.3, pgpg_atoms=16),
        model=ModelConfig(arch="sstn_sb_r18", kwargs={"base": "hourglass_8"}, codec="msra", sigma=2.0,
                          decoder="argmax", stride=4),
        optim=OptimConfig(optimizer="rmsprop", lr=2.5e-4),
        schedule=ScheduleConfig(kind="constant"),
        train=TrainConfig(steps=epoch_steps(50, COCO_TRAIN_PEOPLE, 32), batch_size=32, eval_every=0,
                          checkpoint_every=epoch_steps(1, COCO_TRAIN_PEOPLE, 32), log_every=100),
        eval=_MSRA_COCO_EVAL)


def synthetic_ae() -> ExperimentConfig:
    """``synthetic_paf``'s data and schedule with Associative Embedding instead of part
    affinity fields: ``bottomup_tiny(head="ae")`` (heatmaps and 1-dim tags), ``model.codec=ae``,
    σ = 2 cells (the AE / HigherHRNet value), tag losses 1e-3 (``posekit.losses.ae_loss_total``)."""
    base = synthetic_paf()
    return ExperimentConfig(
        name="synthetic_ae", data=base.data,
        model=ModelConfig(arch="bottomup_tiny", kwargs={"width": 32, "stages": 2, "head": "ae"}, codec="ae",
                          stride=4, sigma=2.0),
        optim=base.optim, schedule=base.schedule, train=base.train, eval=base.eval,
    )


# ------------------------------------------------------------------------------ bottom-up
#: COCO train2017 images holding a person annotation (the bottom-up data sets count images,
#: not people): what HigherHRNet's CocoKeypoints keeps (images with any person annotation).
COCO_TRAIN_PERSON_IMAGES = 64_115


def _bottomup_aug(*, rotation: float, scale: tuple[float, float], shift: float, flip: float = 0.5) -> dict:
    """Every field of ``BottomUpAugConfig``, so that no value of a recipe hides in a default."""
    return {"flip_prob": flip, "scale_range": list(scale), "rotation_deg": rotation, "shift": shift,
            "brightness": 0.0, "contrast": 0.0, "saturation": 0.0, "hue": 0.0}


def _coco_bottomup_data(side: int, aug: dict) -> DataConfig:
    return DataConfig(dataset="coco", spec="coco17", input_size=(side, side),
                      ann="annotations/person_keypoints_train2017.json", images="train2017",
                      val_ann="annotations/person_keypoints_val2017.json", val_images="val2017",
                      aug=True, aug_kwargs=aug)


#: Where the values of the bottom-up paper presets come from (they are not in :data:`RECIPES`,
#: whose items are the top-down ones: heatmap size, boxes, half-body, ...).
BOTTOMUP_SOURCES: dict[str, dict[str, str]] = {
    "openpose_coco": {
        "paper": "Cao et al., OpenPose, TPAMI 2019",
        "code": "CMU-Perceptual-Computing-Lab/openpose_train training/d_setLayers.py.example, "
                "training/generateProtoTxt.py",
        "input": "d_setLayers: sImageScale 368 (crop 368x368), transform stride 8",
        "sigma": "d_setLayers: sKeypointSigmas 7 input px with exp(-d^2 / 2 sigma^2) -> posekit's "
                 "exp(-d^2 / sigma^2) at stride 8: sigma = 7 sqrt(2) / 8 = 1.237 cells; limb width 1 cell",
        "optimizer": "generateProtoTxt: Adam, momentum 0.9, momentum2 0.999, weight_decay 5e-4 (Caffe: L2 on "
                     "the gradient)",
        "lr": "d_setLayers: sLearningRateInit 1e-4 (not the super model)",
        "schedule": "generateProtoTxt: multistep gamma 0.5 at 200k, 300k, 360k, 420k, 480k, 540k, 600k, 700k, "
                    "800k, 900k iterations",
        "steps": "d_setLayers: sNumberIterations 1,000,000",
        "batch": "d_setLayers: sBatchSizes [10]",
        "augmentation": "d_setLayers: sMaxDegreeRotations 45, sScaleMins 1/3, sScaleMaxs 1.5 (OpenPose scales "
                        "the person to target_dist 0.6 first; posekit's scale is of the whole image), "
                        "center_perterb_max 40 px of 368 (shift 0.11), flip 0.5",
        "stages": "d_setLayers: sNumberStages [5, 1] (5 PAF + 1 map stages for BODY_25); the zoo's openpose "
                  "defaults to 4 + 2, see docs/models_bottomup.md",
    },
    "ae_hourglass_coco": {
        "paper": "Newell et al., Associative Embedding, NeurIPS 2017",
        "code": "princeton-vl/pose-ae-train task/pose.py",
        "input": "train.input_res 512, output_res 128 (stride 4)",
        "sigma": "data/coco_pose/dp.py GenerateHeatmap: sigma = output_res / 64 = 2 cells (not verified here; "
                 "HigherHRNet's SIGMA 2 is the same)",
        "optimizer": "make_network: torch.optim.Adam (betas 0.9/0.999), no weight decay",
        "lr": "train.learning_rate 2e-4",
        "schedule": "make_train: lr 1e-5 after 200,000 iterations (x0.05)",
        "steps": "not verified: the config gives the decay at 200,000 only; posekit trains 250,000",
        "batch": "train.batchsize 32",
        "loss": "train.loss: push 1e-3, pull 1e-3, detection 1 (posekit.losses.ae_loss_total)",
        "augmentation": "not verified (data/coco_pose/dp.py not checked); HigherHRNet's rotation 30, scale "
                        "0.75-1.5, shift 40 px of 512, flip 0.5",
    },
    "higherhrnet_w32_coco": {
        "paper": "Cheng et al., HigherHRNet, CVPR 2020",
        "code": "HRNet/HigherHRNet-Human-Pose-Estimation experiments/coco/higher_hrnet/w32_512_adam_lr1e-3.yaml",
        "input": "DATASET.INPUT_SIZE 512, OUTPUT_SIZE [128, 256]",
        "sigma": "DATASET.SIGMA 2 (exp(-d^2 / 2 sigma^2), cells of each resolution)",
        "optimizer": "TRAIN.OPTIMIZER adam, WD 1e-4",
        "lr": "TRAIN.LR 1e-3 (the file's name; the paper's text says 1.5e-3)",
        "schedule": "TRAIN.LR_STEP [200, 260], LR_FACTOR 0.1",
        "steps": f"TRAIN.END_EPOCH 300 over {COCO_TRAIN_PERSON_IMAGES} images",
        "batch": "TRAIN.IMAGES_PER_GPU 12 x 8 GPUs (the paper's setting; the yaml lists GPUS (0,))",
        "loss": "LOSS: heatmaps 1.0 at both resolutions, AE (push/pull 1e-3) at 1/4 only",
        "augmentation": "DATASET: MAX_ROTATION 30, MIN_SCALE 0.75, MAX_SCALE 1.5, MAX_TRANSLATE 40 px of 512 "
                        "(shift 0.078), FLIP 0.5",
        "test": "TEST.FLIP_TEST True, SCALE_FACTOR [1], DETECTION_THRESHOLD 0.1",
    },
    "deepercut_coco": {
        "paper": "Insafutdinov et al., DeeperCut, ECCV 2016",
        "code": "eldar/pose-tensorflow models/coco/train/pose_cfg.yaml (as DeepLabCut keeps it)",
        "input": "batch of one whole image (no fixed size; max_input_size 850); posekit: square 512",
        "sigma": "pos_dist_thresh 17 px (binary discs; posekit.codecs.DeeperCutCodec), locref_stdev 7.2801",
        "optimizer": "SGD momentum 0.9, weight decay 1e-4",
        "lr": "multi_step [[0.005, 10k], [0.02, 430k], [0.002, 730k], [0.001, 1030k]]: posekit warms up "
              "linearly from 0.005 to 0.02 over 10k steps (a constant 0.005 in the config) and steps x0.1 at "
              "430k; the last x0.5 at 730k is not expressible with one gamma (0.002 is kept)",
        "steps": "multi_step: 1,030,000 iterations",
        "batch": "batch_size 1",
        "loss": "locref_loss_weight 0.05, pairwise_loss_weight 0.1 (posekit.losses.deepercut_loss)",
        "augmentation": "scale_jitter 0.85-1.15, mirror (not verified for the COCO config); no rotation",
    },
}


def openpose_coco() -> ExperimentConfig:
    """OpenPose on COCO train2017 as in Cao et al., TPAMI 2019 (openpose_train): 368x368,
    stride 8, Adam 1e-4 halved at 200k ... 900k of 1M iterations, batch 10, rotation ±45,
    scale 1/3-1.5; evaluated with COCO AP on whole val2017 images. Sources:
    :data:`BOTTOMUP_SOURCES`. Needs --set data.root=/path/to/coco."""
    return ExperimentConfig(
        name="openpose_coco",
        data=_coco_bottomup_data(368, _bottomup_aug(rotation=45.0, scale=(1 / 3, 1.5), shift=40 / 368)),
        model=ModelConfig(arch="openpose", codec="paf", stride=8, sigma=round(7 * math.sqrt(2) / 8, 4)),
        optim=OptimConfig(optimizer="adam", lr=1e-4, weight_decay=5e-4),
        schedule=ScheduleConfig(kind="step", gamma=0.5, milestones=(200_000, 300_000, 360_000, 420_000, 480_000,
                                                                    540_000, 600_000, 700_000, 800_000, 900_000)),
        train=TrainConfig(steps=1_000_000, batch_size=10, eval_every=50_000, checkpoint_every=10_000),
        eval=EvalConfig(flip_test=False, metric="coco"),
    )


def ae_hourglass_coco() -> ExperimentConfig:
    """Associative Embedding's 4-stack hourglass on COCO as in Newell et al., NeurIPS 2017
    (pose-ae-train): 512 -> 128, Adam 2e-4 dropped to 1e-5 at 200k iterations, batch 32, tag
    and detection losses 1e-3 / 1. Sources: :data:`BOTTOMUP_SOURCES`. Needs --set data.root=..."""
    return ExperimentConfig(
        name="ae_hourglass_coco",
        data=_coco_bottomup_data(512, _bottomup_aug(rotation=30.0, scale=(0.75, 1.5), shift=40 / 512)),
        model=ModelConfig(arch="ae_hourglass", codec="ae", stride=4, sigma=2.0),
        optim=OptimConfig(optimizer="adam", lr=2e-4),
        schedule=ScheduleConfig(kind="step", gamma=0.05, milestones=(200_000,)),
        train=TrainConfig(steps=250_000, batch_size=32, eval_every=25_000, checkpoint_every=5_000),
        eval=EvalConfig(flip_test=True, metric="coco"),
    )


def higherhrnet_w32_coco() -> ExperimentConfig:
    """HigherHRNet-W32 on COCO at 512 as in Cheng et al., CVPR 2020 (w32_512_adam_lr1e-3.yaml):
    heatmaps at 1/4 and 1/2 (``model.codec=ae_hr``), Adam 1e-3 x0.1 at epochs 200 and 260 of
    300, batch 96, weight decay 1e-4; flip test. Sources: :data:`BOTTOMUP_SOURCES`. Needs
    --set data.root=/path/to/coco."""
    n, batch = COCO_TRAIN_PERSON_IMAGES, 96
    return ExperimentConfig(
        name="higherhrnet_w32_coco",
        data=_coco_bottomup_data(512, _bottomup_aug(rotation=30.0, scale=(0.75, 1.5), shift=40 / 512)),
        model=ModelConfig(arch="higherhrnet_w32", codec="ae_hr", stride=4, sigma=2.0),
        optim=OptimConfig(optimizer="adam", lr=1e-3, weight_decay=1e-4),
        schedule=ScheduleConfig(kind="step", gamma=0.1,
                                milestones=(epoch_steps(200, n, batch), epoch_steps(260, n, batch))),
        train=TrainConfig(steps=epoch_steps(300, n, batch), batch_size=batch, eval_every=epoch_steps(10, n, batch),
                          checkpoint_every=epoch_steps(1, n, batch)),
        eval=EvalConfig(flip_test=True, metric="coco"),
    )


def deepercut_coco() -> ExperimentConfig:
    """DeeperCut (ResNet-101 part detector, ILP grouping) on COCO as in Insafutdinov et al.,
    ECCV 2016 (pose-tensorflow's COCO pose_cfg): SGD momentum 0.9, lr 0.02 (after 10k at 0.005)
    x0.1 at 430k of 1.03M iterations, batch 1, stride 8. Sources: :data:`BOTTOMUP_SOURCES`.
    Needs --set data.root=/path/to/coco."""
    return ExperimentConfig(
        name="deepercut_coco",
        data=_coco_bottomup_data(512, _bottomup_aug(rotation=0.0, scale=(0.85, 1.15), shift=0.0)),
        model=ModelConfig(arch="deepercut", codec="deepercut", stride=8),
        optim=OptimConfig(optimizer="sgd", lr=0.02, momentum=0.9, weight_decay=1e-4),
        schedule=ScheduleConfig(kind="step", gamma=0.1, milestones=(430_000,), warmup_steps=10_000,
                                warmup_factor=0.25),
        train=TrainConfig(steps=1_030_000, batch_size=1, eval_every=100_000, checkpoint_every=10_000),
        eval=EvalConfig(flip_test=False, metric="coco"),
    )


def coco_sample_finetune() -> ExperimentConfig:
    """Overfit the 14 people of the COCO sample (../shared/data/coco): proves the real-data
    path, reading COCO JSON, GT-box crops, training, and COCO AP on the same people. No
    augmentation, so no flip test either (a model never shown mirrored people is not
    mirror-consistent)."""
    coco = SHARED_DATA / "coco"
    return ExperimentConfig(
        name="coco_sample_finetune",
        data=DataConfig(dataset="coco", spec="coco17", ann=str(coco / "test_coco.json"), images=str(coco),
                        input_size=(96, 128), aug=False),
        model=ModelConfig(arch="simple_baseline_r18", codec="msra", decoder="dark"),
        optim=OptimConfig(optimizer="adam", lr=2e-3),
        schedule=ScheduleConfig(kind="cosine", warmup_steps=10, min_lr_factor=0.05),
        train=TrainConfig(steps=300, batch_size=14, eval_every=100, checkpoint_every=100, log_every=10),
        eval=EvalConfig(flip_test=False),
    )


# ---------------------------------------------------------------------------------------------
# The papers' recipes
# ---------------------------------------------------------------------------------------------

#: COCO train2017 people with labelled keypoints: one epoch of Simple Baselines, HRNet and
#: EvoPose2D (EvoPose2D's ``dataset/coco.py``: ``TRAIN_SAMPLES = 149813``).
COCO_TRAIN_PEOPLE = 149_813
#: MPII training people of the common split (HRNet's / Simple Baselines' ``annot/train.json``;
#: ``annot/valid.json`` holds the 2,958 validation people of Tompson et al.).
MPII_TRAIN_PEOPLE = 22_246
#: LSP training images: LSP's 1,000 plus LSP-extended's 10,000 (DeepPose, Sec. 6.1).
LSP_TRAIN_PEOPLE = 11_000
#: FLIC training frames (Sapp & Taskar, CVPR 2013: 3,987 train, 1,016 test).
FLIC_TRAIN_PEOPLE = 3_987

#: The person boxes Simple Baselines and HRNet evaluate COCO val2017 with (a Faster R-CNN with
#: 56.4 AP on people), in the folder layout of their ``data/coco``.
COCO_VAL_DETECTIONS = "person_detection_results/COCO_val2017_detections_AP_H_56_person.json"

_HRNET_YAML = "leoxiaobin/deep-high-resolution-net.pytorch experiments/coco/hrnet/"
_SB_YAML = "leoxiaobin/deep-high-resolution-net.pytorch experiments/coco/resnet/"
_CPN = "chenyilun95/tf-cpn models/COCO.res50.256x192.CPN/"
_MSPN = "MSPN (megvii-research/MSPN, fenglinglwb/MSPN) "
_HG = "umich-vl/pose-hg-train src/opts.lua"
_PYRA = "bearpaw/PyraNet "
_CPM = "shihenw/convolutional-pose-machines-release training/genProto.py"
_EVO = "wmcnally/evopose2d "
_UNVERIFIED = ("not verified: no official training code, and the paper's training details could not be read "
               "(the reference search stores only its opening pages); posekit's choice")

#: The items every recipe gives a source for (the rows of its table).
RECIPE_ITEMS = ("input", "heatmap", "sigma", "optimizer", "lr", "schedule", "steps", "batch", "rotation",
                "scale", "flip", "half_body", "boxes", "flip_test", "flip_shift", "rescoring", "oks_nms", "metric")


@dataclass(frozen=True)
class Recipe:
    """Where the values of a paper preset come from.

    ``sources`` maps every item of :data:`RECIPE_ITEMS` to its source: the paper's section or
    table, or the official repository, config file and key. ``dataset_size`` is the number of
    training samples of one epoch that the preset's steps are counted for (``dataset_source``
    says where it comes from). ``notes`` say where posekit cannot follow the paper exactly."""

    paper: str
    code: str
    dataset_size: int
    dataset_source: str
    sources: dict[str, str]
    notes: tuple[str, ...] = field(default=())


def epoch_steps(epochs: float, dataset_size: int, batch_size: int) -> int:
    """Optimizer steps of ``epochs`` passes over ``dataset_size`` samples at a global batch of
    ``batch_size``: ``round(epochs * ceil(N / B))`` (an epoch's last batch may be short, as in a
    PyTorch ``DataLoader`` without ``drop_last``)."""
    return int(round(epochs * math.ceil(dataset_size / batch_size)))


def _aug(*, rotation: float, rotation_prob: float, scale: tuple[float, float], flip: float = 0.5,
         half_body: float = 0.0, half_body_min: int = 8, colour: float = 0.0, padding: float = 1.25) -> dict:
    """Every field of ``AugConfig``, so that no value of a recipe hides in a default."""
    return {"flip_prob": flip, "scale_range": list(scale), "rotation_deg": rotation, "rotation_prob": rotation_prob,
            "shift": 0.0, "half_body_prob": half_body, "half_body_min_keypoints": half_body_min,
            "half_body_padding": 1.5, "brightness": colour, "contrast": 0.0, "saturation": 0.0, "hue": 0.0,
            "padding": padding}


def _coco_data(input_wh: tuple[int, int], aug: dict) -> DataConfig:
    """COCO 2017 in its standard layout under ``data.root`` (default ``data/coco``)."""
    return DataConfig(dataset="coco", spec="coco17", root="data/coco",
                      ann="annotations/person_keypoints_train2017.json", images="train2017",
                      val_ann="annotations/person_keypoints_val2017.json", val_images="val2017",
                      input_size=input_wh, aug=True, aug_kwargs=aug)


def _mpii_data(input_wh: tuple[int, int], aug: dict) -> DataConfig:
    """MPII in the layout of HRNet / Simple Baselines (``annot/train.json``, ``annot/valid.json``,
    ``images/``) under ``data.root`` (default ``data/mpii``)."""
    return DataConfig(dataset="mpii", spec="mpii16", root="data/mpii", ann="annot/train.json", images="images",
                      val_ann="annot/valid.json", val_images="images", input_size=input_wh, aug=True,
                      aug_kwargs=aug)


#: Simple Baselines' and HRNet's COCO test protocol (their ``TEST`` config section).
_MSRA_COCO_EVAL = EvalConfig(boxes=COCO_VAL_DETECTIONS, box_score_threshold=0.0, flip_test=True, flip_shift="auto",
                             keypoint_score_threshold=0.2, oks_nms_threshold=0.9, metric="coco")


def _msra_coco(name: str, arch: str, input_wh: tuple[int, int], sigma: float, batch: int, epochs: int,
               milestones: tuple[int, int], aug: dict, kwargs: dict | None = None) -> ExperimentConfig:
    """The Simple Baselines / HRNet COCO recipe (one code base, ``lib/``): Adam, step schedule
    x0.1 at ``milestones`` epochs, ``argmax`` + quarter-pixel decoding (``POST_PROCESS``)."""
    n = COCO_TRAIN_PEOPLE
    return ExperimentConfig(
        name=name, data=_coco_data(input_wh, aug),
        model=ModelConfig(arch=arch, kwargs=kwargs or {}, codec="msra", sigma=sigma, decoder="argmax", stride=4),
        optim=OptimConfig(optimizer="adam", lr=1e-3, weight_decay=0.0),
        schedule=ScheduleConfig(kind="step", milestones=tuple(epoch_steps(e, n, batch) for e in milestones),
                                gamma=0.1),
        train=TrainConfig(steps=epoch_steps(epochs, n, batch), batch_size=batch, eval_every=0,
                          checkpoint_every=epoch_steps(1, n, batch), log_every=100, loss="mse"),
        eval=_MSRA_COCO_EVAL)


def _msra_sources(yaml: str, half_body: str) -> dict[str, str]:
    """Sources of a Simple Baselines / HRNet COCO recipe whose config file is ``yaml`` (file
    names relative to the repository the recipe's ``code`` names)."""
    yaml = yaml.rsplit("/", 1)[-1]
    return {
        "input": f"{yaml}: MODEL.IMAGE_SIZE",
        "heatmap": f"{yaml}: MODEL.HEATMAP_SIZE",
        "sigma": f"{yaml}: MODEL.SIGMA",
        "optimizer": f"{yaml}: TRAIN.OPTIMIZER adam; lib/utils/utils.py get_optimizer builds Adam "
                     "without weight decay (TRAIN.WD is used by SGD only)",
        "lr": f"{yaml}: TRAIN.LR",
        "schedule": f"{yaml}: TRAIN.LR_STEP (epochs), TRAIN.LR_FACTOR",
        "steps": f"{yaml}: TRAIN.END_EPOCH",
        "batch": f"{yaml}: TRAIN.BATCH_SIZE_PER_GPU x 4 GPUS (0,1,2,3)",
        "rotation": f"{yaml}: DATASET.ROT_FACTOR; probability 0.6 in lib/dataset/JointsDataset.py",
        "scale": f"{yaml}: DATASET.SCALE_FACTOR (scale 1 +- factor)",
        "flip": f"{yaml}: DATASET.FLIP; probability 0.5 in lib/dataset/JointsDataset.py",
        "half_body": half_body,
        "boxes": f"{yaml}: TEST.COCO_BBOX_FILE, TEST.IMAGE_THRE 0.0 (box score threshold)",
        "flip_test": f"{yaml}: TEST.FLIP_TEST",
        "flip_shift": f"{yaml}: TEST.SHIFT_HEATMAP true, a correction for its own heatmap frame; posekit's "
                      "frame needs none ('auto')",
        "rescoring": f"{yaml}: TEST.IN_VIS_THRE; box score x mean keypoint score in lib/dataset/coco.py",
        "oks_nms": f"{yaml}: TEST.OKS_THRE",
        "metric": f"lib/dataset/coco.py: COCOeval keypoints on val2017",
    }


_MSRA_NOTES = (
    "The reference draws rotation from N(0, ROT_FACTOR) clipped to +-2 ROT_FACTOR (60% of the samples) and scale "
    "from N(1, SCALE_FACTOR) clipped to 1 +- SCALE_FACTOR; posekit draws both uniformly over the paper's stated "
    "range.",
    "The reference's targets are Gaussians at the rounded heatmap position; posekit's MSRAHeatmap centres them "
    "at the exact sub-pixel position (unbiased).",
    "ImageNet-pretrained backbones: posekit builds the architecture from scratch (no pretrained trunk).",
)


def hrnet_w32_coco_256x192() -> ExperimentConfig:
    """HRNet-W32 on COCO train2017 at 256x192 as in Sun et al., CVPR 2019 (official
    w32_256x192_adam_lr1e-3.yaml): Adam 1e-3, x0.1 at epochs 170 and 200 of 210, batch 128,
    evaluated on val2017 with the 56.4-AP person boxes, flip test and OKS-NMS 0.9. Needs
    --set data.root=/path/to/coco."""
    return _msra_coco("hrnet_w32_coco_256x192", "hrnet_w32", (192, 256), 2.0, 128, 210, (170, 200),
                      _aug(rotation=45, rotation_prob=0.6, scale=(0.65, 1.35), half_body=0.3))


def hrnet_w48_coco_384x288() -> ExperimentConfig:
    """HRNet-W48 on COCO train2017 at 384x288 as in Sun et al., CVPR 2019 (official
    w48_384x288_adam_lr1e-3.yaml): sigma 3, Adam 1e-3, x0.1 at epochs 170 and 200 of 210,
    batch 96, the same COCO protocol as hrnet_w32_coco_256x192. Needs --set data.root=..."""
    return _msra_coco("hrnet_w48_coco_384x288", "hrnet_w48", (288, 384), 3.0, 96, 210, (170, 200),
                      _aug(rotation=45, rotation_prob=0.6, scale=(0.65, 1.35), half_body=0.3))


def simple_baseline_r50_coco_256x192() -> ExperimentConfig:
    """SimpleBaseline ResNet-50 on COCO at 256x192 as in Xiao et al., ECCV 2018 (official
    256x192_d256x3_adam_lr1e-3.yaml): three 256-channel deconvolutions, Adam 1e-3, x0.1 at
    epochs 90 and 120 of 140, batch 128, rotation +-40, scale +-30%, no half-body; COCO
    protocol as HRNet's. Needs --set data.root=/path/to/coco."""
    return _msra_coco("simple_baseline_r50_coco_256x192", "simple_baseline_r50", (192, 256), 2.0, 128, 140,
                      (90, 120), _aug(rotation=40, rotation_prob=0.6, scale=(0.7, 1.3)),
                      {"input_size": [256, 192], "deconv_channels": 256})


def simple_baseline_r152_coco_384x288() -> ExperimentConfig:
    """SimpleBaseline ResNet-152 on COCO at 384x288 as in Xiao et al., ECCV 2018 (official
    384x288_d256x3_adam_lr1e-3.yaml): sigma 3, Adam 1e-3, x0.1 at epochs 90 and 120 of 140,
    batch 128. Needs --set data.root=/path/to/coco."""
    return _msra_coco("simple_baseline_r152_coco_384x288", "simple_baseline_r152", (288, 384), 3.0, 128, 140,
                      (90, 120), _aug(rotation=40, rotation_prob=0.6, scale=(0.7, 1.3)),
                      {"input_size": [384, 288], "deconv_channels": 256})


def cpn_r50_coco_256x192() -> ExperimentConfig:
    """CPN (ResNet-50) on COCO at 256x192 as in Chen et al., CVPR 2018 (official tf-cpn
    COCO.res50.256x192.CPN): Adam 5e-4 halved every 3.6M samples over 24M, weight decay 1e-5,
    batch 32, OHKM (top 8), flip test, no OKS-NMS. Needs --set data.root=/path/to/coco."""
    n, batch = COCO_TRAIN_PEOPLE, 32
    every = 3_600_000 // batch                        # lr_dec_epoch x epoch_size samples
    return ExperimentConfig(
        name="cpn_r50_coco_256x192",
        data=_coco_data((192, 256), _aug(rotation=45, rotation_prob=0.5, scale=(0.7, 1.35))),
        model=ModelConfig(arch="cpn_r50", kwargs={"input_size": [256, 192]}, codec="msra", sigma=1.4,
                          decoder="argmax", stride=4),
        optim=OptimConfig(optimizer="adam", lr=5e-4, weight_decay=1e-5),
        schedule=ScheduleConfig(kind="step", milestones=tuple(every * k for k in range(1, 7)), gamma=0.5),
        train=TrainConfig(steps=24_000_000 // batch, batch_size=batch, eval_every=0,
                          checkpoint_every=epoch_steps(1, n, batch), log_every=100, loss="ohkm", ohkm_topk=8),
        eval=EvalConfig(boxes=COCO_VAL_DETECTIONS, box_score_threshold=0.0, flip_test=True, flip_shift="auto",
                        keypoint_score_threshold=0.0, oks_nms_threshold=1.0, metric="coco"))


def mspn_coco_256x192() -> ExperimentConfig:
    """4-stage MSPN on COCO at 256x192 as in Li et al., arXiv 2019 (official
    exps/mspn.2xstg.coco/config.py with 4 stages): Adam 4e-3 (5e-4 x 8 GPUs), warm-up 2,400
    iterations from 0.1, decay to 0 at 96,000, batch 256, OHKM (top 8), half-body 0.3.
    Needs --set data.root=/path/to/coco."""
    n, batch = COCO_TRAIN_PEOPLE, 256
    return ExperimentConfig(
        name="mspn_coco_256x192",
        data=_coco_data((192, 256), _aug(rotation=45, rotation_prob=0.5, scale=(0.75, 1.25), half_body=0.3,
                                         half_body_min=3)),
        model=ModelConfig(arch="mspn", kwargs={"input_size": [256, 192]}, codec="msra", sigma=1.1, decoder="argmax",
                          stride=4),
        optim=OptimConfig(optimizer="adam", lr=5e-4 * 8, weight_decay=1e-5, eps=1e-8),
        schedule=ScheduleConfig(kind="linear", warmup_steps=2400, warmup_factor=0.1, min_lr_factor=0.0),
        train=TrainConfig(steps=96_000, batch_size=batch, eval_every=0, checkpoint_every=2400, log_every=100,
                          loss="ohkm", ohkm_topk=8),
        eval=EvalConfig(boxes=COCO_VAL_DETECTIONS, box_score_threshold=0.0, flip_test=True, flip_shift="auto",
                        keypoint_score_threshold=0.2, oks_nms_threshold=0.9, metric="coco"))


def evopose2d_s_coco_256x192() -> ExperimentConfig:
    """EvoPose2D-S on COCO at 256x192 as in McNally et al., IEEE Access 2021 (official
    configs/evopose2d_S_f32.yaml): heatmaps at 1/2 resolution, sigma 4, Adam 2e-3 (2.5e-4 x
    256/32), 5 warm-up epochs then cosine decay over 200 epochs, batch 256.
    Needs --set data.root=/path/to/coco."""
    n, batch = COCO_TRAIN_PEOPLE, 256
    return ExperimentConfig(
        name="evopose2d_s_coco_256x192",
        data=_coco_data((192, 256), _aug(rotation=40, rotation_prob=0.6, scale=(0.7, 1.3), half_body=0.3)),
        model=ModelConfig(arch="evopose2d_s", codec="msra", sigma=4.0, decoder="argmax", stride=2),
        optim=OptimConfig(optimizer="adam", lr=2.5e-4 * batch / 32, weight_decay=2e-5),
        schedule=ScheduleConfig(kind="cosine", warmup_steps=epoch_steps(5, n, batch), warmup_factor=32 / batch,
                                min_lr_factor=0.0),
        train=TrainConfig(steps=epoch_steps(200, n, batch), batch_size=batch, eval_every=0,
                          checkpoint_every=epoch_steps(1, n, batch), log_every=100, loss="mse"),
        eval=EvalConfig(boxes=COCO_VAL_DETECTIONS, box_score_threshold=0.0, flip_test=True, flip_shift="auto",
                        keypoint_score_threshold=0.2, oks_nms_threshold=1.0, metric="coco"))


def hourglass8_mpii_256() -> ExperimentConfig:
    """8-stack Hourglass on MPII at 256x256 as in Newell et al., ECCV 2016 (official
    pose-hg-train src/opts.lua): RMSprop 2.5e-4, 100 epochs of 8,000 iterations at batch 6,
    sigma 1 at 64x64, rotation +-30, scale +-25%, flip test, PCKh@0.5.
    Needs --set data.root=/path/to/mpii."""
    batch = 6
    return ExperimentConfig(
        name="hourglass8_mpii_256",
        data=_mpii_data((256, 256), _aug(rotation=30, rotation_prob=0.4, scale=(0.75, 1.25), colour=0.2)),
        model=ModelConfig(arch="hourglass_8", kwargs={"input_size": [256, 256]}, codec="msra", sigma=1.0,
                          decoder="argmax", stride=4),
        optim=OptimConfig(optimizer="rmsprop", lr=2.5e-4, alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0),
        schedule=ScheduleConfig(kind="constant"),
        train=TrainConfig(steps=100 * 8000, batch_size=batch, eval_every=0, checkpoint_every=5 * 8000,
                          log_every=100, loss="mse"),
        eval=EvalConfig(flip_test=True, flip_shift="auto", metric="pckh"))


def prm_mpii_256() -> ExperimentConfig:
    """8-stack Pyramid Residual Module network on MPII at 256x256 as in Yang et al., ICCV 2017
    (official PyraNet opts.lua, train.lua): RMSprop 2.5e-4, x0.1 at epochs 150 and 170 of
    200, batch 6, sigma 1, rotation +-30, scale +-25%, flip test, PCKh@0.5.
    Needs --set data.root=/path/to/mpii."""
    n, batch = MPII_TRAIN_PEOPLE, 6
    return ExperimentConfig(
        name="prm_mpii_256",
        data=_mpii_data((256, 256), _aug(rotation=30, rotation_prob=0.4, scale=(0.75, 1.25))),
        model=ModelConfig(arch="prm", kwargs={"input_size": [256, 256], "num_stacks": 8, "base_width": 9,
                                              "cardinality": 4},
                          codec="msra", sigma=1.0, decoder="argmax", stride=4),
        optim=OptimConfig(optimizer="rmsprop", lr=2.5e-4, alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0),
        schedule=ScheduleConfig(kind="step", milestones=(epoch_steps(150, n, batch), epoch_steps(170, n, batch)),
                                gamma=0.1),
        train=TrainConfig(steps=epoch_steps(200, n, batch), batch_size=batch, eval_every=0,
                          checkpoint_every=epoch_steps(10, n, batch), log_every=100, loss="mse"),
        eval=EvalConfig(flip_test=True, flip_shift="auto", metric="pckh"))


def cpm_mpii_368() -> ExperimentConfig:
    """6-stage Convolutional Pose Machine on MPII at 368x368 as in Wei et al., CVPR 2016
    (official training/genProto.py): SGD 8e-5 with momentum 0.9 and weight decay 5e-4,
    x0.333 every 136,106 of 600,000 iterations, batch 16, rotation +-40, scale 0.7-1.3.
    Needs --set data.root=/path/to/mpii."""
    every = 136_106
    return ExperimentConfig(
        name="cpm_mpii_368",
        data=_mpii_data((368, 368), _aug(rotation=40, rotation_prob=1.0, scale=(0.7, 1.3))),
        model=ModelConfig(arch="cpm", kwargs={"input_size": [368, 368]}, codec="msra", sigma=0.0, decoder="argmax",
                          stride=8),
        optim=OptimConfig(optimizer="sgd", lr=8e-5, momentum=0.9, weight_decay=5e-4),
        schedule=ScheduleConfig(kind="step", milestones=tuple(every * k for k in range(1, 600_000 // every + 1)),
                                gamma=0.333),
        train=TrainConfig(steps=600_000, batch_size=16, eval_every=0, checkpoint_every=10_000, log_every=100,
                          loss="mse"),
        eval=EvalConfig(flip_test=True, flip_shift="auto", metric="pckh"))


def efficientpose_ii_mpii() -> ExperimentConfig:
    """EfficientPose II on single-person MPII at 368x368 as in Groos et al., Applied
    Intelligence 2021: input size from the paper's Table 1, confidence maps at the input
    resolution as in the official repository's models, SGD; the repository has no training
    code, and the other values are posekit's (see the recipe table).
    Needs --set data.root=/path/to/mpii."""
    n, batch = MPII_TRAIN_PEOPLE, 16
    return ExperimentConfig(
        name="efficientpose_ii_mpii",
        data=_mpii_data((368, 368), _aug(rotation=30, rotation_prob=0.5, scale=(0.75, 1.25))),
        model=ModelConfig(arch="efficientpose_ii", codec="msra", sigma=0.0, decoder="argmax", stride=1),
        optim=OptimConfig(optimizer="sgd", lr=1e-3, momentum=0.9, nesterov=True, weight_decay=0.0),
        schedule=ScheduleConfig(kind="cosine", min_lr_factor=0.0),
        train=TrainConfig(steps=epoch_steps(200, n, batch), batch_size=batch, eval_every=0,
                          checkpoint_every=epoch_steps(5, n, batch), log_every=100, loss="mse"),
        eval=EvalConfig(flip_test=True, flip_shift="auto", metric="pckh"))


def deeppose_lsp() -> ExperimentConfig:
    """DeepPose (3-stage cascade of direct regressors) on LSP at 220x220 as in Toshev and
    Szegedy, CVPR 2014; no official code, so only input size, stages and data set follow the
    paper (see the recipe table); PCK@0.2 on the LSP test set.
    Needs --set data.root=/path/to/lsp."""
    n, batch = LSP_TRAIN_PEOPLE, 32
    return ExperimentConfig(
        name="deeppose_lsp",
        data=DataConfig(dataset="lsp", spec="lsp14", root="data/lsp", ann="lsp_dataset/joints.mat",
                        images="lsp_dataset/images", input_size=(220, 220), aug=True,
                        aug_kwargs=_aug(rotation=20, rotation_prob=0.5, scale=(0.8, 1.2))),
        model=ModelConfig(arch="deeppose", kwargs={"input_size": [220, 220], "num_stages": 3}, codec="regression"),
        optim=OptimConfig(optimizer="sgd", lr=5e-4, momentum=0.9, weight_decay=0.0),
        schedule=ScheduleConfig(kind="constant"),
        train=TrainConfig(steps=epoch_steps(100, n, batch), batch_size=batch, eval_every=0,
                          checkpoint_every=epoch_steps(5, n, batch), log_every=100, loss="mse"),
        eval=EvalConfig(flip_test=True, flip_shift="auto", metric="pck"))


def jain2013_flic() -> ExperimentConfig:
    """Jain et al. (ICLR 2014) part-detector ConvNets on FLIC: one 64x64-patch detector per
    part run fully convolutionally (stride 4) on 256x256 crops; no official code, so only the
    data set and the detectors follow the paper (see the recipe table); PCK on FLIC's test set.
    Needs --set data.root=/path/to/FLIC."""
    n, batch = FLIC_TRAIN_PEOPLE, 32
    return ExperimentConfig(
        name="jain2013_flic",
        data=DataConfig(dataset="flic", spec="flic11", root="data/FLIC", ann="examples.mat", images="images",
                        input_size=(256, 256), aug=True,
                        aug_kwargs=_aug(rotation=10, rotation_prob=0.5, scale=(0.9, 1.1))),
        model=ModelConfig(arch="jain2013", kwargs={"input_size": [256, 256]}, codec="msra", sigma=0.0,
                          decoder="argmax", stride=4),
        optim=OptimConfig(optimizer="sgd", lr=1e-3, momentum=0.9, weight_decay=0.0),
        schedule=ScheduleConfig(kind="constant"),
        train=TrainConfig(steps=epoch_steps(100, n, batch), batch_size=batch, eval_every=0,
                          checkpoint_every=epoch_steps(5, n, batch), log_every=100, loss="mse"),
        eval=EvalConfig(flip_test=True, flip_shift="auto", metric="pck"))


def _cpn_sources() -> dict[str, str]:
    cfg = "config.py"
    return {
        "input": f"{cfg}: data_shape (256, 192)",
        "heatmap": f"{cfg}: output_shape (64, 48)",
        "sigma": f"{cfg}: gk7 (7, 7), the RefineNet target (GlobalNet: gk15/gk11/gk9/gk7); sigma 1.4 is OpenCV's "
                 "sigma for a 7-tap kernel with sigma 0 (dataset.py cv2.GaussianBlur(..., 0))",
        "optimizer": f"{cfg}: optimizer 'adam', weight_decay 1e-5 (an L2 term on the weights in the loss, "
                     "lib/tfflat/base.py)",
        "lr": f"{cfg}: lr",
        "schedule": f"{cfg}: get_lr, lr x lr_gamma 0.5 every step_size = epoch_size 60000 x lr_dec_epoch 60 "
                    "samples (itr counts samples, lib/tfflat/base.py Trainer.train)",
        "steps": f"{cfg}: max_itr = epoch_size x 400 = 24M samples",
        "batch": f"{cfg}: batch_size 32 per GPU, nr_gpus 1 (gpu_ids '0'); the schedule counts samples, so more "
                 "GPUs change only the step count",
        "rotation": f"dataset.py data_augmentation: two of four copies rotated by U(0, 45) of random sign",
        "scale": f"dataset.py data_augmentation: affrat U(0.7, 1.35)",
        "flip": f"dataset.py data_augmentation: one flipped copy of four",
        "half_body": f"dataset.py: none",
        "boxes": f"config.py det_path: its own detections on minival2014 (person AP 55.3); the preset uses "
                 "the common val2017 file; mptest.py min_scores 1e-10",
        "flip_test": f"mptest.py test_net: heatmaps of the flipped crop averaged",
        "flip_shift": f"mptest.py: no shift ('auto' = none in posekit's frame)",
        "rescoring": f"mptest.py: box score x mean of all keypoint scores",
        "oks_nms": f"mptest.py: box NMS threshold 1.0, no OKS-NMS",
        "metric": f"mptest.py: COCOeval keypoints",
    }


def _mspn_sources() -> dict[str, str]:
    cfg = "exps/mspn.2xstg.coco/config.py"
    attr = "dataset/attribute.py COCO"
    return {
        "input": f"{attr}: INPUT_SHAPE (256, 192)",
        "heatmap": f"{attr}: OUTPUT_SHAPE (64, 48)",
        "sigma": f"{attr}: TRAIN.GAUSSIAN_KERNELS (15..5), coarse to fine; the last stage's 5x5 kernel is sigma "
                 "1.1 by OpenCV's rule",
        "optimizer": f"{cfg}: SOLVER.OPTIMIZER Adam, WEIGHT_DECAY 1e-5; lib/utils/solver.py make_optimizer "
                     "(betas 0.9/0.999, eps 1e-8)",
        "lr": f"{cfg}: SOLVER.BASE_LR 5e-4; make_optimizer uses BASE_LR x number of GPUs (8 assumed, see batch)",
        "schedule": f"{cfg}: SOLVER.WARMUP_ITERS 2400, WARMUP_FACTOR 0.1; lib/utils/solver.py make_lr_scheduler: "
                    "linear warm-up, then linear decay to 0 at MAX_ITER",
        "steps": f"{cfg}: SOLVER.MAX_ITER 96000",
        "batch": f"{cfg}: SOLVER.IMS_PER_GPU 32; 8 GPUs assumed (not in the config: 8 x 32 x 96,000 = 24.6M "
                 "samples, tf-cpn's 24M-sample schedule)",
        "rotation": f"{attr}: TRAIN.ROTATION_FACTOR 45, PROB_ROTATION 0.5",
        "scale": f"{attr}: TRAIN.SCALE_FACTOR_LOW -0.25, SCALE_FACTOR_HIGH 0.25",
        "flip": f"{attr}: TRAIN.PROB_FLIP 0.5",
        "half_body": f"{attr}: TRAIN.PROB_HALF_BODY 0.3, NUM_KEYPOINTS_HALF_BODY 3",
        "boxes": f"README: COCO det_json (its own detections); the preset uses the common val2017 file",
        "flip_test": f"{attr}: TEST.FLIP True",
        "flip_shift": f"{attr}: TEST.SHIFT_RATIOS [0.25] is the quarter-pixel decoding ('argmax'); no flip shift "
                      "in posekit's frame ('auto')",
        "rescoring": "not verified (MSPN's test.py not checked here); HRNet's 0.2",
        "oks_nms": "not verified (MSPN's test.py not checked here); HRNet's 0.9",
        "metric": "COCO keypoint AP (MSPN README tables)",
    }


def _evopose_sources() -> dict[str, str]:
    yaml = "configs/evopose2d_S_f32.yaml"
    coco = "dataset/coco.py"
    return {
        "input": f"{yaml}: DATASET.INPUT_SHAPE [256, 192, 3]",
        "heatmap": "EvoPose2D paper Sec. III (heatmaps at 1/2 of the input; posekit's evopose2d_s, stride 2)",
        "sigma": f"{coco}: DATASET.SIGMA = 2 x OUTPUT_SHAPE[0] / 64 = 4 at 128x96",
        "optimizer": f"train.py: tf.keras Adam; {coco} TRAIN.WD 1e-5 as a Keras L2 kernel regularizer "
                     "(1e-5 x sum w^2, gradient 2e-5 w: weight_decay 2e-5)",
        "lr": f"{coco}: TRAIN.BASE_LR 2.5e-4, SCALE_LR True: x BATCH_SIZE / 32 (train.py)",
        "schedule": f"{yaml}: LR_SCHEDULE warmup_cosine_decay, WARMUP_EPOCHS 5; lr_schedules.py "
                    "WarmupCosineDecay, warm-up factor 32 / BATCH_SIZE (train.py)",
        "steps": f"{yaml}: TRAIN.EPOCHS 200; steps per epoch ceil(TRAIN_SAMPLES / BATCH_SIZE) (train.py)",
        "batch": f"{yaml}: TRAIN.BATCH_SIZE 256",
        "rotation": f"{coco}: DATASET.ROT_FACTOR 40, ROT_PROB 0.6",
        "scale": f"{coco}: DATASET.SCALE_FACTOR 0.3",
        "flip": f"{coco}: DATASET.FLIP_PROB 0.5",
        "half_body": f"not verified: dataset/dataloader.py reads DATASET.HALF_BODY_PROB, whose value is not "
                     "in the stored coco.py; HRNet's 0.3",
        "boxes": f"{yaml}: VAL.DET true (person detections); the preset uses the common val2017 file",
        "flip_test": f"{coco}: VAL.FLIP True",
        "flip_shift": f"validate.py shifts the flipped maps one pixel right, for its own frame; posekit's "
                      "frame needs none ('auto')",
        "rescoring": f"not verified: validate.py rescoring with VAL.SCORE_THRESH, not in the stored "
                     "coco.py; HRNet's 0.2",
        "oks_nms": f"validate.py: no OKS-NMS",
        "metric": f"validate.py: COCOeval keypoints",
    }


def _hourglass_sources() -> dict[str, str]:
    return {
        "input": f"opts.lua: -inputRes 256",
        "heatmap": f"opts.lua: -outputRes 64",
        "sigma": f"opts.lua: -hmGauss 1",
        "optimizer": f"opts.lua: -optMethod rmsprop, -alpha 0.99, -epsilon 1e-8, -momentum 0, -weightDecay 0",
        "lr": f"opts.lua: -LR 2.5e-4",
        "schedule": f"opts.lua: -LRdecay 0 (constant); the paper (Sec. 5.1) drops it once by 5x when validation "
                    "accuracy plateaus, a manual step posekit does not make",
        "steps": f"opts.lua: -nEpochs 100 x -trainIters 8000",
        "batch": f"opts.lua: -trainBatch 6",
        "rotation": f"opts.lua: -rotate 30; rotation on 40% of the samples (princeton-vl/pose-hg-train src/data.lua)",
        "scale": f"opts.lua: -scale .25",
        "flip": "princeton-vl/pose-hg-train src/data.lua: flip with probability 0.5",
        "half_body": "none in pose-hg-train",
        "boxes": "MPII's person centre and scale (x 1.25, pose-hg-train src/util/dataset/mpii.lua)",
        "flip_test": "princeton-vl/pose-hg-train src/train.lua: flipped output averaged in validation",
        "flip_shift": "pose-hg-train: no shift ('auto' = none in posekit's frame)",
        "rescoring": "single person per box: not used",
        "oks_nms": "single person per box: not used",
        "metric": "Newell et al., ECCV 2016, Sec. 5.1: PCKh@0.5 on MPII",
    }


def _prm_sources() -> dict[str, str]:
    opts = "opts.lua"
    return {
        "input": f"{opts}: -inputRes 256",
        "heatmap": f"{opts}: -outputRes 64",
        "sigma": f"{opts}: -gsize 1",
        "optimizer": f"{opts}: -optMethod rmsprop, -alpha 0.99, -epsilon 1e-8, -momentum 0, -weightDecay 0",
        "lr": f"{opts}: -LR 2.5e-4",
        "schedule": f"train.lua Trainer:learningRate: x0.1 at epochs 150, 170 (and 200) for MPII",
        "steps": f"{opts}: nEpochs 200 for MPII",
        "batch": f"experiments/mpii/hg-prm-stack2.sh: batchSize 6 (also baseWidth 9, cardinality 4)",
        "rotation": f"{opts}: -rotFactor 30, -rotProbab .4",
        "scale": f"{opts}: -scaleFactor .25",
        "flip": f"{opts}: -flipFactor .5",
        "half_body": "none in PyraNet",
        "boxes": "MPII's person centre and scale",
        "flip_test": f"train.lua Trainer:test: flipped output averaged",
        "flip_shift": "PyraNet: no shift ('auto' = none in posekit's frame)",
        "rescoring": "single person per box: not used",
        "oks_nms": "single person per box: not used",
        "metric": f"evaluation/eval_PCKh.m: PCKh@0.5",
    }


def _cpm_sources() -> dict[str, str]:
    return {
        "input": f"genProto.py: transform_param crop_size_x/y 368",
        "heatmap": f"genProto.py: transform_param stride 8 (46x46)",
        "sigma": "not in genProto.py (the CPM Caffe data layer's own default); posekit's default for 46x46",
        "optimizer": f"genProto.py: getSolverPrototxt momentum 0.9, weight_decay 0.0005 (Caffe SGD)",
        "lr": f"genProto.py: base_lr 8e-5",
        "schedule": f"genProto.py: lr_policy step, gamma 0.333, stepsize 136106",
        "steps": f"genProto.py: max_iter 600000",
        "batch": f"genProto.py: batch_size 16",
        "rotation": f"genProto.py: transform_param max_rotate_degree 40",
        "scale": f"genProto.py: transform_param scale_prob 1, scale_min 0.7, scale_max 1.3",
        "flip": "not in genProto.py (done by the CPM Caffe data layer); posekit's 0.5",
        "half_body": "none in genProto.py",
        "boxes": "MPII's person centre and scale",
        "flip_test": "not verified (testing/ code not checked here); posekit's default (on)",
        "flip_shift": "posekit's frame needs none ('auto')",
        "rescoring": "single person per box: not used",
        "oks_nms": "single person per box: not used",
        "metric": "Wei et al., CVPR 2016, Sec. 4: PCKh@0.5 on MPII",
    }


def _unverified_sources(paper: str, given: dict[str, str]) -> dict[str, str]:
    """Sources of a recipe without official training code: ``given`` items from the paper, the
    rest marked as not verified."""
    return {item: given.get(item, _UNVERIFIED) for item in RECIPE_ITEMS} | {"metric": given.get("metric", paper)}


#: Where the values of every paper preset come from; the keys are the preset names.
RECIPES: dict[str, Recipe] = {
    "hrnet_w32_coco_256x192": Recipe(
        "Sun et al., Deep High-Resolution Representation Learning for Human Pose Estimation, CVPR 2019",
        _HRNET_YAML + "w32_256x192_adam_lr1e-3.yaml, lib/", COCO_TRAIN_PEOPLE,
        "COCO train2017 labelled people (evopose2d dataset/coco.py TRAIN_SAMPLES)",
        _msra_sources(_HRNET_YAML + "w32_256x192_adam_lr1e-3.yaml",
                      "w32_256x192_adam_lr1e-3.yaml: DATASET.PROB_HALF_BODY 0.3, NUM_JOINTS_HALF_BODY 8; "
                      "x1.5 box in lib/dataset/JointsDataset.py half_body_transform"),
        _MSRA_NOTES),
    "hrnet_w48_coco_384x288": Recipe(
        "Sun et al., CVPR 2019", _HRNET_YAML + "w48_384x288_adam_lr1e-3.yaml, lib/", COCO_TRAIN_PEOPLE,
        "COCO train2017 labelled people (evopose2d dataset/coco.py TRAIN_SAMPLES)",
        _msra_sources(_HRNET_YAML + "w48_384x288_adam_lr1e-3.yaml",
                      "w48_384x288_adam_lr1e-3.yaml: DATASET.PROB_HALF_BODY 0.3, NUM_JOINTS_HALF_BODY 8"),
        _MSRA_NOTES),
    "simple_baseline_r50_coco_256x192": Recipe(
        "Xiao et al., Simple Baselines for Human Pose Estimation and Tracking, ECCV 2018",
        _SB_YAML + "res50_256x192_d256x3_adam_lr1e-3.yaml, lib/ (the Simple Baselines repository, Microsoft "
                   "human-pose-estimation.pytorch, has the same file as "
                   "experiments/coco/resnet50/256x192_d256x3_adam_lr1e-3.yaml)", COCO_TRAIN_PEOPLE,
        "COCO train2017 labelled people (evopose2d dataset/coco.py TRAIN_SAMPLES)",
        _msra_sources(_SB_YAML + "res50_256x192_d256x3_adam_lr1e-3.yaml",
                      "not in the config (no half-body in Simple Baselines)"),
        _MSRA_NOTES),
    "simple_baseline_r152_coco_384x288": Recipe(
        "Xiao et al., ECCV 2018", _SB_YAML + "res152_384x288_d256x3_adam_lr1e-3.yaml, lib/", COCO_TRAIN_PEOPLE,
        "COCO train2017 labelled people (evopose2d dataset/coco.py TRAIN_SAMPLES)",
        _msra_sources(_SB_YAML + "res152_384x288_d256x3_adam_lr1e-3.yaml",
                      "not in the config (no half-body in Simple Baselines)"),
        _MSRA_NOTES),
    "cpn_r50_coco_256x192": Recipe(
        "Chen et al., Cascaded Pyramid Network for Multi-Person Pose Estimation, CVPR 2018",
        _CPN + "config.py, dataset.py, mptest.py", COCO_TRAIN_PEOPLE,
        "COCO train2017 labelled people, for the epoch count only (tf-cpn trains on COCO 2014 trainval minus "
        "minival; its schedule counts samples)",
        _cpn_sources(),
        ("posekit uses one sigma for all five heads; tf-cpn blurs with 15/11/9/7-tap kernels for the four "
         "GlobalNet levels and 7 taps for RefineNet.",
         "posekit applies OHKM to every head; tf-cpn uses L2 for GlobalNet and OHKM (top 8) for RefineNet.",
         "tf-cpn turns each person into four samples (original, flipped, two rotated); posekit draws one random "
         "augmentation per sample (flip 0.5, rotation on half of them).",
         "tf-cpn's crop box is the person box widened by 0.1 / 0.15 per side and x1.25 in training; posekit pads "
         "by 1.25.",
         "tf-cpn decodes a 21x21-blurred heatmap with a quarter-pixel step toward the second maximum; posekit's "
         "'argmax' steps a quarter pixel toward the higher neighbour.",
         "The weight decay also reaches biases and BatchNorm in posekit (tf-cpn regularizes weights only).")),
    "mspn_coco_256x192": Recipe(
        "Li et al., Rethinking on Multi-Stage Networks for Human Pose Estimation, arXiv 1901.00148, 2019",
        _MSPN + "exps/mspn.2xstg.coco/config.py (STAGE_NUM 4 for the 4-stage row of its README), "
                "dataset/attribute.py, lib/utils/solver.py", COCO_TRAIN_PEOPLE,
        "COCO train2017 labelled people, for the epoch count only (MSPN trains on COCO 2014 trainval minus "
        "minival)",
        _mspn_sources(),
        ("posekit uses one sigma for all heads; MSPN blurs with 15/11/9/7/5-tap kernels from coarse to fine.",
         "MSPN widens the box randomly (X/Y_EXTENTION 0.6/0.8) in training; posekit pads by 1.25.")),
    "evopose2d_s_coco_256x192": Recipe(
        "McNally et al., EvoPose2D: Pushing the Boundaries of 2D Human Pose Estimation Using Accelerated "
        "Neuroevolution With Weight Transfer, IEEE Access 2021",
        _EVO + "configs/evopose2d_S_f32.yaml, dataset/coco.py, train.py, validate.py", COCO_TRAIN_PEOPLE,
        "evopose2d dataset/coco.py DATASET.TRAIN_SAMPLES",
        _evopose_sources(),
        ("EvoPose2D's L2 regularizer covers convolution kernels only; posekit's weight decay covers every "
         "parameter.",
         "EvoPose2D trains on TPUs from an ImageNet-pretrained parent; posekit builds the network from scratch.")),
    "hourglass8_mpii_256": Recipe(
        "Newell et al., Stacked Hourglass Networks for Human Pose Estimation, ECCV 2016", _HG,
        MPII_TRAIN_PEOPLE, "MPII training people of HRNet's annot/train.json (pose-hg-train counts iterations, "
                           "not epochs)",
        _hourglass_sources(),
        ("pose-hg-train multiplies each colour channel by U(0.8, 1.2); posekit's brightness 0.2 scales all "
         "three together.",
         "The MPII box centre moves 15 x scale px down in pose-hg-train; posekit crops around the given "
         "centre.")),
    "prm_mpii_256": Recipe(
        "Yang et al., Learning Feature Pyramids for Human Pose Estimation, ICCV 2017",
        _PYRA + "opts.lua, train.lua, experiments/mpii/hg-prm-stack2.sh", MPII_TRAIN_PEOPLE,
        "MPII training people of HRNet's annot/train.json (PyraNet's own split may differ slightly)",
        _prm_sources(),
        ("The paper's best MPII result uses multi-scale testing (six scales); posekit tests at one scale.",)),
    "cpm_mpii_368": Recipe(
        "Wei et al., Convolutional Pose Machines, CVPR 2016", _CPM, MPII_TRAIN_PEOPLE,
        "MPII training people of HRNet's annot/train.json, for the epoch count only (CPM counts iterations)",
        _cpm_sources(),
        ("genProto.py gives the stage-1 convolutions a 5x learning rate (lr_mult 5); posekit uses one rate.",
         "CPM's centre map comes from the annotated person centre; posekit's cpm places it at the crop centre.")),
    "efficientpose_ii_mpii": Recipe(
        "Groos et al., EfficientPose: Scalable single-person pose estimation, Applied Intelligence 51, 2021",
        "daniegr/EfficientPose (inference only: no training code)", MPII_TRAIN_PEOPLE,
        "MPII training people of HRNet's annot/train.json",
        _unverified_sources("Groos et al. 2021, Sec. 4: PCKh on single-person MPII",
                            {"input": "Groos et al. 2021, Table 1: EfficientPose II, 368x368; daniegr/EfficientPose "
                                      "README.md (Evidence table: EfficientPose II, 368x368) and track.py get_model "
                                      "(resolution 368 for 'ii')",
                             "heatmap": "daniegr/EfficientPose models/pytorch/EfficientPoseII.py: the confidence maps "
                                        "are upscaled x8 to the input resolution by three stride-2, kernel-4 "
                                        "transposed convolutions with bilinear initial weights (utils/helpers.py "
                                        "pytorch_BilinearConvTranspose2d); 16 MPII joints (helpers.py "
                                        "extract_coordinates)",
                             "optimizer": "Groos et al. 2021, Sec. 4: stochastic gradient descent (momentum, "
                                          "Nesterov and weight decay: posekit's choice; the paper's training "
                                          "details could not be read here, see the notes)",
                             "flip_test": "not in daniegr/EfficientPose's inference code (track.py analyze_image: one "
                                          "forward pass, no mirrored copy); whether the paper's MPII numbers use "
                                          "flip testing could not be read here; posekit's default (on)",
                             "flip_shift": "posekit's frame needs none ('auto')",
                             "oks_nms": "single person per box: not used",
                             "rescoring": "single person per box: not used",
                             "boxes": "MPII's person centre and scale",
                             "metric": "daniegr/EfficientPose README.md, Evidence table: PCKh@50 (and PCKh@10) on "
                                       "single-person MPII val; posekit reports PCKh@0.5"}),
        ("The input size, the output resolution, the architecture and the use of SGD are the paper's or its "
         "official repository's; learning rate, schedule, epochs, batch, sigma and augmentation are posekit's: "
         "the repository has inference code only, and the paper's training details could not be read with the "
         "reference search (it stores the paper's opening pages only).",
         "The official inference code smooths each output map with a Gaussian of sigma 1 px, takes its argmax "
         "and reports the pixel centre (+0.5) (utils/helpers.py extract_coordinates); posekit's 'argmax' decoder "
         "steps a quarter pixel toward the higher neighbour instead.")),
    "deeppose_lsp": Recipe(
        "Toshev & Szegedy, DeepPose: Human Pose Estimation via Deep Neural Networks, CVPR 2014",
        "none (no official code)", LSP_TRAIN_PEOPLE, "LSP 1,000 + LSP-extended 10,000 training images "
                                                     "(DeepPose Sec. 6.1)",
        _unverified_sources("PCK@0.2 (the paper reports PCP on LSP; PCK is the posekit protocol for LSP)",
                            {"input": "DeepPose Sec. 3: 220x220 input",
                             "heatmap": "regression (DeepPose Sec. 3: joint coordinates normalised to the box)",
                             "sigma": "regression: no heatmaps",
                             "oks_nms": "single person per box: not used",
                             "rescoring": "single person per box: not used",
                             "boxes": "LSP's person box from the joints"}),
        ("Only the input size, the 3-stage cascade and the data set are the paper's; optimizer, learning rate, "
         "schedule, steps, batch and augmentation are posekit's: there is no official code, and the paper's "
         "training details could not be read with the reference search (it stores the paper's opening pages "
         "only).",
         "posekit trains the stages jointly (detached crops); the paper trains them one after the other.",
         "posekit.engine.data reads only synthetic, coco and mpii sets today: an LSP run needs 'lsp' added to "
         "build_records.")),
    "jain2013_flic": Recipe(
        "Jain et al., Learning Human Pose Estimation Features with Convolutional Networks, ICLR 2014",
        "none (no official code)", FLIC_TRAIN_PEOPLE, "FLIC training frames (Sapp & Taskar, CVPR 2013)",
        _unverified_sources("PCK@0.2 by torso on FLIC's test frames (the FLIC convention)",
                            {"heatmap": "posekit's jain2013: one 64x64-patch detector per part, stride 4",
                             "oks_nms": "single person per box: not used",
                             "rescoring": "single person per box: not used",
                             "boxes": "FLIC's torso box"}),
        ("Only the data set and the per-part patch detectors are the paper's; everything else is posekit's: "
         "there is no official code, and the paper's training details could not be read with the reference "
         "search (it stores the paper's opening pages only). The paper's weak spatial model is not built.",
         "posekit.engine.data reads only synthetic, coco and mpii sets today: a FLIC run needs 'flic' added to "
         "build_records, with FLIC's train/test flags.")),
}


def _aug_values(cfg: ExperimentConfig):
    """The augmentation ``cfg`` trains with (``AugConfig`` with ``data.aug_kwargs``), or None."""
    from posekit.data.transforms import AugConfig
    if not cfg.data.aug:
        return None
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in cfg.data.aug_kwargs.items()}
    return AugConfig(**kw)


def _g(x: float) -> str:
    return f"{x:g}"


def epochs_of(cfg: ExperimentConfig, recipe: Recipe, steps: int | None = None) -> float:
    """``steps`` (default: all of ``cfg``'s) in epochs of ``recipe.dataset_size`` samples at
    ``cfg``'s batch: the inverse of :func:`epoch_steps`."""
    steps = cfg.train.steps if steps is None else steps
    return steps / math.ceil(recipe.dataset_size / cfg.train.batch_size)


def recipe_values(cfg: ExperimentConfig, recipe: Recipe) -> dict[str, str]:
    """Every item of :data:`RECIPE_ITEMS` as ``cfg`` sets it, in words (the values of the
    recipe table: read from the config itself, so the table cannot drift from the presets).
    Epochs are steps over ``ceil(recipe.dataset_size / batch)`` steps per epoch."""
    from posekit.codecs.heatmap import default_sigma
    d, m, o, s, t, e = cfg.data, cfg.model, cfg.optim, cfg.schedule, cfg.train, cfg.eval
    W, H = d.input_size

    def epochs(steps: int) -> str:
        return f"{epochs_of(cfg, recipe, steps):.4g}"

    v: dict[str, str] = {"input": f"{W}x{H} (WxH)"}
    if m.codec == "regression":
        v["heatmap"], v["sigma"] = "none (coordinate regression)", "-"
    else:
        hm = (W // m.stride, H // m.stride)
        v["heatmap"] = f"{hm[0]}x{hm[1]} (stride {m.stride}), {m.codec}, decoder {m.decoder}"
        v["sigma"] = _g(m.sigma) if m.sigma > 0 else f"{default_sigma(hm):.3g} (posekit's default)"
    if o.optimizer in ("adam", "adamw"):
        v["optimizer"] = f"{o.optimizer.replace('adamw', 'AdamW').replace('adam', 'Adam')} (betas {_g(o.beta1)}/" \
                         f"{_g(o.beta2)}, eps {_g(o.eps)}), weight decay {_g(o.weight_decay)}"
    elif o.optimizer == "sgd":
        v["optimizer"] = (f"SGD, momentum {_g(o.momentum)}{', Nesterov' if o.nesterov else ''}, "
                          f"weight decay {_g(o.weight_decay)}")
    else:
        v["optimizer"] = (f"RMSprop (alpha {_g(o.alpha)}, eps {_g(o.eps)}), momentum {_g(o.momentum)}, "
                          f"weight decay {_g(o.weight_decay)}")
    v["lr"] = _g(o.lr)
    warm = (f"; linear warm-up over {s.warmup_steps:,} steps ({epochs(s.warmup_steps)} epochs) from "
            f"{s.warmup_factor:.3g} x lr" if s.warmup_steps else "")
    if s.kind == "step":
        v["schedule"] = (f"step: x{_g(s.gamma)} at steps {', '.join(f'{x:,}' for x in s.milestones)} (epochs "
                         f"{', '.join(epochs(x) for x in s.milestones)}){warm}")
    elif s.kind in ("cosine", "linear"):
        v["schedule"] = f"{s.kind} decay to {_g(s.min_lr_factor)} x lr at the last step{warm}"
    else:
        v["schedule"] = f"{s.kind}{warm}"
    v["steps"] = f"{t.steps:,} steps = {epochs(t.steps)} epochs of {recipe.dataset_size:,}"
    v["batch"] = f"{t.batch_size} (global)"
    aug = _aug_values(cfg)
    if aug is None:
        v.update(rotation="off", scale="off", flip="off", half_body="off")
    else:
        v["rotation"] = f"U(-{_g(aug.rotation_deg)}, {_g(aug.rotation_deg)}) deg on {_g(aug.rotation_prob)} of samples"
        v["scale"] = f"U({_g(aug.scale_range[0])}, {_g(aug.scale_range[1])}), box padding {_g(aug.padding)}"
        v["flip"] = f"p {_g(aug.flip_prob)}"
        v["half_body"] = (f"p {_g(aug.half_body_prob)}, > {aug.half_body_min_keypoints} labelled joints"
                          if aug.half_body_prob > 0 else "off")
    v["boxes"] = (f"{e.boxes}, score >= {_g(e.box_score_threshold)}" if e.boxes else "ground truth")
    v["flip_test"] = "on" if e.flip_test else "off"
    v["flip_shift"] = e.flip_shift
    v["rescoring"] = (f"box x mean keypoint score > {_g(e.keypoint_score_threshold)}"
                      if e.keypoint_score_threshold > 0 else "box x mean of all keypoint scores")
    v["oks_nms"] = _g(e.oks_nms_threshold) if e.oks_nms_threshold < 1 else "off"
    auto = {"coco": "coco", "mpii": "pckh"}.get(d.dataset, "pck")
    metric = auto if e.metric == "auto" else e.metric
    v["metric"] = {"coco": "COCO OKS AP", "pckh": "PCKh@0.5", "pck": "PCK@0.2"}[metric]
    return v


def recipe_table() -> str:
    """The recipe table (Markdown): a summary row per paper preset, then each preset's values
    with their sources and notes. ``docs/training.md`` holds it between the
    ``<!-- recipe-table -->`` markers (``benchmarks/recipe_table.py --write`` renews it)."""
    lines = ["| preset | model | input -> heatmap, sigma | optimizer, lr | steps @ batch | augmentation | "
             "evaluation |", "| --- | --- | --- | --- | --- | --- | --- |"]
    details = []
    for name, recipe in RECIPES.items():
        cfg = get_preset(name)
        v = recipe_values(cfg, recipe)
        aug = _aug_values(cfg)
        W, H = cfg.data.input_size
        hm = "regression" if cfg.model.codec == "regression" else \
            f"{W // cfg.model.stride}x{H // cfg.model.stride}, {v['sigma'].split(' ')[0]}"
        opt = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSprop"}[cfg.optim.optimizer]
        half = f"half-body {_g(aug.half_body_prob)}" if aug.half_body_prob > 0 else "no half-body"
        lines.append(f"| `{name}` | {cfg.model.arch} | {W}x{H} -> {hm} | {opt} {v['lr']} | "
                     f"{cfg.train.steps:,} ({epochs_of(cfg, recipe):.4g} ep.) @ {cfg.train.batch_size} | "
                     f"rot {_g(aug.rotation_deg)}, scale {_g(aug.scale_range[0])}-{_g(aug.scale_range[1])}, "
                     f"{half} | {v['metric']}, flip {v['flip_test']}, OKS-NMS {v['oks_nms']} |")
        details += ["", f"#### `{name}`", "", f"{recipe.paper}. Official code: {recipe.code}. Epochs are counted "
                    f"for {recipe.dataset_size:,} training samples: {recipe.dataset_source}.", "",
                    "| item | value | source |", "| --- | --- | --- |"]
        details += [f"| {item.replace('_', ' ')} | {v[item]} | {recipe.sources[item]} |" for item in RECIPE_ITEMS]
        if recipe.notes:
            details += ["", "Where posekit differs:", ""] + [f"- {note}" for note in recipe.notes]
    return "\n".join(lines + details) + "\n"


PRESETS: dict[str, Callable[[], ExperimentConfig]] = {
    "synthetic_sb_r18": synthetic_sb_r18,
    "synthetic_tiny": synthetic_tiny,
    "rmpe_sb_r18_synthetic": rmpe_sb_r18_synthetic,
    "rmpe_coco": rmpe_coco,
    "synthetic_paf_tiny": synthetic_paf_tiny,
    "synthetic_paf": synthetic_paf,
    "synthetic_ae": synthetic_ae,
    "openpose_coco": openpose_coco,
    "ae_hourglass_coco": ae_hourglass_coco,
    "higherhrnet_w32_coco": higherhrnet_w32_coco,
    "deepercut_coco": deepercut_coco,
    "coco_sample_finetune": coco_sample_finetune,
    "hrnet_w32_coco_256x192": hrnet_w32_coco_256x192,
    "hrnet_w48_coco_384x288": hrnet_w48_coco_384x288,
    "simple_baseline_r50_coco_256x192": simple_baseline_r50_coco_256x192,
    "simple_baseline_r152_coco_384x288": simple_baseline_r152_coco_384x288,
    "cpn_r50_coco_256x192": cpn_r50_coco_256x192,
    "mspn_coco_256x192": mspn_coco_256x192,
    "evopose2d_s_coco_256x192": evopose2d_s_coco_256x192,
    "hourglass8_mpii_256": hourglass8_mpii_256,
    "prm_mpii_256": prm_mpii_256,
    "cpm_mpii_368": cpm_mpii_368,
    "efficientpose_ii_mpii": efficientpose_ii_mpii,
    "deeppose_lsp": deeppose_lsp,
    "jain2013_flic": jain2013_flic,
}


def get_preset(name: str) -> ExperimentConfig:
    """The preset called ``name``; an unknown name is an error listing the valid ones."""
    if name not in PRESETS:
        raise PosekitError(f"unknown preset {name!r}; valid presets: {', '.join(sorted(PRESETS))}")
    return PRESETS[name]()


# ------------------------------------------------------------------ architecture-search presets

def evopose2d_search_synthetic():
    """EvoPose2D neuroevolution (``posekit search evopose2d``) at CPU scale: 64x64 synthetic
    crops, the EfficientNet-B0 seed trained 120 steps, then (mu, lambda) = (2, 4) for 2
    generations of 30-step children with weight transfer; the paper's fitness constants
    T = 5e6, Gamma = -0.07 (official ``configs/E3.yaml``; the paper's own search: mu = 4,
    lambda = 64, 30 seed epochs, 5 epochs a child, on 8 TPUs)."""
    from posekit.search.evo import SearchConfig
    return SearchConfig(input_size=(64, 64), generations=2, mu=2, lam=4, steps=30, seed_steps=120, batch_size=8,
                        lr=2e-3, target_params=5e6, gamma=-0.07, head_channels=32, num_train=256, num_val=32)


def evopose2d_search_tiny():
    """A seconds-long search for tests: 32x32 crops, one step per network."""
    from posekit.search.evo import SearchConfig
    return SearchConfig(input_size=(32, 32), generations=2, mu=1, lam=2, steps=1, seed_steps=1, batch_size=4,
                        head_channels=8, num_train=8, num_val=4, target_params=2e4,
                        seed_genotype=((3, 1, 1, 1), (3, 1, 1, 2), (3, 1, 2, 2), (3, 1, 2, 2), (3, 1, 2, 1),
                                       (3, 1, 3, 2), (3, 1, 3, 1)))


SEARCH_PRESETS = {"evopose2d_search_synthetic": evopose2d_search_synthetic,
                  "evopose2d_search_tiny": evopose2d_search_tiny}


def posefix_synthetic():
    """PoseFix refiner (``posekit.engine.posefix``) on 96x128 synthetic crops: ResNet-18
    SimpleBaseline with 64-channel deconvolutions and skips, input pose rendered with std 2 px,
    corrupted with PoseFix's error proportions, 360 AdamW steps of 16 (a CPU budget; the paper
    trains ResNet-152 on COCO for 140 epochs)."""
    from posekit.engine.posefix import PoseFixConfig
    return PoseFixConfig(input_size=(96, 128), steps=360, batch_size=16, lr=2e-3, num_train=512, num_val=96)


def posefix_tiny():
    """A seconds-long PoseFix run for tests (64x64 crops, 1 step)."""
    from posekit.engine.posefix import PoseFixConfig
    return PoseFixConfig(input_size=(64, 64), steps=1, batch_size=4, num_train=12, num_val=6, deconv_channels=16)


POSEFIX_PRESETS = {"posefix_synthetic": posefix_synthetic, "posefix_tiny": posefix_tiny}


def get_posefix_preset(name: str):
    """The PoseFix preset ``name`` (a :class:`posekit.engine.posefix.PoseFixConfig`)."""
    if name not in POSEFIX_PRESETS:
        raise PosekitError(f"unknown PoseFix preset {name!r}; valid: {', '.join(sorted(POSEFIX_PRESETS))}")
    return POSEFIX_PRESETS[name]()


def get_search_preset(name: str):
    """The architecture-search preset ``name`` (a :class:`posekit.search.evo.SearchConfig`)."""
    if name not in SEARCH_PRESETS:
        raise PosekitError(f"unknown search preset {name!r}; valid: {', '.join(sorted(SEARCH_PRESETS))}")
    return SEARCH_PRESETS[name]()
