"""The course's small experiments: gradient flow through deep stacks, region change, course figures."""

from __future__ import annotations

import numpy as np
import pytest


def test_shortcuts_keep_the_gradient_flowing() -> None:
    from fer_kit.model.gradient_flow import gradient_flow

    flows = {kind: gradient_flow(kind, depth=10, width=4, frames=2, size=8, seed=0)
             for kind in ("plain", "preact", "residual")}
    for flow in flows.values():
        assert flow.norms.shape == (10,) and np.all(np.isfinite(flow.norms)) and np.all(flow.norms > 0)
    # without a shortcut the gradient changes by a large factor over ten blocks; with it, far less
    assert flows["plain"].ratio > 3 * flows["residual"].ratio
    assert flows["preact"].ratio > 3 * flows["residual"].ratio
    again = gradient_flow("residual", depth=10, width=4, frames=2, size=8, seed=0)
    assert np.allclose(again.norms, flows["residual"].norms, rtol=1e-4)
    with pytest.raises(ValueError, match="unknown block kind"):
        gradient_flow("dense", depth=2)


@pytest.fixture(scope="module")
def aligned_astronaut():
    from fer_kit.datasets.synthetic.faces import builtin_faces
    from fer_kit.face.align import align_face

    face = builtin_faces()[0]
    return align_face(face.image, face.landmarks, 112)


def test_region_change_sees_a_moved_mouth(aligned_astronaut) -> None:
    from fer_kit.course.experiments import apex_frame, region_change

    faces = np.stack([aligned_astronaut.image] * 3)
    landmarks = np.stack([aligned_astronaut.landmarks] * 3)
    landmarks[1, 48:68, 1] += 2.0  # a small mouth movement
    landmarks[2, 48:68, 1] += 6.0  # the apex
    assert apex_frame(landmarks) == 2
    change = region_change(faces, landmarks)
    motion = change["motion"]
    assert change["apex"] == 2
    assert motion["mouth"] == pytest.approx(6.0 / np.linalg.norm(landmarks[0, 42:48].mean(0) - landmarks[0, 36:42].mean(0)),
                                            rel=1e-3)
    assert motion["mouth"] > motion["nose"] and motion["eyes"] == pytest.approx(0.0, abs=1e-9)
    # same image at both ends: no texture or appearance change anywhere
    assert max(change["texture"].values()) == pytest.approx(0.0, abs=1e-9)
    assert max(change["appearance"].values()) == pytest.approx(0.0, abs=1e-9)


def test_stage_shapes_follow_figure_4() -> None:
    from fer_kit.course.plots import stage_shapes
    from fer_kit.model import build_model

    rows = stage_shapes(build_model("mcdcn", "tiny", num_classes=7), "local")
    assert [r["stage"] for r in rows] == [0, 1, 2, 3, 4, 5]
    assert [(r["frames"], r["height"]) for r in rows] == [(16, 32), (16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    assert [r["channels"] for r in rows] == [8, 8, 16, 32, 32, 32]
    with pytest.raises(ValueError, match="no stream"):
        stage_shapes(build_model("c3d", "tiny", num_classes=7), "local")


def test_landmark_samples_split_is_reproducible(tmp_path) -> None:
    from fer_kit.course.experiments import landmark_samples
    from fer_kit.datasets.synthetic.stills import export_landmark_faces

    export_landmark_faces(tmp_path, 16, seed=0)
    train, test = landmark_samples(tmp_path, test_fraction=0.3, seed=0)
    again_train, again_test = landmark_samples(tmp_path, test_fraction=0.3, seed=0)
    assert [s.image for s in train] == [s.image for s in again_train]
    assert [s.image for s in test] == [s.image for s in again_test]
    assert len(train) + len(test) <= 16 and len(train) >= 4 and len(test) >= 1 and all(s.detected for s in test)
    assert not {s.image for s in train} & {s.image for s in test}
