"""Dataset adapters on small fixture trees in each corpus layout (empty files are enough to index)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fer_kit.datasets import ADAPTERS, adapter_name, index_dataset
from fer_kit.datasets.gemep import GEMEP_TO_KIT, load_mapping
from fer_kit.errors import DatasetLayoutError, InputFileError


def touch(root: Path, *names: str, text: str = "") -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def labels_of(index) -> dict[str, tuple[str, str]]:
    """``{file or folder name: (label, subject)}``."""
    return {Path(s).name: (label, subject) for s, label, subject in zip(index.source, index.label, index.subject, strict=True)}


# ---------------------------------------------------------------- SAVEE
def test_savee_reads_folders_prefixes_padding_and_frame_folders(tmp_path: Path) -> None:
    touch(tmp_path, "DC/a1.avi", "DC/sa01.avi", "JE_su15.mp4", "KL/n3.AVI", "DC/a1.wav", "README.txt")
    touch(tmp_path, "JK/h2/0001.png", "JK/h2/0002.png")
    index = index_dataset(tmp_path, "savee")
    assert labels_of(index) == {
        "a1.avi": ("anger", "DC"),
        "sa01.avi": ("sadness", "DC"),
        "JE_su15.mp4": ("surprise", "JE"),
        "n3.AVI": ("neutral", "KL"),
        "h2": ("happiness", "JK"),
    }
    assert set(index.dataset) == {"savee"}
    assert all(Path(s).is_absolute() for s in index.source)


def test_savee_counts_clips_without_actor(tmp_path: Path) -> None:
    touch(tmp_path, "clips/d4.avi", "DC/f7.avi")
    index = index_dataset(tmp_path, "savee")
    assert list(index.label) == ["fear"]
    assert index.attrs["skipped"] == {"no actor in name or folders": 1}


def test_savee_wrong_layout_says_what_it_expected_and_found(tmp_path: Path) -> None:
    touch(tmp_path, "1001_DFA_ANG_XX.flv")
    with pytest.raises(DatasetLayoutError) as error:
        index_dataset(tmp_path, "savee")
    message = str(error.value)
    assert "DC_a01.avi or DC/a1.avi" in message
    assert "found 1 file, e.g. 1001_DFA_ANG_XX.flv" in message
    assert str(tmp_path) in message


# ---------------------------------------------------------------- MMI
SESSION_XML = """<?xml version="1.0" encoding="utf-8"?>
<Session sessionId="{sid}">
  {subject}
  {emotion}
