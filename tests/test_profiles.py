"""The profile mechanism: the registry (built-ins and real ``mlgate.profiles`` entry points),
``profile.yaml`` definitions and their mistakes, ``profile`` / ``strictness`` in
``mlgate.yaml``, a third-party profile's templates and declared checks in a real workspace,
and every kind of declared check refused on a bad artifact with file:line.

The third-party profile is installed the way a package installs one: a ``*.dist-info``
folder with an ``entry_points.txt`` on ``sys.path`` (``importlib.metadata`` finds it), so the
registry reads a real entry point.
"""
from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import mlgate
from mlgate import profiles
from mlgate.config.schema import load_config
from mlgate.errors import ConfigError, ProfileError
from mlgate.gates import evaluate
from mlgate.workspace import Workspace
from test_gates import IMPL, INV, Ticket, _golden, failing, show  # noqa: F401 (autouse fixture)

PROFILE_YAML = """\
name: tiny-domain
title: Tiny domain
description: a profile made in a test
extends: dl
smoke_handler: tiny-smoke
stages:
  3:
    name: Study Plan
    artifact: study-plan.md
    template: study-plan-template.md
rows:
  readiness_checks: [Smoke test or dry run passes, Data snapshot frozen]
renames:
  Metric: Metric Or Rubric
gates:
  1: tiny_checks:investigation
functions:
  4: tiny_checks:progress_words
checks:
  - id: framing.extra
    stage: 1
    kind: fields
    section: Task Framing
    fields: [Goal, Budget]
    rule: 45
  - id: scope.size
    stage: 1
    kind: value
    section: Scope Triage
    fields: [Classification]
    allowed: [Small, Medium, Large]
    require: [Small]
    basic: true
    hint: a tiny ticket stays small
  - id: sources.columns
    stage: 1
    kind: columns
    section: Sources Consulted
    columns: [Path / URL / Command, Licence]
  - id: sources.cells
    stage: 1
    kind: cells
    section: Sources Consulted
    columns: [Why It Matters]
    min_rows: 2
    where: {Source Type: [Local File]}
  - id: changes.listed
    stage: 4
    kind: rows
    section: Change Inventory
    rows: [C-001, C-009]
    columns: [Status]
    require: [Done]
  - id: notes
    stage: 4
    kind: sections
    sections: [Execution Plan, Tiny Notes]
"""

CHECKS_PY = '''\
"""Check functions of the tiny-domain profile."""
from mlgate import artifacts as A
from mlgate.gates import builtin_gate


def investigation(ctx, gate, strict):
    builtin_gate(1)(ctx, gate, strict)  # the dl checks, then one more
    art = A.load(ctx.folder, "investigation-notes.md")
    f = art.field("Task Framing", "Main unknowns") if art else None
    ok = f is not None and f.value is not None and "?" not in f.value
    gate.add("framing.no-questions", [] if ok else [(f.line if f else None,
             "Main unknowns is a question; write what is unknown")], "no questions", 45)


def progress_words(ctx, gate, strict):
    art = A.load(ctx.folder, "implementation.md")
    entries = A.progress_entries(art) if art else []
    short = [(e.line, f"progress entry of {e.date} says nothing") for e in entries
             if len(e.text.split()) < 2]
    gate.add("progress.words", short, "progress entries say what happened", 73)
'''

STUDY_TEMPLATE = "# Study Plan\n\n## Document Status\n\n- Current Status: `Draft` / `Reviewing` / `Current`\n- Last Updated:\n"


