"""``mlgate audit [NAME | --branch B]`` (SPEC §16): replay a ticket branch's history and check
what the hooks and gates promised, where an agent cannot reach (CI, a server-side hook,
``archive --finalize``).

Checks, each finding one line ``<commit> <file> <rule>: <what>``:

* ``source-outside-stage-4`` — every commit of the branch (first-parent history since the
  base) that touches source lies inside a stage-4 window: after the commit HEAD was at when
  the ticket entered stage 4 and no later than the one it was at when it left (the sealed
  ``mlgate-stage4-windows`` line of the state file). Source is every file outside the ticket
  folders, the configured docs globs, run outputs and agent-client settings.
* ``log-rewritten`` / ``state-unreadable`` / ``seal`` — every committed version of the state
  file parses, its Transition Log extends the previous version's, and (where the seal key is
  at hand) its seal is mlgate's.
* ``transition`` — every recorded transition was a legal move (the workflow's transition
  matrix, replayed from stage 0).
* ``gate`` — the gate of the stage each ``advance`` (and ``archive``) left holds on the tree
  of the first commit that records the move (evaluated on that tree, against that commit).
* ``evidence-unbound`` / ``evidence-unregistered`` — every evidence file and run record on
  the branch names a commit of the branch that precedes it, and (where the evidence
  registry is at hand) is the one mlgate registered.
* ``verification`` — an archived ticket was verified by a person (``mlgate verify``), and
  with ``verify: signed`` the tag ``mlgate/verified/<ticket>`` verifies.

What cannot be checked where it runs (in CI: the seal key, the evidence registry, the
allowed signers) is listed in ``not_checked``, and the rest is still checked. GitPython walks
the history (imported here only; never on the hook path).
"""
from __future__ import annotations

import io
import json
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate import constants as C
from mlgate import tickets
from mlgate.errors import MlgateError, UsageError

RULES = ("source-outside-stage-4", "windows", "log-rewritten", "state-unreadable", "seal",
         "transition", "gate", "evidence-unbound", "evidence-unregistered", "verification")
_SAME_STAGE = ("Blocked:", "Unblocked", "Code edits unlocked", "User verification received",
               "Archived to tickets/done", "Reopened")


@dataclass
class Finding:
    """One thing the history breaks: the commit, the file and the rule."""

    commit: str | None
    file: str | None
    rule: str
    message: str

    def line(self) -> str:
        return f"{(self.commit or '-')[:12]} {self.file or '-'} {self.rule}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"commit": self.commit, "file": self.file, "rule": self.rule,
                "message": self.message}


@dataclass
class AuditReport:
    ticket: str
    branch: str
    base: str | None
    tip: str
    commits: int
    findings: list[Finding] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {"ticket": self.ticket, "branch": self.branch, "base": self.base,
                "tip": self.tip, "commits": self.commits, "ok": self.ok,
                "findings": [f.to_dict() for f in self.findings], "checked": self.checked,
                "not_checked": self.not_checked}

    def text(self) -> str:
        head = (f"audit of {self.branch} ({self.commits} commit(s) since "
                f"{(self.base or 'the root')[:12]}): "
                + ("ok" if self.ok else f"{len(self.findings)} finding(s)"))
        lines = [head] + [f.line() for f in self.findings]
        lines += [f"  checked: {c}" for c in self.checked]
        lines += [f"  not checked here: {c}" for c in self.not_checked]
        return "\n".join(lines)


@dataclass
class _Version:
    """One committed version of the state file."""

    commit: str
    index: int
    path: str
    doc: Any  # StateDoc


