"""``wrt demo``: placeholder until the seed problem lands."""

from __future__ import annotations


def demo_command() -> None:
    """Run the seed problem end to end."""
