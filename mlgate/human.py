"""Decisions only a person may take (SPEC §16): recording a verification, clearing process
violations, changing the baseline (set, promote, rollback) and removing the hooks.

Two defences, for the two ways an agent reaches them:

* **agent-run code** (the agent's shell tool running ``mlgate verify`` or a Python script
  calling ``Ticket.verify``): agent clients set variables in the environment of every
  command they run; :func:`agent_client` looks for them and :func:`require_person` refuses.
  Claude Code sets ``CLAUDECODE=1`` (and ``CLAUDE_CODE_ENTRYPOINT``) in its Bash tool's
  environment; Codex sets ``CODEX_THREAD_ID`` (and ``CODEX_SANDBOX`` /
  ``CODEX_SANDBOX_NETWORK_DISABLED`` when sandboxed, ``CODEX_CI`` in its cloud runner); an
  in-house agent can set ``MLGATE_AGENT=1``. An agent that scrubs its environment is not
  detected here: the agent adapters deny the commands themselves, the confirmation needs a
  terminal, and ``verify: signed`` needs a key the agent cannot use.
* **the command line**: :func:`confirm` asks the person to type a confirmation (the ticket's
  name) on the controlling terminal (``/dev/tty``, not stdin, so a pipe cannot answer); with
  no terminal the action is refused.

The demo acts as the person on purpose (:func:`acting_as_person`).

Standard library only (``lock.install`` imports it).
"""
from __future__ import annotations

import contextlib
import os

from mlgate.errors import HumanRequired

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

#: Environment variables agent clients set in the commands they run -> the client.
AGENT_VARS: dict[str, str] = {
    "CLAUDECODE": "Claude Code",
    "CLAUDE_CODE_ENTRYPOINT": "Claude Code",
    "CODEX_THREAD_ID": "Codex",
    "CODEX_SANDBOX": "Codex",
    "CODEX_SANDBOX_NETWORK_DISABLED": "Codex",
    "CODEX_CI": "Codex",
    "GEMINI_CLI": "Gemini CLI",
    "CURSOR_AGENT": "Cursor",
    "MLGATE_AGENT": "an agent (MLGATE_AGENT)",
}
TTY = "/dev/tty"
_AS_PERSON: list[str] = []


def agent_client(env: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """``(client, variable)`` when the environment says an agent runs this process."""
    env = os.environ if env is None else env
    for var, client in AGENT_VARS.items():
        if env.get(var):
            return client, var
    return None


@contextlib.contextmanager
def acting_as_person(who: str) -> Iterator[None]:
    """For the demo only: the calls inside act as the person (``who`` says why)."""
    _AS_PERSON.append(who)
    try:
        yield
    finally:
        _AS_PERSON.pop()


def require_person(action: str) -> None:
    """Refuse ``action`` when an agent client's variables are in the environment."""
    if _AS_PERSON:
        return
    found = agent_client()
    if found is not None:
        client, var = found
        raise HumanRequired(action, f"it was asked for from a {client} session ({var} is set "
                            "in the environment); an agent cannot take this decision",
                            hint="the person runs it in their own terminal")


def confirm(action: str, phrase: str, what: str, tty: str = TTY) -> None:
    """Ask the person at the controlling terminal to type ``phrase`` to confirm ``action``
    (``what`` says what they confirm). Refused for an agent, without a terminal, or on a
    wrong answer."""
    require_person(action)
    if _AS_PERSON:
        return
    try:
        fd = os.open(tty, os.O_RDWR | os.O_NOCTTY)
    except OSError:
        raise HumanRequired(action, "there is no terminal to confirm it at (this process has "
                            "no controlling terminal: a script, CI or an agent's tool runs it)",
                            hint=f"the person runs `{action}` in a terminal and types "
                                 f"'{phrase}' to confirm") from None
    try:
        os.write(fd, (f"{what}\nType '{phrase}' to confirm (anything else cancels): ")
                 .encode())
        answer = _read_line(fd)
        if answer.strip() != phrase:
            os.write(fd, b"cancelled\n")
            raise HumanRequired(action, f"the confirmation typed was not '{phrase}'",
                                hint="run it again and type the name exactly")
    finally:
        os.close(fd)


def _read_line(fd: int, limit: int = 4096) -> str:
    data = b""
    while len(data) < limit:
        chunk = os.read(fd, 1)
        if not chunk or chunk in (b"\n", b"\r"):
            break
        data += chunk
    return data.decode("utf-8", errors="replace")
