"""The rules of :mod:`mlgate.lock.shell.analyze` for commands that run code: shells, Python,
other interpreters, and ``mlgate`` itself.

Standard library only (the hook path imports it). ``bash -c CODE`` and ``eval`` are analysed
as commands; Python code is read by :mod:`mlgate.lock.shell.pycode` (an allow-list);
``python -m MOD`` knows the modules that write what they name (``json.tool``, ``zipfile``,
``venv`` …). Inline code of other interpreters (``node -e``, ``perl -e``, ``ruby -e``, ``php
-r`` …), code piped into any interpreter, and a bare interactive shell or interpreter cannot
be analysed (``ctx.unknown``). Scripts are not read. ``mlgate verify``, ``doctor
--clear-violations``, ``baseline set|promote|rollback``, ``archive --promote`` and ``hooks
uninstall`` are refused in every form: a person does those.
"""
from __future__ import annotations

import re
from mlgate.lock.shell.context import Ctx, operands
from mlgate.lock.shell.lexer import Word
from mlgate.lock.shell.pycode import python_writes
TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["SHELLS", "INTERPRETER_RULES", "handle_python", "handle_shell", "is_python",
           "mlgate_rule", "pip_rule"]

def handle_shell(ctx: Ctx) -> None:
    """``bash -c CODE`` / ``sh <<EOF``: the code is analysed; ``bash script.sh`` is not read;
    code piped in, and a bare interactive shell, cannot be seen."""
    args = ctx.args
    i = 0
    while i < len(args):
        w = args[i]
        v = w.value
        if w.dynamic and v.startswith("-"):
            ctx.unknown(f"{ctx.name} with options mlgate cannot read ({v!r})")
            return
        if v in ("--rcfile", "--init-file", "-o", "-O", "+O", "+o"):
            i += 2
            continue
        if v.startswith("--"):
            if v in ("--version", "--help"):
                return
            i += 1
            continue
        if v.startswith("-") and len(v) > 1 and "c" in v[1:]:
            if i + 1 >= len(args):
                return
            code = args[i + 1]
            if code.dynamic:
                ctx.unknown(f"{ctx.name} -c runs code that is only known when it runs "
                            f"({code.value[:80]!r})")
                return
            ctx.run(code.value)
            return
        if v.startswith("-") and len(v) > 1 and "i" in v[1:]:
            ctx.unknown(f"an interactive {ctx.name}: mlgate cannot see what is typed into it")
            return
        if v.startswith(("-", "+")) and len(v) > 1 and not ("s" in v[1:]):
            i += 1
            continue
        if v.startswith("-") and "s" in v[1:] or v == "-":
            break  # commands on stdin
        return  # `bash script.sh`: the script is not read
    _code_on_stdin(ctx, lambda code: ctx.run(code), ctx.name)


def _code_on_stdin(ctx: Ctx, read: Callable[[str], None], what: str) -> None:
    """An interpreter with no script: its code comes on stdin (or from a person)."""
    body = ctx.stdin()
    if body is not None:
        read(body)
    elif ctx.pipe_in or not ctx.stdin_known or ctx.xargs:
        ctx.unknown(f"{what} runs code piped into it, which mlgate cannot read")
    elif ctx.stdin_text is None and ctx.stdin_file is None:
        ctx.unknown(f"an interactive {what}: mlgate cannot see what is typed into it "
                    f"(later input to it fires no hook)")
    else:
        ctx.unknown(f"{what} runs code from a file mlgate cannot read")


def _eval(ctx: Ctx) -> None:
    if any(w.dynamic for w in ctx.args):
        ctx.unknown("eval of text that is only known when it runs")
        return
    ctx.run(" ".join(w.value for w in ctx.args))


def _source(ctx: Ctx) -> None:
    if not ctx.args:
        return
    first = ctx.args[0]
    if first.dynamic or first.value in ("/dev/stdin", "-") or first.value.startswith("/dev/fd/"):
        ctx.unknown("source of a file that is only known when it runs")


_PY_RE = re.compile(r"^(python|pypy)(\d+(\.\d+)?)?(-dbg)?$")
_PY_VALUE_OPTS = {"-W", "-X", "-Q", "--check-hash-based-pycs"}


