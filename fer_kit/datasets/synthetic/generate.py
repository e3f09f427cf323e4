"""The embedded default dataset: synthetic expression clips animated from real neutral face photos.

``generate_synthetic(out)`` writes ``per_class`` clips of every emotion as real video files
(Motion-JPEG in AVI, which OpenCV writes and reads everywhere it has FFmpeg, frame by
frame and without inter-frame smoothing of the fine folds) plus ``out/labels.csv``, the
table the ``synthetic`` adapter reads. The whole chain (decode, detect, landmarks, maps,
training) then runs on them exactly as on a real corpus.

How a clip is made (see :mod:`fer_kit.datasets.synthetic.animate`): a face photo's 68 landmarks are
moved from neutral to the apex of the emotion's FACS action units
(:mod:`fer_kit.datasets.synthetic.action_units`) over the clip, with a random intensity and onset,
blinks, head motion and a lighting change; the photo is warped piecewise-affinely onto
the moved landmarks (:mod:`fer_kit.datasets.synthetic.warp`), the folds the muscles raise are shaded
in (:mod:`fer_kit.datasets.synthetic.folds`) and an opened mouth is painted
(:mod:`fer_kit.datasets.synthetic.mouth`).

Choices, with their reasons:

* 24 frames at 25 fps (0.96 s): the networks take 16 frames (paper 4.2), so the sampler
  has to choose among more frames, as on a real video, while the random onset (0.05-0.35
  of the clip) and rise (0.3-0.5) still leave the apex inside every clip.
* 256 x 256 frames with the face 135-165 px wide (jaw line): large enough for dlib's HOG
  detector at upsample 0 (it needs about 80 px) and for 112 px crops (paper preset), small
  enough to make hundreds of clips in minutes.
* Each clip's subject is its source photo's identity, so subject-independent splits stay
  identity-disjoint. The built-in faces are four people; give ``faces=`` a folder of
  faces (e.g. the 300-W HELEN training photos) for more identities.
* Deterministic: a clip's randomness comes from ``(seed, photo, emotion, index)`` alone, so
  the same seed gives the same label table and the same frames, and a re-run resumes.
"""

from __future__ import annotations

import json
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fer_kit.atomic import atomic_path
from fer_kit.datasets.synthetic.action_units import EMOTION_PROTOTYPES
from fer_kit.datasets.synthetic.animate import APEX_INTENSITY, AnimatedFace, ClipPlan, NoiseBank, plan_clip
from fer_kit.datasets.synthetic.faces import FaceSource, builtin_faces, iter_face_folder
from fer_kit.errors import DatasetLayoutError, FerKitError, UsageError
from fer_kit.labels import EMOTIONS

LABELS_FILE = "labels.csv"
SETTINGS_FILE = "synth.json"
LABEL_COLUMNS = ("source", "label", "subject", "face", "photo", "intensity", "onset", "apex", "seed", "frames", "fps")
CODECS = {"mjpg": ("MJPG", ".avi"), "mp4v": ("mp4v", ".mp4")}
GENERATOR_VERSION = 1
"""Bumped whenever the rendering changes, so a resumed folder never mixes two generators' clips."""


@dataclass(frozen=True)
class SynthSettings:
    """What a synthetic clip looks like; stored in ``OUT/synth.json`` so a re-run can resume."""

    length: int = 24
    fps: float = 25.0
    size: int = 256
    face_width: tuple[float, float] = (135.0, 165.0)
    intensity: tuple[float, float] = APEX_INTENSITY
    folds: bool = True
    codec: str = "mjpg"
    seed: int = 0

    def to_dict(self) -> dict:
        data = {"generator": GENERATOR_VERSION, **asdict(self)}
        data["face_width"] = list(self.face_width)
        data["intensity"] = list(self.intensity)
        return data


def clip_seed(seed: int, face_key: str, emotion: str, index: int) -> int:
    """The seed of one clip, from the run seed, the photo, the emotion and the clip's number."""
    sequence = np.random.SeedSequence([seed, zlib.crc32(face_key.encode()), zlib.crc32(emotion.encode()), index])
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


def render_clip(
    animated: AnimatedFace, plan: ClipPlan, settings: SynthSettings = SynthSettings()
) -> tuple[np.ndarray, np.ndarray]:
    """Frames ``uint8[T, S, S, 3]`` (RGB) and landmarks ``float32[T, 68, 2]`` of a planned clip."""
    size = (settings.size, settings.size)
    noise = NoiseBank(np.random.default_rng(plan.seed ^ 0x5EED), size)
    strength = float(np.random.default_rng(plan.seed ^ 0xF01D).uniform(0.8, 1.2))
    frames, landmarks = [], []
    for frame in plan.frames:
        image, points = animated.render(frame, size, noise.next(), settings.folds, strength)
        frames.append(image)
        landmarks.append(points)
    return np.stack(frames), np.stack(landmarks)


