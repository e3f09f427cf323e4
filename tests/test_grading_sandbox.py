"""A hostile class: each submission tries one attack on the grader; the bubblewrap sandbox must contain every one.

The class (the toy assignment of ``tests/fixtures/grading``, with its solution run) is graded twice
through ``fer-kit grade`` in a child process: first two honest students, then the attackers join.
Every attacker starts from the released stub (0 points unless an attack works) plus one cell
with its attack. The grader runs with a secret in its environment and a HOME of its own, so
the tests can look for both in everything it wrote.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import json
import os
import site
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import nbformat
import psutil
import pytest
from nbformat.v4 import new_code_cell

import fer_kit
from fer_kit.cli import main
from fer_kit.course.release import release_notebooks
from fer_kit.errors import FerKitError
from fer_kit.grading import get_assignment
from fer_kit.grading import sandbox as sandbox_module
from fer_kit.grading.record import GradeRecord, reusable
from fer_kit.grading.runner import Reference
from fer_kit.grading.sandbox import SandboxError, bubblewrap_problem, load_results, read_untrusted

FIXTURES = Path(__file__).parent / "fixtures" / "grading"
CHECKS = str(FIXTURES / "toy_checks.py")
MARK = f"ferkitattack{uuid.uuid4().hex[:10]}"
"""In every attacker's process command lines and payloads: what the tests search for afterwards."""
SECRET = f"grader-secret-{uuid.uuid4().hex}"

needs_bwrap = pytest.mark.skipif(bool(bubblewrap_problem()), reason=f"no sandbox here: {bubblewrap_problem()}")


def _toy() -> nbformat.NotebookNode:
    return nbformat.read(FIXTURES / "toy.ipynb", as_version=4)


def _stub(root: Path) -> nbformat.NotebookNode:
    if not (root / "release" / "toy.ipynb").is_file():
        release_notebooks(FIXTURES, root / "release", notebooks=["toy"])
    return nbformat.read(root / "release" / "toy.ipynb", as_version=4)


def _with_cell(nb: nbformat.NotebookNode, source: str) -> nbformat.NotebookNode:
    index = next(i for i, cell in enumerate(nb.cells) if "from fer_kit.course import record" in cell.source)
    nb.cells.insert(index + 1, new_code_cell(source))
    return nb


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


def _rows(gradebook: Path) -> dict[str, dict]:
    with gradebook.open() as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


def _marked_processes() -> list[str]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        with_mark = " ".join(process.info.get("cmdline") or [])
        if MARK in with_mark:
            found.append(f"{process.pid}: {with_mark[:120]}")
    return found


