"""The seal of a state file (SPEC §4): the key, the MAC, and whether a file's seal holds.

The key lives outside the worktree (``<git common dir>/mlgate/seal.key``; non-git:
``.mlgate/seal.key``). The MAC covers the fields and logs mlgate owns
(:meth:`mlgate.state.statefile.StateDoc.seal_payload`), so a hand edit of the stage or the
permission breaks it. Standard library only (the hooks verify seals).
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

from mlgate import constants as C
from mlgate.errors import StateFileError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

    class Sealed(Protocol):
        """What :func:`seal_state` reads of a :class:`~mlgate.state.statefile.StateDoc`."""

        @property
        def seal(self) -> str | None: ...
        @property
        def seal_version(self) -> str | None: ...
        def compute_seal(self, key: bytes) -> str: ...

SEAL_VERSION = "v2"  # keyed BLAKE2b-256


def effective_permission(permission: str | None, stage: int | None, seal: str) -> str:
    """What the edit lock honours: ``Unlocked`` only at stage 4 with a valid seal."""
    if permission == "Unlocked" and stage == C.UNLOCK_STAGE and seal == "valid":
        return "Unlocked"
    return "Locked"


def seal_state(doc: Sealed, key: bytes | None) -> str:
    """``valid``, ``missing`` (never sealed: a hand-written file) or ``broken``."""
    if doc.seal is None:
        return "missing"
    if key is None or doc.seal_version != SEAL_VERSION:
        return "broken"
    from _operator import _compare_digest  # constant time (what hmac.compare_digest is)

    return "valid" if _compare_digest(doc.seal, doc.compute_seal(key)) else "broken"


def mac(key: bytes, payload: bytes) -> str:
    """The seal's MAC: keyed BLAKE2b-256 (``_blake2`` is a builtin: no OpenSSL load on the
    hook path)."""
    try:
        from _blake2 import blake2b
    except ImportError:  # pragma: no cover - CPython always has it
        from hashlib import blake2b
    return blake2b(payload, key=key[:64], digest_size=32).hexdigest()


def load_key(key_dir: str | Path, create: bool = False) -> bytes | None:
    """The seal key in ``key_dir/seal.key``; created (0600) when ``create`` and missing."""
    path = Path(key_dir) / "seal.key"
    try:
        return _read_key(path)
    except FileNotFoundError:
        if not create:
            return None
    path.parent.mkdir(parents=True, exist_ok=True)
    key = os.urandom(32)
    # All or nothing: the key is written to a temp file first and linked into place, so a
    # process killed half way never leaves an empty or partial key behind.
    tmp = path.with_name(f".seal.key.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(key.hex() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # fails if another process made the key first: use that one
        except FileExistsError:
            raise
        except OSError:  # no hard links on this file system: create it exclusively
            _create_exclusive(path, key)
    except FileExistsError:
        return _read_key(path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return key


def _create_exclusive(path: Path, key: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex() + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _read_key(path: Path) -> bytes:
    try:
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (ValueError, UnicodeDecodeError):
        key = b""
    if len(key) < 16:
        raise StateFileError(str(path), 1, "the seal key is damaged (not 32 hex-encoded "
                                           "bytes); delete it and run `mlgate doctor --repair`")
    return key