def is_python(name: str) -> bool:
    return bool(_PY_RE.match(name))


def handle_python(ctx: Ctx) -> None:
    args = ctx.args
    i = 0
    while i < len(args):
        w = args[i]
        v = w.value
        if w.dynamic and i == 0 or w.dynamic and v.startswith("-"):
            ctx.unknown(f"{ctx.name} with arguments mlgate cannot read ({v!r})")
            return
        if v == "-c" or (v.startswith("-") and not v.startswith("--") and "c" in v[1:]):
            k = v.index("c")
            code_word = Word.literal(v[k + 1:]) if k + 1 < len(v) else (
                args[i + 1] if i + 1 < len(args) else None)
            if code_word is None:
                return
            if code_word.dynamic:
                ctx.unknown(f"{ctx.name} -c runs code that is only known when it runs")
                return
            _python_code(ctx, code_word.value)
            return
        if v == "-m" or (v.startswith("-m") and len(v) > 2):
            mod = v[2:] if len(v) > 2 else (args[i + 1].value if i + 1 < len(args) else "")
            rest = args[i + 1:] if len(v) > 2 else args[i + 2:]
            _python_module(ctx, mod, rest)
            return
        if v in _PY_VALUE_OPTS:
            i += 2
            continue
        if v in ("--version", "-V", "--help", "-h", "-VV"):
            return
        if v == "-":
            break
        if v.startswith("-"):
            if "i" in v[1:] and not v.startswith("--"):
                ctx.unknown(f"an interactive {ctx.name} (-i): mlgate cannot see what is typed "
                            f"into it")
                return
            i += 1
            continue
        return  # `python train.py`: the script is not read
    _code_on_stdin(ctx, lambda code: _python_code(ctx, code), ctx.name)


def _python_code(ctx: Ctx, code: str) -> None:
    found = python_writes(code)
    for path in found.paths:
        ctx.write(path, "python")
    for why in found.unknown:
        ctx.unknown(why)
    if "mlgate" in code and any(w in code for w in _HUMAN_WORDS):
        ctx.refuse("python code that drives mlgate's human-only actions (verify, clearing "
                   "violations, baselines, rubric results, round merges, hooks): a person "
                   "must do it")


def _python_module(ctx: Ctx, mod: str, rest: list[Word]) -> None:
    """``python -m MOD ...``: the modules that write what their arguments name."""
    ops, opts = operands(rest, "", ("--indent",))
    if mod == "mlgate" or mod.startswith("mlgate."):
        _mlgate(Ctx(ctx.an, ctx.cwd, ctx.depth, rest, ctx.env, ctx.xargs, ctx.stdin_text,
                    ctx.stdin_file, name="mlgate", state=ctx.state))
    elif mod == "json.tool":
        if len(ops) >= 2:
            ctx.write(ops[1], "python -m json.tool")
    elif mod in ("zipfile", "tarfile"):
        flags = [w.value for w in rest]
        if any(f in ("-e", "--extract") for f in flags):
            if len(ops) >= 2:
                ctx.write(ops[-1], f"python -m {mod} -e")
            else:
                ctx.unknown(f"python -m {mod} -e extracts into a folder mlgate cannot tell")
        elif any(f in ("-c", "--create") for f in flags) and ops:
            ctx.write(ops[0], f"python -m {mod} -c")
    elif mod in ("gzip", "venv", "virtualenv", "compileall", "py_compile", "lzma", "bz2"):
        for w in ops:
            ctx.write(w, f"python -m {mod}")
    elif mod in ("code", "pdb", "idlelib", "asyncio", "sqlite3"):
        if not ops or mod == "pdb":
            ctx.unknown(f"python -m {mod} reads code typed into it, which mlgate cannot see")
    elif mod in ("pip", "ensurepip"):
        _pip(Ctx(ctx.an, ctx.cwd, ctx.depth, rest, ctx.env, ctx.xargs, None, None,
                 state=ctx.state))


def _pip(ctx: Ctx) -> None:
    _, opts = operands(ctx.args, "tdwe", ("--target", "--dest", "--wheel-dir", "--src",
                                          "--prefix", "--root", "--editable", "--log"))
    for key in ("-t", "--target", "-d", "--dest", "-w", "--wheel-dir", "--src", "--prefix",
                "--root", "--log"):
        val = opts.get(key)
        if isinstance(val, str) and val:
            ctx.write(val, "pip")