def _attacks(root: Path, gradebook: Path) -> dict[str, str]:
    """Student name -> the attack cell (run right after the notebook's setup cell)."""
    feedback, state, subs = gradebook.with_name("toy_feedback"), gradebook.with_name("toy_runs"), root / "submissions"
    targets = [gradebook, feedback / "alice.md", state / "records" / "alice.json", state / "results" / "alice.json",
               state / "executed" / "alice.ipynb", state / "solution" / "solution.json", subs / "alice.ipynb",
               state / "solution" / "work" / "runs.txt"]
    kit = Path(fer_kit.__file__).parent
    snoop = [subs / "alice.ipynb", subs / "bob", state / "solution" / "solution.json", state / "results" / "alice.json",
             state / "records" / "alice.json", feedback / "alice.md", gradebook, FIXTURES / "toy.ipynb",
             Path(CHECKS), kit / "notebooks" / "02_wrinkle_regions.ipynb", kit / "grading" / "assignments",
             Path.home(), Path("/etc/shadow")]
    canary = f"/tmp/{MARK}-canary.txt"
    return {
        # overwrite classmates' feedback, record, results, executed notebook, hand-in and the gradebook
        "overwriter": (
            f"from pathlib import Path\nwritten = []\n"
            f"for target in {[str(t) for t in targets]!r}:\n"
            f"    try:\n        Path(target).parent.mkdir(parents=True, exist_ok=True)\n"
            f"        Path(target).write_text('pwned {MARK}')\n        written.append(target)\n"
            f"    except OSError:\n        pass\n"
            f"record(output_dir, overwritten=written)"
        ),
        # processes meant to outlive the run and rewrite the gradebook afterwards
        "daemon": (
            f"import os, subprocess\n"
            f"payload = 'sleep 30; echo pwned,{MARK} >> {gradebook}; echo pwned > {feedback / 'alice.md'}'\n"
            f"subprocess.Popen(['sh', '-c', payload, '{MARK}-popen'], start_new_session=True)\n"
            f"if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
            f"        os.execvp('sh', ['sh', '-c', payload, '{MARK}-doublefork'])\n    os._exit(0)\n"
            f"record(output_dir, daemon_started=True)"
        ),
        # read classmates' hand-ins and results, the solution's recorded answers, instructor notebooks
        "snoop": (
            f"import json, os\nfrom pathlib import Path\nseen = {{}}\n"
            f"for path in {[str(p) for p in snoop]!r}:\n"
            f"    try:\n        p = Path(path)\n"
            f"        seen[path] = sorted(os.listdir(p)) if p.is_dir() else p.read_text()[:2000]\n"
            f"    except OSError:\n        pass\n"
            f"copied = {{}}\n"
            f"for text in seen.values():\n"
            f"    try:\n        data = json.loads(text) if isinstance(text, str) else {{}}\n"
            f"    except ValueError:\n        continue\n"
            f"    if isinstance(data, dict):\n"
            f"        copied.update({{k: v for k, v in data.get('results', data).items() "
            f"if str(k).startswith('exercise_')}})\n"
            f"record(output_dir, snooped=seen, **copied)"
        ),
        # the grader's environment and HOME into the output, the error (feedback) and an answer
        "leaker": (
            "import json, os\nfrom pathlib import Path\n"
            "procs = {}\n"
            "for pid in os.listdir('/proc'):\n"
            "    if pid.isdigit():\n"
            "        for name in ('environ', 'cmdline'):\n"
            "            try:\n                procs[pid + name] = open(f'/proc/{pid}/{name}', 'rb').read().decode()\n"
            "            except OSError:\n                pass\n"
            "dump = json.dumps({'env': dict(os.environ), 'home': str(Path.home()), 'expand': os.path.expanduser('~'),"
            " 'procs': procs})\n"
            "print(dump)\n"
            "record(output_dir, exercise_1_squares=dump)\n"
            "raise RuntimeError(dump)"
        ),
        # climb out of the working folder and delete what it finds there
        "vandal": (
            f"import os, shutil\nos.chdir('../..')\ngone = []\n"
            f"for name in ['{MARK}-canary.txt', 'tmp/{MARK}-canary.txt', '{canary}', '{subs / 'alice.ipynb'}',"
            f" '{gradebook}']:\n"
            f"    try:\n        os.remove(name)\n        gone.append(name)\n    except OSError:\n        pass\n"
            f"for folder in ['{subs}', '{state}', '{feedback}']:\n    shutil.rmtree(folder, ignore_errors=True)\n"
            f"record(output_dir, removed=gone)"
        ),
        # 50 MB into the notebook's output and 50 MB straight into the run log
        "printer": (
            "import os, sys\nline = 'x' * 999_999\nfor _ in range(50):\n    print(line)\n"
            "fd = getattr(sys.stderr, '_original_stdstream_copy', 2)\n"
            "for _ in range(50):\n    os.write(fd, b'y' * 1_000_000)\n"
            "record(output_dir, printed=True)"
        ),
        # a 50 MB results.json (with the right first answer in it)
        "bigresults": (
            "import json\n(output_dir / 'results.json').write_text(json.dumps("
            "{'exercise_1_squares': [0, 1, 4, 9, 16, 25], 'pad': [0] * 17_000_000}))"
        ),
        # write into the installed kit, its checks, site-packages and the assignment's checks module
        "kitwriter": (
            f"import fer_kit, site\nfrom pathlib import Path\nkit = Path(fer_kit.__file__).parent\nhits = []\n"
            f"for target, text in [(fer_kit.__file__, '\\nprint(\"{MARK}\")\\n'),"
            f" (kit / 'grading' / 'checks.py', '\\n# {MARK}\\n'), (kit / '{MARK}.py', 'x = 1'),"
            f" (Path(site.getsitepackages()[0]) / '{MARK}.pth', 'import os'),"
            f" ('{CHECKS}', '\\n# {MARK}\\n')]:\n"
            f"    try:\n        with open(target, 'a') as handle:\n            handle.write(text)\n"
            f"        hits.append(str(target))\n    except OSError:\n        pass\n"
            f"record(output_dir, kit_writes=hits)"
        ),
        # more memory than the limit
        "hog": "hog = bytearray(6 * 1024**3)",
    }


