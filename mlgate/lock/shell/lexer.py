"""The lexer of :mod:`mlgate.lock.shell.analyze`: shell text to simple commands.

Standard library only (the hook path imports it). ``shlex`` cannot do heredocs, ``$(...)``
nesting or newlines as separators, so a small lexer splits the text into :class:`Word` and
:class:`Op` tokens. A word keeps its *parts* (literal text, quoted or not; ``$VAR``; command
substitutions; other expansions), so that the analysis can expand what it knows (variables
set earlier in the command, globs, braces) and give up on what it does not. Heredoc bodies are
read; the text of ``$(...)``, backticks and ``<(...)`` / ``>(...)`` is kept for analysis as
commands of their own. :func:`split_commands` groups the tokens into simple commands
(:class:`Command`) at ``;`` ``&&`` ``||`` ``|`` ``&`` and newlines, and follows the compound
commands (``if``/``while``/``for``/``case``/functions/``{ }``/``( )``) far enough to say
whether a command runs for sure, maybe, or maybe many times.

Everything here is linear in the length of the text: every scan moves forward, and
:class:`Budget` is checked as it goes (the analysis denies a command it cannot finish
reading in time).
"""
from __future__ import annotations

import re
import time
from mlgate.record import field, record

_VAR_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BRACED_VAR_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_GLOB_CHARS = frozenset("*?[")


class BudgetExceeded(Exception):
    """The analysis ran out of its time budget (the command is refused)."""


class Budget:
    """A deadline, checked cooperatively by the lexer and the analysis."""

    __slots__ = ("deadline", "seconds", "ticks")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.ticks = 0

    def check(self) -> None:
        self.ticks += 1
        if self.ticks & 63 == 0 and time.monotonic() > self.deadline:
            raise BudgetExceeded(f"the command could not be read within {self.seconds:g} s")

    def check_now(self) -> None:
        if time.monotonic() > self.deadline:
            raise BudgetExceeded(f"the command could not be read within {self.seconds:g} s")


_NO_BUDGET = Budget(1e9)


@record
class Word:
    value: str  # unquoted text; expansions are kept as written ($HOME, $(...))
    dynamic: bool = False  # holds an expansion the lexer cannot evaluate
    subs: list[str] = field(default_factory=list)  # $(...), `...`, <(...), >(...) bodies
    # (kind, text, quoted): kind is "lit", "var" (a plain $NAME / ${NAME}), "sub" (a command
    # substitution, text = its body) or "dyn" (any other expansion, text as written)
    parts: list[tuple[str, str, bool]] = field(default_factory=list)
    out_subs: list[str] = field(default_factory=list)  # >(...) bodies (stdin is a pipe)

    @property
    def glob(self) -> bool:
        """Holds an unquoted ``*``, ``?`` or ``[`` (a pattern the shell expands)."""
        return any(k == "lit" and not q and not _GLOB_CHARS.isdisjoint(t)
                   for k, t, q in self.parts)

    @property
    def brace(self) -> bool:
        return any(k == "lit" and not q and "{" in t for k, t, q in self.parts)

    @staticmethod
    def literal(text: str) -> "Word":
        return Word(text, parts=[("lit", text, True)])


def _lit(word: Word, text: str, quoted: bool) -> None:
    parts = word.parts
    if parts and parts[-1][0] == "lit" and parts[-1][2] == quoted:
        parts[-1] = ("lit", parts[-1][1] + text, quoted)
    else:
        parts.append(("lit", text, quoted))


@record
class Op:
    text: str
    fd: str | None = None  # for redirections: the fd number written before the operator
    body: str | None = None  # heredoc body (for << and <<-)
    quoted_body: bool = False  # the heredoc delimiter was quoted: no expansion in the body

    @property
    def is_redirect(self) -> bool:
        return self.text[0] in "<>" or self.text in ("&>", "&>>")


_OPERATORS = (";;&", "&>>", "<<<", "<<-", ";;", ";&", "&&", "||", "|&", ">>", ">|", ">&",
              "&>", "<<", "<>", "<&", ";", "&", "|", "(", ")", "<", ">")


