"""The write rules of :mod:`mlgate.lock.shell.analyze` for ``git``.

Standard library only (the hook path imports it). A git command that rewrites the worktree
(``checkout -- F``, ``restore F``, ``clean``, ``rm``, ``mv``, ``apply``) writes the files it names;
one that rewrites the whole worktree (``reset --hard``, ``stash``, ``merge``, ``checkout
BRANCH`` …) writes the top of the checkout (found from the directory it runs in, so ``git -C
<ticket folder> reset --hard`` is judged as what it is). Refused whatever the stage: turning
off or going around the mlgate commit hook (``commit --no-verify``/``-n``, also hidden in a
variable; ``SKIP=mlgate-lock``; ``core.hooksPath``, ``include.*`` and aliases through ``git
-c``, ``git config`` or ``GIT_CONFIG_*``; another ``HOME``), moving a ticket branch without a
commit (``update-ref``, ``branch -f``, ``push .``), and checking it out a second time.
``GIT_DIR``/``GIT_WORK_TREE``/``GIT_INDEX_FILE``/``--git-dir`` and arguments only known at run
time cannot be placed (unknown). ``git -C DIR`` moves the directory the rest is read against.
"""
from __future__ import annotations

import os
from mlgate.lock.shell.context import UNKNOWN_DIR, Ctx, join_path, operands, read_text


_GIT_GLOBAL_ARG = {"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--exec-path",
                   "--config-env", "--super-prefix", "--list-cmds", "--attr-source"}
_GIT_READERS = {"log", "show", "diff", "status", "grep", "blame", "ls-files", "rev-parse",
                "describe", "shortlog", "cat-file", "ls-tree", "rev-list", "branch-list",
                "for-each-ref", "show-ref", "name-rev", "merge-base", "reflog", "whatchanged",
                "diff-tree", "diff-index", "diff-files", "var", "version", "help",
                "check-ignore", "check-attr", "count-objects", "fsck", "verify-commit"}
_GIT_WORKTREE_WRITERS = {"merge", "pull", "rebase", "cherry-pick", "revert", "am", "switch",
                         "bisect", "filter-branch", "read-tree", "checkout-index", "stash",
                         "filter-repo", "sparse-checkout"}
# git config keys that turn the commit hook off or change what a git command runs
_CONTROL_KEYS = ("core.hookspath", "include.", "includeif.", "alias.", "core.fsmonitor",
                 "core.sshcommand", "core.pager", "core.editor", "sequence.editor",
                 "core.worktree", "core.bare", "diff.external", "gpg.program",
                 "credential.helper", "core.askpass", "uploadpack.", "receive.",
                 "filter.", "merge.", "diff.", "pager.", "core.gitproxy", "protocol.",
                 "submodule.", "extensions.", "init.templatedir", "core.attributesfile",
                 "core.excludesfile", "gc.", "maintenance.", "interactive.difffilter",
                 "sendemail.", "remote.", "url.", "http.", "safe.", "fetch.", "rebase.",
                 "commit.template", "status.", "blame.", "notes.", "index.", "trailer.")
# keys an agent may set (identity, colours, advice, display)
_FREE_KEYS = ("user.name", "user.email", "color.", "advice.", "core.quotepath",
              "core.autocrlf", "core.safecrlf", "core.abbrev", "log.", "format.pretty",
              "column.ui", "push.default", "pull.rebase", "pull.ff", "init.defaultbranch",
              "i18n.", "core.filemode", "help.autocorrect", "commit.gpgsign", "tag.gpgsign",
              "merge.conflictstyle", "diff.noprefix", "diff.renames", "diff.algorithm",
              "diff.colormoved", "status.short", "status.branch", "rerere.enabled",
              "core.ignorecase", "branch.autosetupmerge", "feature.", "pack.", "core.compression")
_GIT_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_EXEC_PATH",
            "GIT_TEMPLATE_DIR", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
            "GIT_CEILING_DIRECTORIES", "GIT_NAMESPACE", "GIT_EDITOR", "GIT_SEQUENCE_EDITOR",
            "GIT_PAGER", "GIT_SSH_COMMAND", "GIT_SSH", "GIT_EXTERNAL_DIFF", "GIT_ASKPASS")


