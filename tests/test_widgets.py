"""The landmark explorer: drive its controls from Python and check what it draws and reads out."""

from __future__ import annotations

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from fer_kit.clips.clip import Clip  # noqa: E402
from fer_kit.face.regions import REGION_NAMES, region_mask  # noqa: E402
from fer_kit.viz import widgets  # noqa: E402


@pytest.fixture(scope="module")
def astronaut_state_args() -> dict:
    """Three frames: the astronaut photo, then shifted 40 and 80 px right (landmarks shifted too)."""
    from skimage import data

    from fer_kit.face.landmarks import detect_faces, predict_landmarks

    image = data.astronaut()
    box = detect_faces(image)[0]
    landmarks = predict_landmarks(image, box)
    frames, points, boxes = [], [], []
    for dx in (0, 40, 80):
        frames.append(np.roll(image, dx, axis=1))
        points.append(landmarks + np.array([dx, 0], np.float32))
        boxes.append((box[0] + dx, box[1], box[2] + dx, box[3]))
    return {"frames": frames, "landmarks": np.stack(points), "boxes": np.array(boxes), "valid": np.ones(3, bool)}


@pytest.fixture()
def explorer(astronaut_state_args) -> widgets.LandmarkExplorer:
    return widgets.LandmarkExplorer(widgets.ExplorerState(**astronaut_state_args, size=128, title="astronaut"))


def _pixels(explorer) -> np.ndarray:
    return widgets.figure_pixels(explorer.figure)


def _axes_slice(fig, index: int) -> tuple[slice, slice]:
    """Rows and columns of the rendered pixels covered by axes ``index``."""
    box = fig.axes[index].get_window_extent()
    height = int(round(fig.get_size_inches()[1] * fig.dpi))
    return slice(int(height - box.y1), int(height - box.y0)), slice(int(box.x0), int(box.x1))


def test_slider_moves_to_another_frame(explorer) -> None:
    before = _pixels(explorer)
    explorer.slider.value = 3  # the slider counts frames from 1, as the figure's title does
    assert explorer.state.frame == 2
    assert "frame 3/3" in explorer.figure.axes[0].get_title()
    after = _pixels(explorer)
    assert before.shape == after.shape and (before != after).any()
    # the aligned crop follows the face: the right-hand readout is the same on the shifted frame
    explorer.slider.value = 1
    reading0 = dict(explorer.reading)
    explorer.slider.value = 2
    assert explorer.reading["area_px"] == pytest.approx(reading0["area_px"], abs=3)


def test_region_toggle_changes_drawing_and_back(explorer) -> None:
    base = _pixels(explorer)
    assert "eyes" not in explorer.state.regions
    explorer.region_toggles["eyes"].value = True
    assert "eyes" in explorer.state.regions
    with_eyes = _pixels(explorer)
    changed = (base != with_eyes).any(axis=2)
    assert changed.any()
    # the change is local: the left (whole frame) panel is untouched, only part of the right panel moves
    left, right = _axes_slice(explorer.figure, 0), _axes_slice(explorer.figure, 1)
    assert not changed[left].any()
    assert 0 < changed[right].mean() < 0.1
    explorer.region_toggles["eyes"].value = False
    assert np.array_equal(_pixels(explorer), base)


def test_layers_each_change_the_figure(explorer) -> None:
    base = _pixels(explorer)
    for key in ("show_indices", "show_heatmap", "show_wrinkles", "show_box", "show_landmarks"):
        box = explorer.layer_boxes[key]
        box.value = not box.value
        assert getattr(explorer.state, key) == box.value
        assert not np.array_equal(_pixels(explorer), base), key
        box.value = not box.value
    assert np.array_equal(_pixels(explorer), base)


def test_readout_matches_region_mask(explorer) -> None:
    explorer.selected.value = "mouth"
    image, landmarks = explorer.state.aligned()
    mask = region_mask(landmarks, "mouth", image.shape[:2])
    energy = explorer.state.wrinkle_map()
    assert explorer.reading["region"] == "mouth"
    assert explorer.reading["area_px"] == int(mask.sum()) > 50
    assert explorer.reading["wrinkle_energy"] == pytest.approx(float(energy[mask].mean()))
    assert "mouth" in explorer.readout.value and str(int(mask.sum())) in explorer.readout.value
    assert "mouth" in explorer.figure.axes[-1].get_title()
    table = widgets.region_table(explorer.state)
    assert [row["region"] for row in table] == list(REGION_NAMES)
    assert all(row["area_px"] > 0 for row in table)


