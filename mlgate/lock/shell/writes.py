"""The per-command write rules of :mod:`mlgate.lock.shell.analyze`, and the table naming them.

Standard library only (the hook path imports it). A rule takes a
:class:`~mlgate.lock.shell.context.Ctx` and reports the files the command writes (``ctx.write``),
writes it cannot place (``ctx.unknown``) and what is refused (``ctx.refuse``):
``rm``/``touch``/``mkdir`` … (every operand), ``cp``/``mv``/``ln``/``install``, ``tee``,
``dd of=``, ``sed -i``, ``perl -i``, ``curl -o``, ``wget``, ``tar``, ``unzip``, compressors,
``sort -o``, ``rsync``, ``find -delete``/``-exec``, ``patch``, ``apply_patch``, ``bash -c``,
``eval``, ``python -c`` (through :mod:`mlgate.lock.shell.pycode`), ``node``/``ruby -e``, and the
refusals of ``mlgate hooks uninstall`` and ``pre-commit uninstall``. ``git`` is
:mod:`mlgate.lock.shell.gitcmd`. ``HANDLERS`` maps a command name to its rule.
"""
from __future__ import annotations

import os
import re
from mlgate.lock.shell.context import join_path, operands, read_text
from mlgate.lock.shell.gitcmd import handle_git
from mlgate.lock.shell.lexer import Word
from mlgate.lock.shell.pycode import python_writes
from mlgate.lock.shell.context import Ctx
TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Callable


