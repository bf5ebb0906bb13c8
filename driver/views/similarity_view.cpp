// VITSIM: cosine similarity of every cell's features to reference features,
// the mean feature of points given as POINTS or taken from a VECTOR dataset;
// with GROUP_BY, one band per class and the index of the most similar class.
#include <cpl_error.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "driver/views/point_features.h"
#include "driver/views/reference_points.h"
#include "driver/views/view_algorithm.h"
#include "pixelfunctions/cosine.h"

namespace vitfeat {

namespace {

constexpr const char* kDriver = "VITSIM";

class SimilarityView final : public ViewAlgorithm {
 public:
  explicit SimilarityView(ViewOptions& o)
      : points_(o.text("POINTS")), pointsSrs_(o.text("POINTS_SRS")) {
    query_.path = o.text("VECTOR");
    query_.layer = o.text("LAYER");
    query_.where = o.text("WHERE");
    query_.groupBy = o.text("GROUP_BY");
    query_.samples = o.integer("SAMPLES", 50, 1, 1000000);
    query_.seed = o.seed("SEED", 0);
    if (points_.empty() == query_.path.empty())
      o.fail("POINTS/VECTOR", points_.empty() ? "(neither)" : "(both)",
             "give the reference as exactly one of POINTS=x,y;x,y;... or VECTOR=<OGR dataset>");
    if (!query_.groupBy.empty() && query_.path.empty())
      o.fail("GROUP_BY", query_.groupBy, "GROUP_BY needs VECTOR (a field of its layer)");
    for (const char* vectorOnly : {"LAYER", "WHERE", "SAMPLES"})
      if (o.has(vectorOnly) && query_.path.empty())
        o.fail(vectorOnly, o.text(vectorOnly), "only used with VECTOR");
    if (o.has("POINTS_SRS") && points_.empty())
      o.fail("POINTS_SRS", pointsSrs_, "only used with POINTS (a VECTOR carries its own CRS)");
  }

  bool fit(const FeatureSource& source, GDALProgressFunc progress, void* data) override {
    const OGRSpatialReference* srs = source.dataset()->GetSpatialRef();
    const auto refs = points_.empty() ? pointsFromVector(query_, srs, kDriver)
                                      : pointsFromText(points_, pointsSrs_, srs, kDriver);
    if (!refs) return false;
    PointFeatures features;
    if (!readPointFeatures(source, *refs, kDriver, features, progress, data)) return false;
    const int d = source.bands();
    const int groups = static_cast<int>(refs->groups.size());
    Eigen::MatrixXd sum = Eigen::MatrixXd::Zero(groups, d);
    counts_.assign(groups, 0);
    for (Eigen::Index r = 0; r < features.rows.rows(); ++r) {
      const int g = features.group[static_cast<size_t>(r)];
      sum.row(g) += features.rows.row(r);
      ++counts_[g];
    }
    const int outside = features.outside, noData = features.noData;
    total_ = static_cast<int>(refs->points.size());
    outside_ = outside;
    noData_ = noData;
    if (outside + noData > 0)
      CPLError(CE_Warning, CPLE_AppDefined,
               "%s: %d of %d reference points ignored: %d outside the raster, %d on no data",
               kDriver, outside + noData, total_, outside, noData);
    for (int g = 0; g < groups; ++g)
      if (counts_[g] == 0) {
        CPLError(CE_Failure, CPLE_AppDefined,
                 "%s: no reference point%s%s lies on data inside %s (%d points given)", kDriver,
                 groups > 1 ? " of class " : "", groups > 1 ? refs->groups[g].c_str() : "",
                 source.name().c_str(), total_);
        return false;
      }
    groups_ = refs->groups;
    references_.resize(groups, d);
    for (int g = 0; g < groups; ++g) references_.row(g) = sum.row(g) / counts_[g];
    for (int g = 0; g < groups; ++g)
      if (references_.row(g).norm() == 0) {
        CPLError(CE_Failure, CPLE_AppDefined,
                 "%s: the reference feature%s%s is all zeros: cosine similarity is undefined",
                 kDriver, groups > 1 ? " of class " : "", refs->groups[g].c_str());
        return false;
      }
    return true;
  }

  std::string fitInputs() const override { return vectorIdentity(query_.path); }

  CPLJSONObject saveFit() const override {
    CPLJSONObject o;
    CPLJSONArray groups, counts;
    for (size_t g = 0; g < groups_.size(); ++g) {
      groups.Add(groups_[g]);
      counts.Add(static_cast<GInt64>(counts_[g]));
    }
    o.Add("groups", groups);
    o.Add("points_used", counts);
    o.Add("points_given", total_);
    o.Add("points_outside", outside_);
    o.Add("points_on_no_data", noData_);
    o.Add("references", toJson(references_));
    return o;
  }

