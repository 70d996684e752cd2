"""Training and evaluation of top-down models (imports torch).

* :mod:`posekit.engine.config` / :mod:`~posekit.engine.presets`: frozen configs, presets, overrides;
* :mod:`posekit.engine.train`: the training loop (:func:`~posekit.engine.train.train`);
* :mod:`posekit.engine.schedule`: learning rate as a pure function of the step;
* :mod:`posekit.engine.checkpoint`: safetensors checkpoints, atomic writes, exact resume;
* :mod:`posekit.engine.distributed`: torchrun / DDP helpers;
* :mod:`posekit.engine.evaluate`: GT-box evaluation of a model or checkpoint.
"""