def _grade(subs: Path, gradebook: Path, home: Path, *extra: str) -> tuple[dict, str, int]:
    """Run ``fer-kit grade`` in a child process; (JSON summary, stderr, peak RSS of the grader in bytes)."""
    env = dict(os.environ, FER_KIT_TEST_SECRET=SECRET, HOME=str(home), TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, "-m", "fer_kit.cli", "grade", str(subs), "--assignment", str(subs.parent / "checks.py"),
               "--out", str(gradebook), "--timeout", "60", "--workers", "2", "--memory-limit", "2", "--json", *extra]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    peak = [0]

    def watch() -> None:
        try:
            watched = psutil.Process(process.pid)
            while process.poll() is None:
                peak[0] = max(peak[0], watched.memory_info().rss)
                time.sleep(0.05)
        except psutil.Error:
            pass

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out, err = process.communicate(timeout=900)
    watcher.join()
    assert process.returncode == 0, err.decode()[-3000:]
    return json.loads(out), err.decode(), peak[0]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """Grade two honest students, then the whole hostile class; what each step left."""
    root = tmp_path_factory.mktemp("hostile")
    home = root / f"grader-home-{MARK}"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text(f"PRIVATE {SECRET}")
    checks = root / "checks.py"  # the toy checks with a solution run (the solution is the fixture notebook)
    checks.write_text((FIXTURES / "toy_checks.py").read_text().replace(
        'title="Toy assignment",', f'title="Toy assignment", solution_run=True, solution={str(FIXTURES / "toy.ipynb")!r},'))
    subs = root / "submissions"
    subs.mkdir()
    nbformat.write(_toy(), subs / "alice.ipynb")
    (subs / "bob").mkdir()
    nbformat.write(_toy(), subs / "bob" / "toy.ipynb")
    (subs / "bob" / "notes.txt").write_text("bob's own notes")
    gradebook = root / "grades" / "toy.csv"
    canary = Path(f"/tmp/{MARK}-canary.txt")
    canary.write_text("keep me")
    kit = Path(fer_kit.__file__).parent
    kit_before = {p: p.read_bytes() for p in (kit / "__init__.py", kit / "grading" / "checks.py")}

    first, first_err, first_peak = _grade(subs, gradebook, home)
    outputs = gradebook.parent
    honest = {**{f"grades/{k}": v for k, v in _hashes(outputs).items()}, **_hashes(subs)}
    # tamper with the solution's snapshot: the next run must notice and run the solution again
    snapshot = outputs / "toy_runs" / "solution" / "work" / "runs.txt"
    snapshot.chmod(0o644)
    snapshot.write_text("run\ntampered\n")

    stub = _stub(root)
    for name, attack in _attacks(root, gradebook).items():
        nbformat.write(_with_cell(nbformat.from_dict(json.loads(json.dumps(stub))), attack), subs / f"{name}.ipynb")
    subs_before = _hashes(subs)
    second, second_err, second_peak = _grade(subs, gradebook, home)
    left = _marked_processes()
    yield dataclasses.make_dataclass("Hostile", ["root", "subs", "gradebook", "first", "second", "first_peak",
                                                 "second_peak", "honest", "subs_before", "left", "canary",
                                                 "kit_before", "second_err", "first_err", "home"])(
        root, subs, gradebook, first, second, first_peak, second_peak, honest, subs_before, left, canary,
        kit_before, second_err, first_err, home)
    canary.unlink(missing_ok=True)
    for path, before in kit_before.items():  # in case the sandbox failed: put the kit back ...
        if path.read_bytes() != before:
            path.write_bytes(before)
    for process in psutil.process_iter(["cmdline"]):  # ... and leave nothing running
        if MARK in " ".join(process.info.get("cmdline") or []):
            with contextlib.suppress(psutil.Error):
                process.kill()


def _texts(hostile) -> dict[str, str]:
    """Every file the grader wrote (gradebook, feedback, records, results, logs, executed notebooks)."""
    folder = hostile.gradebook.parent
    return {str(p.relative_to(folder)): p.read_text(errors="replace") for p in folder.rglob("*")
            if p.is_file() and p.stat().st_size < 64 * 1024**2}


