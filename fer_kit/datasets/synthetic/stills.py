"""Still faces with exact 68-point ground truth, for training and testing an ERT offline (paper 3.1).

Every synthetic frame knows where its landmarks are: they are the warp's control points.
:func:`export_landmark_faces` renders ``n`` stills, each a random photo with a random
emotion at a random intensity (0 = neutral to 1 = apex), blink, head pose (roll up to
+-12 degrees, face 110-180 px wide, off-centre) and lighting, and writes them as image +
300-W ``.pts`` pairs (headed format, 0-based pixels), the layout
:func:`fer_kit.face.ert.find_annotated_images` and ``dlib.train_shape_predictor`` read. The
ground truth is as exact as the photo's landmarks (hand-annotated for 300-W folders,
the pretrained ERT's for the built-in photos).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fer_kit.atomic import atomic_path
from fer_kit.datasets.synthetic.animate import AnimatedFace, FramePlan, Light, Pose
from fer_kit.datasets.synthetic.faces import FaceSource
from fer_kit.errors import UsageError
from fer_kit.labels import EMOTIONS


def _still_plan(animated: AnimatedFace, emotion: str, rng: np.random.Generator, size: int) -> tuple[FramePlan, float]:
    from fer_kit.datasets.synthetic.action_units import EMOTION_PROTOTYPES

    intensity = float(rng.uniform(0.0, 1.0))
    activations = {au: w * intensity * float(rng.uniform(0.8, 1.2)) for au, w in EMOTION_PROTOTYPES[emotion].items()}
    blink = float(rng.uniform(0.0, 1.0)) if rng.random() < 0.15 else 0.0
    scale = float(rng.uniform(110.0, 180.0)) / animated.jaw_units
    pose = Pose(
        cx=size / 2 + float(rng.uniform(-0.08, 0.08) * size),
        cy=size / 2 + float(rng.uniform(-0.08, 0.08) * size),
        scale=scale,
        roll=float(np.radians(rng.uniform(-12.0, 12.0))),
    )
    light = Light(
        gain=float(rng.uniform(0.75, 1.15)),
        grad_x=float(rng.uniform(-0.35, 0.35)),
        grad_y=float(rng.uniform(-0.15, 0.15)),
        colour=tuple(float(c) for c in rng.uniform(0.93, 1.07, size=3)),
        noise=float(rng.uniform(0.5, 3.0)),
    )
    return FramePlan(activations, blink, pose, light), intensity


def export_landmark_faces(
    out: str | Path,
    n: int,
    faces: str | Path | Sequence[FaceSource] | None = None,
    seed: int = 0,
    size: int = 256,
    emotions: Sequence[str] = EMOTIONS,
    builtin: bool = True,
    image_format: str = "png",
):
    """Write ``n`` stills ``out/still_XXXXX.<png|jpg>`` + ``.pts`` and ``out/stills.csv``; return that table.

    ``faces`` as in :func:`fer_kit.datasets.synthetic.generate.generate_synthetic` (a folder adds its
    photos to the built-in ones). Deterministic for ``seed``; existing pairs are
    overwritten atomically.
    """
    import cv2
    import pandas as pd

    from fer_kit.datasets.synthetic.generate import select_faces
    from fer_kit.face.ert import write_pts

    if n < 1:
        raise UsageError("n must be >= 1")
    if image_format not in ("png", "jpg"):
        raise UsageError("image_format must be 'png' or 'jpg'")
    chosen, _ = select_faces(faces, builtin, needed=n)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    prepared: dict[str, AnimatedFace] = {}
    rows = []
    for i in range(n):
        face = chosen[i % len(chosen)]
        animated = prepared.get(face.key) or prepared.setdefault(face.key, AnimatedFace(face))
        rng = np.random.default_rng([seed, zlib.crc32(face.key.encode()), i])
        emotion = str(emotions[int(rng.integers(len(emotions)))])
        plan, intensity = _still_plan(animated, emotion, rng, size)
        image, landmarks = animated.render(plan, (size, size), rng.standard_normal((size, size), dtype=np.float32))
        name = f"still_{i:05d}"
        image_path = out / f"{name}.{image_format}"
        with atomic_path(image_path) as temporary:  # cv2 picks the format from the suffix
            if not cv2.imwrite(str(temporary), image[:, :, ::-1]):
                raise OSError(f"cannot write {image_path}")
        with atomic_path(out / f"{name}.pts") as pts_temporary:
            write_pts(pts_temporary, landmarks)
        rows.append({"image": image_path.name, "pts": f"{name}.pts", "subject": face.face_id, "face": face.key,
                     "label": emotion, "intensity": round(intensity, 4)})
    table = pd.DataFrame(rows)
    with atomic_path(out / "stills.csv") as temporary:
        table.to_csv(temporary, index=False, lineterminator="\n")
    return table
