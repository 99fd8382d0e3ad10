"""Helpers every layer may use: errors, the cache, progress bars, thread caps, the orphan watchdog. Imports no other layer."""
