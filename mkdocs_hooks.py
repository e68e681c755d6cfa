"""MkDocs hook: publish the stage guides (``stages/*/README.md``) as pages of the site.

The guides live beside their templates in ``stages/`` (they ship inside the wheel), so the
site reads them from there instead of keeping a second copy under ``docs/``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent


def on_files(files: Files, config: Any) -> Files:
    for guide in sorted((ROOT / "stages").glob("**/README.md")):
        uri = guide.relative_to(ROOT).as_posix()
        files.append(File.generated(config, uri, abs_src_path=str(guide)))
    return files
