"""Rounds: the branch/baseline loop around tickets.

Sibling tickets start from one baseline (``mlgate round new``), are followed and compared
(``round status``, ``round compare``: metrics against the baseline, wins per metric, the
hyperparameter diff, problematic runs), and once every one is finished or discarded a person
merges the winners (``round merge``: conflicts pre-checked, ``--no-ff`` merges, the losers'
branches kept as tags). A fresh baseline measured on the merged code (``mlgate baseline
run``) comes before the next round; ``baseline check`` compares it with the one before, and
``baseline rollback`` reverts the merges of a baseline that regressed.

Modules: :mod:`~mlgate.rounds.store` (``rounds.yaml``), :mod:`~mlgate.rounds.compare` (status
and comparison, read only), :mod:`~mlgate.rounds.lifecycle` (new, discard, merge),
:mod:`~mlgate.rounds.baseline` (baseline run, check, rollback).

Layer: above :mod:`mlgate.workspace` (it creates tickets and reads the config through it);
below the CLI.
"""