def test_render_is_pure_and_repeatable(astronaut_state_args) -> None:
    state = widgets.ExplorerState(**astronaut_state_args, size=128, frame=1, regions={"nose"}, show_heatmap=True)
    first = widgets.figure_pixels(widgets.render(state))
    assert state.frame == 1 and state.regions == {"nose"} and state.show_heatmap
    assert np.array_equal(widgets.figure_pixels(widgets.render(state)), first)


def test_state_rejects_bad_choices(astronaut_state_args) -> None:
    with pytest.raises(ValueError, match="out of range"):
        widgets.ExplorerState(**astronaut_state_args, frame=3)
    with pytest.raises(ValueError, match="unknown region"):
        widgets.ExplorerState(**astronaut_state_args, regions={"ears"})
    state = widgets.ExplorerState(**astronaut_state_args)
    state.toggle_region("forehead")
    assert "forehead" in state.regions
    with pytest.raises(ValueError, match="unknown region"):
        state.toggle_region("chin")


def test_clip_explorer_has_one_panel(astronaut_state_args) -> None:
    from fer_kit.face.align import align_face

    faces, points = [], []
    for frame, landmarks in zip(astronaut_state_args["frames"], astronaut_state_args["landmarks"], strict=True):
        face = align_face(frame, landmarks, 64)
        faces.append(face.image)
        points.append(face.landmarks)
    clip = Clip(
        faces=np.stack(faces),
        local=np.zeros((3, 64, 64, 1), np.uint8),
        landmarks=np.stack(points),
        valid=np.ones(3, bool),
        source="x/clip.avi",
    )
    explorer = widgets.explore(clip)
    assert len(explorer.figure.axes) == 1 and explorer.state.aligned_input
    assert explorer.reading["area_px"] > 0
    explorer.slider.value = 3
    assert explorer.state.frame == 2


def test_static_fallback_without_frontend(explorer, monkeypatch, capsys) -> None:
    monkeypatch.setenv("FER_KIT_WIDGETS", "static")
    assert not widgets.has_frontend()
    explorer.show()  # outside a kernel IPython's display prints the figure's repr and the readout
    out = capsys.readouterr().out
    assert "Figure" in out and not explorer._live
    monkeypatch.setenv("FER_KIT_WIDGETS", "interactive")
    assert widgets.has_frontend()
    monkeypatch.delenv("FER_KIT_WIDGETS")
    assert not widgets.has_frontend()  # a plain Python session has no kernel


def test_explore_reads_an_image_file(tmp_path) -> None:
    from skimage import data

    from fer_kit.viz.drawing import save_image

    path = save_image(tmp_path / "face.png", data.astronaut())
    explorer = widgets.explore(path, size=96)
    assert explorer.state.n_frames == 1 and explorer.state.title == "face.png"
    assert explorer.slider.disabled
    blank = save_image(tmp_path / "blank.png", np.full((120, 120, 3), 128, np.uint8))
    from fer_kit.errors import NoFaceError

    with pytest.raises(NoFaceError):
        widgets.explore(blank)


def test_explore_finds_a_48_px_face_in_a_frame_folder(tmp_path) -> None:
    # CK+ as shared holds 48 x 48 crops: too small for the detector at its native scale.
    import cv2
    from skimage import data

    from fer_kit.viz.drawing import save_image

    crop = cv2.resize(data.astronaut()[62:192, 165:281], (48, 48), interpolation=cv2.INTER_AREA)
    folder = tmp_path / "S005" / "001"
    folder.mkdir(parents=True)
    for i in range(3):
        save_image(folder / f"S005_001_{i:08d}.png", np.roll(crop, i, axis=1))
    explorer = widgets.explore(folder, size=96)
    assert explorer.state.n_frames == 3 and explorer.state.valid.all()
    assert np.ptp(explorer.state.landmarks[0, :, 0]) > 20  # the 68 points spread over the small face


def test_source_dropdown_switches_between_image_and_clip(astronaut_state_args) -> None:
    from skimage import data

    three = widgets.ExplorerState(**astronaut_state_args, size=96)
    explorer = widgets.explore({"photo": data.astronaut(), "shifted": three}, size=96)
    assert list(explorer.source.options) == ["photo", "shifted"] and not explorer.source.disabled
    assert explorer.state.n_frames == 1 and explorer.slider.disabled
    explorer.region_toggles["eyes"].value = True
    before = _pixels(explorer)
    explorer.source.value = "shifted"
    assert explorer.state is three and explorer.slider.max == 3 and not explorer.slider.disabled
    assert "eyes" in explorer.state.regions  # choices carry over
    assert not np.array_equal(_pixels(explorer), before)
    explorer.slider.value = 3
    explorer.source.value = "photo"
    assert explorer.state.n_frames == 1 and explorer.slider.value == 1 and explorer.slider.max == 1