def install(site: Path, name: str = "tiny-domain", value: str = "tiny_profile:PROFILE",
            yaml_text: str = PROFILE_YAML) -> Path:
    """A package providing the profile ``name`` through a real entry point, in ``site``."""
    folder = site / "tiny_profile_data"
    (folder / "stages" / "03-experiment-plan").mkdir(parents=True, exist_ok=True)
    (folder / "stages" / "03-experiment-plan" / "study-plan-template.md").write_text(
        STUDY_TEMPLATE)
    (folder / "profile.yaml").write_text(yaml_text)
    (site / "tiny_checks.py").write_text(CHECKS_PY)
    (site / "tiny_profile.py").write_text(
        "from pathlib import Path\n"
        "PROFILE = str(Path(__file__).parent / 'tiny_profile_data')\n"
        "def broken():\n    raise RuntimeError('no data')\n")
    dist = site / "tiny_profile-0.1.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-profile\nVersion: 0.1\n")
    eps = dist / "entry_points.txt"
    old = eps.read_text() if eps.exists() else "[mlgate.profiles]\n"
    eps.write_text(old + f"{name} = {value}\n")
    return folder


def _forget() -> None:
    """Each test installs the plug-in afresh: drop its modules and every cached profile."""
    from mlgate.gates import core

    for module in ("tiny_profile", "tiny_checks"):
        sys.modules.pop(module, None)
    core._FUNCTIONS.clear()
    profiles.clear_cache()


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    site = tmp_path / "site"
    site.mkdir()
    install(site)
    monkeypatch.syspath_prepend(str(site))
    _forget()
    yield site
    _forget()


@pytest.fixture
def tiny(site: Path) -> profiles.Profile:
    return profiles.get("tiny-domain")


# --- the registry ---------------------------------------------------------------------


def test_builtins_and_the_older_spelling() -> None:
    assert profiles.names()[:2] == ["dl", "llm-finetune"]
    assert profiles.get("dl") is profiles.DL
    assert profiles.get("strict") is profiles.DL and profiles.get("basic") is profiles.DL
    assert profiles.DL.plan == "experiment-plan.md"
    assert profiles.DL.stage(4).name == "Implementation"
    assert profiles.DL.label("Metric") == "Metric"


def test_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(ProfileError) as exc:
        profiles.get("llm-fintune")
    msg = str(exc.value)
    assert "profile 'llm-fintune' is not known (did you mean 'llm-finetune'?)" in msg
    assert "known profiles: dl, llm-finetune" in msg and "mlgate.profiles" in msg


def test_entry_point_profile_is_found_and_extends_dl(site: Path, tiny: profiles.Profile
                                                     ) -> None:
    assert "tiny-domain" in profiles.names()
    assert tiny.name == "tiny-domain" and tiny.extends == "dl"
    assert tiny.stage(3).name == "Study Plan" and tiny.plan == "study-plan.md"
    assert tiny.stage(3).slug == "03-experiment-plan"  # kept from dl
    assert tiny.stage(5) == profiles.DL.stage(5)
    assert tiny.fixed_rows("mandatory_checks") == profiles.DL.fixed_rows("mandatory_checks")
    assert tiny.label("Metric") == "Metric Or Rubric"
    assert [c.id for c in tiny.checks] == ["framing.extra", "scope.size", "sources.columns",
                                           "sources.cells", "changes.listed", "notes"]
    # templates: its own first, then the ones mlgate ships
    assert tiny.stage_template(3, ticket="t").startswith("# Study Plan")
    assert tiny.stage_template_path(4) == profiles.DL.stage_template_path(4)
    assert "## Stage Gates" in tiny.state_template()
    data = tiny.to_dict()
    assert data["stages"][3]["artifact"] == "study-plan.md"
    assert data["checks"][1] == {"id": "s1.scope.size", "stage": 1, "kind": "value",
                                 "section": "Scope Triage", "hint": "a tiny ticket stays small",
                                 "fields": ["Classification"],
                                 "allowed": ["Small", "Medium", "Large"], "require": ["Small"],
                                 "basic": True}


