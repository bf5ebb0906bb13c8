// VITPCA: principal components of the features, fitted on a seeded sample;
// with RGB=YES, the first three stretched to a display-ready Byte image.
#include <cpl_error.h>

#include <stdexcept>

#include "driver/views/view_algorithm.h"
#include "pixelfunctions/pca.h"

namespace vitfeat {

namespace {

constexpr const char* kDriver = "VITPCA";

class PcaView final : public ViewAlgorithm {
 public:
  explicit PcaView(ViewOptions& o)
      : components_(o.integer("N_COMPONENTS", 3, 1, 65535)),
        sample_(o.integer("SAMPLE", 10000, 0, 1 << 30)),
        seed_(o.seed("SEED", 0)),
        whiten_(o.flag("WHITEN", false)),
        rgb_(o.flag("RGB", false)) {
    if (rgb_ && o.has("N_COMPONENTS") && components_ != 3)
      o.fail("N_COMPONENTS", o.text("N_COMPONENTS"), "RGB=YES shows exactly 3 components");
    if (rgb_) components_ = 3;
  }

  bool fit(const FeatureSource& source, GDALProgressFunc progress, void* data) override {
    const int d = source.bands();
    if (components_ > d) {
      CPLError(CE_Failure, CPLE_IllegalArg,
               "%s: invalid N_COMPONENTS=%d: the feature source %s has %d bands; at most %d "
               "components%s",
               kDriver, components_, source.name().c_str(), d, d, rgb_ ? " (RGB=YES needs 3)" : "");
      return false;
    }
    Eigen::MatrixXd rows;
    if (!source.sample(sample_, seed_, rows, &blocks_, progress, data)) return false;
    if (rows.rows() < 2 || rows.rows() < components_) {
      CPLError(CE_Failure, CPLE_AppDefined,
               "%s: only %lld cells with data were found in %s (SAMPLE=%d); N_COMPONENTS=%d "
               "needs at least %d",
               kDriver, static_cast<long long>(rows.rows()), source.name().c_str(), sample_,
               components_, std::max(2, components_));
      return false;
    }
    fit_ = math::fitPca(rows, components_, whiten_);
    samples_ = rows.rows();
    if (rgb_) {
      Eigen::MatrixXf projected(rows.rows(), components_);
      math::projectPca(fit_, rows.cast<float>(), projected);
      stretch_ = displayRanges(projected.cast<double>());
    }
    return true;
  }

  CPLJSONObject saveFit() const override {
    CPLJSONObject o;
    o.Add("samples", static_cast<GInt64>(samples_));
    o.Add("blocks_read", blocks_);
    o.Add("mean", toJson(fit_.mean));
    o.Add("components", toJson(fit_.components));
    o.Add("explained_variance", toJson(fit_.explainedVariance));
    o.Add("explained_variance_ratio", toJson(fit_.explainedVarianceRatio));
    o.Add("whiten", fit_.whiten);
    if (rgb_) o.Add("stretch", toJson(stretch_));
    return o;
  }

  bool loadFit(const CPLJSONObject& o, int d) override {
    samples_ = o.GetLong("samples", 0);
    blocks_ = o.GetInteger("blocks_read", 0);
    fit_.whiten = whiten_;
    if (o.GetBool("whiten", false) != whiten_) {
      CPLError(CE_Failure, CPLE_AppDefined, "%s: the saved fit's WHITEN differs from the option",
               kDriver);
      return false;
    }
    if (!fromJson(o.GetArray("mean"), d, fit_.mean, kDriver, "mean") ||
        !fromJson(o.GetArray("components"), components_, d, fit_.components, kDriver,
                  "components") ||
        !fromJson(o.GetArray("explained_variance"), components_, fit_.explainedVariance, kDriver,
                  "explained_variance") ||
        !fromJson(o.GetArray("explained_variance_ratio"), components_, fit_.explainedVarianceRatio,
                  kDriver, "explained_variance_ratio"))
      return false;
    return !rgb_ || fromJson(o.GetArray("stretch"), components_, 2, stretch_, kDriver, "stretch");
  }

  std::vector<ViewBand> bands() const override { return componentBands("PC", components_, rgb_); }

  VrtFunction vrtFunction(int c) const override {
    VrtFunction f{"vitfeat_project", {}};
    f.arguments.SetNameValue("mean", joinNumbers(fit_.mean).c_str());
    f.arguments.SetNameValue("direction", joinNumbers(math::projectionDirection(fit_, c)).c_str());
    if (rgb_)
      f.arguments.SetNameValue("stretch", CPLSPrintf("%.9g,%.9g", stretch_(c, 0), stretch_(c, 1)));
    return f;
  }

  void apply(const Eigen::Ref<const Eigen::MatrixXf>& cells,
             Eigen::Ref<Eigen::MatrixXf> out) const override {
    math::projectPca(fit_, cells, out);
    if (rgb_) stretchColumns(stretch_, out);
  }

  void describe(CPLStringList& r) const override {
    r.SetNameValue("FIT_SAMPLES", CPLSPrintf("%lld", static_cast<long long>(samples_)));
    r.SetNameValue("FIT_BLOCKS_READ", CPLSPrintf("%d", blocks_));
    r.SetNameValue("EXPLAINED_VARIANCE_RATIO", joinNumbers(fit_.explainedVarianceRatio).c_str());
    r.SetNameValue("EXPLAINED_VARIANCE", joinNumbers(fit_.explainedVariance).c_str());
    r.SetNameValue("MEAN", joinNumbers(fit_.mean).c_str());
    for (int c = 0; c < components_; ++c) {
      r.SetNameValue(CPLSPrintf("COMPONENT_%d", c + 1), joinRow(fit_.components, c).c_str());
      if (rgb_)
        r.SetNameValue(CPLSPrintf("STRETCH_%d", c + 1),
                       CPLSPrintf("%.9g,%.9g", stretch_(c, 0), stretch_(c, 1)));
    }
  }

 private:
  int components_;
  int sample_;
  uint64_t seed_;
  bool whiten_;
  bool rgb_;
  math::PcaFit fit_;
  Eigen::MatrixXd stretch_;  // components x (low, high)
  int64_t samples_ = 0;
  int blocks_ = 0;
};

}  // namespace

const ViewKind& pcaView() {
  static const ViewKind kind{
      kDriver,
      "Principal components of vitfeat features",
      "vitpca",
      "docs/views.md#vitpca",
      {{"N_COMPONENTS", "int", "3", "Number of components (bands), at most the source's bands", {}},
       {"SAMPLE",
        "int",
        "10000",
        "Cells used to fit, drawn from whole blocks in a seeded order; 0 or at least the cell "
        "count: every cell",
        {}},
       {"SEED", "int", "0", "Seed of the sample", {}},
       {"WHITEN", "boolean", "NO", "Divide each component by its standard deviation", {}},
       {"RGB",
        "boolean",
        "NO",
        "Three Byte bands (components 1-3 stretched to 1..255 between the sample's 2nd and 98th "
        "percentiles, 0 = no data) shown as a colour image",
        {}}},
      [](ViewOptions& o) -> std::unique_ptr<ViewAlgorithm> {
        auto v = std::make_unique<PcaView>(o);
        return o.ok() ? std::move(v) : nullptr;
      }};
  return kind;
}

}  // namespace vitfeat
