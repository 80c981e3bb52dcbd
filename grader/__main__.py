"""The `grader` command (and `python -m grader`): Ctrl-C or SIGTERM while grader.cli is still being
imported, which takes seconds, ends with exit 130 and nothing graded.

Python's KeyboardInterrupt cannot do that during the import: torch._C's initialization imports numpy
and clears any exception that import raises (PyErr_Clear() in validate_numpy_for_dlpack_deleter_bug),
so a Ctrl-C arriving while numpy loads there is discarded and the whole batch is graded (anywhere else
in the imports it ends grader with a traceback instead); so until the import is done this module,
standard library only, just records the signals.
"""

import signal
import sys

EXIT_INTERRUPTED = 130  # grader.cli.EXIT_INTERRUPTED


def main() -> int:
    caught: list[int] = []

    def hold(signum: int, frame: object) -> None:
        caught.append(signum)

    try:
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig, handler in previous.items():
            if handler is not signal.SIG_IGN:  # one ignored by whoever started grader (nohup, `cmd &`) stays so
                signal.signal(sig, hold)
        try:
            from grader import cli
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if caught:
            raise KeyboardInterrupt
        code = cli.main()
    except KeyboardInterrupt:  # one cli.main() does not handle: before it runs, or while it parses the command line
        sys.stderr.write("interrupted\n")
        code = EXIT_INTERRUPTED
    if code == EXIT_INTERRUPTED:
        _handled_interrupt()
    return code


def _handled_interrupt() -> None:
    """Exit with 130, as said, not by SIGINT: CPython marks a KeyboardInterrupt "unhandled" when it
    leaves code an extension runs with PyRun_String (numpy's and torch's imports do, and grader imports
    them lazily), although grader caught it, and then ends the process with SIGINT (-2) at exit. A
    second Ctrl-C during the exit is ignored too."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    try:
        import ctypes

        ctypes.c_int.in_dll(ctypes.pythonapi, "_Py_UnhandledKeyboardInterrupt").value = 0
    except (ImportError, ValueError, AttributeError):  # another interpreter: nothing to undo
        pass


if __name__ == "__main__":
    sys.exit(main())
