"""Which files a Bash command writes (mlgate.lock.shell.analyze): every write form the Claude/Codex
hooks must catch, and read-only commands that must pass."""
from __future__ import annotations

from pathlib import Path

import pytest

from mlgate.lock.shell.analyze import analyze, python_writes, split_commands

HERE = "?"  # a target the analysis cannot place: reported in `unknown`, never as a path

WRITES: list[tuple[str, list[str]]] = [
    # redirections
    ("echo hi > src/a.py", ["src/a.py"]),
    ("echo hi >> src/a.py", ["src/a.py"]),
    ("echo hi >| src/a.py", ["src/a.py"]),
    ("make &> build.log", ["build.log"]),
    ("make &>> build.log", ["build.log"]),
    ("python run.py 2> err.txt", ["err.txt"]),
    ("python run.py 2>>err.txt", ["err.txt"]),
    ("cmd >& out.txt", ["out.txt"]),
    ("exec 3<> src/fd.txt", ["src/fd.txt"]),
    ("echo x>src/nospace.py", ["src/nospace.py"]),
    ("echo 'a > b' > 'src/q u.py'", ["src/q u.py"]),
    ("cat > src/z.py <<EOF\nprint('it''s')\nx = \"$(date)\"\nEOF", ["src/z.py"]),
    ("cat <<'EOF' > src/z.py\nbody > not/a/target\nEOF", ["src/z.py"]),
    ("cat > src/tab.py <<-EOF\n\tline\n\tEOF\necho after > after.txt", ["src/tab.py", "after.txt"]),
    # commands that write their operands
    ("tee src/t.py < in.txt", ["src/t.py"]),
    ("make 2>&1 | tee -a log/build.log", ["log/build.log"]),
    ("sed -i 's/a/b/' src/x.py", ["src/x.py"]),
    ("sed -i.bak -e 's/a/b/' src/x.py src/y.py", ["src/x.py", "src/y.py"]),
    ("sed --in-place=.orig 's/a/b/' src/x.py", ["src/x.py"]),
    ("sed -Ei 's/a/b/' src/x.py", ["src/x.py"]),
    ("perl -pi -e 's/a/b/' src/x.py", ["src/x.py", HERE]),  # HERE: inline perl code
    ("perl -i.bak -pe 's/a/b/' src/x.py", ["src/x.py", HERE]),
    ("cp a.py src/b.py", ["src/b.py"]),
    ("cp -r a.py b.py dest/", ["dest/a.py", "dest/b.py"]),
    ("cp -t dest a.py", ["dest/a.py"]),
    ("mv src/a.py src/b.py", ["src/a.py", "src/b.py"]),
    ("rm -rf build src/old.py", ["build", "src/old.py"]),
    ("rm -- -weird.py", ["-weird.py"]),
    ("touch src/new.py", ["src/new.py"]),
    ("touch -d yesterday src/new.py", ["src/new.py"]),
    ("truncate -s 0 src/x.py", ["src/x.py"]),
    ("dd if=/dev/zero of=src/blob bs=1 count=1", ["src/blob"]),
    ("ln -s ../x.py src/link.py", ["src/link.py", "../x.py", "x.py"]),  # and the sources
    ("mkdir -p results_v2/run1", ["results_v2/run1"]),
    ("chmod +x src/run.sh", ["src/run.sh"]),
    ("install -m 644 a.py src/a.py", ["src/a.py"]),
    ("curl -sSL -o src/vendor.py https://example.com/x", ["src/vendor.py"]),
    ("wget -O data.bin https://example.com/x", ["data.bin"]),
    ("tar xzf pkg.tgz -C vendor", ["vendor"]),
    ("tar -czf out.tgz src", ["out.tgz"]),
    ("unzip pkg.zip -d vendor", ["vendor"]),
    ("sort -o sorted.txt in.txt", ["sorted.txt"]),
    ("gzip big.log", ["big.log", "big.log.gz"]),
    ("rsync -a src/ backup/", ["backup"]),
    # git commands that rewrite the worktree
    ("git checkout -- src/x.py", ["src/x.py"]),
    ("git checkout HEAD~1 -- src/x.py src/y.py", ["src/x.py", "src/y.py"]),
    ("git restore src/x.py", ["src/x.py"]),
    ("git restore --source HEAD~2 --worktree src/x.py", ["src/x.py"]),
    ("git rm src/x.py", ["src/x.py"]),
    ("git mv src/a.py src/b.py", ["src/a.py", "src/b.py"]),
    ("git reset --hard HEAD~1", [HERE]),
    ("git stash", [HERE]),
    ("git stash pop", [HERE]),
    ("git merge feature", [HERE]),
    ("git pull --rebase", [HERE]),
    ("git clean -fdx", [HERE]),
    ("git switch main", [HERE]),
    ("git checkout main", [HERE]),
    ("git -C sub checkout -- a.py", ["sub/a.py"]),
    # Python that writes files
    ("python -c \"open('src/x.py','w').write('x')\"", ["src/x.py"]),
    ("python3 -c \"open('log.txt', mode='a')\"", ["log.txt"]),
    ("python -c \"import pathlib; pathlib.Path('src/y.py').write_text('y')\"", ["src/y.py"]),
    ("python -c \"from pathlib import Path; (Path('src') / 'z.py').write_bytes(b'')\"",
     ["src/z.py"]),
    ("python -c 'import shutil; shutil.copy(\"a.py\", \"src/b.py\")'", [HERE]),
    ("python -c 'import os; os.remove(\"src/x.py\")'", [HERE]),
    ("python -c 'import os; os.system(\"echo x > src/sys.py\")'", [HERE]),
    ("python -c 'import subprocess; subprocess.run([\"rm\", \"src/x.py\"])'", [HERE]),
    ("python -c 'import torch; torch.save(m, \"src/w.pt\")'", [HERE]),
    ("python - <<'EOF'\nfrom pathlib import Path\np = Path('src/h.py')\np.write_text('h')\nEOF",
     ["src/h.py"]),
    ("python3 <<EOF\nwith open('src/w.py', 'w') as fh:\n    fh.write('x')\nEOF", ["src/w.py"]),
    ("uv run python -c \"open('o.txt','a')\"", ["o.txt"]),
    ("python -c \"open(name, 'w')\"", [HERE]),
    ("python -c \"exec(code)\"", [HERE]),
    # shells, wrappers, substitutions, directories
    ("bash -c 'echo x > src/q.py'", ["src/q.py"]),
    ("sh -c \"sed -i s/a/b/ src/x.py\"", ["src/x.py"]),
    ("bash <<'EOF'\nrm src/x.py\nEOF", ["src/x.py"]),
    ("eval 'touch src/e.py'", ["src/e.py"]),
    ("sudo -u root tee /etc/x < y", ["/etc/x"]),
    ("env FOO=1 timeout 10 nohup touch src/n.py", ["src/n.py"]),
    ("echo $(rm src/x.py)", ["src/x.py"]),
    ("echo \"`touch src/bt.py`\"", ["src/bt.py"]),
    ("diff <(sort a) >(tee src/ps.txt)", ["src/ps.txt"]),
    ("cd src && echo x > a.py", ["src/a.py"]),
    ("cd src; cd ..; touch top.txt", ["top.txt"]),
    ("(cd /tmp && touch a); touch b", ["/tmp/a", "b"]),
    ("pushd src && touch p.py && popd && touch q.py", ["src/p.py", "q.py"]),
    ("if true; then rm src/x.py; fi", ["src/x.py"]),
    ("for f in a b; do touch \"src/$f.py\"; done", [HERE]),
    ("echo > $FOO", [HERE]),
    ("xargs rm < files.txt", [HERE]),
    ("find . -name '*.pyc' -delete", ["."]),
    ("find src -name '*.py' -exec sed -i s/a/b/ {} +", ["src"]),
    ("apply_patch <<'EOF'\n*** Begin Patch\n*** Update File: src/m.py\n@@\n-a\n+b\n*** End Patch\nEOF",
     ["src/m.py"]),
    ("ls && echo done > status.txt # > not-this.txt", ["status.txt"]),
]