  bool loadFit(const CPLJSONObject& o, int d) override {
    const CPLJSONArray groups = o.GetArray("groups");
    if (!groups.IsValid() || groups.Size() < 1) {
      CPLError(CE_Failure, CPLE_AppDefined, "%s: the saved fit has no groups", kDriver);
      return false;
    }
    groups_.clear();
    for (int g = 0; g < groups.Size(); ++g) groups_.push_back(groups[g].ToString());
    if (query_.groupBy.empty() != (groups_.size() == 1 && groups_[0].empty())) {
      CPLError(CE_Failure, CPLE_AppDefined, "%s: the saved fit's groups do not match GROUP_BY",
               kDriver);
      return false;
    }
    Eigen::VectorXd counts;
    if (!fromJson(o.GetArray("points_used"), groups.Size(), counts, kDriver, "points_used") ||
        !fromJson(o.GetArray("references"), groups.Size(), d, references_, kDriver, "references"))
      return false;
    counts_.assign(counts.data(), counts.data() + counts.size());
    total_ = o.GetInteger("points_given", 0);
    outside_ = o.GetInteger("points_outside", 0);
    noData_ = o.GetInteger("points_on_no_data", 0);
    return true;
  }

  std::vector<ViewBand> bands() const override {
    std::vector<ViewBand> out;
    for (size_t g = 0; g < groups_.size(); ++g) {
      ViewBand b;
      b.noData = std::numeric_limits<double>::quiet_NaN();
      b.description = groups_.size() == 1 && groups_[0].empty() ? "similarity" : groups_[g];
      out.push_back(b);
    }
    if (!query_.groupBy.empty()) {
      ViewBand b;
      b.noData = std::numeric_limits<double>::quiet_NaN();
      b.description = "most_similar";
      b.categories = groups_;
      out.push_back(b);
    }
    return out;
  }

  VrtFunction vrtFunction(int band) const override {
    // Bands 0..groups-1: similarity to each class; then the most similar class.
    if (band < static_cast<int>(groups_.size())) {
      VrtFunction f{"vitfeat_cosine", {}};
      f.arguments.SetNameValue("reference", joinRow(references_, band).c_str());
      return f;
    }
    VrtFunction f{"vitfeat_nearest", {}};
    f.arguments.SetNameValue("centroids", joinRows(references_).c_str());
    f.arguments.SetNameValue("metric", "cosine");
    return f;
  }

  void apply(const Eigen::Ref<const Eigen::MatrixXf>& cells,
             Eigen::Ref<Eigen::MatrixXf> out) const override {
    const Eigen::Index groups = static_cast<Eigen::Index>(groups_.size());
    for (Eigen::Index g = 0; g < groups; ++g)
      math::cosineSimilarity(references_.row(g).transpose(), cells, out.col(g));
    if (query_.groupBy.empty()) return;
    std::vector<int> best;
    math::argmaxRows(out.leftCols(groups), best);
    for (size_t i = 0; i < best.size(); ++i)
      out(static_cast<Eigen::Index>(i), groups) =
          best[i] < 0 ? std::numeric_limits<float>::quiet_NaN() : static_cast<float>(best[i]);
  }

  void describe(CPLStringList& r) const override {
    r.SetNameValue("POINTS_GIVEN", CPLSPrintf("%d", total_));
    r.SetNameValue("POINTS_OUTSIDE", CPLSPrintf("%d", outside_));
    r.SetNameValue("POINTS_ON_NO_DATA", CPLSPrintf("%d", noData_));
    for (size_t g = 0; g < groups_.size(); ++g) {
      const std::string suffix = groups_.size() == 1 ? "" : CPLSPrintf("_%zu", g + 1);
      if (groups_.size() > 1) r.SetNameValue(("CLASS" + suffix).c_str(), groups_[g].c_str());
      r.SetNameValue(("POINTS_USED" + suffix).c_str(),
                     CPLSPrintf("%lld", static_cast<long long>(counts_[g])));
      r.SetNameValue(("REFERENCE" + suffix).c_str(),
                     joinRow(references_, static_cast<Eigen::Index>(g)).c_str());
    }
  }

 private:
  std::string points_, pointsSrs_;
  VectorQuery query_;
  std::vector<std::string> groups_;
  std::vector<int64_t> counts_;
  Eigen::MatrixXd references_;  // groups x d
  int total_ = 0, outside_ = 0, noData_ = 0;
};

}  // namespace

const ViewKind& similarityView() {
  static const ViewKind kind{
      kDriver,
      "Cosine similarity of vitfeat features to reference points",
      "vitsim",
      "docs/views.md#vitsim",
      {{"POINTS",
        "string",
        "",
        "Reference points x,y;x,y;... (their mean feature is the reference)",
        {}},
       {"POINTS_SRS", "string", "raster CRS", "CRS of POINTS (any GDAL SRS definition)", {}},
       {"VECTOR",
        "string",
        "",
        "Reference geometries: any OGR dataset (points, lines, polygons)",
        {}},
       {"LAYER", "string", "first layer", "Layer of VECTOR", {}},
       {"WHERE", "string", "", "Attribute filter on VECTOR's layer (OGR SQL)", {}},
       {"GROUP_BY",
        "string",
        "",
        "Field of VECTOR: one similarity band per distinct value, plus the index of the most "
        "similar one",
        {}},
       {"SAMPLES",
        "int",
        "50",
        "Seeded points drawn per class in its polygons (by area) and lines (by length)",
        {}},
       {"SEED", "int", "0", "Seed of the polygon and line sampling", {}}},
      [](ViewOptions& o) -> std::unique_ptr<ViewAlgorithm> {
        auto v = std::make_unique<SimilarityView>(o);
        return o.ok() ? std::move(v) : nullptr;
      }};
  return kind;
}

}  // namespace vitfeat
