"""Word expansion for :mod:`mlgate.lock.shell.analyze`: what a word stands for, when it is known.

Standard library only (the hook path imports it). A :class:`~mlgate.lock.shell.lexer.Word` is
expanded the way bash would, as far as the hook can know it: variables assigned earlier in the
same command (and ``HOME``/``PWD``/``OLDPWD``), ``~``, brace expansion (``src/{a,b}.py``) and
pathname expansion (globs, matched against the file system now). Anything else (a command
substitution, a variable from the caller's environment, ``$1``, ``${X:-y}``) makes the word
unknown: :func:`expand` returns ``None`` and the caller treats the target as unresolvable.

Quoted glob and brace characters are kept literal: while a word is expanded they are mapped to
private code points (:data:`_PROTECT`) and mapped back at the end.
"""
from __future__ import annotations

import glob as _glob
import os

from mlgate.lock.shell.lexer import Word

MAX_EXPANSIONS = 512  # brace/glob results per word; more is "unknown"
_PROTECT = {"{": "\ue001", "}": "\ue002", ",": "\ue003", "*": "\ue004", "?": "\ue005",
            "[": "\ue006", "]": "\ue007", "~": "\ue008"}
_UNPROTECT = {v: k for k, v in _PROTECT.items()}
_UNPROTECT_TABLE = str.maketrans(_UNPROTECT)
_PROTECT_TABLE = str.maketrans(_PROTECT)
_GLOB_ESCAPE = {"\ue004": "[*]", "\ue005": "[?]", "\ue006": "[[]"}


class Unknown(Exception):
    """A part of the word cannot be known here."""


def text(word: Word, env: dict[str, str | None]) -> str | None:
    """The word with its variables substituted and quoted specials protected; ``None`` when
    a part cannot be known. Unquoted variable values with blanks or glob characters are
    unknown too (bash would split or expand them)."""
    out: list[str] = []
    parts = word.parts or ([("dyn", word.value, False)] if word.dynamic
                           else [("lit", word.value, True)])
    for kind, value, quoted in parts:
        if kind == "lit":
            out.append(value.translate(_PROTECT_TABLE) if quoted else value)
        elif kind == "var":
            val = env.get(value)
            if val is None:
                return None
            if not quoted and (any(c in val for c in " \t\n*?[{") or val == ""):
                return None
            out.append(val.translate(_PROTECT_TABLE))
        else:
            return None
    return "".join(out)


def plain(word: Word, env: dict[str, str | None]) -> str | None:
    """The single string the word stands for (no glob or brace expansion); ``None`` if
    unknown or if it would expand to several words."""
    t = text(word, env)
    if t is None:
        return None
    if is_pattern(t) or ("{" in t and ("," in t or ".." in t)):
        return None
    return _tilde(t).translate(_UNPROTECT_TABLE)


def is_pattern(t: str) -> bool:
    """Unquoted ``*``, ``?`` or a closed ``[...]``: a glob (``[`` alone is the test command)."""
    if "*" in t or "?" in t:
        return True
    i = t.find("[")
    return i >= 0 and t.find("]", i + 2) > i


def expand(word: Word, env: dict[str, str | None], cwd: str | None,
           globbing: bool = True) -> list[str] | None:
    """The strings ``word`` expands to (globs matched against ``cwd``), or ``None``.

    A glob that matches nothing stays as it is (bash's default); one that matches gives its
    matches *and* the pattern itself (a file of that name may be created before it runs)."""
    t = text(word, env)
    if t is None:
        return None
    if t.count("{") > 64:
        return None
    items = brace(t)
    if items is None:
        return None
    out: list[str] = []
    for item in items:
        item = _tilde(item)
        if is_pattern(item):
            if not globbing or cwd is None and not item.startswith("/"):
                return None
            pattern = "".join(_GLOB_ESCAPE.get(c, c) for c in item).translate(_UNPROTECT_TABLE)
            base = cwd or "/"
            full = pattern if os.path.isabs(pattern) else os.path.join(base, pattern)
            matches = _glob.glob(full)
            if len(matches) > MAX_EXPANSIONS:
                return None
            for m in matches:
                out.append(m if os.path.isabs(pattern) else os.path.relpath(m, base))
        out.append(item.translate(_UNPROTECT_TABLE))
        if len(out) > MAX_EXPANSIONS:
            return None
    return out


def _tilde(t: str) -> str:
    if t == "~" or t.startswith("~/"):
        return os.path.expanduser("~") + t[1:]
    if t.startswith("~"):
        return os.path.expanduser(t.split("/", 1)[0]) + ("/" + t.split("/", 1)[1]
                                                          if "/" in t else "")
    return t


def brace(t: str) -> list[str] | None:
    """Bash brace expansion of ``t`` (``a{b,c}d``, ``{1..3}``); ``None`` past the limit."""
    start = _brace_start(t)
    if start < 0:
        return [t]
    depth = 0
    commas: list[int] = []
    end = -1
    for j in range(start, len(t)):
        c = t[j]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                end = j
                break
        elif c == "," and depth == 1:
            commas.append(j)
    if end < 0:
        return [t]
    pre, body, post = t[:start], t[start + 1:end], t[end + 1:]
    if commas:
        pieces, last = [], start + 1
        for c in commas:
            pieces.append(t[last:c])
            last = c + 1
        pieces.append(t[last:end])
    elif ".." in body:
        lo, _, hi = body.partition("..")
        hi = hi.split("..")[0]
        if lo.lstrip("-").isdigit() and hi.lstrip("-").isdigit():
            a, b = int(lo), int(hi)
            if abs(b - a) > MAX_EXPANSIONS:
                return None
            step = 1 if b >= a else -1
            pieces = [str(k) for k in range(a, b + step, step)]
        elif len(lo) == 1 and len(hi) == 1:
            a, b = ord(lo), ord(hi)
            step = 1 if b >= a else -1
            pieces = [chr(k) for k in range(a, b + step, step)]
        else:
            rest = brace(post)
            return None if rest is None else [pre + "{" + body + "}" + r for r in rest]
    else:
        rest = brace(post)
        return None if rest is None else [pre + "{" + body + "}" + r for r in rest]
    out: list[str] = []
    for piece in pieces:
        sub = brace(pre + piece + post)
        if sub is None:
            return None
        out.extend(sub)
        if len(out) > MAX_EXPANSIONS:
            return None
    return out


def _brace_start(t: str) -> int:
    i = t.find("{")
    while i >= 0:
        if i + 1 < len(t) and t[i + 1] != "}":
            return i
        i = t.find("{", i + 1)
    return -1