class _Lexer:
    def __init__(self, text: str, budget: Budget) -> None:
        self.s = text
        self.i = 0
        self.budget = budget
        self.tokens: list[Word | Op] = []
        self.pending: list[tuple[Op, Word | None, bool]] = []  # heredoc op, delimiter, strip tabs

    def run(self) -> list[Word | Op]:
        s = self.s
        n = len(s)
        check = self.budget.check
        while self.i < n:
            check()
            c = s[self.i]
            if c in " \t\r":
                self.i += 1
            elif c == "\\" and s.startswith("\\\n", self.i):
                self.i += 2
            elif c == "\n":
                self.tokens.append(Op("\n"))
                self.i += 1
                self._read_heredocs()
            elif c == "#" and self._word_start():
                end = s.find("\n", self.i)
                self.i = n if end < 0 else end
            elif c in "<>" and s.startswith("(", self.i + 1):
                self._word()  # process substitution
            elif c == "(" and s.startswith("((", self.i) and self._arith():
                continue
            elif c in ";&|()<>":
                self._operator()
            else:
                self._word()
        self._read_heredocs()
        return self.tokens

    def _word_start(self) -> bool:
        return self.i == 0 or self.s[self.i - 1] in " \t\r\n;&|()<>"

    def _arith(self) -> bool:
        """``(( expr ))``: one opaque word (its ``<``/``>`` are comparisons)."""
        end = _find_close(self.s, self.i + 2, self.budget)
        if end + 1 < len(self.s) and self.s[end + 1] == ")":
            text = self.s[self.i:end + 2]
            self.tokens.append(Word(text, True, parts=[("dyn", text, False)]))
            self.i = end + 2
            return True
        return False

    def _operator(self) -> None:
        s, i = self.s, self.i
        for op in _OPERATORS:
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
        check = self.budget.check
        while self.i < n:
            check()
            c = s[self.i]
            if c in " \t\r\n;&|()":
                break
            if c in "<>":
                if s.startswith("(", self.i + 1):
                    end = _find_close(s, self.i + 2, self.budget)
                    body = s[self.i + 2:end]
                    word.subs.append(body)
                    if c == ">":
                        word.out_subs.append(body)
                    word.dynamic = True
                    text = s[self.i:end + 1]
                    buf.append(text)
                    word.parts.append(("sub", body, False))
                    self.i = end + 1
                    continue
                break
            if c == "\\":
                if s.startswith("\n", self.i + 1):
                    self.i += 2
                    continue
                ch = s[self.i + 1:self.i + 2]
                buf.append(ch)
                _lit(word, ch, True)
                self.i += 2
            elif c == "'":
                end = s.find("'", self.i + 1)
                end = n if end < 0 else end
                text = s[self.i + 1:end]
                buf.append(text)
                _lit(word, text, True)
                self.i = end + 1
            elif c == '"':
                self.i += 1
                self._double_quoted(buf, word)
            elif c == "$":
                self._dollar(buf, word, False)
            elif c == "`":
                self._backticks(buf, word, False)
            else:
                j = self.i + 1
                while j < n and s[j] not in " \t\r\n;&|()<>\\'\"$`":
                    j += 1
                text = s[self.i:j]
                buf.append(text)
                _lit(word, text, False)
                self.i = j
        word.value = "".join(buf)
        nxt = s[self.i:self.i + 1]
        raw = s[start:self.i]
        if raw.isdigit() and nxt in ("<", ">"):
            self._operator()  # `2>file`: the digits are the redirected fd
            op = self.tokens[-1]
            if isinstance(op, Op):
                op.fd = raw
            return
        if not word.parts:
            word.parts.append(("lit", "", True))  # '' or ""
        self.tokens.append(word)
        if self.pending and self.pending[-1][1] is None:
            tok, _, strip = self.pending[-1]
            if self.tokens[-2:-1] == [tok]:
                self.pending[-1] = (tok, word, strip)
                tok.quoted_body = any(q for _, _, q in word.parts)

    def _double_quoted(self, buf: list[str], word: Word) -> None:
        s = self.s
        n = len(s)
        check = self.budget.check
        while self.i < n:
            check()
            c = s[self.i]
            if c == '"':
                self.i += 1
                return
            if c == "\\" and self.i + 1 < n and s[self.i + 1] in '$`"\\\n':
                if s[self.i + 1] != "\n":
                    buf.append(s[self.i + 1])
                    _lit(word, s[self.i + 1], True)
                self.i += 2
            elif c == "$":
                self._dollar(buf, word, True)
            elif c == "`":
                self._backticks(buf, word, True)
            else:
                j = self.i + 1
                while j < n and s[j] not in '"\\$`':
                    j += 1
                text = s[self.i:j]
                buf.append(text)
                _lit(word, text, True)
                self.i = j

    def _backticks(self, buf: list[str], word: Word, quoted: bool) -> None:
        """A `` `cmd` `` substitution (bare or inside double quotes): kept as a sub-command."""
        s, n = self.s, len(self.s)
        end = self.i + 1
        while end < n and s[end] != "`":
            end += 2 if s[end] == "\\" else 1
        body = s[self.i + 1:end].replace("\\`", "`")
        word.subs.append(body)
        word.parts.append(("sub", body, quoted))
        word.dynamic = True
        buf.append(s[self.i:end + 1])
        self.i = end + 1

    def _dollar(self, buf: list[str], word: Word, quoted: bool) -> None:
        s = self.s
        i = self.i
        nxt = s[i + 1:i + 2]
        if nxt == "(":
            end = _find_close(s, i + 2, self.budget)
            inner = s[i + 2:end]
            text = s[i:end + 1]
            if not inner.startswith("("):  # $(( arithmetic )) runs no command
                word.subs.append(inner)
                word.parts.append(("sub", inner, quoted))
            else:
                word.parts.append(("dyn", text, quoted))
            word.dynamic = True
            buf.append(text)
            self.i = end + 1
        elif nxt == "{":
            end = s.find("}", i + 2)
            end = len(s) if end < 0 else end
            text = s[i:end + 1]
            m = _BRACED_VAR_RE.fullmatch(text, 1)
            word.parts.append(("var", m.group(1), quoted) if m else ("dyn", text, quoted))
            word.dynamic = True
            buf.append(text)
            self.i = end + 1
        elif nxt == "'" and not quoted:  # $'ANSI-C'
            end = i + 2
            while end < len(s) and s[end] != "'":
                end += 2 if s[end] == "\\" else 1
            body = s[i + 2:end]
            try:
                body = body.encode("latin-1", "backslashreplace").decode("unicode_escape")
            except UnicodeError:
                pass
            buf.append(body)
            _lit(word, body, True)
            self.i = end + 1
        elif nxt and (nxt.isalpha() or nxt == "_"):
            m = _VAR_RE.match(s, i + 1)
            name = m.group(0) if m else nxt
            word.parts.append(("var", name, quoted))
            word.dynamic = True
            buf.append("$" + name)
            self.i = i + 1 + len(name)
        elif nxt and (nxt.isdigit() or nxt in "@*#?$!-"):
            word.parts.append(("dyn", "$" + nxt, quoted))
            word.dynamic = True
            buf.append("$" + nxt)
            self.i = i + 2
        else:
            buf.append("$")
            _lit(word, "$", quoted)
            self.i = i + 1

    def _read_heredocs(self) -> None:
        """After a newline: the bodies of the heredocs opened on the line just ended."""
        if not self.pending:
            return
        s = self.s
        check = self.budget.check
        for tok, delim, strip in self.pending:
            delimiter = delim.value if delim is not None else ""
            lines: list[str] = []
            while self.i < len(s):
                check()
                end = s.find("\n", self.i)
                end = len(s) if end < 0 else end
                line = s[self.i:end]
                self.i = end + 1
                check_line = line.lstrip("\t") if strip else line
                if check_line.rstrip("\r") == delimiter:
                    break
                lines.append(check_line)
            tok.body = "\n".join(lines) + ("\n" if lines else "")
        self.pending = []


