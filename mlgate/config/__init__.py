"""The configuration domain: ``mlgate.yaml``.

* :mod:`~mlgate.config.raw` — the file read with its defaults applied, no validation
  (PyYAML only; the hook path and ``status`` use it);
* :mod:`~mlgate.config.schema` — the pydantic :class:`~mlgate.config.schema.Config` that
  validates every key (SPEC §12.1), and the commented template ``mlgate init`` writes.

May import: ``errors``, ``constants``, ``util`` (and pydantic in ``schema`` only). Nothing is
imported here, so that the hooks can read ``raw`` without loading pydantic.
"""
