"""Training and evaluating your own ERT landmark model (paper 3.1, eq. 2, Algorithm 1).

An ensemble of regression trees (Kazemi & Sullivan 2014) refines a shape in
``cascade_depth`` stages, ``S(t+1) = S(t) + r_t(I, S(t))`` (eq. 2). Each regressor ``r_t``
is fitted by gradient tree boosting (Algorithm 1): ``trees`` trees per stage, each of
``tree_depth`` levels splitting on the intensity difference of a random pixel pair (from a
pool of ``feature_pool_size`` pixels indexed relative to the current shape, ``num_test_splits``
candidate splits per node), shrunk by the learning rate ``nu``. Every training face is
used ``oversampling`` times, each time starting from a different initial shape.

Data is the 300-W mark-up: an image with a ``.pts`` file of the same name beside it
(headed ``version: 1 / n_points: 68 / { x y ... }`` or bare ``x y`` lines). Each face's
training box comes from the same face detector the model will meet at inference
(the detection overlapping the annotated points), falling back to a box derived from
the points when the detector misses the face. Detection, the slow part of building the
training set, runs in parallel processes. The training set is enlarged by mirror images
(with the landmark indices mirrored) and, optionally, copies turned by small random
angles, which teach the cascade the head poses a thousand photos show too rarely.

Accuracy is the normalised mean error: the mean point-to-point distance divided by the
distance between the outer eye corners (points 36 and 45); a face with NME > 0.08 is a
failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fer_kit.atomic import atomic_path
from fer_kit.errors import DatasetLayoutError, InputFileError, ModelFileError

FAILURE_NME = 0.08
"""A face whose NME exceeds this counts as a failure."""


# ---------------------------------------------------------------- reading the mark-up
def read_pts(path: str | Path, n_points: int | None = 68) -> np.ndarray:
    """Points ``float32[N, 2]`` of a 300-W ``.pts`` file (headed or bare ``x y`` lines).

    ``InputFileError`` naming the file if it cannot be parsed or (with ``n_points``) has
    another number of points.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise InputFileError(f"cannot read landmark file ({error.strerror or error})", path) from error
    declared = None
    points = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line in "{}" or line.startswith("#"):
            continue
        header = re.match(r"(\w+)\s*:\s*(\S+)", line)
        if header:
            if header.group(1).lower() == "n_points":
                declared = int(header.group(2))
            continue
        values = line.replace(",", " ").split()
        try:
            x, y = float(values[0]), float(values[1])
        except (ValueError, IndexError):
            raise InputFileError(f"cannot parse landmark line {line!r}", path) from None
        points.append((x, y))
    if declared is not None and declared != len(points):
        raise InputFileError(f"header says {declared} points but the file has {len(points)}", path)
    if not points:
        raise InputFileError("no landmark points in file", path)
    if n_points is not None and len(points) != n_points:
        raise InputFileError(f"expected {n_points} points, found {len(points)}", path)
    return np.asarray(points, dtype=np.float32)


def write_pts(path: str | Path, points: np.ndarray) -> Path:
    """Write points in the headed 300-W ``.pts`` format."""
    path = Path(path)
    lines = ["version: 1", f"n_points:  {len(points)}", "{"]
    lines += [f"{x:.3f} {y:.3f}" for x, y in np.asarray(points, dtype=np.float64)]
    lines.append("}")
    path.write_text("\n".join(lines) + "\n")
    return path


def find_annotated_images(directory: str | Path) -> list[tuple[Path, Path]]:
    """``(image, pts)`` pairs under ``directory`` (searched recursively), sorted by path."""
    from fer_kit.images import IMAGE_SUFFIXES

    directory = Path(directory)
    if not directory.is_dir():
        raise DatasetLayoutError("no such folder of annotated images", directory)
    pairs = []
    for pts in sorted(directory.rglob("*.pts")):
        for suffix in IMAGE_SUFFIXES + tuple(s.upper() for s in IMAGE_SUFFIXES):
            image = pts.with_suffix(suffix)
            if image.is_file():
                pairs.append((image, pts))
                break
    if not pairs:
        raise DatasetLayoutError("no image with a .pts landmark file beside it (searched recursively)", directory)
    return pairs