class _HistoryFacts:
    """Git facts for a gate evaluated at a commit of the history (the ``GitFacts`` protocol
    of :mod:`mlgate.gates`): HEAD is that commit, nothing is uncommitted, and the ticket's
    branch and worktree are the ones it recorded."""

    def __init__(self, repo_root: Path, tree_root: Path, commit: str, branches: set[str],
                 worktree: str | None) -> None:
        self.repo_root = tree_root  # the extracted tree: files are read from there
        self._git_root = repo_root
        self._commit = commit
        self._branches = branches  # the audited branch, under its names
        self._worktree = worktree

    def head(self) -> str | None:
        return self._commit

    def branch_exists(self, name: str) -> bool:
        from mlgate import git as G

        return name in self._branches or G.branch_exists(self._git_root, name)

    def worktree_for_branch(self, name: str) -> Path | None:
        if name in self._branches and self._worktree:
            return Path(self._worktree)
        return None

    def changed_files(self, since: str) -> list[str]:
        from mlgate import git as G

        return G.changed_files(self._git_root, since, self._commit)

    def dirty_files(self) -> list[str]:
        return []

    def untracked_files(self) -> list[str]:
        return []

    def commit_exists(self, sha: str) -> bool:
        from mlgate import git as G

        return G.commit_exists(self._git_root, sha)

    def is_ancestor(self, a: str, b: str) -> bool:
        from mlgate import git as G

        return G.is_ancestor(self._git_root, a, self._commit if b == "HEAD" else b)

    def merge_base(self, a: str, b: str) -> str | None:
        from mlgate import git as G

        return G.merge_base(self._git_root, a, self._commit if b == "HEAD" else b)


