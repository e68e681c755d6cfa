"""Which files a shell command writes: the Bash half of the agent hooks.

Standard library only (the hook path imports it). ``analyze(command, cwd)`` returns every
path the command may write, as absolute paths (not resolved; the lock decision resolves
symlinks), plus *refusals*: things refused whatever the stage (``git commit --no-verify``).

How it reads a command (a bash subset, on purpose conservative):

* a small lexer (``shlex`` cannot do heredocs, ``$(...)`` nesting or newlines as separators)
  splits the text into simple commands at ``;`` ``&&`` ``||`` ``|`` ``&`` and newlines, keeps
  quoting, reads heredoc bodies, and collects the text of ``$(...)``, backticks and ``<(...)``
  / ``>(...)``, which are analysed as commands of their own;
* ``cd``/``pushd``/``popd`` and ``git -C`` move the directory later relative paths are read
  against (a ``( ... )`` subshell restores it);
* a write is a redirection to a file (``>``, ``>>``, ``>|``, ``&>``, ``N>``, ``<>``) or a
  command known to write its operands (``tee``, ``sed -i``, ``perl -i``, ``cp``, ``mv`` (both
  sides), ``rm``, ``touch``, ``truncate``, ``dd of=``, ``ln``, ``mkdir``, ``chmod`` …), a patch
  (``git apply``, ``patch``, ``apply_patch``: the files it names when it can be read), a git
  command that rewrites the worktree (``checkout -- F``, ``restore F``, ``reset --hard``,
  ``stash``, ``merge`` …), or Python (``python -c``, ``python - <<EOF``) that opens files for
  writing, ``write_text``, ``shutil.copy`` and friends;
* a write whose target cannot be known (``> $F``, ``xargs rm``, ``find -delete``, ``git
  merge``) is reported as a write to the command's current directory;
* ``bash -c``, ``sh -c``, ``eval`` and wrappers (``sudo``, ``env``, ``timeout``, ``nohup``,
  ``uv run`` …) are looked through.

Read-only commands (``ls``, ``cat f``, ``grep``, ``pytest``, ``python train.py``, ``git
status``) write nothing. A script the command runs is not read: the commit hook is the
backstop for what a script changes.

The parts: :mod:`~mlgate.lock.shell.lexer` (tokens and simple commands),
:mod:`~mlgate.lock.shell.context` (what a write rule is given, option parsing),
:mod:`~mlgate.lock.shell.writes` (the per-command write rules and their table),
:mod:`~mlgate.lock.shell.gitcmd` (``git``), :mod:`~mlgate.lock.shell.pycode` (inline Python). This
module walks the commands: redirections, ``cd``, wrappers, and which rule reads each command.
"""
from __future__ import annotations

import os
import re
from mlgate.lock.shell.context import Ctx, join_path
from mlgate.lock.shell.lexer import Command, Op, Word, split_commands
from mlgate.lock.shell.writes import HANDLERS, handle_python, handle_shell
from mlgate.lock.shell.pycode import PythonWrites, python_writes
from mlgate.record import field, record

__all__ = ["MAX_DEPTH", "BashAnalysis", "Command", "Op", "PythonWrites", "Word", "analyze",
           "python_writes", "split_commands"]

MAX_DEPTH = 8  # nesting of bash -c / eval / $(...) analysed before giving up (fail closed)

_SAFE_DEVICES = ("/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/zero")
_WRITE_REDIRS = {">", ">>", ">|", "&>", "&>>", "<>"}
_RESERVED = {"!", "{", "}", "then", "do", "else", "elif", "if", "while", "until", "time",
             "fi", "done", "esac", "in"}
_ASSIGN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?\+?=")
_PYTHON_RE = re.compile(r"^(python|pypy)(\d+(\.\d+)?)?$")
_SHELLS = {"bash", "sh", "zsh", "dash", "ksh", "ash"}


@record
class BashAnalysis:
    """What a command writes. ``writes`` are absolute paths (``unknown`` ones are the command's
    directory, standing for "somewhere here"); ``refusals`` are refused whatever the stage."""

    writes: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # descriptions of unknown targets
    refusals: list[str] = field(default_factory=list)

    def add(self, path: str) -> None:
        if path not in self.writes:
            self.writes.append(path)


