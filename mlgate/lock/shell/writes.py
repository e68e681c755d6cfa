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
TYPE_CHECKING = False

if TYPE_CHECKING:
    from mlgate.lock.shell.context import Ctx


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


def _copy_like(move: bool, short_arg: str = "tS", long_arg: tuple[str, ...] = (
        "--target-directory", "--suffix")):  # type: ignore[no-untyped-def]
    def handler(ctx: Ctx) -> None:
        ops, opts = operands(ctx.args, short_arg, long_arg)
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
        dest_path = None if dest.dynamic else join_path(ctx.cwd, dest.value)
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


def _sed(ctx: Ctx) -> None:
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


def _perl(ctx: Ctx) -> None:
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
            if inner and ctx.an.writes_operands(inner):
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


def _eval(ctx: Ctx) -> None:
    ctx.an.run(" ".join(w.value for w in ctx.args), ctx.cwd, ctx.depth + 1)


def handle_python(ctx: Ctx) -> None:
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


def _mlgate(ctx: Ctx) -> None:
    words = [w.value for w in ctx.args if not w.value.startswith("--json")]
    if words[:2] == ["hooks", "uninstall"] or (words[:2] == ["hooks", "install"]
                                                 and "--force" in words):
        ctx.refuse("removing or replacing mlgate's hooks is for a person to do, not an agent")


def _pre_commit_tool(ctx: Ctx) -> None:
    if [w.value for w in ctx.args][:1] == ["uninstall"]:
        ctx.refuse("`pre-commit uninstall` removes the commit hook; that is for a person to "
                   "do, not an agent")


def _script_e(ctx: Ctx) -> None:
    """node -e / ruby -e: only a rough look for file writes."""
    for i, w in enumerate(ctx.args):
        if w.value in ("-e", "--eval", "-p", "--print") and i + 1 < len(ctx.args):
            code = ctx.args[i + 1].value
            if re.search(r"writeFile|appendFile|createWriteStream|unlink|rmSync|renameSync|"
                         r"File\.(write|open|delete|rename)|FileUtils", code):
                ctx.unknown("inline script code that writes files")



HANDLERS = {
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
    "git": handle_git,
    "eval": _eval,
    "source": lambda ctx: None,
    "node": _script_e,
    "mlgate": _mlgate,
    "pre-commit": _pre_commit_tool,
    "ruby": _script_e,
}
