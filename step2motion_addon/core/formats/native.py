# SPDX-License-Identifier: GPL-3.0-or-later
"""Native take format ``.s2m``: one SQLite file, append-only while recording.

Samples are stored in blocks, one row per foot per block (≤0.25 s when
recorded live), each channel a little-endian BLOB (time float64, the others
float32, ``valid`` uint8), so loading is a handful of ``frombuffer`` calls.
Raw device packets, step events, gaps and notes have their own tables. The
``schema`` table describes every column so the file explains itself; the full
layout and a stdlib-only reading snippet are in docs/formats.md.

Loading never executes anything from the file: the database is opened
read-only with ``trusted_schema`` off, only plain tables are read, and every
BLOB's length is checked against its declared shape before use.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sqlite3
import tempfile
import threading
import time as _time
from urllib.parse import quote

import numpy as np

from ..errors import FormatError, TakeError
from ..take import SIDES, Event, FootStream, Take, TakeMeta
from .checks import order_time

FORMAT_NAME = "step2motion-take"
VERSION = 1
MAGIC = b"SQLite format 3\x00"
COMMIT_INTERVAL_S = 0.2      # writer commits at least this often while data is pending
BLOCK_SECONDS = 0.25
MAX_BLOCK_SAMPLES = 100_000
MAX_CELLS = 256

# (table, column, SQL type, description) — written into the ``schema`` table.
SCHEMA = [
    ("meta", "key", "TEXT", "'format' (= step2motion-take), 'version', 'take_meta' (JSON), 'created'"),
    ("meta", "value", "TEXT", "value as text"),
    ("blocks", "id", "INTEGER", "append order; samples of a foot are the concatenation of its blocks by id"),
    ("blocks", "side", "TEXT", "'left' or 'right'"),
    ("blocks", "n", "INTEGER", "number of samples in the block"),
    ("blocks", "cells", "INTEGER", "pressure cells per sample (16 Moticon, 6 ORPHE, 0 IMU-only)"),
    ("blocks", "layout", "TEXT", "cell layout name, e.g. moticon16"),
    ("blocks", "t0", "REAL", "time of the first sample, s"),
    ("blocks", "t1", "REAL", "time of the last sample, s"),
    ("blocks", "time", "BLOB", "n × float64 little-endian, seconds from take start"),
    ("blocks", "pressure", "BLOB", "n × cells × float32 LE, N/cm², row-major"),
    ("blocks", "acc", "BLOB", "n × 3 float32 LE, g (gravity included), insole frame; NULL if absent"),
    ("blocks", "gyro", "BLOB", "n × 3 float32 LE, deg/s, insole frame; NULL if absent"),
    ("blocks", "force", "BLOB", "n float32 LE, total force N; NULL if absent"),
    ("blocks", "cop", "BLOB", "n × 2 float32 LE, centre of pressure −0.5…0.5 (X heel→toe, +Y medial); NULL if absent"),
    ("blocks", "valid", "BLOB", "n uint8, 1 = real sample, 0 = missing (values NaN); NULL = all valid"),
    ("raw_packets", "side", "TEXT", "'left', 'right' or ''"),
    ("raw_packets", "host_time", "REAL", "host arrival time, s"),
    ("raw_packets", "decoder", "TEXT", "name of the decoder that understands the payload"),
    ("raw_packets", "payload", "BLOB", "bytes exactly as received"),
    ("events", "time", "REAL", "s"),
    ("events", "side", "TEXT", "'left', 'right' or ''"),
    ("events", "kind", "TEXT", "'heel_strike', 'toe_off' or a label"),
    ("events", "grp", "TEXT", "event group (Moticon event column), '' for steps"),
    ("events", "value", "REAL", "event value or NULL"),
    ("gaps", "side", "TEXT", "foot whose samples are missing"),
    ("gaps", "t0", "REAL", "start of the span without samples, s"),
    ("gaps", "t1", "REAL", "end of the span, s"),
    ("gaps", "reason", "TEXT", "why (disconnect, stall, …)"),
    ("notes", "wall_time", "REAL", "Unix time the note was written"),
    ("notes", "kind", "TEXT", "'note' (user) or 'report' (repair made by a reader or processing)"),
    ("notes", "text", "TEXT", "the note"),
]

_DDL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE schema (tbl TEXT NOT NULL, col TEXT NOT NULL, type TEXT NOT NULL, description TEXT NOT NULL,
                     PRIMARY KEY (tbl, col));
CREATE TABLE blocks (id INTEGER PRIMARY KEY, side TEXT NOT NULL, n INTEGER NOT NULL, cells INTEGER NOT NULL,
                     layout TEXT NOT NULL, t0 REAL NOT NULL, t1 REAL NOT NULL, time BLOB NOT NULL,
                     pressure BLOB NOT NULL, acc BLOB, gyro BLOB, force BLOB, cop BLOB, valid BLOB);
CREATE TABLE raw_packets (id INTEGER PRIMARY KEY, side TEXT NOT NULL, host_time REAL NOT NULL,
                          decoder TEXT NOT NULL, payload BLOB NOT NULL);
CREATE TABLE events (id INTEGER PRIMARY KEY, time REAL NOT NULL, side TEXT NOT NULL, kind TEXT NOT NULL,
                     grp TEXT NOT NULL DEFAULT '', value REAL);
CREATE TABLE gaps (id INTEGER PRIMARY KEY, side TEXT NOT NULL, t0 REAL NOT NULL, t1 REAL NOT NULL,
                   reason TEXT NOT NULL DEFAULT '');
CREATE TABLE notes (id INTEGER PRIMARY KEY, wall_time REAL NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL);
"""