def analyze(command: str, cwd: str | os.PathLike[str]) -> BashAnalysis:
    """Every file ``command`` (run in ``cwd``) may write, and what is refused outright."""
    result = BashAnalysis()
    Analyzer(result).run(command, os.fspath(cwd), 0)
    return result


class Analyzer:
    """Walks the simple commands of a text into a :class:`BashAnalysis`; the write rules
    report through :class:`~mlgate.lock.shell.context.Ctx` to ``write``/``unknown``."""

    def __init__(self, result: BashAnalysis) -> None:
        self.r = result

    # entry ---------------------------------------------------------------------------
    def run(self, text: str, cwd: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            self.unknown(cwd, "commands nested too deeply to read")
            return
        stack: list[str] = []
        pushd: list[str] = []
        for item in split_commands(text):
            if item == "push":
                stack.append(cwd)
                continue
            if item == "pop":
                cwd = stack.pop() if stack else cwd
                continue
            assert isinstance(item, Command)
            cwd = self.command(item, cwd, depth, pushd)

    # helpers -------------------------------------------------------------------------
    def unknown(self, cwd: str, why: str) -> None:
        self.r.add(cwd)
        self.r.unknown.append(why)

    def refuse(self, why: str) -> None:
        """Refuse the command whatever the stage (``git commit --no-verify``)."""
        if why not in self.r.refusals:
            self.r.refusals.append(why)

    def write(self, word: Word | str, cwd: str, what: str = "") -> None:
        """Record a write to ``word`` (relative to ``cwd``)."""
        value = word if isinstance(word, str) else word.value
        dynamic = False if isinstance(word, str) else word.dynamic
        if dynamic:
            value = _expand_simple(value, cwd)
            if value is None:
                shown = word if isinstance(word, str) else word.value
                self.unknown(cwd, f"cannot tell which file {what or 'the command'} writes "
                                  f"({shown!r})")
                return
        if not value:
            return
        if value in _SAFE_DEVICES or value.startswith("/dev/fd/") or value == "-":
            return
        self.r.add(join_path(cwd, value))

    def _subs(self, words: list[Word], cwd: str, depth: int) -> None:
        for w in words:
            for sub in w.subs:
                self.run(sub, cwd, depth + 1)

    # one simple command --------------------------------------------------------------
    def command(self, cmd: Command, cwd: str, depth: int, pushd: list[str]) -> str:
        """Analyse one simple command; returns the directory after it (``cd``)."""
        self._subs(cmd.words, cwd, depth)
        self._subs([t for _, t in cmd.redirs if t is not None], cwd, depth)
        stdin_text: str | None = None
        stdin_file: str | None = None
        for op, target in cmd.redirs:
            if op.text in ("<<", "<<-"):
                stdin_text = op.body or ""
            elif op.text == "<<<" and target is not None:
                stdin_text = target.value
            elif op.text == "<" and target is not None:
                stdin_file = target.value if not target.dynamic else None
            elif op.text in _WRITE_REDIRS and target is not None:
                self.write(target, cwd, f"the redirection {op.text}")
            elif op.text == ">&" and target is not None:
                if not (target.value.isdigit() or target.value == "-"):
                    self.write(target, cwd, "the redirection >&")
            elif op.text in _WRITE_REDIRS:
                self.unknown(cwd, f"redirection {op.text} without a target")
        words = list(cmd.words)
        env: dict[str, str] = {}
        while words and (_ASSIGN_RE.match(words[0].value) or words[0].value in _RESERVED):
            w = words.pop(0)
            if "=" in w.value and w.value not in _RESERVED:
                key, _, val = w.value.partition("=")
                env[key.rstrip("+")] = val
        if not words:
            return cwd
        words, env, xargs = _unwrap(words, env)
        if not words:
            return cwd
        name = os.path.basename(words[0].value)
        args = words[1:]
        ctx = Ctx(self, cwd, depth, args, env, xargs, stdin_text, stdin_file)
        if name in ("cd", "pushd"):
            if cmd.piped or xargs:
                return cwd
            target = [a for a in args if not a.value.startswith("-") or a.value == "-"]
            if not target:
                new = os.path.expanduser("~") if name == "cd" else cwd
            elif target[0].dynamic or target[0].value == "-":
                return cwd
            else:
                new = join_path(cwd, os.path.expanduser(target[0].value))
            if name == "pushd":
                pushd.append(cwd)
            return new
        if name == "popd":
            return pushd.pop() if pushd else cwd
        handler = HANDLERS.get(name)
        if handler is None and _PYTHON_RE.match(name):
            handler = handle_python
        if handler is None and name in _SHELLS:
            handler = handle_shell
        if handler is not None:
            handler(ctx)
        return cwd

    @staticmethod
    def writes_operands(words: list[Word]) -> bool:
        """Would this command (run by find -exec / xargs) write the operands it is given?"""
        probe = BashAnalysis()
        an = Analyzer(probe)
        words, env, _ = _unwrap(list(words), {})
        if not words:
            return False
        name = os.path.basename(words[0].value)
        handler = HANDLERS.get(name) or (handle_python if _PYTHON_RE.match(name) else None)
        if handler is None:
            return False
        ctx = Ctx(an, "/", 0, words[1:] + [Word("{}")], env, True, None, None)
        handler(ctx)
        return bool(probe.writes)


def _expand_simple(value: str, cwd: str) -> str | None:
    """Expand the variables the hook can know ($HOME, $PWD, $TMPDIR); ``None`` otherwise."""
    known = {"HOME": os.path.expanduser("~"), "PWD": cwd,
             "TMPDIR": os.environ.get("TMPDIR", "/tmp")}

    def sub(m: re.Match[str]) -> str:
        key = m.group(1) or m.group(2)
        if key not in known:
            raise KeyError(key)
        return known[key]

    if "$(" in value or "`" in value or "<(" in value or ">(" in value:
        return None
    try:
        out = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", sub, value)
    except KeyError:
        return None
    return None if "$" in out else out


_WRAPPER_ARGS = {
    "sudo": {"-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U"},
    "env": {"-u", "-C", "-S"},
    "nice": {"-n"},
    "timeout": {"-s", "-k"},
    "stdbuf": {"-i", "-o", "-e"},
    "nohup": set(), "time": set(), "command": set(), "builtin": set(), "exec": {"-a"},
    "ionice": {"-c", "-n", "-p"}, "chrt": set(), "taskset": set(), "caffeinate": set(),
    "xargs": {"-a", "-d", "-E", "-e", "-I", "-i", "-L", "-l", "-n", "-P", "-s", "--delimiter",
              "--max-args", "--max-procs", "--arg-file", "--replace"},
}
_RUNNERS = {("uv", "run"), ("poetry", "run"), ("pipenv", "run"), ("pdm", "run"),
            ("hatch", "run"), ("conda", "run"), ("mamba", "run"), ("micromamba", "run"),
            ("pixi", "run")}


def _unwrap(words: list[Word], env: dict[str, str]) -> tuple[list[Word], dict[str, str], bool]:
    """Strip ``sudo``/``env``/``timeout``/``xargs``/``uv run`` … in front of the real command."""
    xargs = False
    for _ in range(16):
        if not words:
            break
        name = os.path.basename(words[0].value)
        if len(words) > 1 and (name, words[1].value) in _RUNNERS:
            rest = words[2:]
            while rest and rest[0].value.startswith("-"):
                flag = rest.pop(0).value
                if flag in ("-n", "--name", "-p", "--prefix", "--with", "--python", "-e",
                            "--env", "--project", "--directory") and rest:
                    rest.pop(0)
            words = rest
            continue
        if name not in _WRAPPER_ARGS:
            break
        if name == "command" and len(words) > 1 and words[1].value in ("-v", "-V"):
            return [], env, xargs
        takes = _WRAPPER_ARGS[name]
        rest = words[1:]
        if name == "xargs":
            xargs = True
        while rest:
            v = rest[0].value
            if name == "env" and "=" in v and not v.startswith("-"):
                key, _, val = v.partition("=")
                env[key] = val
                rest.pop(0)
                continue
            if not v.startswith("-") or v == "-":
                break
            rest.pop(0)
            if v == "--":
                break
            if v in takes and rest:
                rest.pop(0)
        if name == "timeout" and rest:
            rest.pop(0)  # the duration
        words = rest
    return words, env, xargs

