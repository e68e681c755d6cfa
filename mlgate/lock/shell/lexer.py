"""The lexer of :mod:`mlgate.lock.shell.analyze`: shell text to simple commands.

Standard library only (the hook path imports it). ``shlex`` cannot do heredocs, ``$(...)``
nesting or newlines as separators, so a small lexer splits the text into :class:`Word` and
:class:`Op` tokens: it keeps what quoting leaves of a word (and whether it holds an expansion
the hook cannot evaluate), reads heredoc bodies, and collects the text of ``$(...)``, backticks
and ``<(...)`` / ``>(...)`` for analysis as commands of their own. :func:`split_commands` groups
the tokens into simple commands (:class:`Command`) at ``;`` ``&&`` ``||`` ``|`` ``&`` and
newlines.
"""
from __future__ import annotations

import re
from mlgate.record import field, record


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

