"""The example code the docs show runs as shown: the stage-4 guide's smoke factory passes
every torch-smoke check on real torch (CPU)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_stage4_guide_factory_passes_every_check(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from mlgate.evidence.results import HandlerContext
    from mlgate.handlers.torch_smoke import CHECK_IDS, TorchSmokeHandler

    blocks = [b for b in _python_blocks(ROOT / "stages" / "04-implementation" / "README.md")
              if "def make" in b]
    assert blocks, "the stage-4 guide shows no factory"
    (tmp_path / "smoke.py").write_text(blocks[0])
    ctx = HandlerContext(workspace=tmp_path, ticket="docs", stage=4, folder=tmp_path / "t",
                         worktree=tmp_path, options={"factory": "smoke:make"})
    result = TorchSmokeHandler().run(ctx)
    by_id = {c.id: c for c in result.checks}
    assert set(CHECK_IDS) <= set(by_id)
    failing = {c.id: c.detail for c in result.checks if c.status == "fail"}
    assert result.status == "Pass" and not failing, failing


def test_cluster_page_yaml_examples_are_valid_config(tmp_path: Path) -> None:
    from mlgate.config.schema import load_config

    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "cluster.md").read_text(),
                        flags=re.S)
    assert len(blocks) >= 3
    for block in blocks:
        (tmp_path / "mlgate.yaml").write_text(block)
        load_config(tmp_path)  # raises ConfigError naming the line of a wrong key