def _all_operands(short_arg: str = "", long_arg: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    def handler(ctx: Ctx) -> None:
        name = "the command"
        ops, _ = operands(ctx.args, short_arg, long_arg)
        if ctx.xargs or not ops:
            if ctx.xargs:
                ctx.unknown("operands come from xargs")
            return
        for w in ops:
            ctx.write(w, name)
    return handler


def _skip_first(short_arg: str = "", long_arg: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    """chmod/chown: the first operand is the mode/owner (unless --reference)."""
    def handler(ctx: Ctx) -> None:
        ops, opts = operands(ctx.args, short_arg, long_arg)
        if ctx.xargs:
            ctx.unknown("operands come from xargs")
            return
        start = 0 if "--reference" in opts else 1
        for w in ops[start:]:
            ctx.write(w, "the command")
    return handler


_MODE_RE = re.compile(r"^([ugoa]*[-+=][rwxXstugo]*)(,[ugoa]*[-+=][rwxXstugo]*)*$|^[0-7]{1,4}$")


def _chmod(ctx: Ctx) -> None:
    """chmod: the mode may look like an option (``chmod -x FILE``)."""
    if ctx.xargs:
        ctx.unknown("operands come from xargs")
        return
    mode_seen = any(w.value.startswith("--reference") for w in ctx.args)
    for w in ctx.args:
        v = w.value
        if not mode_seen and not w.dynamic and _MODE_RE.match(v):
            mode_seen = True
            continue
        if v.startswith("-") and not w.dynamic:
            continue
        if not mode_seen:
            mode_seen = True
            continue
        ctx.write(w, "chmod")


def _copy_like(move: bool, short_arg: str = "tS", long_arg: tuple[str, ...] = (
        "--target-directory", "--suffix"), link: bool = False):  # type: ignore[no-untyped-def]
    def handler(ctx: Ctx) -> None:
        ops, opts = operands(ctx.args, short_arg, long_arg)
        target = opts.get("-t") or opts.get("--target-directory")
        if ctx.xargs:
            ctx.unknown("operands come from xargs")
            return
        links = link or ctx.name == "cp" and any(
            k in opts for k in ("-l", "--link", "-s", "--symbolic-link"))
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
        dest_path = None if dest.dynamic else join_path(ctx.cwd, dest.value)
        if links:
            # a link shares the source: editing it through the link edits the source, so
            # the source must be writable too (a symlink's relative source is read from the
            # link's folder; both readings are judged)
            for w in sources:
                ctx.write(w, "the link's source")
                symbolic = ctx.name == "ln" and any(k in opts for k in ("-s", "--symbolic")) \
                    or "-s" in opts or "--symbolic-link" in opts
                if symbolic and dest_path is not None and not w.dynamic and \
                        not os.path.isabs(w.value):
                    folder = dest_path if os.path.isdir(dest_path) else os.path.dirname(dest_path)
                    ctx.write(join_path(folder, w.value), "the link's source")
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


def _tee(ctx: Ctx) -> None:
    ops, _ = operands(ctx.args, "", ())
    for w in ops:
        ctx.write(w, "tee")


def _dd(ctx: Ctx) -> None:
    for w in ctx.args:
        if w.value.startswith("of="):
            ctx.write(Word(w.value[3:], w.dynamic), "dd of=")


def _truncate(ctx: Ctx) -> None:
    _all_operands("sr", ("--size", "--reference"))(ctx)


def _curl(ctx: Ctx) -> None:
    _, opts = operands(ctx.args, "oOdHXuAeErTwKxbcFhmyYzCQ", (
        "--output", "--data", "--header", "--request", "--user", "--config", "--cookie",
        "--cookie-jar", "--dump-header", "--trace", "--trace-ascii", "--url"))
    for key in ("-o", "--output", "--cookie-jar", "--dump-header", "-c", "-D",
                "--trace", "--trace-ascii"):
        val = opts.get(key)
        if isinstance(val, str) and val:
            ctx.write(val, "curl")
    if opts.get("-O") is True or opts.get("--remote-name") or opts.get("--remote-name-all"):
        ctx.unknown("curl -O writes a file named by the server")


def _wget(ctx: Ctx) -> None:
    _, opts = operands(ctx.args, "OPoaiUtTwe", ("--output-document", "--directory-prefix",
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


def _tar(ctx: Ctx) -> None:
    args = list(ctx.args)
    if args and not args[0].value.startswith("-"):  # old style: `tar xzf file`
        args[0] = Word("-" + args[0].value)
    ops, opts = operands(args, "fCbHKLNTVXg", ("--file", "--directory", "--exclude"))
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


def _unzip(ctx: Ctx) -> None:
    _, opts = operands(ctx.args, "dxP", ())
    if "-l" in opts or "-t" in opts or "-p" in opts or "-Z" in opts:
        return
    target = opts.get("-d")
    if isinstance(target, str) and target:
        ctx.write(target, "unzip -d")
    else:
        ctx.unknown("unzip extracts into the current directory")


def _compress(ctx: Ctx) -> None:
    ops, opts = operands(ctx.args, "S", ("--suffix",))
    if any(k in opts for k in ("-c", "--stdout", "-l", "--list", "-t", "--test")):
        return
    for w in ops:
        ctx.write(w, "compression in place")
        if not w.dynamic:
            ctx.write(w.value + ".gz", "compression in place")


def _sort(ctx: Ctx) -> None:
    _, opts = operands(ctx.args, "okStT", ("--output", "--key", "--field-separator",
                                           "--temporary-directory", "--buffer-size"))
    out = opts.get("-o") or opts.get("--output")
    if isinstance(out, str) and out:
        ctx.write(out, "sort -o")


def _rsync(ctx: Ctx) -> None:
    ops, _ = operands(ctx.args, "efT", ("--rsh", "--filter", "--exclude", "--include",
                                        "--temp-dir", "--partial-dir", "--log-file"))
    if len(ops) >= 2 and ":" not in ops[-1].value.split("/")[0]:
        ctx.write(ops[-1], "rsync")


def _find(ctx: Ctx) -> None:
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
            verdict = ctx.an.writes_operands(inner) if inner else False
            if verdict is None:
                ctx.unknown(f"find {v} runs code mlgate cannot read on the files it finds")
            elif verdict:
                writes = True
            i = j
        i += 1
    if writes:
        if roots:
            for w in roots:
                ctx.write(w, "find")
        else:
            ctx.write(".", "find")




def _patch(ctx: Ctx) -> None:
    from mlgate.lock.patch import diff_paths

    ops, opts = operands(ctx.args, "piBdDFgiMoOrVYz", (
        "--strip", "--input", "--directory", "--output", "--reject-file", "--backup"))
    if "--dry-run" in opts:
        return
    strip_opt = opts.get("-p") or opts.get("--strip")
    strip: int | None = int(strip_opt) if isinstance(strip_opt, str) and strip_opt.isdigit() \
        else None
    base = opts.get("-d") or opts.get("--directory")
    cwd = join_path(ctx.cwd, base) if isinstance(base, str) and base else ctx.cwd
    patch_file = opts.get("-i") or opts.get("--input")
    out = opts.get("-o") or opts.get("--output")
    if isinstance(out, str) and out:
        ctx.write(out, "patch -o")
    if ops:  # `patch FILE [PATCHFILE]`: the first operand is the file patched
        ctx.an.write(ops[0], cwd, "patch")
        if len(ops) > 1 and not isinstance(patch_file, str):
            patch_file = ops[1].value
        if isinstance(out, str):
            return
    text = read_text(join_path(ctx.cwd, patch_file)) if isinstance(patch_file, str) \
        else ctx.stdin()
    if text is None:
        ctx.an.unknown(cwd, "patch input that cannot be read")
        return
    paths = diff_paths(text, strip)
    if not paths:
        ctx.an.unknown(cwd, "a patch that names no file")
    for p in paths:
        ctx.an.write(p, cwd, "patch")


def _apply_patch(ctx: Ctx) -> None:
    from mlgate.lock.patch import envelope_paths

    text = " ".join(w.value for w in ctx.args) if ctx.args else ctx.stdin()
    paths = envelope_paths(text or "")
    if not paths:
        ctx.unknown("apply_patch input that names no file")
    for p in paths:
        ctx.write(p, "apply_patch")


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
                   "violations, baselines, hooks): a person must do it")


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
                "promote", "rollback")


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
    elif cmd == ["baseline"] and len(words) > 1 and words[1] in ("set", "promote", "rollback"):
        human = f"`mlgate baseline {words[1]}` changes the baseline"
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


# -- text tools that can write ------------------------------------------------------------


def _awk(ctx: Ctx) -> None:
    args = ctx.args
    program: str | None = None
    files: list[Word] = []
    in_place = False
    i = 0
    while i < len(args):
        w = args[i]
        v = w.value
        if v == "--":
            files += args[i + 1:]
            break
        if v in ("-f", "--file") and i + 1 < len(args):
            src = args[i + 1]
            text = None if src.dynamic else read_text(join_path(ctx.cwd, src.value))
            if text is None:
                ctx.unknown(f"{ctx.name} -f runs a program mlgate cannot read")
                return
            program = (program or "") + "\n" + text
            i += 2
            continue
        if v in ("-i", "--include") and i + 1 < len(args):
            lib = args[i + 1].value
            if lib in ("inplace", "inplace.awk"):
                in_place = True
            else:
                ctx.unknown(f"{ctx.name} -i {lib} loads code mlgate cannot read")
                return
            i += 2
            continue
        if v in ("-l", "--load", "-E", "--exec"):
            ctx.unknown(f"{ctx.name} {v} loads code mlgate cannot read")
            return
        if v in ("-v", "--assign", "-F", "--field-separator") and i + 1 < len(args):
            i += 2
            continue
        if v.startswith("-") and len(v) > 1:
            if v.startswith("-i"):
                if v[2:] in ("inplace", "inplace.awk"):
                    in_place = True
                else:
                    ctx.unknown(f"{ctx.name} {v} loads code mlgate cannot read")
                    return
            i += 1
            continue
        if program is None:
            if w.dynamic:
                ctx.unknown(f"{ctx.name} program that is only known when it runs")
                return
            program = v
        else:
            files.append(w)
        i += 1
    if program is None:
        return
    targets, why = awk_writes(program)
    if why:
        ctx.unknown(f"{ctx.name} program that {why}")
    for t in targets:
        ctx.write(t, f"{ctx.name} print >")
    if in_place or "@include \"inplace" in program:
        if not files or ctx.xargs:
            ctx.unknown(f"{ctx.name} -i inplace on files given elsewhere")
        for w in files:
            if "=" not in w.value:
                ctx.write(w, f"{ctx.name} -i inplace")


_AWK_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def awk_writes(program: str) -> tuple[list[str], str]:
    """Literal files an awk program prints into, and why it cannot be analysed ("" if it
    can): ``print > "f"``/``printf >> "f"`` give ``f``; ``print | cmd``, ``cmd | getline``,
    ``system()``, ``@load`` and a redirection to a computed name cannot be analysed."""
    targets: list[str] = []
    n = len(program)
    i = 0
    in_print = False
    depth = 0  # parentheses inside a print statement
    prev_sig = ""  # the last significant token (to tell a regex from a division)
    while i < n:
        c = program[i]
        if c == "#":
            end = program.find("\n", i)
            i = n if end < 0 else end
            continue
        if c == '"':
            j = i + 1
            while j < n and program[j] != '"':
                j += 2 if program[j] == "\\" else 1
            prev_sig = "str"
            i = j + 1
            continue
        if c == "/" and prev_sig in ("", "op", "(", ",", "!", "~", "{", ";", "&&", "||"):
            j = i + 1
            while j < n and program[j] not in "/\n":
                j += 2 if program[j] == "\\" else 1
            prev_sig = "str"
            i = j + 1
            continue
        if c.isalpha() or c == "_" or c == "@":
            m = _AWK_WORD.match(program, i + (1 if c == "@" else 0))
            word = m.group(0) if m else c
            if c == "@":
                if word in ("load",):
                    return targets, "loads an extension (@load)"
                i += 1 + len(word)
                continue
            if word in ("print", "printf"):
                in_print = True
                depth = 0
            elif word in ("system", "getline") and (word == "system" or program[max(0, i - 3):i].strip().endswith("|")):
                return targets, f"runs commands ({word})"
            elif word == "getline" and "|" in program[max(0, i - 4):i]:
                return targets, "runs commands (cmd | getline)"
            prev_sig = "word"
            i += len(word)
            continue
        if c in "\n;{}":
            in_print = False
            prev_sig = "op" if c != "{" else "{"
            i += 1
            continue
        if c == "(":
            depth += 1
            prev_sig = "("
            i += 1
            continue
        if c == ")":
            depth -= 1
            prev_sig = "word"
            i += 1
            continue
        if c == "|":
            if program.startswith("||", i):
                prev_sig = "||"
                i += 2
                continue
            if in_print and depth <= 0:
                return targets, "pipes its output into a command (print | cmd)"
            # `cmd | getline` is seen at `getline`
            rest = program[i + 1:i + 40].lstrip()
            if rest.startswith("getline") or rest.startswith("&"):
                return targets, "runs commands (cmd | getline)"
            prev_sig = "op"
            i += 1
            continue
        if c == ">" and in_print and depth <= 0:
            j = i + 1
            if program.startswith(">", j):
                j += 1
            while j < n and program[j] in " \t":
                j += 1
            if j < n and program[j] == '"':
                k = j + 1
                while k < n and program[k] != '"':
                    k += 2 if program[k] == "\\" else 1
                tail = program[k + 1:k + 2]
                if tail and tail not in " \t\n;}":
                    return targets, "prints into a file whose name is computed"
                targets.append(program[j + 1:k])
                i = k + 1
                continue
            return targets, "prints into a file whose name is computed"
        if c in "=<>!~+-*%^?:,&":
            prev_sig = "op" if c not in "!~," else c
            if c == "&" and program.startswith("&&", i):
                prev_sig = "&&"
                i += 2
                continue
            i += 1
            continue
        if c not in " \t\r":
            prev_sig = "word"
        i += 1
    return targets, ""


def _sed(ctx: Ctx) -> None:
    in_place = False
    sandbox = False
    scripts: list[str] = []
    script_given = False
    files: list[Word] = []
    i = 0
    args = ctx.args
    while i < len(args):
        w = args[i]
        v = w.value
        if v == "--":
            files += args[i + 1:]
            break
        if v.startswith("--"):
            key, eq, val = v.partition("=")
            if key == "--in-place":
                in_place = True
            elif key == "--sandbox":
                sandbox = True
            elif key in ("--expression", "--file"):
                script_given = True
                value = val if eq else (args[i + 1].value if i + 1 < len(args) else "")
                dyn = (not eq) and i + 1 < len(args) and args[i + 1].dynamic
                if not eq:
                    i += 1
                if key == "--file":
                    text = None if dyn else read_text(join_path(ctx.cwd, value))
                    scripts.append(text if text is not None else "\0unreadable")
                else:
                    scripts.append("\0dynamic" if dyn else value)
            elif key == "--line-length" and not eq:
                i += 1
        elif v.startswith("-") and len(v) > 1 and not w.dynamic:
            j = 1
            while j < len(v):
                ch = v[j]
                if ch == "i":
                    in_place = True
                    break  # the rest is the backup suffix
                if ch in "efl":
                    value = v[j + 1:] if j + 1 < len(v) else (
                        args[i + 1].value if i + 1 < len(args) else "")
                    dyn = j + 1 == len(v) and i + 1 < len(args) and args[i + 1].dynamic
                    if j + 1 == len(v):
                        i += 1
                    if ch == "e":
                        script_given = True
                        scripts.append("\0dynamic" if dyn else value)
                    elif ch == "f":
                        script_given = True
                        text = None if dyn else read_text(join_path(ctx.cwd, value))
                        scripts.append(text if text is not None else "\0unreadable")
                    break
                j += 1
        else:
            files.append(w)
        i += 1
    if not script_given and files:
        first = files.pop(0)
        scripts.append("\0dynamic" if first.dynamic else first.value)
    if not sandbox:
        for script in scripts:
            if script.startswith("\0"):
                ctx.unknown("a sed script mlgate cannot read")
                continue
            targets, why = sed_writes(script)
            if why:
                ctx.unknown(f"a sed script that {why}")
            for t in targets:
                ctx.write(t, "sed w")
    if not in_place:
        return
    if ctx.xargs or not files:
        ctx.unknown("sed -i on files given elsewhere")
        return
    for w in files:
        ctx.write(w, "sed -i")


def sed_writes(script: str) -> tuple[list[str], str]:
    """Files a sed script writes (``w FILE``, ``W FILE``, ``s/a/b/w FILE``) and why it cannot
    be analysed ("" if it can): ``e`` runs commands."""
    targets: list[str] = []
    n = len(script)
    i = 0
    while i < n:
        c = script[i]
        if c in " \t\n;!}{":
            i += 1
            continue
        if c == "#":
            end = script.find("\n", i)
            i = n if end < 0 else end
            continue
        # addresses: numbers, $, /re/, \cREc, ranges, ~step, +N
        while i < n and (script[i].isdigit() or script[i] in "$,~+ \t"):
            i += 1
        if i < n and script[i] in "/\\":
            delim = "/" if script[i] == "/" else script[i + 1:i + 2]
            j = i + (1 if script[i] == "/" else 2)
            while j < n and script[j] != delim:
                j += 2 if script[j] == "\\" else 1
            i = j + 1
            while i < n and script[i] in "IM":
                i += 1
            continue  # more address or the command follows
        if i >= n:
            break
        c = script[i]
        if c in "wW":
            end = script.find("\n", i)
            end = n if end < 0 else end
            name = script[i + 1:end].strip()
            if name and name not in ("/dev/stdout", "/dev/stderr"):
                targets.append(name)
            i = end
            continue
        if c == "e":
            return targets, "runs commands (e)"
        if c in "rRbtTaic:":
            end = script.find("\n", i)
            if c in "btT:":
                semi = script.find(";", i)
                if 0 <= semi < (end if end >= 0 else n):
                    end = semi
            i = n if end < 0 else end
            continue
        if c in "sy":
            if i + 1 >= n:
                break
            delim = script[i + 1]
            j = i + 2
            count = 0
            while j < n and count < 2:
                if script[j] == "\\":
                    j += 2
                    continue
                if script[j] == delim:
                    count += 1
                j += 1
            i = j
            if c == "s":
                while i < n and script[i] not in ";\n}":
                    f = script[i]
                    if f == "e":
                        return targets, "runs commands (s///e)"
                    if f in "wW":
                        end = script.find("\n", i)
                        end = n if end < 0 else end
                        name = script[i + 1:end].strip()
                        if name and name not in ("/dev/stdout", "/dev/stderr"):
                            targets.append(name)
                        i = end
                        break
                    i += 1
            continue
        i += 1
    return targets, ""


def _uniq(ctx: Ctx) -> None:
    ops, _ = operands(ctx.args, "fswn", ("--skip-fields", "--skip-chars", "--check-chars",
                                          "--group", "--all-repeated"))
    if len(ops) >= 2:
        ctx.write(ops[1], "uniq")


def _zip(ctx: Ctx) -> None:
    ops, opts = operands(ctx.args, "bnOtxiPZsUY", ("--output-file", "--temp-path",
                                                    "--exclude", "--include", "--password"))
    out = opts.get("-O") or opts.get("--output-file")
    if isinstance(out, str) and out:
        ctx.write(out, "zip")
    if ops:
        archive = ops[0]
        ctx.write(archive, "zip")
        if not archive.dynamic and not archive.value.endswith(".zip"):
            ctx.write(archive.value + ".zip", "zip")
        if "-m" in opts or "--move" in opts:
            for w in ops[1:]:
                ctx.write(w, "zip -m")
    elif ctx.xargs:
        ctx.unknown("zip of an archive named elsewhere")


def _sponge(ctx: Ctx) -> None:
    ops, _ = operands(ctx.args, "", ())
    for w in ops:
        ctx.write(w, "sponge")


_EDITORS = {"vim", "vi", "nvim", "view", "ex", "ed", "red", "emacs", "nano", "pico", "micro",
            "joe", "mcedit", "kak", "hx", "helix", "vimdiff", "gvim", "emacsclient", "jed",
            "ne", "mg", "jove"}


def _editor(ctx: Ctx) -> None:
    """An editor writes the files it opens, and runs what its script says."""
    scripted = False
    files: list[Word] = []
    skip = False
    for a in ctx.args:
        v = a.value
        if skip:
            skip = False
            continue
        if v in ("-c", "--cmd", "-S", "-s", "-W", "-w", "--eval", "-l", "--load", "-x",
                 "--execute", "-batch", "--batch", "--script", "-u", "-i") or v.startswith("+"):
            scripted = True
            skip = v not in ("-batch", "--batch") and not v.startswith("+")
            continue
        if v in ("-es", "-Es", "-e", "-E") or v.startswith("--eval="):
            scripted = True
            continue
        if v.startswith("-"):
            continue
        files.append(a)
    if scripted or ctx.stdin_text is not None or ctx.stdin_file is not None or ctx.pipe_in:
        ctx.unknown(f"{ctx.name} runs editor commands, which can write any file or run any "
                    f"command")
    elif not files:
        ctx.unknown(f"an interactive {ctx.name}: mlgate cannot see what is typed into it")
    for w in files:
        ctx.write(w, ctx.name)


def _runs_later(ctx: Ctx) -> None:
    """tmux/screen/at/crontab/ssh/…: commands that run elsewhere or later."""
    vals = [a.value for a in ctx.args]
    if ctx.name == "crontab" and (not vals or vals[0] in ("-l", "-e") and vals[0] == "-l"):
        return
    if ctx.name in ("tmux", "screen") and vals[:1] in (["ls"], ["list-sessions"], ["-ls"],
                                                        ["-list"], ["list-windows"],
                                                        ["has-session"], ["-V"]):
        return
    if ctx.name == "ssh":
        ops = [v for v in vals if not v.startswith("-")]
        if len(ops) <= 1:
            return
    ctx.unknown(f"`{ctx.name}` runs commands mlgate cannot see (in another session, "
                f"later, or elsewhere)")


def _link(ctx: Ctx) -> None:
    """``link A B``: a hard link; the source counts as written (class: hard links)."""
    ops, _ = operands(ctx.args, "", ())
    for w in ops[:2]:
        ctx.write(w, "link")


HANDLERS: dict[str, Callable[[Ctx], None]] = {
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
    "ln": _copy_like(False, link=True),
    "install": _copy_like(False, "tSmogs", ("--target-directory", "--suffix", "--mode",
                                            "--owner", "--group")),
    "dd": _dd,
    "chmod": _chmod,
    "chown": _skip_first(),
    "chgrp": _skip_first(),
    "setfacl": _skip_first(),
    "chattr": _skip_first(),
    "curl": _curl,
    "wget": _wget,
    "tar": _tar,
    "unzip": _unzip,
    "gzip": _compress,
    "gunzip": _compress,
    "bzip2": _compress,
    "xz": _compress,
    "zstd": _compress,
    "sort": _sort,
    "rsync": _rsync,
    "find": _find,
    "patch": _patch,
    "apply_patch": _apply_patch,
    "applypatch": _apply_patch,
    "git": handle_git,
}
HANDLERS.update({
    "eval": _eval,
    "source": _source,
    ".": _source,
    "mlgate": _mlgate,
    "pre-commit": _pre_commit_tool,
    "awk": _awk, "gawk": _awk, "mawk": _awk, "nawk": _awk, "busybox-awk": _awk,
    "sed": _sed, "gsed": _sed,
    "perl": _interpreter,
    "uniq": _uniq,
    "zip": _zip,
    "sponge": _sponge,
    "link": _link,
    "pip": _pip, "pip3": _pip,
    **{name: _editor for name in _EDITORS},
    **{name: _runs_later for name in ("tmux", "screen", "at", "batch", "crontab", "ssh",
                                      "systemd-run", "nsenter", "unshare", "firejail",
                                      "script", "su", "runuser", "sg", "newgrp", "parallel",
                                      "watch", "entr", "strace", "ltrace", "valgrind")},
    **{name: _interpreter for name in _INLINE_FLAGS},
})
SHELLS = {"bash", "sh", "zsh", "dash", "ksh", "ash", "mksh", "fish", "tcsh", "csh", "yash",
          "posh", "rbash", "busybox-sh"}
INTERPRETERS = {name: _interpreter for name in _INLINE_FLAGS}