@needs_bwrap
def test_honest_students_get_full_marks_and_keep_their_files(hostile):
    """Alice and bob: full marks, then not one byte of their files changes while the attackers are graded."""
    assert hostile.first["scores"] == {"alice": [10, 10, "ok"], "bob": [10, 10, "ok"]}
    rows = _rows(hostile.gradebook)
    assert [rows[s]["score"] for s in ("alice", "bob")] == ["10", "10"]
    assert hostile.second["reused"] == 2 and hostile.second["graded"] == 9
    for name, digest in hostile.honest.items():
        if name.startswith("grades/") and any(s in name for s in ("alice", "bob")):
            assert _hashes(hostile.gradebook.parent).get(name[len("grades/"):]) == digest, name
    # the tampered snapshot was noticed and the solution ran again (deterministic: same work, records kept)
    assert "changed since its run" in hostile.second_err
    assert (hostile.gradebook.parent / "toy_runs" / "solution" / "work" / "runs.txt").read_text() == "run\n"


@needs_bwrap
def test_no_attacker_raises_its_score(hostile):
    rows = _rows(hostile.gradebook)
    attackers = [name for name in rows if name not in ("alice", "bob")]
    assert len(attackers) == 9
    for name in attackers:
        assert rows[name]["score"] == "0", (name, rows[name])
    assert rows["alice"]["score"] == rows["bob"]["score"] == "10"
    assert rows["hog"]["status"] == "error" and "MemoryError" in rows["hog"]["note"]
    records = hostile.gradebook.parent / "toy_runs" / "records"
    assert json.loads((records / "hog.json").read_text())["depends_on_limits"] is True


@needs_bwrap
def test_classmates_files_the_gradebook_and_the_hand_ins_are_out_of_reach(hostile):
    state = hostile.gradebook.parent / "toy_runs"
    results = {name: json.loads((state / "results" / f"{name}.json").read_text())
               for name in ("overwriter", "vandal", "snoop", "kitwriter")}
    # what it "overwrote" were copies in its own private /tmp (the class lies under /tmp here): gone with it
    assert all(path.startswith("/tmp/") for path in results["overwriter"]["overwritten"])
    assert results["vandal"]["removed"] == []
    assert results["kitwriter"]["kit_writes"] == []
    # empty where it could open anything at all; a folder above an exposed Python install (pyenv under HOME)
    # shows only the path to it, which bwrap had to create
    mounts = [Path(p) for p in (sys.prefix, sys.base_prefix)]
    for path, seen in results["snoop"]["snooped"].items():
        shown = [entry for entry in seen if not any(Path(path, entry) in [m, *m.parents] for m in mounts)]
        assert not shown, (path, seen)
    assert hostile.canary.read_text() == "keep me"
    assert _hashes(hostile.subs) == hostile.subs_before  # nobody touched the hand-ins
    attackers = set(_rows(hostile.gradebook)) - {"alice", "bob"}
    for name, text in _texts(hostile).items():  # the attackers' own files hold their source, with the payload
        if not any(attacker in name for attacker in attackers):
            assert f"pwned {MARK}" not in text, name
    assert all("pwned" not in line for line in hostile.gradebook.read_text().splitlines())


@needs_bwrap
def test_background_processes_die_with_the_sandbox(hostile):
    """Popen(start_new_session=True) and a double fork: none is left, and the gradebook stays the grader's."""
    assert hostile.left == []
    assert json.loads((hostile.gradebook.parent / "toy_runs" / "results" / "daemon.json").read_text())[
        "daemon_started"] is True
    assert f"pwned,{MARK}" not in hostile.gradebook.read_text()


@needs_bwrap
def test_the_graders_environment_and_home_do_not_leak(hostile):
    texts = _texts(hostile)
    assert any("/sandbox/home" in text for name, text in texts.items() if "leaker" in name)  # it did print HOME
    # values that are also the kit's or Python's own paths show up in any traceback: not a leak
    own = [str(Path(fer_kit.__file__).resolve().parent), sys.prefix, sys.base_prefix, sys.executable]
    grader_values = {value for key, value in os.environ.items() if len(value) >= 12 and key != "PATH"
                     and not any(path.startswith(value) or value.startswith(path) for path in own)}
    for name, text in texts.items():
        assert SECRET not in text, name
        assert str(hostile.home) not in text, name
        leaked = [value for value in grader_values if value in text]
        assert leaked == [], (name, leaked[:3])
    feedback = (hostile.gradebook.parent / "toy_feedback" / "leaker.md").read_text()
    assert "RuntimeError" in feedback and "/sandbox/home" in feedback


