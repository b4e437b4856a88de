"""Run a model's Python sample in a child process with limits, so a bad sample fails instead of doing harm.

Notebook 10 checks generated code by running it. `run_program(source)` runs one program; `run_tests(source, tests)`
runs it followed by hidden asserts. Each run gets:

- a fresh `sys.executable -I -S -B -X utf8` process (isolated mode: no PYTHON* variables, no user or site
  packages, so only the standard library can be imported; no .pyc writes), started in its own process group;
- a throw-away `tempfile.TemporaryDirectory()` as its working folder, HOME and TMPDIR, and a minimal environment;
- a wall-clock timeout, after which the whole process group is killed;
- on POSIX, `resource` limits: RLIMIT_AS (memory), RLIMIT_CPU, RLIMIT_FSIZE (files and output), RLIMIT_NPROC = 0
  (no new processes or threads; the kernel does not apply it to root) and no core dumps. They are set by the
  child's bootstrap before the program starts, not in `preexec_fn`, which the subprocess docs call unsafe when
  the parent has threads (torch does). Where `resource` is missing (Windows) only the wall-clock timeout holds;
- an audit hook (`sys.addaudithook`, PEP 578), installed before the program runs, that refuses: every `socket.*`
  event, `subprocess.Popen`, `os.system`, `os.exec`, `os.spawn`, `os.fork`, `os.forkpty`, `os.posix_spawn`,
  `ctypes` imports and `ctypes.*` events, `open` for writing (mode with w/a/x/+ or flags with O_WRONLY, O_RDWR,
  O_CREAT, O_APPEND, O_TRUNC) of a path outside the working folder, `os.remove`/`os.rmdir`/`os.rename`/
  `os.mkdir`/`os.link`/`os.symlink`/`os.chmod`/`os.chown`/`os.utime`/`os.truncate`/`shutil.rmtree`/... outside
  it, signals to other processes, `resource.setrlimit` and the `gc.get_referrers`-style object walks. A refused
  event writes `SANDBOX-BLOCKED: <what>` to stderr and ends the child at once with `os._exit`, so a program
  cannot catch the refusal and carry on.

What this does NOT defend against -- it is a teaching sandbox, not a security boundary:

- Audit hooks run inside the same interpreter as the program; determined code can get around them (C extension
  modules, `_posixsubprocess.fork_exec`, which raises no audit event, `os.open(..., dir_fd=...)`, whose event
  carries no dir_fd, tricks with objects whose `__fspath__` changes its answer, interpreter bugs).
- Reading is not limited: a program can read any file your user can read (your SSH keys, tokens) and print it.
- The resource limits are per process and partly per platform (macOS does not enforce RLIMIT_AS; Windows has
  none); CPU time, disk and memory can still be spent up to them.
- It runs as your user, on your machine, with your kernel. For code you did not write and do not trust, use a
  container or a virtual machine with no network (e.g. `docker run --network none --read-only ...`).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

try:
    import resource  # POSIX only
except ImportError:  # Windows: only the wall-clock timeout and the audit hook hold
    resource = None

STATUSES = ("ok", "error", "timeout", "memory", "blocked")
BLOCKED_EXIT, MEMORY_EXIT = 86, 87  # the child's exit codes for a refused event and for MemoryError
BLOCKED_MARK, MEMORY_MARK, PASSED_MARK = "SANDBOX-BLOCKED: ", "SANDBOX-MEMORY", "SANDBOX-TESTS-PASSED"
STDOUT_LIMIT, STDERR_LIMIT = 64 * 1024, 4 * 1024  # bytes of output kept (the start of stdout, the end of stderr)
FILE_LIMIT_MB = 16  # RLIMIT_FSIZE: largest file (stdout included) a program may write; past it, OSError EFBIG

# The child's side; its exit codes and markers are the constants above.
# argv: work folder, program file, tests file ("" for none), limits "as_mb,cpu_s,fsize_mb".
BOOTSTRAP = r'''
import os, sys, types, traceback
work, program, tests, limits = sys.argv[1:5]
sys.argv = [program]
sys.path.insert(0, work)
try:
    import resource
except ImportError:
    resource = None
if resource is not None:
    as_mb, cpu_s, fsize_mb = (int(x) for x in limits.split(","))
    for name, value in (("RLIMIT_AS", as_mb << 20), ("RLIMIT_CPU", cpu_s), ("RLIMIT_FSIZE", fsize_mb << 20),
                        ("RLIMIT_NPROC", 0), ("RLIMIT_CORE", 0)):
        if hasattr(resource, name):
            try:
                hard = value + 1 if name == "RLIMIT_CPU" else value  # SIGXCPU at the soft limit, then SIGKILL
                resource.setrlimit(getattr(resource, name), (value, hard))
            except (ValueError, OSError):
                pass  # this platform refuses this limit (e.g. RLIMIT_AS on macOS): go on without it

ROOT = os.path.realpath(work)
PROC_FD = "/proc/self/fd"
HAS_PROC = os.path.isdir(PROC_FD)
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
OWN_PID = os.getpid()
# event -> (path argument, its dir_fd argument or None) pairs that must stay inside the work folder
PATH_EVENTS = {
    "os.remove": [(0, 1)], "os.rmdir": [(0, 1)], "os.mkdir": [(0, 2)], "os.rename": [(0, 2), (1, 3)],
    "os.link": [(0, 2), (1, 3)], "os.symlink": [(1, 2)], "os.chmod": [(0, 2)], "os.chown": [(0, 3)],
    "os.utime": [(0, 3)], "os.truncate": [(0, None)], "os.chflags": [(0, None)], "os.lchflags": [(0, None)],
    "os.setxattr": [(0, None)], "os.removexattr": [(0, None)], "shutil.rmtree": [(0, 1)],
    "shutil.copyfile": [(1, None)], "shutil.copytree": [(1, None)], "shutil.move": [(0, None), (1, None)],
    "shutil.chown": [(0, None)],
}
REFUSED = {"subprocess.Popen", "os.system", "os.exec", "os.spawn", "os.fork", "os.forkpty", "os.posix_spawn",
           "os.startfile", "_winapi.CreateProcess", "os.killpg", "resource.setrlimit", "resource.prlimit",
           "gc.get_objects", "gc.get_referrers", "gc.get_referents"}


def refuse(what, write=os.write, exit=os._exit):
    flush()
    write(2, ("\n" + "SANDBOX-BLOCKED: " + what[:300].replace("\n", " ") + "\n").encode("utf-8", "replace"))
    exit(86)


def where(path, dir_fd=None, realpath=os.path.realpath, readlink=os.readlink, fspath=os.fspath,
          fsdecode=os.fsdecode, isabs=os.path.isabs, join=os.path.join):
    """The real path an event touches, or None when it cannot be told (then the event is refused).

    The os functions are bound here, at start-up, so a program that reassigns os.path.realpath does not fool it.
    """
    if isinstance(path, int):
        return realpath(readlink(PROC_FD + "/" + str(path))) if HAS_PROC else None
    path = fsdecode(fspath(path))
    if dir_fd not in (None, -1) and not isabs(path):
        if not HAS_PROC:
            return None
        path = join(readlink(PROC_FD + "/" + str(dir_fd)), path)
    return realpath(path)


def inside(real, sep=os.sep):
    return real is not None and (real == ROOT or real.startswith(ROOT + sep))


def hook(event, args):
    try:
        check(event, args)
    except Exception as e:  # a check that cannot be done is a refusal, never a pass
        refuse("%s (the sandbox could not check it: %r)" % (event, e))


def check(event, args):
    if event == "open":
        path, mode, flags = args
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                 (isinstance(flags, int) and flags & WRITE_FLAGS)
        if writes and not isinstance(path, int):  # an fd that exists was opened (and checked) before
            try:
                real = where(path)
            except Exception:
                real = None
            if not inside(real):
                refuse("open %s for writing" % (real or path,))
    elif event in PATH_EVENTS:
        for i, j in PATH_EVENTS[event]:
            try:
                real = where(args[i], args[j] if j is not None and j < len(args) else None)
            except Exception:
                real = None
            if not inside(real):
                refuse("%s %s (outside the program's folder)" % (event, real or args[i]))
    elif event.startswith(("socket.", "ctypes.")) or event in REFUSED:
        shown = args[1:] if event.startswith("socket.") and args and hasattr(args[0], "fileno") else args
        refuse(" ".join([event] + [repr(a) for a in shown]))
    elif event == "import" and (args[0] in ("ctypes", "_ctypes") or str(args[0]).startswith("ctypes.")):
        refuse("import %s" % args[0])
    elif event == "os.kill" and args[0] != OWN_PID:
        refuse("os.kill %r (another process)" % (args[0],))


def run(path, namespace):
    with open(path, encoding="utf-8") as f:
        code = compile(f.read(), path, "exec")
    exec(code, namespace)


def report(exc):
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == "<string>":
        tb = tb.tb_next  # hide the bootstrap's own frames
    traceback.print_exception(type(exc), exc, tb)
    sys.stderr.flush()


def flush():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def stage(path):
    try:
        run(path, main.__dict__)
    except SystemExit:
        if tests and path == program:
            sys.stderr.write("the program exited (sys.exit) before the tests ran\n")
            sys.exit(1)
        raise
    except MemoryError as e:
        report(e)
        flush()
        os.write(2, b"SANDBOX-MEMORY\n")
        os._exit(87)
    except BaseException as e:
        report(e)
        sys.exit(1)


main = types.ModuleType("__main__")
main.__file__ = program
main.__builtins__ = __builtins__
sys.modules["__main__"] = main
sys.addaudithook(hook)
stage(program)
if tests:
    stage(tests)
    flush()
    os.write(2, b"\nSANDBOX-TESTS-PASSED\n")
'''


@dataclass
class RunResult:
    status: str            # one of STATUSES
    returncode: int | None  # the child's exit code (negative: killed by that signal)
    stdout: str            # the start of what it printed (STDOUT_LIMIT bytes at most)
    stderr: str            # the end of its error output (STDERR_LIMIT bytes at most)
    seconds: float         # wall-clock time of the run
    blocked: str = ""      # what the audit hook refused, e.g. "socket.connect ('1.2.3.4', 80)"

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _read_head(path: Path, limit: int) -> str:
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    size = path.stat().st_size
    text = data[:limit].decode("utf-8", "replace")
    return text + (f"\n[... output cut: {size} bytes in all, the first {limit} kept]" if size > limit else "")


def _read_tail(path: Path, limit: int) -> str:
    size = path.stat().st_size
    with open(path, "rb") as f:
        f.seek(max(0, size - limit))
        text = f.read().decode("utf-8", "replace")
    return (f"[... {size - limit} bytes cut ...]\n" if size > limit else "") + text


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)  # the program and anything it managed to start
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass


def _check_limits(timeout: float, memory_mb: int) -> None:
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if not isinstance(memory_mb, int) or memory_mb < 32:
        raise ValueError(f"memory_mb must be an int >= 32 (Python itself needs ~20 MB), got {memory_mb!r}")


def _status(rc: int | None, timed_out: bool, stderr: str, tests: bool) -> tuple[str, str]:
    """Turn the child's exit into (status, blocked)."""
    lines = stderr.rstrip("\n").splitlines()
    if timed_out:
        return "timeout", ""
    if rc == BLOCKED_EXIT:
        for line in reversed(lines):
            if line.startswith(BLOCKED_MARK):
                return "blocked", line[len(BLOCKED_MARK):]
    if rc == MEMORY_EXIT and MEMORY_MARK in lines:
        return "memory", ""
    if rc is not None and rc < 0:
        sig = -rc
        if sig == getattr(signal, "SIGXCPU", None):
            return "timeout", ""  # RLIMIT_CPU
        if "MemoryError" in stderr or sig == signal.SIGKILL:
            return "memory", ""  # a C-level allocation failure, or the kernel's out-of-memory killer
        return "error", ""
    if rc == 0 and (not tests or (lines and lines[-1] == PASSED_MARK)):
        return "ok", ""
    return "error", ""