def test_broken_entry_points_fail_for_their_own_name(site: Path) -> None:
    install(site, "broken-import", "no_such_module:PROFILE")
    install(site, "broken-call", "tiny_profile:broken")
    install(site, "wrong-name", "tiny_profile:PROFILE")
    profiles.clear_cache()
    with pytest.raises(ProfileError, match=r"entry point broken-import = no_such_module:PROFILE"
                                           r": cannot be imported: ModuleNotFoundError"):
        profiles.get("broken-import")
    with pytest.raises(ProfileError, match="raised RuntimeError: no data"):
        profiles.get("broken-call")
    with pytest.raises(ProfileError, match="registered as 'wrong-name' but the profile is "
                                           "named 'tiny-domain'"):
        profiles.get("wrong-name")
    assert profiles.get("tiny-domain").name == "tiny-domain"  # the others still work


@pytest.mark.parametrize("change, needle, message", [
    (("extends: dl", "extends: nope"), "extends: nope", "extends: profile 'nope' is not known"),
    (("    name: Study Plan", "    nmae: Study Plan"), "nmae",
     "stages.3.nmae: unknown key; known keys: name, folder"),
    (("  3:\n    name", "  12:\n    name"), "  12:", "stages.12: 12 is not a stage"),
    (("    kind: value", "    kind: equals"), "kind: equals", "'equals' is not a check kind"),
    (("  - id: notes", "  - id: Notes!"), "id: Notes!", "'Notes!' is not a check id"),
    (("  - id: notes\n    stage: 4", "  - id: scope.size\n    stage: 1"), "id: scope.size",
     "s1.scope.size is declared twice"),
    (("    fields: [Goal, Budget]\n", ""), "- id: framing.extra",
     "a `fields` check needs `fields:`"),
    (("  4: tiny_checks:progress_words", "  4: tiny_checks.progress_words"),
     "tiny_checks.progress_words",
     "'tiny_checks.progress_words' is not of the form 'package.module:function'"),
    (("    min_rows: 2", "    min_rows: two"), "min_rows: two", "must be a whole number >= 0"),
    (("name: tiny-domain", "name: strict"), "name: strict", "'strict' is not a profile name"),
    (("title: Tiny domain", "title: [a, b"), None, "invalid YAML"),
])
def test_bad_definitions_name_file_and_line(tmp_path: Path, change: tuple[str, str],
                                            needle: str | None, message: str) -> None:
    assert PROFILE_YAML.count(change[0]) == 1
    text = PROFILE_YAML.replace(*change)
    folder = install(tmp_path, yaml_text=text)
    with pytest.raises(ProfileError) as exc:
        profiles.load_file(folder)
    line = text[:text.rfind(needle)].count("\n") + 1 if needle else exc.value.line
    assert line is not None and exc.value.line == line, str(exc.value)
    assert str(exc.value).startswith(f"{folder / 'profile.yaml'}:{line}: ")
    assert message in str(exc.value)


# --- mlgate.yaml ------------------------------------------------------------------------


@pytest.mark.parametrize("text, domain, strictness", [
    ("", "dl", "strict"),
    ("profile: basic\n", "dl", "basic"),
    ("profile: strict\nstrictness: strict\n", "dl", "strict"),
    ("profile: dl\nstrictness: basic\n", "dl", "basic"),
    ("profile: llm-finetune\n", "llm-finetune", "strict"),
    ("profile: llm-finetune\nstrictness: basic\n", "llm-finetune", "basic"),
])
def test_profile_and_strictness_combine(tmp_path: Path, text: str, domain: str,
                                        strictness: str) -> None:
    (tmp_path / "mlgate.yaml").write_text(text)
    cfg = load_config(tmp_path)
    assert (cfg.gate_profile, cfg.gate_strictness) == (domain, strictness)