# Per-sample channels: (name, numpy dtype, values per sample or None for `cells`).
_CHANNELS = (("pressure", "<f4", None), ("acc", "<f4", 3), ("gyro", "<f4", 3),
             ("force", "<f4", 1), ("cop", "<f4", 2))


def _meta_to_json(meta: TakeMeta) -> str:
    d = dataclasses.asdict(meta)
    d.get("extra", {}).pop("gaps", None)        # stored in the gaps table instead
    return json.dumps(d, default=str, ensure_ascii=False)


def _meta_from_json(path: str, text: str) -> TakeMeta:
    try:
        d = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise TakeError(f"meta 'take_meta' is not valid JSON ({exc})", path, None, "a JSON object") from None
    if not isinstance(d, dict):
        raise TakeError("meta 'take_meta' is not a JSON object", path, None, "a JSON object")
    meta = TakeMeta()
    extra = {}
    for f in dataclasses.fields(TakeMeta):
        if f.name not in d:
            continue
        v = d[f.name]
        default = getattr(meta, f.name)
        ok = (v is None and default is None) or (
            isinstance(default, dict) and isinstance(v, dict)) or (
            isinstance(default, str) and isinstance(v, str))
        if f.name == "insole_size":
            ok = v is None or (isinstance(v, int) and not isinstance(v, bool))
        elif f.name == "start_timestamp_ms":
            ok = v is None or (isinstance(v, int) and not isinstance(v, bool))
        elif f.name == "body_mass_kg":
            ok = v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v))
        elif f.name == "start_time":
            ok = v is None or isinstance(v, str)
        if ok:
            setattr(meta, f.name, v)
        else:
            extra[f"invalid_{f.name}"] = repr(v)[:200]
    meta.extra = dict(meta.extra or {}, **extra)
    return meta


def _created() -> str:
    # SOURCE_DATE_EPOCH (the reproducible-builds convention) makes committed samples byte-stable.
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = _time.gmtime(int(epoch)) if epoch and epoch.isdigit() else _time.gmtime()
    return _time.strftime("%Y-%m-%dT%H:%M:%SZ", when)


# -- writing ------------------------------------------------------------------

