"""Outputs are written under a temporary name in the target folder and renamed when complete, so a
failed or interrupted command never leaves a half-written file (the rules: `simulator.outputs`)."""

from __future__ import annotations

from simulator.outputs import atomic_output

__all__ = ["atomic_output"]
