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
"""
from __future__ import annotations

import os
import re
from mlgate.record import field, record
TYPE_CHECKING = False

if TYPE_CHECKING:
    import ast

MAX_DEPTH = 8  # nesting of bash -c / eval / $(...) analysed before giving up (fail closed)
MAX_PATCH_BYTES = 8 * 1024 * 1024

_SAFE_DEVICES = ("/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/zero")
_WRITE_REDIRS = {">", ">>", ">|", "&>", "&>>", "<>"}
_RESERVED = {"!", "{", "}", "then", "do", "else", "elif", "if", "while", "until", "time",
             "fi", "done", "esac", "in"}
_ASSIGN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?\+?=")
_PYTHON_RE = re.compile(r"^(python|pypy)(\d+(\.\d+)?)?$")
_SHELLS = {"bash", "sh", "zsh", "dash", "ksh", "ash"}


# -- lexer ---------------------------------------------------------------------------------


@record
class Word:
    value: str  # unquoted text; expansions are kept as written ($HOME, $(...))
    dynamic: bool = False  # holds an expansion the hook cannot evaluate
    subs: list[str] = field(default_factory=list)  # $(...), `...`, <(...), >(...) bodies


@record
class Op:
    text: str
    fd: str | None = None  # for redirections: the fd number written before the operator
    body: str | None = None  # heredoc body (for << and <<-)

    @property
    def is_redirect(self) -> bool:
        return self.text[0] in "<>" or self.text in ("&>", "&>>")


class _Lexer:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.tokens: list[Word | Op] = []
        self.pending: list[tuple[Op, Word | None, bool]] = []  # heredoc op, delimiter, strip tabs

    def run(self) -> list[Word | Op]:
        s = self.s
        n = len(s)
        while self.i < n:
            c = s[self.i]
            if c in " \t\r":
                self.i += 1
            elif c == "\\" and s.startswith("\\\n", self.i):
                self.i += 2
            elif c == "\n":
                self.tokens.append(Op("\n"))
                self.i += 1
                self._read_heredocs()
            elif c == "#":
                end = s.find("\n", self.i)
                self.i = n if end < 0 else end
            elif c in "<>" and s.startswith("(", self.i + 1):
                self._word()  # process substitution
            elif c in ";&|()<>":
                self._operator()
            else:
                self._word()
        self._read_heredocs()
        return self.tokens

    def _operator(self) -> None:
        s, i = self.s, self.i
        for op in (";;&", "&>>", "<<<", "<<-", ";;", ";&", "&&", "||", "|&", ">>", ">|", ">&",
                   "&>", "<<", "<>", "<&", ";", "&", "|", "(", ")", "<", ">"):
            if s.startswith(op, i):
                self.i += len(op)
                tok = Op(op)
                self.tokens.append(tok)
                if op in ("<<", "<<-"):
                    self.pending.append((tok, None, op == "<<-"))
                return
        self.i += 1  # unreachable: every metachar is listed

    def _word(self) -> None:
        s = self.s
        n = len(s)
        buf: list[str] = []
        word = Word("")
        start = self.i
        while self.i < n:
            c = s[self.i]
            if c in " \t\r\n;&|()":
                break
            if c in "<>":
                if s.startswith("(", self.i + 1):
                    end = _find_close(s, self.i + 2)
                    word.subs.append(s[self.i + 2:end])
                    word.dynamic = True
                    buf.append(s[self.i:end + 1])
                    self.i = end + 1
                    continue
                break
            if c == "\\":
                if s.startswith("\n", self.i + 1):
                    self.i += 2
                    continue
                buf.append(s[self.i + 1:self.i + 2])
                self.i += 2
            elif c == "'":
                end = s.find("'", self.i + 1)
                end = n if end < 0 else end
                buf.append(s[self.i + 1:end])
                self.i = end + 1
            elif c == '"':
                self.i += 1
                self._double_quoted(buf, word)
            elif c == "$":
                self._dollar(buf, word)
            elif c == "`":
                self._backticks(buf, word)
            else:
                buf.append(c)
                self.i += 1
        word.value = "".join(buf)
        nxt = s[self.i:self.i + 1]
        raw = s[start:self.i]
        if raw.isdigit() and nxt in ("<", ">"):
            self._operator()  # `2>file`: the digits are the redirected fd
            op = self.tokens[-1]
            if isinstance(op, Op):
                op.fd = raw
            return
        self.tokens.append(word)
        if self.pending and self.pending[-1][1] is None:
            tok, _, strip = self.pending[-1]
            if self.tokens[-2:-1] == [tok]:
                self.pending[-1] = (tok, word, strip)

    def _double_quoted(self, buf: list[str], word: Word) -> None:
        s = self.s
        n = len(s)
        while self.i < n:
            c = s[self.i]
            if c == '"':
                self.i += 1
                return
            if c == "\\" and self.i + 1 < n and s[self.i + 1] in '$`"\\\n':
                if s[self.i + 1] != "\n":
                    buf.append(s[self.i + 1])
                self.i += 2
            elif c == "$":
                self._dollar(buf, word)
            elif c == "`":
                self._backticks(buf, word)
            else:
                buf.append(c)
                self.i += 1

    def _backticks(self, buf: list[str], word: Word) -> None:
        """A `` `cmd` `` substitution (bare or inside double quotes): kept as a sub-command."""
        s, n = self.s, len(self.s)
        end = self.i + 1
        while end < n and s[end] != "`":
            end += 2 if s[end] == "\\" else 1
        word.subs.append(s[self.i + 1:end].replace("\\`", "`"))
        word.dynamic = True
        buf.append(s[self.i:end + 1])
        self.i = end + 1

    def _dollar(self, buf: list[str], word: Word) -> None:
        s = self.s
        i = self.i
        nxt = s[i + 1:i + 2]
        if nxt == "(":
            end = _find_close(s, i + 2)
            inner = s[i + 2:end]
            if not inner.startswith("("):  # $(( arithmetic )) runs no command
                word.subs.append(inner)
            word.dynamic = True
            buf.append(s[i:end + 1])
            self.i = end + 1
        elif nxt == "{":
            end = s.find("}", i + 2)
            end = len(s) if end < 0 else end
            word.dynamic = True
            buf.append(s[i:end + 1])
            self.i = end + 1
        elif nxt == "'":  # $'ANSI-C'
            end = i + 2
            while end < len(s) and s[end] != "'":
                end += 2 if s[end] == "\\" else 1
            body = s[i + 2:end]
            try:
                body = body.encode("latin-1", "backslashreplace").decode("unicode_escape")
            except UnicodeError:
                pass
            buf.append(body)
            self.i = end + 1
        elif nxt and (nxt.isalnum() or nxt in "_@*#?$!-"):
            m = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-])", s[i:])
            text = m.group(0) if m else "$"
            word.dynamic = True
            buf.append(text)
            self.i = i + len(text)
        else:
            buf.append("$")
            self.i = i + 1

    def _read_heredocs(self) -> None:
        """After a newline: the bodies of the heredocs opened on the line just ended."""
        if not self.pending:
            return
        s = self.s
        for tok, delim, strip in self.pending:
            delimiter = delim.value if delim is not None else ""
            lines: list[str] = []
            while self.i < len(s):
                end = s.find("\n", self.i)
                end = len(s) if end < 0 else end
                line = s[self.i:end]
                self.i = end + 1
                check = line.lstrip("\t") if strip else line
                if check.rstrip("\r") == delimiter:
                    break
                lines.append(check)
            tok.body = "\n".join(lines) + ("\n" if lines else "")
        self.pending = []


def _find_close(s: str, i: int) -> int:
    """Index of the ``)`` that closes a ``(`` just before ``i`` (quotes and nesting aware);
    ``len(s)`` when it never closes."""
    depth = 1
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == "'":
            end = s.find("'", i + 1)
            i = n if end < 0 else end + 1
            continue
        if c == '"':
            i += 1
            while i < n and s[i] != '"':
                i += 2 if s[i] == "\\" else 1
            i += 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return n


# -- simple commands ----------------------------------------------------------------------


@record
class Command:
    words: list[Word] = field(default_factory=list)
    redirs: list[tuple[Op, Word | None]] = field(default_factory=list)
    piped: bool = False  # part of a pipeline (a `cd` there does not last)


def split_commands(text: str) -> list[Command | str]:
    """Simple commands in order, with ``"push"``/``"pop"`` markers for ``( ... )`` subshells."""
    tokens = _Lexer(text).run()
    out: list[Command | str] = []
    cur = Command()
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if isinstance(tok, Op) and tok.is_redirect:
            target = tokens[i + 1] if i + 1 < len(tokens) and isinstance(tokens[i + 1], Word) \
                else None
            cur.redirs.append((tok, target))  # type: ignore[arg-type]
            i += 2 if target is not None else 1
            continue
        if isinstance(tok, Op):
            if cur.words or cur.redirs:
                out.append(cur)
            piped = tok.text in ("|", "|&")
            if piped and cur.words:
                cur.piped = True
            cur = Command(piped=piped)
            if tok.text == "(":
                out.append("push")
            elif tok.text == ")":
                out.append("pop")
            i += 1
            continue
        cur.words.append(tok)
        i += 1
    if cur.words or cur.redirs:
        out.append(cur)
    return out


# -- analysis -----------------------------------------------------------------------------


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
    _Analyzer(result).run(command, os.fspath(cwd), 0)
    return result


class _Analyzer:
    def __init__(self, result: BashAnalysis) -> None:
        self.r = result

    # entry ---------------------------------------------------------------------------
    def run(self, text: str, cwd: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            self._unknown(cwd, "commands nested too deeply to read")
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
    def _unknown(self, cwd: str, why: str) -> None:
        self.r.add(cwd)
        self.r.unknown.append(why)

    def _path(self, word: Word | str, cwd: str, what: str = "") -> None:
        """Record a write to ``word`` (relative to ``cwd``)."""
        value = word if isinstance(word, str) else word.value
        dynamic = False if isinstance(word, str) else word.dynamic
        if dynamic:
            value = _expand_simple(value, cwd)
            if value is None:
                shown = word if isinstance(word, str) else word.value
                self._unknown(cwd, f"cannot tell which file {what or 'the command'} writes "
                                   f"({shown!r})")
                return
        if not value:
            return
        if value in _SAFE_DEVICES or value.startswith("/dev/fd/") or value == "-":
            return
        self.r.add(_join(cwd, value))

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
                self._path(target, cwd, f"the redirection {op.text}")
            elif op.text == ">&" and target is not None:
                if not (target.value.isdigit() or target.value == "-"):
                    self._path(target, cwd, "the redirection >&")
            elif op.text in _WRITE_REDIRS:
                self._unknown(cwd, f"redirection {op.text} without a target")
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
        ctx = _Ctx(self, cwd, depth, args, env, xargs, stdin_text, stdin_file)
        if name in ("cd", "pushd"):
            if cmd.piped or xargs:
                return cwd
            target = [a for a in args if not a.value.startswith("-") or a.value == "-"]
            if not target:
                new = os.path.expanduser("~") if name == "cd" else cwd
            elif target[0].dynamic or target[0].value == "-":
                return cwd
            else:
                new = _join(cwd, os.path.expanduser(target[0].value))
            if name == "pushd":
                pushd.append(cwd)
            return new
        if name == "popd":
            return pushd.pop() if pushd else cwd
        handler = _HANDLERS.get(name)
        if handler is None and _PYTHON_RE.match(name):
            handler = _python
        if handler is None and name in _SHELLS:
            handler = _shell
        if handler is not None:
            handler(ctx)
        return cwd


@record
class _Ctx:
    an: _Analyzer
    cwd: str
    depth: int
    args: list[Word]
    env: dict[str, str]
    xargs: bool  # run by xargs/find -exec: operands come from elsewhere
    stdin_text: str | None
    stdin_file: str | None

    def write(self, word: Word | str, what: str) -> None:
        self.an._path(word, self.cwd, what)

    def unknown(self, why: str) -> None:
        self.an._unknown(self.cwd, why)

    def refuse(self, why: str) -> None:
        if why not in self.an.r.refusals:
            self.an.r.refusals.append(why)

    def stdin(self) -> str | None:
        if self.stdin_text is not None:
            return self.stdin_text
        if self.stdin_file is not None:
            return _read_text(_join(self.cwd, self.stdin_file))
        return None


def _join(cwd: str, value: str) -> str:
    value = os.path.expanduser(value)
    return os.path.normpath(value if os.path.isabs(value) else os.path.join(cwd, value))


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


def _read_text(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_PATCH_BYTES + 1)
    except OSError:
        return None
    if len(data) > MAX_PATCH_BYTES:
        return None
    return data.decode("utf-8", "replace")


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


def _operands(args: list[Word], short_arg: str = "", long_arg: tuple[str, ...] = ()
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


# -- per-command handlers -------------------------------------------------------------------


def _all_operands(short_arg: str = "", long_arg: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    def handler(ctx: _Ctx) -> None:
        name = "the command"
        ops, _ = _operands(ctx.args, short_arg, long_arg)
        if ctx.xargs or not ops:
            if ctx.xargs:
                ctx.unknown("operands come from xargs")
            return
        for w in ops:
            ctx.write(w, name)
    return handler


def _skip_first(short_arg: str = "", long_arg: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    """chmod/chown: the first operand is the mode/owner (unless --reference)."""
    def handler(ctx: _Ctx) -> None:
        ops, opts = _operands(ctx.args, short_arg, long_arg)
        if ctx.xargs:
            ctx.unknown("operands come from xargs")
            return
        start = 0 if "--reference" in opts else 1
        for w in ops[start:]:
            ctx.write(w, "the command")
    return handler


def _copy_like(move: bool, short_arg: str = "tS", long_arg: tuple[str, ...] = (
        "--target-directory", "--suffix")):  # type: ignore[no-untyped-def]
    def handler(ctx: _Ctx) -> None:
        ops, opts = _operands(ctx.args, short_arg, long_arg)
        target = opts.get("-t") or opts.get("--target-directory")
        if ctx.xargs:
            ctx.unknown("operands come from xargs")
            return
        if isinstance(target, str) and target:
            sources, dest = ops, Word(target)
        elif len(ops) >= 2:
            sources, dest = ops[:-1], ops[-1]
        elif len(ops) == 1 and not move:  # `ln -s target`: link in the current dir
            sources, dest = ops, Word(".")
        else:
            return
        if move:
            for w in sources:
                ctx.write(w, "mv")
        dest_path = None if dest.dynamic else _join(ctx.cwd, dest.value)
        into_dir = dest_path is not None and (
            os.path.isdir(dest_path) or dest.value.endswith("/") or len(sources) > 1
            or isinstance(target, str))
        if into_dir and dest_path is not None and "-T" not in opts:
            for src in sources:
                base = os.path.basename(src.value.rstrip("/"))
                if src.dynamic or not base:
                    ctx.write(dest, "the copy")
                else:
                    ctx.write(os.path.join(dest_path, base), "the copy")
        else:
            ctx.write(dest, "the copy")
    return handler


def _tee(ctx: _Ctx) -> None:
    ops, _ = _operands(ctx.args, "", ())
    for w in ops:
        ctx.write(w, "tee")


def _dd(ctx: _Ctx) -> None:
    for w in ctx.args:
        if w.value.startswith("of="):
            ctx.write(Word(w.value[3:], w.dynamic), "dd of=")


def _sed(ctx: _Ctx) -> None:
    in_place = False
    script_given = False
    files: list[Word] = []
    i = 0
    args = ctx.args
    while i < len(args):
        v = args[i].value
        if v == "--":
            files += args[i + 1:]
            break
        if v.startswith("--"):
            key = v.partition("=")[0]
            if key == "--in-place":
                in_place = True
            elif key in ("--expression", "--file"):
                script_given = True
                if "=" not in v:
                    i += 1
            elif key == "--line-length" and "=" not in v:
                i += 1
        elif v.startswith("-") and len(v) > 1:
            j = 1
            while j < len(v):
                ch = v[j]
                if ch == "i":
                    in_place = True
                    break  # the rest is the backup suffix
                if ch in "efl":
                    script_given = script_given or ch in "ef"
                    if j + 1 == len(v):
                        i += 1
                    break
                j += 1
        else:
            files.append(args[i])
        i += 1
    if not in_place:
        return
    if not script_given and files:
        files = files[1:]
    if ctx.xargs or not files:
        ctx.unknown("sed -i on files given elsewhere")
        return
    for w in files:
        ctx.write(w, "sed -i")


def _perl(ctx: _Ctx) -> None:
    in_place = False
    code: str | None = None
    files: list[Word] = []
    i = 0
    args = ctx.args
    while i < len(args):
        v = args[i].value
        if v == "--":
            files += args[i + 1:]
            break
        if v.startswith("-") and len(v) > 1 and not v.startswith("--"):
            j = 1
            while j < len(v):
                ch = v[j]
                if ch == "i":
                    in_place = True
                    break
                if ch in "eE":
                    code = v[j + 1:] if j + 1 < len(v) else (
                        args[i + 1].value if i + 1 < len(args) else "")
                    if j + 1 == len(v):
                        i += 1
                    break
                if ch in "IMmdxlC0":
                    break  # these take an attached value
                j += 1
        else:
            files.append(args[i])
        i += 1
    if code is None and files:
        files = files[1:]  # the first operand is the script
    if in_place:
        if ctx.xargs or not files:
            ctx.unknown("perl -i on files given elsewhere")
        for w in files:
            ctx.write(w, "perl -i")
    elif code is not None and re.search(r"\bopen\s*\(?[^;]*['\"]\s*\+?[>]|\bunlink\b|\brename\b",
                                        code):
        ctx.unknown("perl -e code that opens files for writing")


def _truncate(ctx: _Ctx) -> None:
    _all_operands("sr", ("--size", "--reference"))(ctx)


def _curl(ctx: _Ctx) -> None:
    _, opts = _operands(ctx.args, "oOdHXuAeErTwKxbcFhmyYzCQ", (
        "--output", "--data", "--header", "--request", "--user", "--config", "--cookie",
        "--cookie-jar", "--dump-header", "--trace", "--trace-ascii", "--url"))
    for key in ("-o", "--output", "--cookie-jar", "--dump-header", "-c", "-D",
                "--trace", "--trace-ascii"):
        val = opts.get(key)
        if isinstance(val, str) and val:
            ctx.write(val, "curl")
    if opts.get("-O") is True or opts.get("--remote-name") or opts.get("--remote-name-all"):
        ctx.unknown("curl -O writes a file named by the server")


def _wget(ctx: _Ctx) -> None:
    _, opts = _operands(ctx.args, "OPoaiUtTwe", ("--output-document", "--directory-prefix",
                                                  "--output-file", "--append-output"))
    out = opts.get("-O") or opts.get("--output-document")
    if isinstance(out, str) and out:
        ctx.write(out, "wget -O")
        return
    prefix = opts.get("-P") or opts.get("--directory-prefix")
    if isinstance(prefix, str) and prefix:
        ctx.write(prefix, "wget -P")
        return
    ctx.unknown("wget writes a file named by the server")


def _tar(ctx: _Ctx) -> None:
    args = list(ctx.args)
    if args and not args[0].value.startswith("-"):  # old style: `tar xzf file`
        args[0] = Word("-" + args[0].value)
    ops, opts = _operands(args, "fCbHKLNTVXg", ("--file", "--directory", "--exclude"))
    extract = any(k in opts for k in ("-x", "--extract", "--get"))
    create = any(k in opts for k in ("-c", "-r", "-u", "-A", "--create", "--append",
                                     "--update", "--concatenate", "--delete"))
    if extract:
        target = opts.get("-C") or opts.get("--directory")
        if isinstance(target, str) and target:
            ctx.write(target, "tar -x")
        else:
            ctx.unknown("tar -x extracts into the current directory")
    if create:
        archive = opts.get("-f") or opts.get("--file")
        if isinstance(archive, str) and archive and archive != "-":
            ctx.write(archive, "tar")


def _unzip(ctx: _Ctx) -> None:
    _, opts = _operands(ctx.args, "dxP", ())
    if "-l" in opts or "-t" in opts or "-p" in opts or "-Z" in opts:
        return
    target = opts.get("-d")
    if isinstance(target, str) and target:
        ctx.write(target, "unzip -d")
    else:
        ctx.unknown("unzip extracts into the current directory")


def _compress(ctx: _Ctx) -> None:
    ops, opts = _operands(ctx.args, "S", ("--suffix",))
    if any(k in opts for k in ("-c", "--stdout", "-l", "--list", "-t", "--test")):
        return
    for w in ops:
        ctx.write(w, "compression in place")
        if not w.dynamic:
            ctx.write(w.value + ".gz", "compression in place")


def _sort(ctx: _Ctx) -> None:
    _, opts = _operands(ctx.args, "okStT", ("--output", "--key", "--field-separator",
                                            "--temporary-directory", "--buffer-size"))
    out = opts.get("-o") or opts.get("--output")
    if isinstance(out, str) and out:
        ctx.write(out, "sort -o")


def _rsync(ctx: _Ctx) -> None:
    ops, _ = _operands(ctx.args, "efT", ("--rsh", "--filter", "--exclude", "--include",
                                         "--temp-dir", "--partial-dir", "--log-file"))
    if len(ops) >= 2 and ":" not in ops[-1].value.split("/")[0]:
        ctx.write(ops[-1], "rsync")


def _find(ctx: _Ctx) -> None:
    roots: list[Word] = []
    args = ctx.args
    i = 0
    while i < len(args) and not (args[i].value.startswith("-") or args[i].value in ("(", "!")):
        roots.append(args[i])
        i += 1
    writes = False
    while i < len(args):
        v = args[i].value
        if v == "-delete":
            writes = True
        elif v in ("-fprint", "-fprint0", "-fprintf", "-fls") and i + 1 < len(args):
            ctx.write(args[i + 1], "find " + v)
        elif v in ("-exec", "-execdir", "-ok", "-okdir") and i + 1 < len(args):
            inner: list[Word] = []
            j = i + 1
            while j < len(args) and args[j].value not in (";", "+"):
                inner.append(args[j])
                j += 1
            if inner and _writes_operands(inner):
                writes = True
            i = j
        i += 1
    if writes:
        if roots:
            for w in roots:
                ctx.write(w, "find")
        else:
            ctx.write(".", "find")


def _writes_operands(words: list[Word]) -> bool:
    """Would this command (run by find -exec / xargs) write the operands it is given?"""
    probe = BashAnalysis()
    an = _Analyzer(probe)
    words, env, _ = _unwrap(list(words), {})
    if not words:
        return False
    name = os.path.basename(words[0].value)
    handler = _HANDLERS.get(name) or (_python if _PYTHON_RE.match(name) else None)
    if handler is None:
        return False
    ctx = _Ctx(an, "/", 0, words[1:] + [Word("{}")], env, True, None, None)
    handler(ctx)
    return bool(probe.writes)


def _patch(ctx: _Ctx) -> None:
    from mlgate.hooks.patch import diff_paths

    ops, opts = _operands(ctx.args, "piBdDFgiMoOrVYz", (
        "--strip", "--input", "--directory", "--output", "--reject-file", "--backup"))
    if "--dry-run" in opts:
        return
    strip_opt = opts.get("-p") or opts.get("--strip")
    strip: int | None = int(strip_opt) if isinstance(strip_opt, str) and strip_opt.isdigit() \
        else None
    base = opts.get("-d") or opts.get("--directory")
    cwd = _join(ctx.cwd, base) if isinstance(base, str) and base else ctx.cwd
    patch_file = opts.get("-i") or opts.get("--input")
    out = opts.get("-o") or opts.get("--output")
    if isinstance(out, str) and out:
        ctx.write(out, "patch -o")
    if ops:  # `patch FILE [PATCHFILE]`: the first operand is the file patched
        ctx.an._path(ops[0], cwd, "patch")
        if len(ops) > 1 and not isinstance(patch_file, str):
            patch_file = ops[1].value
        if isinstance(out, str):
            return
    text = _read_text(_join(ctx.cwd, patch_file)) if isinstance(patch_file, str) \
        else ctx.stdin()
    if text is None:
        ctx.an._unknown(cwd, "patch input that cannot be read")
        return
    paths = diff_paths(text, strip)
    if not paths:
        ctx.an._unknown(cwd, "a patch that names no file")
    for p in paths:
        ctx.an._path(p, cwd, "patch")


def _apply_patch(ctx: _Ctx) -> None:
    from mlgate.hooks.patch import envelope_paths

    text = " ".join(w.value for w in ctx.args) if ctx.args else ctx.stdin()
    paths = envelope_paths(text or "")
    if not paths:
        ctx.unknown("apply_patch input that names no file")
    for p in paths:
        ctx.write(p, "apply_patch")


def _shell(ctx: _Ctx) -> None:
    args = ctx.args
    for i, w in enumerate(args):
        v = w.value
        if v.startswith("-") and not v.startswith("--") and "c" in v[1:]:
            if i + 1 < len(args):
                ctx.an.run(args[i + 1].value, ctx.cwd, ctx.depth + 1)
            return
        if not v.startswith("-") or v == "-":
            if v == "-" or v == "-s":
                break
            return  # `bash script.sh`: the script is not read
    body = ctx.stdin()
    if body is not None:
        ctx.an.run(body, ctx.cwd, ctx.depth + 1)


def _eval(ctx: _Ctx) -> None:
    ctx.an.run(" ".join(w.value for w in ctx.args), ctx.cwd, ctx.depth + 1)


def _python(ctx: _Ctx) -> None:
    args = ctx.args
    code: str | None = None
    i = 0
    while i < len(args):
        v = args[i].value
        if v == "-c":
            code = args[i + 1].value if i + 1 < len(args) else ""
            break
        if v.startswith("-c") and len(v) > 2:
            code = v[2:]
            break
        if v in ("-m",) or (v.startswith("-m") and len(v) > 2):
            return  # a module: not read (like a script)
        if v in ("-W", "-X", "-Q"):
            i += 2
            continue
        if v == "-":
            code = ctx.stdin()
            break
        if not v.startswith("-"):
            return  # `python train.py`: the script is not read
        i += 1
    else:
        code = ctx.stdin()  # `python <<EOF` / `python < x.py`
    if code is None:
        return
    found = python_writes(code)
    for path in found.paths:
        ctx.write(path, "python")
    for why in found.unknown:
        ctx.unknown(why)
    for cmd in found.commands:
        ctx.an.run(cmd, ctx.cwd, ctx.depth + 1)


def _mlgate(ctx: _Ctx) -> None:
    words = [w.value for w in ctx.args if not w.value.startswith("--json")]
    if words[:2] == ["hooks", "uninstall"] or (words[:2] == ["hooks", "install"]
                                                 and "--force" in words):
        ctx.refuse("removing or replacing mlgate's hooks is for a person to do, not an agent")


def _pre_commit_tool(ctx: _Ctx) -> None:
    if [w.value for w in ctx.args][:1] == ["uninstall"]:
        ctx.refuse("`pre-commit uninstall` removes the commit hook; that is for a person to "
                   "do, not an agent")


def _script_e(ctx: _Ctx) -> None:
    """node -e / ruby -e: only a rough look for file writes."""
    for i, w in enumerate(ctx.args):
        if w.value in ("-e", "--eval", "-p", "--print") and i + 1 < len(ctx.args):
            code = ctx.args[i + 1].value
            if re.search(r"writeFile|appendFile|createWriteStream|unlink|rmSync|renameSync|"
                         r"File\.(write|open|delete|rename)|FileUtils", code):
                ctx.unknown("inline script code that writes files")


# python ---------------------------------------------------------------------------------

_PY_HINT_RE = re.compile(
    r"open\s*\(|write_text|write_bytes|\.touch\(|unlink|rmdir|mkdir|makedirs|rename|replace|"
    r"symlink|hardlink_to|\blink\(|truncate|chmod|shutil|subprocess|os\.system|os\.popen|"
    r"\bexec\s*\(|\beval\s*\(|__import__|importlib|savefig|\.save\w*\(|\.to_(csv|json|parquet|"
    r"pickle|excel|feather|hdf|html|latex|markdown|sql|stata|xml)\(|\bdump\(|copy|move|"
    r"remove|os\.write|fdopen|tofile|writelines|\.write\(")
_PY_COPY = {"copy", "copy2", "copyfile", "copytree", "copymode", "copystat", "copyfileobj"}
_PY_FIRST = {"remove", "unlink", "rmdir", "removedirs", "truncate", "mkdir", "makedirs",
             "chmod", "chown", "rmtree", "mkfifo", "utime", "lchmod", "lchown", "mknod"}
_PY_BOTH = {"rename", "renames", "replace", "move"}
_PY_LAST = {"symlink", "link"}
_PY_METHODS = {"write_text", "write_bytes", "touch", "unlink", "rmdir", "mkdir", "chmod",
               "symlink_to", "hardlink_to", "rename", "replace", "lchmod"}
_PY_SAVERS = {"save", "savez", "savez_compressed", "savetxt", "savefig", "to_csv", "to_json",
              "to_parquet", "to_pickle", "to_excel", "to_feather", "to_hdf", "to_html",
              "to_latex", "to_markdown", "to_stata", "to_xml", "tofile", "dump",
              "save_pretrained", "save_model", "imwrite", "imsave", "write"}


@record
class PythonWrites:
    paths: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)  # shell commands it runs


def python_writes(code: str) -> PythonWrites:
    """Files a piece of Python code (``python -c``, a heredoc) writes, as far as a static read
    can tell: literal paths of ``open(..., 'w'/'a'/'x'/'+')``, ``Path(...).write_text``,
    ``shutil``/``os`` file functions, ``savefig``/``to_csv``/``torch.save``-style savers, and
    ``os.system``/``subprocess`` command strings. A write whose target is not a literal is
    reported in ``unknown``."""
    out = PythonWrites()
    if not _PY_HINT_RE.search(code):
        return out
    import ast

    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        out.unknown.append("python code that could not be parsed but may write files")
        return out
    names: dict[str, str | None] = {}
    paths: set[str] = set()  # names bound to a Path(...) value
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                isinstance(node.targets[0], ast.Name):
            names[node.targets[0].id] = _py_literal(node.value, names)
            if _is_path_expr(node.value, paths):
                paths.add(node.targets[0].id)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            _py_call(node, names, paths, out)
    return out


def _is_path_expr(node: ast.AST, paths: set[str]) -> bool:
    """``Path(...)``, ``p / 'x'`` or a name bound to one: a pathlib value, whose
    ``rename``/``replace`` move files (``str.replace`` does not)."""
    import ast

    if isinstance(node, ast.Call):
        return _py_name(node.func).rsplit(".", 1)[-1] in ("Path", "PurePath", "PosixPath",
                                                          "with_name", "with_suffix",
                                                          "joinpath", "resolve", "absolute")
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return _is_path_expr(node.left, paths) or _is_path_expr(node.right, paths)
    if isinstance(node, ast.Name):
        return node.id in paths
    return False


def _py_literal(node: ast.AST | None, names: dict[str, str | None]) -> str | None:
    import ast

    if node is None:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Call) and _py_name(node.func) in ("Path", "PurePath",
                                                              "PosixPath", "pathlib.Path"):
        parts = [_py_literal(a, names) for a in node.args]
        if not parts:
            return "."
        if any(p is None for p in parts):
            return None
        return os.path.join(*[p for p in parts if p is not None])
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        left, right = _py_literal(node.left, names), _py_literal(node.right, names)
        if left is None or right is None:
            return None
        return os.path.join(left, right)
    if isinstance(node, ast.Call) and _py_name(node.func) in ("os.path.join", "join"):
        parts = [_py_literal(a, names) for a in node.args]
        if parts and all(p is not None for p in parts):
            return os.path.join(*[p for p in parts if p is not None])
    return None


def _py_name(node: ast.AST) -> str:
    import ast

    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _py_name(node.value)
        return f"{base}.{node.attr}" if base else node.attr
    return ""


def _py_call(node: ast.Call, names: dict[str, str | None], paths: set[str],
             out: PythonWrites) -> None:
    import ast

    func = node.func
    fname = _py_name(func)
    short = fname.rsplit(".", 1)[-1]
    args = node.args
    kw = {k.arg: k.value for k in node.keywords if k.arg}

    def target(value: ast.AST | None, what: str) -> None:
        lit = _py_literal(value, names)
        if lit is None:
            out.unknown.append(f"python {what} with a target that is not a literal")
        elif lit not in out.paths:
            out.paths.append(lit)

    if short == "open" or fname in ("io.open", "codecs.open", "gzip.open", "bz2.open",
                                     "lzma.open"):
        receiver = func.value if isinstance(func, ast.Attribute) else None
        is_method = receiver is not None and not _py_name(receiver) in (
            "io", "codecs", "gzip", "bz2", "lzma", "os", "tarfile", "zipfile", "builtins")
        if fname == "os.open":
            flags = ast.dump(args[1]) if len(args) > 1 else ""
            if any(f in flags for f in ("O_WRONLY", "O_RDWR", "O_CREAT", "O_APPEND",
                                         "O_TRUNC")) or (len(args) > 1 and not
                                                         isinstance(args[1], ast.Attribute)):
                target(args[0] if args else None, "os.open")
            return
        mode_node = (args[0] if is_method and args else
                     args[1] if not is_method and len(args) > 1 else kw.get("mode"))
        if mode_node is None:
            return  # default mode "r"
        if not (isinstance(mode_node, ast.Constant) and isinstance(mode_node.value, str)):
            target(receiver if is_method else (args[0] if args else kw.get("file")),
                   "open() with a mode that is not a literal")
            return
        if any(ch in mode_node.value for ch in "wax+"):
            target(receiver if is_method else (args[0] if args else kw.get("file")),
                   "open() for writing")
        return
    if fname.startswith("shutil.") or fname in _PY_COPY:
        if short in _PY_COPY and len(args) >= 2:
            target(args[1], f"shutil.{short}")
        elif short in _PY_BOTH and len(args) >= 2:
            target(args[0], f"shutil.{short}")
            target(args[1], f"shutil.{short}")
        elif short in _PY_FIRST and args:
            target(args[0], f"shutil.{short}")
        elif short in _PY_COPY | _PY_BOTH | _PY_FIRST:
            out.unknown.append(f"python shutil.{short} with targets that are not literals")
        return
    if fname.startswith("os."):
        if short in ("system", "popen") and args:
            lit = _py_literal(args[0], names)
            if lit is None:
                out.unknown.append(f"python os.{short} of a command that is not a literal")
            else:
                out.commands.append(lit)
        elif short in _PY_BOTH and len(args) >= 2:
            target(args[0], f"os.{short}")
            target(args[1], f"os.{short}")
        elif short in _PY_LAST and len(args) >= 2:
            target(args[1], f"os.{short}")
        elif short in _PY_FIRST and args:
            target(args[0], f"os.{short}")
        elif short in ("write", "fdopen", "ftruncate"):
            pass  # writes through a descriptor opened elsewhere (os.open is checked)
        return
    if fname.startswith("subprocess.") and short in ("run", "call", "check_call",
                                                     "check_output", "Popen", "getoutput",
                                                     "getstatusoutput"):
        cmd = args[0] if args else kw.get("args")
        if isinstance(cmd, (ast.List, ast.Tuple)):
            parts = [_py_literal(e, names) for e in cmd.elts]
            if all(p is not None for p in parts):
                import shlex

                out.commands.append(shlex.join([p for p in parts if p is not None]))
                return
        lit = _py_literal(cmd, names)
        if lit is None:
            out.unknown.append("python subprocess call of a command that is not a literal")
        else:
            out.commands.append(lit)
        return
    if fname in ("exec", "eval", "compile", "__import__", "execfile"):
        out.unknown.append(f"python {fname}() of code the hook cannot read")
        return
    if isinstance(func, ast.Attribute) and short in _PY_METHODS:
        if short in ("rename", "replace") and not _is_path_expr(func.value, paths):
            return  # str.replace(...) and friends on a value that is not a Path
        target(func.value, f"Path.{short}()")
        if short in ("rename", "replace", "symlink_to", "hardlink_to") and args:
            if short in ("rename", "replace"):
                target(args[0], f"Path.{short}()")
        return
    if short in _PY_SAVERS:
        if short == "write" and isinstance(func, ast.Attribute):
            return  # fh.write(): the open() that made fh is what counts
        if short == "dump":
            return  # json.dump(obj, fh): the file handle comes from an open() seen above
        cand = None
        if fname in ("torch.save",) or short == "save" and len(args) >= 2 and \
                _py_name(func.value if isinstance(func, ast.Attribute) else func) in (
                    "torch", "th"):
            cand = args[1] if len(args) > 1 else kw.get("f")
        elif args:
            cand = args[0]
        else:
            cand = kw.get("path") or kw.get("fname") or kw.get("file") or \
                kw.get("path_or_buf") or kw.get("save_directory")
        if cand is None:
            return  # e.g. model.save() with no path: nothing a literal can tell
        target(cand, f"{short}()")
        return


# git -----------------------------------------------------------------------------------

_GIT_GLOBAL_ARG = {"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--exec-path",
                   "--config-env", "--super-prefix", "--list-cmds"}
_GIT_WORKTREE_WRITERS = {"merge", "pull", "rebase", "cherry-pick", "revert", "am", "switch",
                         "bisect", "filter-branch", "read-tree", "checkout-index"}


def _git(ctx: _Ctx) -> None:
    args = ctx.args
    cwd = ctx.cwd
    if any(k.startswith("GIT_CONFIG") and "hookspath" in v.lower() for k, v in ctx.env.items()):
        ctx.refuse("setting core.hooksPath through GIT_CONFIG_* turns off the mlgate commit "
                   "hook; commit without it")
    i = 0
    while i < len(args):
        v = args[i].value
        if not v.startswith("-"):
            break
        key = v.partition("=")[0]
        if key in _GIT_GLOBAL_ARG:
            val = v.partition("=")[2] if "=" in v else (
                args[i + 1].value if i + 1 < len(args) else "")
            if "=" not in v:
                i += 1
            if key == "-C" and val:
                cwd = _join(cwd, val)
            if key in ("-c", "--config-env") and val.lower().startswith("core.hookspath"):
                ctx.refuse("`git -c core.hooksPath=...` turns off the mlgate commit hook; "
                           "commit without it")
        i += 1
    if i >= len(args):
        return
    sub = args[i].value
    rest = args[i + 1:]
    sctx = _Ctx(ctx.an, cwd, ctx.depth, rest, ctx.env, ctx.xargs, ctx.stdin_text,
                ctx.stdin_file)
    if sub == "commit":
        _git_commit(sctx)
    elif sub == "config":
        vals = [w.value for w in rest]
        keys = [v for v in vals if not v.startswith("-")]
        unset = any(v.startswith("--unset") for v in vals)
        if keys and keys[0].lower() == "core.hookspath" and len(keys) > 1 and not unset:
            sctx.refuse("`git config core.hooksPath` would turn off the mlgate commit hook")
    elif sub in ("checkout", "restore"):
        _git_checkout(sctx, sub)
    elif sub == "reset":
        vals = {w.value for w in rest}
        if vals & {"--hard", "--merge", "--keep"}:
            sctx.unknown(f"git reset {' '.join(sorted(vals & {'--hard', '--merge', '--keep'}))}"
                         " rewrites the worktree")
    elif sub == "clean":
        ops, opts = _operands(rest, "e", ("--exclude",))
        if "-n" in opts or "--dry-run" in opts:
            return
        for w in ops:
            sctx.write(w, "git clean")
        if not ops:
            sctx.unknown("git clean removes files in the worktree")
    elif sub == "stash":
        action = rest[0].value if rest and not rest[0].value.startswith("-") else "push"
        if action in ("push", "save", "pop", "apply", "branch"):
            sctx.unknown(f"git stash {action} rewrites the worktree")
    elif sub == "apply":
        _git_apply(sctx)
    elif sub in ("mv", "rm"):
        ops, opts = _operands(rest, "", ())
        if sub == "rm" and "--cached" in opts:
            return
        for w in ops:
            sctx.write(w, f"git {sub}")
    elif sub in _GIT_WORKTREE_WRITERS:
        vals = {w.value for w in rest}
        if sub == "bisect" and not (vals & {"start", "good", "bad", "new", "old", "reset",
                                             "skip", "run"}):
            return
        sctx.unknown(f"git {sub} rewrites the worktree")
    elif sub == "submodule":
        if any(w.value in ("update", "add", "deinit", "sync") for w in rest):
            sctx.unknown("git submodule changes the worktree")
    elif sub == "worktree":
        return


def _git_commit(ctx: _Ctx) -> None:
    skip = ctx.env.get("SKIP", "")
    if "mlgate-lock" in [s.strip() for s in skip.split(",")]:
        ctx.refuse("`SKIP=mlgate-lock` turns off the mlgate commit hook; commit without it")
    takes_value = False
    for w in ctx.args:
        v = w.value
        if takes_value:  # the value of -m/-F/-c/-C/-t given as the next word
            takes_value = False
            continue
        if v == "--":
            break
        if v.startswith("--"):
            if len(v) >= 9 and "--no-verify".startswith(v):  # git accepts unique prefixes
                ctx.refuse("`git commit --no-verify` skips the mlgate commit hook; "
                           "the commit hook must run")
            takes_value = v in ("--message", "--file", "--reuse-message", "--reedit-message",
                                "--template", "--author", "--date", "--fixup", "--squash",
                                "--trailer")
            continue
        if v.startswith("-") and len(v) > 1:
            for i, ch in enumerate(v[1:], start=1):
                if ch == "n":
                    ctx.refuse("`git commit -n` (--no-verify) skips the mlgate commit hook; "
                               "the commit hook must run")
                    break
                if ch in "mFcCt":
                    takes_value = i == len(v) - 1  # else the rest of the cluster is the value
                    break
                if ch in "uS":
                    break  # an optional value, attached


def _git_checkout(ctx: _Ctx, sub: str) -> None:
    vals = [w.value for w in ctx.args]
    if "--" in vals:
        k = vals.index("--")
        opts_part, paths = ctx.args[:k], ctx.args[k + 1:]
    else:
        opts_part, paths = ctx.args, []
    ops, opts = _operands(opts_part, "sbBU", ("--source", "--conflict", "--orphan"))
    if sub == "restore":
        staged_only = ("--staged" in opts or "-S" in opts) and not (
            "--worktree" in opts or "-W" in opts)
        if staged_only:
            return
        targets = ops + paths
        if not targets:
            ctx.unknown("git restore without a path")
        for w in targets:
            ctx.write(w, "git restore")
        return
    if paths:
        for w in paths:
            ctx.write(w, "git checkout --")
        return
    if any(k in opts for k in ("-b", "-B", "--orphan")) and len(ops) == 0:
        return  # a new branch at HEAD: nothing on disk changes
    existing = [w for w in ops if not w.dynamic and os.path.lexists(_join(ctx.cwd, w.value))]
    for w in existing:
        ctx.write(w, "git checkout")
    if len(existing) < len(ops) or not ops:
        ctx.unknown("git checkout of a branch or commit rewrites the worktree")


def _git_apply(ctx: _Ctx) -> None:
    from mlgate.hooks.patch import diff_paths

    ops, opts = _operands(ctx.args, "pCR", ("--directory", "--exclude", "--include",
                                            "--whitespace", "--build-fake-ancestor"))
    if any(k in opts for k in ("--check", "--stat", "--numstat", "--summary")) and \
            "--apply" not in opts:
        return
    if "--cached" in opts:
        return  # the index only
    strip_opt = opts.get("-p")
    strip = int(strip_opt) if isinstance(strip_opt, str) and strip_opt.isdigit() else 1
    prefix = opts.get("--directory")
    texts: list[str | None] = []
    if ops:
        texts = [None if w.dynamic else _read_text(_join(ctx.cwd, w.value)) for w in ops]
    else:
        texts = [ctx.stdin()]
    for text in texts:
        if text is None:
            ctx.unknown("git apply of a patch that cannot be read")
            continue
        paths = diff_paths(text, strip)
        if not paths:
            ctx.unknown("a patch that names no file")
        for p in paths:
            if isinstance(prefix, str) and prefix:
                p = os.path.join(prefix, p)
            ctx.write(p, "git apply")


_HANDLERS = {
    "rm": _all_operands(),
    "unlink": _all_operands(),
    "rmdir": _all_operands(),
    "shred": _all_operands("ns", ("--iterations", "--size", "--random-source")),
    "touch": _all_operands("dtr", ("--date", "--reference", "--time")),
    "mkdir": _all_operands("m", ("--mode", "--context")),
    "mkfifo": _all_operands("m", ("--mode",)),
    "truncate": _truncate,
    "tee": _tee,
    "cp": _copy_like(False),
    "mv": _copy_like(True),
    "ln": _copy_like(False),
    "install": _copy_like(False, "tSmogs", ("--target-directory", "--suffix", "--mode",
                                            "--owner", "--group")),
    "dd": _dd,
    "sed": _sed,
    "gsed": _sed,
    "perl": _perl,
    "chmod": _skip_first(),
    "chown": _skip_first(),
    "chgrp": _skip_first(),
    "setfacl": _skip_first(),
    "curl": _curl,
    "wget": _wget,
    "tar": _tar,
    "unzip": _unzip,
    "gzip": _compress,
    "gunzip": _compress,
    "bzip2": _compress,
    "xz": _compress,
    "sort": _sort,
    "rsync": _rsync,
    "find": _find,
    "patch": _patch,
    "apply_patch": _apply_patch,
    "applypatch": _apply_patch,
    "git": _git,
    "eval": _eval,
    "source": lambda ctx: None,
    "node": _script_e,
    "mlgate": _mlgate,
    "pre-commit": _pre_commit_tool,
    "ruby": _script_e,
}
