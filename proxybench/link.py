"""Old path of the link's serialization and ledger, kept importable for callers not yet moved (tests/benchmarks/).

New code imports from ``proxybench.wire.link``. Nothing in proxybench imports this.
"""

from .wire.link import Direction, Ledger, Link, Message, Transfer, deserialize, serialize
from .wire.phases import PHASES

__all__ = ["PHASES", "Direction", "Ledger", "Link", "Message", "Transfer", "deserialize", "serialize"]
