#!/usr/bin/python3
"""A VITFEAT read warns when LibTorch's float32 products would run in the
reference BLAS (driver/blas_check.h), and only then.

LibTorch calls sgemm_ through the dynamic linker. tools/setup.sh makes
libblas.so.3 OpenBLAS; Debian's reference BLAS (libblas3, which LibTorch's
package depends on) is 10-20x slower. Each case runs gdal_translate of a small
VITFEAT dataset in a new process:

1. as installed: no warning, the copy succeeds;
2. with the reference BLAS preloaded (LD_PRELOAD, as a host application that
   loaded it first would have it): one warning naming that file and the
   package to install, and the copy still succeeds.

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

REFERENCE = "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3"
WARNING = "looks like the reference BLAS"


def translate(model, scene, out, extra_env):
    env = dict(os.environ, **extra_env)
    return subprocess.run(["gdal_translate", "-q", "VITFEAT:" + scene, out, "-oo", f"MODEL={model}",
                           "-oo", "OVERVIEWS=NONE"],
                          env=env, capture_output=True, text=True)


def main():
    np, gdal = common.require_modules("numpy", "osgeo.gdal")
    gdal.UseExceptions()
    checks = common.Checks()
    work = tempfile.mkdtemp(prefix="vitfeat-blas-")
    try:
        model = common.make_model(work, depth=1, embed_dim=32, heads=2, input_size=64, seed=5)
        scene = os.path.join(work, "scene.tif")
        common.write_textured_scene(gdal, np, scene, 128, seed=6)

        print("1. as installed")
        r = translate(model, scene, os.path.join(work, "a.tif"), {})
        checks.check("the copy succeeds", r.returncode == 0, r.stderr)
        checks.check("no BLAS warning", WARNING not in r.stderr, r.stderr)

        print("2. the reference BLAS preloaded")
        if not os.path.exists(REFERENCE):
            print(f"   {REFERENCE} is not installed: case left out")
        else:
            # After any preload already set (the sanitizer builds preload their runtime).
            preload = " ".join(p for p in (os.environ.get("LD_PRELOAD", ""), REFERENCE) if p)
            r = translate(model, scene, os.path.join(work, "b.tif"), {"LD_PRELOAD": preload})
            checks.check("the copy succeeds", r.returncode == 0, r.stderr)
            checks.check("one warning", r.stderr.count(WARNING) == 1, r.stderr)
            checks.check("it names the file and the package to install",
                         REFERENCE in r.stderr and "libopenblas0-openmp" in r.stderr, r.stderr)
            a = gdal.Open(os.path.join(work, "a.tif")).ReadAsArray()
            b = gdal.Open(os.path.join(work, "b.tif")).ReadAsArray()
            checks.check("the same features within 1e-4", np.abs(a - b).max() <= 1e-4,
                         str(np.abs(a - b).max()))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return checks.exit_code()


if __name__ == "__main__":
    sys.exit(main())