class NativeWriter:
    """Append-only writer of a ``.s2m`` take; safe against the process being killed.

    Samples are buffered per foot and written as blocks; a transaction is
    committed at least every :data:`COMMIT_INTERVAL_S` while data is pending
    (from ``append`` itself and from a small background thread, so a producer
    that stops calling still gets its data on disk). Use as a context manager
    or call :meth:`close`.
    """

    def __init__(self, path, meta: TakeMeta | None = None, *, overwrite: bool = False,
                 block_seconds: float = BLOCK_SECONDS, background: bool = True):
        self.path = str(path)
        if os.path.exists(self.path):
            if not overwrite:
                raise FileExistsError(f"{self.path} already exists")
            os.remove(self.path)
        for suffix in ("-wal", "-shm", "-journal"):
            if os.path.exists(self.path + suffix):
                os.remove(self.path + suffix)
        self.meta = meta if meta is not None else TakeMeta()
        self.block_seconds = float(block_seconds)
        self._lock = threading.RLock()
        self._pending: dict[str, list[dict]] = {s: [] for s in SIDES}
        self._shape: dict[str, tuple] = {}
        self._last_time: dict[str, float] = {}
        self._dirty = False
        self._last_commit = _time.monotonic()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        c = self._conn
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("PRAGMA synchronous=NORMAL")   # WAL + NORMAL: a commit survives a killed process
        c.execute("BEGIN")
        for stmt in _DDL.strip().split(";"):
            if stmt.strip():
                c.execute(stmt)
        c.executemany("INSERT INTO schema VALUES (?,?,?,?)", SCHEMA)
        c.executemany("INSERT INTO meta VALUES (?,?)", [
            ("format", FORMAT_NAME), ("version", str(VERSION)),
            ("take_meta", _meta_to_json(self.meta)),
            ("created", _created())])
        c.execute(f"PRAGMA user_version={VERSION}")
        c.execute("COMMIT")
        self._closed = False
        self._stop = threading.Event()
        self._thread = None
        if background:
            self._thread = threading.Thread(target=self._ticker, name="s2m-writer", daemon=True)
            self._thread.start()

    # -- context manager
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _ticker(self):
        while not self._stop.wait(COMMIT_INTERVAL_S / 2):
            try:
                self.commit(force=False)
            except sqlite3.Error:
                return

    def _begin(self):
        if not self._dirty:
            self._conn.execute("BEGIN")
            self._dirty = True

    # -- appending
    def append(self, side, time, pressure, acc=None, gyro=None, force=None, cop=None, valid=None,
               layout: str = "moticon16") -> None:
        """Append k samples of one foot (arrays with k rows, times after the previous ones)."""
        if side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, got {side!r}")
        t = np.asarray(time, dtype=np.float64).reshape(-1)
        k = t.shape[0]
        if k == 0:
            return
        if not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
            raise ValueError("times must be finite and strictly increasing")
        if side in self._last_time and t[0] <= self._last_time[side]:
            raise ValueError(f"{side}: time {t[0]} is not after the previous sample {self._last_time[side]}")
        p = np.asarray(pressure, dtype=np.float32).reshape(k, -1)
        chunk = {"time": t, "pressure": p}
        for name, value, width in (("acc", acc, 3), ("gyro", gyro, 3), ("force", force, 1), ("cop", cop, 2)):
            chunk[name] = None if value is None else np.asarray(value, dtype=np.float32).reshape(k, width)
        chunk["valid"] = None if valid is None else np.asarray(valid, dtype=bool).reshape(k)
        shape = (p.shape[1], layout) + tuple(chunk[n] is None for n in ("acc", "gyro", "force", "cop"))
        with self._lock:
            if self._closed:
                raise ValueError("writer is closed")
            if self._shape.setdefault(side, shape) != shape:
                raise ValueError(f"{side}: channels/cells changed mid-take ({self._shape[side]} → {shape})")
            self._pending[side].append(chunk)
            self._last_time[side] = float(t[-1])
            self.commit(force=False)

    def append_stream(self, stream: FootStream) -> None:
        self.append(stream.side, stream.time, stream.pressure, stream.acc, stream.gyro, stream.force,
                    stream.cop, None if stream.valid.all() else stream.valid, layout=stream.layout)

    def append_raw(self, side, host_time: float, payload: bytes, decoder: str) -> None:
        with self._lock:
            self._begin()
            self._conn.execute("INSERT INTO raw_packets (side, host_time, decoder, payload) VALUES (?,?,?,?)",
                               (side or "", float(host_time), str(decoder), bytes(payload)))
            self.commit(force=False)

    def add_event(self, event: Event) -> None:
        with self._lock:
            self._begin()
            self._conn.execute("INSERT INTO events (time, side, kind, grp, value) VALUES (?,?,?,?,?)",
                               (float(event.time), event.side or "", event.kind,
                                getattr(event, "group", "") or "", getattr(event, "value", None)))
            self.commit(force=False)

    def mark_gap(self, side, t0: float, t1: float, reason: str = "") -> None:
        with self._lock:
            self._begin()
            self._conn.execute("INSERT INTO gaps (side, t0, t1, reason) VALUES (?,?,?,?)",
                               (side, float(t0), float(t1), str(reason)))
            self.commit(force=False)

    def note(self, text: str, kind: str = "note") -> None:
        with self._lock:
            self._begin()
            self._conn.execute("INSERT INTO notes (wall_time, kind, text) VALUES (?,?,?)",
                               (_time.time(), kind, str(text)))
            self.commit(force=False)

    def set_meta(self, meta: TakeMeta) -> None:
        with self._lock:
            self.meta = meta
            self._begin()
            self._conn.execute("UPDATE meta SET value=? WHERE key='take_meta'", (_meta_to_json(meta),))

    # -- flushing
    def _flush_blocks(self) -> None:
        for side in SIDES:
            chunks = self._pending[side]
            if not chunks:
                continue
            self._pending[side] = []
            cat = {}
            for name in ("time", "pressure", "acc", "gyro", "force", "cop", "valid"):
                parts = [c[name] for c in chunks]
                if all(x is None for x in parts):
                    cat[name] = None
                elif name == "valid":
                    cat[name] = np.concatenate([np.ones(len(c["time"]), bool) if x is None else x
                                                for x, c in zip(parts, chunks)])
                else:
                    cat[name] = np.concatenate(parts)
            t = cat["time"]
            # Split into blocks of ≤ block_seconds of sample time (and a sane sample count).
            bucket = np.floor((t - t[0]) / self.block_seconds).astype(np.int64)
            starts = np.flatnonzero(np.r_[True, np.diff(bucket) != 0])
            bounds = []
            for a, b in zip(starts.tolist(), np.r_[starts[1:], len(t)].tolist()):
                for s in range(a, b, MAX_BLOCK_SAMPLES):
                    bounds.append((s, min(b, s + MAX_BLOCK_SAMPLES)))
            cells, layout = self._shape[side][:2]
            rows = []
            for a, b in bounds:
                def blob(name, dtype):
                    v = cat[name]
                    return None if v is None else np.ascontiguousarray(v[a:b], dtype=dtype).tobytes()
                rows.append((side, int(b - a), int(cells), layout, float(t[a]), float(t[b - 1]), blob("time", "<f8"),
                             blob("pressure", "<f4"), blob("acc", "<f4"), blob("gyro", "<f4"),
                             blob("force", "<f4"), blob("cop", "<f4"), blob("valid", "u1")))
            self._begin()
            self._conn.executemany(
                "INSERT INTO blocks (side, n, cells, layout, t0, t1, time, pressure, acc, gyro, force, cop, valid)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)

    def commit(self, force: bool = True) -> None:
        """Write pending blocks and commit (when due, or always with ``force``)."""
        with self._lock:
            if self._closed:
                return
            now = _time.monotonic()
            if not force and now - self._last_commit < COMMIT_INTERVAL_S:
                return
            self._last_commit = now
            self._flush_blocks()
            if self._dirty:
                self._conn.execute("COMMIT")
                self._dirty = False

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self.commit(force=True)
            self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            # Fold the WAL back so a finished take is one self-contained file.
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.execute("PRAGMA journal_mode=DELETE")
            self._conn.close()


def write_native(take: Take, path) -> None:
    """Save a whole take (atomically: written beside the target, then renamed)."""
    path = str(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".s2m-", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        w = NativeWriter(tmp, take.meta, overwrite=True, block_seconds=60.0, background=False)
        try:
            gaps = (take.meta.extra or {}).get("gaps") or []
            for side in take.sides:
                w.append_stream(take.feet[side])
            for e in take.events:
                w.add_event(e)
            for g in gaps:
                if isinstance(g, dict):
                    w.mark_gap(g.get("side", ""), g.get("t0", 0.0), g.get("t1", 0.0), g.get("reason", ""))
            for line in take.report:
                w.note(line, kind="report")
        finally:
            w.close()
        os.replace(tmp, path)
    except BaseException:
        for suffix in ("", "-wal", "-shm", "-journal"):
            if os.path.exists(tmp + suffix):
                os.remove(tmp + suffix)
        raise


# -- reading ------------------------------------------------------------------

def _connect_readonly(path: str) -> sqlite3.Connection:
    uri = "file:" + quote(os.path.abspath(path)) + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True)
    conn.execute("PRAGMA trusted_schema=OFF")   # no SQL functions from the file's schema
    conn.execute("PRAGMA query_only=ON")
    return conn


def _check_tables(path: str, conn: sqlite3.Connection) -> None:
    found = dict(conn.execute("SELECT name, type FROM sqlite_master").fetchall())
    for table in ("meta", "blocks", "events", "gaps", "notes"):
        if found.get(table) != "table":
            raise FormatError(f"SQLite file without a '{table}' table: not a Step2Motion take", path, None,
                              f"a {FORMAT_NAME} file")
    cols = {r[1] for r in conn.execute("PRAGMA table_info(blocks)")}
    need = {"side", "n", "cells", "layout", "time", "pressure", "acc", "gyro", "force", "cop", "valid"}
    if not need <= cols:
        raise FormatError(f"blocks table lacks columns {sorted(need - cols)}", path, None, f"{FORMAT_NAME} v{VERSION}")


def _blob(path: str, block_id: int, name: str, value, dtype: str, count: int):
    if value is None:
        return None
    if not isinstance(value, bytes):
        raise TakeError(f"block {block_id}: column '{name}' is {type(value).__name__}", path, None, "a BLOB")
    size = np.dtype(dtype).itemsize * count
    if len(value) != size:
        raise TakeError(f"block {block_id}: column '{name}' holds {len(value)} bytes", path, None,
                        f"{size} bytes")
    return np.frombuffer(value, dtype=dtype)


def read_native(path) -> Take:
    path = str(path)
    try:
        with open(path, "rb") as fh:
            if fh.read(16) != MAGIC:
                raise FormatError("not an SQLite file", path, None, "a .s2m take (SQLite)")
        conn = _connect_readonly(path)
        try:
            return _read(path, conn)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise TakeError(f"corrupt or unreadable SQLite take ({exc})", path, None, f"a {FORMAT_NAME} file") from None


def _read(path: str, conn: sqlite3.Connection) -> Take:
    _check_tables(path, conn)
    meta_rows = {}
    for k, v in conn.execute("SELECT key, value FROM meta"):
        if isinstance(k, str) and isinstance(v, str):
            meta_rows[k] = v
    if meta_rows.get("format") != FORMAT_NAME:
        raise FormatError(f"meta format is {meta_rows.get('format')!r}", path, None, repr(FORMAT_NAME))
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version != VERSION or meta_rows.get("version") != str(VERSION):
        raise FormatError(f"format version {version} / {meta_rows.get('version')!r} is not supported",
                          path, None, f"version {VERSION}")
    meta = _meta_from_json(path, meta_rows.get("take_meta", "{}"))
    report: list[str] = []

    per_side: dict[str, list] = {s: [] for s in SIDES}
    shapes: dict[str, tuple] = {}
    cur = conn.execute("SELECT id, side, n, cells, layout, time, pressure, acc, gyro, force, cop, valid"
                       " FROM blocks ORDER BY id")
    for row in cur:
        bid, side, n, cells, layout = row[:5]
        if side not in SIDES:
            raise TakeError(f"block {bid}: side {side!r}", path, None, "'left' or 'right'")
        if not (isinstance(n, int) and 0 < n <= MAX_BLOCK_SAMPLES):
            raise TakeError(f"block {bid}: sample count {n!r}", path, None, f"1…{MAX_BLOCK_SAMPLES}")
        if not (isinstance(cells, int) and 0 <= cells <= MAX_CELLS):
            raise TakeError(f"block {bid}: cell count {cells!r}", path, None, f"0…{MAX_CELLS}")
        if not isinstance(layout, str):
            raise TakeError(f"block {bid}: layout {layout!r}", path, None, "a layout name")
        arrays = {"time": _blob(path, bid, "time", row[5], "<f8", n)}
        if arrays["time"] is None:
            raise TakeError(f"block {bid}: no time", path, None, "a time BLOB")
        arrays["pressure"] = _blob(path, bid, "pressure", row[6], "<f4", n * cells)
        if arrays["pressure"] is None:
            raise TakeError(f"block {bid}: no pressure", path, None, "a pressure BLOB (empty for 0 cells)")
        for i, (name, width) in enumerate((("acc", 3), ("gyro", 3), ("force", 1), ("cop", 2))):
            arrays[name] = _blob(path, bid, name, row[7 + i], "<f4", n * width)
        arrays["valid"] = _blob(path, bid, "valid", row[11], "u1", n)
        shape = (cells, layout) + tuple(arrays[k] is None for k in ("acc", "gyro", "force", "cop"))
        if shapes.setdefault(side, shape) != shape:
            raise TakeError(f"block {bid}: {side} channels change from {shapes[side]} to {shape}", path, None,
                            "the same channels in every block of a foot")
        arrays["block"] = np.full(n, bid, dtype=np.int64)
        per_side[side].append(arrays)

    feet = {}
    for side in SIDES:
        blocks = per_side[side]
        if not blocks:
            continue
        cells, layout = shapes[side][:2]

        def cat(name, width):
            if blocks[0][name] is None:
                return None
            v = np.concatenate([b[name] for b in blocks])
            return v if width == 1 else v.reshape(-1, width)
        t = cat("time", 1)
        ids = cat("block", 1)
        keep = order_time(path, t, ids, report, what=f"{side} samples", unit="block")
        valid = cat("valid", 1)
        if valid is not None:
            valid = valid != 0
        stream = FootStream(side, t, cat("pressure", cells) if cells else np.zeros((len(t), 0), np.float32),
                            cat("acc", 3), cat("gyro", 3), cat("force", 1), cat("cop", 2), valid, layout)
        if not keep.all():
            stream = stream.select(keep)
        _invalidate_non_finite(stream, report)
        feet[side] = stream
    if not feet:
        raise TakeError("the take holds no samples", path, None, "at least one block of samples")

    events = []
    for t, side, kind, grp, value in conn.execute("SELECT time, side, kind, grp, value FROM events ORDER BY time, id"):
        if not (isinstance(t, (int, float)) and math.isfinite(t) and isinstance(kind, str)):
            raise TakeError(f"bad event row ({t!r}, {kind!r})", path, None, "a finite time and a kind")
        events.append(Event(float(t), side if isinstance(side, str) else "", kind,
                            grp if isinstance(grp, str) else "",
                            float(value) if isinstance(value, (int, float)) else None))
    gaps = []
    for side, t0, t1, reason in conn.execute("SELECT side, t0, t1, reason FROM gaps ORDER BY t0, id"):
        if isinstance(t0, (int, float)) and isinstance(t1, (int, float)):
            gaps.append({"side": str(side), "t0": float(t0), "t1": float(t1), "reason": str(reason)})
    if gaps:
        meta.extra["gaps"] = gaps
    for kind, text in conn.execute("SELECT kind, text FROM notes ORDER BY id"):
        if kind == "report":
            report.append(str(text))
        else:
            report.append(f"note: {text}")
    n_raw = conn.execute("SELECT count(*) FROM raw_packets").fetchone()[0]
    if n_raw:
        meta.extra["raw_packets"] = int(n_raw)
    meta.source_format = "native"
    meta.source_path = path
    return Take(feet, meta, events, report)


def _invalidate_non_finite(stream: FootStream, report: list) -> None:
    """NaN/inf in a valid sample (a corrupt or hand-edited file): mark it invalid and report it.

    Invalid samples may hold NaN (``processing.fill_gaps`` writes long gaps so); ±inf becomes
    NaN too. The rest of the take is kept; invalid samples are gaps downstream.
    """
    bad = np.zeros(len(stream), dtype=bool)
    names = []
    for name in ("pressure", "acc", "gyro", "force", "cop"):
        v = getattr(stream, name)
        if v is None or not v.size:
            continue
        rows = ~np.isfinite(v.reshape(len(stream), -1)).all(axis=1)
        np.copyto(v, np.nan, where=np.isinf(v))
        if (rows & stream.valid).any():
            names.append(name)
            bad |= rows & stream.valid
    if bad.any():
        stream.valid[bad] = False
        first = float(stream.time[np.argmax(bad)])
        report.append(f"{stream.side}: {int(bad.sum())} samples with non-finite {'/'.join(names)} "
                      f"(first at {first:.3f} s) marked invalid")


def iter_raw_packets(path):
    """Yield ``(side, host_time, decoder, payload)`` of the raw packets, in order."""
    conn = _connect_readonly(str(path))
    try:
        for row in conn.execute("SELECT side, host_time, decoder, payload FROM raw_packets ORDER BY id"):
            yield row
    finally:
        conn.close()


def is_native(head: bytes) -> bool:
    return head.startswith(MAGIC)


__all__ = ["NativeWriter", "read_native", "write_native", "iter_raw_packets", "FORMAT_NAME", "VERSION"]
