#!/usr/bin/python3
"""VITCLUSTER METHOD=hdbscan and VITUMAP end to end, against the truth, scikit-learn
and Debian's umap-learn.

HDBSCAN: a feature raster of three clusters of different spreads and sizes in
their own regions, plus cells of uniform background noise spread over a box
around them. The labels of every cell (noise a label of its own) have an
adjusted Rand index >= 0.9 against the truth (scikit-learn), and most
background cells are noise.

UMAP: a feature raster of four separated classes. The fitted sample's embedding
(read back from the descriptor) has a trustworthiness (scikit-learn, 10
neighbours) at least umap-learn's on the same sample minus 0.02; the cells
placed by transform land near their own class (10-nearest-neighbour accuracy
against the sample's embedding >= 0.95); rasterio reads the same values as
GDAL; the descriptor reopens with the same values.
"""
import base64
import json
import os
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import view_test_common as common  # noqa: E402

common.set_environment()
np, gdal = common.require_modules("numpy", "osgeo.gdal")
(sklearn,) = common.require_modules("sklearn")
from sklearn.manifold import trustworthiness  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402

gdal.UseExceptions()
WIDTH = HEIGHT = 64
BANDS = 16


def density_cube(rng):
    """Three clusters of spreads 0.3, 0.8 and 1.5 on regions of different sizes,
    background noise cells uniform over a box four times wider."""
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    truth = np.full((HEIGHT, WIDTH), 3)  # 3: noise
    truth[:, :24] = 0
    truth[:40, 24:44] = 1
    truth[40:, 24:] = 2
    background = rng.random((HEIGHT, WIDTH)) < 0.08
    truth[background] = 3
    centres = np.zeros((3, BANDS))
    centres[0, 0], centres[1, 1], centres[2, 2] = 20.0, 20.0, 20.0
    spread = np.array([0.3, 0.8, 1.5])
    cube = np.empty((BANDS, HEIGHT, WIDTH))
    for c in range(3):
        where = truth == c
        cube[:, where] = (centres[c][:, None]
                          + spread[c] * rng.standard_normal((BANDS, int(where.sum()))))
    where = truth == 3
    cube[:, where] = rng.uniform(-30, 50, (BANDS, int(where.sum())))
    return cube.astype(np.float32), truth


def check_hdbscan(checks, folder):
    print("VITCLUSTER METHOD=hdbscan")
    cube, truth = density_cube(np.random.default_rng(4))
    features = os.path.join(folder, "density.tif")
    common.write_features(gdal, features, cube)
    start = time.time()
    ds = gdal.OpenEx("VITCLUSTER:" + features, open_options=[
        "METHOD=hdbscan", "SAMPLE=2000", "MIN_CLUSTER_SIZE=40", "SEED=2", "MEMBERSHIP=YES"])
    labels = ds.GetRasterBand(1).ReadAsArray()
    strength = ds.GetRasterBand(2).ReadAsArray()
    seconds = time.time() - start
    noise = int(ds.GetMetadataItem("NOISE_LABEL", "VITCLUSTER"))
    ari = adjusted_rand_score(truth.ravel(), labels.ravel())
    checks.check("hdbscan: adjusted Rand index of every cell's label against the truth >= 0.9",
                 ari >= 0.9, f"{ari:.4f}; {ds.GetMetadataItem('CLUSTERS', 'VITCLUSTER')} clusters "
                 f"of sizes {ds.GetMetadataItem('CLUSTER_SIZES', 'VITCLUSTER')}, fit and read "
                 f"in {seconds:.1f} s")
    background = truth == 3
    as_noise = float((labels[background] == noise).mean())
    checks.check("hdbscan: >= 0.9 of the background cells are noise", as_noise >= 0.9,
                 f"{as_noise:.3f} of {int(background.sum())}")
    names = ds.GetRasterBand(1).GetCategoryNames()
    checks.check("hdbscan: noise is a label of its own with a category name",
                 len(names) == noise + 1 and names[noise].startswith("noise"), names[-1])
    inside = labels != noise
    checks.check("hdbscan: membership strength in (0, 1] for clustered cells, 0 for noise",
                 bool(np.all((strength[inside] > 0) & (strength[inside] <= 1))
                      and np.all(strength[~inside] == 0)),
                 f"min {strength[inside].min():.3f}")