def _free_key(key: str) -> bool:
    k = key.lower()
    return any(k == f or (f.endswith(".") and k.startswith(f)) for f in _FREE_KEYS)


def _control_key(key: str) -> bool:
    k = key.lower()
    return k.startswith(("core.hookspath", "include.", "includeif.", "alias."))


def toplevel(path: str) -> str | None:
    """The top of the checkout holding ``path`` (where ``.git`` is), or None."""
    probe = path
    while True:
        if os.path.lexists(os.path.join(probe, ".git")):
            return probe
        parent = os.path.dirname(probe)
        if parent == probe:
            return None
        probe = parent


def handle_git(ctx: Ctx) -> None:
    args = ctx.args
    cwd = ctx.cwd
    for key, val in ctx.env.items():
        if key.startswith("\0git-env:"):
            key = key[len("\0git-env:"):]
        if key.startswith("GIT_CONFIG") and key not in ("GIT_CONFIG_NOSYSTEM",):
            ctx.refuse(f"`{key}` on a git command can set core.hooksPath and turn off the "
                       f"mlgate commit hook; run git without it")
        elif key in _GIT_ENV:
            ctx.unknown(f"`{key}` points git at another repository, index or program, so "
                        f"mlgate cannot tell what it changes")
        elif key in ("HOME", "XDG_CONFIG_HOME"):
            ctx.refuse(f"`{key}=...` on a git command makes git read another global "
                       f"configuration (it can turn off the mlgate commit hook)")
        elif key == "\0git-env":
            ctx.unknown("git runs with environment variables set in a way mlgate cannot read")
    i = 0
    dynamic_global = ""
    while i < len(args):
        w = args[i]
        v = w.value
        if w.dynamic:
            dynamic_global = dynamic_global or v
            i += 1
            continue
        if not v.startswith("-"):
            break
        key = v.partition("=")[0]
        if key in _GIT_GLOBAL_ARG:
            val = v.partition("=")[2] if "=" in v else (
                args[i + 1].value if i + 1 < len(args) else "")
            if "=" not in v:
                if i + 1 < len(args) and args[i + 1].dynamic:
                    dynamic_global = dynamic_global or f"{key} {args[i + 1].value}"
                    if key in ("-c", "--config-env"):
                        ctx.refuse(f"`git {key}` with a value only known when it runs can "
                                   f"set core.hooksPath; write the setting out")
                i += 1
            if key == "-C" and val:
                cwd = join_path(cwd, val)
            elif key in ("-c", "--config-env"):
                ckey = val.partition("=")[0]
                if _control_key(ckey):
                    ctx.refuse(f"`git -c {ckey}=...` can turn off the mlgate commit hook "
                               f"(hooks path, included config, aliases); run git without it")
                elif not _free_key(ckey):
                    ctx.unknown(f"`git -c {ckey}` can make git run other programs")
            elif key in ("--git-dir", "--work-tree", "--exec-path", "--namespace"):
                ctx.unknown(f"`git {key}` points git elsewhere, so mlgate cannot tell what it "
                            f"changes")
        i += 1
    if i >= len(args):
        return
    sub = args[i].value
    rest = args[i + 1:]
    if dynamic_global and sub not in _GIT_READERS:
        ctx.unknown(f"git with an argument that is only known when it runs "
                    f"({dynamic_global!r})")
        return
    if dynamic_global:
        cwd = UNKNOWN_DIR  # `git -C "$D" status`: reads only, somewhere
    sctx = Ctx(ctx.an, cwd, ctx.depth, rest, ctx.env, ctx.xargs, ctx.stdin_text,
               ctx.stdin_file, name="git", pipe_in=ctx.pipe_in, stdin_known=ctx.stdin_known,
               state=ctx.state, cwds=ctx.cwds)
    if any(w.dynamic for w in rest) and sub not in _GIT_READERS:
        dyn = [w.value for w in rest if w.dynamic]
        if sub != "commit":  # a commit message may be a variable (a flag may not: see there)
            sctx.unknown(f"git {sub} with arguments only known when it runs ({dyn[0]!r})")
            return
    if sub == "commit":
        _git_commit(sctx)
    elif sub == "config":
        _git_config(sctx)
    elif sub in ("checkout", "restore"):
        _git_checkout(sctx, sub)
    elif sub == "reset":
        vals = {w.value for w in rest}
        if vals & {"--hard", "--merge", "--keep"}:
            _whole(sctx, f"git reset {' '.join(sorted(vals & {'--hard', '--merge', '--keep'}))}")
        elif "--soft" in vals or any(not w.value.startswith("-") for w in rest) and not any(
                os.path.lexists(join_path(cwd, w.value)) for w in rest
                if not w.value.startswith("-")) and "--" not in vals:
            _governed_refs(sctx, ["HEAD"])  # moves the branch
    elif sub == "clean":
        ops, opts = operands(rest, "e", ("--exclude",))
        if "-n" in opts or "--dry-run" in opts:
            return
        for w in ops:
            sctx.write(w, "git clean")
        if not ops:
            _whole(sctx, "git clean")
    elif sub == "stash":
        action = rest[0].value if rest and not rest[0].value.startswith("-") else "push"
        if action in ("push", "save", "pop", "apply", "branch", "create", "store"):
            _whole(sctx, f"git stash {action}")
    elif sub == "apply":
        _git_apply(sctx)
    elif sub in ("mv", "rm"):
        ops, opts = operands(rest, "", ())
        if sub == "rm" and "--cached" in opts:
            return
        for k, w in enumerate(ops):
            if sub == "rm" or k < len(ops) - 1:
                sctx.remove(w, f"git {sub}")
            else:
                sctx.write(w, f"git {sub}")
    elif sub in _GIT_WORKTREE_WRITERS:
        vals = {w.value for w in rest}
        if sub == "bisect" and not (vals & {"start", "good", "bad", "new", "old", "reset",
                                             "skip", "run"}):
            return
        if sub == "switch" and vals & {"--ignore-other-worktrees"} or \
                sub == "checkout" and "--ignore-other-worktrees" in vals:
            sctx.refuse("`--ignore-other-worktrees` checks a ticket branch out a second time, "
                        "outside the ticket's worktree")
        _whole(sctx, f"git {sub}")
    elif sub == "submodule":
        if any(w.value in ("update", "add", "deinit", "sync", "foreach") for w in rest):
            _whole(sctx, "git submodule")
    elif sub == "worktree":
        vals = [w.value for w in rest]
        if vals[:1] == ["add"] and any(v in ("-f", "--force") or v.startswith("-f")
                                       for v in vals):
            sctx.refuse("`git worktree add --force` checks a branch out a second time; a "
                        "ticket branch lives in its own worktree only")
        elif vals[:1] in (["remove"], ["move"], ["prune"], ["repair"]):
            sctx.unknown(f"git worktree {vals[0]} changes which folders are worktrees")
    elif sub in ("update-ref", "branch", "symbolic-ref", "push", "fetch", "replace", "tag"):
        _ref_writers(sctx, sub)
    elif sub == "hook":
        return
    elif sub in ("init", "clone") and rest:
        ops, _ = operands(rest, "bcoju", ("--template", "--separate-git-dir", "--origin",
                                          "--branch", "--config", "--depth", "--reference"))
        if any(w.value.startswith("--template") or w.value.startswith("--separate-git-dir")
               for w in rest):
            sctx.unknown(f"git {sub} with a template or a separate git dir")
        if sub == "clone" and len(ops) >= 2:
            sctx.write(ops[1], "git clone")