@needs_bwrap
def test_the_kit_and_its_checks_stay_as_they_were(hostile):
    for path, before in hostile.kit_before.items():
        assert path.read_bytes() == before, path
    kit = Path(fer_kit.__file__).parent
    assert not list(kit.rglob(f"*{MARK}*"))
    assert not list(Path(site.getsitepackages()[0]).glob(f"*{MARK}*"))
    assert MARK not in Path(CHECKS).read_text()


@needs_bwrap
def test_floods_are_cut_and_big_results_refused(hostile):
    """50 MB of prints and a 50 MB results.json: kept small, refused unread, the grader's memory bounded."""
    state = hostile.gradebook.parent / "toy_runs"
    rows = _rows(hostile.gradebook)
    assert "results.json is" in rows["bigresults"]["note"] and "over the 1 MB limit: not read" in rows["bigresults"][
        "note"]
    assert rows["bigresults"]["ex1_squares"] == "0"  # its right answer sat in the refused file
    assert "output was dropped" in rows["printer"]["note"] and "run log was cut" in rows["printer"]["note"]
    assert (state / "logs" / "printer.log").stat().st_size < 400 * 1024
    assert (state / "executed" / "printer.ipynb").stat().st_size < 2 * 1024**2
    assert (hostile.gradebook.parent / "toy_feedback" / "printer.md").stat().st_size < 20 * 1024
    assert hostile.second_peak < hostile.first_peak + 300 * 1024**2, (hostile.first_peak, hostile.second_peak)


@needs_bwrap
def test_a_longer_time_limit_regrades_a_timeout(tmp_path, capsys):
    """Timed out at --timeout 10, graded again (and ok) at 60; the student who finished is kept."""
    subs = tmp_path / "submissions"
    subs.mkdir()
    nbformat.write(_toy(), subs / "alice.ipynb")
    nbformat.write(_with_cell(_toy(), "import time\ntime.sleep(25)"), subs / "slow.ipynb")
    book = tmp_path / "grades.csv"

    def grade(timeout: str) -> dict:
        assert main(["grade", str(subs), "--assignment", CHECKS, "--out", str(book), "--timeout", timeout,
                     "--workers", "2", "--json"]) == 0
        return json.loads(capsys.readouterr().out)

    first = grade("10")
    assert first["scores"]["slow"][2] == "timeout" and first["scores"]["alice"] == [10, 10, "ok"]
    again = grade("10")
    assert again["graded"] == 0 and again["reused"] == 2  # same settings: nothing runs
    longer = grade("60")
    assert longer["graded"] == 1 and longer["reused"] == 1
    assert longer["scores"]["slow"] == [10, 10, "ok"] and longer["scores"]["alice"] == [10, 10, "ok"]


# --- without a sandbox ----------------------------------------------------------------------------


