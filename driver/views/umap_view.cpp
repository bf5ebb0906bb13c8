// VITUMAP: a UMAP embedding of the features, fitted on a seeded sample; every
// other cell is placed in it as umap-learn's transform does. With RGB=YES, the
// three components stretched to a display-ready Byte image, as VITPCA's.
#include <cpl_error.h>

#include <limits>
#include <stdexcept>

#include "driver/views/view_algorithm.h"
#include "pixelfunctions/umap.h"

namespace vitfeat {

namespace {

constexpr const char* kDriver = "VITUMAP";

class UmapView final : public ViewAlgorithm {
 public:
  explicit UmapView(ViewOptions& o)
      : sample_(o.integer("SAMPLE", 3000, 10, 100000)), rgb_(o.flag("RGB", false)) {
    options_.n_components = o.integer("N_COMPONENTS", 3, 1, 100);
    options_.n_neighbors = o.integer("N_NEIGHBORS", 15, 2, 1000);
    options_.min_dist = o.real("MIN_DIST", 0.1, 0.0, 1.0);
    options_.metric = math::parseMetric(o.choice("METRIC", "euclidean", {"euclidean", "cosine"}));
    options_.n_epochs = o.integer("N_EPOCHS", 0, 0, 100000);
    options_.seed = o.seed("SEED", 0);
    if (rgb_ && o.has("N_COMPONENTS") && options_.n_components != 3)
      o.fail("N_COMPONENTS", o.text("N_COMPONENTS"), "RGB=YES shows exactly 3 components");
    if (rgb_) options_.n_components = 3;
  }

  bool fit(const FeatureSource& source, GDALProgressFunc progress, void* data) override {
    Eigen::MatrixXd rows;
    if (!source.sample(sample_, options_.seed, rows, &blocks_, progress, data)) return false;
    const Eigen::Index needed =
        std::max<Eigen::Index>(options_.n_neighbors, options_.n_components) + 1;
    if (rows.rows() < needed) {
      CPLError(CE_Failure, CPLE_AppDefined,
               "%s: only %lld cells with data were sampled from %s (SAMPLE=%d); N_NEIGHBORS=%d "
               "and N_COMPONENTS=%d need at least %lld",
               kDriver, static_cast<long long>(rows.rows()), source.name().c_str(), sample_,
               options_.n_neighbors, options_.n_components, static_cast<long long>(needed));
      return false;
    }
    if (progress) progress(0.5, "VITUMAP: fitting the embedding", data);
    model_ = math::fitUmap(rows, options_);
    // The display range of each component over the sample's own positions.
    if (rgb_) stretch_ = displayRanges(model_.embedding);
    if (progress) progress(1.0, "VITUMAP: fitted", data);
    return true;
  }

  CPLJSONObject saveFit() const override {
    CPLJSONObject o;
    o.Add("samples", static_cast<GInt64>(model_.points.rows()));
    o.Add("blocks_read", blocks_);
    o.Add("a", model_.a);
    o.Add("b", model_.b);
    o.Add("epochs", model_.epochs);
    o.Add("transform_epochs", model_.transform_epochs);
    // Base64 of little-endian float64, column-major (see docs/views.md).
    o.Add("points", toBase64(model_.points.data(), static_cast<size_t>(model_.points.size())));
    o.Add("embedding",
          toBase64(model_.embedding.data(), static_cast<size_t>(model_.embedding.size())));
    if (rgb_) o.Add("stretch", toJson(stretch_));
    return o;
  }