def _whole(ctx: Ctx, what: str) -> None:
    """A git command that rewrites the whole worktree: the write is the checkout's top (never
    just the directory it was run from: `git -C <ticket folder> reset --hard` rewrites
    everything)."""
    if ctx.cwd.startswith(UNKNOWN_DIR):
        ctx.unknown(f"{what} rewrites a worktree mlgate cannot place")
        return
    top = toplevel(ctx.cwd)
    if top is None:
        ctx.unknown(f"{what} rewrites the worktree of {ctx.cwd}, which mlgate cannot find")
        return
    ctx.write(top, what)


def _governed(ctx: Ctx, ref: str) -> bool:
    prefix = getattr(ctx.an, "branch_prefix", "codex/") or "codex/"
    if callable(prefix):  # resolved only when a ref command needs it (it reads mlgate.yaml)
        prefix = ctx.an.branch_prefix = prefix() or "codex/"
    ref = ref.lstrip("+")
    for head in ("refs/heads/", "heads/", ""):
        if ref.startswith(head + prefix):
            return True
    return False


def _governed_refs(ctx: Ctx, refs: list[str]) -> None:
    return  # `git reset --soft`: moving the current branch is judged by the commit hooks


def _ref_writers(ctx: Ctx, sub: str) -> None:
    vals = [w.value for w in ctx.args]
    ops = [v for v in vals if not v.startswith("-")]
    flags = [v for v in vals if v.startswith("-")]
    what = None
    if sub == "update-ref":
        target = ops[0] if ops else ""
        if "--stdin" in flags or "-d" in flags and not ops or _governed(ctx, target):
            what = f"`git update-ref {target or '--stdin'}` moves a ticket branch without a commit"
        elif target.startswith(("refs/heads/", "HEAD")) or target == "HEAD":
            what = f"`git update-ref {target}` moves a branch without the commit hook"
    elif sub == "symbolic-ref" and len(ops) >= 2:
        what = "`git symbolic-ref` repoints a branch"
    elif sub == "branch":
        moving = any(f in ("-f", "--force", "-D", "-M", "-m", "-C", "-c", "-d", "--delete",
                           "--move", "--copy") or (f.startswith("-") and not f.startswith("--")
                                                    and any(ch in f for ch in "fDMmCd"))
                     for f in flags)
        if moving and any(_governed(ctx, o) for o in ops):
            what = "`git branch` forcing, moving or deleting a ticket branch"
    elif sub in ("push", "fetch"):
        for o in ops[1:]:
            if ":" in o and _governed(ctx, o.rpartition(":")[2]):
                what = f"`git {sub} {o}` moves a ticket branch"
    elif sub == "replace" and ops:
        what = "`git replace` changes what git shows as a commit's content"
    if what:
        ctx.refuse(f"{what}; ticket branches move only by commits the hooks check, or by "
                   f"`mlgate archive`")