def _group(image: Path) -> str:
    """Faces cropped from one photo (``123_1.jpg``, ``123_2.jpg``) share a group, so a split keeps them together.

    Only a numeric photo id with a face number counts (HELEN's ``2908549_1``); 300-W's
    ``indoor_001`` is a photo of its own, not face 1 of a photo called ``indoor``.
    """
    return re.sub(r"^(\d+)_\d+$", r"\1", image.stem)


def holdout_split(
    pairs: list[tuple[Path, Path]], holdout: float, seed: int = 0
) -> tuple[list[tuple[Path, Path]], list[tuple[Path, Path]]]:
    """Deterministic ``(train, held_out)`` split by a hash of each photo's name (independent of order and folder)."""
    if not 0 <= holdout < 1:
        raise ValueError(f"holdout must be in [0, 1), got {holdout}")
    train, held = [], []
    for pair in pairs:
        digest = hashlib.sha1(f"{seed}:{_group(pair[0])}".encode()).digest()
        fraction = int.from_bytes(digest[:8], "big") / 2**64
        (held if fraction < holdout else train).append(pair)
    return train, held


# ---------------------------------------------------------------- boxes for annotated faces
def _points_box(points: np.ndarray) -> tuple[float, float, float, float]:
    return float(points[:, 0].min()), float(points[:, 1].min()), float(points[:, 0].max()), float(points[:, 1].max())


def match_detection(boxes: list, points: np.ndarray):
    """The detected box belonging to the annotated face: it contains the points' centre and overlaps them most."""
    left, top, right, bottom = _points_box(points)
    cx, cy = points[:, 0].mean(), points[:, 1].mean()
    best, best_iou = None, 0.25
    for box in boxes:
        if not (box[0] <= cx <= box[2] and box[1] <= cy <= box[3]):
            continue
        w = min(box[2], right) - max(box[0], left)
        h = min(box[3], bottom) - max(box[1], top)
        inter = max(w, 0) * max(h, 0)
        union = (box[2] - box[0]) * (box[3] - box[1]) + (right - left) * (bottom - top) - inter
        iou = inter / union if union > 0 else 0.0
        if iou > best_iou:
            best, best_iou = box, iou
    return best


def _detect_annotated(pair: tuple[str, str]) -> tuple | None:
    """Detected box of the annotated face in one image (upsampling once if needed). Runs in a worker."""
    from fer_kit.face.landmarks import detect_faces
    from fer_kit.images import read_image

    image = read_image(pair[0])
    points = read_pts(pair[1])
    for upsample in (0, 1):
        box = match_detection(detect_faces(image, upsample), points)
        if box is not None:
            return tuple(int(v) for v in box)
    return None


def detect_annotated_faces(pairs: list[tuple[Path, Path]], workers: int = 2, progress: bool = False) -> list:
    """The matching detector box (or ``None``) for every annotated image, in ``workers`` processes."""
    from fer_kit.progress import progress_bar
    from fer_kit.workers import become_worker, stop_pool

    tasks = [(str(a), str(b)) for a, b in pairs]
    if workers <= 1 or len(tasks) < 20:
        return [_detect_annotated(t) for t in progress_bar(tasks, desc="detect", unit="face", enabled=progress)]
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(workers, initializer=become_worker) as pool:
        try:
            iterator = pool.imap(_detect_annotated, tasks, chunksize=8)
            return list(progress_bar(iterator, total=len(tasks), desc="detect", unit="face", enabled=progress))
        except BaseException:
            stop_pool(pool)
            raise


