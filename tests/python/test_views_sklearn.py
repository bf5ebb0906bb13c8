#!/usr/bin/python3
"""VITPCA and VITCLUSTER read through GDAL's Python bindings, against scikit-learn
fitted on the same cells of a synthetic feature GeoTIFF.

PCA (SAMPLE=0: every valid cell): explained variance ratios within 1e-5
relative, mean and components equal (with vitfeat's documented sign: the
largest-magnitude loading of each component positive), projections within 1e-4
(NaN for cells without data), WHITEN=YES likewise, RGB=YES bytes equal to the
documented stretch of the projections, and a descriptor written by
gdal_translate reproducing the same bands.

k-means on well separated synthetic clusters: labels equal the truth up to a
permutation, ordered by cluster size, 255 for no data, inertia within 1% of
scikit-learn's KMeans on the same cells, and the same labels in a second
process.

Exit code 0: passed; 1: failed; 77: a Python module is missing (skipped).
Run with Debian's /usr/bin/python3.
"""
import os
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import view_test_common as common  # noqa: E402

common.set_environment()
np, gdal, sklearn = common.require_modules("numpy", "osgeo.gdal", "sklearn")
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402

gdal.UseExceptions()

WIDTH, HEIGHT, BANDS = 60, 40, 24


def pca_cube(rng):
    """Low-rank features (5 factors with well separated variances) plus noise and an
    offset, with cells without data: NaN in every band, NaN in one band only, and
    the bands' nodata value."""
    n = WIDTH * HEIGHT
    scales = np.array([9.0, 5.0, 3.0, 2.0, 1.2])
    factors = rng.standard_normal((n, scales.size)) * scales
    loadings = np.linalg.qr(rng.standard_normal((BANDS, scales.size)))[0].T  # orthonormal rows
    offset = rng.uniform(-3, 3, BANDS)
    cells = factors @ loadings + offset + 0.05 * rng.standard_normal((n, BANDS))
    cube = cells.T.reshape(BANDS, HEIGHT, WIDTH).astype(np.float32)
    invalid = np.zeros((HEIGHT, WIDTH), bool)
    cube[:, 5:9, 10:17] = np.nan  # a hole in every band
    invalid[5:9, 10:17] = True
    for (r, c, b) in [(0, 0, 3), (20, 59, 23), (39, 31, 0), (12, 44, 11)]:
        cube[b, r, c] = np.nan  # one band only: the whole cell has no data
        invalid[r, c] = True
    for (r, c) in [(30, 2), (30, 3), (17, 50)]:
        cube[:, r, c] = -9999  # the nodata value
        invalid[r, c] = True
    return cube, invalid


def open_view(name, options):
    return gdal.OpenEx(name, gdal.OF_RASTER, open_options=options)


def read_bands_blockwise(ds):
    """Band by band (IReadBlock), as opposed to ds.ReadAsArray (one dataset read)."""
    return np.stack([ds.GetRasterBand(b + 1).ReadAsArray() for b in range(ds.RasterCount)])


