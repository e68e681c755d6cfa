"""The evidence registry (SPEC §16): every evidence file and run record mlgate wrote.

Gates count a file as evidence only when this registry holds it with the same digest; a
hand-written ``evidence/4-torch-smoke-9.json`` or an invented ``runs/RUN-007/`` counts for
nothing, and an altered one is named as altered.

Where: ``<key dir>/evidence/<ticket>.jsonl`` (the key dir is ``<git common dir>/mlgate`` in
git mode, ``.mlgate/`` otherwise: outside every worktree, beside the seal key). One JSON
object a line, appended under a lock, never rewritten; the newest entry of a path wins.
Each entry carries a MAC keyed by the seal key, so an entry written by hand is recognised
as such where the key is at hand (an adversary who reads the key can still forge entries:
only ``mlgate audit`` where the agent cannot reach, and signed verification, stop that).

Entries (``kind``):

* ``evidence`` — a handler result ``evidence/<stage>-<handler>-<n>.json``;
* ``run`` — a run record ``runs/RUN-NNN/{meta.json,summary.json,metrics.jsonl}`` registered
  when mlgate collected the ended run;
* ``launch`` — ``runs/RUN-NNN/meta.json`` as mlgate wrote it at launch: the proof that mlgate
  started the run (its final records are registered only for such runs);
* ``reentry`` — the digests of the upstream artifacts a re-entry names, taken at the re-entry
  (a re-entry path is walked only once they changed).

Each file entry records the path (relative to the ticket folder, so it survives the move to
``tickets/done/``), a SHA-256 digest, the commit, the handler, the stage, a hash of the
handler's options (options changed since make the evidence stale) and the source files that
were uncommitted or untracked at the time (they make the evidence dirty).

Standard library only (the tripwire of the hooks calls :func:`verify`).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from mlgate.constants import EVIDENCE_DIR, RUNS_DIR
from mlgate.record import field, record
from mlgate.state.seal import load_key, mac

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs import time on the hook path (the tripwire imports this)
    from collections.abc import Iterable, Mapping
    from typing import Any

__all__ = ["REGISTRY_DIR", "RUN_RECORDS", "Entry", "Finding", "Registry", "digest",
           "options_hash", "evidence_files", "verify", "registry_path"]

REGISTRY_DIR = "evidence"
RUN_RECORDS = ("meta.json", "summary.json", "metrics.jsonl")
KINDS = ("evidence", "run", "launch", "reentry")
_EVIDENCE_RE = re.compile(r"^\d-[A-Za-z0-9_.-]+-\d+\.json$")
_RUN_RE = re.compile(r"^RUN-\d{3,}$")


@record(frozen=True)
class Entry:
    """One registry line."""

    kind: str
    path: str = ""  # relative to the ticket folder ("evidence/4-torch-smoke-1.json")
    digest: str | None = None  # "sha256:<hex>"
    size: int | None = None
    handler: str | None = None
    stage: int | None = None
    commit: str | None = None
    options: str | None = None  # options_hash() of the handler's options
    dirty: tuple[str, ...] = ()  # uncommitted or untracked source files at the time
    run: str | None = None
    transition: str | None = None  # reentry: the Transition Log id of the re-entry
    artifacts: tuple[tuple[str, str | None], ...] = ()  # reentry: (name, digest)
    at: str | None = None
    sealed: bool | None = None  # MAC valid (None: no key to check it with)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "path": self.path, "digest": self.digest,
                                "size": self.size, "handler": self.handler,
                                "stage": self.stage, "commit": self.commit,
                                "options": self.options, "dirty": list(self.dirty),
                                "run": self.run, "at": self.at}
        if self.kind == "reentry":
            data["transition"] = self.transition
            data["artifacts"] = {k: v for k, v in self.artifacts}
        return data


@record(frozen=True)
class Finding:
    """A file that does not count as evidence, and why (``kind``: ``unregistered``,
    ``altered``, ``forged``, ``uncollected``)."""

    path: str
    kind: str
    message: str
    entry: Entry | None = field(default=None)

    @property
    def violation(self) -> bool:
        """Invented or tampered evidence (``uncollected`` is a run mlgate started whose
        records it has not collected yet: not a violation)."""
        return self.kind in ("unregistered", "altered", "forged")

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "message": self.message}


def digest(path: str | Path) -> str | None:
    """``sha256:<hex>`` of a file's bytes, or ``None`` when it cannot be read."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return None
    return "sha256:" + h.hexdigest()