_HUMAN_WORDS = ("verify", "clear_violations", "clear-violations", "baseline", "uninstall",
                "promote", "rollback", "rubric", "lifecycle")


def _mlgate(ctx: Ctx) -> None:
    """The actions a person must take: refused from an agent in every form."""
    words: list[str] = []
    args = [w.value for w in ctx.args]
    i = 0
    while i < len(args):  # global options before the command
        v = args[i]
        if v == "--json" or v.startswith("--json="):
            i += 1
            continue
        if v == "-C":
            i += 2
            continue
        if v.startswith("-C") and len(v) > 2:
            i += 1
            continue
        break
    words = args[i:]
    if any(w.dynamic for w in ctx.args[i:i + 1]):
        ctx.unknown("runs an mlgate command that is only known when it runs")
        return
    cmd = words[:1]
    human = None
    if cmd == ["verify"]:
        human = "`mlgate verify` records a person's verification"
    elif cmd == ["doctor"] and "--clear-violations" in words:
        human = "`mlgate doctor --clear-violations` clears process violations"
    elif cmd == ["baseline"] and len(words) > 1 and words[1] in ("set", "promote", "rollback",
                                                                 "run"):
        human = f"`mlgate baseline {words[1]}` changes the baseline"
    elif cmd == ["rubric"]:
        human = "`mlgate rubric` records a person's judgement of a criterion"
    elif cmd == ["round"] and len(words) > 1 and words[1] == "merge":
        human = "`mlgate round merge` merges the winners a person chose"
    elif cmd == ["archive"] and any(w == "--promote" or w.startswith("--promote=")
                                    for w in words):
        human = "`mlgate archive --promote` makes a run the new baseline"
    elif cmd == ["hooks"] and len(words) > 1 and (words[1] == "uninstall" or (
            words[1] == "install" and "--force" in words)):
        human = "removing or replacing mlgate's hooks"
    if human:
        ctx.refuse(f"{human}: that is for a person to do, not an agent (a person must do it "
                   f"in their own terminal)")


def _pre_commit_tool(ctx: Ctx) -> None:
    if [w.value for w in ctx.args][:1] == ["uninstall"]:
        ctx.refuse("`pre-commit uninstall` removes the commit hook; that is for a person to "
                   "do, not an agent")


# -- interpreters other than Python: inline code cannot be analysed -----------------------

_INLINE_FLAGS = {
    "node": {"-e", "--eval", "-p", "--print", "-r", "--require", "--import", "--loader"},
    "deno": {"eval", "-e"}, "bun": {"-e", "--eval", "-p", "--print"},
    "perl": {"-e", "-E"}, "ruby": {"-e"}, "php": {"-r", "-B", "-R", "-E", "-F"},
    "lua": {"-e"}, "luajit": {"-e"}, "Rscript": {"-e"}, "R": {"-e"},
    "julia": {"-e", "-E", "--eval", "--print"}, "osascript": {"-e"},
    "pwsh": {"-c", "-Command", "-command", "-EncodedCommand", "-e", "-ec"},
    "powershell": {"-c", "-Command", "-command", "-EncodedCommand", "-e", "-ec"},
    "tclsh": set(), "wish": set(), "expect": {"-c"}, "gdb": {"-ex", "--eval-command", "-x"},
    "sqlite3": {"-cmd"}, "bc": set(), "dc": {"-e"}, "irb": set(), "ghci": {"-e"},
    "guile": {"-c"}, "racket": {"-e"}, "scala": {"-e"}, "groovy": {"-e"}, "jshell": set(),
    "erl": {"-eval"}, "elixir": {"-e"}, "iex": set(), "swift": {"-e"}, "ocaml": set(),
    "sbcl": {"--eval"}, "clojure": {"-e"}, "kotlinc": {"-e"}, "nodejs": {"-e", "--eval", "-p"},
}
_VERSION_FLAGS = {"--version", "-v", "-V", "--help", "-h", "-help", "version", "--info"}


