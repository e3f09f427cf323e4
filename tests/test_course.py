"""fer_kit.course: recording results, the papermill chain and how it reports a failing notebook."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import numpy as np
import pytest

from fer_kit import course
from fer_kit.cli import main
from fer_kit.errors import InputFileError


def test_record_merges_and_converts_numpy(tmp_path: Path) -> None:
    course.record(tmp_path, accuracy=np.float32(0.5), counts=np.arange(3), name="a")
    merged = course.record(tmp_path, accuracy=0.75, nested={"x": np.int64(2), "bad": float("nan")})
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk == merged
    assert on_disk == {"accuracy": 0.75, "counts": [0, 1, 2], "name": "a", "nested": {"x": 2, "bad": None}}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]  # no temp files left behind


def test_record_refuses_what_json_cannot_hold(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="cannot record"):
        course.record(tmp_path, thing=object())
    with pytest.raises(ValueError):
        course.record(tmp_path)
    assert not (tmp_path / "results.json").exists()


def test_load_results_names_a_corrupt_file(tmp_path: Path) -> None:
    assert course.load_results(tmp_path) == {}
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(InputFileError, match="results.json"):
        course.load_results(tmp_path)


def test_prepare_dirs_shares_work_dir_beside_output(tmp_path: Path) -> None:
    out, work = course.prepare_dirs(tmp_path / "run" / "02_x", None, "02_x")
    assert out == (tmp_path / "run" / "02_x").resolve() and out.is_dir()
    assert work == (tmp_path / "run" / "work").resolve() and work.is_dir()
    out2, work2 = course.prepare_dirs(tmp_path / "a", tmp_path / "w", "x")
    assert work2 == (tmp_path / "w").resolve()


def test_save_figure_writes_png(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = course.save_figure(fig, tmp_path, "curve")
    plt.close(fig)
    assert path.name == "curve.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _write_notebook(
    path: Path, *sources: str, parameters: str = "output_dir = None\nwork_dir = None\nseed = 0"
) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}"), params]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(nb, str(path))
    return path


@pytest.fixture()
def three_notebooks(tmp_path: Path) -> Path:
    src = tmp_path / "nbs"
    src.mkdir()
    _write_notebook(
        src / "a_first.ipynb",
        "%matplotlib inline\nimport matplotlib.pyplot as plt\nfrom fer_kit import course",
        "fig, ax = plt.subplots(); ax.plot([1, 2, 3])\ncourse.save_figure(fig, output_dir, 'line')",
        "course.record(output_dir, answer=40 + seed, work=str(work_dir));",
    )
    _write_notebook(
        src / "b_second.ipynb",
        "x = 1",
        "y = x + 1",
        "# fails on purpose\nraise ValueError('broken on purpose')",
        "print('never reached')",
    )
    _write_notebook(src / "c_third.ipynb", "print('should not run')")
    return src


def test_chain_stops_at_failing_notebook_and_names_cell(three_notebooks: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(course.ChainError) as caught:
        course.run_chain(out, notebooks_dir=three_notebooks, parameters={"seed": 2, "epochs": 9}, progress=False)
    error = caught.value
    assert error.notebook == "b_second" and "b_second.ipynb" in str(error)
    assert error.cell == 5 and "cell 5" in str(error)  # markdown, parameters, x, y, raise: the 5th cell
    assert error.ename == "ValueError" and "broken on purpose" in str(error)

    # the first notebook ran with the parameters passed through; the third never ran
    assert course.load_results(out / "a_first") == {"answer": 42, "work": str((out / "work").resolve())}
    summary = json.loads((out / "summary.json").read_text())
    assert [r["status"] for r in summary["runs"]] == ["ok", "failed", "skipped"]
    assert not (out / "c_third.ipynb").exists()
    page = (out / "index.html").read_text()
    assert "a_first/line.png" in page and "<td>answer</td><td>42</td>" in page
    assert "broken on purpose" in page
    executed = nbformat.read(str(out / "a_first.ipynb"), as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert any("image/png" in o.get("data", {}) for o in outputs)  # figures are inline, not lost to Agg


def test_chain_passes_only_declared_parameters(tmp_path: Path) -> None:
    src = tmp_path / "nbs"
    src.mkdir()
    _write_notebook(
        src / "only.ipynb",
        "from fer_kit import course\ncourse.record(output_dir, has_epochs='epochs' in dir(), preset=preset);",
        parameters="output_dir = None\nwork_dir = None\npreset = 'lite'",
    )
    messages: list[str] = []
    report = course.run_chain(
        tmp_path / "out", notebooks_dir=src, parameters={"preset": "tiny", "epochs": 3}, progress=False,
        log=messages.append,
    )
    assert report.ok and report.runs[0].seconds > 0
    assert any("epochs" in m and "not passed" in m for m in messages)  # a typo in --param is not silent
    assert course.load_results(tmp_path / "out" / "only") == {"has_epochs": False, "preset": "tiny"}


def test_chain_reads_a_relative_data_dir_from_where_it_was_started(tmp_path: Path, monkeypatch) -> None:
    # The kernel runs in the notebook's output folder; `--data-dir ../data/ckplus` must still find the corpus.
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "marker.txt").write_text("found")
    src = tmp_path / "nbs"
    src.mkdir()
    _write_notebook(
        src / "reads.ipynb",
        "from pathlib import Path\nfrom fer_kit import course\n"
        "course.record(output_dir, data_dir=data_dir, marker=(Path(data_dir) / 'marker.txt').read_text());",
        parameters="output_dir = None\nwork_dir = None\ndata_dir = None",
    )
    started = tmp_path / "started_here"
    started.mkdir()
    monkeypatch.chdir(started)
    course.run_chain("out", notebooks_dir=src, parameters={"data_dir": "../corpus"}, progress=False)
    results = course.load_results(started / "out" / "reads")
    assert results == {"data_dir": str((tmp_path / "corpus").resolve()), "marker": "found"}


def test_cli_reports_failing_notebook_in_one_line(three_notebooks: Path, tmp_path: Path, capsys) -> None:
    code = main(
        [
            "course",
            "run",
            "--notebooks",
            str(three_notebooks),
            "--out",
            str(tmp_path / "o"),
            "--only",
            "b_second",
            "--json",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("fer-kit: error: ") and "b_second.ipynb" in err[-1] and "cell 5" in err[-1]
    assert "ValueError: broken on purpose" in err[-1]


def test_cli_rejects_missing_notebooks_folder(tmp_path: Path, capsys) -> None:
    assert main(["course", "run", "--notebooks", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "no such notebooks folder" in capsys.readouterr().err


def test_cli_release_writes_student_notebooks(tmp_path: Path, capsys) -> None:
    out = tmp_path / "student"
    assert main(["course", "release", "--out", str(out), "--json"]) == 0
    written = json.loads(capsys.readouterr().out)["notebooks"]
    assert [Path(p).stem for p in written] == list(course.NOTEBOOKS)
    for path in written:
        text = Path(path).read_text()
        assert "BEGIN SOLUTION" not in text and "raise NotImplementedError()" in text


def test_ensure_dataset_needs_data_dir_for_real_corpora(tmp_path: Path) -> None:
    from fer_kit.errors import DatasetLayoutError

    with pytest.raises(DatasetLayoutError, match="data_dir"):
        course.ensure_dataset(tmp_path, "savee")
    with pytest.raises(ValueError, match="unknown dataset"):
        course.ensure_dataset(tmp_path, "nosuchcorpus")


def test_ensure_dataset_reads_a_given_synthetic_folder(tmp_path: Path) -> None:
    folder = tmp_path / "synth"
    (folder / "clips").mkdir(parents=True)
    for name in ("a.avi", "b.avi"):
        (folder / "clips" / name).write_bytes(b"x")
    (folder / "labels.csv").write_text("source,label,subject\nclips/a.avi,anger,p1\nclips/b.avi,fear,p2\n")
    index = course.ensure_dataset(tmp_path / "work", "synthetic", data_dir=folder)
    assert list(index["label"]) == ["anger", "fear"] and set(index["dataset"]) == {"synthetic"}
    assert not (tmp_path / "work" / "data").exists()  # nothing generated
    assert course.cache_dir_for(tmp_path, index, "tiny").parent == tmp_path / "cache"
    assert course.cache_dir_for(tmp_path, index, "tiny") != course.cache_dir_for(tmp_path, index, "tiny", wrinkles=False)


def test_a_moved_work_folder_keeps_its_runs(tmp_path: Path) -> None:
    """Run names hash the settings and the cache's place in ``work_dir``, not where ``work_dir`` is."""
    import shutil

    from toyclips import write_toy_cache

    work = tmp_path / "work"
    cache = write_toy_cache(work / "cache" / "toy", classes=("anger", "happiness"), per_class=2,
                            subjects=("a", "b", "c"))
    run = course.ensure_run(work, cache, "cnn", "tiny", epochs=1, batch_size=4, verbose=0)
    stamp = (run / "model.keras").stat().st_mtime_ns
    moved = Path(shutil.move(work, tmp_path / "grading" / "alice" / "work"))
    again = course.ensure_run(moved, moved / "cache" / "toy", "cnn", "tiny", epochs=1, batch_size=4, verbose=0)
    assert again == moved / "runs" / run.name
    assert (again / "model.keras").stat().st_mtime_ns == stamp  # the same run, not trained again
