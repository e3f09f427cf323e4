"""Run one notebook headless inside a bubblewrap sandbox, with limits, and read back what it left as untrusted data.

Every run gets a fresh folder ``sandbox`` on the grader's side::

    sandbox/box/            the only folder the notebook can write; mounted at /sandbox inside
        work/               its working directory: the student's files and <name>.graded.ipynb
        output/             output_dir (results.json, figures)
        course-work/        work_dir: a private copy of the solution run's work folder (filled by the caller)
        home/  tmp/         HOME and TMPDIR
        hidden/             the hidden tests' cases.json (grader-made) and answers.json (the probe's)
        job.json  status.json  executed.ipynb
    sandbox/out/            the grader's own: what it copied out of box/ after the run (never mounted)
    sandbox/empty           an empty file, bound over the files to hide

:func:`bwrap_command` builds the ``bwrap`` command line. The sandbox root is an empty tmpfs
(remounted read-only) into which only what the run needs is bound read-only: the system
(``/usr`` and the ``/bin``, ``/lib``... links, ``/etc`` less its files that are not world-readable,
``/opt``), the Python installations (``sys.prefix``, ``sys.base_prefix``, the site-packages
folders) and the kit's package folder. Inside those, the caller's ``hide`` paths (submissions,
gradebook, feedback, records, the solution notebook, the checks module, the kit's instructor
notebooks and checks) are covered by an empty tmpfs or an empty file. ``/tmp`` and
``/dev/shm`` are small private tmpfs mounts, ``/proc`` belongs to the sandbox's own PID
namespace, there is no network (``--unshare-all``: user, PID, network, IPC, UTS and cgroup
namespaces), no capability (``--cap-drop ALL``; under a root grader the notebook is uid 65534
in a user namespace), a scrubbed environment (``--clearenv`` + :func:`sandbox_env`), and
``--die-with-parent``: when the run's first process ends, is killed, or the grader dies, every
process the notebook started (background, double-forked, new session) dies with the namespace.

Limits (:class:`Limits`): rlimits set on ``bwrap`` before it starts (a tiny Python wrapper,
:data:`_RLIMITS`) and inherited by every process: ``RLIMIT_DATA`` (memory) and ``RLIMIT_AS``
(twice that), ``RLIMIT_CPU`` (a backstop behind the wall-clock limit), ``RLIMIT_FSIZE`` (largest
file), ``RLIMIT_NOFILE``, ``RLIMIT_CORE`` = 0; the private folder's growth (bytes and entries,
polled every 2 s: over it the run is stopped); the tmpfs sizes; the run log keeps its first
32 KB and last 256 KB; ``results.json`` over 1 MB and an executed notebook over 16 MB are not
read. Files are copied out of ``box/`` without following any link (:func:`read_untrusted`).

The wall-clock limit: papermill runs in a child process (:mod:`fer_kit.grading.execute`), which
interrupts the cell running at the limit, skips the rest and still runs the grader's hidden-tests
cell (:mod:`fer_kit.grading.probe`, with its own time budget; its cases in ``box/hidden/cases.json``,
its answers in ``box/hidden/answers.json``, read back like ``results.json``, up to 4 MB). Should the
run outlive both by :data:`HARD_GRACE` s (a kernel that ignores the interrupt), the executed copy as
papermill last saved it is kept (it marks the running cell), the kernels are made to print their
Python stacks into the run log (``SIGABRT`` + ``PYTHONFAULTHANDLER``), then the whole process tree
is killed.

``Isolation(sandbox=False)`` (``fer-kit grade --no-sandbox``) runs the same job without bwrap:
same scrubbed environment, limits and untrusted reading, but as the grader's user with its
files, network and process table (:data:`NO_SANDBOX_WARNING`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fer_kit import cpu_environment
from fer_kit.course.cells import cell_tags
from fer_kit.errors import FerKitError

from .submissions import copy_tree, grading_copy

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_RUNNING: set[subprocess.Popen] = set()
_RUNNING_LOCK = threading.Lock()

INSIDE = Path("/sandbox")
"""Where the run's private folder is mounted inside the sandbox."""

SANDBOX_UID = 65534
"""The notebook's uid (and gid) inside the sandbox when the grader runs as root ("nobody")."""

KiB, MiB, GiB = 1024, 1024**2, 1024**3

INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`; Fedora: `dnf install bubblewrap`), "
                "or pass --no-sandbox to grade notebooks you trust without it")

NO_SANDBOX_WARNING = (
    "--no-sandbox: notebooks run as {user} without isolation. They can read and overwrite everything {user} can "
    "(other students' submissions, records and feedback, the gradebook, the instructor's solution and its work "
    "folder, the installed kit and the checks), use the network, and leave processes running after grading ends. "
    "Still enforced: a private working folder, a scrubbed environment, the time, memory, CPU and file-size limits, "
    "size limits on what is read back. Grade only notebooks you trust this way."
)


class SandboxError(FerKitError):
    """The sandbox could not be set up (the grader's problem, not the submission's)."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one run (bytes unless said otherwise); see the module docstring for how each is enforced.

    ``memory`` is ``RLIMIT_DATA`` of every process (heap and other private writable memory);
    ``RLIMIT_AS`` (address space) is twice that, room for the big virtual reservations
    TensorFlow makes. The CPU-time limit is derived from the wall-clock limit
    (:meth:`cpu_seconds`) and only backs it up.
    """

    memory: int = 8 * GiB
    file_size: int = 2 * GiB
    disk: int = 4 * GiB
    files: int = 100_000
    open_files: int = 4096
    tmp: int = 256 * MiB
    shm: int = 64 * MiB
    results: int = 1 * MiB
    answers: int = 4 * MiB
    executed: int = 16 * MiB
    status: int = 64 * KiB
    log_head: int = 32 * KiB
    log_tail: int = 256 * KiB

    def cpu_seconds(self, timeout: float) -> int:
        """CPU seconds per process: more than the wall-clock limit lets all cores spend."""
        return int(math.ceil(timeout * (os.cpu_count() or 1) + 60))

    def rlimits(self, timeout: float) -> dict[str, int]:
        """The rlimits (name without ``RLIMIT_`` -> soft = hard value) set on the sandbox."""
        return {"DATA": self.memory, "AS": 2 * self.memory, "CPU": self.cpu_seconds(timeout),
                "FSIZE": self.file_size, "NOFILE": self.open_files, "CORE": 0}


@dataclass(frozen=True)
class Isolation:
    """How a run is isolated: ``sandbox`` (bubblewrap, or the plain child process of ``--no-sandbox``),
    ``hide`` (host paths the notebook must not see even where a read-only folder holds them) and
    ``read_only`` (extra host folders to show it read-only, e.g. a real dataset)."""

    sandbox: bool = True
    hide: tuple[Path, ...] = ()
    read_only: tuple[Path, ...] = ()


@dataclass
class RunOutcome:
    """What one run left behind, read back with limits. Paths point into the grader's ``sandbox/out/``."""

    timed_out: bool
    finished: bool
    error: str = ""
    results: dict = field(default_factory=dict)
    results_problem: str = ""
    errors: list[dict] = field(default_factory=list)
    running: dict | None = None
    executed: Path | None = None
    log: Path | None = None
    output_dir: Path | None = None
    problems: list[str] = field(default_factory=list)
    stopped: str = ""
    """Why the grader stopped the run early, other than the time limit (e.g. the disk quota)."""
    hidden_answers: Any = None
    """What the hidden tests' cell wrote (``answers.json``, parsed JSON, unchecked), None if nothing was read."""
    hidden_problem: str = ""
    """Why no hidden-test answers were read, if none were."""


# --------------------------------------------------------------------------------------------
# Is bubblewrap usable?
# --------------------------------------------------------------------------------------------


def _system_dirs() -> list[tuple[Path, str | None]]:
    """The system's top-level folders a run needs: (path, link target) for links such as ``/bin -> usr/bin``."""
    found: list[tuple[Path, str | None]] = []
    for name in ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "opt"):
        path = Path("/") / name
        if path.is_symlink():
            found.append((path, os.readlink(path)))
        elif path.is_dir():
            found.append((path, None))
    return found


def _system_binds() -> list[str]:
    """``bwrap`` arguments for the system folders: ``/usr``, ``/opt``, and the top-level links or folders."""
    args: list[str] = []
    for path, target in _system_dirs():
        args += ["--symlink", target, str(path)] if target is not None else ["--ro-bind", str(path), str(path)]
    return args


def _identity_args() -> list[str]:
    if os.geteuid() == 0:  # drop to "nobody" inside a user namespace (it maps back to root: see the README)
        return ["--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
    return []


@functools.lru_cache(maxsize=1)
def bubblewrap_problem() -> str:
    """Why bubblewrap cannot sandbox a run here ("" when it can): missing, or unable to create its namespaces."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed"
    true = shutil.which("true") or "/usr/bin/true"
    command = [bwrap, "--unshare-all", *_identity_args(), "--cap-drop", "ALL", "--die-with-parent", "--new-session",
               *_system_binds(), "--proc", "/proc", "--dev", "/dev", "--", true]
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap does not start ({error})"
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        return f"bwrap cannot create its namespaces here ({lines[0] if lines else f'exit code {done.returncode}'})"
    return ""


@functools.lru_cache(maxsize=1)
def _sized_tmpfs() -> bool:
    """Whether this bwrap takes ``--size`` and ``--perms`` before ``--tmpfs`` (newer versions); else they are left out."""
    bwrap, true = shutil.which("bwrap"), shutil.which("true") or "/usr/bin/true"
    if bwrap is None:
        return False
    command = [bwrap, "--unshare-all", *_identity_args(), "--cap-drop", "ALL", *_system_binds(), "--proc", "/proc",
               "--dev", "/dev", "--size", str(MiB), "--tmpfs", "/tmp", "--perms", "0555", "--tmpfs", "/sandbox",
               "--", true]
    try:
        return subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def require_bubblewrap() -> None:
    """Raise :class:`SandboxError` (one line: what is wrong and how to install it) unless bwrap works here."""
    problem = bubblewrap_problem()
    if problem:
        raise SandboxError(f"cannot sandbox the notebooks: {problem}; {INSTALL_HINT}")


# --------------------------------------------------------------------------------------------
# The bwrap command line
# --------------------------------------------------------------------------------------------


def _is_under(path: Path, roots: Iterable[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


@functools.lru_cache(maxsize=1)
def _private_etc() -> tuple[Path, ...]:
    """Entries of ``/etc`` that are not readable by everybody (``shadow``, ``ssl/private``, ...): hidden."""
    found: list[Path] = []
    for top, dirs, files in os.walk("/etc"):
        for name in list(dirs) + files:
            path = Path(top) / name
            try:
                mode = path.lstat().st_mode
            except OSError:
                continue
            if stat.S_ISLNK(mode):
                continue
            need = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) else 0)
            if mode & need != need:
                found.append(path)
                if name in dirs:
                    dirs.remove(name)
    return tuple(found)


def _kit_root() -> Path:
    import fer_kit

    return Path(fer_kit.__file__).resolve().parent


def exposed_paths(extra: Iterable[Path] = ()) -> list[Path]:
    """Host folders bound read-only into every sandbox, besides the system ones.

    The Python installations the grader runs (``sys.prefix``, ``sys.base_prefix``, the folder
    of the interpreter, the site-packages folders), the kit's own package folder (an editable
    install keeps it outside site-packages) and ``extra``. Nothing else on ``sys.path``: the
    kernel does not get the grader's ``PYTHONPATH`` (except the kit's, see :func:`sandbox_env`).
    """
    import site

    candidates = [sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix,
                  os.path.dirname(os.path.realpath(sys.executable)), _kit_root(), *site.getsitepackages(), *extra]
    paths: list[Path] = []
    for candidate in candidates:
        for path in (Path(os.path.abspath(candidate)), Path(os.path.realpath(candidate))):
            if path.exists() and path != Path("/") and path not in paths:
                paths.append(path)
    return paths


def sandbox_env(inside: Path) -> dict[str, str]:
    """The whole environment of a run (nothing else of the grader's is passed on).

    ``inside`` is the private folder as the run sees it: HOME and TMPDIR lie in it. The
    kernel-related variables are those of the course chain's ``_kernel_env``: this
    environment's kernel spec (``JUPYTER_PATH``), static widgets, quiet TensorFlow; ``MPLBACKEND``
    stays unset (the kernel's inline backend keeps figures in the executed copy).
    """
    bindir = os.path.dirname(os.path.abspath(sys.executable))
    env = {
        "PATH": os.pathsep.join(dict.fromkeys([bindir, "/usr/local/bin", "/usr/bin", "/bin"])),
        "HOME": str(inside / "home"), "TMPDIR": str(inside / "tmp"), "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1", "PYTHONDONTWRITEBYTECODE": "1",
        "FER_KIT_GRADING": "1", "FER_KIT_WIDGETS": "static", "TF_CPP_MIN_LOG_LEVEL": "2",
        **cpu_environment(),
    }
    own = Path(sys.prefix) / "share" / "jupyter"
    if (own / "kernels" / "python3").is_dir():
        env["JUPYTER_PATH"] = str(own)
    kit_parent = str(_kit_root().parent)
    grader_path = [os.path.realpath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if kit_parent in grader_path:  # the kit is found through PYTHONPATH, not installed: pass that entry only
        env["PYTHONPATH"] = kit_parent
    return env


def bwrap_command(box: Path, empty: Path, isolation: Isolation, limits: Limits, command: list[str],
                  info_fd: int | None = None) -> list[str]:
    """The ``bwrap`` arguments that run ``command`` with ``box`` as the only writable folder (at :data:`INSIDE`).

    Mounts are listed shallow to deep, so a deeper one wins: a hidden folder inside an exposed
    one is covered by an empty tmpfs, an exposed folder inside a hidden one is bound again.
    """
    bwrap = shutil.which("bwrap") or "bwrap"
    args = [bwrap, "--unshare-all", *_identity_args(), "--cap-drop", "ALL", "--die-with-parent", "--new-session",
            "--hostname", "fer-kit-sandbox", "--clearenv"]
    for key, value in sandbox_env(INSIDE).items():
        args += ["--setenv", key, value]
    args += _system_binds()
    exposed = [Path("/etc"), *exposed_paths(isolation.read_only)]
    system = [path for path, target in _system_dirs() if target is None]
    if Path("/sys/devices/system/cpu").is_dir():  # core counts for numpy and TensorFlow
        exposed.append(Path("/sys/devices/system/cpu"))
    hidden = [*_private_etc()]
    for path in isolation.hide:
        with contextlib.suppress(OSError):
            hidden.append(Path(os.path.realpath(path)))
            hidden.append(Path(os.path.abspath(path)))
    hidden = [p for p in dict.fromkeys(hidden) if p.exists() and _is_under(p, exposed + system) and p != Path("/")]
    exposed = list(dict.fromkeys(exposed))
    # a folder inside another exposed one needs no bind of its own, unless a hidden folder lies between
    exposed = [p for p in exposed if not _is_under(p, [q for q in exposed if q != p])
               or any(h in p.parents or h == p for h in hidden)]
    mounts: list[tuple[int, int, Path]] = [(len(p.parts), 0, p) for p in exposed]
    mounts += [(len(p.parts), 1, p) for p in hidden]
    sized = _sized_tmpfs()

    def tmpfs(path: str, size: int | None = None, perms: str | None = None) -> list[str]:
        options = [*(["--size", str(size)] if sized and size else []), *(["--perms", perms] if sized and perms else [])]
        return [*options, "--tmpfs", path]

    # the private /dev, /proc and /tmp first: a kit, venv or data folder that lives under /tmp (a CI clone)
    # is then bound on top of the private /tmp instead of being hidden by it
    args += ["--dev", "/dev", *tmpfs("/dev/shm", limits.shm), "--proc", "/proc", *tmpfs("/tmp", limits.tmp)]
    for _, kind, path in sorted(mounts, key=lambda m: (m[0], m[1], str(m[2]))):
        if kind == 0:
            args += ["--ro-bind", str(path), str(path)]
        elif path.is_dir():
            args += tmpfs(str(path), size=MiB, perms="0555")
        else:
            args += ["--ro-bind", str(empty), str(path)]
    args += ["--bind", str(box), str(INSIDE), "--chdir", str(INSIDE), "--remount-ro", "/"]
    if info_fd is not None:
        args += ["--info-fd", str(info_fd)]
    return [*args, "--", *command]


_RLIMITS = (
    "import os, resource, sys\n"
    "split = sys.argv.index('--')\n"
    "for item in sys.argv[1:split]:\n"
    "    name, value = item.split('=')\n"
    "    resource.setrlimit(getattr(resource, 'RLIMIT_' + name), (int(value), int(value)))\n"
    "os.execv(sys.argv[split + 1], sys.argv[split + 1:])\n"
)
"""Set the rlimits given as ``NAME=value`` then exec the rest of the command line (no preexec_fn: threads)."""


def with_rlimits(rlimits: Mapping[str, int], command: list[str]) -> list[str]:
    """``command`` started under ``rlimits`` (inherited by every process it starts)."""
    return [sys.executable, "-I", "-S", "-c", _RLIMITS, *(f"{k}={v}" for k, v in rlimits.items()), "--", *command]


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------


def kill_tree(process: subprocess.Popen) -> None:
    """Kill ``process`` and every descendant, then reap it."""
    import psutil

    try:
        parent = psutil.Process(process.pid)
        victims = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        victims = []
    for victim in victims:
        with contextlib.suppress(psutil.NoSuchProcess):
            victim.kill()
    psutil.wait_procs(victims, timeout=10)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


def dump_stacks(process: subprocess.Popen, wait: float = 3.0) -> None:
    """Make the kernels under ``process`` print their Python stacks to the run log (``SIGABRT`` +
    ``PYTHONFAULTHANDLER``), so the log shows where a stopped notebook was stuck."""
    import psutil

    try:
        kernels = [child for child in psutil.Process(process.pid).children(recursive=True)
                   if "ipykernel" in " ".join(child.cmdline())]
    except psutil.Error:
        return
    for kernel in kernels:
        with contextlib.suppress(psutil.Error):
            kernel.send_signal(signal.SIGABRT)
    psutil.wait_procs(kernels, timeout=wait)


def kill_running() -> None:
    """Kill every notebook run in progress (when grading is interrupted)."""
    with _RUNNING_LOCK:
        processes = list(_RUNNING)
    for process in processes:
        kill_tree(process)


class LogTail(threading.Thread):
    """Drain a pipe, keeping its first ``head`` and last ``tail`` bytes (the rest is counted, not kept).

    It reads the raw descriptor with ``select`` and a timeout, so :meth:`stop` ends it even while
    a leftover process (``--no-sandbox``) keeps the pipe open without writing.
    """

    def __init__(self, fd: int, head: int, tail: int) -> None:
        super().__init__(daemon=True)
        self.fd, self.head_limit, self.tail_limit = fd, head, tail
        self.head, self.tail = bytearray(), bytearray()
        self.total = 0
        self._stop_reading = threading.Event()

    def stop(self) -> None:
        """Stop reading at the next pause in the output."""
        self._stop_reading.set()

    def run(self) -> None:
        import select

        with contextlib.suppress(OSError, ValueError):
            while not self._stop_reading.is_set():
                ready, _, _ = select.select([self.fd], [], [], 0.2)
                if not ready:
                    continue
                chunk = os.read(self.fd, 64 * KiB)
                if not chunk:
                    break
                self.total += len(chunk)
                room = self.head_limit - len(self.head)
                if room > 0:
                    self.head += chunk[:room]
                    chunk = chunk[room:]
                self.tail += chunk
                if len(self.tail) > 2 * self.tail_limit:
                    del self.tail[: len(self.tail) - self.tail_limit]

    def text(self) -> bytes:
        """What was kept, with a line saying how much was dropped in between."""
        tail = bytes(self.tail[-self.tail_limit:])
        dropped = self.total - len(self.head) - len(tail)
        middle = f"\n[... {dropped} bytes of output dropped by the grader ...]\n".encode() if dropped > 0 else b""
        return bytes(self.head) + middle + tail


def _usage(root: Path, stop: int) -> tuple[int, int]:
    """(bytes on disk, entries) under ``root``, links not followed; counting stops past ``stop`` entries."""
    size = count = 0
    pending = [str(root)]
    while pending and count <= stop:
        with contextlib.suppress(OSError), os.scandir(pending.pop()) as entries:
            for entry in entries:
                count += 1
                with contextlib.suppress(OSError):
                    info = entry.stat(follow_symlinks=False)
                    size += info.st_blocks * 512
                    if stat.S_ISDIR(info.st_mode):
                        pending.append(entry.path)
    return size, count


# --------------------------------------------------------------------------------------------
# Reading what a run left: untrusted
# --------------------------------------------------------------------------------------------


def read_untrusted(root: Path, relative: str, limit: int) -> tuple[bytes | None, str]:
    """The bytes of ``root/relative`` if it is a regular file of at most ``limit`` bytes; else (None, why).

    No component below ``root`` may be a link (each is opened with ``O_NOFOLLOW``), and a FIFO
    or device is refused without blocking. ``(None, "")`` when the file is simply absent.
    """
    parts = Path(relative).parts
    flags = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(root, flags | os.O_DIRECTORY)
    except OSError:
        return None, ""
    try:
        for part in parts[:-1]:
            try:
                next_fd = os.open(part, flags | os.O_DIRECTORY, dir_fd=fd)
            except OSError:
                return None, ""
            os.close(fd)
            fd = next_fd
        try:
            file_fd = os.open(parts[-1], flags | os.O_NONBLOCK, dir_fd=fd)
        except FileNotFoundError:
            return None, ""
        except OSError as error:
            return None, f"{relative} cannot be read ({error.strerror or error}; links are not followed)"
        with os.fdopen(file_fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                return None, f"{relative} is not a regular file"
            if info.st_size > limit:
                return None, f"{relative} is {_size(info.st_size)}, over the {_size(limit)} limit: not read"
            data = handle.read(limit + 1)
            if len(data) > limit:
                return None, f"{relative} is over the {_size(limit)} limit: not read"
            return data, ""
    finally:
        os.close(fd)


def _size(count: int) -> str:
    for unit, scale in (("GB", GiB), ("MB", MiB), ("KB", KiB)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count} bytes"


def _json_budget_problem(data: bytes, what: str) -> str:
    """A reason not to parse ``data`` as JSON: too many containers or items for its size (grader memory)."""
    if data.count(b"{") + data.count(b"[") > 400_000 or data.count(b",") > 2_000_000:
        return f"{what} holds too many JSON values to read safely"
    return ""


def _first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip() and not line.strip().startswith("#"):
            return line.strip()[:80]
    return source.strip().splitlines()[0][:80] if source.strip() else ""


def read_executed(path: Path) -> tuple[list[dict], dict | None]:
    """Error outputs of an executed notebook and the cell still running when it was stopped (if any).

    Cells are numbered from 1 as in the submitted notebook (the cells papermill and the grader add are
    skipped). The running cell is the one papermill last marked running, or the one interrupted at the
    time limit. The texts are cut to a few KB (the notebook is the student's: anything may be in it),
    and at most 50 failing cells are listed.
    """
    import nbformat

    from .probe import PROBE_TAG

    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception:  # absent, or cut short when the run was killed while papermill saved it
        return [], None
    added = {"injected-parameters", "papermill-error-cell-tag", PROBE_TAG}
    try:
        cells = [cell for cell in nb.cells if not added & cell_tags(cell)]
    except Exception:
        return [], None
    errors, running = [], None
    for number, cell in enumerate(cells, start=1):
        with contextlib.suppress(Exception):
            if cell.cell_type != "code":
                continue
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error" and len(errors) < 50:
                    traceback = [_ANSI.sub("", str(line)[:4000]) for line in list(output.get("traceback", []))[-60:]]
                    errors.append({"cell": number, "ename": str(output.get("ename", ""))[:200],
                                   "evalue": str(output.get("evalue", ""))[:2000],
                                   "line": _first_line(str(cell.source)), "traceback": "\n".join(traceback)[-3000:]})
            metadata = cell.get("metadata", {})
            interrupted = (metadata.get("fer_kit_grader") or {}).get("stopped")
            if (metadata.get("papermill", {}).get("status") == "running" or interrupted) and running is None:
                running = {"cell": number, "line": _first_line(str(cell.source))}
    return errors, running


def load_results(output_dir: Path, limit: int = Limits.results) -> tuple[dict, str]:
    """The recorded ``results.json`` (``{}`` if none) and a problem description if it is refused or unreadable.

    A file over ``limit`` bytes, a link, or anything but a regular file is refused before it is read.
    """
    raw, problem = read_untrusted(output_dir, "results.json", limit)
    if raw is None:
        return {}, problem
    problem = _json_budget_problem(raw, "results.json")
    if problem:
        return {}, problem
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as error:
        return {}, f"results.json is unreadable ({str(error)[:200]})"
    if not isinstance(data, dict):
        return {}, "results.json does not hold a JSON object"
    return data, ""


def _copy_out(box: Path, relative: str, target: Path, limit: int) -> tuple[bool, str]:
    raw, problem = read_untrusted(box, relative, limit)
    if raw is None:
        return False, problem
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(raw)
    return True, ""


def _read_status(box: Path, limit: int) -> dict | None:
    raw, _ = read_untrusted(box, "status.json", limit)
    if raw is None:
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    dropped = data.get("dropped_output")
    return {"finished": data.get("finished") is True, "error": str(data.get("error", ""))[:500],
            "dropped_output": dropped if isinstance(dropped, int) and dropped > 0 else 0,
            "stopped_at_limit": data.get("stopped_at_limit") is True}


# --------------------------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------------------------


def _matplotlib_cache(home: Path) -> None:
    """Copy the grader's matplotlib font list into the run's HOME (it would take seconds to rebuild)."""
    source = Path(os.environ.get("MPLCONFIGDIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                  / "matplotlib")
    with contextlib.suppress(OSError):
        for path in source.glob("fontlist-*.json"):
            if path.is_file() and not path.is_symlink() and path.stat().st_size < 4 * MiB:
                target = home / ".cache" / "matplotlib" / path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)


KERNEL_CONFIG = """\
# Written by the fer-kit grader: a stopped kernel prints its Python stacks to the run log.
# ipykernel sends file descriptor 2 to the notebook; faulthandler must write to the real stderr it saved.
c.IPKernelApp.exec_lines = [
    "import faulthandler as _fh, os as _os, sys as _sys\\n"
    "_fd = getattr(_sys.stderr, '_original_stdstream_copy', None)\\n"
    "_fh.enable(file=_os.fdopen(_os.dup(_fd), 'w') if _fd is not None else _sys.__stderr__, all_threads=True)\\n"
    "del _fh, _os, _sys, _fd"
]
"""


def _kernel_config(home: Path) -> None:
    """The kernel's IPython profile in the run's HOME (:data:`KERNEL_CONFIG`)."""
    profile = home / ".ipython" / "profile_default"
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "ipython_kernel_config.py").write_text(KERNEL_CONFIG, encoding="utf-8")


def _launch(command: list[str], env: dict[str, str] | None, cwd: Path, pass_fds: tuple[int, ...]) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True, pass_fds=pass_fds)


def _supervise(process: subprocess.Popen, timeout: float, box: Path, out: Path, limits: Limits,
               probe_by: float | None = None) -> tuple[bool, str]:
    """Wait for the run; (timed out, why it was stopped otherwise) after killing everything it left.

    ``timeout`` is the whole run's limit; with ``probe_by`` the run is also stopped that many seconds
    in if the hidden tests have not started by then (no ``hidden/answers.json``: a kernel that ignored
    the interrupt at the notebook's time limit gets no longer for the hidden tests' budget).
    """
    started = time.monotonic()
    deadline = started + timeout
    base_size, base_count = _usage(box, 10**9)
    timed_out, stopped = False, ""
    try:
        while True:
            left = deadline - time.monotonic()
            stalled = probe_by is not None and time.monotonic() - started > probe_by and not (
                box / "hidden" / "answers.json").exists()
            if left <= 0 or stalled:
                timed_out = True
                # as papermill last saved it: the cell running at the limit is marked
                _copy_out(box, "executed.ipynb", out / "at-time-limit.ipynb", limits.executed)
                dump_stacks(process)
                break
            try:
                process.wait(timeout=min(2.0, left))
                break
            except subprocess.TimeoutExpired:
                pass
            size, count = _usage(box, base_count + limits.files)
            if size > base_size + limits.disk or count > base_count + limits.files:
                stopped = (f"stopped by the grader: it wrote more than {_size(limits.disk)} or "
                           f"{limits.files} files into its folder")
                break
    finally:
        kill_tree(process)  # after a normal end this only reaps what is left
    return timed_out, stopped


HARD_GRACE = 15.0
"""Seconds past the notebook's time limit and the hidden tests' budget before the grader kills the run
(the interrupt at the time limit normally ends a cell well before)."""


def _prepare_box(sandbox: Path, nb: Mapping[str, Any], name: str, folder: Path | None,
                 fill_work: Callable[[Path], Any] | None, inside: Path, hidden: Mapping[str, Any] | None) -> Path:
    """Make ``sandbox/box`` (module docstring), the graded copy of ``nb`` and, with ``hidden``, the hidden
    tests' cases (``hidden/cases.json``) and the cell that answers them, appended last."""
    from .probe import PROBE_TAG, probe_source

    box = sandbox / "box"
    box.mkdir(parents=True)
    work = box / "work"
    if folder is not None:
        copy_tree(folder, work, links="skip", writable=True)
    else:
        work.mkdir()
    for sub in ("output", "home", "tmp", "hidden"):
        (box / sub).mkdir()
    if fill_work is not None:
        fill_work(box / "course-work")
    else:
        (box / "course-work").mkdir()
    _matplotlib_cache(box / "home")
    _kernel_config(box / "home")
    graded = grading_copy(nb)
    if hidden is not None:
        (box / "hidden" / "cases.json").write_text(json.dumps(hidden), encoding="utf-8")
        source = probe_source(inside / "hidden" / "cases.json", inside / "hidden" / "answers.json")
        graded.setdefault("cells", []).append({"cell_type": "code", "execution_count": None, "outputs": [],
                                               "metadata": {"tags": [PROBE_TAG]}, "source": source})
    (work / f"{name}.graded.ipynb").write_text(json.dumps(graded), encoding="utf-8")
    return box


def _start(sandbox: Path, box: Path, isolation: Isolation, limits: Limits, execute: list[str],
           seconds: float) -> tuple[subprocess.Popen, int | None]:
    """Launch ``execute`` (in bwrap, or plainly with ``--no-sandbox``) under the rlimits; (process, info fd)."""
    info_read, info_write = os.pipe() if isolation.sandbox else (None, None)
    args_fd = None
    try:
        if isolation.sandbox:
            full = bwrap_command(box, sandbox / "empty", isolation, limits, execute, info_fd=info_write)
            # the options go through a file (--args): bwrap's own processes, PID 1 inside included, show
            # only "bwrap --args N" in /proc/*/cmdline, not the mounts and so the hidden paths
            split = full.index("--")
            (sandbox / "bwrap-args").write_bytes(b"".join(arg.encode() + b"\0" for arg in full[1:split]))
            args_fd = os.open(sandbox / "bwrap-args", os.O_RDONLY)
            command = [full[0], "--args", str(args_fd), *full[split:]]
            # and they keep the environment they started with (/proc/1/environ): none of the grader's
            env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        else:
            command, env = execute, sandbox_env(box)
        fds = tuple(fd for fd in (info_write, args_fd) if fd is not None)
        process = _launch(with_rlimits(limits.rlimits(seconds), command), env, box, fds)
    except BaseException:
        if info_read is not None:
            os.close(info_read)
        raise
    finally:
        for fd in (info_write, args_fd):
            if fd is not None:
                os.close(fd)
    return process, info_read


def _wait(process: subprocess.Popen, info_read: int | None, seconds: float, box: Path, out: Path,
          limits: Limits, probe_by: float | None = None) -> tuple[bool, str, LogTail]:
    """Supervise the run to its end (:func:`_supervise`); (timed out, why stopped, its log).
    :class:`SandboxError` if bwrap failed."""
    tail = LogTail(process.stdout.fileno(), limits.log_head, limits.log_tail)
    tail.start()
    with _RUNNING_LOCK:
        _RUNNING.add(process)
    try:
        timed_out, stopped = _supervise(process, seconds, box, out, limits, probe_by)
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(process)
        tail.join(timeout=5)
        tail.stop()
        tail.join(timeout=5)
        with contextlib.suppress(OSError):
            process.stdout.close()
    started = True
    if info_read is not None:
        os.set_blocking(info_read, False)
        with contextlib.suppress(OSError):
            started = bool(os.read(info_read, 4096))
        os.close(info_read)
    (out / "run.log").write_bytes(tail.text())
    if not started and not timed_out:  # bwrap reports on --info-fd once the sandbox stands
        lines = tail.text().decode("utf-8", "replace").strip().splitlines()
        raise SandboxError(f"bwrap could not set up the sandbox: {lines[-1] if lines else 'no message'}")
    return timed_out, stopped, tail


def run_sandboxed(
    nb: Mapping[str, Any],
    name: str,
    sandbox: Path,
    parameters: Mapping[str, Any],
    timeout: float,
    folder: Path | None = None,
    *,
    fill_work: Callable[[Path], Any] | None = None,
    isolation: Isolation | None = None,
    limits: Limits | None = None,
    hidden: Mapping[str, Any] | None = None,
    hidden_seconds: float = 0.0,
) -> RunOutcome:
    """Run notebook ``nb`` (a dict) as ``work/<name>.graded.ipynb`` in the private folder ``sandbox/box``.

    ``folder`` (a folder submission, the grader's read-only copy) is copied into ``work/`` first;
    ``fill_work(path)`` fills ``course-work/``, the notebook's ``work_dir`` (else it starts empty).
    ``parameters`` go to the notebook's ``parameters`` cell with ``output_dir`` and ``work_dir``
    set to the run's own folders. The notebook's cells get ``timeout`` seconds in all
    (:func:`fer_kit.grading.execute.limit_cells`); ``hidden`` (the probe's cases,
    :meth:`~fer_kit.grading.hidden.HiddenPlan.payload`) adds the hidden tests' cell after them with
    ``hidden_seconds`` of its own. The run is killed :data:`HARD_GRACE` s after both, or after the notebook's
    ``timeout`` if the hidden tests have not started by then. :class:`SandboxError` when bwrap could not set
    the sandbox up.
    """
    isolation = isolation or Isolation()
    limits = limits or Limits()
    sandbox = Path(sandbox)
    inside = INSIDE if isolation.sandbox else sandbox / "box"
    box = _prepare_box(sandbox, nb, name, folder, fill_work, inside, hidden)
    out = sandbox / "out"
    out.mkdir()
    (sandbox / "empty").write_bytes(b"")
    probe_seconds = float(hidden_seconds) if hidden is not None else 0.0
    job = {"input": str(inside / "work" / f"{name}.graded.ipynb"), "output": str(inside / "executed.ipynb"),
           "cwd": str(inside / "work"), "tmp_dir": str(inside / "tmp"), "deadline": time.time() + timeout,
           "probe_seconds": probe_seconds,
           "parameters": {**parameters, "output_dir": str(inside / "output"), "work_dir": str(inside / "course-work")}}
    (box / "job.json").write_text(json.dumps(job), encoding="utf-8")
    # -s: no user site; the working directory put on sys.path is the private folder's root, grader-made
    execute = [sys.executable, "-s", "-m", "fer_kit.grading.execute", str(inside / "job.json")]
    seconds = timeout + probe_seconds + HARD_GRACE
    process, info_read = _start(sandbox, box, isolation, limits, execute, seconds)
    probe_by = timeout + HARD_GRACE if hidden is not None else None
    timed_out, stopped, tail = _wait(process, info_read, seconds, box, out, limits, probe_by)
    return _read_back(box, out, limits, process, tail, timed_out, stopped, hidden is not None)


def _run_status(box: Path, limits: Limits, process: subprocess.Popen, tail: LogTail) -> tuple[dict, list[str]]:
    """The run's ``status.json`` (or what the log says when it left none) and the problems with its output."""
    problems: list[str] = []
    status = _read_status(box, limits.status)
    if status is None:
        lines = tail.text().decode("utf-8", "replace").strip().splitlines()[-3:]
        status = {"finished": False, "dropped_output": 0, "stopped_at_limit": False,
                  "error": " / ".join(lines)[-500:] or f"the run stopped (exit code {process.returncode})"}
    if status["dropped_output"]:
        problems.append(f"{_size(status['dropped_output'])} of cell output was dropped (too much printed)")
    if tail.total > limits.log_head + limits.log_tail:
        problems.append(f"the run log was cut to its first {_size(limits.log_head)} and last "
                        f"{_size(limits.log_tail)} ({_size(tail.total)} written)")
    return status, problems


def _read_back(box: Path, out: Path, limits: Limits, process: subprocess.Popen, tail: LogTail, timed_out: bool,
               stopped: str, hidden: bool) -> RunOutcome:
    """What the run left, read as untrusted data (module docstring) into a :class:`RunOutcome`."""
    status, problems = _run_status(box, limits, process, tail)
    timed_out = timed_out or status["stopped_at_limit"]
    results, results_problem = load_results(box / "output", limits.results)
    (out / "output").mkdir()  # what the checks see as output_dir: the grader's own copy of the results
    if results:
        (out / "output" / "results.json").write_text(json.dumps(results), encoding="utf-8")
    _, problem = _copy_out(box, "executed.ipynb", out / "executed.ipynb", limits.executed)
    if problem:
        problems.append(f"the executed notebook was not kept: {problem}")
    executed = out / "executed.ipynb"
    if timed_out and (out / "at-time-limit.ipynb").is_file() and not status["stopped_at_limit"]:
        executed = out / "at-time-limit.ipynb"
    errors: list[dict] = []
    running = None
    if executed.is_file():
        budget = _json_budget_problem(executed.read_bytes(), "the executed notebook")
        if budget:
            problems.append(budget)
        else:
            errors, running = read_executed(executed)
    outcome = RunOutcome(timed_out, status["finished"] and not stopped, status["error"], results, results_problem,
                         errors, running, executed if executed.is_file() else None, out / "run.log", out / "output",
                         problems, stopped)
    if hidden:
        outcome.hidden_answers, outcome.hidden_problem = load_answers(box, limits.answers, outcome)
    return outcome


def load_answers(box: Path, limit: int, outcome: RunOutcome) -> tuple[Any, str]:
    """The hidden tests' ``answers.json`` (parsed, not yet checked) and, when there is none, why.

    Read like ``results.json``: no link followed, refused unread over ``limit`` bytes or when it
    holds too many JSON values.
    """
    raw, problem = read_untrusted(box, "hidden/answers.json", limit)
    if raw is not None:
        problem = _json_budget_problem(raw, "the hidden tests' answers")
        if not problem:
            try:
                return json.loads(raw.decode("utf-8")), ""
            except (ValueError, RecursionError):
                problem = "the hidden tests' answers are unreadable"
        return None, problem
    if problem:
        return None, problem
    if outcome.timed_out and not outcome.finished:
        return None, "the run was stopped at the time limit before the hidden tests could run"
    if outcome.stopped:
        return None, f"the run was stopped before the hidden tests could run ({outcome.stopped})"
    if not outcome.finished:
        return None, f"the notebook stopped before the hidden tests could run ({outcome.error[:200]})"
    cell_error = probe_cell_error(outcome.executed)
    return None, f"the hidden tests' cell failed ({cell_error})" if cell_error else "the hidden tests left no answers"


def probe_cell_error(executed: Path | None) -> str:
    """The error the grader's hidden-tests cell raised in the executed notebook ("" if none or unreadable)."""
    from .probe import PROBE_TAG

    if executed is None:
        return ""
    try:
        cells = json.loads(executed.read_text(encoding="utf-8", errors="replace")).get("cells", [])
        for cell in cells:
            if PROBE_TAG in cell_tags(cell):
                for output in cell.get("outputs", []):
                    if output.get("output_type") == "error":
                        return f"{str(output.get('ename', ''))[:100]}: {str(output.get('evalue', ''))[:200]}"
    except (OSError, ValueError, AttributeError, TypeError):
        return ""
    return ""
