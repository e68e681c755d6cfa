"""Which files a shell command writes, what it cannot place, and what is refused outright:
the static analysis behind the shell hooks (refused before the tool runs).

Standard library only (the hook path imports it). Modules, each importing only those above
it in this list:

* :mod:`~mlgate.lock.shell.lexer` — tokens (:class:`Word` with its parts), quoting,
  ``split_commands`` (with the compound structure), the time :class:`Budget`;
* :mod:`~mlgate.lock.shell.expand` — what a word stands for (variables, ``~``, braces, globs);
* :mod:`~mlgate.lock.shell.context` — :class:`Ctx`, what one write rule is given, and option
  parsing helpers;
* :mod:`~mlgate.lock.shell.pycode` — ``python_writes``: Python code read against an
  allow-list;
* :mod:`~mlgate.lock.shell.gitcmd` — git: worktree writers and the tampering routes;
* :mod:`~mlgate.lock.shell.interp` — shells, Python, other interpreters, ``mlgate`` itself;
* :mod:`~mlgate.lock.shell.texttools` — awk, sed, uniq, zip, sponge, editors;
* :mod:`~mlgate.lock.shell.writes` — the file commands and the table of rules (``HANDLERS``);
* :mod:`~mlgate.lock.shell.analyze` — ``analyze(command, cwd) -> BashAnalysis``: walks the
  commands, tracks the working directory and the variables, applies the rules.

Nothing is imported here.
"""