def _plan(emotion: str, seed: int, settings: SynthSettings, jaw_units: float) -> ClipPlan:
    """:func:`plan_clip` with the settings' length, frame rate, frame size, face width and intensity range."""
    return plan_clip(
        emotion, seed, settings.length, settings.fps, (settings.size, settings.size), settings.face_width,
        settings.intensity, jaw_units,
    )


def make_clip(
    face: FaceSource | AnimatedFace, emotion: str, seed: int, settings: SynthSettings = SynthSettings()
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Plan and render one clip in memory: ``(frames, landmarks, info)``."""
    animated = face if isinstance(face, AnimatedFace) else AnimatedFace(face)
    plan = _plan(emotion, seed, settings, animated.jaw_units)
    frames, landmarks = render_clip(animated, plan, settings)
    return frames, landmarks, plan.info


def write_video(path: str | Path, frames: np.ndarray, fps: float, codec: str = "mjpg") -> Path:
    """Write RGB ``frames`` as a video file atomically (temporary file, then rename).

    Motion-JPEG through OpenCV's FFmpeg backend loses about 3 grey levels per pixel on
    these frames (measured), far below the 40-80 levels of a drawn fold.
    """
    import cv2

    path = Path(path)
    fourcc, suffix = CODECS[codec]
    if path.suffix.lower() != suffix:
        raise UsageError(f"{path}: codec {codec} writes {suffix} files")
    height, width = frames.shape[1:3]
    with atomic_path(path) as temporary:  # OpenCV picks the container from the suffix
        writer = cv2.VideoWriter(str(temporary), cv2.VideoWriter_fourcc(*fourcc), float(fps), (width, height))
        if not writer.isOpened():
            raise FerKitError(f"OpenCV cannot write {codec} video here (no FFmpeg backend?)", path)
        try:
            for frame in frames:
                writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
        finally:
            writer.release()
    return path


def _candidates(faces, builtin: bool, max_faces: int | None) -> Iterator[tuple[FaceSource | None, str, str]]:
    """Built-in faces first, then the folder's (or the given) faces: ``(face or None, skip reason, origin)``."""
    if builtin:
        for face in builtin_faces():
            yield face, "", face.origin
    if faces is None:
        return
    given = iter_face_folder(faces) if isinstance(faces, (str, Path)) else ((f, "", f.origin) for f in faces)
    taken = 0
    for face, reason, origin in given:
        if face is not None:
            if max_faces is not None and taken >= max_faces:
                return
            taken += 1
        yield face, reason, str(origin)


def select_faces(
    faces, builtin: bool, needed: int, max_faces: int | None = None, check: Callable[[FaceSource], bool] | None = None,
    progress: bool = False,
) -> tuple[list[FaceSource], dict]:
    """The first ``needed`` usable photos (built-in, then ``faces``) and a report of those skipped.

    Photos are read lazily, so asking for a few faces of a large folder reads only a few
    photos. ``check`` (e.g. "the detector finds it once animated") rejects more.
    """
    chosen: list[FaceSource] = []
    skipped: Counter = Counter()
    walk = _candidates(faces, builtin, max_faces)
    if progress and isinstance(faces, (str, Path)):
        from fer_kit.progress import progress_bar

        walk = progress_bar(walk, desc="face photos", unit="photo")
    for face, reason, _origin in walk:
        if len(chosen) >= needed:
            break
        if face is None:
            skipped[reason] += 1
        elif check is not None and not check(face):
            skipped["face not found once animated"] += 1
        else:
            chosen.append(face)
    duplicated = [key for key, n in Counter(face.key for face in chosen).items() if n > 1]
    if duplicated:
        raise UsageError(f"two face photos share the key {duplicated[0]!r}")
    if not chosen:
        raise DatasetLayoutError(
            f"no usable face to animate (skipped: {dict(skipped) or 'none given'})", str(faces or "built-in faces")
        )
    report = {"used": len(chosen), "builtin": builtin, "folder": str(faces) if isinstance(faces, (str, Path)) else None,
              "skipped": dict(sorted(skipped.items()))}
    return chosen, report


def _detectable(animated: AnimatedFace, settings: SynthSettings) -> bool:
    """Whether the detector finds the face in a neutral frame (upsample 0), as preprocessing will need."""
    from fer_kit.face.landmarks import detect_faces

    frames, _, _ = make_clip(animated, "neutral", 0, SynthSettings(**{**asdict(settings), "length": 1}))
    return bool(detect_faces(frames[0], upsample=0))


@dataclass
class _Job:
    face: FaceSource
    clips: list[tuple[str, int, str]]  # emotion, seed, relative path


def _render_clips(animated: AnimatedFace, job: _Job, out: Path, settings: SynthSettings, save_landmarks: bool):
    """Render and write one photo's clips: ``[(relative path, info dict or error message)]``."""
    results: list[tuple[str, dict | str]] = []
    for emotion, seed, rel in job.clips:
        try:
            frames, landmarks, info = make_clip(animated, emotion, seed, settings)
            path = out / rel
            write_video(path, frames, settings.fps, settings.codec)
            if save_landmarks:
                with atomic_path(path.with_suffix(".landmarks.npy")) as temporary:  # np.save adds .npy if missing
                    np.save(temporary, landmarks)
            results.append((rel, info))
        except (FerKitError, ValueError, OSError) as error:  # report the clip, finish the others
            results.append((rel, f"{type(error).__name__}: {error}"))
    return results


def _run_job(job: _Job, out: str, settings: SynthSettings, save_landmarks: bool):
    """Worker-process entry: prepare the photo, then render its clips."""
    return _render_clips(AnimatedFace(job.face), job, Path(out), settings, save_landmarks)


def _write_csv_atomic(frame, path: Path) -> None:
    with atomic_path(path) as temporary:
        frame.to_csv(temporary, index=False, lineterminator="\n")


def _check_arguments(emotions: Sequence[str], codec: str, per_class: int, length: int) -> None:
    """``UsageError`` for an emotion without a prototype, an unknown codec or too few clips / frames."""
    unknown = [e for e in emotions if e not in EMOTION_PROTOTYPES]
    if unknown:
        raise UsageError(f"no action-unit prototype for {unknown}; choose from {', '.join(EMOTION_PROTOTYPES)}")
    if codec not in CODECS:
        raise UsageError(f"unknown codec {codec!r}; choose from {', '.join(CODECS)}")
    if per_class < 1 or length < 2:
        raise UsageError("per_class must be >= 1 and length >= 2")


def _check_resumable(settings_path: Path, settings: SynthSettings) -> None:
    """``DatasetLayoutError`` when the folder holds clips made with other settings (a resume would mix them)."""
    if not settings_path.is_file():
        return
    previous = json.loads(settings_path.read_text(encoding="utf-8")).get("settings")
    if previous != settings.to_dict():
        raise DatasetLayoutError(
            f"holds synthetic clips made with other settings ({previous}); use another folder or delete it",
            settings_path.parent,
        )


def _usable_check(animated: dict[str, AnimatedFace], settings: SynthSettings, check_faces: bool):
    """The ``check`` of :func:`select_faces`: prepare the photo once, keep it in ``animated`` if usable."""

    def usable(face: FaceSource) -> bool:
        candidate = AnimatedFace(face)
        if check_faces and not _detectable(candidate, settings):
            return False
        animated[face.key] = candidate
        return True

    return usable


def _write_settings(settings_path: Path, settings: SynthSettings, faces: Sequence[FaceSource]) -> None:
    """``OUT/synth.json``: the settings (checked on resume) and the photos used."""
    data = {
        "settings": settings.to_dict(),
        "faces": [{"key": f.key, "subject": f.face_id, "photo": f.origin} for f in faces],
    }
    with atomic_path(settings_path) as tmp:
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")


def _plan_table(
    out: Path, faces: Sequence[FaceSource], emotions: Sequence[str], per_class: int, settings: SynthSettings
) -> tuple[list[dict], list[_Job]]:
    """The label table's rows and, per photo, the clips still to make (those not on disk yet).

    Clip k of every emotion animates photo k mod n: as in the acted corpora, every identity
    shows every emotion, and per_class photos at most are needed.
    """
    suffix = CODECS[settings.codec][1]
    rows, jobs = [], {}
    for emotion in emotions:
        for k in range(per_class):
            face = faces[k % len(faces)]
            s = clip_seed(settings.seed, face.key, emotion, k)
            rel = f"clips/{emotion}/{face.key}_{emotion}_{k:03d}{suffix}"
            rows.append({"source": rel, "label": emotion, "subject": face.face_id, "face": face.key,
                         "photo": face.origin, "seed": s, "frames": settings.length, "fps": settings.fps})
            if not (out / rel).is_file():
                jobs.setdefault(face.key, _Job(face, [])).clips.append((emotion, s, rel))
    return rows, list(jobs.values())


def _render_jobs(
    pending: list[_Job], animated: dict[str, AnimatedFace], out: Path, settings: SynthSettings,
    save_landmarks: bool, workers: int, progress: bool,
) -> dict[str, dict | str]:
    """Render the pending clips, here or in ``workers`` processes: ``{relative path: info or error}``."""
    infos: dict[str, dict | str] = {}
    bar = None
    if progress:
        from fer_kit.progress import progress_bar

        bar = progress_bar(total=sum(len(j.clips) for j in pending), desc="synthetic clips", unit="clip")

    def collect(results) -> None:
        for rel, info in results:
            infos[rel] = info
            if bar is not None:
                bar.update(1)

    if workers > 1 and len(pending) > 1:
        _render_in_processes(pending, out, settings, save_landmarks, workers, collect)
    else:
        for job in pending:
            collect(_render_clips(animated[job.face.key], job, out, settings, save_landmarks))
    if bar is not None:
        bar.close()
    return infos


def _render_in_processes(
    pending: list[_Job], out: Path, settings: SynthSettings, save_landmarks: bool, workers: int,
    collect: Callable[[list], None],
) -> None:
    """Render the jobs in ``workers`` spawned processes (one photo per task), ``collect``-ing each one's results."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from fer_kit.workers import become_worker, stop_pool

    # spawn, not fork: the caller (a notebook) may hold TensorFlow or other threads
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=become_worker) as pool:
        try:
            for results in pool.map(_run_job, pending, [str(out)] * len(pending), [settings] * len(pending),
                                    [save_landmarks] * len(pending)):
                collect(results)
        except BaseException:
            stop_pool(pool)
            raise


def _label_rows(
    rows: list[dict], infos: dict[str, dict | str], animated: dict[str, AnimatedFace], settings: SynthSettings
) -> list[dict]:
    """The rows of the clips on disk, with their intensity, onset and apex (failed clips left out).

    A clip made by an earlier run is re-planned (cheap, same seed, same plan) for its figures.
    """
    table_rows = []
    for row in rows:
        info = infos.get(row["source"])
        if isinstance(info, str):  # failed
            continue
        if info is None:
            info = _plan(row["label"], row["seed"], settings, animated[row["face"]].jaw_units).info
        row.update(intensity=info["intensity"], onset=info["onset"], apex=info["apex"])
        table_rows.append(row)
    return table_rows


def generate_synthetic(
    out: str | Path,
    faces: str | Path | Sequence[FaceSource] | None = None,
    per_class: int = 8,
    emotions: Sequence[str] = EMOTIONS,
    length: int = 24,
    seed: int = 0,
    size: int = 256,
    builtin: bool = True,
    max_faces: int | None = None,
    workers: int = 1,
    codec: str = "mjpg",
    check_faces: bool = True,
    save_landmarks: bool = False,
    progress: bool = True,
):
    """Write synthetic expression clips and ``out/labels.csv``; return the label table (pandas).

    ``faces``: a folder of face photos (or a list of :class:`FaceSource`) used after the
    built-in faces (``builtin=False`` leaves those out); ``max_faces`` caps the photos
    taken from it. ``per_class`` clips of each emotion are made; clip k of every emotion
    animates photo k mod n, so every identity shows every emotion, as in the acted
    corpora, and at most ``per_class`` photos are used (the first usable ones). Photos
    the detector cannot find once animated are passed over (``check_faces``). Existing clips of
    an interrupted run with the same settings are kept (resume); a folder made with other
    settings raises ``DatasetLayoutError``. ``df.attrs`` reports faces, skipped photos,
    clips made / reused / failed and the time taken.
    """
    import pandas as pd

    started = time.perf_counter()
    _check_arguments(emotions, codec, per_class, length)
    settings = SynthSettings(length=length, size=size, codec=codec, seed=seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    settings_path = out / SETTINGS_FILE
    _check_resumable(settings_path, settings)
    animated: dict[str, AnimatedFace] = {}
    check = _usable_check(animated, settings, check_faces)
    usable_faces, face_report = select_faces(faces, builtin, per_class, max_faces, check, progress)
    _write_settings(settings_path, settings, usable_faces)

    rows, pending = _plan_table(out, usable_faces, emotions, per_class, settings)
    infos = _render_jobs(pending, animated, out, settings, save_landmarks, workers, progress)
    table = pd.DataFrame(_label_rows(rows, infos, animated, settings), columns=list(LABEL_COLUMNS))
    _write_csv_atomic(table, out / LABELS_FILE)
    table.attrs.update(
        faces=len(usable_faces),
        face_report=face_report,
        made=sum(isinstance(v, dict) for v in infos.values()),
        reused=len(rows) - len(infos),
        failed={rel: msg for rel, msg in infos.items() if isinstance(msg, str)},
        seconds=round(time.perf_counter() - started, 2),
        out=str(out),
    )
    return table
