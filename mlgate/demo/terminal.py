"""Running a command at a real pseudo-terminal and answering its confirmation prompt, as the
person at the keyboard does: what the demo does for the human-only steps (it acts as the
person, openly), and what the tests use to drive :func:`mlgate.human.confirm`.

The child runs in its own session with the terminal as its controlling terminal
(``pty.fork``), so ``/dev/tty`` is that terminal; agent-client variables are removed from its
environment (the demo is the person here, not the agent that may have started it).
"""
from __future__ import annotations

import os
import select
import time
from collections.abc import Mapping, Sequence

from mlgate.human import AGENT_VARS

PROMPT = b"to confirm"


def run_in_terminal(argv: Sequence[str], answer: str | None, cwd: str | os.PathLike[str],
                    env: Mapping[str, str] | None = None, timeout: float = 300.0,
                    keep_agent_env: bool = False) -> tuple[int, str]:
    """Run ``argv`` with a pseudo-terminal as its controlling terminal; when it prints the
    confirmation prompt, type ``answer`` (``None``: answer nothing, close the terminal).
    Returns ``(exit code, everything it printed)``."""
    import pty

    child_env = dict(os.environ if env is None else env)
    if not keep_agent_env:
        for var in AGENT_VARS:
            child_env.pop(var, None)
    pid, fd = pty.fork()
    if pid == 0:  # the child: a new session, the terminal's slave side as its ctty
        try:
            os.chdir(cwd)
            os.execvpe(argv[0], list(argv), child_env)
        finally:
            os._exit(127)
    out = b""
    answered = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            if not answered and PROMPT in out:
                answered = True
                if answer is None:
                    break
                os.write(fd, answer.encode() + b"\n")
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                out += _drain(fd)
                return os.waitstatus_to_exitcode(status), _text(out)
        else:
            os.kill(pid, 9)
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), _text(out)


def _drain(fd: int) -> bytes:
    out = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if not ready:
            return out
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return out
        if not chunk:
            return out
        out += chunk


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace").replace("\r\n", "\n")