def _find_close(s: str, i: int, budget: Budget = _NO_BUDGET) -> int:
    """Index of the ``)`` that closes a ``(`` just before ``i`` (quotes and nesting aware);
    ``len(s)`` when it never closes."""
    depth = 1
    n = len(s)
    check = budget.check
    while i < n:
        check()
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


def heredoc_subs(body: str, budget: Budget = _NO_BUDGET) -> list[str]:
    """The ``$(...)`` and backtick substitutions of an unquoted heredoc body (the shell runs
    them before the command reads the text)."""
    out: list[str] = []
    i, n = 0, len(body)
    while i < n:
        budget.check()
        c = body[i]
        if c == "\\":
            i += 2
        elif c == "$" and body.startswith("$(", i):
            end = _find_close(body, i + 2, budget)
            inner = body[i + 2:end]
            if not inner.startswith("("):
                out.append(inner)
            i = end + 1
        elif c == "`":
            end = i + 1
            while end < n and body[end] != "`":
                end += 2 if body[end] == "\\" else 1
            out.append(body[i + 1:end].replace("\\`", "`"))
            i = end + 1
        else:
            i += 1
    return out


# -- simple commands ----------------------------------------------------------------------


@record
class Command:
    words: list[Word] = field(default_factory=list)
    redirs: list[tuple[Op, Word | None]] = field(default_factory=list)
    piped: bool = False  # part of a pipeline (a `cd` there does not last)
    pipe_in: bool = False  # its stdin is the output of the command before it
    cond: bool = False  # inside if/case/a loop/a function body, or a group after && / ||
    loop: bool = False  # may run many times (a loop or a function body)
    background: bool = False  # ended by `&`
    after: str | None = None  # "&&" / "||" when it follows one in its and-or list


