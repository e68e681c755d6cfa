"""What a per-command write rule of :mod:`mlgate.lock.shell.analyze` is given, and its helpers.

Standard library only (the hook path imports it). :class:`Ctx` is one simple command as a rule
sees it (its directory, arguments, environment, stdin); ``Ctx.write``/``Ctx.unknown`` report to
the analysis running it. :func:`operands` splits arguments into operands and options;
:func:`join_path` reads a path against a directory; :func:`read_text` reads a patch or stdin
file (at most ``MAX_PATCH_BYTES``).
"""
from __future__ import annotations

import os

from mlgate.record import record

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any, Protocol

    from mlgate.lock.shell.lexer import Word

    class Analyzer(Protocol):
        """What a write rule reports to: the running analysis
        (:class:`mlgate.lock.shell.analyze.Analyzer`), seen only through these methods so
        that this module does not import the one that imports it."""

        def run(self, text: str, state: Any, depth: int, pipe_in: bool = False) -> None: ...
        def unknown(self, cwd: Any, why: str) -> None: ...
        def write(self, word: Word | str, cwd: str, what: str = "") -> None: ...
        def refuse(self, why: str) -> None: ...
        def remove(self, word: Word | str, cwd: str, what: str) -> None: ...
        def writes_operands(self, words: list[Word]) -> bool: ...

MAX_PATCH_BYTES = 8 * 1024 * 1024
# the working directory when the analysis cannot know it: a relative path joined to it stays
# marked, and is reported as a write that cannot be placed
UNKNOWN_DIR = "/\0mlgate-unknown-directory"


@record
class Ctx:
    """One simple command as a write rule sees it; reports go to the analysis ``an``."""

    an: Analyzer
    cwd: str
    depth: int
    args: list[Word]
    env: dict[str, str]
    xargs: bool  # run by xargs/find -exec: operands come from elsewhere
    stdin_text: str | None
    stdin_file: str | None
    name: str = ""  # the command's name (after wrappers)
    pipe_in: bool = False  # stdin is the output of another command
    stdin_known: bool = True  # stdin_text/stdin_file is what the command reads
    state: Any = None  # the analysis' shell state (for nested analyses)
    cwds: Any = None  # every candidate working directory (None: unknown)

    def write(self, word: Word | str, what: str) -> None:
        self.an.write(word, self.cwd, what)

    def unknown(self, why: str) -> None:
        self.an.unknown(self.cwd, why)

    def remove(self, word: Word | str, what: str) -> None:
        """A removal or move-away of ``word`` (the lock's anchors are refused outright)."""
        self.an.remove(word, self.cwd, what)

    def refuse(self, why: str) -> None:
        self.an.refuse(why)

    def run(self, text: str, pipe_in: bool = False) -> None:
        """Analyse ``text`` as commands run from here (``bash -c``, ``eval``)."""
        self.an.run(text, self.state if self.state is not None else self.cwd, self.depth + 1,
                    pipe_in)

    def stdin(self) -> str | None:
        """The text the command reads on stdin, when it is known (a heredoc, a here-string,
        a file given with ``<``); ``None`` otherwise."""
        if not self.stdin_known or self.pipe_in:
            return None
        if self.stdin_text is not None:
            return self.stdin_text
        if self.stdin_file is not None:
            return read_text(join_path(self.cwd, self.stdin_file))
        return None


def join_path(cwd: str, value: str) -> str:
    """``value`` (``~`` expanded) read against ``cwd``, normalised (symlinks not resolved).
    Against :data:`UNKNOWN_DIR` a relative path stays marked as unknown."""
    value = os.path.expanduser(value)
    if os.path.isabs(value):
        return os.path.normpath(value)
    if cwd == UNKNOWN_DIR or cwd.startswith(UNKNOWN_DIR + "/"):
        return cwd + "/" + value
    return os.path.normpath(os.path.join(cwd, value))


def read_text(path: str) -> str | None:
    """The text of ``path``; ``None`` when it cannot be read or exceeds ``MAX_PATCH_BYTES``."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_PATCH_BYTES + 1)
    except OSError:
        return None
    if len(data) > MAX_PATCH_BYTES:
        return None
    return data.decode("utf-8", "replace")


def operands(args: list[Word], short_arg: str = "", long_arg: tuple[str, ...] = ()
             ) -> tuple[list[Word], dict[str, str | bool]]:
    """Split ``args`` into operands and options. ``short_arg``: short options that take a
    value; ``long_arg``: long options that take one (``--x v`` or ``--x=v``)."""
    ops: list[Word] = []
    opts: dict[str, str | bool] = {}
    i = 0
    while i < len(args):
        v = args[i].value
        if v == "--":
            ops += args[i + 1:]
            break
        if v.startswith("--") and len(v) > 2:
            key, eq, val = v.partition("=")
            if eq:
                opts[key] = val
            elif key in long_arg and i + 1 < len(args):
                opts[key] = args[i + 1].value
                i += 1
            else:
                opts[key] = True
        elif v.startswith("-") and len(v) > 1 and not args[i].dynamic:
            j = 1
            while j < len(v):
                ch = v[j]
                if ch in short_arg:
                    if j + 1 < len(v):
                        opts["-" + ch] = v[j + 1:]
                    elif i + 1 < len(args):
                        opts["-" + ch] = args[i + 1].value
                        i += 1
                    else:
                        opts["-" + ch] = ""
                    break
                opts["-" + ch] = True
                j += 1
        else:
            ops.append(args[i])
        i += 1
    return ops, opts

