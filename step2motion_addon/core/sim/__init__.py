# SPDX-License-Identifier: GPL-3.0-or-later
"""Insole simulator: realistic smart-insole takes from motion capture."""

from .params import SimParams
from .simulate import simulate_insoles

__all__ = ["SimParams", "simulate_insoles"]
