"""Stage-4 data preparation: split the conversations by id, train the tokenizer on the
training split, and write the prepared files with their manifest.

    python -m sft.prepare            # writes data/prepared/
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sft.data import conversations
from sft.tokenizer import TEMPLATE_VERSION, build_tokenizer

OUT = Path("data/prepared")


def split(convs: list[dict]) -> dict[str, list[dict]]:
    """The third phrasing of each question is held out for validation; the rest trains."""
    parts: dict[str, list[dict]] = {"train": [], "val": []}
    for c in convs:
        parts["val" if c["id"].endswith("-2") else "train"].append(c)
    return parts


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    parts = split(conversations())
    texts = [m["content"] for c in parts["train"] + parts["val"] for m in c["messages"]]
    tok = build_tokenizer(texts)
    OUT.mkdir(parents=True, exist_ok=True)
    tok.backend_tokenizer.save(str(OUT / "tokenizer.json"))
    manifest = {"template": TEMPLATE_VERSION, "files": {}}
    for name, items in parts.items():
        path = OUT / f"{name}.jsonl"
        path.write_text("".join(json.dumps(c, sort_keys=True) + "\n" for c in items))
        manifest["files"][path.name] = sha256(path)
    manifest["files"]["tokenizer.json"] = sha256(OUT / "tokenizer.json")
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print(f"prepared {', '.join(f'{k}: {len(v)}' for k, v in parts.items())}")


if __name__ == "__main__":
    main()