def _interpreter(ctx: Ctx) -> None:
    """node/perl/ruby/php/…: inline code and code on stdin cannot be analysed (unknown);
    a script file is not read (like ``python train.py``); perl/ruby ``-i`` edit their files."""
    flags = _INLINE_FLAGS.get(ctx.name, set())
    args = ctx.args
    if args and all(a.value in _VERSION_FLAGS for a in args):
        return
    if ctx.name in ("perl", "ruby"):
        _in_place(ctx)
    inline = (f"{ctx.name} code given inline, which mlgate cannot analyse (refused while a "
              f"ticket is Locked; a script file is run like `python train.py`)")
    for a in args:
        v = a.value
        if a.dynamic:
            ctx.unknown(f"{ctx.name} with arguments that are only known when it runs")
            return
        if v in flags or any(v.startswith(f + "=") for f in flags if f.startswith("--")):
            ctx.unknown(inline)
            return
        if ctx.name in ("perl", "ruby") and v.startswith("-") and not v.startswith("--"):
            head = v[1:].split("i")[0]
            if "e" in head or (ctx.name == "perl" and "E" in head):
                ctx.unknown(inline)
                return
            if "M" in head or (ctx.name == "ruby" and "r" in head):
                ctx.unknown(f"{ctx.name} {v} loads a module mlgate cannot analyse")
                return
            continue
        if ctx.name == "sqlite3":
            _sqlite(ctx)
            return
        if v.startswith("-") or (ctx.name == "deno" and v == "run"):
            continue
        return  # a script: not read
    _code_on_stdin(ctx, lambda code: ctx.unknown(
        f"{ctx.name} code on stdin, which mlgate cannot analyse"), ctx.name)


_SQL_WRITE = re.compile(r"\b(insert|update|delete|create|drop|alter|replace|vacuum|attach|"
                        r"reindex|pragma)\b|^\s*\.|\n\s*\.", re.IGNORECASE)


def _sqlite(ctx: Ctx) -> None:
    ops, _ = operands(ctx.args, "", ("-cmd", "-separator", "-newline", "-nullvalue"))
    if len(ops) < 2:
        _code_on_stdin(ctx, lambda sql: ctx.unknown("sqlite3 commands on stdin"), "sqlite3")
        return
    sql = " ".join(w.value for w in ops[1:])
    if any(w.dynamic for w in ops[1:]) or re.search(r"(^|\s)\.(shell|system|output|once|"
                                                     r"import|save|backup|clone|excel|load)",
                                                     sql):
        ctx.unknown("sqlite3 commands that can write files or run commands")
        return
    if _SQL_WRITE.search(sql):
        ctx.write(ops[0], "sqlite3")


def _in_place(ctx: Ctx) -> None:
    """``perl -i`` / ``ruby -i``: every file operand is written."""
    in_place = False
    files: list[Word] = []
    code_given = False
    skip = False
    for a in ctx.args:
        v = a.value
        if skip:
            skip = False
            continue
        if v.startswith("-") and not v.startswith("--") and len(v) > 1:
            body = v[1:]
            for k, ch in enumerate(body):
                if ch == "i":
                    in_place = True
                    break
                if ch in "eE":
                    code_given = True
                    skip = k + 1 == len(body)
                    break
                if ch in "IMmdxlC0F":
                    break
            continue
        files.append(a)
    if not in_place:
        return
    if not code_given and files:
        files = files[1:]
    if ctx.xargs or not files:
        ctx.unknown(f"{ctx.name} -i on files given elsewhere")
    for w in files:
        ctx.write(w, f"{ctx.name} -i")
SHELLS = {"bash", "sh", "zsh", "dash", "ksh", "ash", "mksh", "fish", "tcsh", "csh", "yash",
          "posh", "rbash", "busybox-sh"}


INTERPRETER_RULES: dict[str, Callable[[Ctx], None]] = {
    "eval": _eval, "source": _source, ".": _source, "mlgate": _mlgate,
    "pre-commit": _pre_commit_tool, "perl": _interpreter, "pip": _pip, "pip3": _pip,
    **{name: _interpreter for name in _INLINE_FLAGS},
}
mlgate_rule = _mlgate
pip_rule = _pip
