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

_ENVELOPE_KINDS = ("Add File", "Update File", "Delete File", "Move to", "Move File")
# Every parser here goes line by line with string methods (no backtracking regex over a
# line): a 200 KB patch, or a line of 100,000 blanks, costs time linear in its length.


def _envelope_line(line: str) -> str | None:
    """The path of a ``*** Add File: path`` (…) line, or None."""
    s = line.strip()
    if not s.startswith("***"):
        return None
    s = s[3:].lstrip()
    for kind in _ENVELOPE_KINDS:
        if s.startswith(kind):
            rest = s[len(kind):].lstrip()
            if rest.startswith(":"):
                return rest[1:].strip()
    return None


def _split_diff_git(line: str) -> tuple[str, str] | None:
    """``diff --git A B`` (either side may be "quoted")."""
    rest = line[len("diff --git "):].rstrip()
    if rest.startswith('"'):
        end = _closing_quote(rest, 0)
        if end < 0:
            return None
        a, rest = rest[:end + 1], rest[end + 1:].lstrip()
    else:
        if rest.endswith('"'):
            start = rest.find(' "')
            if start < 0:
                return None
            return rest[:start], rest[start + 1:]
        # unquoted both sides: split in the middle ("a/x b/x" with equal halves), else at
        # the first blank
        half = (len(rest) - 1) // 2
        if len(rest) % 2 == 1 and rest[half] == " " and rest[:half].split("/", 1)[-1] == \
                rest[half + 1:].split("/", 1)[-1]:
            return rest[:half], rest[half + 1:]
        a, _, rest = rest.partition(" ")
    if not rest:
        return None
    return a, rest


def _closing_quote(s: str, start: int) -> int:
    i = start + 1
    while i < len(s):
        if s[i] == "\\":
            i += 2
            continue
        if s[i] == '"':
            return i
        i += 1
    return -1


def is_envelope(text: str) -> bool:
    """True when ``text`` holds a Codex ``*** Begin Patch`` envelope."""
    return any(line.strip().replace(" ", "") == "***BeginPatch" for line in text.splitlines())


def envelope_paths(text: str) -> list[str]:
    """Every path an ``apply_patch`` envelope adds, updates, deletes or moves to, in order and
    without duplicates. An empty list means the text names no file (the caller fails closed)."""
    out: list[str] = []
    for line in text.splitlines():
        raw = _envelope_line(line)
        if raw is None:
            continue
        path = _unquote(raw)
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
        if line.startswith("diff --git "):
            pair = _split_diff_git(line)
            if pair:
                found += [(_unquote(pair[0]), True), (_unquote(pair[1]), True)]
            continue
        if line.startswith("--- ") or line.startswith("+++ "):
            path = line[4:]
            if path.startswith('"'):
                end = _closing_quote(path, 0)
                path = path[:end + 1] if end > 0 else path
            else:
                path = path.partition("\t")[0]
            path = path.strip()
            if path:
                found.append((_unquote(path), True))
            continue
        for head in ("rename from ", "rename to ", "copy from ", "copy to "):
            if line.startswith(head):  # these name the path without the a/ b/ prefix
                found.append((_unquote(line[len(head):].strip()), False))
                break
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
