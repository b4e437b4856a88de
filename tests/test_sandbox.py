"""The code sandbox of notebook 10: good programs run, harmful ones are stopped and reported, limits hold."""
import os
import sys
import tempfile
import uuid

import pytest

from genlib.data.code_tasks import code_tasks
from genlib.text.sandbox import STDERR_LIMIT, STDOUT_LIMIT, run_program, run_tests

try:
    import resource
except ImportError:
    resource = None


@pytest.fixture
def outside_path():
    """A unique file name in the system temp folder (outside any sandbox folder); removed afterwards."""
    path = os.path.join(tempfile.gettempdir(), f"genlib-sandbox-test-{uuid.uuid4().hex}.txt")
    yield path
    if os.path.exists(path):
        os.remove(path)


def test_a_good_program_runs_and_its_output_comes_back():
    r = run_program("import sys, json\nname = input()\nprint(json.dumps({'hi': name}))\nprint('err', file=sys.stderr)",
                    stdin="Ada\n")
    assert (r.status, r.returncode, r.blocked) == ("ok", 0, "")
    assert r.stdout == '{"hi": "Ada"}\n' and r.stderr.strip() == "err"
    assert 0 < r.seconds < 5


def test_a_crash_is_an_error_with_the_programs_traceback():
    r = run_program("x = 1\nprint('start')\nraise KeyError('boom')\n")
    assert r.status == "error" and r.returncode == 1 and r.stdout == "start\n"
    assert "KeyError: 'boom'" in r.stderr and "program.py" in r.stderr and 'File "<string>"' not in r.stderr


@pytest.mark.parametrize("write", [
    "open(P, 'w').write('x')",
    "open(P, 'a').write('x')",
    "os.close(os.open(P, os.O_WRONLY | os.O_CREAT))",
    "pathlib.Path(P).write_text('x')",
    "os.symlink('/etc/hostname', P)",
    "os.path.realpath = lambda p, **kw: os.getcwd()\n    open(P, 'w')",  # patching the hook's helpers fails too
])
def test_writing_a_file_outside_its_folder_is_blocked_and_nothing_is_written(outside_path, write):
    program = (f"import os, pathlib\nP = {outside_path!r}\nprint('before')\n"
               f"try:\n    {write}\nexcept BaseException:\n    print('caught it')\nprint('carried on')\n")
    r = run_program(program)
    assert r.status == "blocked" and r.returncode == 86, r
    assert os.path.basename(outside_path) in r.blocked and f"SANDBOX-BLOCKED: {r.blocked}" in r.stderr
    assert r.stdout == "before\n"  # printed output survives; the program cannot catch the refusal and go on
    assert not os.path.lexists(outside_path)


def test_removing_or_renaming_a_file_outside_its_folder_is_blocked(outside_path):
    with open(outside_path, "w") as f:
        f.write("keep me")
    for action in ("os.remove(P)", "os.rename(P, 'mine.txt')", "os.truncate(P, 0)", "os.chmod(P, 0o777)"):
        r = run_program(f"import os\nP = {outside_path!r}\n{action}\n")
        assert r.status == "blocked" and r.blocked.startswith(action.split("(")[0]), (action, r)
    with open(outside_path) as f:
        assert f.read() == "keep me"


@pytest.mark.parametrize("program", [
    "import socket\ns = socket.create_connection(('1.2.3.4', 80), timeout=1)",
    "import socket\ns = socket.socket()\ns.connect(('127.0.0.1', 9))",
    "import urllib.request\nurllib.request.urlopen('http://example.com')",
])
def test_opening_a_socket_or_connecting_is_blocked(program):
    r = run_program(f"try:\n    {program.replace(chr(10), chr(10) + '    ')}\nexcept BaseException:\n    pass\n"
                    "print('carried on')\n")
    assert r.status == "blocked" and r.blocked.startswith("socket."), r
    assert "carried on" not in r.stdout


@pytest.mark.parametrize("program, event", [
    ("import subprocess; subprocess.run(['echo', 'hi'])", "subprocess.Popen"),
    ("import os; os.system('echo hi')", "os.system"),
    ("import os; os.fork()", "os.fork"),
    ("import os; os.execv(sys.executable, ['python'])", "os.exec"),
    ("import ctypes", "import ctypes"),
    ("import os; os.kill(os.getppid(), 15)", "os.kill"),
])
def test_processes_ctypes_and_signals_are_blocked(program, event):
    r = run_program("import sys\n" + program + "\nprint('carried on')")
    assert r.status == "blocked" and r.blocked.startswith(event), r
    assert "hi" not in r.stdout and "carried on" not in r.stdout


