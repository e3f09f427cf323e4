"""Training and evaluating an ERT landmark model (paper 3.1, eq. 2, Algorithm 1) and the landmarks CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from fer_kit.cli import main
from fer_kit.errors import DatasetLayoutError, InputFileError
from fer_kit.face.ert import evaluate_ert, find_annotated_images, holdout_split, nme, read_pts, write_pts

HEADED = """version: 1
n_points:  68
{
%s
}
"""


def points68(offset: float = 0.0) -> np.ndarray:
    return np.stack([np.arange(68) + offset, np.arange(68) * 2.0], axis=1).astype(np.float32)


def test_read_pts_headed_and_bare(tmp_path: Path) -> None:
    pts = points68(0.5)
    body = "\n".join(f"{x} {y}" for x, y in pts)
    (tmp_path / "headed.pts").write_text(HEADED % body)
    (tmp_path / "bare.pts").write_text(body + "\n")
    np.testing.assert_allclose(read_pts(tmp_path / "headed.pts"), pts)
    np.testing.assert_allclose(read_pts(tmp_path / "bare.pts"), pts)
    np.testing.assert_allclose(read_pts(write_pts(tmp_path / "w.pts", pts)), pts, atol=1e-3)


def test_read_pts_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "short.pts").write_text(HEADED % "1 2\n3 4")
    with pytest.raises(InputFileError, match="header says 68 points but the file has 2") as error:
        read_pts(tmp_path / "short.pts")
    assert "short.pts" in str(error.value)
    (tmp_path / "junk.pts").write_text("hello world\n")
    with pytest.raises(InputFileError, match="cannot parse"):
        read_pts(tmp_path / "junk.pts")
    with pytest.raises(InputFileError, match="cannot read"):
        read_pts(tmp_path / "missing.pts")


def test_find_annotated_images_recursively_and_split(tmp_path: Path) -> None:
    for sub, name in [("a", "1_1"), ("a", "1_2"), ("b/c", "2_1"), ("b", "3_1")]:
        folder = tmp_path / sub
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.jpg").write_bytes(b"x")
        write_pts(folder / f"{name}.pts", points68())
    (tmp_path / "a" / "lonely.jpg").write_bytes(b"x")  # no .pts: ignored
    pairs = find_annotated_images(tmp_path)
    assert [p[0].name for p in pairs] == ["1_1.jpg", "1_2.jpg", "3_1.jpg", "2_1.jpg"]
    train, held = holdout_split(pairs, 0.5)
    assert len(train) + len(held) == 4
    assert holdout_split(pairs, 0.5) == (train, held)  # deterministic
    assert holdout_split(list(reversed(pairs)), 0.5)[1] == list(reversed(held))  # independent of order
    groups = [{p[0].stem.split("_")[0] for p in part} for part in (train, held)]
    assert not groups[0] & groups[1]  # faces of one photo stay together
    with pytest.raises(DatasetLayoutError):
        find_annotated_images(tmp_path / "a" / "nothing")


def test_nme_is_normalised_by_outer_eye_corners() -> None:
    truth = np.zeros((68, 2))
    truth[36], truth[45] = (0, 0), (100, 0)
    assert nme(truth + [3, 4], truth) == pytest.approx(0.05)


@pytest.fixture(scope="module")
def small_landmarks(landmarks68_dir: Path, tmp_path_factory) -> Path:
    """150 annotated faces (links to the shared data), for quick training tests."""
    root = tmp_path_factory.mktemp("lm68")
    pairs = find_annotated_images(landmarks68_dir)[:150]
    for image, pts in pairs:
        (root / image.name).symlink_to(image)
        (root / pts.name).symlink_to(pts)
    return root


def test_pretrained_model_on_real_faces(landmarks68_dir: Path) -> None:
    pairs = find_annotated_images(landmarks68_dir)
    names = [str(p[0].relative_to(landmarks68_dir)) for p in pairs[::30]]  # 41 faces spread over both sets
    result = evaluate_ert(landmarks68_dir, images=names, workers=1)
    assert set(result) == {"n", "missed", "nme_mean", "nme_median", "failure_rate", "ms_per_face"}
    assert result["n"] == len(names) and result["missed"] <= 0.15 * len(names)
    assert result["nme_mean"] < 0.06
    assert result["failure_rate"] < 0.1


def test_train_small_ert_and_evaluate_it_with_the_cli(small_landmarks: Path, tmp_path: Path, capsys) -> None:
    model = tmp_path / "small.dat"
    code = main(
        [
            "landmarks", "train", str(small_landmarks), "--out", str(model), "--holdout", "0.2",
            "--cascade-depth", "6", "--trees", "60", "--tree-depth", "3", "--oversampling", "5", "--json",
        ]
    )  # fmt: skip
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert model.is_file() and Path(str(model) + ".json").is_file()
    assert summary["n_train"] + summary["n_holdout"] == 150 and summary["n_holdout"] > 15
    held = summary["holdout"]
    assert 0 < held["nme_mean"] < 0.15  # a tiny model, but it has learned faces
    record = json.loads(Path(str(model) + ".json").read_text())
    assert len(record["holdout_images"]) == summary["n_holdout"]
    # `eval --holdout-of` measures the same held-out faces again.
    evaluate = ["landmarks", "eval", str(small_landmarks), "--holdout-of", str(model), "--workers", "1", "--json"]
    assert main([*evaluate, "--model", str(model)]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["nme_mean"] == pytest.approx(held["nme_mean"], abs=1e-4)
    # The pretrained model is better on the same faces.
    assert main(evaluate) == 0
    pretrained = json.loads(capsys.readouterr().out)
    assert pretrained["nme_mean"] < again["nme_mean"]


def test_landmarks_show_and_errors(tmp_path: Path, capsys) -> None:
    import cv2
    import skimage.data

    image = tmp_path / "astronaut.png"
    cv2.imwrite(str(image), cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR))
    out = tmp_path / "panels.png"
    assert main(["landmarks", "show", str(image), "--out", str(out)]) == 0
    panels = cv2.imread(str(out))
    assert panels.shape[0] == 320 and panels.shape[1] > 4 * 320  # five panels side by side
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 128, np.uint8))
    assert main(["landmarks", "show", str(blank), "--out", str(tmp_path / "x.png")]) == 2
    assert "blank.png: no face found" in capsys.readouterr().err
    assert main(["landmarks", "eval", str(tmp_path / "nowhere")]) == 2
    assert main(["landmarks", "eval", str(tmp_path), "--model", str(tmp_path / "missing.dat")]) == 2


def test_eval_without_annotations(tmp_path: Path) -> None:
    shutil.copy(Path(__file__), tmp_path / "x.py")
    with pytest.raises(DatasetLayoutError, match=r"\.pts"):
        evaluate_ert(tmp_path)


def test_training_images_are_mirrored_and_turned(tmp_path: Path) -> None:
    import cv2
    import skimage.data

    from fer_kit.face.ert import ERTOptions, build_samples, training_images
    from fer_kit.face.landmarks import face_landmarks

    image = skimage.data.astronaut()
    cv2.imwrite(str(tmp_path / "a.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    write_pts(tmp_path / "a.pts", face_landmarks(image))
    samples = build_samples(find_annotated_images(tmp_path), workers=1)
    assert samples[0].detected
    images, objects = training_images(samples, ERTOptions(flip=True, rotation=10, rotated_copies=2))
    assert len(images) == 6 and images[0].ndim == 2  # face, mirror, 2 turned copies of each
    points = [np.array([(p.x, p.y) for p in obj[0].parts()], float) for obj in objects]
    assert points[1][36, 0] < points[1][45, 0]  # mirrored indices keep the image-left eye on the left
    angles = [np.degrees(np.arctan2(*(p[45] - p[36])[::-1])) for p in points]
    assert angles[1] == pytest.approx(-angles[0], abs=1)  # the mirror image tilts the other way
    assert 0.5 < max(abs(a - angles[0]) for a in angles[2:4]) <= 11
    assert len(training_images(samples, ERTOptions(flip=False))[0]) == 1


def test_the_holdout_keeps_a_photos_faces_together_and_300w_photos_apart() -> None:
    helen = [(Path(f"{photo}_{face}.jpg"), Path(f"{photo}_{face}.pts")) for photo in range(100, 140) for face in (1, 2)]
    train, held = holdout_split(helen, 0.3, seed=1)
    held_photos = {p.stem.split("_")[0] for p, _ in held}
    assert held and train and not held_photos & {p.stem.split("_")[0] for p, _ in train}
    w300 = [(Path(f"indoor_{i:03d}.png"), Path(f"indoor_{i:03d}.pts")) for i in range(1, 61)]
    train, held = holdout_split(w300, 0.3, seed=1)
    assert 8 <= len(held) <= 30  # each photo on its own side, not all "indoor" photos as one group