</Session>
"""


def _session(root: Path, sid: str, videos: list[str], emotion: str = "", subject: str = "") -> None:
    touch(root, *[f"Sessions/{sid}/{v}" for v in videos])
    (root / "Sessions" / sid / "session.xml").write_text(SESSION_XML.format(sid=sid, emotion=emotion, subject=subject))


def test_mmi_labels_subjects_and_skips(tmp_path: Path) -> None:
    _session(tmp_path, "1", ["S001-001.avi"], '<Metatag Name="Emotion" Value="4"/>', '<Subject id="1"/>')
    _session(tmp_path, "2", ["S002-005.avi"], '<metatag name="emotion" value="6"/>')  # subject from the file name
    _session(tmp_path, "3", ["S003-001.avi"], "", '<Subject id="3"/>')  # AU-only session: no emotion
    _session(tmp_path, "4", ["S004-002.avi", "S004-002b.avi"], "<Emotion>1</Emotion>")  # two camera views
    index = index_dataset(tmp_path, "mmi")
    assert labels_of(index) == {
        "S001-001.avi": ("happiness", "S001"),
        "S002-005.avi": ("surprise", "S002"),
        "S004-002.avi": ("anger", "S004"),
    }
    assert index.attrs["skipped"] == {"extra camera view": 1, "no emotion label": 1}


def test_mmi_without_any_label_explains(tmp_path: Path) -> None:
    _session(tmp_path, "9", ["S009-001.avi"])
    with pytest.raises(DatasetLayoutError, match="no emotion label"):
        index_dataset(tmp_path, "mmi")
    touch(tmp_path / "other", "clip.avi")
    with pytest.raises(DatasetLayoutError, match="session.xml"):
        index_dataset(tmp_path / "other", "mmi")


# ---------------------------------------------------------------- GEMEP
def test_gemep_paper_relabelling_and_family_choices(tmp_path: Path) -> None:
    touch(tmp_path, "01adm_Ax.avi", "02anx_Ba.avi", "03mep_Cx.avi", "04ang-2.mp4", "05sha_Ax.avi", "06joi_Ax.avi")
    touch(tmp_path, "irritation/07_take1.avi", "actor08/despair/clip.avi")
    index = index_dataset(tmp_path, "gemep")
    assert labels_of(index) == {
        "01adm_Ax.avi": ("surprise", "actor01"),  # the paper's four pairs
        "02anx_Ba.avi": ("sadness", "actor02"),
        "03mep_Cx.avi": ("disgust", "actor03"),  # French code of contempt
        "04ang-2.mp4": ("anger", "actor04"),
        "06joi_Ax.avi": ("happiness", "actor06"),
        "07_take1.avi": ("anger", "actor07"),  # emotion folder, actor from the name
        "clip.avi": ("sadness", "actor08"),  # emotion folder, actor folder
    }
    assert index.attrs["skipped"] == {"unmapped emotion shame": 1}
    assert index.attrs["portrayed"]["admiration"] == 1


def test_gemep_mapping_overrides_from_dict_yaml_and_csv(tmp_path: Path) -> None:
    touch(tmp_path / "data", "01adm_Ax.avi", "02int_Ax.avi", "03sha_Ax.avi")
    by_dict = index_dataset(tmp_path / "data", "gemep", mapping={"admiration": "happiness", "interest": None})
    assert labels_of(by_dict) == {"01adm_Ax.avi": ("happiness", "actor01")}
    assert by_dict.attrs["skipped"] == {"unmapped emotion interest": 1, "unmapped emotion shame": 1}
    yaml_file = tmp_path / "map.yaml"
    yaml_file.write_text("shame: sadness\ninterest: null\n")
    by_yaml = index_dataset(tmp_path / "data", "gemep", mapping=yaml_file)
    assert labels_of(by_yaml)["03sha_Ax.avi"] == ("sadness", "actor03")
    assert "02int_Ax.avi" not in labels_of(by_yaml)
    csv_file = tmp_path / "map.csv"
    csv_file.write_text("emotion,label\nadmiration,fear\n")
    assert load_mapping(csv_file)["admiration"] == "fear"
    assert load_mapping(None) == GEMEP_TO_KIT
    with pytest.raises(ValueError, match="not a kit label"):
        load_mapping({"admiration": "awe"})
    with pytest.raises(InputFileError):
        load_mapping(tmp_path / "missing.yaml")


def test_gemep_covers_eighteen_emotions_with_the_papers_pairs() -> None:
    assert len(GEMEP_TO_KIT) == 18
    for emotion, label in {"admiration": "surprise", "anger": "anger", "anxiety": "sadness", "contempt": "disgust"}.items():
        assert GEMEP_TO_KIT[emotion] == label


# ---------------------------------------------------------------- CK+
def test_ckplus_sequences_labels_and_unlabelled(tmp_path: Path) -> None:
    root = tmp_path / "CK+"
    touch(root, "cohn-kanade-images/S005/001/S005_001_00000001.png", "cohn-kanade-images/S005/001/S005_001_00000002.png")
    touch(root, "Emotion/S005/001/S005_001_00000011_emotion.txt", text="   3.0000000e+00\n")
    touch(root, "cohn-kanade-images/S010/002/a.png", "cohn-kanade-images/S010/002/b.png")  # no label
    touch(root, "cohn-kanade-images/S011/004/a.png")
    touch(root, "Emotion/S011/004/S011_004_00000010_emotion.txt", text="2.0000000e+00")
    index = index_dataset(tmp_path, "ck+")
    assert labels_of(index) == {"001": ("disgust", "S005"), "004": ("contempt", "S011")}
    assert index.attrs["skipped"] == {"no emotion label": 1}
    dropped = index_dataset(tmp_path, "ckplus", contempt=False)
    assert list(dropped.label) == ["disgust"]
    assert dropped.attrs["skipped"]["contempt (dropped)"] == 1


def test_ckplus_without_emotion_folder(tmp_path: Path) -> None:
    touch(tmp_path, "cohn-kanade-images/S005/001/a.png")
    with pytest.raises(DatasetLayoutError, match="no Emotion folder"):
        index_dataset(tmp_path, "ckplus")


# ---------------------------------------------------------------- RAVDESS
def test_ravdess_video_only_twins_audio_and_calm(tmp_path: Path) -> None:
    touch(tmp_path, "Actor_01/01-01-03-01-01-01-01.mp4", "Actor_01/02-01-03-01-01-01-01.mp4")  # AV + video twin
    touch(tmp_path, "Actor_01/03-01-03-01-01-01-01.wav", "Actor_01/03-01-05-01-01-01-01.mp4")  # audio-only
    touch(tmp_path, "Actor_12/01-02-02-02-01-02-12.mp4", "Actor_12/01-01-08-01-02-01-12.mp4")
    index = index_dataset(tmp_path, "ravdess")
    assert labels_of(index) == {
        "02-01-03-01-01-01-01.mp4": ("happiness", "actor01"),
        "01-02-02-02-01-02-12.mp4": ("neutral", "actor12"),  # calm -> neutral
        "01-01-08-01-02-01-12.mp4": ("surprise", "actor12"),
    }
    assert index.attrs["skipped"] == {"audio-only": 1, "full-AV twin of a video-only file": 1}
    dropped = index_dataset(tmp_path, "ravdess", calm="drop")
    assert "neutral" not in set(dropped.label) and dropped.attrs["skipped"]["calm (dropped)"] == 1
    assert len(index_dataset(tmp_path, "ravdess", dedupe=False)) == 4
    with pytest.raises(ValueError, match="calm"):
        index_dataset(tmp_path, "ravdess", calm="happy")


# ---------------------------------------------------------------- CREMA-D
def test_cremad_fixture_tree(tmp_path: Path) -> None:
    touch(tmp_path, "VideoFlash/1001_DFA_ANG_XX.flv", "VideoFlash/1091_IEO_HAP_HI.flv", "AudioWAV/1001_DFA_ANG_XX.wav")
    index = index_dataset(tmp_path, "crema-d")
    assert labels_of(index) == {"1001_DFA_ANG_XX.flv": ("anger", "1001"), "1091_IEO_HAP_HI.flv": ("happiness", "1091")}


def test_cremad_adapter_on_the_shared_clips(cremad_dir: Path) -> None:
    index = index_dataset(cremad_dir, "cremad")
    assert len(index) == 6
    assert {Path(s).name[9:12]: label for s, label in zip(index.source, index.label, strict=True)} == {
        "ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happiness", "NEU": "neutral", "SAD": "sadness",
    }
    assert set(index.subject) == {"1001"}


# ---------------------------------------------------------------- folder, manifest, synthetic
def test_folder_labels_aliases_subjects(tmp_path: Path) -> None:
    touch(tmp_path, "happy/alice/clip1.mp4", "happy/alice/clip2.mp4", "Angry/bob_01.avi", "Angry/bob_02.avi")
    touch(tmp_path, "misc/x.mp4", "joyful/y.mp4", "sad/photo1.jpg", "sad/photo2.jpg", "sad/seq/1.png", "sad/seq/2.png")
    index = index_dataset(tmp_path, "folder")
    assert labels_of(index)["seq"] == ("sadness", "seq")  # a folder of frames is a clip
    assert labels_of(index)["clip1.mp4"] == ("happiness", "alice")
    assert labels_of(index)["bob_01.avi"] == ("anger", "bob_01")  # each file its own subject
    assert index.attrs["subjects_from_file_names"] == 3
    assert index.attrs["skipped"] == {
        "folder 'joyful' is not a label": 1, "folder 'misc' is not a label": 1, "still images (not clips)": 2,
    }
    patterned = index_dataset(tmp_path, "folder", subject_pattern=r"^([a-z]+)_", labels={"joyful": "happiness"})
    assert labels_of(patterned)["bob_02.avi"] == ("anger", "bob")
    assert labels_of(patterned)["y.mp4"][0] == "happiness"
    with pytest.raises(ValueError, match="not a kit label"):
        index_dataset(tmp_path, "folder", labels={"misc": "bored"})


def test_manifest_relative_paths_and_skips(tmp_path: Path) -> None:
    touch(tmp_path, "videos/a.mp4", "videos/b.mp4", "videos/c.mp4")
    (tmp_path / "list.csv").write_text(
        "source,label,subject,start,end\n"
        "videos/a.mp4,Happy,p1,0.5,2.0\n"
        f"{tmp_path / 'videos' / 'b.mp4'},sad,p2,,\n"
        "videos/gone.mp4,anger,p3,,\n"
        "videos/c.mp4,bored,p4,,\n"
    )
    index = index_dataset(tmp_path / "list.csv", "manifest")
    assert labels_of(index) == {"a.mp4": ("happiness", "p1"), "b.mp4": ("sadness", "p2")}
    assert index.loc[0, "start"] == 0.5 and index.loc[0, "end"] == 2.0
    assert index.attrs["skipped"] == {"missing file": 1, "unknown label bored": 1}
    (tmp_path / "bad.csv").write_text("file,emotion\nx,y\n")
    with pytest.raises(DatasetLayoutError, match="missing source, label, subject"):
        index_dataset(tmp_path / "bad.csv", "manifest")
    with pytest.raises(DatasetLayoutError, match="manifest.csv or index.csv"):
        index_dataset(tmp_path / "videos", "manifest")


def test_synthetic_adapter_reads_labels_csv(tmp_path: Path) -> None:
    touch(tmp_path, "clips/anger/a_anger_000.avi", "clips/fear/b_fear_000.avi")
    (tmp_path / "labels.csv").write_text(
        "source,label,subject\nclips/anger/a_anger_000.avi,anger,a\nclips/fear/b_fear_000.avi,fear,b\n"
        "clips/fear/c_fear_001.avi,fear,c\n"
    )
    index = index_dataset(tmp_path, "synthetic")
    assert labels_of(index) == {"a_anger_000.avi": ("anger", "a"), "b_fear_000.avi": ("fear", "b")}
    assert index.attrs["skipped"] == {"missing clip": 1}


# ---------------------------------------------------------------- every adapter
@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_every_adapter_refuses_a_folder_of_other_files(tmp_path: Path, name: str) -> None:
    touch(tmp_path, "notes.txt", "photos/holiday.jpg")
    with pytest.raises(DatasetLayoutError) as error:
        index_dataset(tmp_path, name)
    message = str(error.value)
    assert str(tmp_path) in message
    assert "found 2 files" in message or "no manifest CSV" in message


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_every_adapter_names_a_missing_folder(tmp_path: Path, name: str) -> None:
    with pytest.raises(DatasetLayoutError, match="not found"):
        index_dataset(tmp_path / "absent", name)


def test_adapter_names_and_aliases() -> None:
    assert adapter_name("CK+") == "ckplus" and adapter_name("CREMA-D") == "cremad"
    with pytest.raises(ValueError, match="choose one of"):
        adapter_name("affectnet")
