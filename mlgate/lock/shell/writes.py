"""The per-command write rules of :mod:`mlgate.lock.shell.analyze`, and the table naming them.

Standard library only (the hook path imports it). A rule takes a
:class:`~mlgate.lock.shell.context.Ctx` and reports the files the command writes (``ctx.write``),
writes it cannot place (``ctx.unknown``) and what is refused (``ctx.refuse``):
``rm``/``touch``/``mkdir`` … (every operand), ``cp``/``mv``/``ln``/``install``, ``tee``,
``dd of=``, ``sed -i``, ``perl -i``, ``curl -o``, ``wget``, ``tar``, ``unzip``, compressors,
``sort -o``, ``rsync``, ``find -delete``/``-exec``, ``patch``, ``apply_patch``; ``ln``
(and ``cp -l/-s``) also write their sources (a link shares its source). ``git`` is
:mod:`mlgate.lock.shell.gitcmd`, shells and interpreters :mod:`mlgate.lock.shell.interp`,
text tools :mod:`mlgate.lock.shell.texttools`. ``HANDLERS`` maps a command name to its rule.
"""
from __future__ import annotations

import os
import re
from mlgate.lock.shell.context import Ctx, join_path, operands, read_text
from mlgate.lock.shell.gitcmd import handle_git
from mlgate.lock.shell.lexer import Word
from mlgate.lock.shell.interp import (INTERPRETER_RULES, SHELLS, handle_python, handle_shell,
                                      is_python)
from mlgate.lock.shell.texttools import TEXT_RULES
TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["HANDLERS", "INTERPRETERS", "SHELLS", "handle_python", "handle_shell", "is_python"]


def _all_operands(short_arg: str = "", long_arg: tuple[str, ...] = (),
                  removes: bool = False):  # type: ignore[no-untyped-def]
    def handler(ctx: Ctx) -> None:
        ops, _ = operands(ctx.args, short_arg, long_arg)
        if ctx.xargs or not ops:
            if ctx.xargs:
                ctx.unknown("operands come from xargs")
            return
        for w in ops:
            if removes:
                ctx.remove(w, ctx.name or "the command")
            else:
                ctx.write(w, ctx.name or "the command")
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
                ctx.remove(w, "mv")
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


HANDLERS: dict[str, Callable[[Ctx], None]] = {
    "rm": _all_operands(removes=True),
    "unlink": _all_operands(removes=True),
    "rmdir": _all_operands(removes=True),
    "shred": _all_operands("ns", ("--iterations", "--size", "--random-source"), removes=True),
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
HANDLERS.update(TEXT_RULES)
HANDLERS.update(INTERPRETER_RULES)
INTERPRETERS = {name: rule for name, rule in INTERPRETER_RULES.items()
                if name not in ("eval", "source", ".", "mlgate", "pre-commit", "pip", "pip3")}
