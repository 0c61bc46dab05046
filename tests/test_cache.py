"""The JSON caches: atomic writes when several threads write one key at once."""
from __future__ import annotations

import threading
from pathlib import Path

from sub3coach.cache import cache_file, read_json, write_json


def test_threads_writing_one_key_never_leave_a_torn_file(tmp_path: Path) -> None:
    """8 threads write different ~100 KB payloads to the same key while a reader reads it: every
    read once the file exists is one whole payload, and no temp file is left behind."""
    path = tmp_path / "k.json"
    payloads = [{"writer": i, "rows": [str(i) * 50] * 2000} for i in range(8)]
    seen: list[object] = []
    done = threading.Event()

    def write(i: int) -> None:
        for _ in range(15):
            write_json(path, 1, payloads[i])

    def read() -> None:
        while not done.is_set():
            if path.exists():
                seen.append(read_json(path, 1))

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    done.set()
    reader.join()
    assert read_json(path, 1) in payloads
    assert seen and all(d in payloads for d in seen), "a read saw a torn or missing cache file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.json"]


def test_cache_file_roundtrip_and_bad_content(tmp_path: Path) -> None:
    p = cache_file("kind", "a", 1)
    assert p.parent.name == "kind" and p == cache_file("kind", "a", 1) and p != cache_file("kind", "a", 2)
    write_json(p, 2, {"x": 1.5})
    assert read_json(p, 2) == {"x": 1.5} and read_json(p, 3) is None
    p.write_text("{not json")
    assert read_json(p, 2) is None
    write_json(p, 2, {"x": float("nan")})  # not JSON: logged, nothing written, no temp file left
    assert read_json(p, 2) is None and [q.name for q in p.parent.iterdir()] == [p.name]
