# SPDX-License-Identifier: GPL-3.0-or-later
"""Placeholder: reader/writer being written."""
from ..errors import FormatError


def sniff(head: bytes) -> bool:
    return False


def _todo(*args, **kwargs):
    raise FormatError("format not implemented yet")


read_moticon = write_moticon = read_csv = write_csv = _todo
