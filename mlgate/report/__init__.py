"""The report domain: ``mlgate report --html``, one self-contained HTML page per ticket
(stage timeline, gates, runs with their plots).

* :mod:`~mlgate.report.html` — :func:`~mlgate.report.html.write_html` and the page builder.

May import anything below the engine (state, artifacts, evidence, runs). Nothing is imported
here.
"""
