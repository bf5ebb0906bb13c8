#!/usr/bin/python3
"""Compares vitfeat's math (pixelfunctions/) with scikit-learn.

Usage: check_sklearn.py pca|kmeans|forest|logistic|knn|metrics FOLDER

FOLDER holds what the C++ test wrote (raw little-endian arrays, row-major, and
meta.txt with the shapes). Prints the largest differences and exits non-zero
when one is out of tolerance. Run with Debian's /usr/bin/python3
(python3-sklearn, python3-numpy).
"""
import os
import sys
import warnings

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


def read_meta(folder):
    return open(os.path.join(folder, "meta.txt")).read().split()


def load_classification(folder):
    """Training and test sets written by the classifier tests (see meta.txt)."""
    meta = read_meta(folder)
    n_train, n_test, d, classes = (int(v) for v in meta[:4])
    train = load(folder, "train.f64", "<f8", (n_train, d))
    train_labels = load(folder, "train_labels.i32", "<i4", (n_train,))
    test = load(folder, "test.f64", "<f8", (n_test, d))
    return meta, n_train, n_test, d, classes, train, train_labels, test


def check_forest(folder):
    """Two random forests with different generators grow different trees, so
    the check is on predictions: vitfeat's must mostly equal scikit-learn's."""
    from sklearn.ensemble import RandomForestClassifier

    _, n_train, n_test, d, classes, train, train_labels, test = load_classification(folder)
    test_labels = load(folder, "test_labels.i32", "<i4", (n_test,))
    predicted = load(folder, "predicted.i32", "<i4", (n_test,))
    reference = RandomForestClassifier(n_estimators=100, random_state=0).fit(train, train_labels)
    expected = reference.predict(test)
    agreement = float(np.mean(expected == predicted))
    # How far two scikit-learn forests that differ only in their seed agree:
    # what the threshold should be read against.
    other = RandomForestClassifier(n_estimators=100, random_state=1).fit(train, train_labels)
    baseline = float(np.mean(other.predict(test) == expected))
    print(f"random forest n_train={n_train} n_test={n_test} d={d} classes={classes}")
    print(f"  held-out accuracy: vitfeat {np.mean(predicted == test_labels):.4f},"
          f" scikit-learn {np.mean(expected == test_labels):.4f}")
    print(f"  predictions equal to scikit-learn's: {agreement:.4f} (at least 0.95);"
          f" scikit-learn random_state 1 vs 0: {baseline:.4f}")
    return 0 if agreement >= 0.95 else 1


def check_logistic(folder):
    """Same standardisation (vitfeat's mean and scale, themselves checked
    against StandardScaler), then LogisticRegression run to a tight tolerance."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    meta, n_train, n_test, d, classes, train, train_labels, test = load_classification(folder)
    c = float(meta[4])
    mean = load(folder, "mean.f64", "<f8", (d,))
    scale = load(folder, "scale.f64", "<f8", (d,))
    proba = load(folder, "proba.f64", "<f8", (n_test, classes))
    scaler = StandardScaler().fit(train)
    mean_diff = np.max(np.abs(mean - scaler.mean_) / np.maximum(np.abs(scaler.mean_), 1e-300))
    scale_diff = np.max(np.abs(scale - scaler.scale_) / scaler.scale_)
    z_train, z_test = (train - mean) / scale, (test - mean) / scale
    # newton-cg stops on the gradient alone, so a tight tol gives the exact
    # optimum; lbfgs (the default solver) also stops on scipy's relative
    # decrease of the objective (ftol, not settable), a few 1e-5 short of it.
    diffs = {}
    for solver, tol in (("newton-cg", 1e-8), ("lbfgs", 1e-10)):
        with warnings.catch_warnings():
            # At these tolerances the line searches end on rounding and say so;
            # the probability differences below show how close each got.
            warnings.simplefilter("ignore")
            reference = LogisticRegression(C=c, multi_class="multinomial", solver=solver,
                                           tol=tol, max_iter=10000).fit(z_train, train_labels)
        expected = reference.predict_proba(z_test)
        diffs[solver] = (float(np.max(np.abs(proba - expected))), int(reference.n_iter_[0]),
                         float(np.mean(np.argmax(proba, axis=1) == np.argmax(expected, axis=1))))
    print(f"logistic regression n_train={n_train} n_test={n_test} d={d} classes={classes} C={c}")
    print(f"  mean vs StandardScaler (rel) {mean_diff:.2e}, scale (rel) {scale_diff:.2e}"
          " (tolerance 1e-12)")
    for solver, (diff, iterations, equal) in diffs.items():
        print(f"  {solver:9s} ({iterations} iterations): max |probability difference| {diff:.3e}"
              f" (tolerance 1e-4), equal labels {equal:.4f}")
    proba_diff = max(diff for diff, _, _ in diffs.values())
    failed = mean_diff > 1e-12 or scale_diff > 1e-12 or proba_diff > 1e-4
    return 1 if failed else 0


def check_knn(folder):
    """Exact search on both sides: on data where the k-th and (k+1)-th
    neighbours are never at the same distance, predictions must be equal."""
    from sklearn.neighbors import KNeighborsClassifier

    meta, n_train, n_test, d, classes, train, train_labels, test = load_classification(folder)
    k, metric = int(meta[4]), meta[5]
    predicted = load(folder, "predicted.i32", "<i4", (n_test,))
    proba = load(folder, "proba.f64", "<f8", (n_test, classes))
    reference = KNeighborsClassifier(n_neighbors=k, algorithm="brute", metric=metric)
    reference.fit(train, train_labels)
    distances, _ = reference.kneighbors(test, n_neighbors=k + 1)
    gap = float(np.min(distances[:, k] - distances[:, k - 1]))
    expected = reference.predict(test)
    expected_proba = reference.predict_proba(test)
    mismatches = int(np.sum(expected != predicted))
    proba_diff = float(np.max(np.abs(proba - expected_proba)))
    print(f"kNN n_train={n_train} n_test={n_test} d={d} classes={classes} k={k} metric={metric}")
    print(f"  smallest gap between the k-th and (k+1)-th neighbour: {gap:.3e} (must be > 0)")
    print(f"  predictions differing from scikit-learn's: {mismatches},"
          f" max |probability difference| {proba_diff:.1e}")
    failed = gap <= 0 or mismatches != 0 or proba_diff > 1e-12
    return 1 if failed else 0


def check_metrics(folder):
    """Exact equality: the same integer counts and the same divisions."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    n, classes = (int(v) for v in read_meta(folder))
    truth = load(folder, "truth.i32", "<i4", (n,))
    predicted = load(folder, "predicted.i32", "<i4", (n,))
    labels = list(range(classes))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=labels, zero_division=0)
    expected = {
        "accuracy": np.array([accuracy_score(truth, predicted)]),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": support,
        "confusion": confusion_matrix(truth, predicted, labels=labels).ravel(),
    }
    ours = {
        "accuracy": load(folder, "accuracy.f64", "<f8", (1,)),
        "precision": load(folder, "precision.f64", "<f8", (classes,)),
        "recall": load(folder, "recall.f64", "<f8", (classes,)),
        "f1": load(folder, "f1.f64", "<f8", (classes,)),
        "support": load(folder, "support.i64", "<i8", (classes,)),
        "confusion": load(folder, "confusion.i64", "<i8", (classes * classes,)),
    }
    print(f"classification metrics n={n} classes={classes}")
    failed = False
    for name, value in expected.items():
        same = bool(np.array_equal(ours[name], value))
        failed |= not same
        verdict = "equal" if same else f"DIFFERENT: {ours[name]} vs {value}"
        print(f"  {name:10s} {verdict}")
    return 1 if failed else 0