  bool loadFit(const CPLJSONObject& o, int d) override {
    const Eigen::Index n = o.GetLong("samples", 0);
    if (n <= options_.n_neighbors) {
      CPLError(CE_Failure, CPLE_AppDefined, "%s: the saved fit has %lld samples", kDriver,
               static_cast<long long>(n));
      return false;
    }
    blocks_ = o.GetInteger("blocks_read", 0);
    model_ = math::UmapModel();
    model_.a = o.GetDouble("a", 0);
    model_.b = o.GetDouble("b", 0);
    model_.epochs = o.GetInteger("epochs", 0);
    model_.transform_epochs = o.GetInteger("transform_epochs", 0);
    model_.n_neighbors = options_.n_neighbors;
    model_.metric = options_.metric;
    model_.seed = options_.seed;
    model_.min_dist = options_.min_dist;
    model_.spread = options_.spread;
    model_.points.resize(n, d);
    model_.embedding.resize(n, options_.n_components);
    if (!fromBase64(o.GetString("points"), static_cast<size_t>(model_.points.size()),
                    model_.points.data(), kDriver, "points") ||
        !fromBase64(o.GetString("embedding"), static_cast<size_t>(model_.embedding.size()),
                    model_.embedding.data(), kDriver, "embedding"))
      return false;
    if (!(model_.a > 0 && model_.b > 0 && model_.transform_epochs >= 1)) {
      CPLError(CE_Failure, CPLE_AppDefined, "%s: the saved fit's curve or epochs are invalid",
               kDriver);
      return false;
    }
    return !rgb_ || fromJson(o.GetArray("stretch"), 3, 2, stretch_, kDriver, "stretch");
  }

  std::vector<ViewBand> bands() const override {
    return componentBands("UMAP", options_.n_components, rgb_);
  }

  VrtFunction vrtFunction(int) const override { return {}; }
  std::string vrtUnsupported() const override {
    return "placing a cell in a UMAP embedding needs the fitted sample and an optimisation, "
           "which no VRT pixel function does";
  }

  void apply(const Eigen::Ref<const Eigen::MatrixXf>& cells,
             Eigen::Ref<Eigen::MatrixXf> out) const override {
    math::transformUmap(model_, cells, out);
    if (rgb_) stretchColumns(stretch_, out);
  }

  void describe(CPLStringList& r) const override {
    r.SetNameValue("FIT_SAMPLES", CPLSPrintf("%lld", static_cast<long long>(model_.points.rows())));
    r.SetNameValue("FIT_BLOCKS_READ", CPLSPrintf("%d", blocks_));
    r.SetNameValue("CURVE_A", CPLSPrintf("%.17g", model_.a));
    r.SetNameValue("CURVE_B", CPLSPrintf("%.17g", model_.b));
    r.SetNameValue("EPOCHS", CPLSPrintf("%d", model_.epochs));
    r.SetNameValue("TRANSFORM_EPOCHS", CPLSPrintf("%d", model_.transform_epochs));
    if (rgb_)
      for (int c = 0; c < 3; ++c)
        r.SetNameValue(CPLSPrintf("STRETCH_%d", c + 1),
                       CPLSPrintf("%.9g,%.9g", stretch_(c, 0), stretch_(c, 1)));
  }

 private:
  int sample_;
  bool rgb_;
  math::UmapOptions options_;
  math::UmapModel model_;
  Eigen::MatrixXd stretch_;  // 3 x 2 with RGB=YES
  int blocks_ = 0;
};

}  // namespace

const ViewKind& umapView() {
  static const ViewKind kind{
      kDriver,
      "UMAP embedding of vitfeat features",
      "vitumap",
      "docs/views.md#vitumap",
      {{"N_COMPONENTS", "int", "3", "Embedding dimensions (bands)", {}},
       {"N_NEIGHBORS", "int", "15", "Neighbourhood size of the graph (the cell included)", {}},
       {"MIN_DIST", "float", "0.1", "How tightly the embedding may pack cells, 0 to 1", {}},
       {"METRIC", "string-select", "euclidean", "Feature distance", {"euclidean", "cosine"}},
       {"SAMPLE", "int", "3000", "Cells the embedding is fitted on (seeded, by whole blocks)", {}},
       {"N_EPOCHS",
        "int",
        "0",
        "Optimisation epochs of the fit; 0: 500 (200 past 10000 cells)",
        {}},
       {"SEED", "int", "0", "Seed of the sample and of the optimisation", {}},
       {"RGB",
        "boolean",
        "NO",
        "Three components stretched (2-98 percentiles of the sample) to a Byte RGB image",
        {}}},
      [](ViewOptions& o) -> std::unique_ptr<ViewAlgorithm> {
        auto v = std::make_unique<UmapView>(o);
        return o.ok() ? std::move(v) : nullptr;
      }};
  return kind;
}

}  // namespace vitfeat