def _run(source: str, tests: str | None, timeout: float, memory_mb: int, stdin: str) -> RunResult:
    _check_limits(timeout, memory_mb)
    if not isinstance(source, str):
        raise TypeError(f"source must be the program's text (a str), got {type(source).__name__}")
    with tempfile.TemporaryDirectory(prefix="genlib-sandbox-") as tmp:
        work, io_dir = Path(tmp) / "work", Path(tmp) / "io"
        work.mkdir()
        io_dir.mkdir()
        program = work / "program.py"
        program.write_text(source, encoding="utf-8")
        tests_file = ""
        if tests is not None:
            (io_dir / "tests.py").write_text(tests, encoding="utf-8")
            tests_file = str(io_dir / "tests.py")
        (io_dir / "stdin").write_text(stdin, encoding="utf-8")
        env = {"PATH": os.defpath, "HOME": str(work), "TMPDIR": str(work), "TEMP": str(work), "TMP": str(work),
               "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        if "SYSTEMROOT" in os.environ:  # Windows cannot start Python without it
            env["SYSTEMROOT"] = os.environ["SYSTEMROOT"]
        limits = f"{memory_mb},{int(timeout) + 1},{FILE_LIMIT_MB}"
        cmd = [sys.executable, "-I", "-S", "-B", "-X", "utf8", "-c", BOOTSTRAP, str(work), str(program),
               tests_file, limits]
        timed_out = False
        start = time.perf_counter()
        with open(io_dir / "stdin", "rb") as fin, open(io_dir / "stdout", "wb") as fout, \
                open(io_dir / "stderr", "wb") as ferr:
            proc = subprocess.Popen(cmd, stdin=fin, stdout=fout, stderr=ferr, cwd=work, env=env,
                                    start_new_session=hasattr(os, "killpg"))
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc)
                proc.wait()
        seconds = time.perf_counter() - start
        rc = proc.returncode
        stdout = _read_head(io_dir / "stdout", STDOUT_LIMIT)
        stderr = _read_tail(io_dir / "stderr", STDERR_LIMIT)
    status, blocked = _status(rc, timed_out, stderr, tests is not None)
    if status == "ok" and tests is not None:
        stderr = stderr.rstrip("\n")[: -len(PASSED_MARK)].rstrip("\n")
    if status == "error" and tests is not None and rc == 0:
        stderr += "\n[sandbox] the tests did not finish: the program ended the process before they ran (os._exit?)"
    if timed_out:
        stderr += f"\n[sandbox] stopped after the {timeout:g} s time limit"
    return RunResult(status, rc, stdout, stderr, seconds, blocked)


def run_program(source: str, *, timeout: float = 2.0, memory_mb: int = 256, stdin: str = "") -> RunResult:
    """Run `source` as a Python program in a fresh, limited child process; see the module docstring for the rules."""
    return _run(source, None, timeout, memory_mb, stdin)


def run_tests(source: str, tests: str, **limits) -> RunResult:
    """Run `source` and then `tests` (assert statements) in one namespace; status "ok" only if every test passed."""
    if not isinstance(tests, str):
        raise TypeError(f"tests must be Python code (a str of asserts), got {type(tests).__name__}")
    unknown = set(limits) - {"timeout", "memory_mb", "stdin"}
    if unknown:
        raise TypeError(f"run_tests got unknown limits {sorted(unknown)}; use timeout, memory_mb or stdin")
    return _run(source, tests, limits.get("timeout", 2.0), limits.get("memory_mb", 256), limits.get("stdin", ""))