def digest_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def options_hash(options: Mapping[str, Any] | None) -> str:
    """A stable hash of a handler's options (key order does not matter)."""
    text = json.dumps(dict(options or {}), sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:32]


def registry_path(key_dir: str | Path, ticket: str) -> Path:
    return Path(key_dir) / REGISTRY_DIR / f"{ticket}.jsonl"


def _canonical(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()


def _short(d: str | None) -> str:
    return (d or "none").split(":", 1)[-1][:12]


def evidence_files(folder: str | Path) -> list[str]:
    """Every file of the ticket folder that is evidence, relative to it: handler results
    ``evidence/<stage>-<handler>-<n>.json`` and run records ``runs/RUN-NNN/<record>``."""
    folder = Path(folder)
    out: list[str] = []
    try:
        names = sorted(os.listdir(folder / EVIDENCE_DIR))
    except OSError:
        names = []
    out += [f"{EVIDENCE_DIR}/{n}" for n in names if _EVIDENCE_RE.match(n)
            and (folder / EVIDENCE_DIR / n).is_file()]
    try:
        runs = sorted(os.listdir(folder / RUNS_DIR))
    except OSError:
        runs = []
    for run in runs:
        if not _RUN_RE.match(run):
            continue
        for rec in RUN_RECORDS:
            if (folder / RUNS_DIR / run / rec).is_file():
                out.append(f"{RUNS_DIR}/{run}/{rec}")
    return out


def _run_of(rel: str) -> str | None:
    parts = rel.split("/")
    if len(parts) == 3 and parts[0] == RUNS_DIR and _RUN_RE.match(parts[1]):
        return parts[1]
    return None


def _handler_of(rel: str) -> str | None:
    name = rel.rsplit("/", 1)[-1]
    if rel.startswith(f"{EVIDENCE_DIR}/") and _EVIDENCE_RE.match(name):
        return name[2:].rsplit("-", 1)[0]
    if _run_of(rel):
        return "train"
    return None


class Registry:
    """The registry of one ticket. ``key`` is the seal key (``None``: entries are read
    without checking their MAC and cannot be written)."""

    def __init__(self, key_dir: str | Path, ticket: str, key: bytes | None = None) -> None:
        self.key_dir = Path(key_dir)
        self.ticket = ticket
        self.key = key
        self.path = registry_path(key_dir, ticket)
        self._cache: tuple[tuple[int, int], list[Entry]] | None = None
        # digests of files already hashed, by (path, inode, size, mtime): a gate checks the
        # same run records several times, and metrics.jsonl can be large
        self._digests: dict[tuple[str, int, int, int], str | None] = {}

    @classmethod
    def open(cls, key_dir: str | Path, ticket: str, create_key: bool = False) -> "Registry":
        return cls(key_dir, ticket, load_key(key_dir, create=create_key))

    # -- reading ----------------------------------------------------------------------

    def entries(self) -> list[Entry]:
        """Every entry, oldest first (parsed once per change of the file)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return []
        stamp = (st.st_mtime_ns, st.st_size)
        if self._cache is not None and self._cache[0] == stamp:
            return self._cache[1]
        out: list[Entry] = []
        try:
            with open(self.path, "rb") as fh:
                lines = fh.read().splitlines()
        except OSError:
            lines = []
        for raw in lines:
            if not raw.strip():
                continue
            try:
                data = json.loads(raw)
            except ValueError:
                continue  # a line cut short by a crash: it was never a complete entry
            if not isinstance(data, dict) or data.get("kind") not in KINDS:
                continue
            out.append(self._entry(data))
        self._cache = (stamp, out)
        return out

    def _entry(self, data: dict[str, Any]) -> Entry:
        given = data.pop("mac", None)
        sealed = None
        if self.key is not None:
            from _operator import _compare_digest

            sealed = isinstance(given, str) and _compare_digest(
                given, mac(self.key, _canonical(data)))
        arts = data.get("artifacts") or {}
        stage = data.get("stage")
        return Entry(
            kind=str(data["kind"]), path=str(data.get("path") or ""),
            digest=data.get("digest"), size=data.get("size"), handler=data.get("handler"),
            stage=stage if isinstance(stage, int) else None, commit=data.get("commit"),
            options=data.get("options"),
            dirty=tuple(str(d) for d in (data.get("dirty") or ())), run=data.get("run"),
            transition=data.get("transition"),
            artifacts=tuple((str(k), v) for k, v in arts.items()) if isinstance(arts, dict)
            else (), at=data.get("at"), sealed=sealed)

    def file(self, rel: str, kinds: Iterable[str] = ("evidence", "run")) -> Entry | None:
        """The newest entry registering ``rel`` (one of ``kinds``)."""
        kinds = tuple(kinds)
        for e in reversed(self.entries()):
            if e.path == rel and e.kind in kinds:
                return e
        return None

    def launched(self, run: str) -> Entry | None:
        """The launch entry of ``run``: mlgate started it."""
        return self.file(f"{RUNS_DIR}/{run}/meta.json", kinds=("launch",))

    def collected(self, run: str) -> bool:
        """The ended run's records are registered."""
        return self.file(f"{RUNS_DIR}/{run}/meta.json", kinds=("run",)) is not None

    def reentry(self, transition: str | None = None) -> Entry | None:
        """The newest re-entry entry (or that of ``transition``)."""
        for e in reversed(self.entries()):
            if e.kind == "reentry" and (transition is None or e.transition == transition):
                return e
        return None

    # -- writing ----------------------------------------------------------------------

    def _append(self, entry: Entry) -> Entry:
        if self.key is None:
            from mlgate.errors import EnvironmentFailure

            raise EnvironmentFailure(f"no seal key in {self.key_dir}: the evidence registry "
                                     "cannot be written",
                                     hint="run `mlgate init` (it creates the key)")
        data = entry.to_json()
        line = dict(data, mac=mac(self.key, _canonical(data)))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        from mlgate.util import file_lock

        with file_lock(self.key_dir / "locks" / f"{self.ticket}.evidence.lock"):
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, json.dumps(line, sort_keys=True, default=str).encode() + b"\n")
                os.fsync(fd)
            finally:
                os.close(fd)
        self._cache = None
        return Entry(**{**_fields(entry), "sealed": True})

    def register(self, folder: str | Path, rel: str, *, kind: str = "evidence",
                 handler: str | None = None, stage: int | None = None,
                 commit: str | None = None, options: str | None = None,
                 dirty: Iterable[str] = (), run: str | None = None) -> Entry:
        """Register the file ``folder/rel`` as it is now."""
        from mlgate.util import now_iso

        path = Path(folder) / rel
        d = digest(path)
        if d is None:
            from mlgate.errors import UsageError

            raise UsageError(f"cannot register {path}: it cannot be read", path=str(path))
        return self._append(Entry(
            kind=kind, path=rel, digest=d, size=path.stat().st_size,
            handler=handler or _handler_of(rel), stage=stage, commit=commit, options=options,
            dirty=tuple(sorted(set(dirty))), run=run or _run_of(rel), at=now_iso()))

    def register_data(self, rel: str, data: bytes, *, kind: str = "evidence",
                      handler: str | None = None, stage: int | None = None,
                      commit: str | None = None, options: str | None = None,
                      dirty: Iterable[str] = (), run: str | None = None) -> Entry:
        """Register the bytes a file ``rel`` is about to be written with (the writer
        registers first, then writes: a writer killed in between leaves a registered file
        that never appeared, never an unregistered one)."""
        from mlgate.util import now_iso

        return self._append(Entry(
            kind=kind, path=rel, digest=digest_bytes(data), size=len(data),
            handler=handler or _handler_of(rel), stage=stage, commit=commit, options=options,
            dirty=tuple(sorted(set(dirty))), run=run or _run_of(rel), at=now_iso()))

    def record_reentry(self, folder: str | Path, transition: str, artifacts: Iterable[str],
                       stage: int | None = None) -> Entry:
        """Digests of the upstream artifacts a re-entry names, as they are now."""
        from mlgate.util import now_iso

        arts = tuple((a, digest(Path(folder) / a)) for a in dict.fromkeys(artifacts))
        return self._append(Entry(kind="reentry", transition=transition, artifacts=arts,
                                  stage=stage, at=now_iso()))

    # -- checking ---------------------------------------------------------------------

    def check(self, folder: str | Path, rel: str, options: str | None = None,
              stale_options: bool = False) -> Finding | None:
        """``None`` when ``folder/rel`` counts as evidence, else why it does not. With
        ``stale_options``, an entry taken with other handler options than ``options`` is a
        finding too (kind ``stale``)."""
        entry = self.file(rel)
        run = _run_of(rel)
        handler = _handler_of(rel) or "HANDLER"
        rerun = f"`mlgate run {handler}`"
        if entry is None:
            if run is not None and self.launched(run) is not None:
                return Finding(rel, "uncollected", f"{rel}: run {run} was started by mlgate "
                               "but its records were not collected yet; run `mlgate run train "
                               "--collect` once it has ended (`mlgate watch " + run + "`)")
            return Finding(rel, "unregistered", f"{rel} is not registered evidence: mlgate "
                           "did not write it (written or copied by hand); it counts for "
                           f"nothing. Delete it and run {rerun}")
        if entry.sealed is False:
            return Finding(rel, "forged", f"{rel}: its evidence registry entry does not carry "
                           "mlgate's seal (the registry was edited by hand); it counts for "
                           f"nothing. Delete it and run {rerun}", entry)
        now = self._digest(Path(folder) / rel)
        if now != entry.digest:
            what = "was deleted" if now is None else (
                f"now {_short(now)}, registered {_short(entry.digest)} at {entry.at}")
            return Finding(rel, "altered", f"{rel} was altered after mlgate wrote it ({what}); "
                           f"it counts for nothing. Restore it or run {rerun} again", entry)
        if stale_options and options is not None and entry.options is not None and \
                entry.options != options:
            return Finding(rel, "stale", f"{rel} was produced with other options of "
                           f"'{entry.handler}' than mlgate.yaml holds now (the options changed "
                           f"since); run {rerun} again", entry)
        return None

    def _digest(self, path: Path) -> str | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
        if key not in self._digests:
            self._digests[key] = digest(path)
        return self._digests[key]

    def verify(self, folder: str | Path) -> list[Finding]:
        """Every evidence file of the ticket folder that does not count (see :meth:`check`).
        Running runs are not findings, nor registered files that are not there (deleted, or
        a writer killed before the file appeared: nothing counts for them either)."""
        folder = Path(folder)
        out: list[Finding] = []
        present = evidence_files(folder)
        for rel in present:
            run = _run_of(rel)
            if run is not None and self.file(rel) is None and self.launched(run) is not None \
                    and not self.collected(run):
                continue  # started by mlgate, not collected yet (maybe still running)
            f = self.check(folder, rel)
            if f is not None:
                out.append(f)
        return out


def _fields(entry: Entry) -> dict[str, Any]:
    return {n: getattr(entry, n) for n in entry.__record_fields__}  # type: ignore[attr-defined]


def verify(folder: str | Path, key_dir: str | Path, ticket: str | None = None) -> list[Finding]:
    """The registry findings of the ticket folder ``folder`` (ticket name: the folder's name):
    invented, altered or forged evidence files. For the tripwire and ``mlgate doctor``."""
    folder = Path(folder)
    return Registry.open(key_dir, ticket or folder.name).verify(folder)