def test_pca(checks, folder, rng):
    print("VITPCA against sklearn.decomposition.PCA(svd_solver='full')")
    cube, invalid = pca_cube(rng)
    path = os.path.join(folder, "pca_features.tif")
    common.write_features(gdal, path, cube, nodata=-9999)
    # The cells exactly as GDAL stores them, float32 widened to float64.
    stored = gdal.Open(path).ReadAsArray().astype(np.float64)
    x = stored.reshape(BANDS, -1).T[~invalid.ravel()]
    k = 5

    ref = PCA(n_components=k, svd_solver="full").fit(x)
    # vitfeat's sign rule applied to scikit-learn's components.
    largest = np.argmax(np.abs(ref.components_), axis=1)
    signs = np.sign(ref.components_[np.arange(k), largest])
    expected_components = ref.components_ * signs[:, None]
    expected = np.full((k, HEIGHT * WIDTH), np.nan)
    expected[:, ~invalid.ravel()] = (ref.transform(x) * signs).T
    expected = expected.reshape(k, HEIGHT, WIDTH)

    ds = open_view("VITPCA:" + path, ["N_COMPONENTS=5", "SAMPLE=0", "SEED=1"])
    md = ds.GetMetadata("VITPCA")
    checks.check("PCA: 5 Float32 bands, source size",
                 ds.RasterCount == k and ds.RasterXSize == WIDTH and ds.RasterYSize == HEIGHT
                 and all(ds.GetRasterBand(b + 1).DataType == gdal.GDT_Float32 for b in range(k)))
    checks.check("PCA: geotransform and CRS of the source",
                 ds.GetGeoTransform() == gdal.Open(path).GetGeoTransform()
                 and "32633" in ds.GetProjection())
    checks.check("PCA: FIT_FROM=sample on the first open", md.get("FIT_FROM") == "sample",
                 str(md.get("FIT_FROM")))
    checks.check("PCA: FIT_SAMPLES = valid cells", int(md.get("FIT_SAMPLES", -1)) == len(x),
                 f"{md.get('FIT_SAMPLES')} vs {len(x)}")
    ratio = common.numbers(md["EXPLAINED_VARIANCE_RATIO"])
    checks.below("PCA: explained variance ratio (relative)",
                 np.max(np.abs(ratio - ref.explained_variance_ratio_) / ref.explained_variance_ratio_),
                 1e-5)
    variance = common.numbers(md["EXPLAINED_VARIANCE"])
    checks.below("PCA: explained variance (relative)",
                 np.max(np.abs(variance - ref.explained_variance_) / ref.explained_variance_), 1e-5)
    checks.below("PCA: mean (abs)", np.max(np.abs(common.numbers(md["MEAN"]) - ref.mean_)), 1e-6)
    components = np.stack([common.numbers(md[f"COMPONENT_{c + 1}"]) for c in range(k)])
    checks.below("PCA: components (abs, sklearn with vitfeat's sign)",
                 np.max(np.abs(components - expected_components)), 1e-6)
    rule = components[np.arange(k), np.argmax(np.abs(components), axis=1)]
    checks.check("PCA: sign rule, largest |loading| of each component > 0", bool(np.all(rule > 0)),
                 ", ".join(f"{v:+.3f}" for v in rule))

    whole = ds.ReadAsArray().astype(np.float64)
    blockwise = read_bands_blockwise(ds).astype(np.float64)
    for name, got in (("dataset read", whole), ("band/block reads", blockwise)):
        checks.check(f"PCA ({name}): NaN exactly on the cells without data",
                     bool(np.array_equal(np.isnan(got), np.broadcast_to(invalid, got.shape))))
        checks.below(f"PCA ({name}): projections (abs)",
                     np.nanmax(np.abs(got - expected)), 1e-4)
    nodata = ds.GetRasterBand(1).GetNoDataValue()
    checks.check("PCA: nodata is NaN", nodata is not None and np.isnan(nodata), str(nodata))

    # WHITEN=YES: scikit-learn's whitened transform.
    ref_white = PCA(n_components=k, svd_solver="full", whiten=True).fit(x)
    expected_white = np.full((k, HEIGHT * WIDTH), np.nan)
    expected_white[:, ~invalid.ravel()] = (ref_white.transform(x) * signs).T
    white = open_view("VITPCA:" + path, ["N_COMPONENTS=5", "SAMPLE=0", "SEED=1", "WHITEN=YES"])
    got_white = white.ReadAsArray().astype(np.float64).reshape(k, -1)
    checks.below("PCA WHITEN=YES: projections (abs)",
                 np.nanmax(np.abs(got_white - expected_white)), 1e-4)
    checks.check("PCA WHITEN=YES: NaN on the cells without data",
                 bool(np.array_equal(np.isnan(got_white), np.isnan(expected_white))))
    checks.below("PCA WHITEN=YES: unit variance of each component (abs)",
                 np.max(np.abs(np.nanvar(got_white, axis=1, ddof=1) - 1)), 1e-4)

    # RGB=YES: the first three projections stretched to 1..255 between the 2nd and
    # 98th percentiles (numpy's linear method) of the fitted cells, 0 for no data.
    rgb = open_view("VITPCA:" + path, ["SAMPLE=0", "SEED=1", "RGB=YES"])
    rgb_md = rgb.GetMetadata("VITPCA")
    interp = [rgb.GetRasterBand(b + 1).GetColorInterpretation() for b in range(rgb.RasterCount)]
    checks.check("PCA RGB=YES: 3 Byte bands, Red/Green/Blue, nodata 0",
                 rgb.RasterCount == 3
                 and all(rgb.GetRasterBand(b + 1).DataType == gdal.GDT_Byte for b in range(3))
                 and interp == [gdal.GCI_RedBand, gdal.GCI_GreenBand, gdal.GCI_BlueBand]
                 and all(rgb.GetRasterBand(b + 1).GetNoDataValue() == 0 for b in range(3)),
                 f"{rgb.RasterCount} bands, interpretations {interp}")
    got_rgb = rgb.ReadAsArray().astype(np.int32)
    projected = expected[:3].reshape(3, -1)
    worst_stretch = 0.0
    expected_rgb = np.zeros((3, HEIGHT * WIDTH), np.int32)
    for c in range(3):
        valid_values = projected[c][~np.isnan(projected[c])]
        lo, hi = np.percentile(valid_values, [2, 98])
        stretch = common.numbers(rgb_md[f"STRETCH_{c + 1}"])
        worst_stretch = max(worst_stretch, np.max(np.abs(stretch - [lo, hi])))
        t = np.clip((projected[c] - lo) / (hi - lo), 0, 1)
        expected_rgb[c] = np.where(np.isnan(projected[c]), 0, 1 + np.round(254 * np.nan_to_num(t)))
    diff = np.abs(got_rgb.reshape(3, -1) - expected_rgb)
    worst_byte = int(diff.max())
    exact = float(np.mean(diff == 0))
    checks.below("PCA RGB=YES: STRETCH_i vs numpy percentiles 2, 98 (abs)", worst_stretch, 1e-4)
    # A projection within 1e-4 of a rounding boundary may land on either side.
    checks.check("PCA RGB=YES: bytes = stretched projections (off by one at most, >= 99% exact)",
                 worst_byte <= 1 and exact >= 0.99, f"max diff {worst_byte}, exact {100 * exact:.2f}%")
    checks.check("PCA RGB=YES: 0 exactly on the cells without data, 1..255 elsewhere",
                 bool(np.array_equal(got_rgb == 0, np.broadcast_to(invalid, got_rgb.shape))))

    # A descriptor written by gdal_translate reopens with the saved fit and the same bands.
    descriptor = os.path.join(folder, "pca.vitpca")
    gdal.Translate(descriptor, ds, format="VITPCA")
    reopened = gdal.Open(descriptor)
    checks.check("PCA descriptor: opened by the VITPCA driver, FIT_FROM=descriptor",
                 reopened.GetDriver().ShortName == "VITPCA"
                 and reopened.GetMetadataItem("FIT_FROM", "VITPCA") == "descriptor",
                 f"{reopened.GetDriver().ShortName}, {reopened.GetMetadataItem('FIT_FROM', 'VITPCA')}")
    checks.check("PCA descriptor: same bands as the view (bit for bit)",
                 bool(np.array_equal(reopened.ReadAsArray(), ds.ReadAsArray(), equal_nan=True)))


