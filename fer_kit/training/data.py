"""The ``tf.data`` input pipeline: clips from the cache to batches for MC-DCN (paper 2.4, 3.2.1).

A cache is ``CACHE/index.csv`` plus one ``.npz`` :class:`~fer_kit.clips.clip.Clip` per row.
:func:`select_clips` turns the index into labelled rows and a class list;
:func:`make_dataset` turns those rows into batches ``(inputs, targets[, sample_weight])``:

* **Loading.** Clips are small (a ``lite`` clip is 256 KiB of ``uint8``), so when the
  selected clips fit under ``memory_limit_mb`` they are decoded once, in parallel
  threads, into two ``uint8`` arrays and every epoch only gathers batches from memory.
  Larger sets stream from disk: ``num_parallel_calls`` parallel ``np.load`` calls
  feed a prefetch buffer.
* **Augmentation** (training only, paper 2.4): a random horizontal flip and a rotation
  drawn from 0, +-3, +-6, +-9 degrees, applied to the face clip and the local-map clip
  *together* (the two are stacked on the channel axis and transformed once, so they
  stay pixel-aligned), the same for every frame of a clip. Rotation is an in-graph
  ``ImageProjectiveTransformV3`` (bilinear, reflected border). Random numbers are
  stateless and derived from the seed, so a run is repeatable.
* **Shuffling** with a seeded, per-epoch reshuffle; **batching**; **prefetch**. Across
  machines each worker keeps its share of every batch (sharding by data, :func:`_shard_by_data`).
* **Class weights** (``balanced``: ``n / (K * n_c)``) become per-clip sample weights,
  applied to every output of the model.

Inputs are raw ``0..255`` floats: scaling to ``[0, 1]`` is the model's first layer, so a
saved model accepts ``uint8`` clips as they are stored.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from fer_kit.model.mcdcn import FACES, LOCAL_MAPS
from fer_kit.model.trajectory import LANDMARKS
from fer_kit.training.clipset import ClipSet, PipelineInfo, load_clip_arrays, pipeline_mode, read_clip_arrays
from fer_kit.training.config import ROTATION_DEGREES

INTERPOLATION = "BILINEAR"
FILL_MODE = "REFLECT"


def _transforms(
    angles: tf.Tensor, flips: tf.Tensor, size: int, scales: tf.Tensor | None = None, shifts: tf.Tensor | None = None
) -> tf.Tensor:
    """Projective transforms ``[n, 8]`` (output pixel -> input pixel) for ``size x size`` images.

    Each rotates by ``angles`` radians and scales by ``scales`` (> 1 enlarges the face) about
    the centre ``c``, moves by ``shifts`` ``[n, 2]`` pixels and, where ``flips`` is true,
    mirrors left-right: ``x_in = R(-angle) (x_out - c) / scale + c - shift``, then
    ``x_in -> (S - 1) - x_in``. One resampling does all of it.
    """
    cos, sin = tf.cos(angles), tf.sin(angles)
    if scales is not None:
        cos, sin = cos / scales, sin / scales
    extent = float(size - 1)
    x_offset = (extent - (cos * extent - sin * extent)) / 2.0
    y_offset = (extent - (sin * extent + cos * extent)) / 2.0
    if shifts is not None:
        x_offset, y_offset = x_offset - shifts[:, 0], y_offset - shifts[:, 1]
    sign = tf.where(flips, -1.0, 1.0)  # x_in -> (S - 1) - x_in
    x_offset = tf.where(flips, extent - x_offset, x_offset)
    zeros = tf.zeros_like(angles)
    return tf.stack([sign * cos, -sign * sin, x_offset, sin, cos, y_offset, zeros, zeros], axis=1)


def transform_landmarks(landmarks: tf.Tensor, transforms: tf.Tensor, flips: tf.Tensor) -> tf.Tensor:
    """Move landmarks ``[B,T,68,2]`` the way :func:`augment_batch` moved their clips.

    ``transforms`` ``[B, 8]`` map an output pixel to an input pixel, ``x_in = A x_out + o``;
    a landmark goes the other way, ``x_out = A^-1 (x_in - o)``. A mirrored clip also swaps
    the indices of left and right points (:data:`fer_kit.face.groups.MIRROR_68`).
    """
    from fer_kit.face.groups import MIRROR_68

    a = transforms[:, None, None, :]
    x, y = landmarks[..., 0] - a[..., 2], landmarks[..., 1] - a[..., 5]
    det = a[..., 0] * a[..., 4] - a[..., 1] * a[..., 3]
    moved = tf.stack([(a[..., 4] * x - a[..., 1] * y) / det, (-a[..., 3] * x + a[..., 0] * y) / det], axis=-1)
    mirrored = tf.gather(moved, tf.constant(MIRROR_68, tf.int32), axis=2)
    return tf.where(flips[:, None, None, None], mirrored, moved)


def augment_batch(
    faces: tf.Tensor,
    local: tf.Tensor,
    seed: tf.Tensor,
    flip: bool = True,
    rotations: Sequence[float] = ROTATION_DEGREES,
    landmarks: tf.Tensor | None = None,
    zoom: float = 0.0,
    shift: float = 0.0,
) -> tuple[tf.Tensor, ...]:
    """Flip and rotate each clip of a batch, the same way for both streams and all frames (paper 2.4).

    ``faces`` ``[B,T,S,S,3]``, ``local`` ``[B,T,S,S,1]`` (``uint8`` or float, same dtype),
    ``seed`` ``int64[2]``. Each clip is mirrored with probability 1/2 and rotated by an
    angle drawn uniformly from ``{0, +-r for r in rotations}``; both are one bilinear
    resampling of the stacked streams (reflected border). Working on ``uint8`` clips (as
    stored) moves a quarter of the bytes of ``float32``. With ``landmarks`` ``[B,T,68,2]``
    they are moved alike (:func:`transform_landmarks`) and returned third.

    ``zoom`` and ``shift`` (our option, beyond paper 2.4; 0 leaves them out) also scale each
    clip by a factor drawn uniformly from ``[1 - zoom, 1 + zoom]`` and move it by up to
    ``shift`` of its width in x and in y, in the same resampling.
    """
    shape = tf.shape(faces)
    batch, frames, size = shape[0], shape[1], faces.shape[2]
    flip_seed, angle_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    flips = tf.random.stateless_uniform([batch], flip_seed) < 0.5 if flip else tf.zeros([batch], tf.bool)
    choices = tf.constant([0.0, *rotations, *(-r for r in rotations)], tf.float32) * (math.pi / 180.0)
    pick = tf.random.stateless_uniform([batch], angle_seed, 0, len(choices), dtype=tf.int32)
    scales = shifts = None
    if zoom or shift:  # seeds of their own, so the flips and angles stay those of a run without them
        zoom_seed, shift_seed = tf.unstack(
            tf.random.experimental.stateless_split(tf.random.experimental.stateless_fold_in(seed, 1), 2)
        )
        scales = tf.random.stateless_uniform([batch], zoom_seed, 1.0 - zoom, 1.0 + zoom)
        limit = shift * float(size)
        shifts = tf.random.stateless_uniform([batch, 2], shift_seed, -limit, limit)
    clip_transforms = _transforms(tf.gather(choices, pick), flips, size, scales, shifts)
    transforms = tf.repeat(clip_transforms, frames, axis=0)
    stacked = tf.concat([faces, local], axis=-1)
    channels = stacked.shape[-1]
    images = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.reshape(stacked, [batch * frames, size, size, channels]),
        transforms=transforms,
        output_shape=[size, size],
        fill_value=0.0,
        interpolation=INTERPOLATION,
        fill_mode=FILL_MODE,
    )
    stacked = tf.reshape(images, [batch, frames, size, size, channels])
    if landmarks is None:
        return stacked[..., :3], stacked[..., 3:]
    return stacked[..., :3], stacked[..., 3:], transform_landmarks(landmarks, clip_transforms, flips)


def make_dataset(
    clips: ClipSet,
    inputs: Sequence[str] = (FACES, LOCAL_MAPS),
    outputs: Sequence[str] = ("fused",),
    batch_size: int = 8,
    training: bool = False,
    augment: bool = True,
    flip: bool = True,
    rotations: Sequence[float] = ROTATION_DEGREES,
    weights: np.ndarray | None = None,
    seed: int = 0,
    memory_limit_mb: float = 2048,
    workers: int | None = None,
    mode: str = "auto",
    zoom: float = 0.0,
    shift: float = 0.0,
    mixup: float = 0.0,
    num_classes: int | None = None,
) -> tuple[tf.data.Dataset, PipelineInfo]:
    """Batches of ``({input: float32 clip}, {output: int label}[, sample_weight])`` and how they are made.

    ``training`` shuffles every epoch (seeded), augments (``augment``: ``flip``, ``rotations``,
    ``zoom``, ``shift``, :func:`augment_batch`), mixes clips (``mixup`` > 0, :func:`mix_batch`)
    and, with ``weights`` (one per class), adds per-clip sample weights. With ``num_classes``
    the targets are one-hot rows ``float32[B, num_classes]`` instead of integer labels (what
    ``mixup`` needs, in training and validation alike). ``mode``: ``memory`` decodes all clips
    once, ``stream`` reads them from disk every epoch, ``auto`` picks ``memory`` when the
    decoded clips fit in ``memory_limit_mb``.
    """
    paths = clips.paths
    labels = clips.labels
    mode, frames, size = pipeline_mode(clips, memory_limit_mb, mode)
    n = len(paths)
    parallel = workers or tf.data.AUTOTUNE
    shuffle = seed if training else None
    if mode == "memory":
        dataset = _memory_batches(paths, labels, batch_size, shuffle, workers, parallel)
    else:
        dataset = _stream_batches(paths, labels, frames, size, batch_size, shuffle, parallel)

    weight_table = tf.constant(weights, tf.float32) if (training and weights is not None) else None
    geometry = training and augment and bool(flip or rotations or zoom or shift)
    mixing = mixup if training else 0.0
    if mixing and not num_classes:
        raise ValueError("mixup needs num_classes (its targets are one-hot rows)")
    to_model = _to_model(tuple(inputs), tuple(outputs), weight_table,
                         {"flip": flip, "rotations": rotations, "zoom": zoom, "shift": shift} if geometry else None,
                         mixing, num_classes)
    if geometry or mixing:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip((dataset, seeds)).map(
            lambda batch, s: to_model(*batch, s), num_parallel_calls=parallel, deterministic=True
        )
    else:
        dataset = dataset.map(to_model, num_parallel_calls=parallel, deterministic=True)
    dataset = dataset.prefetch(tf.data.AUTOTUNE).with_options(_shard_by_data())
    info = PipelineInfo(mode=mode, clips=n, batches=math.ceil(n / batch_size), frames=frames, size=size)
    return dataset, info


def _memory_batches(
    paths: list[str], labels: np.ndarray, batch_size: int, shuffle: int | None, workers: int | None, parallel: int
) -> tf.data.Dataset:
    """``uint8`` batches ``(faces, local, landmarks, label)`` gathered from all clips decoded once into memory.

    ``shuffle``: the seed of a per-epoch reshuffle (``None``: the clips' order). ``workers`` threads decode.
    """
    faces_np, local_np, points_np = load_clip_arrays(paths, workers=workers, landmarks=True)
    faces_all, local_all, labels_all = tf.constant(faces_np), tf.constant(local_np), tf.constant(labels)
    points_all = tf.constant(points_np)
    del faces_np, local_np, points_np
    n = len(paths)
    dataset = tf.data.Dataset.range(n)
    if shuffle is not None:
        dataset = dataset.shuffle(n, seed=shuffle, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).map(
        lambda i: (
            tf.gather(faces_all, i), tf.gather(local_all, i), tf.gather(points_all, i), tf.gather(labels_all, i)
        ),
        num_parallel_calls=parallel,
        deterministic=True,
    )


def _stream_batches(
    paths: list[str], labels: np.ndarray, frames: int, size: int, batch_size: int, shuffle: int | None, parallel: int
) -> tf.data.Dataset:
    """``uint8`` batches ``(faces, local, landmarks, label)`` of clips read from disk every epoch, in parallel.

    ``shuffle``: the seed of a per-epoch reshuffle (``None``: the clips' order).
    """

    def read(path, label):
        f, m, p = tf.numpy_function(
            lambda p: read_clip_arrays(p.decode()), [path], [tf.uint8, tf.uint8, tf.float32], stateful=False
        )
        return (
            tf.ensure_shape(f, [frames, size, size, 3]),
            tf.ensure_shape(m, [frames, size, size, 1]),
            tf.ensure_shape(p, [frames, 68, 2]),
            label,
        )

    dataset = tf.data.Dataset.from_tensor_slices((paths, labels))
    if shuffle is not None:
        dataset = dataset.shuffle(len(paths), seed=shuffle, reshuffle_each_iteration=True)
    return dataset.map(read, num_parallel_calls=parallel, deterministic=True).batch(batch_size)


def mix_batch(
    streams: dict[str, tf.Tensor], targets: tf.Tensor, weights: tf.Tensor | None, seed: tf.Tensor, alpha: float
) -> tuple[dict[str, tf.Tensor], tf.Tensor, tf.Tensor | None]:
    """Mixup (Zhang et al. 2018, our option): each clip becomes ``l x_i + (1 - l) x_j`` with a partner ``j``.

    ``streams`` are float inputs ``[B, ...]`` (every stream of a clip is mixed with the same ``l``, so
    the face clip, its local maps and its landmarks stay one clip), ``targets`` one-hot rows ``[B, K]``,
    ``weights`` per-clip sample weights ``[B]`` or ``None``. ``l ~ Beta(alpha, alpha)`` per clip and the
    partners are a random permutation of the batch, both stateless from ``seed`` ``int64[2]``.
    Targets and weights are mixed with the same ``l``.
    """
    batch = tf.shape(targets)[0]
    gamma_seed, order_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    draws = tf.random.stateless_gamma([2, batch], gamma_seed, alpha=alpha)
    share = draws[0] / tf.maximum(draws[0] + draws[1], 1e-12)
    partner = tf.argsort(tf.random.stateless_uniform([batch], order_seed))

    def mix(value: tf.Tensor) -> tf.Tensor:
        weight = tf.reshape(tf.cast(share, value.dtype), [-1] + [1] * (len(value.shape) - 1))
        return weight * value + (1.0 - weight) * tf.gather(value, partner)

    mixed_weights = None if weights is None else mix(weights)
    return {name: mix(value) for name, value in streams.items()}, mix(targets), mixed_weights


def _to_model(
    inputs: tuple[str, ...],
    outputs: tuple[str, ...],
    weight_table: tf.Tensor | None,
    geometry: dict | None = None,
    mixup: float = 0.0,
    num_classes: int | None = None,
) -> Callable[..., tuple]:
    """The map from a ``uint8`` batch (and an augmentation seed) to what the model trains on.

    ``to_model(f, m, p, y, s=None)``: with a seed ``s`` the batch is augmented (:func:`augment_batch`
    with the ``geometry`` arguments, unless ``None``) and mixed (:func:`mix_batch`, ``mixup`` > 0); the
    streams named in ``inputs`` become ``float32``, every output gets the labels ``y`` (one-hot rows
    with ``num_classes``) and, with a ``weight_table`` (one weight per class), each clip its sample weight.
    """

    def to_model(f, m, p, y, s=None):
        """uint8 batch -> (augmented) float32 model inputs, one target per output, sample weights."""
        if s is not None and geometry is not None:
            f, m, p = augment_batch(f, m, s, landmarks=p, **geometry)
        streams = {FACES: tf.cast(f, tf.float32), LOCAL_MAPS: tf.cast(m, tf.float32), LANDMARKS: p}
        x = {name: streams[name] for name in inputs}
        target = y if not num_classes else tf.one_hot(tf.cast(y, tf.int32), num_classes, dtype=tf.float32)
        weights = None if weight_table is None else tf.gather(weight_table, y)
        if s is not None and mixup:
            x, target, weights = mix_batch(x, target, weights, tf.random.experimental.stateless_fold_in(s, 2), mixup)
        targets = {name: target for name in outputs}
        return (x, targets) if weights is None else (x, targets, weights)

    return to_model


def _shard_by_data() -> tf.data.Options:
    """Options that shard the pipeline by data across workers (``MultiWorkerMirroredStrategy``).

    Every worker builds the same seeded pipeline from the whole cache and keeps its share of
    each global batch; sharding by file cannot apply, since clips are gathered from memory or
    read through ``numpy_function``. One machine ignores the option.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return options
