PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-bytecode bench install clean docs

$(STAMP): pyproject.toml constraints-dev.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints-dev.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/mlgate demo

test: $(STAMP)
	$(BIN)/python -m pytest

# The byte-code-sensitive tests (imports of the user's code, byte-code caches in worktrees,
# temp files) once more with the other PYTHONDONTWRITEBYTECODE setting than `make test` had.
BYTECODE_TESTS := tests/test_torch_smoke.py tests/test_smoke_options.py \
	tests/test_stage_handlers.py tests/test_stale_temp.py tests/test_gates.py \
	tests/test_walk.py tests/test_hooks_git.py tests/test_docs_examples.py
test-bytecode: $(STAMP)
	$(BIN)/python -m pytest -m "not heavy" $(BYTECODE_TESTS)

docs: $(STAMP)
	$(BIN)/python -m mkdocs build --strict

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build dist