def _git_config(ctx: Ctx) -> None:
    vals = [w.value for w in ctx.args]
    writes_file = None
    reading = False
    keys: list[str] = []
    i = 0
    while i < len(vals):
        v = vals[i]
        if v in ("-f", "--file", "--blob") and i + 1 < len(vals):
            writes_file = vals[i + 1]
            i += 2
            continue
        if v.startswith("--file="):
            writes_file = v.partition("=")[2]
        elif v in ("--get", "--get-all", "--get-regexp", "--list", "-l", "--get-urlmatch",
                   "--show-origin", "--show-scope", "--name-only", "--get-color",
                   "--get-colorbool", "get", "list", "-e", "--edit", "edit"):
            reading = v not in ("-e", "--edit", "edit")
            if not reading:
                keys.append("\0edit")
        elif v in ("set", "unset", "rename-section", "remove-section", "--unset",
                   "--unset-all", "--add", "--replace-all", "--rename-section",
                   "--remove-section"):
            pass
        elif not v.startswith("-"):
            keys.append(v)
        i += 1
    if writes_file is not None and not reading:
        ctx.write(writes_file, "git config -f")
    if reading:
        return
    if "\0edit" in keys:
        ctx.refuse("`git config --edit` opens git's configuration in an editor; a person does "
                   "that")
        return
    name = keys[0] if keys else ""
    if len(keys) < 2 and not any(v.startswith(("--unset", "--remove-section", "--rename",
                                               "unset", "remove-section", "rename-section"))
                                 for v in vals):
        return  # `git config KEY`: a read
    if _control_key(name) or name.lower() in ("include", "includeif", "alias", "core"):
        ctx.refuse(f"`git config {name}` would change how git runs the commit hook (hooks "
                   f"path, included config, aliases); a person does that")
    elif not _free_key(name):
        ctx.refuse(f"`git config {name}` changes git's configuration in a way that can make "
                   f"git run other programs; a person does that")
