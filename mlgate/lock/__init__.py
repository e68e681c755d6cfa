"""Hook adapters of the edit lock (SPEC §7) and their installer.

* :mod:`mlgate.lock.hook` — ``mlgate hook claude|codex|pre-commit`` (stdlib only, no click);
* :mod:`mlgate.lock.shell.analyze` — which files a shell command writes (over ``bash_lexer``,
  ``bash_ctx``, ``bash_writes``, ``bash_git`` and ``pywrites``: inline Python);
* :mod:`mlgate.lock.patch` — target paths of ``apply_patch`` envelopes and unified diffs;
* :mod:`mlgate.lock.install` — ``mlgate hooks install|uninstall`` (git, Claude Code, Codex).

Nothing is imported here, so that ``mlgate hook ...`` loads only what it uses.
"""
