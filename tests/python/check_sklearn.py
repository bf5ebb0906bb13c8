#!/usr/bin/python3
"""Compares vitfeat's PCA and k-means fits with scikit-learn's.

Usage: check_sklearn.py pca|kmeans FOLDER

FOLDER holds what the C++ test wrote (raw little-endian arrays, row-major, and
meta.txt with the shapes). Prints the largest differences and exits non-zero
when one is out of tolerance. Run with Debian's /usr/bin/python3
(python3-sklearn, python3-numpy).
"""
import os
import sys

import numpy as np


def load(folder, name, dtype, shape):
    return np.fromfile(os.path.join(folder, name), dtype=dtype).reshape(shape)


def check_pca(folder):
    from sklearn.decomposition import PCA

    n, d, k = (int(v) for v in open(os.path.join(folder, "meta.txt")).read().split())
    cells = load(folder, "samples.f32", "<f4", (n, d))
    x = cells.astype(np.float64)
    mean = load(folder, "mean.f64", "<f8", (d,))
    components = load(folder, "components.f64", "<f8", (k, d))
    variance = load(folder, "variance.f64", "<f8", (k,))
    ratio = load(folder, "ratio.f64", "<f8", (k,))
    projections = load(folder, "projections.f32", "<f4", (n, k)).astype(np.float64)
    whitened = load(folder, "whitened.f32", "<f4", (n, k)).astype(np.float64)

    reference = PCA(n_components=k, svd_solver="full").fit(x)
    reference_white = PCA(n_components=k, svd_solver="full", whiten=True).fit(x)
    # scikit-learn picks signs its own way (svd_flip); vitfeat's rule is the
    # largest-magnitude loading positive. Compare up to each component's sign.
    signs = np.sign(np.sum(components * reference.components_, axis=1))
    aligned = reference.components_ * signs[:, None]

    diffs = {
        "mean (abs)": np.max(np.abs(mean - reference.mean_)),
        "components (abs, up to sign)": np.max(np.abs(components - aligned)),
        "explained variance (rel)": np.max(
            np.abs(variance - reference.explained_variance_) / reference.explained_variance_),
        "explained variance ratio (rel)": np.max(
            np.abs(ratio - reference.explained_variance_ratio_)
            / reference.explained_variance_ratio_),
        "projections (abs)": np.max(np.abs(projections - reference.transform(x) * signs)),
        "whitened projections (abs)": np.max(
            np.abs(whitened - reference_white.transform(x) * signs)),
    }
    tolerance = {
        "mean (abs)": 1e-9,
        "components (abs, up to sign)": 1e-6,
        "explained variance (rel)": 1e-5,
        "explained variance ratio (rel)": 1e-5,
        "projections (abs)": 1e-4,
        "whitened projections (abs)": 1e-4,
    }
    # The documented sign rule, checked on our side.
    largest = np.argmax(np.abs(components), axis=1)
    sign_ok = bool(np.all(components[np.arange(k), largest] > 0))
    scale = np.max(np.abs(x))
    print(f"PCA n={n} d={d} k={k} max|x|={scale:.3g}, scikit-learn {__import__('sklearn').__version__}")
    failed = not sign_ok
    for name, value in diffs.items():
        ok = value <= tolerance[name]
        failed |= not ok
        print(f"  {name:32s} {value:.3e} (tolerance {tolerance[name]:.0e}){'' if ok else '  FAIL'}")
    print(f"  sign rule (largest |loading| > 0): {'ok' if sign_ok else 'FAIL'}")
    return 1 if failed else 0


def check_kmeans(folder):
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    n, d, k, n_init = (int(v) for v in open(os.path.join(folder, "meta.txt")).read().split())
    x = load(folder, "samples.f64", "<f8", (n, d))
    centroids = load(folder, "centroids.f64", "<f8", (k, d))
    inertia = float(load(folder, "inertia.f64", "<f8", (1,))[0])

    # Our inertia recomputed independently: every sample to its nearest centroid.
    distances = ((x[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
    labels = np.argmin(distances, axis=1)
    recomputed = float(distances[np.arange(n), labels].sum())
    reference = KMeans(n_clusters=k, n_init=n_init, random_state=0, algorithm="lloyd").fit(x)
    recomputed_rel = abs(recomputed - inertia) / recomputed
    versus_sklearn = (inertia - reference.inertia_) / reference.inertia_
    agreement = adjusted_rand_score(reference.labels_, labels)
    print(f"k-means n={n} d={d} k={k} n_init={n_init}")
    print(f"  inertia vitfeat {inertia:.6g}, recomputed {recomputed:.6g} (rel {recomputed_rel:.1e}),"
          f" scikit-learn {reference.inertia_:.6g} (vitfeat {100 * versus_sklearn:+.3f}%)")
    print(f"  adjusted Rand index between the two labellings: {agreement:.4f}")
    failed = recomputed_rel > 1e-9 or abs(versus_sklearn) > 0.03
    if failed:
        print("  FAIL: inertia differs")
    return 1 if failed else 0


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("pca", "kmeans"):
        print(__doc__)
        return 2
    return check_pca(sys.argv[2]) if sys.argv[1] == "pca" else check_kmeans(sys.argv[2])


if __name__ == "__main__":
    sys.exit(main())