READ_ONLY = [
    "ls -la",
    "cat src/x.py | grep -n foo | head",
    "grep -rn 'def ' src/",
    "pytest -q tests/",
    "python train.py --lr 1e-3 > /dev/null",
    "python -m pytest",
    "python -c 'print(1 + 1)'",
    "python -c \"print(open('src/x.py').read())\"",
    "python -c \"s = 'abc'.replace('a', 'b'); print(s)\"",
    "python -c \"import os; print(os.path.join('a', 'b').replace('/', '.'))\"",
    "git status && git diff && git log --oneline -5",
    "git add -A",
    "git commit -m 'fix: things > stuff'",
    "git restore --staged src/x.py",
    "git stash list",
    "git checkout -b new-branch",
    "git reset src/x.py",
    "git apply --check fix.diff",
    "echo hi 2>&1 >/dev/null",
    "cmd 2>&1 | less",
    "sed -n '1,10p' src/x.py",
    "sed 's/a/b/' src/x.py > /dev/stdout",
    "nvidia-smi",
    "mlgate status --json",
    "mlgate advance exp",
    "cat <<EOF\nrm -rf / > x\nEOF",
    "echo 'rm src/x.py'",
    "command -v python",
    "wc -l < src/x.py",
    "find . -name '*.py'",
    "tar tzf pkg.tgz",
    "unzip -l pkg.zip",
    "curl -s https://example.com | head",
    "bash scripts/report.sh",
    "export X=1; echo $X",
]


def _expected(cwd: Path, paths: list[str]) -> list[str]:
    out = []
    for p in paths:
        full = Path(p) if p.startswith("/") else cwd / p
        out.append(str(full).rstrip("/"))
    import os

    return [os.path.normpath(p) for p in out]