def test_missing_bubblewrap_is_refused_in_one_line(tmp_path, capsys, monkeypatch):
    subs = tmp_path / "submissions"
    subs.mkdir()
    nbformat.write(_toy(), subs / "alice.ipynb")
    monkeypatch.setattr(sandbox_module, "bubblewrap_problem", lambda: "bubblewrap (bwrap) is not installed")
    code = main(["grade", str(subs), "--assignment", CHECKS, "--out", str(tmp_path / "g.csv")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "bwrap" in err[0] and "apt-get install bubblewrap" in err[0] and "--no-sandbox" in err[0]
    assert not (tmp_path / "g.csv").exists()


def test_no_sandbox_grades_and_says_what_it_gives_up(tmp_path, capsys, monkeypatch):
    subs = tmp_path / "submissions"
    subs.mkdir()
    nbformat.write(_toy(), subs / "alice.ipynb")
    monkeypatch.setattr(sandbox_module, "bubblewrap_problem", lambda: "bubblewrap (bwrap) is not installed")
    book = tmp_path / "g.csv"
    assert main(["grade", str(subs), "--assignment", CHECKS, "--out", str(book), "--no-sandbox", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["scores"]["alice"] == [10, 10, "ok"]
    assert "--no-sandbox" in captured.err and "without isolation" in captured.err and "network" in captured.err
    record = json.loads((tmp_path / "g_runs" / "records" / "alice.json").read_text())
    assert record["limits"]["sandbox"] is False


# --- the parts, without notebooks -----------------------------------------------------------------


def _record(**changes) -> GradeRecord:
    base = GradeRecord("s", "toy", "ok", 10, 10, sha256="abc", grader="g1",
                       limits={"timeout": 60.0, "memory": 8, "sandbox": True})
    return dataclasses.replace(base, **changes)


def test_reuse_rules():
    same = {"timeout": 60.0, "memory": 8, "sandbox": True}
    assert reusable(_record(), "abc", "g1", same)
    assert not reusable(_record(), "abd", "g1", same)  # another hand-in
    assert not reusable(_record(), "abc", "g2", same)  # other checks, grading code, kit or solution work
    assert not reusable(_record(grader=""), "abc", "", same)  # the grader failed on it
    longer = {**same, "timeout": 600.0}
    assert reusable(_record(), "abc", "g1", longer)  # a clean run stays clean with more time
    assert not reusable(_record(), "abc", "g1", {**same, "timeout": 10.0})  # less time: run again
    assert not reusable(_record(status="timeout", depends_on_limits=True), "abc", "g1", longer)
    assert reusable(_record(status="timeout", depends_on_limits=True), "abc", "g1", same)
    assert not reusable(_record(), "abc", "g1", {**same, "sandbox": False})


def test_untrusted_files_are_read_without_links_and_with_limits(tmp_path):
    box = tmp_path / "box"
    (box / "output").mkdir(parents=True)
    secret = tmp_path / "secret.json"
    secret.write_text('{"exercise_1_squares": [0, 1, 4, 9, 16, 25]}')
    (box / "output" / "results.json").symlink_to(secret)
    data, problem = load_results(box / "output")
    assert data == {} and "links are not followed" in problem
    (box / "output" / "results.json").unlink()
    os.rmdir(box / "output")
    (box / "output").symlink_to(tmp_path)  # a linked folder: not followed either
    assert read_untrusted(box, "output/secret.json", 1024) == (None, "")
    (box / "output").unlink()
    (box / "output").mkdir()
    os.mkfifo(box / "output" / "results.json")  # would block a plain open()
    assert "not a regular file" in load_results(box / "output")[1]
    (box / "output" / "results.json").unlink()
    (box / "output" / "results.json").write_text(json.dumps({"pad": "x" * 2_000_000}))
    data, problem = load_results(box / "output")
    assert data == {} and "over the 1 MB limit: not read" in problem


def test_a_changed_solution_snapshot_is_not_copied(tmp_path):
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    (work / "data" / "x.txt").write_text("solution data")
    from fer_kit.grading.submissions import copy_tree

    reference = Reference({}, work, copy_tree(work, None).digest)
    reference.copy_to(tmp_path / "copy1")
    assert (tmp_path / "copy1" / "data" / "x.txt").read_text() == "solution data"
    (work / "data" / "x.txt").write_text("changed")
    with pytest.raises(FerKitError, match="changed since the solution run"):
        reference.copy_to(tmp_path / "copy2")
    assert not (tmp_path / "copy2").exists()


def test_intake_copies_without_links_and_read_only(tmp_path):
    from fer_kit.grading.submissions import find_submissions, intake

    subs = tmp_path / "subs"
    (subs / "bob").mkdir(parents=True)
    nbformat.write(_toy(), subs / "bob" / "toy.ipynb")
    (subs / "bob" / "stolen").symlink_to(tmp_path / "private")
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "key").write_text("secret")
    (subs / "eve.ipynb").symlink_to(FIXTURES / "toy.ipynb")  # a link to the solution
    assignment = get_assignment(CHECKS)
    found = {s.student: s for s in find_submissions(subs, assignment)}
    assert found["eve"].notebook is None and "link" in found["eve"].problem
    copy = intake(found["bob"], tmp_path / "intake" / "bob", assignment)
    assert copy.original == subs / "bob" and copy.notebook.is_file()
    assert not (copy.path / "stolen").exists() and not (copy.path / "stolen").is_symlink()
    assert copy.sha256 and copy.sha256 == intake(found["bob"], tmp_path / "intake" / "bob2", assignment).sha256
    assert oct(copy.notebook.stat().st_mode & 0o777) == "0o444"


def test_require_bubblewrap_names_the_fix(monkeypatch):
    monkeypatch.setattr(sandbox_module, "bubblewrap_problem", lambda: "bubblewrap (bwrap) is not installed")
    with pytest.raises(SandboxError, match="apt-get install bubblewrap"):
        sandbox_module.require_bubblewrap()
