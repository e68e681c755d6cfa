"""Target paths of patches: the Codex ``apply_patch`` envelope and unified diffs.

Standard library only (the hook path imports it). Both parsers return the paths *as written*
in the patch (relative paths stay relative); the caller resolves them against the directory the
patch is applied in.

The Codex envelope::

    *** Begin Patch
    *** Add File: path
    *** Update File: path
    *** Move to: new/path
    *** Delete File: path
    *** End Patch

Unified diffs (``git apply``, ``patch``): ``diff --git a/x b/y``, ``--- a/x`` / ``+++ b/y``,
``rename from``/``rename to`` and ``copy to`` lines.
"""
from __future__ import annotations

import re

_ENVELOPE_RE = re.compile(
    r"^\s*\*\*\*\s*(Add File|Update File|Delete File|Move to|Move File)\s*:\s*(?P<path>.+?)\s*$",
    re.MULTILINE)
_BEGIN_RE = re.compile(r"^\s*\*\*\*\s*Begin Patch\s*$", re.MULTILINE)
_DIFF_GIT_RE = re.compile(r'^diff --git (?P<a>"(?:[^"\\]|\\.)*"|\S+) (?P<b>"(?:[^"\\]|\\.)*"|\S+)\s*$')
_FILE_LINE_RE = re.compile(r"^(?:---|\+\+\+) (?P<path>\"(?:[^\"\\]|\\.)*\"|[^\t\n]+?)(?:\t.*)?\s*$")
_RENAME_RE = re.compile(r"^(?:rename|copy) (?:from|to) (?P<path>.+?)\s*$")


def is_envelope(text: str) -> bool:
    """True when ``text`` holds a Codex ``*** Begin Patch`` envelope."""
    return bool(_BEGIN_RE.search(text))


def envelope_paths(text: str) -> list[str]:
    """Every path an ``apply_patch`` envelope adds, updates, deletes or moves to, in order and
    without duplicates. An empty list means the text names no file (the caller fails closed)."""
    out: list[str] = []
    for m in _ENVELOPE_RE.finditer(text):
        path = _unquote(m.group("path"))
        if path and path not in out:
            out.append(path)
    return out


def diff_paths(text: str, strip: int | None = 1) -> list[str]:
    """Every file a unified diff touches, both sides (old and new names).

    ``strip`` is the ``-p`` level (``git apply`` uses 1); ``None`` returns each path both
    unstripped and stripped by one component, for ``patch`` without ``-p``. ``/dev/null`` is
    skipped.
    """
    found: list[tuple[str, bool]] = []  # (path, carries an a/ b/-style prefix)
    for line in text.splitlines():
        m = _DIFF_GIT_RE.match(line)
        if m:
            found += [(_unquote(m.group("a")), True), (_unquote(m.group("b")), True)]
            continue
        if line.startswith("--- ") or line.startswith("+++ "):
            m = _FILE_LINE_RE.match(line)
            if m:
                found.append((_unquote(m.group("path").strip()), True))
            continue
        m = _RENAME_RE.match(line)
        if m:  # rename/copy lines name the path without the a/ b/ prefix
            found.append((_unquote(m.group("path")), False))
    out: list[str] = []
    for path, prefixed in found:
        if not path or path == "/dev/null":
            continue
        levels = ((0, 1) if strip is None else (strip,)) if prefixed else (0,)
        for level in levels:
            stripped = _strip(path, level)
            if stripped and stripped not in out:
                out.append(stripped)
    return out


def _strip(path: str, level: int) -> str:
    if level <= 0 or path.startswith("/"):
        return path
    parts = path.split("/")
    if len(parts) <= level:
        return parts[-1]
    return "/".join(parts[level:])


def _unquote(path: str) -> str:
    """Paths git quotes (``"a/sp ace\\t.py"``) are C-style strings."""
    path = path.strip()
    if len(path) >= 2 and path[0] == '"' and path[-1] == '"':
        body = path[1:-1]
        try:
            return body.encode("latin-1", "backslashreplace").decode("unicode_escape")
        except (UnicodeDecodeError, UnicodeEncodeError):
            return body
    return path