# ---------------------------------------------------------------- training
@dataclass
class ERTOptions:
    """Training options of ``dlib.train_shape_predictor`` (names as in the paper's Algorithm 1 where they exist).

    Defaults were chosen by held-out NME on the 300-W HELEN + AFW faces (1,067 training
    faces plus their mirror images, 131 detected held-out faces). Measured: 10 stages x 300
    trees, 10 initial shapes, no mirrors 0.054; with mirrors 0.050; 15 x 600, 10 shapes
    0.0485; 20 x 400, 15 shapes 0.047; these defaults (25 x 400, 20 shapes) 0.045 (training
    took 22 minutes on 2 cores that other jobs shared, load about 4). Deeper trees (5) with fewer
    shapes, more split candidates (60), a padded feature pool and random rotations of the
    training faces did not help in shorter runs. The pretrained model scores 0.033 on the
    same faces, but it was trained on them.
    """

    cascade_depth: int = 25
    trees: int = 400
    tree_depth: int = 4
    nu: float = 0.1
    oversampling: int = 20
    feature_pool_size: int = 400
    num_test_splits: int = 20
    lambda_param: float = 0.1
    translation_jitter: float = 0.1
    padding: float = 0.0
    flip: bool = True
    rotation: float = 0.0
    rotated_copies: int = 1
    threads: int = 0
    seed: int = 0

    def dlib_options(self):
        import dlib

        options = dlib.shape_predictor_training_options()
        options.cascade_depth = self.cascade_depth
        options.num_trees_per_cascade_level = self.trees
        options.tree_depth = self.tree_depth
        options.nu = self.nu
        options.oversampling_amount = self.oversampling
        options.oversampling_translation_jitter = self.translation_jitter
        options.feature_pool_size = self.feature_pool_size
        options.num_test_splits = self.num_test_splits
        options.lambda_param = self.lambda_param
        options.feature_pool_region_padding = self.padding
        options.num_threads = self.threads or (os.cpu_count() or 1)
        options.random_seed = str(self.seed)
        options.be_verbose = False
        return options


@dataclass
class ERTSample:
    image: Path
    points: np.ndarray
    box: tuple[int, int, int, int]
    detected: bool


def _fallback_boxes(points_list: list[np.ndarray], boxes: list) -> list:
    """Boxes for faces the detector missed, from their points and the median detector-to-points relation."""
    from fer_kit.face.landmarks import _box_relation, box_from_landmarks

    relations = [_box_relation(box, pts) for box, pts in zip(boxes, points_list, strict=True) if box is not None]
    relation = tuple(np.median(relations, axis=0)) if relations else None
    return [
        box if box is not None else box_from_landmarks(pts, relation)
        for box, pts in zip(boxes, points_list, strict=True)
    ]


def build_samples(pairs: list[tuple[Path, Path]], workers: int = 2, progress: bool = False) -> list[ERTSample]:
    """Annotated faces with their training boxes (detector box, or derived from the points when missed)."""
    points = [read_pts(pts) for _, pts in pairs]
    detected = detect_annotated_faces(pairs, workers, progress)
    boxes = _fallback_boxes(points, detected)
    return [
        ERTSample(image, pts, tuple(int(v) for v in box), det is not None)
        for (image, _), pts, box, det in zip(pairs, points, boxes, detected, strict=True)
    ]


def _flip_sample(image: np.ndarray, points: np.ndarray, box) -> tuple[np.ndarray, np.ndarray, tuple]:
    from fer_kit.face.groups import flip_landmarks

    width = image.shape[1]
    flipped_box = (width - box[2], box[1], width - box[0], box[3])
    return np.ascontiguousarray(image[:, ::-1]), flip_landmarks(points, width), flipped_box


def _detection(points: np.ndarray, box):
    import dlib

    rect = dlib.rectangle(int(box[0]), int(box[1]), int(box[2]) - 1, int(box[3]) - 1)
    return dlib.full_object_detection(rect, [dlib.point(int(round(x)), int(round(y))) for x, y in points])