@pytest.mark.parametrize("text, line, message", [
    ("docs: [a]\nprofile: basic\nstrictness: strict\n", 3,
     "strictness: 'strict' contradicts `profile: basic`"),
    ("profile: dl\nstrictness: lax\n", 2, "strictness: 'lax' is not allowed; allowed values: "
                                          "strict, basic"),
    ("profile: llm-fintune\n", 1, "'llm-fintune' is not allowed (did you mean "
                                  "'llm-finetune'?); allowed values: strict, basic, dl, "
                                  "llm-finetune"),
])
def test_bad_profile_settings_name_the_line(tmp_path: Path, text: str, line: int,
                                            message: str) -> None:
    (tmp_path / "mlgate.yaml").write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path)
    assert exc.value.line == line and message in str(exc.value), str(exc.value)


def test_installed_profile_is_a_valid_setting(site: Path, tmp_path: Path) -> None:
    (tmp_path / "mlgate.yaml").write_text("profile: tiny-domain\n")
    assert load_config(tmp_path).gate_profile == "tiny-domain"


# --- a third-party profile in a real workspace -------------------------------------------


def test_workspace_scaffolds_the_profiles_templates(site: Path, tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    ws, _ = Workspace.init(root)
    (root / "mlgate.yaml").write_text("profile: tiny-domain\n")
    ws = Workspace.discover(root)
    t = ws.new_ticket("tiny", worktree=False)
    assert ws.profile.name == "tiny-domain"
    status = t.status()
    assert status["gates"][3]["name"] == "Study Plan"
    t._scaffold(3)
    text = (t.folder / "study-plan.md").read_text()
    assert text.startswith("# Study Plan") and "- Current Status: `Draft`" in text
    assert not (t.folder / "experiment-plan.md").exists()
    report = t.check(1)
    assert report.domain == "tiny-domain" and report.to_dict()["domain"] == "tiny-domain"
    assert "stage 3 Study Plan" in ws.ticket("tiny").graph().replace('"3 Study Plan"',
                                                                     "stage 3 Study Plan")


def test_cli_check_json_names_the_profile(site: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    monkeypatch.setenv("PYTHONPATH", str(site))
    assert mlgate(root, "init").returncode == 0
    (root / "mlgate.yaml").write_text("profile: tiny-domain\nstrictness: basic\n")
    assert mlgate(root, "new", "tiny").returncode == 0
    req = root / "tickets" / "in-progress" / "tiny" / "requirements.md"
    req.write_text(req.read_text().replace(
        "## Goal / Problem Statement\n\n-\n",
        "## Goal / Problem Statement\n\n- Does the tiny domain's study beat the baseline?\n"))
    out = mlgate(root, "--json", "check", "tiny")
    data = json.loads(out.stdout)
    assert data["domain"] == "tiny-domain" and data["profile"] == "basic"
    assert data["ok"] is True
    text = mlgate(root, "check", "tiny").stdout
    assert "(tiny-domain, basic)" in text


# --- declared checks and check functions ----------------------------------------------------


@pytest.fixture
def ticket(tmp_path: Path, tiny: profiles.Profile) -> Ticket:
    t = Ticket(tmp_path / "ws")
    t.edit(INV, "- Main unknowns: whether the current split leaks near-duplicate images "
                "between train and val.", "- Main unknowns: near-duplicates across splits.")
    t.edit(INV, "- Why this matters:", "- Budget: one day\n- Why this matters:")
    t.edit(INV, "| What Was Learned | Why It Matters |", "| What Was Learned | Why It Matters "
                "| Licence |")
    t.edit(IMPL, "## Progress Log", "## Tiny Notes\n\nnone.\n\n## Progress Log")
    t.edit(IMPL, "| C-003 | `src/digits/smoke.py` | Create | W-003: torch-smoke factory | Done |",
           "| C-003 | `src/digits/smoke.py` | Create | W-003: torch-smoke factory | Done |\n"
           "| C-009 | `README.md` | Modify | W-002: docs | Done |")
    t.edit(IMPL, "| Smoke test or dry run passes |", "| Data snapshot frozen | Pass | "
                 "`data/` hashed in configs/cnn.yaml |\n| Smoke test or dry run passes |")
    (t.folder / "experiment-plan.md").rename(t.folder / "study-plan.md")
    return t


def check(t: Ticket, tiny: profiles.Profile, stage: int, **kw: Any) -> Any:
    return evaluate(t.ctx(domain=tiny, handlers={}, **kw), stage)


def test_good_ticket_passes_the_profiles_checks(ticket: Ticket, tiny: profiles.Profile) -> None:
    for stage in (1, 4):
        report = check(ticket, tiny, stage)
        assert report.ok, show(report)
    ids = [c.id for c in check(ticket, tiny, 1).checks]
    # the replacement gate (the built-in one, then its own check), then the declared checks
    assert ids[-6:] == ["s1.baseline.fields", "s1.framing.no-questions", "s1.framing.extra",
                        "s1.scope.size", "s1.sources.columns", "s1.sources.cells"]
    assert "s4.progress.words" in {c.id for c in check(ticket, tiny, 4).checks}


BAD = [
    (1, INV, ("- Budget: one day", "- Budget:"), "framing.extra",
     "'Budget' under ## Task Framing is empty", "- Budget:"),
    (1, INV, ("- Budget: one day\n", ""), "framing.extra",
     "## Task Framing has no '- Budget:' field", "## Task Framing"),
    (1, INV, ("- Classification: `Small`", "- Classification: `Medium`"), "scope.size",
     "'Classification' is 'Medium'; the stage-1 gate needs 'Small'; a tiny ticket stays small",
     "- Classification:"),
    (1, INV, ("- Classification: `Small`", "- Classification: Tiny"), "scope.size",
     "'Classification' is 'Tiny'; allowed: Small, Medium, Large", "- Classification:"),
    (1, INV, (" | Licence |", " |"), "sources.columns",
     "the ## Sources Consulted table lacks the column(s) Licence", "| Source Type"),
    (1, INV, ("| the new model plugs in here |", "|  |"), "sources.cells",
     "Local File: 'Why It Matters' is empty", "src/digits/train.py"),
    (1, INV, ("- Main unknowns: near-duplicates across splits.", "- Main unknowns: leaks?"),
     "framing.no-questions", "Main unknowns is a question", "- Main unknowns:"),
    (4, IMPL, ("| C-009 | `README.md` | Modify | W-002: docs | Done |", "| C-009 | `README.md` "
               "| Modify | W-002: docs | Planned |"), "changes.listed",
     "'C-009': 'Status' is 'Planned'; the stage-4 gate needs 'Done'", "| C-009 |"),
    (4, IMPL, ("| C-009 | `README.md` | Modify | W-002: docs | Done |\n", ""), "changes.listed",
     "the row 'C-009' of ## Change Inventory is missing", "| Change ID"),
    (4, IMPL, ("none.", ""), "notes", "section '## Tiny Notes' is empty", "## Tiny Notes"),
    (4, IMPL, ("## Tiny Notes\n\nnone.\n\n", ""), "notes", "section '## Tiny Notes' is missing",
     None),
    (4, IMPL, ("- 2026-05-03: CNN, training loop and smoke factory done; torch-smoke passed.",
               "- 2026-05-03: done"), "progress.words", "progress entry of 2026-05-03 says "
                                                        "nothing", "- 2026-05-03: done"),
]


@pytest.mark.parametrize("stage, file, edit, cid, reason, line_of", BAD)
def test_each_declared_check_is_refused_with_file_and_line(
        ticket: Ticket, tiny: profiles.Profile, stage: int, file: str, edit: tuple[str, str],
        cid: str, reason: str, line_of: str | None) -> None:
    ticket.edit(file, *edit)
    report = check(ticket, tiny, stage)
    fails = failing(report)
    assert f"s{stage}.{cid}" in fails, show(report)
    # the only others: the built-in check of the same defect
    assert set(fails) - {f"s{stage}.{cid}"} <= {"s1.scope.classification",
                                                 "s4.changes.done"}, show(report)
    c = fails[f"s{stage}.{cid}"][0]
    n = ticket.line_of(file, line_of) if line_of else len(
        ticket.path(file).read_text().splitlines())
    assert c.file == file and c.line == n, (c.line, n, c.reason)
    assert c.reason == f"{file}:{n}: {reason}" or c.reason.startswith(f"{file}:{n}: {reason}"), \
        c.reason


def test_basic_strictness_runs_only_the_checks_marked_basic(ticket: Ticket,
                                                            tiny: profiles.Profile) -> None:
    ticket.edit(INV, "- Budget: one day", "- Budget:")
    ticket.edit(INV, "- Classification: `Small`", "- Classification: `Large`")
    fails = failing(check(ticket, tiny, 1, profile="basic"))
    assert set(fails) == {"s1.scope.size"}
    fails = failing(check(ticket, tiny, 1, profile="strict"))
    assert {"s1.scope.size", "s1.framing.extra"} <= set(fails)


def test_smoke_hint_and_readiness_rows_come_from_the_profile(ticket: Ticket,
                                                             tiny: profiles.Profile) -> None:
    ticket.edit(IMPL, "| Smoke test or dry run passes | Pass |", "| Smoke test or dry run "
                                                                  "passes | Fail |")
    ticket.edit(IMPL, "| Data snapshot frozen | Pass | `data/` hashed in configs/cnn.yaml |\n",
                "")
    fails = failing(check(ticket, tiny, 4))
    assert "run `mlgate run tiny-smoke`" in fails["s4.readiness.smoke"][0].reason
    assert "readiness row 'Data snapshot frozen' is missing" in \
        fails["s4.readiness.rows"][0].reason
    assert not any("Training entrypoint resolves" in c.reason for c in fails["s4.readiness.rows"])


def test_a_broken_check_function_names_the_profile(tmp_path: Path, site: Path) -> None:
    (site / "tiny_checks.py").write_text("raise ImportError('half written')\n")
    _forget()
    t = Ticket(tmp_path / "ws")
    with pytest.raises(ProfileError, match="profile 'tiny-domain': check function "
                                           "'tiny_checks:investigation' cannot be loaded "
                                           r"\(ImportError: half written\)"):
        evaluate(t.ctx(domain=profiles.get("tiny-domain")), 1)


def test_an_edited_profile_file_is_read_again_after_clear_cache(site: Path) -> None:
    folder = site / "tiny_profile_data"
    assert profiles.get("tiny-domain").title == "Tiny domain"
    (folder / "profile.yaml").write_text(textwrap.dedent(PROFILE_YAML).replace(
        "title: Tiny domain", "title: Tiny domain v2"))
    assert profiles.get("tiny-domain").title == "Tiny domain"  # cached for the process
    profiles.clear_cache()
    assert profiles.get("tiny-domain").title == "Tiny domain v2"


# --- the documentation ------------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_the_documented_profile_definition_loads(tmp_path: Path) -> None:
    import re

    text = (DOCS / "profiles.md").read_text()
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
                 if b.startswith("name: vision-detection"))
    (tmp_path / "profile.yaml").write_text(block)
    p = profiles.load_file(tmp_path)
    assert p.name == "vision-detection" and p.extends == "dl"
    assert p.stage(5).name == "Training & Evaluation" and p.label("Metric") == \
        "Metric Or Benchmark"
    assert [f"s{c.stage}.{c.id}" for c in p.checks] == ["s4.labels.audit", "s4.labels.verdict"]
    assert p.checks[1].basic and p.gates[3] == "my_profiles.checks:plan"
    assert "Label audit passes" in p.fixed_rows("readiness_checks")


def test_profile_pages_name_no_internal_documents() -> None:
    import re

    for page in [DOCS / "profiles.md", *sorted((DOCS / "profiles").glob("*.md"))]:
        text = page.read_text()
        assert "SPEC" not in text and not re.search(r"\brule \d+", text), page
        assert "/work/" not in text, page
