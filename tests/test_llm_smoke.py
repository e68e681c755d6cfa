"""llm-smoke on a real (tiny) fine-tuning set-up, on CPU, nothing downloaded: a byte-level
BPE tokenizer trained on the fly with ``tokenizers``, a 2-layer GPT-2 built from a
``transformers`` config (``tests/data/llm_project``). The project as written passes every
check; a bug planted in a copy of its code (labels not masked, an answer truncated, the EOS
token missing, packing across samples) fails the check that guards against it, naming the
sample and what is wrong."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from mlgate.evidence.results import HandlerContext, HandlerResult  # noqa: E402
from mlgate.handlers import Registry  # noqa: E402
from mlgate.handlers.llm_smoke import CHECK_IDS, LlmSmokeHandler  # noqa: E402
from mlgate.handlers.runner import exit_code, run_handler  # noqa: E402
from mlgate.profiles import get as get_profile  # noqa: E402

pytestmark = pytest.mark.slow  # transformers' import and a dozen tiny models: ~30 s of CPU

PROJECT = Path(__file__).parent / "data" / "llm_project"
DATA = "sft/data.py"


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(PROJECT, root)
    return root


def plant(root: Path, old: str, new: str, file: str = DATA) -> None:
    path = root / file
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {file}"
    path.write_text(text.replace(old, new))


def smoke(root: Path, lines: list[str] | None = None, **options: object) -> HandlerResult:
    folder = root / "tickets" / "in-progress" / "chat"
    folder.mkdir(parents=True, exist_ok=True)
    impl = get_profile("llm-finetune").stage_template(4, ticket="chat")
    (folder / "implementation.md").write_text(impl)
    ctx = HandlerContext(workspace=root, ticket="chat", stage=4, folder=folder, worktree=root,
                         options={"factory": "sft.smoke:make", **options},
                         commit="c0ffee" * 6 + "beef",
                         progress=lines.append if lines is not None else None)
    return run_handler(LlmSmokeHandler(), ctx)


def status(result: HandlerResult) -> dict[str, str]:
    return {c.id: c.status for c in result.checks}


def detail(result: HandlerResult, cid: str) -> str:
    return next(c.detail for c in result.checks if c.id == cid)


def test_the_project_passes_every_check(project: Path) -> None:
    lines: list[str] = []
    result = smoke(project, lines)
    assert result.status == "Pass", [(c.id, c.status, c.detail) for c in result.checks]
    assert [c.id for c in result.checks] == list(CHECK_IDS)
    assert set(status(result).values()) == {"pass"}
    assert exit_code([result]) == 0
    assert "13 text(s) round-trip" in detail(result, "tokenizer")
    assert "EOS '<|end|>' and PAD '<|pad|>' are single tokens" in detail(result,
                                                                          "special_tokens")
    assert "'<|user|>How do I reset my password?<|assistant|>" in detail(result,
                                                                          "chat_template")
    assert "build_example dropped sample(s) [12]" in detail(result, "truncation")
    assert "in 3 packed row(s)" in detail(result, "packing")
    assert result.metrics["loss_after"] < result.metrics["loss_before"]
    assert result.metrics["prompt_tokens"] > 0 and result.metrics["answer_tokens"] > 0
    assert [ln.split(":")[0] for ln in lines if ln.split(":")[0] in CHECK_IDS] == \
        list(CHECK_IDS)
    # the evidence, and the readiness row it fills
    data = json.loads((project / "tickets/in-progress/chat" / result.evidence).read_text())
    assert data["handler"] == "llm-smoke" and data["status"] == "Pass"
    assert data["smoke"]["dropped"] == [12]  # handler-specific data sits at the top level
    impl = (project / "tickets/in-progress/chat/implementation.md").read_text()
    assert f"| Smoke test or dry run passes | Pass | {result.evidence} |" in impl


BUGS = [
    pytest.param(
        "labels = [-100] * len(prompt_ids) + answer_ids", "labels = list(input_ids)",
        "masking", ["prompt tokens carry a label instead of -100", "sample 0:",
                    "(first at position 0, '<|user|>')"], set(), id="labels-not-masked"),
    pytest.param(
        "    if len(input_ids) > max_length:\n        return None\n",
        "    input_ids, labels = input_ids[:max_length], labels[:max_length]\n",
        "truncation", ["1 of 13 example(s): sample 12: the answer is cut (64 tokens, "
                       "max_length 64)"], {"special_tokens"}, id="truncated-answer"),
    pytest.param(
        "    answer_ids = answer_ids + [tokenizer.eos_token_id]\n", "",
        "special_tokens", ["12 of 12 example(s) do not end with the EOS token '<|end|>'",
                           "sample 0 ends with '!'"], set(), id="missing-eos"),
    pytest.param(
        "            mask[s:e, s:e] = True", "            mask[:e, :e] = True",
        "packing", ["logits differ from the sample alone",
                    "attention or positions cross a sample boundary"], set(),
        id="packing-attends-across-samples"),
    pytest.param(
        "            positions += list(range(len(ex[\"input_ids\"])))",
        "            positions += list(range(start, start + len(ex[\"input_ids\"])))",
        "packing", ["logits differ from the sample alone"], set(),
        id="packing-positions-run-on"),
    pytest.param(
        "        labels += ex[\"labels\"]", "        labels += ex[\"labels\"][1:] + [-100]",
        "packing", ["its labels changed when packed"], set(), id="packing-shifts-labels"),
]


@pytest.mark.parametrize("old, new, check, expect, also", BUGS)
def test_each_planted_bug_fails_its_check(project: Path, old: str, new: str, check: str,
                                          expect: list[str], also: set[str]) -> None:
    plant(project, old, new)
    result = smoke(project)
    failed = {c for c, s in status(result).items() if s == "fail"}
    assert check in failed, [(c.id, c.status, c.detail) for c in result.checks]
    assert failed - {check} <= also, [(c.id, c.status, c.detail) for c in result.checks]
    assert result.status == "Fail" and exit_code([result]) == 1
    for text in expect:
        assert text in detail(result, check), detail(result, check)
    impl = (project / "tickets/in-progress/chat/implementation.md").read_text()
    assert f"| Smoke test or dry run passes | Fail | {result.evidence} |" in impl


def test_a_template_whose_prompt_is_not_a_prefix_fails(project: Path) -> None:
    plant(project, "{{ '<|assistant|>' }}{% endif %}", "{{ '<|assistant|> ' }}{% endif %}",
          "sft/tokenizer.py")
    result = smoke(project)
    assert status(result)["chat_template"] == "fail"
    assert "is not the start of the whole conversation" in detail(result, "chat_template")
    assert status(result)["masking"] == "skipped"  # it needs the template


def test_frozen_model_does_not_learn_in_one_step(project: Path) -> None:
    plant(project, "    return GPT2LMHeadModel(config)",
          "    model = GPT2LMHeadModel(config)\n    model.transformer.wte.weight.requires_grad_("
          "False)\n    for p in model.parameters():\n        p.requires_grad_(False)\n"
          "    model.lm_head.weight.requires_grad_(False)\n    return model", "sft/model.py")
    result = smoke(project)
    assert status(result)["loss"] == "fail"
    assert "optimizer got an empty parameter list" in detail(result, "loss")


def test_bad_options_and_factories_are_named(project: Path) -> None:
    result = smoke(project, max_samples=0, skip=["tokenizer"], colour="red")
    assert status(result)["options"] == "fail"
    text = detail(result, "options")
    assert "unknown option llm-smoke.colour" in text
    assert "llm-smoke.max_samples must be an integer >= 1, got 0" in text
    assert "the 'tokenizer' check cannot be skipped" in text
    plant(project, '        "max_length": MAX_LENGTH,\n', "", "sft/smoke.py")
    result = smoke(project)
    assert "returned a dict without 'max_length'" in detail(result, "factory")
    result = smoke(project, factory="sft.smoke:nothing")
    assert "has no attribute 'nothing'" in detail(result, "factory")


def test_registered_as_an_entry_point() -> None:
    reg = Registry()
    reg.discover()
    assert "llm-smoke" in reg.names()
    handler = reg.get("llm-smoke")
    assert isinstance(handler, LlmSmokeHandler) and handler.stages == (4,)


def test_the_docs_factory_passes_every_check(tmp_path: Path) -> None:
    """The self-contained factory of docs/profiles/llm-finetune.md runs as shown."""
    import re

    page = Path(__file__).resolve().parents[1] / "docs" / "profiles" / "llm-finetune.md"
    blocks = [b for b in re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
              if "def make" in b]
    assert len(blocks) == 1
    (tmp_path / "smoke.py").write_text(blocks[0])
    ctx = HandlerContext(workspace=tmp_path, ticket="docs", stage=4, folder=tmp_path / "t",
                         worktree=tmp_path, options={"factory": "smoke:make"})
    result = LlmSmokeHandler().run(ctx)
    assert status(result) == {c: "pass" for c in CHECK_IDS}, \
        [(c.id, c.status, c.detail) for c in result.checks]