_OPENERS = {"if": "if", "while": "loop", "until": "loop", "for": "loop", "select": "loop",
            "case": "case"}
_CLOSERS = {"fi": "if", "done": "loop", "esac": "case"}
_MIDDLES = {"then", "else", "elif", "do", "in"}


def split_commands(text: str, budget: Budget = _NO_BUDGET) -> list[Command | str]:
    """Simple commands in order, with ``"push"``/``"pop"`` markers for ``( ... )`` subshells
    and ``"confused"`` where the compound structure does not balance (the analysis then stops
    trusting what it knows of the working directory)."""
    tokens = _Lexer(text, budget).run()
    out: list[Command | str] = []
    # the open compounds: [kind, cond, loop]; kinds: sub, group, if, loop, case, case-body
    stack: list[list] = []
    andor = False  # the current command follows && or ||
    pending_func = False  # `name ( )` seen: the next { or ( opens a function body
    header = False  # skipping the words of a `for NAME in ...` header
    cur = Command()

    last_andor: list[str | None] = [None]

    def flags() -> tuple[bool, bool]:
        cond = any(e[1] for e in stack)
        loop = any(e[2] for e in stack)
        return cond, loop

    def flush(pipe_next: bool = False) -> None:
        nonlocal cur
        if cur.words or cur.redirs:
            cur.cond, cur.loop = flags()
            cur.after = last_andor[0] if andor else None
            if cur.pipe_in:
                cur.piped = True
            if pipe_next:
                cur.piped = True
            out.append(cur)
        cur = Command(pipe_in=pipe_next)

    i = 0
    n = len(tokens)
    while i < n:
        budget.check()
        tok = tokens[i]
        in_case_pattern = bool(stack) and stack[-1][0] == "case"
        if isinstance(tok, Op) and tok.text == "(" and not cur.words and not cur.redirs and (
                in_case_pattern or pending_func) and (
                in_case_pattern or (i + 1 < n and isinstance(tokens[i + 1], Op)
                                    and tokens[i + 1].text == ")")):
            i += 1 if in_case_pattern else 2  # `(pattern)` / `function f() {`
            continue
        if isinstance(tok, Word) and not cur.words and not cur.redirs:
            v = tok.value if not tok.dynamic else None
            if header:
                if v == "do":
                    header = False
                i += 1
                continue
            if in_case_pattern:
                if v == "esac":
                    stack.pop()
                    i += 1
                    continue
                if v == "in":
                    i += 1
                    continue
                # a pattern: words up to `)`
                while i < n and not (isinstance(tokens[i], Op) and tokens[i].text == ")"):
                    i += 1
                stack.append(["case-body", True, False])
                i += 1
                continue
            if v in _OPENERS:
                kind = _OPENERS[v]
                stack.append([kind, True, kind == "loop"])
                if v in ("for", "select"):
                    header = True
                elif v == "case":
                    # `case WORD in`: skip the word and `in`
                    i += 1
                    while i < n and not (isinstance(tokens[i], Word) and tokens[i].value == "in"):
                        i += 1
                i += 1
                continue
            if v in _CLOSERS:
                want = _CLOSERS[v]
                if want == "case":
                    while stack and stack[-1][0] == "case-body":
                        stack.pop()
                if stack and stack[-1][0] == want:
                    stack.pop()
                else:
                    out.append("confused")
                i += 1
                continue
            if v in _MIDDLES or v in ("!", "time"):
                i += 1
                continue
            if v == "function":
                pending_func = True
                i += 2  # `function NAME`
                continue
            if v == "{":
                stack.append(["group", andor or pending_func or cur.pipe_in, pending_func])
                pending_func = False
                andor = False
                i += 1
                continue
            if v == "}":
                if stack and stack[-1][0] == "group":
                    stack.pop()
                else:
                    out.append("confused")
                i += 1
                continue
            if v == "[[":
                # a test: its < > are comparisons, not redirections
                j = i + 1
                while j < n and not (isinstance(tokens[j], Word) and tokens[j].value == "]]"):
                    j += 1
                cur.words.append(tok)
                for t in tokens[i + 1:j + 1]:
                    if isinstance(t, Word):
                        cur.words.append(t)
                i = j + 1
                continue
        if isinstance(tok, Op) and tok.is_redirect:
            target = tokens[i + 1] if i + 1 < n and isinstance(tokens[i + 1], Word) else None
            cur.redirs.append((tok, target))  # type: ignore[arg-type]
            i += 2 if target is not None else 1
            continue
        if isinstance(tok, Op):
            t = tok.text
            if t == "(" and len(cur.words) == 1 and not cur.redirs and i + 1 < n and \
                    isinstance(tokens[i + 1], Op) and tokens[i + 1].text == ")":
                cur = Command(pipe_in=cur.pipe_in)  # `name ( )`: a function definition
                pending_func = True
                i += 2
                continue
            if t == ")" and stack and stack[-1][0] == "case-body":
                i += 1  # a stray `)` in a case body (`a|b)` patterns are read above)
                continue
            pipe = t in ("|", "|&")
            flush(pipe)
            if t in (";;", ";&", ";;&"):
                while stack and stack[-1][0] == "case-body":
                    stack.pop()
                andor = False
            elif t == "(":
                stack.append(["sub", andor or pending_func, pending_func])
                pending_func = False
                andor = False
                out.append("push")
            elif t == ")":
                while stack and stack[-1][0] == "case-body":
                    stack.pop()
                if stack and stack[-1][0] == "sub":
                    stack.pop()
                    out.append("pop")
                else:
                    out.append("confused")
            elif t in ("&&", "||"):
                andor = True
                last_andor[0] = t
            elif t in (";", "\n", "&"):
                if t == "&" and out and isinstance(out[-1], Command):
                    out[-1].background = True
                andor = False
            i += 1
            continue
        cur.words.append(tok)
        i += 1
    flush()
    if stack or header:
        out.append("confused")
    return out
