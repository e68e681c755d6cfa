"""The state domain: a ticket's ``workflow-state.md``, parsed, edited, sealed.

* :mod:`~mlgate.state.mdparse` — the line-exact markdown reader every file of mlgate goes
  through (sections, fields, tables; renders back the same bytes);
* :mod:`~mlgate.state.seal` — the seal key and the MAC that make hand edits of the fields
  mlgate owns visible (SPEC §4);
* :mod:`~mlgate.state.statefile` — :class:`~mlgate.state.statefile.StateDoc`: typed views of
  the state file and edits that touch only the lines mlgate owns;
* :mod:`~mlgate.state.model` — the pydantic :class:`~mlgate.state.model.WorkflowState` of the
  public API, built from a ``StateDoc``.

May import: ``record``, ``errors``, ``constants`` (and pydantic in ``model`` only). Everything
but ``model`` is standard library only, because the hooks read state files. Nothing is
imported here.
"""
