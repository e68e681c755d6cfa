"""mlgate.yaml: raw loading with defaults (hook path), validation with line numbers,
the commented template, and the docs/run-output globs."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import REPO_ROOT
from mlgate.config.schema import COMMENTED_TEMPLATE, Config, load_config
from mlgate.errors import ConfigError
from mlgate.config.raw import DEFAULTS, glob_match, load_raw

SPEC_DEFAULTS = {
    "profile": "strict",
    "stage5_policy": "strict",
    "outside_tickets": "allow",
    "docs": ["docs/**", "*.md"],
    "run_outputs": ["results*/**", "exp_log*/**", "checkpoints/**", "lightning_logs/**",
                    "logs/**", "tb_logs/**", "wandb/**"],
    "worktrees": "../{repo}.worktrees/{ticket}",
    "branch_prefix": "codex/",
    "handlers": {},
    "torch-smoke": {"overfit_steps": 50, "overfit_ratio": 0.1, "leakage_cap": 10000,
                    "seed": 0, "device": "auto", "frozen": [], "ignore_index": -100,
                    "skip": []},  # beyond SPEC §12.1: the documented torch-smoke options
    "train": {"launcher": "local", "nproc": 1, "batch_size": 64, "grad_accum": 1,
              "timeout": 86400, "stall_after": 900, "oom_retries": 3, "seed": 0, "data": [],
              "slurm": {"partition": None, "gpus_per_node": 1, "time_min": 60,
                        "cluster": "auto", "extra": {},
                        # beyond SPEC §12.1: the cluster options of a run's job
                        "cpus_per_task": None, "account": None, "sbatch": []},
              # beyond SPEC §12.1: seeds, multi-node torchrun
              "seeds": None, "parallel": None, "nnodes": 1,
              "env": {}, "config": None,  # beyond SPEC §12.1: used by the launchers
              "metrics": "auto", "metrics_regex": None},  # beyond SPEC §12.1: metric sources
    "wandb": {"mode": "offline", "project": None, "entity": None},
    "baseline_file": "baselines.yaml",
    "verify": "record",  # beyond SPEC §12.1: `signed` makes verification a signed tag
    "stats": {"min_seeds": 1, "confidence": 0.95},  # beyond SPEC §12.1: seeds
    "round_file": "rounds.yaml",
}


def write(root: Path, text: str) -> Path:
    path = root / "mlgate.yaml"
    path.write_text(text)
    return path


def config_error(root: Path, text: str) -> ConfigError:
    write(root, text)
    with pytest.raises(ConfigError) as info:
        load_config(root)
    return info.value


# --- rawconfig ---------------------------------------------------------------------


def test_defaults_are_the_spec_defaults(tmp_path: Path) -> None:
    assert DEFAULTS == SPEC_DEFAULTS
    assert load_raw(tmp_path) == SPEC_DEFAULTS
    raw = load_raw(tmp_path)
    raw["docs"].append("x")  # a fresh copy each time
    assert DEFAULTS["docs"] == ["docs/**", "*.md"]


def test_load_raw_deep_merges(tmp_path: Path) -> None:
    write(tmp_path, "train:\n  nproc: 2\n  slurm: {partition: gpu}\nwandb:\n"
                    "docs: [notes/**]\nhandlers: {'4': torch-smoke, 5: [train], 6: null}\n")
    raw = load_raw(tmp_path)
    assert raw["train"]["nproc"] == 2
    assert raw["train"]["batch_size"] == 64
    assert raw["train"]["slurm"] == {"partition": "gpu", "gpus_per_node": 1, "time_min": 60,
                                     "cluster": "auto", "extra": {}, "cpus_per_task": None,
                                     "account": None, "sbatch": []}
    assert raw["wandb"] == SPEC_DEFAULTS["wandb"]  # an empty section keeps its defaults
    assert raw["docs"] == ["notes/**"]  # lists replace
    assert raw["handlers"] == {4: ["torch-smoke"], 5: ["train"], 6: []}


def test_empty_or_comment_only_file_gives_defaults(tmp_path: Path) -> None:
    write(tmp_path, "")
    assert load_raw(tmp_path) == SPEC_DEFAULTS
    write(tmp_path, "# nothing here\n")
    assert load_config(tmp_path) == Config()


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "profile: strict\ndocs: [a, b\ntrain:\n  nproc: 1\n")
    with pytest.raises(ConfigError) as info:
        load_raw(tmp_path)
    err = info.value
    assert err.path == str(path)
    assert err.line in (3, 4)
    assert str(err).startswith(f"{path}:{err.line}: invalid YAML")
    assert err.exit_code == 2


def test_non_mapping_top_level(tmp_path: Path) -> None:
    write(tmp_path, "- profile\n- strict\n")
    with pytest.raises(ConfigError) as info:
        load_raw(tmp_path)
    assert "top level must be a mapping" in str(info.value) and "list" in str(info.value)


def test_hook_path_modules_do_not_import_pydantic(tmp_path: Path) -> None:
    write(tmp_path, "profile: basic\n")
    code = ("import sys; from mlgate.config.raw import load_raw; "
            f"assert load_raw({str(tmp_path)!r})['profile'] == 'basic'; "
            "bad = [m for m in ('pydantic', 'click', 'transitions') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)


# --- validation ----------------------------------------------------------------------


def test_defaults_validate(tmp_path: Path) -> None:
    cfg = load_config(tmp_path)
    assert cfg == Config()
    data = cfg.to_dict()
    assert data["torch-smoke"] == {"factory": None, **SPEC_DEFAULTS["torch-smoke"]}
    assert data["train"] == {"command": None, **SPEC_DEFAULTS["train"]}
    assert data["strictness"] is None  # beyond SPEC §12.1: set by `profile` unless given
    assert cfg.gate_profile == "dl" and cfg.gate_strictness == "strict"
    assert {k: v for k, v in data.items() if k not in ("torch-smoke", "train", "strictness")} \
        == {k: v for k, v in SPEC_DEFAULTS.items() if k not in ("torch-smoke", "train")}
    assert cfg.handlers_for(4) == []


def test_full_spec_example_loads(tmp_path: Path) -> None:
    write(tmp_path, """\