@pytest.mark.parametrize("command,paths", WRITES, ids=[c[:50] for c, _ in WRITES])
def test_writes_are_found(tmp_path: Path, command: str, paths: list[str]) -> None:
    (tmp_path / "dest").mkdir()
    (tmp_path / "src").mkdir()
    result = analyze(command, tmp_path)
    assert result.refusals == []
    assert sorted(result.writes) == sorted(_expected(tmp_path, [p for p in paths
                                                                 if p != HERE])), result.unknown
    assert bool(result.unknown) == (HERE in paths), result.unknown


@pytest.mark.parametrize("command", READ_ONLY, ids=[c[:50] for c in READ_ONLY])
def test_read_only_commands_write_nothing(tmp_path: Path, command: str) -> None:
    result = analyze(command, tmp_path)
    assert result.writes == [] and result.refusals == [] and result.unknown == [], result


@pytest.mark.parametrize("command", [
    "git commit --no-verify -m x",
    "git commit -m x --no-verify",
    "git commit --no-veri -m x",
    "git commit -n -m x",
    "git commit -nm x",
    "git commit -anm 'msg'",
    "git -C sub commit -n",
    "cd sub && git commit --amend --no-edit -n",
    "bash -c 'git commit --no-verify'",
    "SKIP=mlgate-lock git commit -m x",
    "SKIP=black,mlgate-lock git commit -m x",
    "git -c core.hooksPath=/dev/null commit -m x",
    "git config core.hooksPath .nohooks",
    "bash -c 'git commit -n -m x'",
    "GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=core.hooksPath GIT_CONFIG_VALUE_0=/x git commit",
    "mlgate hooks uninstall --git",
    "mlgate --json hooks uninstall",
    "mlgate hooks install --git --force",
    "pre-commit uninstall",
])
def test_hook_bypasses_are_refused(tmp_path: Path, command: str) -> None:
    result = analyze(command, tmp_path)
    assert result.refusals, command
    assert "hook" in result.refusals[0]


@pytest.mark.parametrize("command", [
    "git commit -m 'not -n'", "git commit -mn", "git commit -m -n", "git commit -F msg.txt",
    "git commit --verbose", "git config --get core.hooksPath", "git push --no-verify",
    "git commit -- -n",
])
def test_lookalikes_are_not_refused(tmp_path: Path, command: str) -> None:
    assert analyze(command, tmp_path).refusals == []


def test_git_apply_reads_the_patch_it_applies(tmp_path: Path) -> None:
    (tmp_path / "fix.diff").write_text(
        "diff --git a/src/m.py b/src/m.py\n--- a/src/m.py\n+++ b/src/m.py\n@@ -1 +1 @@\n-a\n+b\n"
        "diff --git a/old.py b/new.py\nsimilarity index 90%\nrename from old.py\nrename to new.py\n")
    found = analyze("git apply fix.diff", tmp_path).writes
    assert sorted(found) == sorted(str(tmp_path / p) for p in ("src/m.py", "old.py", "new.py"))
    found = analyze("patch -p1 < fix.diff", tmp_path).writes
    assert str(tmp_path / "src/m.py") in found
    piped = analyze("git apply <<'EOF'\n--- a/x.py\n+++ b/x.py\n@@\n-a\n+b\nEOF", tmp_path)
    assert piped.writes == [str(tmp_path / "x.py")]
    missing = analyze("git apply nowhere.diff", tmp_path)
    assert missing.writes == [] and missing.unknown  # unreadable: cannot be placed


def test_git_checkout_of_an_existing_path_without_dashdash(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "x.py").write_text("x")
    (tmp_path / ".git").mkdir()
    assert analyze("git checkout HEAD src/x.py", tmp_path).writes == [
        str(tmp_path / "src/x.py"), str(tmp_path)]  # HEAD is not a path: the whole worktree
    assert analyze("git checkout src/x.py", tmp_path).writes == [str(tmp_path / "src/x.py")]


def test_nesting_is_bounded(tmp_path: Path) -> None:
    cmd = "touch deep.py"
    for _ in range(20):
        cmd = f"echo $({cmd})"
    result = analyze(cmd, tmp_path)
    assert result.writes == [] and result.unknown  # too deep to read: cannot be placed
    assert analyze("echo $(echo $(touch shallow.py))", tmp_path).writes == [
        str(tmp_path / "shallow.py")]


def test_split_commands_keeps_heredocs_out_of_the_command_stream() -> None:
    cmds = split_commands("cat > f <<EOF\nrm -rf /\nEOF\nls")
    words = [[w.value for w in c.words] for c in cmds if not isinstance(c, str)]
    assert words == [["cat"], ["ls"]]


def test_python_writes_reads_literals_only() -> None:
    found = python_writes("p = 'a.txt'\nopen(p, 'w')\nopen(q, 'w')\nopen('r.txt')")
    assert found.paths == ["a.txt"]
    assert len(found.unknown) == 1
    assert python_writes("open('x', 'w'").unknown  # unparseable but write-ish: unknown
    assert python_writes("print('hello')").paths == []
