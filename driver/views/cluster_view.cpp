// VITCLUSTER: cluster labels of the features, fitted on a seeded sample: k-means
// (every cell labelled by its nearest centroid) or HDBSCAN (clusters of any
// density; a cell joins the cluster it would attach to in the fitted tree, or
// is noise). One Byte band (UInt16 past 255 labels) with a colour table and
// category names; with HDBSCAN, optionally the membership strength.
#include <cpl_error.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <memory>
#include <stdexcept>
#include <utility>

#include "driver/views/view_algorithm.h"
#include "pixelfunctions/hdbscan.h"
#include "pixelfunctions/kmeans.h"

namespace vitfeat {

namespace {

// The record lists every option of the driver with its default; a method's
// record keeps the SAMPLE in force and drops the other method's options.
void inForce(CPLStringList& r, int sample, std::initializer_list<const char*> otherMethod) {
  r.SetNameValue("SAMPLE", CPLSPrintf("%d", sample));
  for (const char* key : otherMethod) r.SetNameValue(key, nullptr);
}

constexpr const char* kDriver = "VITCLUSTER";
constexpr int kMaxClusters = 65535;  // UInt16 labels, 65535 = no data

class KMeansView final : public ViewAlgorithm {
 public:
  explicit KMeansView(ViewOptions& o) : sample_(o.integer("SAMPLE", 10000, 0, 1 << 30)) {
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
    // Fewer distinct cells than clusters (constant features, a tiny raster):
    // some clusters stay empty, and their legend entries label nothing.
    const auto empty = std::count(fit_.sizes.begin(), fit_.sizes.end(), int64_t{0});
    if (empty > 0)
      CPLError(CE_Warning, CPLE_AppDefined,
               "%s: %lld of the N_CLUSTERS=%d clusters are empty: the %lld sampled cells of %s "
               "have fewer distinct feature vectors than that; use fewer clusters",
               kDriver, static_cast<long long>(empty), options_.clusters,
               static_cast<long long>(samples_), source.name().c_str());
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
    inForce(r, sample_, {"MIN_CLUSTER_SIZE", "MIN_SAMPLES", "METRIC", "MEMBERSHIP"});
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

// HDBSCAN on a seeded sample (O(n^2) in the sample: SAMPLE defaults lower).
// Labels 0..k-1 are the clusters by size, label k is noise.
class HdbscanView final : public ViewAlgorithm {
 public:
  explicit HdbscanView(ViewOptions& o)
      : sample_(o.integer("SAMPLE", 3000, 2, 50000)),
        seed_(o.seed("SEED", 0)),
        membership_(o.flag("MEMBERSHIP", false)) {
    options_.min_cluster_size = o.integer("MIN_CLUSTER_SIZE", 50, 2, 1 << 30);
    options_.min_samples = o.integer("MIN_SAMPLES", 0, 0, 1 << 30);
    options_.metric = math::parseMetric(o.choice("METRIC", "euclidean", {"euclidean", "cosine"}));
  }

  bool fit(const FeatureSource& source, GDALProgressFunc progress, void* data) override {
    Eigen::MatrixXd rows;
    if (!source.sample(sample_, seed_, rows, &blocks_, progress, data)) return false;
    const int minSamples =
        options_.min_samples > 0 ? options_.min_samples : options_.min_cluster_size;
    if (rows.rows() < options_.min_cluster_size || rows.rows() < minSamples) {
      CPLError(CE_Failure, CPLE_IllegalArg,
               "%s: only %lld cells with data were sampled from %s (SAMPLE=%d); "
               "MIN_CLUSTER_SIZE=%d and MIN_SAMPLES=%d need at least %d",
               kDriver, static_cast<long long>(rows.rows()), source.name().c_str(), sample_,
               options_.min_cluster_size, minSamples,
               std::max(options_.min_cluster_size, minSamples));
      return false;
    }
    if (progress) progress(0.5, "VITCLUSTER: HDBSCAN on the sample", data);
    const math::HdbscanFit fit = math::fitHdbscan(rows, options_);
    sizes_ = fit.sizes;
    noiseSamples_ = 0;
    for (const int l : fit.model.labels) noiseSamples_ += l < 0 ? 1 : 0;
    predictor_ = std::make_shared<math::HdbscanPredictor>(fit.model);
    if (progress) progress(1.0, "VITCLUSTER: fitted", data);
    return true;
  }

  CPLJSONObject saveFit() const override {
    const math::HdbscanModel& m = predictor_->model();
    CPLJSONObject o;
    o.Add("samples", static_cast<GInt64>(m.points.rows()));
    o.Add("blocks_read", blocks_);
    o.Add("clusters", static_cast<int>(sizes_.size()));
    o.Add("noise_samples", static_cast<GInt64>(noiseSamples_));
    o.Add("min_samples", m.min_samples);
    CPLJSONArray sizes;
    for (const int64_t s : sizes_) sizes.Add(static_cast<GInt64>(s));
    o.Add("sizes", sizes);
    // Base64 of little-endian float64 / int32 (lambdas may be infinite).
    o.Add("points", toBase64(m.points.data(), static_cast<size_t>(m.points.size())));
    o.Add("core_distances",
          toBase64(m.core_distances.data(), static_cast<size_t>(m.core_distances.size())));
    const std::vector<int32_t> labels(m.labels.begin(), m.labels.end());
    o.Add("labels", toBase64(labels.data(), labels.size()));
    o.Add("birth_lambdas", toBase64(m.birth_lambdas.data(), m.birth_lambdas.size()));
    o.Add("max_lambdas", toBase64(m.max_lambdas.data(), m.max_lambdas.size()));
    return o;
  }

  bool loadFit(const CPLJSONObject& o, int d) override {
    const Eigen::Index n = o.GetLong("samples", 0);
    const int k = o.GetInteger("clusters", -1);
    if (n < 2 || k < 0 || k > kMaxClusters - 1) {
      CPLError(CE_Failure, CPLE_AppDefined,
               "%s: the saved HDBSCAN fit has %lld samples, %d clusters", kDriver,
               static_cast<long long>(n), k);
      return false;
    }
    blocks_ = o.GetInteger("blocks_read", 0);
    noiseSamples_ = o.GetLong("noise_samples", 0);
    math::HdbscanModel m;
    m.metric = options_.metric;
    m.min_samples = o.GetInteger("min_samples", 0);
    m.points.resize(n, d);
    m.core_distances.resize(n);
    std::vector<int32_t> labels(static_cast<size_t>(n));
    m.birth_lambdas.resize(static_cast<size_t>(k));
    m.max_lambdas.resize(static_cast<size_t>(k));
    Eigen::VectorXd sizes;
    if (!fromJson(o.GetArray("sizes"), k, sizes, kDriver, "sizes") ||
        !fromBase64(o.GetString("points"), static_cast<size_t>(m.points.size()), m.points.data(),
                    kDriver, "points") ||
        !fromBase64(o.GetString("core_distances"), static_cast<size_t>(n), m.core_distances.data(),
                    kDriver, "core_distances") ||
        !fromBase64(o.GetString("labels"), labels.size(), labels.data(), kDriver, "labels") ||
        !fromBase64(o.GetString("birth_lambdas"), m.birth_lambdas.size(), m.birth_lambdas.data(),
                    kDriver, "birth_lambdas") ||
        !fromBase64(o.GetString("max_lambdas"), m.max_lambdas.size(), m.max_lambdas.data(), kDriver,
                    "max_lambdas"))
      return false;
    m.labels.assign(labels.begin(), labels.end());
    sizes_.assign(sizes.data(), sizes.data() + sizes.size());
    try {
      predictor_ = std::make_shared<math::HdbscanPredictor>(std::move(m));
    } catch (const std::invalid_argument& e) {
      CPLError(CE_Failure, CPLE_AppDefined, "%s: the saved HDBSCAN model is invalid: %s", kDriver,
               e.what());
      return false;
    }
    return true;
  }

  std::vector<ViewBand> bands() const override {
    const int labels = static_cast<int>(sizes_.size()) + 1;  // clusters, then noise
    ViewBand b;
    b.type = labels <= 255 ? GDT_Byte : GDT_UInt16;
    b.noData = labels <= 255 ? 255 : kMaxClusters;
    b.description = "cluster";
    b.colorInterp = GCI_PaletteIndex;
    for (size_t c = 0; c < sizes_.size(); ++c)
      b.categories.push_back("cluster " + std::to_string(c) + " (" + std::to_string(sizes_[c]) +
                             " sampled cells)");
    b.categories.push_back("noise (" + std::to_string(noiseSamples_) + " sampled cells)");
    b.colors = categoryColors(labels - 1);
    b.colors.push_back({160, 160, 160, 255});  // noise: grey
    std::vector<ViewBand> out{b};
    if (membership_) {
      ViewBand s;
      s.noData = std::numeric_limits<double>::quiet_NaN();
      s.description = "membership strength";
      out.push_back(s);
    }
    return out;
  }

  VrtFunction vrtFunction(int) const override { return {}; }
  std::string vrtUnsupported() const override {
    return "HDBSCAN's prediction needs the fitted sample and tree, which no VRT pixel function "
           "holds";
  }

  void apply(const Eigen::Ref<const Eigen::MatrixXf>& cells,
             Eigen::Ref<Eigen::MatrixXf> out) const override {
    std::vector<int> labels;
    std::vector<float> strengths;
    predictor_->predict(cells, labels, strengths);
    const int k = static_cast<int>(sizes_.size());
    const float noData = k + 1 <= 255 ? 255.f : static_cast<float>(kMaxClusters);
    for (size_t i = 0; i < labels.size(); ++i) {
      const auto r = static_cast<Eigen::Index>(i);
      const bool missing = std::isnan(strengths[i]);
      out(r, 0) = missing         ? noData
                  : labels[i] < 0 ? static_cast<float>(k)
                                  : static_cast<float>(labels[i]);
      if (membership_) out(r, 1) = strengths[i];
    }
  }

  void describe(CPLStringList& r) const override {
    inForce(r, sample_, {"N_CLUSTERS", "N_INIT", "MAX_ITER"});
    r.SetNameValue("FIT_SAMPLES",
                   CPLSPrintf("%lld", static_cast<long long>(predictor_->model().points.rows())));
    r.SetNameValue("FIT_BLOCKS_READ", CPLSPrintf("%d", blocks_));
    r.SetNameValue("CLUSTERS", CPLSPrintf("%zu", sizes_.size()));
    r.SetNameValue("NOISE_LABEL", CPLSPrintf("%zu", sizes_.size()));
    r.SetNameValue("NOISE_SAMPLES", CPLSPrintf("%lld", static_cast<long long>(noiseSamples_)));
    std::string sizes;
    for (const int64_t s : sizes_) sizes += (sizes.empty() ? "" : ",") + std::to_string(s);
    r.SetNameValue("CLUSTER_SIZES", sizes.c_str());
  }

 private:
  int sample_;
  uint64_t seed_;
  bool membership_;
  math::HdbscanOptions options_;
  std::shared_ptr<const math::HdbscanPredictor> predictor_;
  std::vector<int64_t> sizes_;
  int64_t noiseSamples_ = 0;
  int blocks_ = 0;
};

}  // namespace

const ViewKind& clusterView() {
  static const ViewKind kind{
      kDriver,
      "Cluster labels (k-means or HDBSCAN) of vitfeat features",
      "vitcluster",
      "docs/views.md#vitcluster",
      {{"METHOD", "string-select", "kmeans", "Clustering", {"kmeans", "hdbscan"}},
       {"N_CLUSTERS", "int", "8", "kmeans: number of clusters (labels 0..N_CLUSTERS-1)", {}},
       {"SAMPLE",
        "int",
        "10000 (hdbscan: 3000)",
        "Cells used to fit, drawn from whole blocks in a seeded order; 0 or at least the cell "
        "count: every cell (kmeans only)",
        {}},
       {"SEED", "int", "0", "Seed of the sample and of k-means++", {}},
       {"N_INIT", "int", "4", "k-means++ runs; the one with the lowest inertia is kept", {}},
       {"MAX_ITER", "int", "300", "kmeans: Lloyd iterations per run at most", {}},
       {"MIN_CLUSTER_SIZE", "int", "50", "hdbscan: smallest cluster, in sampled cells", {}},
       {"MIN_SAMPLES",
        "int",
        "0",
        "hdbscan: neighbours of the core distance (the cell included); 0: MIN_CLUSTER_SIZE",
        {}},
       {"METRIC", "string-select", "euclidean", "hdbscan: distance", {"euclidean", "cosine"}},
       {"MEMBERSHIP", "boolean", "NO", "hdbscan: add a Float32 membership-strength band", {}}},
      [](ViewOptions& o) -> std::unique_ptr<ViewAlgorithm> {
        const std::string method = o.choice("METHOD", "kmeans", {"kmeans", "hdbscan"});
        o.refuseOtherMethods(method, {{"N_CLUSTERS", "kmeans"},
                                      {"N_INIT", "kmeans"},
                                      {"MAX_ITER", "kmeans"},
                                      {"MIN_CLUSTER_SIZE", "hdbscan"},
                                      {"MIN_SAMPLES", "hdbscan"},
                                      {"METRIC", "hdbscan"},
                                      {"MEMBERSHIP", "hdbscan"}});
        std::unique_ptr<ViewAlgorithm> v;
        if (method == "hdbscan")
          v = std::make_unique<HdbscanView>(o);
        else
          v = std::make_unique<KMeansView>(o);
        return o.ok() ? std::move(v) : nullptr;
      }};
  return kind;
}

}  // namespace vitfeat
