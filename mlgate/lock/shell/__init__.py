"""Which files a shell command writes: the static analysis behind the Bash hook.

Standard library only (the hook path imports it). Modules, each importing only those above
it in this list:

* :mod:`~mlgate.lock.shell.lexer` — tokens (:class:`Word`), quoting, ``split_commands``;
* :mod:`~mlgate.lock.shell.context` — :class:`Ctx`, what one write rule is given, and option
  parsing helpers;
* :mod:`~mlgate.lock.shell.pycode` — ``python_writes``: files inline Python code writes;
* :mod:`~mlgate.lock.shell.gitcmd` — git sub-commands that write the tree;
* :mod:`~mlgate.lock.shell.writes` — the per-command write rules (``HANDLERS``);
* :mod:`~mlgate.lock.shell.analyze` — ``analyze(command, cwd) -> BashAnalysis``: walks the
  commands, tracks the working directory, applies the rules.

Nothing is imported here.
"""
