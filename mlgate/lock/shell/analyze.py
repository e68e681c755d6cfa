"""Which files a shell command writes: the Bash half of the agent hooks.

Standard library only (the hook path imports it). ``analyze(command, cwd)`` returns

* ``writes``: every path the command may write, as absolute paths (not resolved: the lock
  decision resolves symlinks); a directory stands for "something inside it";
* ``unknown``: writes the analysis cannot place (a target that depends on a variable from
  the environment, a command substitution, an unknown working directory, ``xargs``,
  interpreter code that can write or spawn or cannot be analysed, an interactive shell).
  The hook denies these whenever a ticket is Locked: they are never judged against the
  command's directory;
* ``refusals``: what is refused whatever the stage: turning off or going around the commit
  hook, writes into ``.git/`` or into the agent settings that load the hooks, the actions a
  person must take (``mlgate verify`` …), and a command that cannot be read in time.

How it reads a command (a bash subset, on purpose conservative):

* :mod:`~mlgate.lock.shell.lexer` splits the text into simple commands and says which of them
  may not run (after ``&&``/``||``, inside ``if``/``case``/loops/functions) or may run many
  times; ``( ... )`` subshells restore the state;
* the working directory is a *set* of candidates: ``cd DIR`` to an existing directory, run for
  sure, replaces it; a ``cd`` that may not run, or to a directory that does not exist yet,
  adds to it; ``cd "$X"``, ``cd -`` with no known previous directory, a relative ``cd`` in a
  loop, ``CDPATH`` set to something unknown, or a compound that does not balance make it
  unknown;
* variables assigned in the command are known (``F=src/x.py; echo > "$F"``), as are ``HOME``,
  ``PWD`` and ``OLDPWD``; globs and braces are expanded against the file system
  (:mod:`~mlgate.lock.shell.expand`);
* the per-command rules (:mod:`~mlgate.lock.shell.writes`, :mod:`~mlgate.lock.shell.gitcmd`,
  :mod:`~mlgate.lock.shell.pycode`) say what each command writes; wrappers (``env``,
  ``sudo``, ``timeout``, ``nice``, ``xargs``, ``uv run`` …) are looked through to any depth;
  ``bash -c``, ``eval``, ``$(...)`` and ``<(...)`` are analysed as commands of their own.

Read-only commands (``ls``, ``cat f``, ``grep``, ``pytest``, ``python train.py``, ``git
status``) write nothing. A script the command runs is not read: the tripwire that compares the
worktree after each tool call, and the commit hooks, are the backstop for what a script does.

Everything is linear in the length of the command and runs under a time budget
(:data:`BUDGET_S`); past it the command is refused.
"""
from __future__ import annotations

import os
import re
from mlgate import constants as C
from mlgate.lock.shell import expand as X
from mlgate.lock.shell.context import UNKNOWN_DIR, Ctx, join_path
from mlgate.lock.shell.lexer import (Budget, BudgetExceeded, Command, Op, Word,
                                     heredoc_subs, split_commands)
from mlgate.lock.shell.writes import HANDLERS, INTERPRETERS, SHELLS, handle_python, \
    handle_shell, is_python
from mlgate.lock.shell.pycode import PythonWrites, python_writes
from mlgate.record import field, record
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["BUDGET_S", "MAX_DEPTH", "BashAnalysis", "Command", "Op", "PythonWrites", "Word",
           "analyze", "python_writes", "split_commands"]

MAX_DEPTH = 8  # nesting of bash -c / eval / $(...) analysed before giving up (fail closed)
BUDGET_S = 5.0  # seconds one analysis may take; the hooks' own timeout is 30 s
MAX_CWDS = 8  # candidate working directories kept before the directory counts as unknown

_SAFE_DEVICES = ("/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/zero")
_WRITE_REDIRS = {">", ">>", ">|", "&>", "&>>", "<>"}
_ASSIGN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?\+?=")
_DECLARERS = {"export", "declare", "typeset", "local", "readonly"}
_VAR_SETTERS = {"read", "mapfile", "readarray", "getopts", "let", "unset"}
# paths the agent must never write, whatever the stage: the lock's own controls
_CONTROL_PARTS = {".git": "a .git folder (git's hooks, config and refs)",
                  ".mlgate": "mlgate's own records"}