def _rotate_sample(image: np.ndarray, points: np.ndarray, box, angle: float) -> tuple[np.ndarray, np.ndarray, tuple]:
    """The face turned by ``angle`` degrees about its centre; the box keeps its relation to the points."""
    import cv2

    from fer_kit.face.landmarks import _box_relation, box_from_landmarks

    centre = tuple(float(v) for v in points.mean(axis=0))
    matrix = cv2.getRotationMatrix2D(centre, angle, 1.0)
    turned = cv2.warpAffine(image, matrix, (image.shape[1], image.shape[0]), borderMode=cv2.BORDER_REFLECT)
    turned_points = (points @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)
    return turned, turned_points, box_from_landmarks(turned_points, _box_relation(box, points))


def _intensity(image: np.ndarray) -> np.ndarray:
    """Gray levels exactly as dlib derives them from RGB, ``(r + g + b) // 3``: same features, a third of the memory."""
    return (image.astype(np.uint16).sum(axis=2) // 3).astype(np.uint8)


def training_images(samples: list[ERTSample], options: ERTOptions) -> tuple[list[np.ndarray], list[list]]:
    """Images and dlib detections for training: each face, its mirror image (``flip``) and, with
    ``rotation``, ``rotated_copies`` copies of each turned by a random angle in ``[-rotation, rotation]``."""
    from fer_kit.images import read_image

    rng = np.random.default_rng(options.seed)
    images, objects = [], []
    for sample in samples:
        image = _intensity(read_image(sample.image))
        variants = [(image, sample.points, sample.box)]
        if options.flip:
            variants.append(_flip_sample(image, sample.points, sample.box))
        for base in list(variants):
            for _ in range(options.rotated_copies if options.rotation > 0 else 0):
                variants.append(_rotate_sample(*base, float(rng.uniform(-options.rotation, options.rotation))))
        for variant_image, points, box in variants:
            images.append(np.ascontiguousarray(variant_image))
            objects.append([_detection(points, box)])
    return images, objects


def train_on_samples(samples: list[ERTSample], options: ERTOptions):
    """Fit a dlib ``shape_predictor`` to the samples and their augmented copies (:func:`training_images`)."""
    import dlib

    images, objects = training_images(samples, options)
    return dlib.train_shape_predictor(images, objects, options.dlib_options())


def train_ert(
    directory: str | Path,
    out: str | Path,
    holdout: float = 0.1,
    workers: int = 2,
    progress: bool = False,
    limit: int | None = None,
    **options,
) -> dict:
    """Train an ERT on the annotated faces under ``directory``, save it to ``out`` and evaluate the held-out faces.

    ``holdout`` of the photos (chosen by a hash of their names, so the split is
    reproducible) are kept out of training; their file names and the results go to
    ``out`` + ``.json``. ``limit`` uses only the first N training faces. ``options``
    override :class:`ERTOptions`. Returns the summary dict (also in the JSON).
    """
    out = Path(out)
    opts = ERTOptions(**options)
    pairs = find_annotated_images(directory)
    train_pairs, held_pairs = holdout_split(pairs, holdout, opts.seed)
    if limit:
        train_pairs = train_pairs[:limit]
    if len(train_pairs) < 2:
        raise DatasetLayoutError(f"need at least 2 training faces, found {len(train_pairs)}", directory)
    started = time.perf_counter()
    samples = build_samples(train_pairs + held_pairs, workers, progress)
    train_samples, held_samples = samples[: len(train_pairs)], samples[len(train_pairs) :]
    detect_seconds = time.perf_counter() - started
    fit_started = time.perf_counter()
    predictor = train_on_samples(train_samples, opts)
    train_seconds = time.perf_counter() - fit_started
    with atomic_path(out) as tmp:
        predictor.save(str(tmp))
    held_result = _evaluate_samples([s for s in held_samples if s.detected], predictor) if held_samples else None
    if held_result is not None:
        held_result["n"] = len(held_samples)
        held_result["missed"] = sum(not s.detected for s in held_samples)
    root = Path(directory)
    summary = {
        "model": str(out),
        "data": str(root),
        "n_train": len(train_samples),
        "n_train_detector_boxes": sum(s.detected for s in train_samples),
        "n_holdout": len(held_samples),
        "holdout_fraction": holdout,
        "options": asdict(opts),
        "detect_seconds": round(detect_seconds, 2),
        "train_seconds": round(train_seconds, 2),
        "total_seconds": round(time.perf_counter() - started, 2),
        "holdout": held_result,
        "holdout_images": [str(s.image.relative_to(root)) for s in held_samples],
    }
    json_path = out.with_name(out.name + ".json")
    json_path.write_text(json.dumps(summary, indent=2) + "\n")
    return summary


# ---------------------------------------------------------------- evaluation
def nme(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Mean point error divided by the outer-eye-corner distance (points 36 and 45) of the truth."""
    from fer_kit.face.landmarks import inter_ocular

    truth = np.asarray(truth, dtype=np.float64)
    error = np.linalg.norm(np.asarray(predicted, dtype=np.float64) - truth, axis=-1).mean()
    return float(error / max(float(inter_ocular(truth)), 1e-6))


def _summarise(errors: list[float], n: int, missed: int, seconds: float) -> dict:
    values = np.asarray(errors, dtype=np.float64)
    found = len(values)
    return {
        "n": n,
        "missed": missed,
        "nme_mean": round(float(values.mean()), 5) if found else None,
        "nme_median": round(float(np.median(values)), 5) if found else None,
        "failure_rate": round(float((values > FAILURE_NME).mean()), 5) if found else None,
        "ms_per_face": round(1000 * seconds / found, 3) if found else None,
    }


def _evaluate_samples(samples: list[ERTSample], predictor) -> dict:
    from fer_kit.face.landmarks import predict_landmarks
    from fer_kit.images import read_image

    errors, seconds = [], 0.0
    for sample in samples:
        image = read_image(sample.image)
        t = time.perf_counter()
        predicted = predict_landmarks(image, sample.box, predictor)
        seconds += time.perf_counter() - t
        errors.append(nme(predicted, sample.points))
    return _summarise(errors, len(samples), 0, seconds)


def evaluate_ert(
    directory: str | Path,
    model: str | Path | None = None,
    workers: int = 2,
    limit: int | None = None,
    images: list[str] | None = None,
    progress: bool = False,
) -> dict:
    """Detect each annotated face, predict its 68 points and measure the NME.

    Returns ``{"n", "missed", "nme_mean", "nme_median", "failure_rate", "ms_per_face"}``:
    ``missed`` faces (no detection overlaps the annotation) are left out of the errors;
    ``ms_per_face`` times the 68-point predictor alone. ``model`` defaults to the
    pretrained model; ``images`` (paths relative to ``directory``) or ``limit`` select
    a subset, e.g. the ``holdout_images`` that :func:`train_ert` wrote.
    """
    from fer_kit.face.landmarks import load_predictor

    predictor = load_predictor(model)
    pairs = find_annotated_images(directory)
    if images is not None:
        wanted = {str(Path(i)) for i in images}
        pairs = [p for p in pairs if str(p[0].relative_to(directory)) in wanted]
        if not pairs:
            raise DatasetLayoutError("none of the listed images was found", directory)
    if limit:
        pairs = pairs[:limit]
    samples = build_samples(pairs, workers, progress)
    found = [s for s in samples if s.detected]
    result = _evaluate_samples(found, predictor)
    result["n"] = len(samples)
    result["missed"] = len(samples) - len(found)
    return result


def holdout_images(model: str | Path) -> list[str]:
    """The held-out image names recorded beside a model trained by :func:`train_ert`."""
    path = Path(str(model) + ".json")
    if not path.is_file():
        raise ModelFileError("no training record (.json) beside this model", model)
    return list(json.loads(path.read_text())["holdout_images"])
