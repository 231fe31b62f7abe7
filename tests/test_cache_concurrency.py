"""The decode cache is safe to share: concurrent builders, a cached third load, scripts without a main guard."""

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from PIL import Image

from helpers import preprocess
from helpers.preprocess import load_dataset

from conftest import ROOT

GUARD_SENTENCE = ("calls helpers' load_dataset/decode_many at module level without `if __name__ == \"__main__\":`, "
                  "and the decode workers (spawned processes) re-run the script on start, so put that code under "
                  "such a guard (or pass workers=1).")


@pytest.fixture
def small_folder(tmp_path):
    """2 classes x 40 tiny PNGs (patients of two images each): enough for the parallel decoder (64+)."""
    root = tmp_path / "ds"
    for c, name in enumerate(("Normal", "Pneumonia")):
        (root / name).mkdir(parents=True)
        for i in range(40):
            arr = np.full((20, 20), 30 + 5 * c + i, np.uint8)
            Image.fromarray(arr, mode="L").save(root / name / f"patient{100 * c + i // 2:03d}_{i}.png")
    return root


def run_script(tmp_path, name, source, *args, timeout=120):
    """Write ``source`` to ``tmp_path/name`` and run it with this Python; returns the finished process."""
    script = tmp_path / name
    script.write_text(textwrap.dedent(source))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=tmp_path)


LOADER = """
    import hashlib, json, sys, time
    from pathlib import Path
    import numpy as np
    from helpers import preprocess

    data_dir, cache_dir, ready, go = map(Path, sys.argv[1:5])
    real_decode = preprocess.decode_many

    def slow_decode(*args, **kwargs):  # hold the build open, so the other process surely arrives meanwhile
        time.sleep(1.5)
        yield from real_decode(*args, **kwargs)

    if __name__ == "__main__":
        preprocess.decode_many = slow_decode
        ready.touch()
        while not go.exists():
            time.sleep(0.005)
        data = preprocess.load_dataset("folder", data_dir, size=16, cache_dir=cache_dir, workers=1, progress=True,
                                       batch_size=None)
        print("RESULT " + json.dumps({"sha": hashlib.sha1(np.ascontiguousarray(data.images)).hexdigest(),
                                      "images": list(data.table["image"]), "splits": list(data.table["split"]),
                                      "cache": str(data.cache_path)}))
"""


def test_two_processes_build_one_cache_and_a_third_load_reuses_it(small_folder, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    script = tmp_path / "loader.py"
    script.write_text(textwrap.dedent(LOADER))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, str(script), str(small_folder), str(cache), str(tmp_path / f"ready{k}"),
                               str(go)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for k in range(2)]
    deadline = time.time() + 60
    while not all((tmp_path / f"ready{k}").exists() for k in range(2)) and time.time() < deadline:
        time.sleep(0.01)
    go.touch()  # both start loading within milliseconds of each other
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
    results = [json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
               for out, _ in outputs]
    assert results[0] == results[1] and len(results[0]["images"]) == 80
    waited = [out for out, _ in outputs if "another process built the decode cache" in out]
    assert len(waited) == 1 and "waiting for another process that is building the decode cache" in waited[0]
    entries = sorted(p.name for p in cache.iterdir())
    assert len([e for e in entries if not e.endswith(".lock")]) == 1 and not any("partial" in e for e in entries)

    images_file = cache / entries[0] / "images.npy"
    built = images_file.stat().st_mtime_ns

    def no_decoding(*args, **kwargs):
        raise AssertionError("a finished cache must not be decoded again")
    monkeypatch.setattr(preprocess, "decode_many", no_decoding)
    third = load_dataset("folder", small_folder, size=16, cache_dir=cache, progress=False, batch_size=None)
    assert str(third.cache_path) == results[0]["cache"] and images_file.stat().st_mtime_ns == built
    assert hashlib.sha1(np.ascontiguousarray(third.images)).hexdigest() == results[0]["sha"]
    assert list(third.table["split"]) == results[0]["splits"]


def test_script_without_main_guard_gets_one_clear_sentence(small_folder, tmp_path):
    done = run_script(tmp_path, "unguarded.py", """
        import sys
        from helpers.preprocess import load_dataset

        data = load_dataset("folder", sys.argv[1], size=16, cache_dir=sys.argv[2], workers=2, progress=False,
                            batch_size=None)
        print("loaded", len(data.table))
    """, small_folder, tmp_path / "cache")
    assert done.returncode != 0 and "loaded" not in done.stdout
    assert done.stderr.strip().splitlines()[-1] == f"RuntimeError: {tmp_path / 'unguarded.py'} {GUARD_SENTENCE}"
    assert "bootstrapping phase" not in done.stderr


def test_worker_that_reruns_an_unguarded_script_ends_the_load_instead_of_hanging(small_folder, tmp_path):
    """If the guard check is fooled, the spawned workers refuse to load and the parent says why (no hang)."""
    done = run_script(tmp_path, "fooled.py", """
        import sys
        from helpers import preprocess

        preprocess.unguarded_main_script = lambda: None  # pretend the parent's check did not see the problem
        data = preprocess.load_dataset("folder", sys.argv[1], size=16, cache_dir=sys.argv[2], workers=2,
                                       progress=False, batch_size=None)
        print("loaded", len(data.table))
    """, small_folder, tmp_path / "cache", timeout=90)
    assert done.returncode != 0 and "loaded" not in done.stdout
    assert "RuntimeError: a decode worker process died before finishing" in done.stderr
    assert GUARD_SENTENCE in done.stderr and "bootstrapping phase" not in done.stderr


def test_guarded_script_decodes_in_parallel(small_folder, tmp_path):
    done = run_script(tmp_path, "guarded.py", """
        import sys
        from helpers.preprocess import load_dataset


        def main():
            data = load_dataset("folder", sys.argv[1], size=16, cache_dir=sys.argv[2], workers=2, progress=False,
                                batch_size=None)
            print("loaded", len(data.table), int(data.images[0].mean()))


        if __name__ == "__main__":
            main()
    """, small_folder, tmp_path / "cache")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[:2] == ["loaded", "80"]
