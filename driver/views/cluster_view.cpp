// VITCLUSTER: k-means labels of the features, fitted on a seeded sample; one
// Byte band (UInt16 past 255 clusters) with a colour table and category names.
#include <cpl_error.h>

#include "driver/views/view_algorithm.h"
#include "pixelfunctions/kmeans.h"

namespace vitfeat {

namespace {

constexpr const char* kDriver = "VITCLUSTER";
constexpr int kMaxClusters = 65535;  // UInt16 labels, 65535 = no data

class ClusterView final : public ViewAlgorithm {
 public:
  explicit ClusterView(ViewOptions& o) : sample_(o.integer("SAMPLE", 10000, 0, 1 << 30)) {
    options_.clusters = o.integer("N_CLUSTERS", 8, 1, kMaxClusters);
    options_.n_init = o.integer("N_INIT", 4, 1, 1000);
    options_.max_iter = o.integer("MAX_ITER", 300, 1, 100000);
    options_.seed = o.seed("SEED", 0);
  }

  bool fit(const FeatureSource& source, GDALProgressFunc progress, void* data) override {
    Eigen::MatrixXd rows;
    if (!source.sample(sample_, options_.seed, rows, &blocks_, progress, data)) return false;
    if (rows.rows() < options_.clusters) {
      CPLError(CE_Failure, CPLE_IllegalArg,
               "%s: invalid N_CLUSTERS=%d: only %lld cells with data were sampled from %s "
               "(SAMPLE=%d); use at most %lld clusters or a larger SAMPLE",
               kDriver, options_.clusters, static_cast<long long>(rows.rows()),
               source.name().c_str(), sample_, static_cast<long long>(rows.rows()));
      return false;
    }
    fit_ = math::fitKMeans(rows, options_);
    samples_ = rows.rows();
    return true;
  }

  CPLJSONObject saveFit() const override {
    CPLJSONObject o;
    o.Add("samples", static_cast<GInt64>(samples_));
    o.Add("blocks_read", blocks_);
    o.Add("inertia", fit_.inertia);
    o.Add("iterations", fit_.iterations);
    CPLJSONArray sizes;
    for (const int64_t s : fit_.sizes) sizes.Add(static_cast<GInt64>(s));
    o.Add("sizes", sizes);
    o.Add("centroids", toJson(fit_.centroids));
    return o;
  }

  bool loadFit(const CPLJSONObject& o, int d) override {
    samples_ = o.GetLong("samples", 0);
    blocks_ = o.GetInteger("blocks_read", 0);
    fit_.inertia = o.GetDouble("inertia", 0);
    fit_.iterations = o.GetInteger("iterations", 0);
    Eigen::VectorXd sizes;
    if (!fromJson(o.GetArray("sizes"), options_.clusters, sizes, kDriver, "sizes") ||
        !fromJson(o.GetArray("centroids"), options_.clusters, d, fit_.centroids, kDriver,
                  "centroids"))
      return false;
    fit_.sizes.assign(sizes.data(), sizes.data() + sizes.size());
    return true;
  }

  std::vector<ViewBand> bands() const override {
    const int k = options_.clusters;
    ViewBand b;
    b.type = k <= 255 ? GDT_Byte : GDT_UInt16;
    b.noData = k <= 255 ? 255 : kMaxClusters;
    b.description = "cluster";
    b.colorInterp = GCI_PaletteIndex;
    for (int c = 0; c < k; ++c)
      b.categories.push_back("cluster " + std::to_string(c) + " (" + std::to_string(fit_.sizes[c]) +
                             " sampled cells)");
    // One entry per label: QGIS lists every entry in the legend, and the
    // no-data value is declared as such.
    b.colors = categoryColors(k);
    return {b};
  }

  VrtFunction vrtFunction(int) const override {
    VrtFunction f{"vitfeat_nearest", {}};
    f.arguments.SetNameValue("centroids", joinRows(fit_.centroids).c_str());
    return f;
  }

  void apply(const Eigen::Ref<const Eigen::MatrixXf>& cells,
             Eigen::Ref<Eigen::MatrixXf> out) const override {
    std::vector<int> labels;
    math::nearestCentroid(fit_.centroids, cells, labels);
    const float noData = options_.clusters <= 255 ? 255.f : static_cast<float>(kMaxClusters);
    for (size_t i = 0; i < labels.size(); ++i)
      out(static_cast<Eigen::Index>(i), 0) = labels[i] < 0 ? noData : static_cast<float>(labels[i]);
  }

  void describe(CPLStringList& r) const override {
    r.SetNameValue("FIT_SAMPLES", CPLSPrintf("%lld", static_cast<long long>(samples_)));
    r.SetNameValue("FIT_BLOCKS_READ", CPLSPrintf("%d", blocks_));
    r.SetNameValue("INERTIA", CPLSPrintf("%.17g", fit_.inertia));
    std::string sizes;
    for (const int64_t s : fit_.sizes) sizes += (sizes.empty() ? "" : ",") + std::to_string(s);
    r.SetNameValue("CLUSTER_SIZES", sizes.c_str());
    for (int c = 0; c < options_.clusters && c < 256; ++c)
      r.SetNameValue(CPLSPrintf("CENTROID_%d", c), joinRow(fit_.centroids, c).c_str());
  }

 private:
  int sample_;
  math::KMeansOptions options_;
  math::KMeansFit fit_;
  int64_t samples_ = 0;
  int blocks_ = 0;
};

}  // namespace

const ViewKind& clusterView() {
  static const ViewKind kind{
      kDriver,
      "k-means cluster labels of vitfeat features",
      "vitcluster",
      "docs/views.md#vitcluster",
      {{"N_CLUSTERS", "int", "8", "Number of clusters (labels 0..N_CLUSTERS-1)", {}},
       {"SAMPLE",
        "int",
        "10000",
        "Cells used to fit, drawn from whole blocks in a seeded order; 0 or at least the cell "
        "count: every cell",
        {}},
       {"SEED", "int", "0", "Seed of the sample and of k-means++", {}},
       {"N_INIT", "int", "4", "k-means++ runs; the one with the lowest inertia is kept", {}},
       {"MAX_ITER", "int", "300", "Lloyd iterations per run at most", {}}},
      [](ViewOptions& o) -> std::unique_ptr<ViewAlgorithm> {
        auto v = std::make_unique<ClusterView>(o);
        return o.ok() ? std::move(v) : nullptr;
      }};
  return kind;
}

}  // namespace vitfeat
