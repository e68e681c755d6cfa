"""The write rules of :mod:`mlgate.lock.shell.analyze` for ``git``.

Standard library only (the hook path imports it). A git command that rewrites the worktree
(``checkout -- F``, ``restore F``, ``clean``, ``rm``, ``mv``, ``apply``) writes the files it names;
one whose files cannot be known from the command line (``reset --hard``, ``stash``, ``merge``,
``checkout BRANCH`` …) is reported as a write to its directory. Turning off the mlgate commit
hook (``commit --no-verify``/``-n``, ``SKIP=mlgate-lock``, ``core.hooksPath``) is refused.
``git -C DIR`` moves the directory the rest is read against.
"""
from __future__ import annotations

import os
from mlgate.lock.shell.context import Ctx, join_path, operands, read_text


_GIT_GLOBAL_ARG = {"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--exec-path",
                   "--config-env", "--super-prefix", "--list-cmds"}
_GIT_WORKTREE_WRITERS = {"merge", "pull", "rebase", "cherry-pick", "revert", "am", "switch",
                         "bisect", "filter-branch", "read-tree", "checkout-index"}


def handle_git(ctx: Ctx) -> None:
    args = ctx.args
    cwd = ctx.cwd
    if any(k.startswith("GIT_CONFIG") and "hookspath" in v.lower() for k, v in ctx.env.items()):
        ctx.refuse("setting core.hooksPath through GIT_CONFIG_* turns off the mlgate commit "
                   "hook; commit without it")
    i = 0
    while i < len(args):
        v = args[i].value
        if not v.startswith("-"):
            break
        key = v.partition("=")[0]
        if key in _GIT_GLOBAL_ARG:
            val = v.partition("=")[2] if "=" in v else (
                args[i + 1].value if i + 1 < len(args) else "")
            if "=" not in v:
                i += 1
            if key == "-C" and val:
                cwd = join_path(cwd, val)
            if key in ("-c", "--config-env") and val.lower().startswith("core.hookspath"):
                ctx.refuse("`git -c core.hooksPath=...` turns off the mlgate commit hook; "
                           "commit without it")
        i += 1
    if i >= len(args):
        return
    sub = args[i].value
    rest = args[i + 1:]
    sctx = Ctx(ctx.an, cwd, ctx.depth, rest, ctx.env, ctx.xargs, ctx.stdin_text,
               ctx.stdin_file)
    if sub == "commit":
        _git_commit(sctx)
    elif sub == "config":
        vals = [w.value for w in rest]
        keys = [v for v in vals if not v.startswith("-")]
        unset = any(v.startswith("--unset") for v in vals)
        if keys and keys[0].lower() == "core.hookspath" and len(keys) > 1 and not unset:
            sctx.refuse("`git config core.hooksPath` would turn off the mlgate commit hook")
    elif sub in ("checkout", "restore"):
        _git_checkout(sctx, sub)
    elif sub == "reset":
        vals = {w.value for w in rest}
        if vals & {"--hard", "--merge", "--keep"}:
            sctx.unknown(f"git reset {' '.join(sorted(vals & {'--hard', '--merge', '--keep'}))}"
                         " rewrites the worktree")
    elif sub == "clean":
        ops, opts = operands(rest, "e", ("--exclude",))
        if "-n" in opts or "--dry-run" in opts:
            return
        for w in ops:
            sctx.write(w, "git clean")
        if not ops:
            sctx.unknown("git clean removes files in the worktree")
    elif sub == "stash":
        action = rest[0].value if rest and not rest[0].value.startswith("-") else "push"
        if action in ("push", "save", "pop", "apply", "branch"):
            sctx.unknown(f"git stash {action} rewrites the worktree")
    elif sub == "apply":
        _git_apply(sctx)
    elif sub in ("mv", "rm"):
        ops, opts = operands(rest, "", ())
        if sub == "rm" and "--cached" in opts:
            return
        for w in ops:
            sctx.write(w, f"git {sub}")
    elif sub in _GIT_WORKTREE_WRITERS:
        vals = {w.value for w in rest}
        if sub == "bisect" and not (vals & {"start", "good", "bad", "new", "old", "reset",
                                             "skip", "run"}):
            return
        sctx.unknown(f"git {sub} rewrites the worktree")
    elif sub == "submodule":
        if any(w.value in ("update", "add", "deinit", "sync") for w in rest):
            sctx.unknown("git submodule changes the worktree")
    elif sub == "worktree":
        return


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
        ctx.unknown("git checkout of a branch or commit rewrites the worktree")


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
            ctx.write(p, "git apply")

