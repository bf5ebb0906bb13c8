#!/usr/bin/python3
"""Estimated input statistics (NORMALIZE=dataset on an input without stored
STATISTICS_MEAN/STDDEV) are made once, not at every open (issue 7, "Cheap
opens"): once per process, and with CACHE_DIR once for every process.

The proof: after the first opens, the input's pixels are rewritten with the
same size and modification time, so only a fresh estimate can see the change.

1. process A opens the dataset with CACHE_DIR: statistics S1; it opens it again
   without CACHE_DIR after the rewrite and still gets S1 (made once per process);
2. process B, after the rewrite, without CACHE_DIR: statistics S2 != S1 (a new
   process estimates afresh, and sees the new pixels);
3. process C with the CACHE_DIR of (1): S1 again, from the persistent store;
4. after the input's modification time changes, process D with that CACHE_DIR:
   S2 (another input: the stored estimate is not used).

Each open's statistics are NORMALIZE_STATISTICS_BAND_<n> of the VITFEAT domain.
Exit code 0: passed; 1: failed; 77: a Python module is missing (skipped).
Run with Debian's /usr/bin/python3 (python3-gdal, python3-numpy).
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import view_test_common as common  # noqa: E402

common.set_environment()
np, gdal = common.require_modules("numpy", "osgeo.gdal")
gdal.UseExceptions()

SIZE = 256


def statistics_in_new_process(name, options):
    """statistics_here in another process: this script run with --child."""
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", name] + options,
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


def statistics_here(name, options):
    """Each band's NORMALIZE_STATISTICS_BAND_<n>, joined by ";"."""
    ds = gdal.OpenEx(name, gdal.OF_RASTER, open_options=options)
    record = ds.GetMetadata("VITFEAT")
    return ";".join(record[f"NORMALIZE_STATISTICS_BAND_{b}"] for b in (1, 2, 3))


def rewrite_keeping_time(path, seed):
    """New pixels in place: same size on disk, the same modification time."""
    before = os.stat(path)
    ds = gdal.Open(path, gdal.GA_Update)
    rng = np.random.default_rng(seed)
    for b in range(3):
        ds.GetRasterBand(b + 1).WriteArray(rng.integers(0, 60, (SIZE, SIZE), dtype=np.uint8))
    ds = None
    after = os.stat(path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    return after.st_size == before.st_size


def main():
    checks = common.Checks()
    work = tempfile.mkdtemp(prefix="vitfeat-stats-")
    try:
        model = common.make_model(work, depth=1, embed_dim=32, heads=2, input_size=64, seed=3)
        scene = os.path.join(work, "scene.tif")
        # Uncompressed, so rewriting the pixels keeps the file's size.
        common.write_textured_scene(gdal, np, scene, SIZE, seed=4)
        name = "VITFEAT:" + scene
        options = [f"MODEL={model}", "OVERVIEWS=NONE"]
        cached = options + ["CACHE_DIR=" + os.path.join(work, "tiles")]

        s1 = statistics_here(name, cached)
        checks.check("the first open estimated the statistics", s1.startswith("estimated,"), s1)
        checks.check("the rewrite kept the file's size", rewrite_keeping_time(scene, seed=8))

        again = statistics_here(name, options)
        checks.check("(1) the same process does not estimate again", again == s1,
                     f"{again} against {s1}")

        s2 = statistics_in_new_process(name, options)
        checks.check("(2) a new process without CACHE_DIR estimates afresh (new pixels)",
                     s2 != s1 and s2.startswith("estimated,"), f"{s2} against {s1}")

        s3 = statistics_in_new_process(name, cached)
        checks.check("(3) a new process with CACHE_DIR reads the stored estimate", s3 == s1,
                     f"{s3} against {s1}")

        os.utime(scene)  # now: another modification time, another input
        s4 = statistics_in_new_process(name, cached)
        checks.check("(4) a changed modification time is another input", s4 == s2,
                     f"{s4} against {s2}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return checks.exit_code()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(statistics_here(sys.argv[2], sys.argv[3:]))
        sys.exit(0)
    sys.exit(main())
