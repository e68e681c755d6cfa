"""The rules of :mod:`mlgate.lock.shell.analyze` for text tools that can write: ``awk``
(``print > "f"``, ``-i inplace``, ``system()``), ``sed`` (``-i``, ``w FILE``, ``s///w``,
``e``), ``uniq IN OUT``, ``zip``, ``sponge``, editors (``vim -es``, ``ex``, ``ed`` …),
``link``, and commands that run elsewhere or later (``tmux``, ``at``, ``ssh`` …).

Standard library only (the hook path imports it). The awk and sed program readers are small
forward scanners (linear in the program's length): a literal target is a write, anything that
runs a command or prints to a computed name cannot be placed.
"""
from __future__ import annotations

import re
from mlgate.lock.shell.context import Ctx, join_path, operands, read_text
from mlgate.lock.shell.lexer import Word
TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["TEXT_RULES", "awk_writes", "sed_writes"]

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


TEXT_RULES: dict[str, Callable[[Ctx], None]] = {
    "awk": _awk, "gawk": _awk, "mawk": _awk, "nawk": _awk, "busybox-awk": _awk,
    "sed": _sed, "gsed": _sed, "uniq": _uniq, "zip": _zip, "sponge": _sponge, "link": _link,
    **{name: _editor for name in _EDITORS},
    **{name: _runs_later for name in ("tmux", "screen", "at", "batch", "crontab", "ssh",
                                      "systemd-run", "nsenter", "unshare", "firejail",
                                      "script", "su", "runuser", "sg", "newgrp", "parallel",
                                      "watch", "entr", "strace", "ltrace", "valgrind")},
}
