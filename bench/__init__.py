# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmarks: each ``bench_<topic>.py`` has a ``main()`` printing figures and ratios to a reference."""