def cluster_cube(rng):
    """Five well separated Gaussian clusters in 16 dimensions with distinct sizes,
    scattered over a 50 x 30 grid, and a few cells without data."""
    width, height, d = 50, 30, 16
    sizes = [520, 400, 290, 180, 110]  # 1500 cells
    truth = rng.permutation(np.repeat(np.arange(5), sizes)).reshape(height, width)
    centers = rng.standard_normal((5, d)) * 6.0
    cells = centers[truth.ravel()] + 0.4 * rng.standard_normal((width * height, d))
    cube = cells.T.reshape(d, height, width).astype(np.float32)
    invalid = np.zeros((height, width), bool)
    cube[:, 0:3, 45:50] = np.nan
    invalid[0:3, 45:50] = True
    cube[7, 22, 13] = np.nan
    invalid[22, 13] = True
    return cube, truth, invalid


LABELS_SCRIPT = r"""
import hashlib, sys
from osgeo import gdal
ds = gdal.OpenEx(sys.argv[1], gdal.OF_RASTER, open_options=sys.argv[2:])
print(hashlib.sha256(ds.ReadAsArray().tobytes()).hexdigest())
"""


def test_kmeans(checks, folder, rng):
    print("VITCLUSTER against sklearn.cluster.KMeans")
    cube, truth, invalid = cluster_cube(rng)
    path = os.path.join(folder, "cluster_features.tif")
    common.write_features(gdal, path, cube)
    stored = gdal.Open(path).ReadAsArray().astype(np.float64)
    valid = ~invalid.ravel()
    x = stored.reshape(stored.shape[0], -1).T[valid]
    k = 5
    options = [f"N_CLUSTERS={k}", "SAMPLE=0", "SEED=7"]
    ds = open_view("VITCLUSTER:" + path, options)
    band = ds.GetRasterBand(1)
    md = ds.GetMetadata("VITCLUSTER")
    table = band.GetColorTable()
    names = band.GetCategoryNames() or []
    checks.check("cluster: one Byte band, nodata 255, palette interpretation",
                 ds.RasterCount == 1 and band.DataType == gdal.GDT_Byte
                 and band.GetNoDataValue() == 255
                 and band.GetColorInterpretation() == gdal.GCI_PaletteIndex)
    checks.check("cluster: colour table with distinct colours for the labels, category names",
                 table is not None and table.GetCount() >= k
                 and len({table.GetColorEntry(i) for i in range(k)}) == k and len(names) == k,
                 f"{table.GetCount() if table else 0} entries, {len(names)} names")

    labels = ds.ReadAsArray()
    checks.check("cluster: band/block reads equal the dataset read",
                 bool(np.array_equal(band.ReadAsArray(), labels)))
    checks.check("cluster: 255 exactly on the cells without data",
                 bool(np.array_equal(labels == 255, invalid)))
    got = labels.ravel()[valid].astype(int)
    true = truth.ravel()[valid]
    contingency = np.zeros((k, k), int)
    np.add.at(contingency, (true, np.clip(got, 0, k - 1)), 1)
    bijection = bool(got.max() < k and np.all((contingency > 0).sum(axis=0) == 1)
                     and np.all((contingency > 0).sum(axis=1) == 1))
    checks.check("cluster: labels equal the truth up to a permutation", bijection,
                 "contingency rows " + str(contingency.tolist()))
    counts = np.bincount(got, minlength=k)
    sizes = [int(v) for v in md["CLUSTER_SIZES"].split(",")]
    checks.check("cluster: CLUSTER_SIZES = label counts (every cell fitted), largest first",
                 sizes == counts.tolist() and sizes == sorted(sizes, reverse=True),
                 f"{sizes} vs {counts.tolist()}")

    inertia = float(md["INERTIA"])
    centroids = np.stack([common.numbers(md[f"CENTROID_{c}"]) for c in range(k)])
    recomputed = float(((x - centroids[got]) ** 2).sum())
    checks.below("cluster: INERTIA vs recomputed from CENTROID_i and the labels (relative)",
                 abs(inertia - recomputed) / recomputed, 1e-6)
    ref = KMeans(n_clusters=k, n_init=10, random_state=0).fit(x)
    checks.below("cluster: INERTIA vs scikit-learn KMeans inertia (relative)",
                 abs(inertia - ref.inertia_) / ref.inertia_, 0.01)
    print(f"       vitfeat inertia {inertia:.6f}, scikit-learn {ref.inertia_:.6f}")

    # The same seed gives the same labels in another process (no fit cache there).
    env = dict(os.environ, VITFEAT_FIT_CACHE="NO")
    digests = []
    for _ in range(2):
        run = subprocess.run([sys.executable, "-c", LABELS_SCRIPT, "VITCLUSTER:" + path] + options,
                             env=env, capture_output=True, text=True)
        if run.returncode != 0:
            print(f"       the other process failed (exit {run.returncode}): {run.stderr.strip()}")
        digests.append(run.stdout.strip())
    import hashlib

    here = hashlib.sha256(labels.tobytes()).hexdigest()
    checks.check("cluster: same labels in two other processes", digests == [here, here],
                 f"{here[:12]} here, {[d[:12] for d in digests]} there")


def main():
    common.require_drivers(gdal, "VITPCA", "VITCLUSTER")
    print(f"GDAL {gdal.__version__}, scikit-learn {sklearn.__version__}, numpy {np.__version__}, "
          f"GDAL_DRIVER_PATH={os.environ['GDAL_DRIVER_PATH']}")
    checks = common.Checks()
    with tempfile.TemporaryDirectory(prefix="vitfeat_sklearn_") as folder:
        rng = np.random.default_rng(20240611)
        test_pca(checks, folder, rng)
        test_kmeans(checks, folder, rng)
    return checks.exit_code()


if __name__ == "__main__":
    sys.exit(main())
