# SPDX-License-Identifier: GPL-3.0-or-later
"""Property tests: whatever the bytes, load_take returns a Take or raises TakeError — nothing else."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from step2motion_addon.core.errors import TakeError
from step2motion_addon.core.formats import load_take, save_take
from step2motion_addon.core.synthetic import synthetic_walk
from step2motion_addon.core.take import Take

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    take = synthetic_walk(0.6, seed=2)
    take.feet["right"].valid[3:6] = False
    out = {}
    for ext in (".txt", ".csv", ".s2m"):
        save_take(take, folder / ("s" + ext))
        out[ext] = (folder / ("s" + ext)).read_bytes()
    return out


def _check(tmp_path, ext, data):
    p = tmp_path / ("f" + ext)
    p.write_bytes(data)
    try:
        take = load_take(p)
    except TakeError as exc:
        assert str(p) in str(exc) and "\n" not in str(exc)
        return
    assert isinstance(take, Take) and take.feet
    for f in take.feet.values():
        assert np.all(np.diff(f.time) > 0) and np.all(np.isfinite(f.time))
        for name in ("pressure", "acc", "gyro", "force", "cop"):     # no NaN/inf in a valid sample
            v = getattr(f, name)
            assert v is None or np.all(np.isfinite(v[f.valid])), name


@SETTINGS
@given(data=st.binary(max_size=3000), ext=st.sampled_from([".txt", ".csv", ".s2m", ".bin"]))
def test_random_bytes(tmp_path, data, ext):
    _check(tmp_path, ext, data)


@st.composite
def mutations(draw, source):
    data = bytearray(source)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "dup_line"]))
        i = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[i] = draw(st.integers(0, 255))
        elif op == "insert":
            data[i:i] = draw(st.sampled_from([b"\t", b",", b"\n", b"-", b".", b"nan", b"1e9", b"x", b"\t\t", b"#"]))
        elif op == "delete":
            del data[i:i + draw(st.integers(1, 40))]
        elif op == "truncate":
            del data[i:]
        elif op == "dup_line":
            a = data.rfind(b"\n", 0, i) + 1
            b = data.find(b"\n", i)
            if b > a:
                data[b + 1:b + 1] = data[a:b + 1]
    return bytes(data)


@pytest.mark.parametrize("ext", [".txt", ".csv"])
def test_mutated_text_files(tmp_path, samples, ext):
    @SETTINGS
    @given(data=mutations(samples[ext]))
    def run(data):
        _check(tmp_path, ext, data)
    run()


def test_mutated_native_files(tmp_path, samples):
    @settings(max_examples=80, deadline=None)
    @given(data=mutations(samples[".s2m"]))
    def run(data):
        _check(tmp_path, ".s2m", data)
    run()
