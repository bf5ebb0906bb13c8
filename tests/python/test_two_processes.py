#!/usr/bin/python3
"""Two processes reading one dataset at once, with one CACHE_DIR, compute
every tile once between them, and take turns on the CPU (issue 7: "two
processes reading the same dataset at once (total tiles computed = tiles in
the raster)", and the CPU thread policy across processes).

A seeded random ViT (depth 2, 64 features, 64-pixel input, patch 16) over a
3-band Byte scene of 1536 x 1536 pixels: 24 x 24 = 576 tiles at STRIDE 64.
Two worker processes (this script with "worker") open the dataset, wait for
each other at a start line, and read the whole raster. With the default
VITFEAT_CPU_LOCK=SYSTEM their model calls take turns through a lock file, and
each call first looks in CACHE_DIR for the tiles of its batch that the other
process stored meanwhile. So:

1. TILES_COMPUTED of the two add up to exactly 576, and TILES_COMPUTED +
   TILES_FROM_DISK of each (plus tiles reused from its own memory) covers its
   read;
2. both read what a lone, uncached read gives, within 1e-5 (tiles batched
   differently round differently in the last bits), and the same NaN-free
   values as each other;
3. the cache folder holds one entry per tile.

With VITFEAT_CPU_LOCK=PROCESS (no turns across processes) the same run is
printed for comparison: nothing is asserted on it, as its outcome depends on
timing.

Exit code 0: passed; 1: failed; 77: a Python module is missing (skipped).
Run with Debian's /usr/bin/python3 (python3-gdal, python3-numpy).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import view_test_common as common  # noqa: E402

common.set_environment()
np, gdal = common.require_modules("numpy", "osgeo.gdal")
gdal.UseExceptions()

SIZE = 1536
TILE = 64
TILES = (SIZE // TILE) ** 2
TOLERANCE = 1e-5


def worker(name, options, start_line, index, out):
    """Opens, waits for the other worker, reads everything, reports its counters."""
    ds = gdal.OpenEx(name, gdal.OF_RASTER, open_options=options)
    open(os.path.join(start_line, f"ready{index}"), "w").close()
    deadline = time.monotonic() + 120
    while len(os.listdir(start_line)) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    values = ds.ReadAsArray()
    record = ds.GetMetadata("VITFEAT")
    np.save(out, values)
    print(json.dumps({"computed": int(record["TILES_COMPUTED"]),
                      "from_disk": int(record["TILES_FROM_DISK"]),
                      "reused": int(record["TILES_REUSED"])}))
    return 0


def run_pair(work, name, options, lock):
    """Starts two workers at once; returns their counters and values."""
    start_line = tempfile.mkdtemp(prefix="start-", dir=work)
    env = dict(os.environ, VITFEAT_CPU_LOCK=lock,
               VITFEAT_CPU_LOCK_FILE=os.path.join(work, "cpu.lock"))
    procs, outs = [], []
    for index in range(2):
        out = os.path.join(work, f"{lock}-{index}.npy")
        outs.append(out)
        procs.append(subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "worker", name, json.dumps(options),
             start_line, str(index), out], env=env, stdout=subprocess.PIPE, text=True))
    t0 = time.monotonic()
    reports = []
    for p in procs:
        stdout, _ = p.communicate(timeout=300)
        if p.returncode != 0:
            raise RuntimeError(f"a worker failed with exit status {p.returncode}")
        reports.append(json.loads(stdout.strip().splitlines()[-1]))
    seconds = time.monotonic() - t0
    return reports, [np.load(o) for o in outs], seconds


def entries(folder):
    return sum(1 for _, _, files in os.walk(folder) for f in files if f.endswith(".vtile"))


def main():
    checks = common.Checks()
    work = tempfile.mkdtemp(prefix="vitfeat-two-")
    try:
        model = common.make_model(work, depth=2, embed_dim=64, heads=2, input_size=TILE, seed=8)
        scene = os.path.join(work, "scene.tif")
        common.write_textured_scene(gdal, np, scene, SIZE, seed=4)
        name = "VITFEAT:" + scene
        options = [f"MODEL={model}", f"STRIDE={TILE}", "BATCH_SIZE=4", "OVERVIEWS=NONE"]

        ds = gdal.OpenEx(name, gdal.OF_RASTER, open_options=options + ["CACHE_MB=0"])
        reference = ds.ReadAsArray().astype(np.float64)
        ds = None

        cache = os.path.join(work, "tiles")
        reports, values, seconds = run_pair(work, name, options + [f"CACHE_DIR={cache}"], "SYSTEM")
        computed = [r["computed"] for r in reports]
        print(f"  SYSTEM: {reports} in {seconds:.1f} s")
        checks.check("the two processes computed every tile once between them",
                     sum(computed) == TILES, f"{computed[0]} + {computed[1]} of {TILES}")
        checks.check("each read was served in full (computed, from disk or its own memory)",
                     all(r["computed"] + r["from_disk"] <= TILES <= r["computed"] + r["reused"]
                         for r in reports), str(reports))
        for index, v in enumerate(values):
            checks.check(f"process {index}: no NaN", not np.isnan(v).any())
            checks.below(f"process {index} against a lone uncached read",
                         float(np.max(np.abs(v.astype(np.float64) - reference))), TOLERANCE)
        checks.check("one cache entry per tile", entries(cache) == TILES,
                     f"{entries(cache)} entries")

        cache2 = os.path.join(work, "tiles-process")
        reports, _, seconds = run_pair(work, name, options + [f"CACHE_DIR={cache2}"], "PROCESS")
        print(f"  for comparison, PROCESS (no turns across processes): {reports} in "
              f"{seconds:.1f} s, {sum(r['computed'] for r in reports)} tiles computed")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return checks.exit_code()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        sys.exit(worker(sys.argv[2], json.loads(sys.argv[3]), sys.argv[4], int(sys.argv[5]),
                        sys.argv[6]))
    sys.exit(main())