def test_writing_inside_its_own_folder_is_allowed():
    program = """
import os, shutil, tempfile, pathlib
with open('notes.txt', 'w') as f:
    f.write('hello')
os.mkdir('sub')
os.rename('notes.txt', 'sub/notes.txt')
print(pathlib.Path('sub/notes.txt').read_text())
with tempfile.NamedTemporaryFile('w', delete=False) as t:
    t.write('x')
print(t.name.startswith(os.getcwd()))
shutil.rmtree('sub')
os.remove(t.name)
print(sorted(os.listdir('.')))
"""
    r = run_program(program)
    assert r.status == "ok", r
    assert r.stdout == "hello\nTrue\n['program.py']\n"


def test_each_run_gets_a_fresh_folder_and_a_minimal_environment():
    first = run_program("import os\nopen('left.txt', 'w').write('x')\nprint(os.getcwd())")
    second = run_program("import os, sys\nprint(os.listdir('.'), sorted(os.environ.get(k, '-') != '-' for k in "
                         "['PYTHONPATH', 'VIRTUAL_ENV']), 'site' in sys.modules)")
    assert first.status == second.status == "ok"
    assert not os.path.exists(first.stdout.strip())  # the temp folder is gone after the run
    assert second.stdout == "['program.py'] [False, False] False\n"


def test_an_infinite_loop_is_stopped_at_the_timeout():
    for program in ("while True:\n    pass", "import time\ntime.sleep(60)"):
        r = run_program(program, timeout=0.5)
        assert r.status == "timeout" and r.returncode != 0 and "time limit" in r.stderr, r
        assert 0.5 <= r.seconds < 2.0


@pytest.mark.skipif(resource is None or sys.platform == "darwin", reason="RLIMIT_AS is only enforced on Linux/BSD")
def test_a_huge_list_hits_the_memory_limit():
    program = "x = [0] * 10_000_000\nprint(len(x))"  # 80 MB of pointers
    small, large = run_program(program, memory_mb=64), run_program(program, memory_mb=512)
    assert small.status == "memory" and "MemoryError" in small.stderr, small
    assert large.status == "ok" and large.stdout == "10000000\n", large  # so it was the limit, not the program


def test_output_is_kept_to_a_few_kilobytes():
    r = run_program("import sys\nprint('o' * 100_000)\nsys.stderr.write('e' * 50_000 + 'END')")
    assert r.status == "ok"
    assert r.stdout.startswith("o" * STDOUT_LIMIT) and len(r.stdout) < STDOUT_LIMIT + 200 and "cut" in r.stdout
    assert r.stderr.endswith("END") and len(r.stderr) < STDERR_LIMIT + 200


def test_run_tests_reports_passes_and_failures():
    tests = "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n"
    good = run_tests("def add(a, b):\n    return a + b\n", tests)
    wrong = run_tests("def add(a, b):\n    return a - b\n", tests)
    crash = run_tests("def add(a, b):\n    return a + c\n", tests)
    early_exit = run_tests("import sys\ndef add(a, b):\n    return a + b\nsys.exit(0)\n", tests)
    hard_exit = run_tests("import os\ndef add(a, b):\n    return a + b\nos._exit(0)\n", tests)
    assert good.status == "ok" and good.stderr == "", good
    assert wrong.status == "error" and "AssertionError" in wrong.stderr
    assert crash.status == "error" and "NameError" in crash.stderr
    assert early_exit.status == "error" and "before the tests ran" in early_exit.stderr
    assert hard_exit.status == "error" and hard_exit.returncode == 0  # exited 0, but the tests never finished
    assert run_tests("while True:\n    pass\n", tests, timeout=0.5).status == "timeout"


def test_bad_limits_are_refused_with_a_sentence():
    with pytest.raises(ValueError, match="timeout"):
        run_program("print(1)", timeout=0)
    with pytest.raises(ValueError, match="memory_mb"):
        run_program("print(1)", memory_mb=8)
    with pytest.raises(TypeError, match="unknown limits"):
        run_tests("x = 1", "assert x == 1", memory=64)


def test_every_code_task_passes_with_its_reference_and_fails_with_a_wrong_body():
    tasks = code_tasks()
    assert len(tasks) >= 24 and len({t.name for t in tasks}) == len(tasks)
    for t in tasks:
        assert t.prompt.startswith(f"def {t.name}(") and t.prompt.endswith('"""\n') and t.name in t.tests
        assert t.reference.startswith("    ") and t.reference.endswith("\n")
        r = run_tests(t.prompt + t.reference, t.tests)
        assert r.status == "ok", (t.name, r)
    # Every task's tests reject a body that returns None (checked in one sandboxed run, one namespace per task).
    cases = [(t.name, t.prompt + "    return None\n" + t.tests) for t in tasks]
    r = run_program(f"for name, code in {cases!r}:\n    try:\n        exec(code, {{}})\n        print('passed', name)\n"
                    "    except AssertionError:\n        print('failed', name)\n")
    assert r.status == "ok" and r.stdout.split() == [w for t in tasks for w in ("failed", t.name)], r