_CONTROL_TAILS = {
    (".claude", "settings.json"): "the Claude Code settings that load mlgate's hooks",
    (".claude", "settings.local.json"): "the Claude Code settings that load mlgate's hooks",
    (".codex", "hooks.json"): "the Codex hooks that run mlgate",
    (".codex", "config.toml"): "the Codex configuration (it can turn hooks off)",
    ("", ".mcp.json"): "the MCP server configuration of the agent",
    ("", ".gitconfig"): "git's global configuration (it can turn the commit hook off)",
    ("git", "config"): "git's configuration (it can turn the commit hook off)",
    ("", "config"): "git's configuration, if it is the .git folder's",
    ("", "packed-refs"): "git's refs (where the ticket branch points)",
    **{("hooks", h): "a git hook (the lock's commit check)"
       for h in ("pre-commit", "reference-transaction", "pre-merge-commit", "commit-msg",
                 "pre-commit.mlgate-chained", "post-checkout", "pre-push")},
}


@record
class BashAnalysis:
    """What a command writes. ``writes`` are absolute paths; ``unknown`` says why some
    writes cannot be placed; ``refusals`` are refused whatever the stage; ``places`` are the
    directories the command was in when a write could not be placed (to find the workspace)."""

    writes: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    places: list[str] = field(default_factory=list)

    def add(self, path: str) -> None:
        if path not in self.writes:
            self.writes.append(path)


def analyze(command: str, cwd: str | os.PathLike[str], *, budget_s: float = BUDGET_S,
            branch_prefix: str | Callable[[], str] = "codex/") -> BashAnalysis:
    """Every file ``command`` (run in ``cwd``) may write, what cannot be placed, and what is
    refused outright."""
    result = BashAnalysis()
    an = Analyzer(result, Budget(budget_s), branch_prefix)
    try:
        an.run(command, _State((os.path.normpath(os.fspath(cwd)),)), 0)
    except BudgetExceeded as exc:
        result.refusals.append(f"{exc} ({len(command):,} characters); mlgate refuses what it "
                               f"cannot read in time: split the command, or put long text in "
                               f"a file in the ticket folder")
    except RecursionError:
        result.refusals.append("the command nests too deeply to be read; mlgate refuses what "
                               "it cannot read")
    return result


class _State:
    """The shell's state as far as the analysis knows it."""

    __slots__ = ("cwd", "oldpwd", "env", "dirs", "odd_globs")

    def __init__(self, cwd: tuple[str, ...] | None, oldpwd: tuple[str, ...] | None = None,
                 env: dict[str, str | None] | None = None, dirs: list | None = None,
                 odd_globs: bool = False) -> None:
        self.cwd = cwd
        self.oldpwd = oldpwd
        self.env: dict[str, str | None] = env if env is not None else {}
        self.dirs: list[tuple[str, ...] | None] = dirs if dirs is not None else []
        self.odd_globs = odd_globs

    def copy(self) -> _State:
        return _State(self.cwd, self.oldpwd, dict(self.env), list(self.dirs), self.odd_globs)

    def lookup(self) -> dict[str, str | None]:
        """The variables a word may use: those set in the command, plus HOME/PWD/OLDPWD."""
        env: dict[str, str | None] = {"HOME": os.path.expanduser("~")}
        if self.cwd is not None and len(self.cwd) == 1:
            env["PWD"] = self.cwd[0]
        if self.oldpwd is not None and len(self.oldpwd) == 1:
            env["OLDPWD"] = self.oldpwd[0]
        env.update(self.env)
        return env


