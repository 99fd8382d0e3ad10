"""Old path of ``run``, kept importable for callers not yet moved (tests/benchmarks/, the README's examples).

New code imports from ``proxybench.run.runner``. Nothing in proxybench imports this.
"""

from .run.runner import execute, run

__all__ = ["execute", "run"]
