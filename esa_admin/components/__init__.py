"""Shared dashboard pieces: the layout and small widgets."""