class Analyzer:
    """Walks the simple commands of a text into a :class:`BashAnalysis`; the write rules
    report through :class:`~mlgate.lock.shell.context.Ctx` to ``write``/``unknown``."""

    def __init__(self, result: BashAnalysis, budget: Budget | None = None,
                 branch_prefix: str | Callable[[], str] = "codex/") -> None:
        self.r = result
        self.budget = budget or Budget(BUDGET_S)
        self.branch_prefix = branch_prefix
        self.state = _State(None)

    # entry ---------------------------------------------------------------------------
    def run(self, text: str, state: _State | str | None, depth: int,
            pipe_in: bool = False) -> None:
        """Analyse ``text`` from ``state`` (a directory is accepted for the rules that only
        know one). The state is not changed: the caller's shell goes on where it was."""
        if not isinstance(state, _State):
            cwd = state if isinstance(state, str) and state != UNKNOWN_DIR else None
            state = _State((cwd,) if cwd else None, env=dict(self.state.env))
        else:
            state = state.copy()
        if depth > MAX_DEPTH:
            self.unknown(state.cwd, "commands nested too deeply to read")
            return
        saved_outer = self.state
        stack: list[_State] = []
        first = True
        # where the working directory may be when an and-or list stops early (`false && cd
        # /tmp; rm x`: rm runs in the old directory or in /tmp)
        alt: list[tuple[str, ...] | None] = []
        items = split_commands(text, self.budget)
        for k, item in enumerate(items):
            self.budget.check_now()
            if item == "push":
                stack.append(state.copy())
                continue
            if item == "pop":
                state = stack.pop() if stack else state
                continue
            if item == "confused":
                state.cwd = None  # the structure does not balance: the directory is unknown
                continue
            assert isinstance(item, Command)
            if first and pipe_in and not item.pipe_in:
                item.pipe_in = True
            first = False
            if item.after is not None:
                alt.append(state.cwd)  # the list may stop before this command
            self.state = state
            self.command(item, state, depth)
            nxt = items[k + 1] if k + 1 < len(items) else None
            if alt and not (isinstance(nxt, Command) and nxt.after is not None):
                for other in alt:  # the list ends here: it may have stopped anywhere
                    if state.cwd is None or other is None:
                        state.cwd = None
                        break
                    state.cwd = tuple(dict.fromkeys(state.cwd + other))
                alt = []
                if state.cwd is not None and len(state.cwd) > MAX_CWDS:
                    state.cwd = None
        self.state = saved_outer

    # reports -------------------------------------------------------------------------
    def unknown(self, cwd: tuple[str, ...] | str | None, why: str) -> None:
        if why not in self.r.unknown:
            self.r.unknown.append(why)
        places = (cwd,) if isinstance(cwd, str) else (cwd or ())
        for p in places:
            if p != UNKNOWN_DIR and p not in self.r.places:
                self.r.places.append(p)

    def refuse(self, why: str) -> None:
        """Refuse the command whatever the stage (``git commit --no-verify``)."""
        if why not in self.r.refusals:
            self.r.refusals.append(why)

    def write(self, word: Word | str, cwd: str, what: str = "") -> None:
        """Record a write to ``word`` (relative to ``cwd``, which may be ``UNKNOWN_DIR``)."""
        what = what or "the command"
        if isinstance(word, str):
            self._control(word, what)
            if word.startswith(UNKNOWN_DIR) or (cwd == UNKNOWN_DIR and not os.path.isabs(
                    os.path.expanduser(word))):
                self.unknown(None, f"cannot tell where {what} writes ({word.replace(UNKNOWN_DIR + '/', '')!r}: "
                                   f"the working directory is not known)")
                return
            if word in _SAFE_DEVICES or word.startswith("/dev/fd/") or word == "-" or not word:
                return
            self.r.add(join_path(cwd, word))
            return
        self._control(word.value, what)
        values = X.expand(word, self.state.lookup(), None if cwd == UNKNOWN_DIR else cwd,
                          not self.state.odd_globs)
        if values is None:
            self.unknown(None if cwd == UNKNOWN_DIR else cwd,
                         f"cannot tell which file {what} writes ({word.value!r})")
            return
        for value in values:
            self.write(value, cwd, what)

    def _control(self, value: str, what: str) -> None:
        """Refuse a write into the lock's own controls, whether or not the path is known."""
        parts = [p for p in value.replace("\\", "/").split("/") if p]
        for p in parts:
            if p in _CONTROL_PARTS:
                self.refuse(f"{what} writes into {p}/ ({value!r}): {_CONTROL_PARTS[p]} "
                            f"belongs to the person and to mlgate, never to an agent")
                return
        if "refs" in parts and ("heads" in parts or "remotes" in parts) and (
                "$" in value or "`" in value or value.startswith(UNKNOWN_DIR)):
            self.refuse(f"{what} writes {value!r}, which looks like git's refs (where the "
                        f"ticket branch points); agents never write there")
            return
        if "{}" in value:
            self.unknown(None, f"{what} writes files named by xargs/find ({value!r})")
        tail = tuple(parts[-2:]) if len(parts) >= 2 else ("",) + tuple(parts)
        unplaced = "$" in value or "`" in value or value.startswith(UNKNOWN_DIR)
        for (parent, name), why in _CONTROL_TAILS.items():
            if (parent in ("hooks", "git") or name in ("config", "packed-refs")) and \
                    not unplaced:
                continue  # a known path: the lock decision protects the real ones
            if tail and tail[-1] == name and (not parent or tail[0] == parent):
                self.refuse(f"{what} writes {value!r}: {why}; a person edits it (`mlgate hooks "
                            f"install` writes mlgate's entries)")
                return

    def remove(self, word: Word | str, cwd: str, what: str) -> None:
        """``rm``/``mv``/``rmdir`` … of ``word``: a write, and refused outright when it is a
        ticket's folder (or a folder holding it) or its state file: moving or deleting them
        would leave the worktree governed by no ticket."""
        values = [word] if isinstance(word, str) else (
            X.expand(word, self.state.lookup(), None if cwd == UNKNOWN_DIR else cwd,
                     not self.state.odd_globs) or [word.value])
        for value in values:
            parts = [p for p in join_path(cwd, value).split("/") if p and p != "."] \
                if not value.startswith(UNKNOWN_DIR) else value.split("/")
            tail = parts[-3:]
            anchor = (parts and parts[-1] == C.STATE_FILE) or (
                parts and parts[-1] == C.TICKETS_DIR) or (
                len(tail) >= 2 and tail[-2] == C.TICKETS_DIR and tail[-1] in
                (C.IN_PROGRESS, C.DONE)) or (
                len(tail) == 3 and tail[0] == C.TICKETS_DIR and tail[1] == C.IN_PROGRESS)
            if anchor:
                self.refuse(f"{what} moves or deletes {value!r}: a ticket's folder or state "
                            f"file is what tells mlgate the worktree is governed; `mlgate "
                            f"archive` moves a finished ticket")
                return
        self.write(word, cwd, what)

    def _subs(self, words: list[Word], state: _State, depth: int) -> None:
        for w in words:
            for sub in w.subs:
                self.run(sub, state, depth + 1, pipe_in=sub in w.out_subs)

    # one simple command --------------------------------------------------------------
    def command(self, cmd: Command, state: _State, depth: int) -> None:
        """Analyse one simple command, updating ``state`` (``cd``, assignments)."""
        self._subs(cmd.words, state, depth)
        self._subs([t for _, t in cmd.redirs if t is not None], state, depth)
        cwds: tuple[str, ...] = state.cwd if state.cwd is not None else (UNKNOWN_DIR,)
        stdin_text: str | None = None
        stdin_file: str | None = None
        stdin_known = not cmd.pipe_in
        for op, target in cmd.redirs:
            if op.text in ("<<", "<<-"):
                stdin_text = op.body or ""
                if not op.quoted_body and ("$(" in stdin_text or "`" in stdin_text):
                    stdin_known = False  # the shell runs these first: not the text written
                    for sub in heredoc_subs(stdin_text, self.budget):
                        self.run(sub, state, depth + 1)
            elif op.text == "<<<" and target is not None:
                stdin_text = target.value
                stdin_known = not target.dynamic
            elif op.text == "<" and target is not None and (op.fd in (None, "0")):
                plain = X.plain(target, state.lookup())
                stdin_file = plain
                stdin_known = plain is not None
            for cwd in cwds:
                if op.text in _WRITE_REDIRS and target is not None:
                    self.write(target, cwd, f"the redirection {op.text}")
                elif op.text == ">&" and target is not None:
                    if not (target.value.isdigit() or target.value == "-"):
                        self.write(target, cwd, "the redirection >&")
                elif op.text in _WRITE_REDIRS:
                    self.unknown(state.cwd, f"redirection {op.text} without a target")
        words = list(cmd.words)
        env: dict[str, str | None] = {}
        while words and _ASSIGN_RE.match(words[0].value):
            w = words.pop(0)
            key = w.value.partition("=")[0].rstrip("+").split("[")[0]
            val_word = _after_eq(w)
            env[key] = X.plain(val_word, state.lookup()) if val_word is not None else None
        if not words:
            # plain assignments: they last for the rest of the shell
            for key, val in env.items():
                state.env[key] = None if (cmd.cond or cmd.loop) else val
                if key == "CDPATH" and val is None:
                    state.env[key] = None
            self._git_env_check(env, state)
            return
        words, env, xargs, why = self._unwrap(words, env, state)
        if why:
            self.unknown(state.cwd, why)
        if not words:
            return
        head = words[0]
        name_text = X.plain(head, state.lookup())
        if name_text is None:
            self.unknown(state.cwd, f"runs a command whose name is not known ({head.value!r})")
            return
        name = os.path.basename(name_text)
        args = words[1:]
        if name in ("cd", "pushd", "popd"):
            self._cd(name, args, cmd, state, env)
            return
        if name in _DECLARERS or name in _VAR_SETTERS:
            self._assign(name, args, cmd, state)
        if name in ("eval", "source", ".", "set", "shopt", "alias"):
            if name == "shopt":
                state.odd_globs = True
            if name in ("eval", "source", "."):
                state.env = {k: None for k in state.env}  # anything may have changed
        if name == "printf" and any(a.value == "-v" for a in args):
            state.env = {k: None for k in state.env}
        full_env = {**{k: v for k, v in state.env.items()}, **env}
        self._git_env_check(env, state)
        handler = HANDLERS.get(name)
        if handler is None and is_python(name):
            handler = handle_python
        if handler is None and name in SHELLS:
            handler = handle_shell
        if handler is None and name in INTERPRETERS:
            handler = INTERPRETERS[name]
        if handler is None:
            return
        for cwd in cwds:
            ctx = Ctx(self, cwd, depth, args, full_env, xargs, stdin_text, stdin_file,
                      name=name, pipe_in=cmd.pipe_in, stdin_known=stdin_known,
                      state=state, cwds=state.cwd)
            handler(ctx)

    def writes_operands(self, words: list[Word]) -> bool | None:
        """Would this command (run by find -exec / xargs) write the operands it is given?
        ``None``: it runs code mlgate cannot read (a shell, an interpreter)."""
        probe = BashAnalysis()
        an = Analyzer(probe, self.budget, self.branch_prefix)
        words, env, _, why = an._unwrap(list(words), {}, _State(None))
        if why or not words:
            return None if why else False
        name = os.path.basename(words[0].value)
        if name in SHELLS or is_python(name) or name in INTERPRETERS:
            return None
        handler = HANDLERS.get(name)
        if handler is None:
            return False
        an.state = _State(("/",))
        ctx = Ctx(an, "/", 0, words[1:] + [Word.literal("{}")], env, True, None, None,
                  name=name, state=an.state, cwds=("/",))
        handler(ctx)
        for why in probe.refusals:
            self.refuse(why)
        return bool(probe.writes or probe.unknown)

    def _git_env_check(self, env: dict[str, str | None], state: _State) -> None:
        """Variables that point git elsewhere, set anywhere in the command."""
        for key in env:
            if key.startswith("GIT_CONFIG") or key in ("GIT_DIR", "GIT_WORK_TREE",
                                                         "GIT_INDEX_FILE", "GIT_COMMON_DIR",
                                                         "GIT_EXEC_PATH", "GIT_TEMPLATE_DIR",
                                                         "GIT_OBJECT_DIRECTORY"):
                state.env.setdefault("\0git-env", None)
                state.env["\0git-env:" + key] = env[key]

    # cd ------------------------------------------------------------------------------
    def _cd(self, name: str, args: list[Word], cmd: Command, state: _State,
            local: dict[str, str | None]) -> None:
        old = state.cwd
        cd_env = {**state.env, **local}
        if name == "popd":
            new = state.dirs.pop() if state.dirs else None
            self._set_cwd(state, new, old, cmd, exists=True)
            return
        targets = [a for a in args if not (a.value.startswith("-") and a.value != "-"
                                           and not a.dynamic)]
        if name == "pushd":
            state.dirs.append(old)
            if not targets:
                self._set_cwd(state, None, old, cmd, exists=True)
                return
        lookup = state.lookup()
        if not targets:
            new: tuple[str, ...] | None = (lookup["HOME"] or "/",)
            self._set_cwd(state, new, old, cmd, exists=True)
            return
        word = targets[0]
        if word.value == "-" and not word.dynamic:
            self._set_cwd(state, state.oldpwd, old, cmd, exists=True)
            return
        values = X.expand(word, lookup, old[0] if old and len(old) == 1 else None)
        if values is None or (old is None and not all(os.path.isabs(v) for v in values)):
            self._set_cwd(state, None, old, cmd, exists=False)
            return
        cdpath_known = "CDPATH" not in cd_env or cd_env["CDPATH"] is not None
        cdpath = (cd_env.get("CDPATH") or "") if cdpath_known else None
        found: list[str] = []
        for v in values:
            if os.path.isabs(v):
                found.append(os.path.normpath(v))
                continue
            relative_only = v.startswith(("./", "../")) or v in (".", "..")
            if not relative_only and cdpath is None:
                self._set_cwd(state, None, old, cmd, exists=False)
                return
            for base in old or ():
                if not relative_only and cdpath:
                    for entry in cdpath.split(":"):
                        cand = os.path.normpath(os.path.join(entry or base, v)
                                                if os.path.isabs(entry or base)
                                                else os.path.join(base, entry, v))
                        if os.path.isdir(cand) and cand not in found:
                            found.append(cand)
                cand = os.path.normpath(os.path.join(base, v))
                if cand not in found:
                    found.append(cand)
        if cmd.loop and any(not os.path.isabs(v) for v in values):
            self._set_cwd(state, None, old, cmd, exists=False)
            return
        exists = len(found) == 1 and os.path.isdir(found[0])
        self._set_cwd(state, tuple(found), old, cmd, exists)

    def _set_cwd(self, state: _State, new: tuple[str, ...] | None,
                 old: tuple[str, ...] | None, cmd: Command, exists: bool) -> None:
        certain = exists and not (cmd.cond or cmd.piped or cmd.background)
        if new is None:
            merged = None
        elif certain:
            merged = new
        elif old is None:
            merged = None
        else:
            merged = tuple(dict.fromkeys(old + new))
        if merged is not None and len(merged) > MAX_CWDS:
            merged = None
        if merged != old:
            state.oldpwd = old
        state.cwd = merged

    def _assign(self, name: str, args: list[Word], cmd: Command, state: _State) -> None:
        for a in args:
            if a.value.startswith("-") and not a.dynamic:
                continue
            if a.dynamic and not _ASSIGN_RE.match(a.value):
                state.env = {k: None for k in state.env}  # `export $X`: anything
                state.env["\0git-env"] = None
                continue
            key = a.value.partition("=")[0].rstrip("+").split("[")[0]
            if name in _VAR_SETTERS or "=" not in a.value:
                if name in _DECLARERS and "=" not in a.value:
                    continue  # `export X`: the value stays what it was
                state.env[key] = None
                continue
            val_word = _after_eq(a)
            val = X.plain(val_word, state.lookup()) if val_word is not None else None
            state.env[key] = None if (cmd.cond or cmd.loop) else val
            self._git_env_check({key: val}, state)

    # wrappers ------------------------------------------------------------------------
    def _unwrap(self, words: list[Word], env: dict[str, str | None], state: _State
                ) -> tuple[list[Word], dict[str, str | None], bool, str]:
        """Strip ``sudo``/``env``/``timeout``/``xargs``/``uv run`` … in front of the real
        command, to any depth. Returns the command, its environment, whether its operands
        come from xargs, and why it cannot be known (empty when it can)."""
        xargs = False
        lookup = state.lookup()
        while words:
            self.budget.check()
            name_text = X.plain(words[0], lookup)
            if name_text is None:
                return words, env, xargs, ""
            name = os.path.basename(name_text)
            if len(words) > 1 and (name, words[1].value) in _RUNNERS:
                rest = words[2:]
                while rest and rest[0].value.startswith("-"):
                    flag = rest.pop(0).value
                    if flag in ("-n", "--name", "-p", "--prefix", "--with", "--python", "-e",
                                "--env", "--project", "--directory", "--env-file",
                                "--package", "--from") and rest:
                        rest.pop(0)
                words = rest
                continue
            if name in ("busybox", "toybox") and len(words) > 1:
                words = words[1:]
                continue
            if name not in _WRAPPER_ARGS:
                return words, env, xargs, ""
            if name == "command" and len(words) > 1 and words[1].value in ("-v", "-V"):
                return [], env, xargs, ""
            takes = _WRAPPER_ARGS[name]
            rest = words[1:]
            if name in ("xargs", "parallel"):
                xargs = True
            while rest:
                v = rest[0].value
                if rest[0].dynamic and name != "xargs":
                    return [], env, xargs, f"cannot tell what `{name}` runs ({v!r})"
                if name == "env" and "=" in v and not v.startswith("-"):
                    key, _, _ = v.partition("=")
                    val_word = _after_eq(rest[0])
                    env[key] = X.plain(val_word, lookup) if val_word is not None else None
                    rest.pop(0)
                    continue
                if name == "env" and (v in ("-S", "--split-string") or v.startswith("-S")
                                      or v.startswith("--split-string=")):
                    # `env -S "cmd args"`: the string is split into words
                    text = v[2:] if v.startswith("-S") and len(v) > 2 else (
                        v.partition("=")[2] if "=" in v else (rest[1].value if len(rest) > 1
                                                               else ""))
                    tail = rest[1:] if (len(v) > 2 or "=" in v) else rest[2:]
                    from mlgate.lock.shell.lexer import _Lexer
                    extra = [t for t in _Lexer(text, self.budget).run() if isinstance(t, Word)]
                    rest = extra + tail
                    break
                if name in ("env", "sudo") and v in ("-C", "--chdir", "-D") and len(rest) > 1:
                    target = X.plain(rest[1], lookup)
                    return [], env, xargs, (f"`{name} {v}` runs the command in another "
                                            f"directory ({target or rest[1].value!r})")
                if name in ("env", "sudo") and (v.startswith("--chdir=") or
                                                v.startswith("-C") and len(v) > 2 and
                                                name == "env"):
                    return [], env, xargs, f"`{name} {v}` runs the command in another directory"
                if name == "flock" and not v.startswith("-"):
                    rest.pop(0)  # the lock file
                    continue
                if name in ("chroot", "taskset", "chrt") and not v.startswith("-"):
                    rest.pop(0)  # the root / the mask / the priority
                    if name == "chroot":
                        return [], env, xargs, "chroot runs a command in another root"
                    continue
                if name in ("faketime",) and not v.startswith("-"):
                    rest.pop(0)
                    continue
                if not v.startswith("-") or v == "-":
                    break
                rest.pop(0)
                if v == "--":
                    break
                if name in ("nice",) and v[1:].isdigit():
                    continue
                if v in takes and rest:
                    rest.pop(0)
            if name == "timeout" and rest:
                rest.pop(0)  # the duration
            words = rest
        return words, env, xargs, ""