def _git_commit(ctx: Ctx) -> None:
    skip = ctx.env.get("SKIP", "")
    if "mlgate-lock" in [s.strip() for s in skip.split(",")]:
        ctx.refuse("`SKIP=mlgate-lock` turns off the mlgate commit hook; commit without it")
    takes_value = False
    for w in ctx.args:
        v = w.value
        if takes_value:  # the value of -m/-F/-c/-C/-t given as the next word
            takes_value = False
            continue
        if w.dynamic and not (v.startswith("--") and "=" in v and "$" in v.partition("=")[2]
                              and not v.partition("=")[0].startswith("--no-v")):
            ctx.refuse(f"`git commit` with an argument only known when it runs ({v!r}) may be "
                       f"--no-verify, which skips the mlgate commit hook; write the options out")
            continue
        if v == "--":
            break
        if v.startswith("--"):
            if len(v) >= 9 and "--no-verify".startswith(v):  # git accepts unique prefixes
                ctx.refuse("`git commit --no-verify` skips the mlgate commit hook; "
                           "the commit hook must run")
            takes_value = v in ("--message", "--file", "--reuse-message", "--reedit-message",
                                "--template", "--author", "--date", "--fixup", "--squash",
                                "--trailer")
            continue
        if v.startswith("-") and len(v) > 1:
            for i, ch in enumerate(v[1:], start=1):
                if ch == "n":
                    ctx.refuse("`git commit -n` (--no-verify) skips the mlgate commit hook; "
                               "the commit hook must run")
                    break
                if ch in "mFcCt":
                    takes_value = i == len(v) - 1  # else the rest of the cluster is the value
                    break
                if ch in "uS":
                    break  # an optional value, attached


def _git_checkout(ctx: Ctx, sub: str) -> None:
    vals = [w.value for w in ctx.args]
    if "--ignore-other-worktrees" in vals:
        ctx.refuse("`--ignore-other-worktrees` checks a ticket branch out a second time, "
                   "outside the ticket's worktree")
    if "--" in vals:
        k = vals.index("--")
        opts_part, paths = ctx.args[:k], ctx.args[k + 1:]
    else:
        opts_part, paths = ctx.args, []
    ops, opts = operands(opts_part, "sbBU", ("--source", "--conflict", "--orphan"))
    if sub == "restore":
        staged_only = ("--staged" in opts or "-S" in opts) and not (
            "--worktree" in opts or "-W" in opts)
        if staged_only:
            return
        targets = ops + paths
        if not targets:
            ctx.unknown("git restore without a path")
        for w in targets:
            ctx.write(w, "git restore")
        return
    if paths:
        for w in paths:
            ctx.write(w, "git checkout --")
        return
    if any(k in opts for k in ("-b", "-B", "--orphan")) and len(ops) == 0:
        return  # a new branch at HEAD: nothing on disk changes
    existing = [w for w in ops if not w.dynamic and os.path.lexists(join_path(ctx.cwd, w.value))]
    for w in existing:
        ctx.write(w, "git checkout")
    if len(existing) < len(ops) or not ops:
        _whole(ctx, "git checkout of a branch or commit")


def _git_apply(ctx: Ctx) -> None:
    from mlgate.lock.patch import diff_paths

    ops, opts = operands(ctx.args, "pCR", ("--directory", "--exclude", "--include",
                                           "--whitespace", "--build-fake-ancestor"))
    if any(k in opts for k in ("--check", "--stat", "--numstat", "--summary")) and \
            "--apply" not in opts:
        return
    if "--cached" in opts:
        return  # the index only
    strip_opt = opts.get("-p")
    strip = int(strip_opt) if isinstance(strip_opt, str) and strip_opt.isdigit() else 1
    prefix = opts.get("--directory")
    texts: list[str | None] = []
    if ops:
        texts = [None if w.dynamic else read_text(join_path(ctx.cwd, w.value)) for w in ops]
    else:
        texts = [ctx.stdin()]
    # git reads the paths from the top of the worktree (from a subfolder it skips the ones
    # outside it): judging them from the top is what git does, or more
    top = None if ctx.cwd.startswith(UNKNOWN_DIR) else toplevel(ctx.cwd)
    for text in texts:
        if text is None:
            ctx.unknown("git apply of a patch that cannot be read")
            continue
        paths = diff_paths(text, strip)
        if not paths:
            ctx.unknown("a patch that names no file")
        for p in paths:
            if isinstance(prefix, str) and prefix:
                p = os.path.join(prefix, p)
            ctx.write(os.path.join(top, p) if top and not os.path.isabs(p) else p, "git apply")

