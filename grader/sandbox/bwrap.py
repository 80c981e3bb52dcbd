"""The bubblewrap backend: the command line that builds the sandbox, and a cached probe of
whether bwrap works on this machine.

Inside, the filesystem is a fresh, read-only tmpfs holding only: /usr (and the /bin, /lib...
links or folders beside it) and the dynamic linker's configuration, read-only; the interpreter's
prefixes (the venv and the Python installation), its site-packages folders and the `grader`
package folder, read-only, at their host paths; the harness, read-only, under /harness; the work
dir, writable, at /sandbox; fresh /proc, a read-only /dev, and size-limited /tmp and /dev/shm.
The rest of the host (rubrics, answer keys, other submissions, home folders) does not exist
there. The run gets new pid, network (loopback
only), IPC, UTS and, where possible, cgroup namespaces, a new session, no capabilities, and dies
with the grader.

Run by a normal user, bwrap also makes a user namespace (nested ones are disabled), so the
bootstrap's RLIMIT_NPROC counts only this run's processes. Run by root, it makes none: the
bootstrap keeps CAP_SETUID/CAP_SETGID just long enough to drop to a random unprivileged uid,
because the kernel does not apply RLIMIT_NPROC to uid 0.
"""

from __future__ import annotations

import functools
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import grader
from grader.sandbox.models import Limits

WORKDIR = "/sandbox"
HARNESS_DIR = "/harness"
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
LINKER_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d")
PROBE_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Availability:
    executable: str | None
    reason: str | None  # why bwrap cannot be used here; None when it can

    @property
    def usable(self) -> bool:
        return self.executable is not None and self.reason is None


def python_roots() -> list[str]:
    """The interpreter's prefixes, its site-packages folders (a .pth file may add one outside
    them) and the grader package's folder, minus those inside another. Other sys.path entries,
    such as the current folder or a source checkout, stay invisible."""
    candidates = {sys.base_prefix, sys.prefix, sys.base_exec_prefix, sys.exec_prefix, str(Path(grader.__file__).parent)}
    candidates |= {entry for entry in sys.path if Path(entry).name in ("site-packages", "dist-packages")}
    roots = sorted(candidates, key=lambda path: len(PurePosixPath(path).parts))
    kept: list[str] = []
    for root in roots:
        if not any(_inside(root, other) for other in [*kept, *SYSTEM_PATHS]):
            kept.append(root)
    return kept


def _inside(path: str, folder: str) -> bool:
    return PurePosixPath(path).is_relative_to(folder)


def _folders_for(mount_points: list[str]) -> list[str]:
    """`--perms 0755 --dir` for each missing ancestor of the mount points: bwrap would otherwise
    create them 0700, unreadable once the bootstrap has dropped to another uid."""
    args: list[str] = []
    made: set[str] = set()
    for point in mount_points:
        for ancestor in reversed(PurePosixPath(point).parents[:-1]):  # without "/"
            name = str(ancestor)
            if name not in made and not any(_inside(name, root) for root in mount_points if root != name):
                made.add(name)
                args += ["--perms", "0755", "--dir", name]
    return args


def command(
    executable: str,
    argv: list[str],
    *,
    workdir: Path,
    read_only: dict[str, Path],
    env: dict[str, str],
    limits: Limits,
    as_root: bool,
    as_pid_1: bool = False,
) -> list[str]:
    """The bwrap command line running `argv` in a sandbox; `read_only` maps sandbox paths to files.
    `as_pid_1`: `argv` is the pid namespace's init, which no process inside can kill or stop (the
    warm sandbox's zygote), instead of a child of bwrap's own init."""
    isolation = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    if as_root:
        privileges = ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        isolation += ["--unshare-user", "--disable-userns"]
        privileges = ["--cap-drop", "ALL"]
    system: list[str] = []
    for path in SYSTEM_PATHS:
        host = Path(path)
        if host.is_symlink():
            system += ["--symlink", str(host.readlink()), path]
        elif host.is_dir():
            system += ["--ro-bind", path, path]
    for path in LINKER_FILES:
        system += ["--ro-bind-try", path, path]
    roots = python_roots()
    tmp_size = str(limits.tmp_mib * 1024 * 1024)
    args = [executable, *isolation, "--die-with-parent", "--new-session", *privileges, "--hostname", "sandbox"]
    if as_pid_1:
        args.append("--as-pid-1")
    args += system + ["--proc", "/proc", "--dev", "/dev"]
    if limits.gpu:  # the driver's device nodes; the driver libraries are under /usr already
        for node in sorted(glob.glob("/dev/nvidia*")):
            args += ["--dev-bind", node, node]
    args += ["--perms", "1777", "--size", tmp_size, "--tmpfs", "/tmp"]
    args += ["--perms", "1777", "--size", tmp_size, "--tmpfs", "/dev/shm"]
    args += _folders_for([*roots, *read_only, WORKDIR])
    for root in roots:
        args += ["--ro-bind", root, root]
    for inside, host in read_only.items():
        args += ["--ro-bind", str(host), inside]
    args += ["--bind", str(workdir), WORKDIR, "--chdir", WORKDIR]
    args += ["--remount-ro", "/", "--remount-ro", "/dev", "--clearenv"]  # else writable, unbounded tmpfs
    for name, value in env.items():
        args += ["--setenv", name, value]
    return [*args, "--", *argv]


def probe(executable: str | None) -> Availability:
    """Start a sandbox that runs the interpreter once, with every option a real run uses."""
    if executable is None:
        return Availability(None, "bwrap was not found on PATH (install the bubblewrap package)")
    with tempfile.TemporaryDirectory(prefix="grader-bwrap-probe-") as workdir:
        argv = command(
            executable, [sys.executable, "-I", "-c", "pass"], workdir=Path(workdir), read_only={},
            env={"PATH": "/usr/bin:/bin"}, limits=Limits(), as_root=os.geteuid() == 0,
        )
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            return Availability(executable, f"a trial sandbox did not finish within {PROBE_TIMEOUT_SECONDS} s")
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()
        last_words = said[-1] if said else f"exit status {done.returncode}"
        return Availability(executable, f"a trial sandbox failed: {last_words}")
    return Availability(executable, None)


@functools.cache
def availability() -> Availability:
    """Whether bwrap works here, probed once per process."""
    return probe(shutil.which("bwrap"))