def _after_eq(word: Word) -> Word | None:
    """The value part of an assignment word ``NAME=value``."""
    parts: list[tuple[str, str, bool]] = []
    seen = False
    for kind, text, quoted in word.parts:
        if seen:
            parts.append((kind, text, quoted))
            continue
        if kind != "lit":
            return None
        if "=" in text:
            seen = True
            rest = text.partition("=")[2]
            if rest:
                parts.append(("lit", rest, quoted))
    if not seen:
        return None
    if not parts:
        parts = [("lit", "", True)]
    value = "".join(t if k == "lit" else "$" for k, t, _ in parts)
    return Word(value, any(k != "lit" for k, _, _ in parts), parts=parts)


_WRAPPER_ARGS = {
    "sudo": {"-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U", "-T", "--user", "--group",
             "--host", "--prompt", "--role", "--type", "--other-user", "--close-from"},
    "doas": {"-u", "-C"},
    "env": {"-u", "--unset"},
    "nice": {"-n", "--adjustment"},
    "timeout": {"-s", "-k", "--signal", "--kill-after"},
    "stdbuf": {"-i", "-o", "-e"},
    "nohup": set(), "time": {"-f", "-o", "--format", "--output"}, "command": set(),
    "builtin": set(), "exec": {"-a"}, "setsid": set(), "unbuffer": set(), "catchsegv": set(),
    "ionice": {"-c", "-n", "-p", "--class", "--classdata"}, "chrt": set(), "taskset": set(),
    "caffeinate": set(), "flock": {"-w", "-E", "--timeout", "--conflict-exit-code"},
    "chroot": set(), "faketime": set(), "coproc": set(), "xvfb-run": {"-s", "-n", "-f"},
    "xargs": {"-a", "-d", "-E", "-e", "-I", "-i", "-L", "-l", "-n", "-P", "-s", "--delimiter",
              "--max-args", "--max-procs", "--arg-file", "--replace", "--max-lines",
              "--eof", "--max-chars", "--process-slot-var"},
    "parallel": {"-j", "-S", "--jobs", "-a", "--arg-file", "-d", "--delimiter", "-I", "-n",
                 "-N", "--results", "--joblog", "--tmpdir", "--workdir", "--wd"},
}
_RUNNERS = {("uv", "run"), ("poetry", "run"), ("pipenv", "run"), ("pdm", "run"),
            ("hatch", "run"), ("conda", "run"), ("mamba", "run"), ("micromamba", "run"),
            ("pixi", "run"), ("rye", "run"), ("uvx", "--from")}
