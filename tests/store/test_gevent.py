"""Under gevent's monkey-patching (as in the web server) the writer still runs on a real OS
thread: a flush from the main thread, which blocks the greenlet hub, completes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    from gevent import monkey
    monkey.patch_all()

    import sys
    from datetime import UTC, datetime
    from pathlib import Path

    from deltastream.store.database import sqlite_url, open_database
    from deltastream.store.history import load_states
    from deltastream.store.writer import StoreWriter

    engine = open_database(sqlite_url(Path(sys.argv[1])))
    writer = StoreWriter(engine, linger=0.01)
    now = datetime.now(UTC)
    for i in range(50):
        assert writer.save_state(f"P{i % 5}", i, now, bytes([i]))
    assert writer.flush(20.0), "flush timed out"
    assert writer.close(20.0)
    states = load_states(engine)
    print(sorted((p, s.sequence, s.payload[0]) for p, s in states.items()))
""")


def test_writer_runs_on_a_real_thread_under_gevent(tmp_path):
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    expected = sorted((f"P{i % 5}", i, i) for i in range(45, 50))
    assert done.stdout.strip() == str(expected)