def separated_cube(rng):
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    truth = (cols // 4) % 4  # stripes 4 cells wide: classes 0, 1, 2, 3, 0, ...
    means = rng.standard_normal((4, BANDS)) * 3.0
    cube = means[truth].transpose(2, 0, 1) + rng.standard_normal((BANDS, HEIGHT, WIDTH))
    return cube.astype(np.float32), truth, means


def decode(text, shape):
    return np.frombuffer(base64.b64decode(text), "<f8").reshape(shape, order="F")


def check_umap(checks, folder):
    print("VITUMAP")
    cube, truth, means = separated_cube(np.random.default_rng(9))
    features = os.path.join(folder, "classes.tif")
    # The sample is drawn by whole 16 x 16 blocks (6 of the 16 for 1500 cells);
    # classes in vertical stripes put every class in every block row.
    common.write_features(gdal, features, cube)
    descriptor = os.path.join(folder, "embedding.vitumap")
    start = time.time()
    gdal.Translate(descriptor, gdal.OpenEx("VITUMAP:" + features, open_options=[
        "SAMPLE=1500", "SEED=1"]), format="VITUMAP")
    fitted = time.time() - start
    ds = gdal.Open(descriptor)
    start = time.time()
    embedded = ds.ReadAsArray()  # 3 x rows x columns
    placed = time.time() - start
    fit = json.load(open(descriptor))["fit"]
    n = fit["samples"]
    points = decode(fit["points"], (n, BANDS))
    embedding = decode(fit["embedding"], (n, 3))
    ours = trustworthiness(points, embedding, n_neighbors=10)
    try:
        import umap  # Debian's umap-learn

        start = time.time()
        reference = umap.UMAP(n_components=3, n_neighbors=15, min_dist=0.1,
                              random_state=0).fit_transform(points)
        theirs = trustworthiness(points, reference, n_neighbors=10)
        checks.check("umap: trustworthiness of the fitted sample >= umap-learn's - 0.02",
                     ours >= theirs - 0.02,
                     f"{ours:.4f} vs umap-learn {theirs:.4f} ({n} samples; umap-learn "
                     f"{time.time() - start:.1f} s)")
    except ImportError as e:
        print(f"  WARN umap-learn is not importable ({e}): install Debian's umap-learn; "
              f"trustworthiness {ours:.4f} not compared")
        checks.check("umap: trustworthiness of the fitted sample >= 0.95", ours >= 0.95,
                     f"{ours:.4f}")
    # The class of a sample = its nearest generating mean (the classes are far apart).
    sample_class = np.argmin(((points[:, None, :] - means[None]) ** 2).sum(axis=2), axis=1)
    knn = KNeighborsClassifier(n_neighbors=10).fit(embedding, sample_class)
    cells = embedded.reshape(3, -1).T
    accuracy = float((knn.predict(cells) == truth.ravel()).mean())
    checks.check("umap: every cell placed near its own class (10-NN accuracy) >= 0.95",
                 accuracy >= 0.95, f"{accuracy:.4f} of {cells.shape[0]} cells; fit "
                 f"{fitted:.1f} s, transform {placed:.1f} s")
    again = gdal.Open(descriptor).ReadAsArray()
    checks.check("umap: the descriptor reopens with the same values, bit for bit",
                 bool(np.array_equal(again, embedded)))
    try:
        import rasterio

        with rasterio.open(descriptor) as src:
            through = src.read()
        checks.check("umap: rasterio reads the same values as GDAL",
                     bool(np.array_equal(through, embedded)))
    except ImportError:
        print("  WARN rasterio is not importable: install python3-rasterio")


def main():
    common.require_drivers(gdal, "VITCLUSTER", "VITUMAP")
    checks = common.Checks()
    folder = tempfile.mkdtemp(prefix="vitfeat_density_umap_")
    print(f"files in {folder}")
    check_hdbscan(checks, folder)
    check_umap(checks, folder)
    return checks.exit_code()


if __name__ == "__main__":
    sys.exit(main())
