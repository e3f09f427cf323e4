"""The synthetic expression generator: action units, warping, folds, determinism, files, resume, stills."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fer_kit.datasets import index_dataset
from fer_kit.datasets.synthetic.action_units import (
    EMOTION_PROTOTYPES,
    SIDES,
    au_displacement,
    mirror_activations,
    mouth_opening,
    smile_elevation,
    to_face_units,
)
from fer_kit.datasets.synthetic.animate import APEX_INTENSITY, AnimatedFace, FramePlan, Light, Pose, plan_clip
from fer_kit.datasets.synthetic.faces import builtin_faces, check_face
from fer_kit.datasets.synthetic.folds import render_folds
from fer_kit.datasets.synthetic.generate import generate_synthetic, make_clip
from fer_kit.datasets.synthetic.warp import PiecewiseAffineWarp
from fer_kit.errors import DatasetLayoutError

SMALL = {"per_class": 1, "length": 6, "size": 192, "progress": False}


@pytest.fixture(scope="module")
def faces():
    return builtin_faces()


@pytest.fixture(scope="module")
def astronaut(faces):
    return AnimatedFace(faces[0])


# ---------------------------------------------------------------- action units
def test_builtin_faces_are_real_photos_with_landmarks(faces) -> None:
    assert [f.face_id for f in faces] == ["astronaut", "grace_hopper", "obama", "biden"]
    for face in faces:
        assert face.image.dtype == np.uint8 and face.image.shape[2] == 3
        assert face.landmarks.shape == (68, 2)
        assert check_face(face.landmarks) is None


def test_action_units_move_the_landmarks_the_facs_way(faces) -> None:
    neutral = to_face_units(faces[1].landmarks)
    smile = neutral + au_displacement(EMOTION_PROTOTYPES["happiness"], neutral)
    assert smile_elevation(smile) > smile_elevation(neutral) + 0.05  # corners up
    assert np.linalg.norm(smile[54] - smile[48]) > np.linalg.norm(neutral[54] - neutral[48]) + 0.15  # wider
    surprise = neutral + au_displacement(EMOTION_PROTOTYPES["surprise"], neutral)
    assert mouth_opening(surprise) > mouth_opening(neutral) + 0.25  # jaw drop
    assert (surprise[17:27, 1] < neutral[17:27, 1] - 0.04).all()  # all brow points up
    sad = neutral + au_displacement(EMOTION_PROTOTYPES["sadness"], neutral)
    assert smile_elevation(sad) < smile_elevation(neutral) - 0.05  # corners down
    # a symmetric face gets a mirror-symmetric displacement
    mirror = np.array([16 - i for i in range(17)] + [26 - i for i in range(10)] + [27, 28, 29, 30]
                      + [35, 34, 33, 32, 31] + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40]
                      + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65])
    symmetric = (neutral + neutral[mirror] * [-1, 1]) / 2
    d = au_displacement({"AU12": 1.0, "AU4": 1.0, "AU20": 1.0}, symmetric)
    np.testing.assert_allclose(d, d[mirror] * [-1, 1], atol=1e-12)
    # contempt (R12A+R14A) raises and tightens the right lip corner only; its mirror the left
    right = au_displacement(EMOTION_PROTOTYPES["contempt"], symmetric)
    assert right[48, 1] < -0.04 and right[48, 0] < -0.05  # up, and outward (the subject's right is -x)
    assert np.abs(right[[54, 64]]).max() == 0.0  # the other corner stays
    left = au_displacement(mirror_activations(EMOTION_PROTOTYPES["contempt"]), symmetric)
    np.testing.assert_allclose(left, right[mirror] * [-1, 1], atol=1e-12)
    with pytest.raises(ValueError, match="unknown side"):
        au_displacement({"AU14:X": 1.0}, symmetric)


def test_contempt_clips_show_either_side_and_leave_other_clips_as_they_were() -> None:
    sides = set()
    for seed in range(12):
        apex = plan_clip("contempt", seed, length=24).frames[-1].activations
        one_sided = {key for key in apex if ":" in key}
        assert one_sided in ({"AU12:R", "AU14:R"}, {"AU12:L", "AU14:L"})
        sides |= {key[-1] for key in one_sided}
    assert sides == set(SIDES)
    # a bilateral prototype draws nothing more than before contempt existed, so a folder of clips made
    # then resumes with the same clips (these figures are those of the generator without contempt)
    happy = plan_clip("happiness", 3, length=24)
    assert happy.info == {"intensity": 0.9428, "onset": 0.1114, "apex": 0.5348, "blinks": 0, "talking": True}
    assert happy.frames[-1].pose.cx == pytest.approx(114.2465061, abs=1e-6)
    assert happy.frames[-1].activations["AU12"] == pytest.approx(0.7897583860, abs=1e-9)


def test_the_smiling_astronaut_is_neutralised(astronaut) -> None:
    assert smile_elevation(astronaut.photo_units) > 0.1  # the photo smiles, teeth showing
    assert astronaut.neutralised["smile"] > 1.0
    assert abs(smile_elevation(astronaut.neutral) - 0.02) < 0.03
    assert mouth_opening(astronaut.neutral) < 0.01


# ---------------------------------------------------------------- warping and shading
def test_piecewise_affine_warp_is_exact_for_an_affine_motion(faces) -> None:
    image = faces[1].image
    lm = faces[1].landmarks.astype(np.float64)
    outer = np.array([[-500, -500], [1500, -500], [1500, 1500], [-500, 1500]], float)
    src = np.concatenate([lm, outer])
    warp = PiecewiseAffineWarp(image, src)
    matrix = np.array([[0.7, 0.1], [-0.1, 0.7]])
    shift = np.array([-60.0, -40.0])
    out = warp.warp(src @ matrix.T + shift, (200, 200))
    import cv2

    reference = cv2.warpAffine(image, np.hstack([matrix, shift[:, None]]), (200, 200), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT101)
    assert np.abs(out.astype(int) - reference).mean() < 0.5


def test_smile_folds_darken_the_nasolabial_region(astronaut) -> None:
    pose = Pose(128, 128, 70, 0.0)
    to_px = astronaut.to_pixels(pose)
    moved = astronaut.moved_units({"AU12": 1.0})
    flat = np.full((256, 256, 3), 180, np.uint8)
    shaded = render_folds(flat, moved, to_px, 70.0, {"AU12": 1.0})
    assert shaded.min() < 150  # a furrow is drawn
    corner = to_px(moved[[48]])[0]
    x, y = int(corner[0]), int(corner[1])
    assert shaded[y - 20 : y + 20, x - 20 : x + 5].mean() < 178  # beside the mouth corner
    assert shaded[:60].min() == 180  # nothing on the forehead
    assert np.array_equal(render_folds(flat, moved, to_px, 70.0, {}), flat)


def test_a_one_sided_dimple_shades_one_side_only(astronaut) -> None:
    pose = Pose(128, 128, 70, 0.0)
    to_px = astronaut.to_pixels(pose)
    activations = {"AU14:R": 1.0, "AU12:R": 0.5}
    moved = astronaut.moved_units(activations)
    flat = np.full((256, 256, 3), 180, np.uint8)
    shaded = render_folds(flat, moved, to_px, 70.0, activations)
    right, left = (to_px(moved[[i]])[0].astype(int) for i in (48, 54))  # the subject's right is image left
    assert shaded[right[1] - 15 : right[1] + 15, right[0] - 20 : right[0] + 5].mean() < 178
    assert shaded[left[1] - 15 : left[1] + 15, left[0] - 5 : left[0] + 20].min() == 180


def test_an_opened_jaw_shows_a_dark_mouth(astronaut) -> None:
    frame = FramePlan({"AU26": 1.0}, 0.0, Pose(128, 128, 70, 0.0), Light())
    image, landmarks = astronaut.render(frame, (256, 256))
    inner = landmarks[60:68].mean(axis=0).astype(int)
    assert image[inner[1] - 2 : inner[1] + 3, inner[0] - 2 : inner[0] + 3].mean() < 90
    assert landmarks.shape == (68, 2) and landmarks.dtype == np.float32


# ---------------------------------------------------------------- clip plans
def test_plan_goes_from_neutral_to_apex_and_is_deterministic() -> None:
    plan = plan_clip("surprise", 7, length=24)
    lids = np.array([frame.activations["AU5"] for frame in plan.frames])  # AU5 has no idle motion
    assert lids[0] < 0.05 * lids[-1]
    assert (np.diff(lids) >= -1e-12).all()  # rises, then holds at the apex
    assert lids[-1] == pytest.approx(lids.max())
    assert APEX_INTENSITY[0] * 0.8 <= lids[-1] <= APEX_INTENSITY[1] * 1.2
    assert plan.info["apex"] > plan.info["onset"]
    again = plan_clip("surprise", 7, length=24)
    assert again.info == plan.info and again.frames[10].activations == plan.frames[10].activations
    assert plan_clip("surprise", 8, length=24).info != plan.info
    neutral = plan_clip("neutral", 7, length=24)
    assert neutral.info["intensity"] == 0.0
    with pytest.raises(ValueError, match="no action-unit prototype"):
        plan_clip("boredom", 1)


# ---------------------------------------------------------------- generation
def test_generate_writes_videos_and_labels_the_adapter_reads(tmp_path: Path) -> None:
    import cv2

    table = generate_synthetic(tmp_path / "a", emotions=("happiness", "surprise", "neutral"), per_class=2, **{
        k: v for k, v in SMALL.items() if k != "per_class"})
    assert len(table) == 6 and table.attrs["made"] == 6 and not table.attrs["failed"]
    assert sorted(set(table.subject)) == ["astronaut", "grace_hopper"]
    assert (table.groupby("label").subject.nunique() == 2).all()  # each identity shows each emotion
    capture = cv2.VideoCapture(str(tmp_path / "a" / table.source[0]))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    assert len(frames) == 6 and frames[0].shape == (192, 192, 3)
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(25.0)
    index = index_dataset(tmp_path / "a", "synthetic")
    assert len(index) == 6 and set(index.label) == {"happiness", "surprise", "neutral"}


def test_same_seed_same_bytes_and_frames_other_seed_differs(tmp_path: Path) -> None:
    from fer_kit.clips.video import read_video

    kw = {**SMALL, "emotions": ("anger", "fear")}
    table = generate_synthetic(tmp_path / "a", seed=5, **kw)
    generate_synthetic(tmp_path / "b", seed=5, **kw)
    generate_synthetic(tmp_path / "c", seed=6, **kw)
    assert (tmp_path / "a/labels.csv").read_bytes() == (tmp_path / "b/labels.csv").read_bytes()
    assert (tmp_path / "a/labels.csv").read_bytes() != (tmp_path / "c/labels.csv").read_bytes()
    source = table.source[table.label == "fear"].iloc[0]
    a = np.stack(read_video(tmp_path / "a" / source).frames)
    b = np.stack(read_video(tmp_path / "b" / source).frames)
    c = np.stack(read_video(tmp_path / "c" / source).frames)
    assert np.array_equal(a, b)
    assert np.abs(a.astype(int) - c).mean() > 1.0


def test_rerun_resumes_and_other_settings_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "s"
    first = generate_synthetic(out, emotions=("sadness",), **SMALL)
    (out / first.source[0]).unlink()  # as if interrupted before this clip
    second = generate_synthetic(out, emotions=("sadness",), **SMALL)
    assert second.attrs["made"] == 1 and second.attrs["reused"] == 0
    third = generate_synthetic(out, emotions=("sadness",), **SMALL)
    assert third.attrs["made"] == 0 and third.attrs["reused"] == 1
    assert third[["source", "intensity", "seed"]].equals(first[["source", "intensity", "seed"]])
    with pytest.raises(DatasetLayoutError, match="other settings"):
        generate_synthetic(out, emotions=("sadness",), **{**SMALL, "length": 8})
    assert json.loads((out / "synth.json").read_text())["settings"]["length"] == 6


def test_bad_generator_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="boredom"):
        generate_synthetic(tmp_path, emotions=("boredom",), **SMALL)
    with pytest.raises(ValueError, match="codec"):
        generate_synthetic(tmp_path, codec="h265", **SMALL)


def test_contempt_clips_are_written_and_indexed_as_ck_plus_labels_them(tmp_path: Path) -> None:
    table = generate_synthetic(tmp_path / "ct", emotions=("contempt", "happiness"), **SMALL)
    assert sorted(table["label"]) == ["contempt", "happiness"]
    index = index_dataset(tmp_path / "ct", "synthetic")
    assert set(index["label"]) == {"contempt", "happiness"}


def test_make_clip_in_memory(faces) -> None:
    frames, landmarks, info = make_clip(faces[1], "happiness", 3)
    assert frames.shape == (24, 256, 256, 3) and landmarks.shape == (24, 68, 2)
    width = np.linalg.norm(landmarks[:, 16] - landmarks[:, 0], axis=1)
    assert width.min() > 120 and width.max() < 185  # the face size preprocessing expects
    corners = np.linalg.norm(landmarks[:, 54] - landmarks[:, 48], axis=1) / width
    assert corners[-1] > corners[0] + 0.03  # the smile widens the mouth over the clip
    assert set(info) >= {"intensity", "onset", "apex"}


# ---------------------------------------------------------------- stills and contact sheet
def test_export_landmark_faces_writes_pts_that_match_the_face(tmp_path: Path) -> None:
    from fer_kit.datasets.synthetic.stills import export_landmark_faces
    from fer_kit.face.ert import find_annotated_images, read_pts
    from fer_kit.face.landmarks import face_landmarks, inter_ocular
    from fer_kit.images import read_image

    table = export_landmark_faces(tmp_path, 4, seed=1)
    assert len(table) == 4 and (tmp_path / "stills.csv").is_file()
    pairs = find_annotated_images(tmp_path)
    assert len(pairs) == 4
    errors = []
    for image_path, pts_path in pairs:
        truth = read_pts(pts_path)
        predicted = face_landmarks(read_image(image_path))
        assert predicted is not None
        errors.append(np.linalg.norm(predicted - truth, axis=1).mean() / inter_ocular(truth))
    assert np.median(errors) < 0.08  # the pretrained ERT agrees with the written ground truth


def test_contact_sheet_has_one_row_per_emotion(tmp_path: Path, faces) -> None:
    from fer_kit.viz.sheet import contact_sheet

    sheet = contact_sheet(tmp_path / "sheet.png", face=faces[1], emotions=("happiness", "surprise"), columns=3,
                          tile=64)
    assert sheet.shape == (2 * 64, 110 + 3 * 64, 3)
    assert (tmp_path / "sheet.png").is_file()


def test_cli_synth_and_index(tmp_path: Path, capsys) -> None:
    from fer_kit.cli import main

    code = main(["data", "synth", str(tmp_path / "d"), "--per-class", "1", "--length", "4", "--size", "192",
                 "--emotions", "fear", "contempt", "--no-progress", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["clips"] == 2 and report["per_label"] == {"fear": 1, "contempt": 1}
    code = main(["data", "index", str(tmp_path / "d"), "--dataset", "synthetic", "--csv", str(tmp_path / "i.csv")])
    assert code == 0 and "2 clips, 1 subjects" in capsys.readouterr().out
    assert (tmp_path / "i.csv").read_text().startswith("source,label,subject,dataset")
    assert main(["data", "index", str(tmp_path), "--dataset", "savee"]) == 2
    assert "DC_a01.avi" in capsys.readouterr().err
