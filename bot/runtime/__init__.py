"""Feeds events into the engine and carries out its actions: one runtime per live meeting."""
