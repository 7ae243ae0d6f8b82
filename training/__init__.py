# SPDX-License-Identifier: GPL-3.0-or-later
"""Training-side code (data sets, models); never shipped inside the add-on."""
