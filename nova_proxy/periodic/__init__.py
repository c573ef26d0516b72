"""Periodic tasks of the proxies, shared among the live ones.

``runner.Runner`` is the component each proxy worker runs; ``ring`` says
which live proxy should handle an item, ``claims`` makes sure only one does
per period, ``clock`` numbers periods from the database's clock, and
``tasks`` holds one module per task. See ``docs/periodic.rst``.
"""