def check_umap(folder):
    """UMAP's reference: umap-learn's embedding of the same samples with the
    same options (a PCA when umap-learn is missing), its trustworthiness by
    scikit-learn, and umap-learn's find_ab_params curve fit done by scipy. The
    C++ test compares: this mode only writes reference.txt and
    reference_embedding.f64 (n x n_components, float64), so it can run while
    the test fits its own embedding."""
    from scipy.optimize import curve_fit
    from sklearn.manifold import trustworthiness

    meta = read_meta(folder)
    n, d, n_neighbors, n_components = (int(v) for v in meta[:4])
    min_dist, spread = float(meta[4]), float(meta[5])
    metric, seed, trust_k = meta[6], int(meta[7]), int(meta[8])
    x = load(folder, "samples.f64", "<f8", (n, d))
    try:
        import umap

        source = "umap-learn"
        reference = umap.UMAP(n_neighbors=n_neighbors, n_components=n_components,
                              min_dist=min_dist, spread=spread, metric=metric,
                              random_state=seed).fit_transform(x)
    except ImportError as error:
        from sklearn.decomposition import PCA

        print(f"SKIP umap-learn is not importable ({error}): PCA stands in for it")
        source = "pca"
        reference = PCA(n_components=n_components, svd_solver="full").fit_transform(x)
    reference = np.ascontiguousarray(reference, dtype="<f8")
    trust = trustworthiness(x, reference, n_neighbors=trust_k)

    # umap-learn's find_ab_params, written out so that it needs only scipy.
    xv = np.linspace(0, spread * 3, 300)
    yv = np.where(xv < min_dist, 1.0, np.exp(-(xv - min_dist) / spread))
    (a, b), _ = curve_fit(lambda v, a, b: 1.0 / (1.0 + a * v ** (2 * b)), xv, yv)

    reference.tofile(os.path.join(folder, "reference_embedding.f64"))
    with open(os.path.join(folder, "reference.txt"), "w") as out:
        out.write(f"{source}\n{trust!r}\n{a!r} {b!r}\n")
    print(f"UMAP reference n={n} d={d} n_neighbors={n_neighbors} n_components={n_components}"
          f" min_dist={min_dist} metric={metric}: {source} trustworthiness({trust_k}) {trust:.4f},"
          f" a={a:.6f} b={b:.6f}")
    return 0


CHECKS = {
    "pca": check_pca,
    "kmeans": check_kmeans,
    "forest": check_forest,
    "logistic": check_logistic,
    "knn": check_knn,
    "metrics": check_metrics,
    "umap": check_umap,
}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in CHECKS:
        print(__doc__)
        return 2
    return CHECKS[sys.argv[1]](sys.argv[2])


if __name__ == "__main__":
    sys.exit(main())
