"""The sandbox against hostile student code: real processes, real limits (1-3 s), both backends.

Each attack runs under bwrap and under the "none" fallback. Where the fallback cannot protect
(it shares the host's filesystem, network and pid namespace), the test is skipped with the
reason. Set GRADER_SANDBOX_REQUIRE_BWRAP=1 (CI does) to fail rather than skip when bwrap is
unusable.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError

from grader.sandbox import bootstrap, bwrap
from grader.sandbox.models import Limits, SandboxResult
from grader.sandbox.runner import SandboxError, run_python
from grader.sandbox.streams import ChannelDecoder, TailBuffer
from tests.conftest import ROOT, require_bwrap

HARNESS = '''\
"""Test harness: reports its arguments, runs the student's file, then reports done."""
import runpy
import sys

from grader.sandbox import channel

channel.send("started", argv=sys.argv[1:])
runpy.run_path("student.py", run_name="__main__")
channel.done(finished=True)
'''
FAST = {"wall_seconds": 3, "cpu_seconds": 3, "memory_mib": 512, "max_processes": 32}
IS_ROOT = os.geteuid() == 0


@pytest.fixture(params=["bwrap", "none"])
def backend(request) -> str:
    if request.param == "bwrap":
        require_bwrap()
    return request.param


def bwrap_only(backend: str, why: str) -> None:
    if backend == "none":
        pytest.skip(f"the 'none' fallback does not protect against this: {why}")


@pytest.fixture
def harness(tmp_path) -> Path:
    """The harness under a unique name, so its processes can be found on the host by name."""
    path = tmp_path / f"harness_{uuid.uuid4().hex}.py"
    path.write_text(HARNESS)
    return path


def run_student(harness: Path, code: str, backend: str, **limits) -> SandboxResult:
    return run_python(harness, ["--check"], files={"student.py": textwrap.dedent(code).encode()},
                      limits=Limits(**{**FAST, **limits}), backend=backend)


def processes_running(name: str) -> list[int]:
    """Host processes whose command line mentions `name`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and name.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


# --- normal runs ---------------------------------------------------------------------------


def test_a_well_behaved_run_reports_its_messages_and_nothing_else(harness, backend):
    result = run_student(harness, """
        from grader.sandbox import channel
        print("training...")
        channel.send("epoch", index=0, loss=float("nan"), sizes=[[1, 2], [3]])
    """, backend)
    assert result.ok and result.completed and result.exit_code == 0, result.reason
    assert [(m.kind, m.data) for m in result.messages[:1]] == [("started", {"argv": ["--check"]})]
    assert result.messages[1].kind == "epoch" and result.messages[1].data["sizes"] == [[1, 2], [3]]
    assert result.messages[1].data["loss"] != result.messages[1].data["loss"]  # NaN is an observation
    assert result.messages[-1].data == {"finished": True}
    assert result.stdout == "training...\n" and result.channel_problems == []
    assert result.backend == backend and 0 < result.wall_seconds < 3
    assert (result.warnings == []) == (backend == "bwrap")


def test_torch_is_importable_and_trains_inside(harness, backend):
    result = run_student(harness, """
        import torch
        from grader.sandbox import channel
        torch.manual_seed(0)
        model = torch.nn.LSTM(input_size=4, hidden_size=8)
        optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
        losses = []
        for _ in range(3):
            output, _ = model(torch.randn(5, 2, 4))
            loss = output.pow(2).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        channel.send("trained", losses=losses, threads=torch.get_num_threads())
    """, backend, wall_seconds=30, cpu_seconds=30, memory_mib=1024)
    assert result.ok, (result.reason, result.stderr)
    trained = next(m.data for m in result.messages if m.kind == "trained")
    assert len(trained["losses"]) == 3 and all(0 < loss < 10 for loss in trained["losses"])
    assert trained["threads"] == 1  # Limits.threads reached torch


def test_the_graders_environment_does_not_leak_in(harness, backend, monkeypatch):
    secret = uuid.uuid4().hex
    monkeypatch.setenv("GRADER_TEST_TOKEN", secret)
    result = run_student(harness, """
        import os
        print(sorted(os.environ.items()))
    """, backend)
    assert result.ok and secret not in result.stdout and "GRADER_TEST_TOKEN" not in result.stdout
    assert "OMP_NUM_THREADS" in result.stdout


# --- time, memory, processes, files ------------------------------------------------------------


def test_an_infinite_loop_is_stopped_at_the_wall_time_limit(harness, backend):
    result = run_student(harness, "import time\nwhile True: time.sleep(0.01)", backend, wall_seconds=1.5)
    assert result.timed_out and result.limit == "wall_time" and not result.completed
    assert result.reason == "exceeded the 1.5 s wall-time limit"
    assert 1.5 <= result.wall_seconds < 3


def test_burning_cpu_in_several_threads_is_stopped_at_the_cpu_limit(harness, backend):
    result = run_student(harness, """
        import threading
        def spin():
            while True:
                pass
        for _ in range(3):
            threading.Thread(target=spin, daemon=True).start()
        spin()
    """, backend, wall_seconds=10, cpu_seconds=1)
    assert result.limit == "cpu_time" and not result.timed_out
    assert result.reason == "exceeded its 1.0 s CPU-time limit"
    assert result.cpu_seconds >= 0.9 and result.wall_seconds < 5


@pytest.mark.parametrize("bomb", [
    "chunks = []\nwhile True: chunks.append(bytearray(10**7))",  # grows until an allocation is refused
    "data = b' ' * 10**11",  # one allocation far beyond the limit
    # shared memory, which RLIMIT_DATA does not count
    "import mmap\nm = mmap.mmap(-1, 2 * 10**9)\nfor i in range(0, 2 * 10**9, 4096): m[i] = 1",
    "import os, time\nfor _ in range(5):\n    if os.fork() == 0:\n        block = bytearray(100 * 2**20)\n"
    "        time.sleep(10)\ntime.sleep(10)",  # each process under the limit, together over it
], ids=["growing", "huge", "shared-mmap", "forked"])
def test_a_memory_bomb_runs_out_of_its_memory_limit(harness, backend, bomb):
    result = run_student(harness, bomb, backend, memory_mib=256)
    assert result.limit == "memory" and not result.completed
    assert result.reason == "ran out of its 256 MiB memory limit"
    assert result.peak_memory_mib < 256 * 1.5 and result.wall_seconds < 3


def test_a_fork_bomb_is_contained_and_leaves_nothing_behind(harness, backend):
    if backend == "none" and IS_ROOT:
        pytest.skip("the 'none' fallback run by root has no process limit: RLIMIT_NPROC does not apply to uid 0")
    result = run_student(harness, """
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
    """, backend, wall_seconds=2, cpu_seconds=20, max_processes=24)
    assert result.limit in ("wall_time", "cpu_time") and result.reason.startswith("exceeded")
    assert result.peak_processes <= 24 + 2  # bwrap's own two processes are seen from outside
    assert processes_running(harness.name) == []
    assert subprocess.run(["true"]).returncode == 0  # the host can still start processes


def test_writing_a_file_over_the_size_limit_is_refused(harness, backend):
    result = run_student(harness, "open('big.bin', 'wb').write(b'x' * 3 * 2**20)", backend, file_size_mib=1)
    assert result.limit == "file_size" and result.exit_code == bootstrap.LIMIT_EXITS["file_size"]
    assert result.reason == "tried to write a file larger than its 1 MiB file-size limit"
    assert "File too large" in result.stderr


def test_too_many_threads_are_refused(harness, backend):
    result = run_student(harness, """
        import threading, time
        for _ in range(200):
            threading.Thread(target=time.sleep, args=(5,), daemon=True).start()
    """, backend, max_processes=16)
    assert result.limit == "processes" and "limit of 16 processes and threads" in result.reason
    assert result.wall_seconds < 3


# --- ending early, forging results -------------------------------------------------------------


@pytest.mark.parametrize("exit_call", ["import sys; sys.exit(0)", "import os; os._exit(0)"])
def test_exiting_half_way_is_reported_as_ended_early(harness, backend, exit_call):
    result = run_student(harness, f"print('half way')\n{exit_call}\nprint('never')", backend)
    assert result.exit_code == 0 and not result.completed and not result.ok
    assert result.reason == "ended early: exited with status 0 before the harness sent 'done'"
    assert [m.kind for m in result.messages] == ["started"] and result.stdout == "half way\n"


def test_fake_results_on_stdout_are_ignored(harness, backend):
    result = run_student(harness, """
        import sys
        print('{"kind": "done", "data": {"score": 100}}')
        print("SCORE: 100/100")
        sys.exit(0)
    """, backend)
    assert "SCORE: 100/100" in result.stdout
    assert not result.completed and [m.kind for m in result.messages] == ["started"]


def test_junk_written_to_the_channel_is_reported_not_fatal(harness, backend):
    result = run_student(harness, """
        import os, stat
        for fd in range(3, 64):
            try:
                if stat.S_ISFIFO(os.fstat(fd).st_mode):
                    os.write(fd, b'not json\\n{"kind": "done"}\\n[1, 2]\\n' + b"x" * 100000 + b"\\n")
            except OSError:
                pass
    """, backend, channel_line_bytes=4096)
    assert result.ok and result.completed, result.reason
    assert [m.kind for m in result.messages] == ["started", "done"]
    assert result.channel_problems == [
        "line 2: not JSON (Expecting value: line 1 column 1 (char 0))",
        "line 3: expected an object with exactly 'kind' and 'data', got b'{\"kind\": \"done\"}'",
        "line 4: expected an object with exactly 'kind' and 'data', got b'[1, 2]'",
        "line 5: longer than 4096 bytes; skipped",
    ]


def test_a_fake_results_file_stays_in_the_discarded_work_dir(harness, backend, tmp_path, monkeypatch):
    temp_root = tmp_path / "temp-root"
    temp_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp_root))
    result = run_student(harness, """
        import json, os
        from grader.sandbox import channel
        with open("results.json", "w") as out:
            json.dump({"score": 100, "tests": []}, out)
        channel.send("wrote", path=os.path.abspath("results.json"))
    """, backend)
    assert result.ok, result.reason
    assert list(temp_root.iterdir()) == []  # the work dir and everything in it are gone
    assert not (ROOT / "results.json").exists()


def test_only_the_work_dir_and_the_size_limited_tmp_folders_are_writable(harness, backend, tmp_path):
    bwrap_only(backend, "it runs on the host's filesystem with the grader's permissions")
    folders = [str(tmp_path), str(ROOT), str(ROOT / "grader"), sys.prefix, "/", "/dev", "/etc", "/harness",
               "/tmp", "/dev/shm", "."]
    result = run_student(harness, f"""
        import os
        from grader.sandbox import channel
        for folder in {folders!r}:
            try:
                with open(os.path.join(folder, "results.json"), "w") as out:
                    out.write('{{"score": 100}}')
                channel.send("wrote", folder=folder)
            except OSError:
                pass
        try:
            with open("/tmp/filler", "wb") as filler:
                filler.write(b"x" * 3 * 2**20)
        except OSError as error:
            channel.send("tmp_full", error=os.strerror(error.errno))
    """, backend, tmp_mib=2, file_size_mib=8)
    assert result.ok, (result.reason, result.stderr)
    assert [m.data.get("folder") for m in result.messages if m.kind == "wrote"] == ["/tmp", "/dev/shm", "."]
    assert [m.data for m in result.messages if m.kind == "tmp_full"] == [{"error": "No space left on device"}]
    assert not (tmp_path / "results.json").exists() and not (ROOT / "results.json").exists()


# --- files, network, signals -------------------------------------------------------------------


def test_files_outside_the_work_dir_are_invisible(harness, backend, tmp_path):
    bwrap_only(backend, "it runs on the host's filesystem with the grader's permissions")
    secret = f"answer-key-{uuid.uuid4().hex}"
    outside_key = tmp_path / "key.yaml"
    outside_key.write_text(secret)
    rubric_key = ROOT / "rubrics" / f".sandbox-test-key-{uuid.uuid4().hex}.yaml"
    rubric_key.write_text(secret)
    try:
        targets = [outside_key, rubric_key, ROOT / "rubrics" / "dl-quiz.yaml", ROOT / "README.md",
                   Path.home() / ".bash_history", Path("/etc/passwd"), Path("/proc/1/environ")]
        result = run_student(harness, f"""
            import os
            from grader.sandbox import channel
            for path in {[str(t) for t in targets]!r}:
                try:
                    print(open(path).read())
                    channel.send("read", path=path)
                except OSError as error:
                    channel.send("refused", path=path, error=type(error).__name__)
            for folder in ["/", {str(ROOT)!r}, {str(Path.home())!r}, "/harness"]:
                try:
                    channel.send("listing", folder=folder, names=sorted(os.listdir(folder)))
                except OSError as error:
                    channel.send("refused", path=folder, error=type(error).__name__)
        """, backend)
    finally:
        rubric_key.unlink()
    assert result.ok, (result.reason, result.stderr)
    assert [m.data["path"] for m in result.messages if m.kind == "read"] == []
    assert secret not in result.stdout + result.stderr
    listings = {m.data["folder"]: m.data["names"] for m in result.messages if m.kind == "listing"}
    assert set(listings.get(str(ROOT), [])) <= {"grader", ".venv"} and "home" not in listings["/"]
    assert listings["/harness"] == [harness.name]


def test_the_network_is_unreachable(harness, backend):
    bwrap_only(backend, "it shares the host's network")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        result = run_student(harness, f"""
            import socket
            from grader.sandbox import channel
            for address in [("1.1.1.1", 53), ("127.0.0.1", {port})]:
                try:
                    socket.create_connection(address, timeout=1).close()
                    channel.send("connected", address=list(address))
                except OSError as error:
                    channel.send("refused", address=list(address), error=type(error).__name__)
        """, backend)
        listener.settimeout(0.2)
        with pytest.raises(TimeoutError):
            listener.accept()
    assert result.ok, result.reason
    assert [m.kind for m in result.messages] == ["started", "refused", "refused", "done"]


@pytest.mark.parametrize("attack", [
    "os.kill(os.getppid(), signal.SIGKILL)",
    "os.killpg(0, signal.SIGKILL)",
    "os.killpg(os.getpgid(os.getppid()), signal.SIGKILL)",
    "os.kill(-1, signal.SIGKILL)",
], ids=["parent", "own-group", "parent-group", "everyone"])
def test_killing_the_parent_does_not_reach_the_grader(harness, backend, attack):
    if "killpg(0" not in attack:
        bwrap_only(backend, "it runs in the grader's pid namespace as the grader's user, so it can signal the grader")
    result = run_student(harness, f"import os, signal, time\n{attack}\ntime.sleep(0.2)", backend)
    # still here: the signal never reached the grader; the run ended one way or another
    assert result.ok or result.reason.startswith(("exited with status 1", "was killed by signal 9"))
    assert run_student(harness, "print('next')", backend).stdout == "next\n"


def test_a_huge_stdout_is_drained_and_only_its_tail_kept(harness, backend):
    result = run_student(harness, """
        import sys
        block = b"x" * 999_999 + b"\\n"
        for _ in range(100):
            sys.stdout.buffer.write(block)
        sys.stderr.write("e" * 20_000_000)
        print("END")
    """, backend, output_tail_bytes=4096)
    assert result.ok, result.reason
    assert result.stdout_bytes == 100_000_000 + 4 and result.stderr_bytes == 20_000_000
    assert len(result.stdout) == 4096 and result.stdout.endswith("x\nEND\n")
    assert len(result.stderr) == 4096


# --- backend choice ----------------------------------------------------------------------------


def test_an_unusable_bwrap_is_reported_and_auto_falls_back(harness, tmp_path, monkeypatch):
    broken = tmp_path / "bwrap"
    broken.write_text("#!/bin/sh\necho 'bwrap: No permissions to create a new namespace' >&2\nexit 1\n")
    broken.chmod(0o755)
    found = bwrap.probe(str(broken))
    assert not found.usable
    assert found.reason == "a trial sandbox failed: bwrap: No permissions to create a new namespace"
    assert not bwrap.probe(None).usable and "not found on PATH" in bwrap.probe(None).reason

    monkeypatch.setattr(bwrap, "availability", lambda: found)
    result = run_student(harness, "print('ran')", "auto")
    assert result.ok and result.backend == "none" and result.stdout == "ran\n"
    assert any("No permissions to create a new namespace" in w and "'none' backend" in w for w in result.warnings)
    with pytest.raises(SandboxError, match="bwrap backend was required but is unusable"):
        run_student(harness, "print('ran')", "bwrap")


def test_a_sandbox_that_cannot_start_is_the_graders_error_not_the_students(harness, monkeypatch):
    require_bwrap()
    monkeypatch.setattr(bwrap, "python_roots", lambda: ["/nonexistent-interpreter-prefix"])
    with pytest.raises(SandboxError, match="the bwrap sandbox did not start: .*nonexistent-interpreter-prefix"):
        run_student(harness, "print('never')", "bwrap")


def test_bwrap_is_probed_once():
    require_bwrap()
    assert bwrap.availability() is bwrap.availability()


# --- inputs and bounded readers ----------------------------------------------------------------


def test_bad_limits_and_file_names_fail_with_what_is_wrong(harness):
    with pytest.raises(ValidationError,
                       match=r"max_processes \(8\) leaves no room for 8 threads: it must be at least 11"):
        Limits(threads=8, max_processes=8)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Limits(wall_time=3)
    with pytest.raises(ValueError, match="'../escape.py' must be a relative path inside the work dir"):
        run_python(harness, files={"../escape.py": b""}, backend="none")


def test_the_channel_decoder_is_bounded_and_reassembles_split_lines():
    stream = b'{"kind": "a", "data": {"x": 1}}\n' + b"y" * 300 + b'\n{"kind": "b", "data": {}}\n{"kind": "c"'
    decoder = ChannelDecoder(max_bytes=len(stream), max_line_bytes=256)
    for i in range(len(stream)):  # one byte at a time: lines span reads
        decoder.feed(stream[i:i + 1])
    decoder.finish()
    assert [(m.kind, m.data) for m in decoder.messages] == [("a", {"x": 1}), ("b", {})]
    assert decoder.problems == [
        "line 2: longer than 256 bytes; skipped",
        "line 4: not JSON (Expecting ',' delimiter: line 1 column 13 (char 12))",
    ]

    flooded = ChannelDecoder(max_bytes=1024, max_line_bytes=256)
    flooded.feed(b"junk\n" * 1000)
    flooded.finish()
    assert len(flooded.problems) == 22
    assert flooded.problems[0] == "line 1: not JSON (Expecting value: line 1 column 1 (char 0))"
    assert flooded.problems[-2:] == [  # 1024 bytes: 204 whole lines and a cut-off fifth "junk"
        "... and 185 more problems", "the channel carried 5000 bytes; only the first 1024 were read",
    ]


def test_the_tail_buffer_keeps_the_last_bytes_and_counts_them_all():
    tail = TailBuffer(keep=10)
    for _ in range(1000):
        tail.feed(b"0123456789abc")
    assert tail.total == 13_000 and tail.text() == "3456789abc"


def test_gpu_runs_see_the_nvidia_device_nodes_and_others_do_not(monkeypatch, tmp_path):
    monkeypatch.setattr(bwrap.glob, "glob", lambda pattern: ["/dev/nvidia0", "/dev/nvidiactl"] if pattern == "/dev/nvidia*" else [])

    def command(gpu: bool) -> str:
        return " ".join(bwrap.command("bwrap", ["python"], workdir=tmp_path, read_only={}, env={},
                                      limits=Limits(gpu=gpu), as_root=False))

    assert "--dev-bind /dev/nvidia0 /dev/nvidia0 --dev-bind /dev/nvidiactl /dev/nvidiactl" in command(True)
    assert "--dev-bind" not in command(False)