profile: basic
stage5_policy: permissive
outside_tickets: block
handlers: {4: [torch-smoke], 5: [train]}
torch-smoke:
  factory: "mypkg.smoke:make"
  overfit_steps: 20
train:
  command: "python train.py --batch-size {batch_size} --grad-accum {grad_accum}"
  launcher: torchrun
  nproc: 2
  timeout: 0.5
  data: ["data/"]
  slurm: {partition: gpu, gpus_per_node: 8, time_min: 30}
wandb: {mode: online, project: demo, entity: me}
""")
    cfg = load_config(tmp_path)
    assert cfg.profile == "basic" and cfg.outside_tickets == "block"
    assert cfg.handlers_for(4) == ["torch-smoke"] and cfg.handlers_for(5) == ["train"]
    assert cfg.handlers_for(6) == []
    assert cfg.handler_options("torch-smoke") == {
        "factory": "mypkg.smoke:make", "overfit_steps": 20, "overfit_ratio": 0.1,
        "leakage_cap": 10000,
        "seed": 0, "device": "auto", "frozen": [], "ignore_index": -100, "skip": []}
    assert cfg.handler_options("train")["nproc"] == 2
    assert cfg.train.timeout == 0.5
    assert cfg.train.slurm.gpus_per_node == 8
    assert cfg.wandb.mode == "online"


@pytest.mark.parametrize("text, key, value, allowed, line", [
    ("profile: lenient\n", "profile", "lenient", ["strict", "basic", "dl", "llm-finetune"], 1),
    ("# c\nstage5_policy: loose\n", "stage5_policy", "loose", ["strict", "permissive"], 2),
    ("outside_tickets: deny\n", "outside_tickets", "deny", ["allow", "block"], 1),
    ("train:\n  nproc: 2\n  launcher: k8s\n", "train.launcher", "k8s",
     ["local", "torchrun", "slurm"], 3),
    ("wandb:\n  mode: online\nprofile: strict\nwandb2: 1\n", "wandb2", None, None, 4),
])
def test_bad_values_name_file_key_value_allowed_and_line(
        tmp_path: Path, text: str, key: str, value: Any, allowed: list[str] | None,
        line: int) -> None:
    err = config_error(tmp_path, text)
    path = str(tmp_path / "mlgate.yaml")
    assert err.path == path and err.line == line
    assert str(err).startswith(f"{path}:{line}: ")
    assert err.data["key"] == key
    assert key in str(err)
    if value is not None:
        assert repr(value) in str(err) and err.data["value"] == value
    if allowed is not None:
        assert err.data["allowed"] == allowed
        assert ", ".join(allowed) in str(err)
    assert "hint:" in str(err)


def test_unknown_nested_key_suggests_the_right_one(tmp_path: Path) -> None:
    err = config_error(tmp_path, "train:\n  nproc: 2\n  lanucher: torchrun\n")
    assert err.line == 3
    assert "unknown key 'train.lanucher'" in str(err)
    assert "did you mean 'train.launcher'" in str(err)


def test_several_errors_are_all_reported(tmp_path: Path) -> None:
    err = config_error(tmp_path, "train:\n  batch_size: 0\n  seed: -1\nwandb: {mode: x}\n")
    assert [e["key"] for e in err.data["errors"]] == ["train.batch_size", "train.seed",
                                                       "wandb.mode"]
    assert [e["line"] for e in err.data["errors"]] == [2, 3, 4]
    assert err.line == 2
    assert ":3: train.seed" in str(err) and ":4: wandb.mode" in str(err)


def test_wandb_disabled_is_refused_with_the_reason(tmp_path: Path) -> None:
    err = config_error(tmp_path, "wandb:\n  mode: disabled\n")
    assert err.line == 2 and err.data["key"] == "wandb.mode"
    assert "'disabled' is refused" in str(err)
    assert "silently" in str(err) and "offline" in str(err)


def test_types_are_strict(tmp_path: Path) -> None:
    err = config_error(tmp_path, "train:\n  nproc: '2'\n")
    assert err.data["key"] == "train.nproc" and err.line == 2
    err = config_error(tmp_path, "train:\n  seed: true\n")
    assert err.data["key"] == "train.seed"
    err = config_error(tmp_path, "docs: [docs/**, 3]\n")
    assert err.data["key"] == "docs[1]" and err.line == 1
    err = config_error(tmp_path, "train:\n  timeout:\n")
    assert err.data["key"] == "train.timeout" and "required" in str(err)


def test_handlers_stages_and_option_blocks(tmp_path: Path) -> None:
    err = config_error(tmp_path, "handlers:\n  4: [torch-smoke]\n  9: [train]\n")
    assert err.line == 3 and "9 is not a stage" in str(err) and "0 to 8" in str(err)
    err = config_error(tmp_path, "handlers: {x: [train]}\n")
    assert "'x' is not a stage" in str(err)
    err = config_error(tmp_path, "handlers: {4: ['bad name']}\n")
    assert err.data["key"] == "handlers.4[0]"
    # a top-level block for a handler that is not listed is an unknown key
    err = config_error(tmp_path, "handlers: {}\nmy-check:\n  threshold: 3\n")
    assert err.line == 2 and "unknown key 'my-check'" in str(err)
    assert "handlers" in str(err)
    # once listed, its block is its options
    write(tmp_path, "handlers: {5: [my-check]}\nmy-check:\n  threshold: 3\n")
    cfg = load_config(tmp_path)
    assert cfg.handler_options("my-check") == {"threshold": 3}
    assert cfg.handler_options("other") == {}
    assert cfg.to_dict()["my-check"] == {"threshold": 3}
    err = config_error(tmp_path, "handlers: {5: [my-check]}\nmy-check: 3\n")
    assert err.line == 2 and "must be a mapping" in str(err)


def test_builtin_blocks_validate_their_keys(tmp_path: Path) -> None:
    err = config_error(tmp_path, "torch-smoke:\n  factory: not-a-path\n")
    assert err.data["key"] == "torch-smoke.factory" and err.line == 2
    err = config_error(tmp_path, "torch-smoke:\n  overfit_ratio: 1.5\n")
    assert err.data["key"] == "torch-smoke.overfit_ratio"
    err = config_error(tmp_path, "train:\n  slurm:\n    gpus: 2\n")
    assert err.data["key"] == "train.slurm.gpus" and err.line == 3


def test_worktrees_template_and_branch_prefix(tmp_path: Path) -> None:
    err = config_error(tmp_path, "worktrees: '../{repo}.wt'\n")
    assert "{ticket}" in str(err)
    err = config_error(tmp_path, "worktrees: '../{name}/{ticket}'\n")
    assert "{name}" in str(err)
    err = config_error(tmp_path, "branch_prefix: 'exp..x/'\n")
    assert err.data["key"] == "branch_prefix"
    write(tmp_path, "worktrees: '.worktrees/{ticket}'\nbranch_prefix: 'exp/'\n")
    cfg = load_config(tmp_path)
    assert cfg.worktrees == ".worktrees/{ticket}" and cfg.branch_prefix == "exp/"


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    err = config_error(tmp_path, "profile: strict\ntrain:\n  nproc: 1\n  nproc: 2\n")
    assert err.line == 4 and "'train.nproc' is given twice (lines 3 and 4)" in str(err)


# --- the commented template --------------------------------------------------------


def _uncomment(text: str) -> str:
    """Turn every commented setting line (`# key: value`) into a live one."""
    return "\n".join(ln[2:] if re.match(r"^# ( *)[a-z][a-z0-9_-]*:(\s|$)", ln) else ln
                     for ln in text.splitlines()) + "\n"


def test_commented_template_loads_to_the_defaults(tmp_path: Path) -> None:
    write(tmp_path, COMMENTED_TEMPLATE)
    assert yaml.safe_load(COMMENTED_TEMPLATE) is None  # everything commented out
    assert load_config(tmp_path) == Config()


def test_commented_template_documents_every_key_with_its_default(tmp_path: Path) -> None:
    live = _uncomment(COMMENTED_TEMPLATE)
    write(tmp_path, live)
    assert load_config(tmp_path) == Config()
    assert yaml.safe_load(live) == Config().to_dict()  # every key present, default values


# --- globs -------------------------------------------------------------------------


@pytest.mark.parametrize("path, patterns, expected", [
    ("README.md", ["*.md"], True),
    ("docs/guide.md", ["*.md"], False),  # no "/" in the pattern: root only
    ("docs/guide.md", ["docs/**"], True),
    ("docs/a/b/c.png", ["docs/**"], True),
    ("docs", ["docs/**"], False),
    ("mydocs/x.md", ["docs/**"], False),
    ("src/docs/x.md", ["docs/**"], False),
    ("results/run1/metrics.csv", ["results*/**"], True),
    ("results_v2/a.csv", ["results*/**"], True),
    ("results.csv", ["results*/**"], False),
    ("exp_log/x", ["exp_log*/**"], True),
    ("checkpoints/epoch=1.ckpt", ["checkpoints/**"], True),
    ("src/checkpoints/x", ["checkpoints/**"], False),
    ("./README.md", ["*.md"], True),
    ("docs\\win.md", ["docs/**"], True),
    ("a/b/notes.md", ["**/*.md"], True),
    ("notes.md", ["**/*.md"], True),
    ("a/x/y/b", ["a/**/b"], True),
    ("a/b", ["a/**/b"], True),
    ("a/b.txt", ["a/?.txt"], True),
    ("a/bb.txt", ["a/?.txt"], False),
    ("v1/x", ["v[0-9]/**"], True),
    ("vx/x", ["v[!0-9]/**"], True),
    ("v1/x", ["v[!0-9]/**"], False),
    ("out/x.bin", ["out/"], True),
    ("out/sub/x.bin", ["out"], True),  # a folder pattern covers its contents
    ("/abs/README.md", ["*.md"], False),
    ("x.md", [], False),
    ("file+name (1).md", ["*.md"], True),
    ("src/model.py", ["docs/**", "*.md"], False),
])
def test_glob_match(path: str, patterns: list[str], expected: bool) -> None:
    assert glob_match(path, patterns) is expected


def test_hook_config_cache_stays_out_of_the_work_tree(git_repo: Path) -> None:
    """The JSON cache of mlgate.yaml (hooks skip PyYAML) never lands in a work tree."""
    import subprocess

    from mlgate.config.raw import load_raw

    (git_repo / "mlgate.yaml").write_text("outside_tickets: block\n")
    subprocess.run(["git", "add", "-A"], cwd=git_repo, check=True)
    subprocess.run(["git", "commit", "-qm", "cfg"], cwd=git_repo, check=True)
    wt = git_repo.parent / "wt"
    subprocess.run(["git", "worktree", "add", "-q", "-b", "codex/x", str(wt)], cwd=git_repo,
                   check=True)
    for root in (git_repo, wt):
        assert load_raw(root)["outside_tickets"] == "block"
        assert load_raw(root)["outside_tickets"] == "block"  # from the cache
        status = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=root,
                                capture_output=True, text=True, check=True).stdout
        assert status.strip() == "", status
    (git_repo / "mlgate.yaml").write_text("outside_tickets: allow\n")
    assert load_raw(git_repo)["outside_tickets"] == "allow"  # a changed file is re-read


# --- read-only commands skip the validator while mlgate.yaml is unchanged -----------------

_LOADED = ("import sys\nfrom mlgate.cli import main\nsys.argv = ['mlgate', '--json', 'status']\n"
           "try:\n    main()\nexcept SystemExit:\n    pass\n"
           "mods = ('pydantic', 'transitions', 'yaml', 'mlgate.config.schema', 'mlgate.engine', "
           "'mlgate.gates', 'mlgate.state.model', 'mlgate.evidence.results')\n"
           "sys.stderr.write('LOADED=' + ','.join(m for m in mods if m in sys.modules))\n")


def test_status_skips_the_validator_until_the_config_changes(git_workspace) -> None:  # type: ignore[no-untyped-def]
    """`mlgate status` validates mlgate.yaml once; while the file is unchanged (and the
    tickets too: the status cache) a later status loads neither pydantic nor the engine,
    the gates or PyYAML. A change that breaks the file is still reported (exit 2)."""
    ws = git_workspace
    ws.new_ticket("t1")
    mlgate = str(Path(sys.executable).parent / "mlgate")
    cfg = ws.root / "mlgate.yaml"
    cfg.write_text("branch_prefix: codex/\nprofile: strict\n")

    def status() -> subprocess.CompletedProcess[str]:
        return subprocess.run([mlgate, "--json", "status"], cwd=ws.root, capture_output=True,
                              text=True, timeout=120)

    assert status().returncode == 0  # validates and remembers; fills the status cache
    light = subprocess.run([sys.executable, "-c", _LOADED], cwd=ws.root, capture_output=True,
                           text=True, timeout=120)
    assert '"ticket": "t1"' in light.stdout, light.stderr
    assert light.stderr.endswith("LOADED="), light.stderr
    cfg.write_text("branch_prefix: codex/\nprofile: strict\nhanlders: {}\n")
    bad = status()
    assert bad.returncode == 2 and "mlgate.yaml:3" in bad.stderr and "hanlders" in bad.stderr
    cfg.write_text("branch_prefix: codex/\nprofile: strict\n")
    assert status().returncode == 0


# --- cluster keys: train.seeds, train.parallel, train.nnodes, train.slurm.* ----------------


def test_cluster_keys_load(tmp_path: Path) -> None:
    write(tmp_path, "train:\n  launcher: slurm\n  seeds: [0, 1, 2]\n  parallel: 2\n"
                    "  nnodes: 2\n  slurm:\n    account: acme\n    cpus_per_task: 8\n"
                    "    sbatch: ['--qos=high', '#SBATCH --exclusive', '--comment=a b']\n")
    cfg = load_config(tmp_path)
    assert (cfg.train.seeds, cfg.train.parallel, cfg.train.nnodes) == ([0, 1, 2], 2, 2)
    assert (cfg.train.slurm.account, cfg.train.slurm.cpus_per_task) == ("acme", 8)
    assert cfg.train.slurm.sbatch == ["--qos=high", "#SBATCH --exclusive", "--comment=a b"]


@pytest.mark.parametrize("text,key,line,words", [
    ("train:\n  seeds: [0, 0]\n", "train.seeds", 2, "repeats a seed"),
    ("train:\n  seeds: []\n", "train.seeds", 2, "at least 1"),
    ("train:\n  parallel: 0\n", "train.parallel", 2, "greater than or equal to 1"),
    ("train:\n  nnodes: 2\n", "train.nnodes", 2, "need launcher torchrun"),
    ("train:\n  slurm:\n    sbatch:\n      - '--qos=high'\n      - '--output=x.log'\n",
     "train.slurm.sbatch[1]", 5, "--output is mlgate's"),
    ("train:\n  slurm:\n    sbatch: ['--nodes=4']\n", "train.slurm.sbatch[0]", 3,
     "set train.nnodes"),
    ("train:\n  slurm:\n    sbatch: ['-Z 1']\n", "train.slurm.sbatch[0]", 3, "long form"),
    ("train:\n  slurm:\n    sbatch: ['--qos=a', '-q b']\n", "train.slurm.sbatch", 3,
     "--qos is given twice"),
    ("train:\n  slurm:\n    cpus_per_task: 0\n", "train.slurm.cpus_per_task", 3,
     "greater than or equal to 1"),
])
def test_bad_cluster_keys_name_key_and_line(tmp_path: Path, text: str, key: str, line: int,
                                            words: str) -> None:
    err = config_error(tmp_path, text)
    assert err.data["key"] == key and err.line == line, err.message
    assert words in err.message


@pytest.mark.parametrize("text,key", [
    ("train:\n  slurm:\n    sbatch: [\"--comment=x\\nrm -rf ~\"]\n", "train.slurm.sbatch[0]"),
    ("train:\n  slurm:\n    partition: \"gpu\\n#SBATCH --x\"\n", "train.slurm.partition"),
    ("train:\n  slurm:\n    account: \"a b\"\n", "train.slurm.account"),
])
def test_slurm_values_cannot_add_lines_to_the_batch_script(tmp_path: Path, text: str,
                                                           key: str) -> None:
    """Attack: a value with a line break would end its #SBATCH line and put a command of its
    own into the job's batch script. Refused at the key, before anything is submitted."""
    err = config_error(tmp_path, text)
    assert err.data["key"] == key, err.message
@pytest.mark.parametrize("text, needle", [
    ("train:\n  metrics: mlflow\n", "train.metrics"),
    ("train:\n  metrics_regex: 'val_acc=(?P<val_acc>[0-9.]+'\n", "not a valid regular"),
    ("train:\n  metrics_regex: 'epoch (?P<step>\\d+)'\n", "names no metric"),
])
def test_bad_metric_source_settings_name_the_key(tmp_path: Path, text: str, needle: str) -> None:
    err = config_error(tmp_path, text)
    assert needle in err.message and "mlgate.yaml:2" in str(err)


def test_metric_source_settings_load(tmp_path: Path) -> None:
    write(tmp_path, "train:\n  metrics: stdout\n  metrics_regex: 'val_acc=(?P<val_acc>\\S+)'\n")
    train = load_config(tmp_path).train
    assert train.metrics == "stdout" and train.metrics_regex == "val_acc=(?P<val_acc>\\S+)"
