"""The training configuration: everything that defines a run, saved as ``RUN/config.json`` (paper 3.2.3, 4.1)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from fer_kit.errors import UsageError
from fer_kit.presets import MODEL_KINDS, get_preset
from fer_kit.training.recipes import DEFAULT_RECIPE, recipe_values

ROTATION_DEGREES: tuple[float, ...] = (3.0, 6.0, 9.0)
"""Paper 2.4: rotations of +-3, +-6 and +-9 degrees (0 is also drawn: the clip unrotated)."""
LOCAL_STANDARDIZATIONS = (None, "clip", "onset")
"""How MC-DCN's local-map stream may standardize its clip (``TrainConfig.local_standardization``)."""
FACE_STANDARDIZATIONS = ("frame", "clip", "onset")
"""How a 3D face stream (MC-DCN's and C3D's) may standardize its clip (``TrainConfig.face_standardization``)."""


@dataclass
class TrainConfig:
    """Everything that defines a training run; saved as ``RUN/config.json``.

    ``recipe`` (:mod:`fer_kit.training.recipes`: ``kit``, the default, or ``paper``) fills the
    optimiser, schedule, epochs and batch size not given explicitly.

    Loss weights: ``fused_weight`` (CE of the fused output), ``lambda_global`` and
    ``lambda_local`` (eq. 8's lambda1 and lambda2): ``fused_weight=0`` is eq. 8 as the paper writes
    it; single-output baselines ignore all three (their one loss has weight 1).
    ``distribute``: ``auto`` mirrors over GPUs when more than one is visible, ``mirrored``
    forces :class:`tf.distribute.MirroredStrategy` (on all GPUs, else all logical CPUs),
    ``none`` never distributes, ``multiworker`` trains across machines with TensorFlow's
    ``MultiWorkerMirroredStrategy`` (``TF_CONFIG``; :mod:`fer_kit.training.multiworker`).
    ``precise_bn``: batches of training clips used to
    re-estimate the batch-norm statistics before each validation (0: off; see
    :func:`recalibrate_batchnorm`; skipped under a distribution strategy). ``init``: what the
    weights start from where layer names and shapes match
    (:func:`fer_kit.training.transfer.init_source`, :func:`~fer_kit.training.transfer.transfer_weights`):
    ``"auto"`` (the ``kit`` recipe) the weights the kit ships for the model and preset, pretrained on
    synthetic clips of many faces (:mod:`fer_kit.model.pretrained`), where it ships some, else
    nothing; ``"synthetic"`` those weights or an error; ``"none"`` (the ``paper`` recipe) nothing;
    else a run folder or ``.keras`` file (e.g. a model trained first on photos). The classifier
    layers are new when the classes differ.
    ``local_standardization``: how MC-DCN's local-map stream standardizes its clip (our option;
    ``None``, the default, is the paper: the maps as they are; ``"clip"``: the clip as a whole;
    ``"onset"``: the change since its first frame, :class:`~fer_kit.model.blocks.ClipStandardization`).
    Models without a local-map stream always record ``None``.
    ``face_standardization``: how the face stream of MC-DCN and C3D standardizes its clip:
    ``"frame"`` (the default, :class:`~fer_kit.model.blocks.FrameStandardization`), ``"clip"`` or
    ``"onset"`` (the change since the first frame, which takes the person's own face away: our
    option). The frame CNN and the landmark network always record ``"frame"``.
    ``label_smoothing``: the share ``e`` of each label's probability spread evenly over the
    classes in every cross-entropy of eq. 8 (0, the default, is eq. 7 as written; our option,
    :class:`~fer_kit.training.optim.SmoothedSparseCategoricalCrossentropy`).
    ``zoom``, ``shift``: training clips are also scaled by up to ``1 +- zoom`` and moved by up to
    ``shift`` of their width (our option beyond paper 2.4's flips and rotations, 0: off,
    :func:`fer_kit.training.data.augment_batch`). ``mixup``: the ``alpha`` of mixup, training clips
    blended in pairs with their targets (our option, 0: off, :func:`fer_kit.training.data.mix_batch`).
    ``members``: train that many runs with seeds ``seed, seed + 1, ...`` on the same split and
    average their outputs (our option, 1: one run, :mod:`fer_kit.training.ensemble`); the ``kit``
    recipe trains two with the ``lite`` preset, one otherwise (and one across machines,
    ``distribute="multiworker"``, where an ensemble cannot train).
    """

    cache: str
    out: str
    model: str = "mcdcn"
    preset: str = "tiny"
    recipe: str = DEFAULT_RECIPE
    epochs: int | None = None
    batch_size: int | None = None
    optimizer: str | None = None
    learning_rate: float | None = None
    final_learning_rate: float | None = None
    lr_schedule: str | None = None
    momentum: float | None = None
    weight_decay: float | None = None
    fused_weight: float = 1.0
    lambda_global: float = 0.5
    lambda_local: float = 0.5
    augment: bool = True
    flip: bool = True
    rotations: tuple[float, ...] = ROTATION_DEGREES
    zoom: float = 0.0
    shift: float = 0.0
    mixup: float = 0.0
    members: int | None = None
    class_weights: bool = True
    protocol: str = "subject"
    test_size: float = 0.2
    val_size: float | None = None
    test_cache: str | None = None
    test_subjects: tuple[str, ...] | None = None
    classes: tuple[str, ...] | None = None
    min_valid_fraction: float = 0.5
    patience: int = 10
    seed: int = 0
    deterministic: bool = True
    mixed_precision: bool = False
    distribute: str = "auto"
    memory_limit_mb: float = 2048.0
    pipeline: str = "auto"
    workers: int | None = None
    tensorboard: bool = True
    head: str | None = None
    local_standardization: str | None = None
    face_standardization: str = "frame"
    label_smoothing: float = 0.0
    precise_bn: int = 8
    init: str | None = None

    def __post_init__(self) -> None:
        recipe = recipe_values(self.recipe, get_preset(self.preset).name)
        if self.distribute == "multiworker":
            recipe["members"] = 1  # the recipe's ensemble trains on one machine; across machines, one network
        for name, value in recipe.items():  # the recipe fills what is not given
            if getattr(self, name) is None:
                setattr(self, name, value)
        self.cache = str(self.cache)
        self.out = str(self.out)
        self.test_cache = None if self.test_cache is None else str(self.test_cache)
        self.init = None if self.init is None else str(self.init)
        self.rotations = tuple(float(r) for r in self.rotations)
        self.classes = None if self.classes is None else tuple(self.classes)
        self.test_subjects = None if self.test_subjects is None else tuple(sorted(map(str, self.test_subjects)))
        if self.model not in MODEL_KINDS:
            raise UsageError(f"unknown model {self.model!r}; choose one of {', '.join(MODEL_KINDS)}")
        choices = {
            "optimizer": ("sgd", "adam"),
            "lr_schedule": ("exponential", "cosine", "constant"),
            "protocol": ("subject", "random"),
            "distribute": ("auto", "none", "mirrored", "multiworker"),
            "pipeline": ("auto", "memory", "stream"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise UsageError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise UsageError("epochs and batch_size must be at least 1")
        weights = (self.fused_weight, self.lambda_global, self.lambda_local)
        if min(weights) < 0 or (self.model == "mcdcn" and max(weights) == 0):
            raise UsageError(f"the loss weights of eq. 8 (fused {self.fused_weight:g}, global {self.lambda_global:g}, "
                             f"local {self.lambda_local:g}) must be >= 0 and not all 0")
        if self.local_standardization not in LOCAL_STANDARDIZATIONS:
            raise UsageError(f"local_standardization must be one of {', '.join(map(str, LOCAL_STANDARDIZATIONS))}, "
                             f"got {self.local_standardization!r}")
        if self.model != "mcdcn":
            self.local_standardization = None  # no local-map stream: the same run whatever was asked
        if self.face_standardization not in FACE_STANDARDIZATIONS:
            raise UsageError(f"face_standardization must be one of {', '.join(FACE_STANDARDIZATIONS)}, "
                             f"got {self.face_standardization!r}")
        if self.model not in ("mcdcn", "c3d"):  # no 3D face stream: the same run whatever was asked
            self.face_standardization = "frame"
        if not 0 <= self.label_smoothing < 1:
            raise UsageError(f"label_smoothing must be in [0, 1), got {self.label_smoothing:g}")
        if not 0 <= self.zoom < 1 or not 0 <= self.shift < 0.5:
            raise UsageError(f"zoom must be in [0, 1) and shift in [0, 0.5), got {self.zoom:g} and {self.shift:g}")
        if self.members < 1:
            raise UsageError(f"members must be at least 1, got {self.members}")
        if self.mixup < 0:
            raise UsageError(f"mixup must be >= 0 (0: off), got {self.mixup:g}")
        if not 0 < self.test_size < 1 or not 0 <= self.val_size < 1:
            raise UsageError("test_size must be in (0, 1) and val_size in [0, 1)")
        if self.init == "synthetic":  # the shipped weights (fer_kit.model.pretrained.SOURCE): checked before any run
            from fer_kit.model.pretrained import has_pretrained

            if not has_pretrained(self.model, self.preset):
                raise UsageError(f"init 'synthetic': the kit ships no pretrained weights for {self.model} at preset "
                                 f"{self.preset} (init 'auto' starts from scratch where it ships none)")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["rotations"] = list(self.rotations)
        data["classes"] = None if self.classes is None else list(self.classes)
        data["test_subjects"] = None if self.test_subjects is None else list(self.test_subjects)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """The config a run folder saved (``config.json``'s ``train``).

        Every recipe sets ``init`` and ``members``, so a saved ``None`` comes from a run made
        before the kit shipped pretrained weights (it started from scratch, and reads back as
        ``"none"``) or before it trained ensembles (one member).
        """
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if values.get("init") is None:
            values["init"] = "none"
        if values.get("members") is None:
            values["members"] = 1
        return cls(**values)