class _Audit:
    def __init__(self, root: Path, ticket: str | None, branch: str | None,
                 use_registry: bool, use_key: bool) -> None:
        try:
            import git as gitpython  # GitPython: only here, never on the hook path
        except ImportError as exc:
            from mlgate.errors import MissingExtra

            raise MissingExtra("GitPython", "all", what="`mlgate audit`") from exc

        from mlgate.config.schema import load_config

        self.root = Path(root)
        try:
            self.repo = gitpython.Repo(self.root, search_parent_directories=True)
        except (gitpython.InvalidGitRepositoryError, gitpython.NoSuchPathError):
            raise UsageError(f"{root} is not a git repository; `mlgate audit` replays a "
                             "ticket branch's history", path=str(root)) from None
        self.git = self.repo.git
        if self.repo.bare or not (self.root / C.CONFIG_FILE).is_file():
            # a server-side hook works in a bare repository: mlgate.yaml of the audited tip
            self.config = self._config_at(branch or f"codex/{ticket}")
        else:
            self.config = load_config(self.root)
        prefix = self.config.branch_prefix
        if branch is None:
            if ticket is None:
                raise UsageError("name the ticket or give --branch")
            branch = f"{prefix}{ticket}"
        if ticket is None:
            ticket = branch[len(prefix):] if branch.startswith(prefix) else \
                branch.rsplit("/", 1)[-1]
        self.ticket, self.branch = ticket, branch
        self.own_branches = {branch, f"{prefix}{ticket}"}
        try:
            self.tip = self.git.rev_parse("--verify", "--quiet", f"{branch}^{{commit}}")
        except gitpython.GitCommandError:
            self.tip = ""
        if not self.tip:
            raise UsageError(f"no branch {branch!r} in {self.root}", branch=branch)
        self.folders = [f"{C.TICKETS_DIR}/{C.IN_PROGRESS}/{ticket}/",
                        f"{C.TICKETS_DIR}/{C.DONE}/{ticket}/"]
        self.findings: list[Finding] = []
        self._noted: set[str] = set()
        self._unchecked: list[str] = []
        self.checked: list[str] = []
        self.not_checked: list[str] = []
        key_dir = tickets.key_dir(self.root)
        from mlgate.state.seal import load_key

        self.key = load_key(key_dir) if use_key else None
        self.registry = None
        if use_registry:
            from mlgate.evidence.registry import Registry, registry_path

            if registry_path(key_dir, ticket).is_file():
                self.registry = Registry(key_dir, ticket, self.key)

    def _config_at(self, rev: str) -> Any:
        """The validated mlgate.yaml of commit ``rev`` (defaults when it has none)."""
        import git as gitpython

        from mlgate.config.schema import load_config

        tmp = Path(tempfile.mkdtemp(prefix="mlgate-audit-config-"))
        try:
            try:
                text = self.git.show(f"{rev}:{C.CONFIG_FILE}")
                (tmp / C.CONFIG_FILE).write_text(text + "\n", encoding="utf-8")
            except gitpython.GitCommandError:
                pass
            return load_config(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    # -- the walk -----------------------------------------------------------------------

    def run(self) -> AuditReport:
        tip_doc, tip_path = self._state_at(self.tip)
        self.base = self._base(tip_doc)
        rng = f"{self.base}..{self.tip}" if self.base else self.tip
        out = self.git.log("--first-parent", "--reverse", "--format=%x1e%H%x1f",
                           "--name-only", "--diff-merges=first-parent", "-z", rng)
        self.commits: list[tuple[str, list[str]]] = []
        for rec in out.split("\x1e"):
            if not rec.strip():
                continue
            sha, _, rest = rec.partition("\x1f")
            files = [f for f in rest.replace("\n", "\0").split("\0") if f]
            self.commits.append((sha.strip(), files))
        self.index = {sha: i for i, (sha, _) in enumerate(self.commits)}
        report = AuditReport(self.ticket, self.branch, self.base, self.tip, len(self.commits))
        self.versions = self._versions()
        if tip_doc is None:
            self.findings.append(Finding(self.tip, None, "state-unreadable",
                                         f"no state file of {self.ticket} at the tip of "
                                         f"{self.branch} (looked in {', '.join(self.folders)})"))
        else:
            self._windows(tip_doc)
            self._transitions(tip_doc)
            self._evidence(tip_path)
            self._verification(tip_doc)
        report.findings = self.findings
        report.checked = self.checked
        report.not_checked = self.not_checked
        return report

    def _base(self, doc: Any) -> str | None:
        cands = []
        if doc is not None:
            b = doc.bootstrap
            for rk, bk in (("Default Finalization Target Remote",
                            "Default Finalization Target Branch"),
                           ("Resolved Base Remote", "Resolved Base Branch")):
                remote, branch = b.get(rk), b.get(bk)
                if branch and branch not in (C.NA, "unresolved"):
                    if remote and remote not in ("local", C.NA, "unresolved"):
                        cands.append(f"{remote}/{branch}")
                    cands.append(branch)
        cands += ["main", "master", "origin/main", "origin/master"]
        import git as gitpython

        for cand in dict.fromkeys(cands):
            if cand == self.branch:
                continue
            try:
                return str(self.git.merge_base(cand, self.tip)).strip() or None
            except gitpython.GitCommandError:
                continue
        return None

    def _blob(self, commit: str, path: str) -> bytes | None:
        import git as gitpython

        try:
            return self.repo.commit(commit).tree.join(path).data_stream.read()
        except (KeyError, ValueError, gitpython.BadName):
            return None

    def _state_at(self, commit: str) -> tuple[Any, str | None]:
        from mlgate.state.statefile import StateDoc

        for folder in self.folders:
            data = self._blob(commit, folder + C.STATE_FILE)
            if data is not None:
                try:
                    return StateDoc.parse(data.decode("utf-8"), folder + C.STATE_FILE), folder
                except (MlgateError, UnicodeDecodeError):
                    return None, folder
        return None, None

    def _versions(self) -> list[_Version]:
        from mlgate.state.seal import seal_state
        from mlgate.state.statefile import StateDoc

        out: list[_Version] = []
        prev: Any = None
        paths = {f + C.STATE_FILE for f in self.folders}
        for i, (sha, files) in enumerate(self.commits):
            for p in files:
                if p not in paths:
                    continue
                data = self._blob(sha, p)
                if data is None:
                    continue  # the folder moved away in this commit
                try:
                    doc = StateDoc.parse(data.decode("utf-8"), p)
                except (MlgateError, UnicodeDecodeError) as exc:
                    self.findings.append(Finding(sha, p, "state-unreadable", str(exc)))
                    continue
                if self.key is not None and seal_state(doc, self.key) != "valid":
                    self.findings.append(Finding(sha, p, "seal", "this version of the state "
                                                 "file does not carry mlgate's seal (written "
                                                 "or edited by hand)"))
                if prev is not None:
                    old = [r.cells() for r in prev.doc.transitions]
                    new = [r.cells() for r in doc.transitions]
                    if new[:len(old)] != old:
                        self.findings.append(Finding(sha, p, "log-rewritten", "the Transition "
                                                     "Log does not extend the one committed in "
                                                     f"{prev.commit[:12]} (it is append-only)"))
                prev = _Version(sha, i, p, doc)
                out.append(prev)
        self.checked.append(f"{len(out)} committed version(s) of the state file: readable, "
                            "log append-only")
        if self.key is not None:
            self.checked.append("seals of the state file versions")
        else:
            self.not_checked.append("the seals of the state file (no seal key: it lives in "
                                    "the git common dir of the clone that ran mlgate)")
        return out

    # -- source commits and stage-4 windows -----------------------------------------------

    def _pos(self, sha: str) -> int | None:
        """Position of ``sha`` on the walked history: -1 for the base (or before it)."""
        if sha in self.index:
            return self.index[sha]
        for full, i in self.index.items():
            if full.startswith(sha):
                return i
        if self.base and (self.base.startswith(sha) or self._ancestor(sha, self.base)):
            return -1
        return None

    def _ancestor(self, a: str, b: str) -> bool:
        import git as gitpython

        try:
            self.git.merge_base("--is-ancestor", a, b)
            return True
        except gitpython.GitCommandError:
            return False

    def _is_source(self, path: str) -> bool:
        from mlgate.config.raw import glob_match

        if path.startswith(f"{C.TICKETS_DIR}/") or path.startswith(C.CLIENT_FILES):
            return False
        if "/__pycache__/" in f"/{path}" or path.endswith((".pyc", ".pyo")):
            return False
        if glob_match(path, list(self.config.run_outputs)) or \
                glob_match(path, list(self.config.docs)):
            return False
        return True

    def _windows(self, tip_doc: Any) -> None:
        windows: list[tuple[int, int | None, str]] = []  # (entry pos, exit pos, text)
        raw = list(tip_doc.windows)
        if not raw and tip_doc.stage_entries.get(C.UNLOCK_STAGE):
            e = tip_doc.stage_entries
            raw = [(e[C.UNLOCK_STAGE], e.get(C.UNLOCK_STAGE + 1))]
        for v in self.versions:  # earlier versions must not disagree with the tip's windows
            if list(v.doc.windows) and [a for a, _ in v.doc.windows] != \
                    [a for a, _ in raw[:len(v.doc.windows)]]:
                self.findings.append(Finding(v.commit, v.path, "windows", "the stage-4 windows "
                                             "recorded here differ from the tip's (they are "
                                             "append-only)"))
        for a, b in raw:
            pa = self._pos(a)
            pb = self._pos(b) if b else None
            if pa is None or (b and pb is None):
                self.findings.append(Finding(a if pa is None else b, None, "windows",
                                             f"stage-4 window {a[:12]}..{(b or '')[:12]} names "
                                             "a commit that is not on the branch's history"))
                continue
            windows.append((pa, pb, f"{a[:12]}..{(b or 'open')[:12]}"))
        n = 0
        for i, (sha, files) in enumerate(self.commits):
            src = [f for f in files if self._is_source(f)]
            if not src:
                continue
            n += 1
            if any(pa < i and (pb is None or i <= pb) for pa, pb, _ in windows):
                continue
            shown = ", ".join(w for _, _, w in windows) or "none"
            for f in src:
                self.findings.append(Finding(sha, f, "source-outside-stage-4",
                                             f"source changed outside every stage-4 window "
                                             f"(windows: {shown}); source edits are allowed "
                                             "only in stage 4 (a commit made with the hooks "
                                             "bypassed or removed?)"))
        self.checked.append(f"{n} commit(s) touching source, against {len(windows)} stage-4 "
                            "window(s)")

    # -- transitions and their gates ------------------------------------------------------

    def _first_commit_of(self, tid: str) -> _Version | None:
        for v in self.versions:
            if any(r.id == tid for r in v.doc.transitions):
                return v
        return None

    def _transitions(self, tip_doc: Any) -> None:
        stage = 0
        path: tuple[int, ...] | None = None
        gates_checked = 0
        reentry_at: _Version | None = None
        for row in tip_doc.transitions:
            v = self._first_commit_of(row.id)
            where = v.commit if v else self.tip
            file = v.path if v else None
            frm, to = row.from_stage, row.to_stage
            problem = None
            if frm != stage:
                problem = f"{row.id} starts from stage {frm}, but the ticket was in stage {stage}"
            elif row.classification:
                paths = C.REENTRY_MATRIX.get(frm, {})
                if row.classification not in paths:
                    problem = (f"{row.id}: {row.classification!r} is not a re-entry of stage "
                               f"{frm} in the transition matrix")
                else:
                    p = paths[row.classification]
                    want = frm if p is None else p[0]
                    if to != want:
                        problem = f"{row.id}: the {row.classification} path starts at {want}"
                    path = p or (C.UNLOCK_STAGE,)
                    reentry_at = v
            elif to == frm:
                if not row.reason.startswith(_SAME_STAGE):
                    problem = f"{row.id}: a move that stays in stage {frm} with an unknown reason"
                elif row.reason.startswith(("Blocked:", "Unblocked")) and \
                        frm not in C.BLOCKABLE:
                    problem = f"{row.id}: stage {frm} cannot be blocked"
                elif row.reason.startswith("Code edits unlocked") and frm != C.UNLOCK_STAGE:
                    problem = f"{row.id}: code edits unlock only in stage 4"
                elif row.reason.startswith(("User verification", "Archived", "Reopened")) and \
                        frm != C.LAST_STAGE:
                    problem = f"{row.id}: verify/archive/reopen happen in stage 8"
                elif row.reason.startswith("Archived") and v is not None:
                    gates_checked += self._gate(v, C.LAST_STAGE, row, tip_doc, None)
            else:
                nxt = frm + 1
                if path and frm in path and path.index(frm) + 1 < len(path):
                    nxt = path[path.index(frm) + 1]
                if to != nxt:
                    problem = f"{row.id}: advance from stage {frm} goes to {nxt}, not {to}"
                elif v is not None:
                    gates_checked += self._gate(v, frm, row, tip_doc,
                                                reentry_at if path and frm in path else None)
                if path and (frm == path[-1] or frm not in path):
                    path, reentry_at = None, None
            if problem:
                self.findings.append(Finding(where, file, "transition", problem))
            stage = to
        self.checked.append(f"{len(tip_doc.transitions)} transition(s) legal; the gates of "
                            f"{gates_checked} move(s) on the trees that recorded them")
        if self._unchecked:
            self.not_checked.append(
                f"the gates of {len(self._unchecked)} move(s) whose stage artifact was not "
                f"committed with the move: {', '.join(self._unchecked)}; commit the ticket "
                "folder with each move to have them checked")

    def _made_after(self, sha: str, name: str, head: str, folder: str) -> bool:
        """An evidence file or run record (``name``, first committed in ``sha``) that names
        a commit after ``head``: it was made after the move and is not part of its tree."""
        rel = name[len(folder):]
        parts = rel.split("/")
        other = next(o for o in self.folders if o != folder)
        if parts[0] == C.EVIDENCE_DIR and len(parts) == 2:
            source = rel
        elif parts[0] == C.RUNS_DIR and len(parts) >= 3:
            source = f"{C.RUNS_DIR}/{parts[1]}/meta.json"
        else:
            return False
        data = self._blob(sha, folder + source) or self._blob(sha, other + source)
        try:
            commit = json.loads((data or b"{}").decode("utf-8")).get("commit")
        except (ValueError, UnicodeDecodeError, AttributeError):
            return False
        if not commit:
            return False
        pos, hpos = self._pos(str(commit)), self._pos(head)
        return pos is not None and hpos is not None and pos > hpos

    @contextmanager
    def _tree(self, commit: str, folder: str, head: str | None = None) -> Iterator[Path]:
        """The files a gate reads at ``commit`` (the ticket folder, the docs, the baseline
        file), extracted into a temp folder laid out as the repository. A file of the ticket
        folder not committed yet at ``commit`` (people often commit the ticket's files later,
        or only with the archive) is taken from the first later commit that has it (under
        ``folder``, the ticket folder of ``commit``): its earliest committed version, unless
        it is evidence made after ``head`` (the commit the move was made on)."""
        from mlgate.config.raw import glob_match

        names = self.git.ls_tree("-r", "--name-only", "-z", commit).split("\0")
        keep = [n for n in names if n and (
            n.startswith(tuple(self.folders)) or n == self.config.baseline_file or
            n.rsplit("/", 1)[-1].lower().startswith("readme") or
            glob_match(n, list(self.config.docs)))]
        tmp = Path(tempfile.mkdtemp(prefix="mlgate-audit-"))
        try:
            if keep:
                buf = io.BytesIO()
                self.repo.archive(buf, treeish=commit, format="tar", path=keep)
                buf.seek(0)
                with tarfile.open(fileobj=buf) as tar:
                    tar.extractall(tmp, filter="data")
            have = {n for n in keep if n.startswith(folder)}
            for sha, files in self.commits[self.index.get(commit, -1) + 1:]:
                for f in files:
                    other = next((o for o in self.folders if f.startswith(o)), None)
                    if other is None:
                        continue
                    name = folder + f[len(other):]
                    if name in have:
                        continue
                    have.add(name)
                    if head is not None and self._made_after(sha, name, head, folder):
                        continue
                    data = self._blob(sha, f)
                    if data is not None:
                        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
                        (tmp / name).write_bytes(data)
            yield tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _gate(self, v: _Version, stage: int, row: Any, tip_doc: Any,
              reentry_at: _Version | None) -> int:
        from mlgate import gates as GT
        from mlgate.evidence.registry import digest_bytes

        cfg = self.config
        folder_rel = v.path.rsplit("/", 1)[0]
        art = C.STAGES[stage].artifact
        if art is not None and self._blob(v.commit, f"{folder_rel}/{art}") is None:
            # the stage's artifact was not committed when the move was recorded: what the
            # gate saw is not in the history (a later version would be judged, not it)
            self._unchecked.append(f"{row.id} ({art} first committed later)")
            return 0
        # The artifacts: the first commit that records the move (the earliest committed
        # snapshot of them); HEAD: the commit HEAD was at when the move was made (the sealed
        # entry commit of the stage it went to).
        head = v.commit
        if row.to_stage != row.from_stage:
            head = self._full(v.doc.stage_entries.get(row.to_stage)) or v.commit
        with self._tree(v.commit, folder_rel + "/", head) as tree:
            facts = _HistoryFacts(Path(self.repo.working_tree_dir or self.repo.git_dir), tree,
                                  head, self.own_branches,
                                  v.doc.bootstrap.get("Ticket Worktree Path"))
            has_baseline = (tree / cfg.baseline_file).is_file()
            if not has_baseline and "baselines" not in self._noted:
                self._noted.add("baselines")
                self.not_checked.append(f"the baseline values of the stage-5 report "
                                        f"({cfg.baseline_file} is not committed on the branch)")
            baseline = None
            if reentry_at is not None:
                baseline = self._reentry_baseline(reentry_at)
            verified = None
            for r in v.doc.transitions:
                if r.reason.startswith("User verification received from "):
                    verified = r.reason[len("User verification received from "):].strip()
                elif r.reason.startswith("Reopened"):
                    verified = None
            doc = _as_of(v.doc, stage, reentry_at)
            ctx = GT.GateContext(
                ticket=self.ticket, folder=tree / folder_rel, state=doc, profile=cfg.profile,
                stage5_policy=cfg.stage5_policy,
                handlers={k: list(x) for k, x in cfg.handlers.items()}, git=facts,
                stage_entry_commits=dict(v.doc.stage_entries), base_ref=self.base,
                verified_by=verified, source_filter=self._is_source_for_gates,
                registry=self.registry,
                handler_options={n: cfg.handler_options(n) for x in cfg.handlers.values()
                                 for n in x},
                baseline_file=cfg.baseline_file, workspace_root=tree,
                check_baseline=has_baseline, check_baseline_file=False,
                docs_globs=tuple(cfg.docs), reentry_baseline=baseline,
                signed_verification=self._signed() if cfg.verify == "signed" and
                stage == C.LAST_STAGE else None)
            try:
                rep = GT.evaluate(ctx, stage)
            except MlgateError as exc:
                self.findings.append(Finding(v.commit, v.path, "gate", f"stage {stage} gate "
                                             f"could not be evaluated for {row.id}: {exc}"))
                return 1
            for c in rep.failing():
                f = f"{folder_rel}/{c.file}" if c.file and "/" not in c.file.split(":")[0] \
                    else c.file
                self.findings.append(Finding(v.commit, f, "gate",
                                             f"{row.id} left stage {stage}, but its gate does "
                                             f"not hold on this commit: [{c.id}] {c.reason}"))
        return 1

    def _reentry_baseline(self, at: _Version) -> dict[str, str | None]:
        """The upstream artifacts of the re-entry recorded in ``at`` -> their digest at the
        re-entry: what the registry recorded then, else their committed version at ``at``
        (an artifact not committed there cannot be compared, and is left out)."""
        from mlgate.evidence.registry import digest_bytes
        from mlgate.gates.core import upstream_artifacts

        tid = next((r.id for r in reversed(at.doc.transitions) if r.classification), None)
        entry = self.registry.reentry(tid) if self.registry is not None and tid else None
        if entry is not None and entry.sealed is not False:
            return {k: v for k, v in entry.artifacts if v is not None}
        out: dict[str, str | None] = {}
        for n in upstream_artifacts(at.doc.reentry.upstream_artifacts):
            data = self._blob(at.commit, f"{at.path.rsplit('/', 1)[0]}/{n}")
            if data is not None:
                out[n] = digest_bytes(data)
        return out

    def _full(self, sha: str | None) -> str | None:
        if not sha:
            return None
        for full in self.index:
            if full.startswith(sha):
                return full
        if self.base and self.base.startswith(sha):
            return self.base
        return sha

    def _is_source_for_gates(self, path: str) -> bool:
        from mlgate.config.raw import glob_match

        if path.startswith(f"{C.TICKETS_DIR}/"):
            return False
        if "/__pycache__/" in f"/{path}" or path.endswith((".pyc", ".pyo")):
            return False
        return not glob_match(path, list(self.config.run_outputs))

    # -- evidence ------------------------------------------------------------------------

    def _evidence(self, folder: str | None) -> None:
        if folder is None:
            return
        names = self.git.ls_tree("-r", "--name-only", "-z", self.tip, "--", folder).split("\0")
        from mlgate.evidence.registry import RUN_RECORDS, digest_bytes

        checked = 0
        first_added = self._first_added(folder)
        for name in names:
            rel = name[len(folder):] if name.startswith(folder) else None
            if not rel:
                continue
            parts = rel.split("/")
            is_evidence = parts[0] == C.EVIDENCE_DIR and rel.endswith(".json") and len(parts) == 2
            is_run = parts[0] == C.RUNS_DIR and len(parts) == 3 and parts[2] in RUN_RECORDS
            if not (is_evidence or is_run):
                continue
            checked += 1
            data = self._blob(self.tip, name) or b""
            added = first_added.get(name)
            commit = None
            if is_evidence or parts[2] == "meta.json":
                try:
                    commit = json.loads(data.decode("utf-8")).get("commit")
                except (ValueError, UnicodeDecodeError, AttributeError):
                    self.findings.append(Finding(added, name, "evidence-unbound",
                                                 "not valid JSON"))
                    continue
            if commit:
                pos = self._pos(str(commit))
                apos = self.index.get(added or "", len(self.commits))
                if pos is None:
                    self.findings.append(Finding(added, name, "evidence-unbound",
                                                 f"names commit {str(commit)[:12]}, which is not "
                                                 f"on {self.branch}"))
                elif pos > apos:
                    self.findings.append(Finding(added, name, "evidence-unbound",
                                                 f"names commit {str(commit)[:12]}, which comes "
                                                 "after the commit that added it"))
            if self.registry is not None:
                entry = self.registry.file(rel)
                if entry is None or entry.sealed is False:
                    self.findings.append(Finding(added, name, "evidence-unregistered",
                                                 "mlgate did not register this file (written "
                                                 "or copied by hand)"))
                elif entry.digest != digest_bytes(data):
                    self.findings.append(Finding(added, name, "evidence-unregistered",
                                                 "differs from what mlgate registered "
                                                 f"({entry.at}): altered after it was "
                                                 "written"))
                elif commit and entry.commit and not str(entry.commit).startswith(
                        str(commit)[:7]):
                    self.findings.append(Finding(added, name, "evidence-unbound",
                                                 f"names commit {str(commit)[:12]}; mlgate "
                                                 f"registered it at {entry.commit[:12]}"))
        self.checked.append(f"{checked} evidence file(s) and run record(s) bound to commits of "
                            "the branch")
        if self.registry is not None:
            self.checked.append("evidence registered by mlgate (digests)")
        else:
            self.not_checked.append("the evidence registry (it lives in the git common dir "
                                    "of the clone that ran the handlers)")

    def _first_added(self, folder: str) -> dict[str, str]:
        out: dict[str, str] = {}
        other = [f for f in self.folders if f != folder]
        for sha, files in self.commits:
            for f in files:
                name = f
                for o in other:  # the archive move: tickets/in-progress -> tickets/done
                    if f.startswith(o):
                        name = folder + f[len(o):]
                out.setdefault(name, sha)
        return out

    # -- verification ---------------------------------------------------------------------

    def _signed(self) -> tuple[bool, str]:
        from mlgate import git as G

        tag = G.VERIFIED_TAG.format(ticket=self.ticket)
        root = Path(self.repo.working_tree_dir or self.repo.git_dir)
        target = G.rev_parse(root, f"refs/tags/{tag}^{{commit}}")
        if target is None:
            return False, f"no signed tag {tag}"
        ok, why = G.verify_tag(root, tag)
        if not ok:
            return False, f"`git verify-tag {tag}` failed: {why}"
        if self._pos(target) is None:
            return False, f"the signed tag {tag} names {target[:12]}, not a commit of the branch"
        return True, f"signed tag {tag} verified ({why})"

    def _verification(self, tip_doc: Any) -> None:
        rows = tip_doc.transitions
        archived = any(r.reason.startswith("Archived") for r in rows)
        verified = None
        for r in rows:
            if r.reason.startswith("User verification received from "):
                verified = r
            elif r.reason.startswith("Reopened"):
                verified = None
        if not archived and tip_doc.snapshot.current_stage != C.LAST_STAGE:
            self.checked.append("verification: not due (the ticket is in stage "
                                f"{tip_doc.snapshot.current_stage})")
            return
        if archived and verified is None:
            self.findings.append(Finding(self.tip, None, "verification", "the ticket was "
                                         "archived without a person's verification (`mlgate "
                                         "verify`)"))
            return
        if self.config.verify == "signed":
            ok, why = self._signed()
            if not ok and "allowedSignersFile" in why:
                self.not_checked.append(f"the signature of the verification tag ({why})")
            elif not ok and (archived or verified is not None):
                self.findings.append(Finding(self.tip, None, "verification", why))
            else:
                self.checked.append(why)
        elif verified is not None:
            self.checked.append(f"verification recorded ({verified.id}: {verified.reason})")


def _as_of(doc: Any, stage: int, reentry: Any) -> Any:
    """The state the gate of ``stage`` saw before the move: the committed version (which
    already records the move) with the ticket back in ``stage`` and, on a re-entry path,
    the re-entry declared as it was (``reentry``: the version that recorded it)."""
    from mlgate.state.statefile import StateDoc

    d = StateDoc.parse(doc.render(), doc.path)
    r = reentry.doc.reentry if reentry is not None else None
    d.set_snapshot(current_stage=stage, active_reentry=r is not None,
                   classification=r.classification if r is not None else None)
    if r is not None:
        d.set_reentry(r.trigger_stage, r.classification, r.path_text, r.upstream_artifacts,
                      r.resume_condition)
    return d


def audit(root: str | Path, ticket: str | None = None, branch: str | None = None, *,
          use_registry: bool = True, use_key: bool = True) -> AuditReport:
    """Audit the branch of ``ticket`` (or ``branch``) of the repository at ``root``."""
    return _Audit(Path(root), ticket, branch, use_registry, use_key).run()
