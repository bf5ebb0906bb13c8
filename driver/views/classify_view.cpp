// VITCLASSIFY: a supervised classifier of the features, trained on labelled
// points or polygons of any OGR dataset (random forest, kNN or a logistic
// linear probe), with held-out accuracy figures in the metadata. One Byte
// label band with the classes as category names and a colour table, and
// optionally one probability band per class.
#include <cpl_error.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>

#include "driver/views/point_features.h"
#include "driver/views/reference_points.h"
#include "driver/views/view_algorithm.h"
#include "pixelfunctions/class_metrics.h"
#include "pixelfunctions/knn_classifier.h"
#include "pixelfunctions/logistic.h"
#include "pixelfunctions/random_forest.h"

namespace vitfeat {

namespace {

constexpr const char* kDriver = "VITCLASSIFY";
constexpr int kMaxClasses = 255;  // Byte labels, 255 = no data

// Encoded arrays of a saved fit.
template <typename T>
std::string encodeVector(const std::vector<T>& v) {
  return toBase64(v.data(), v.size());
}

template <typename T>
bool decodeVector(const CPLJSONObject& o, const char* key, size_t count, std::vector<T>& v) {
  v.resize(count);
  return fromBase64(o.GetString(key), count, v.data(), kDriver, key);
}

std::string encodeMatrix(const Eigen::MatrixXd& m) {
  return toBase64(m.data(), static_cast<size_t>(m.size()));
}

bool decodeMatrix(const CPLJSONObject& o, const char* key, Eigen::Index rows, Eigen::Index cols,
                  Eigen::MatrixXd& m) {
  m.resize(rows, cols);
  return fromBase64(o.GetString(key), static_cast<size_t>(m.size()), m.data(), kDriver, key);
}

class ClassifyView final : public ViewAlgorithm {
 public:
  explicit ClassifyView(ViewOptions& o) {
    query_.path = o.text("TRAINING");
    query_.layer = o.text("LAYER");
    query_.where = o.text("WHERE");
    query_.groupBy = o.text("FIELD");
    query_.samples = o.integer("SAMPLES", 50, 1, 1000000);
    query_.seed = o.seed("SEED", 0);
    query_.pathOption = "TRAINING";
    query_.groupByOption = "FIELD";
    if (query_.path.empty())
      o.fail("TRAINING", "(none)", "give the training samples as TRAINING=<OGR dataset>");
    if (query_.groupBy.empty())
      o.fail("FIELD", "(none)", "name the field of TRAINING's layer that holds the class");
    method_ = o.choice("METHOD", "random_forest", {"random_forest", "knn", "logistic"});
    o.refuseOtherMethods(method_, {{"N_TREES", "random_forest"},
                                   {"MAX_DEPTH", "random_forest"},
                                   {"MIN_SAMPLES_LEAF", "random_forest"},
                                   {"MAX_FEATURES", "random_forest"},
                                   {"BOOTSTRAP", "random_forest"},
                                   {"K", "knn"},
                                   {"METRIC", "knn"},
                                   {"C", "logistic"}});
    forest_.n_trees = o.integer("N_TREES", 100, 1, 10000);
    forest_.max_depth = o.integer("MAX_DEPTH", 0, 0, 10000);
    forest_.min_samples_leaf = o.integer("MIN_SAMPLES_LEAF", 1, 1, 1000000);
    forest_.max_features = o.text("MAX_FEATURES", "sqrt");
    forest_.bootstrap = o.flag("BOOTSTRAP", true);
    forest_.seed = query_.seed;
    k_ = o.integer("K", 5, 1, 100000);
    metric_ = o.choice("METRIC", "euclidean", {"euclidean", "cosine"});
    logistic_.C = o.real("C", 1.0, 1e-12, 1e12);
    testFraction_ = o.real("TEST_FRACTION", 0.2, 0.0, 0.9);
    probabilities_ = o.flag("PROBABILITIES", false);
    if (method_ == "random_forest" && o.ok()) {
      const std::string f = forest_.max_features;
      const bool named =
          EQUAL(f.c_str(), "sqrt") || EQUAL(f.c_str(), "log2") || EQUAL(f.c_str(), "all");
      char* end = nullptr;
      const long count = std::strtol(f.c_str(), &end, 10);
      if (!named && (f.empty() || *end != '\0' || count < 1))
        o.fail("MAX_FEATURES", f, "expected sqrt, log2, all or a positive feature count");
    }
  }

  bool fit(const FeatureSource& source, GDALProgressFunc progress, void* data) override {
    const auto refs = pointsFromVector(query_, source.dataset()->GetSpatialRef(), kDriver);
    if (!refs) return false;
    if (refs->groups.size() > static_cast<size_t>(kMaxClasses - 1) + 1) {
      CPLError(CE_Failure, CPLE_AppDefined,
               "%s: FIELD=%s has %zu distinct values; at most %d classes are supported", kDriver,
               query_.groupBy.c_str(), refs->groups.size(), kMaxClasses);
      return false;
    }
    PointFeatures features;
    if (!readPointFeatures(source, *refs, kDriver, features, progress, data)) return false;
    classes_ = refs->groups;
    given_ = features.given;
    outside_ = features.outside;
    noData_ = features.noData;
    if (outside_ + noData_ > 0)
      CPLError(CE_Warning, CPLE_AppDefined,
               "%s: %d of %d training points ignored: %d outside %s, %d on no data", kDriver,
               outside_ + noData_, given_, outside_, source.name().c_str(), noData_);

    // Several points of one class in one cell are one sample: duplicates
    // would weigh that cell more and could sit on both sides of the split.
    std::set<std::pair<int64_t, int>> seen;
    std::vector<Eigen::Index> keep;
    for (Eigen::Index r = 0; r < features.rows.rows(); ++r)
      if (seen.insert(
                  {features.cell[static_cast<size_t>(r)], features.group[static_cast<size_t>(r)]})
              .second)
        keep.push_back(r);
    duplicates_ = static_cast<int>(features.rows.rows()) - static_cast<int>(keep.size());
    Eigen::MatrixXd rows(static_cast<Eigen::Index>(keep.size()), source.bands());
    std::vector<int> labels(keep.size());
    for (size_t i = 0; i < keep.size(); ++i) {
      rows.row(static_cast<Eigen::Index>(i)) = features.rows.row(keep[i]);
      labels[i] = features.group[static_cast<size_t>(keep[i])];
    }
    const int k = static_cast<int>(classes_.size());
    std::vector<int64_t> counts(static_cast<size_t>(k), 0);
    for (const int l : labels) ++counts[static_cast<size_t>(l)];
    for (int c = 0; c < k; ++c)
      if (counts[static_cast<size_t>(c)] < 2) {
        CPLError(CE_Failure, CPLE_AppDefined,
                 "%s: class %s (FIELD=%s) has %lld usable training sample%s inside %s; every "
                 "class needs at least 2 (add points or polygons, or filter it out with WHERE)",
                 kDriver, classes_[static_cast<size_t>(c)].c_str(), query_.groupBy.c_str(),
                 static_cast<long long>(counts[static_cast<size_t>(c)]),
                 counts[static_cast<size_t>(c)] == 1 ? "" : "s", source.name().c_str());
        return false;
      }
    if (k < 2) {
      CPLError(CE_Failure, CPLE_AppDefined,
               "%s: FIELD=%s has a single value (%s) among the training samples; a classifier "
               "needs at least 2 classes",
               kDriver, query_.groupBy.c_str(), classes_[0].c_str());
      return false;
    }

    const math::TrainTestSplit split = math::stratifiedSplit(labels, k, testFraction_, query_.seed);
    Eigen::MatrixXd train(static_cast<Eigen::Index>(split.train.size()), rows.cols());
    std::vector<int> trainLabels;
    for (size_t i = 0; i < split.train.size(); ++i) {
      train.row(static_cast<Eigen::Index>(i)) = rows.row(split.train[i]);
      trainLabels.push_back(labels[static_cast<size_t>(split.train[i])]);
    }
    if (method_ == "random_forest") {
      forest_.seed = query_.seed;
      forestModel_ = math::fitRandomForest(train, trainLabels, k, forest_);
    } else if (method_ == "knn") {
      if (k_ > train.rows()) {
        CPLError(CE_Failure, CPLE_IllegalArg,
                 "%s: invalid K=%d: only %lld training samples (after holding out "
                 "TEST_FRACTION=%g); use at most K=%lld",
                 kDriver, k_, static_cast<long long>(train.rows()), testFraction_,
                 static_cast<long long>(train.rows()));
        return false;
      }
      knnModel_ = math::fitKnn(train, trainLabels, k, k_, math::parseMetric(metric_));
    } else {
      logisticModel_ = math::fitLogistic(train, trainLabels, k, logistic_);
    }
    trainSamples_ = static_cast<int64_t>(split.train.size());
    testSamples_ = static_cast<int64_t>(split.test.size());
    if (!split.test.empty()) {
      // The held-out cells, through the same apply() every block goes through.
      Eigen::MatrixXf cells(static_cast<Eigen::Index>(split.test.size()), rows.cols());
      std::vector<int> truth;
      for (size_t i = 0; i < split.test.size(); ++i) {
        cells.row(static_cast<Eigen::Index>(i)) = rows.row(split.test[i]).cast<float>();
        truth.push_back(labels[static_cast<size_t>(split.test[i])]);
      }
      std::vector<int> predicted;
      predictLabels(cells, predicted);
      metrics_ = math::classificationMetrics(truth, predicted, k);
      heldOut_.clear();
      for (size_t i = 0; i < split.test.size(); ++i) {
        const int64_t cell = features.cell[static_cast<size_t>(keep[split.test[i]])];
        heldOut_.push_back({cell % source.width(), cell / source.width(), truth[i]});
      }
    }
    return true;
  }

  std::string fitInputs() const override { return vectorIdentity(query_.path); }

  CPLJSONObject saveFit() const override {
    CPLJSONObject o;
    CPLJSONArray classes;
    for (const std::string& c : classes_) classes.Add(c);
    o.Add("classes", classes);
    o.Add("method", method_);
    o.Add("points_given", given_);
    o.Add("points_outside", outside_);
    o.Add("points_on_no_data", noData_);
    o.Add("duplicates", duplicates_);
    o.Add("train_samples", static_cast<GInt64>(trainSamples_));
    o.Add("test_samples", static_cast<GInt64>(testSamples_));
    if (testSamples_ > 0) {
      CPLJSONObject m;
      m.Add("accuracy", metrics_.accuracy);
      CPLJSONArray confusion;
      for (Eigen::Index t = 0; t < metrics_.confusion.rows(); ++t) {
        CPLJSONArray row;
        for (Eigen::Index p = 0; p < metrics_.confusion.cols(); ++p)
          row.Add(static_cast<GInt64>(metrics_.confusion(t, p)));
        confusion.Add(row);
      }
      m.Add("confusion", confusion);
      // Which cells were held out, so that anyone can check the figures.
      CPLJSONArray heldOut;
      for (const auto& [x, y, c] : heldOut_) {
        CPLJSONArray cell;
        cell.Add(static_cast<GInt64>(x));
        cell.Add(static_cast<GInt64>(y));
        cell.Add(c);
        heldOut.Add(cell);
      }
      m.Add("held_out_x_y_class", heldOut);
      o.Add("metrics", m);
    }
    CPLJSONObject model;
    // Arrays are base64 of little-endian float64 / int32 (see docs/views.md).
    if (method_ == "random_forest") {
      model.Add("features", forestModel_.features);
      CPLJSONArray trees;
      for (const math::DecisionTree& t : forestModel_.trees) {
        CPLJSONObject tree;
        tree.Add("nodes", t.nodes());
        tree.Add("feature", encodeVector(t.feature));
        tree.Add("threshold", encodeVector(t.threshold));
        tree.Add("left", encodeVector(t.left));
        tree.Add("right", encodeVector(t.right));
        tree.Add("value", encodeVector(t.value));
        trees.Add(tree);
      }
      model.Add("trees", trees);
    } else if (method_ == "knn") {
      model.Add("samples", static_cast<GInt64>(knnModel_.samples.rows()));
      model.Add("training", encodeMatrix(knnModel_.samples));
      std::vector<int32_t> labels(knnModel_.labels.begin(), knnModel_.labels.end());
      model.Add("labels", encodeVector(labels));
    } else {
      model.Add("mean", encodeMatrix(logisticModel_.mean));
      model.Add("scale", encodeMatrix(logisticModel_.scale));
      model.Add("weights", encodeMatrix(logisticModel_.weights));
      model.Add("intercepts", encodeMatrix(logisticModel_.intercepts));
      model.Add("iterations", logisticModel_.iterations);
      model.Add("converged", logisticModel_.converged);
    }
    o.Add("model", model);
    return o;
  }

  bool loadFit(const CPLJSONObject& o, int d) override {
    const CPLJSONArray classes = o.GetArray("classes");
    if (!classes.IsValid() || classes.Size() < 2 || classes.Size() > kMaxClasses ||
        o.GetString("method") != method_) {
      CPLError(CE_Failure, CPLE_AppDefined,
               "%s: the saved fit has no valid class list or another METHOD", kDriver);
      return false;
    }
    classes_.clear();
    for (int c = 0; c < classes.Size(); ++c) classes_.push_back(classes[c].ToString());
    const int k = static_cast<int>(classes_.size());
    given_ = o.GetInteger("points_given", 0);
    outside_ = o.GetInteger("points_outside", 0);
    noData_ = o.GetInteger("points_on_no_data", 0);
    duplicates_ = o.GetInteger("duplicates", 0);
    trainSamples_ = o.GetLong("train_samples", 0);
    testSamples_ = o.GetLong("test_samples", 0);
    metrics_ = math::ClassificationMetrics();
    if (testSamples_ > 0) {
      const CPLJSONObject m = o.GetObj("metrics");
      metrics_.accuracy = m.GetDouble("accuracy", NAN);
      const CPLJSONArray confusion = m.GetArray("confusion");
      if (!confusion.IsValid() || confusion.Size() != k) {
        CPLError(CE_Failure, CPLE_AppDefined, "%s: the saved fit's confusion matrix is not %dx%d",
                 kDriver, k, k);
        return false;
      }
      std::vector<int> truth, predicted;
      for (int t = 0; t < k; ++t) {
        const CPLJSONArray row = confusion[t].ToArray();
        GInt64 rowTotal = 0;
        for (int p = 0; row.IsValid() && p < row.Size(); ++p) {
          const GInt64 n = row[p].ToLong(-1);
          rowTotal = n < 0 || rowTotal < 0 ? -1 : rowTotal + n;
        }
        // Counts that do not add up to the held-out samples are a damaged file
        // (and huge ones would exhaust memory below).
        if (!row.IsValid() || row.Size() != k || rowTotal < 0 ||
            rowTotal > testSamples_ - static_cast<GInt64>(truth.size())) {
          CPLError(CE_Failure, CPLE_AppDefined,
                   "%s: the saved fit's confusion matrix row %d is not %d counts adding up to at "
                   "most test_samples=%lld",
                   kDriver, t, k, static_cast<long long>(testSamples_));
          return false;
        }
        for (int p = 0; p < k; ++p)
          for (GInt64 n = row[p].ToLong(); n > 0; --n) {
            truth.push_back(t);
            predicted.push_back(p);
          }
      }
      heldOut_.clear();
      const CPLJSONArray held = m.GetArray("held_out_x_y_class");
      for (int i = 0; held.IsValid() && i < held.Size(); ++i) {
        const CPLJSONArray cell = held[i].ToArray();
        if (cell.Size() == 3)
          heldOut_.push_back({cell[0].ToLong(), cell[1].ToLong(), cell[2].ToInteger()});
      }
      // Every figure follows from the confusion matrix.
      if (!truth.empty()) metrics_ = math::classificationMetrics(truth, predicted, k);
    }
    const CPLJSONObject model = o.GetObj("model");
    try {
      if (method_ == "random_forest") {
        forestModel_ = math::RandomForestModel();
        forestModel_.classes = k;
        forestModel_.features = model.GetInteger("features", -1);
        const CPLJSONArray trees = model.GetArray("trees");
        if (forestModel_.features != d || !trees.IsValid() || trees.Size() < 1) {
          CPLError(CE_Failure, CPLE_AppDefined,
                   "%s: the saved forest is for %d features (the source has %d) or has no trees",
                   kDriver, forestModel_.features, d);
          return false;
        }
        for (int i = 0; i < trees.Size(); ++i) {
          const CPLJSONObject t = trees[i];
          const int nodes = t.GetInteger("nodes", 0);
          if (nodes < 1) throw std::invalid_argument("tree " + std::to_string(i) + " has no nodes");
          math::DecisionTree tree;
          const size_t n = static_cast<size_t>(nodes);
          if (!decodeVector(t, "feature", n, tree.feature) ||
              !decodeVector(t, "threshold", n, tree.threshold) ||
              !decodeVector(t, "left", n, tree.left) || !decodeVector(t, "right", n, tree.right) ||
              !decodeVector(t, "value", n * static_cast<size_t>(k), tree.value))
            return false;
          forestModel_.trees.push_back(std::move(tree));
        }
        math::validateRandomForest(forestModel_);
      } else if (method_ == "knn") {
        const Eigen::Index n = model.GetLong("samples", 0);
        std::vector<int32_t> labels;
        if (n < 1) throw std::invalid_argument("no training samples");
        if (!decodeMatrix(model, "training", n, d, knnModel_.samples) ||
            !decodeVector(model, "labels", static_cast<size_t>(n), labels))
          return false;
        knnModel_.labels.assign(labels.begin(), labels.end());
        knnModel_.classes = k;
        knnModel_.k = k_;
        knnModel_.metric = math::parseMetric(metric_);
        math::validateKnn(knnModel_);
      } else {
        logisticModel_ = math::LogisticModel();
        logisticModel_.classes = k;
        Eigen::MatrixXd mean, scale, intercepts;
        if (!decodeMatrix(model, "mean", d, 1, mean) ||
            !decodeMatrix(model, "scale", d, 1, scale) ||
            !decodeMatrix(model, "weights", k, d, logisticModel_.weights) ||
            !decodeMatrix(model, "intercepts", k, 1, intercepts))
          return false;
        logisticModel_.mean = mean.col(0);
        logisticModel_.scale = scale.col(0);
        logisticModel_.intercepts = intercepts.col(0);
        logisticModel_.iterations = model.GetInteger("iterations", 0);
        logisticModel_.converged = model.GetBool("converged", false);
        math::validateLogistic(logisticModel_);
      }
    } catch (const std::invalid_argument& e) {
      CPLError(CE_Failure, CPLE_AppDefined, "%s: the saved model is invalid: %s", kDriver,
               e.what());
      return false;
    }
    return true;
  }

  std::vector<ViewBand> bands() const override {
    const int k = static_cast<int>(classes_.size());
    ViewBand label;
    label.type = GDT_Byte;
    label.noData = kMaxClasses;
    label.description = "class";
    label.colorInterp = GCI_PaletteIndex;
    label.categories = classes_;
    label.colors = categoryColors(k);
    std::vector<ViewBand> out{label};
    if (probabilities_)
      for (int c = 0; c < k; ++c) {
        ViewBand p;
        p.noData = std::numeric_limits<double>::quiet_NaN();
        p.description = "probability " + classes_[static_cast<size_t>(c)];
        out.push_back(p);
      }
    return out;
  }

  VrtFunction vrtFunction(int) const override { return {}; }
  std::string vrtUnsupported() const override {
    return "a trained classifier (METHOD=" + method_ + ") has no VRT pixel function";
  }

  void apply(const Eigen::Ref<const Eigen::MatrixXf>& cells,
             Eigen::Ref<Eigen::MatrixXf> out) const override {
    Eigen::MatrixXd proba;
    predictProbabilities(cells, proba);
    std::vector<int> labels;
    math::argmaxLabels(proba, labels);
    for (size_t i = 0; i < labels.size(); ++i)
      out(static_cast<Eigen::Index>(i), 0) =
          labels[i] < 0 ? static_cast<float>(kMaxClasses) : static_cast<float>(labels[i]);
    if (probabilities_) out.rightCols(proba.cols()) = proba.cast<float>();
  }

  void describe(CPLStringList& r) const override {
    const int k = static_cast<int>(classes_.size());
    std::string names;
    for (const std::string& c : classes_) names += (names.empty() ? "" : ",") + c;
    r.SetNameValue("CLASSES", names.c_str());
    r.SetNameValue("TRAINING_POINTS_GIVEN", CPLSPrintf("%d", given_));
    r.SetNameValue("TRAINING_POINTS_OUTSIDE", CPLSPrintf("%d", outside_));
    r.SetNameValue("TRAINING_POINTS_ON_NO_DATA", CPLSPrintf("%d", noData_));
    r.SetNameValue("TRAINING_DUPLICATES", CPLSPrintf("%d", duplicates_));
    r.SetNameValue("TRAIN_SAMPLES", CPLSPrintf("%lld", static_cast<long long>(trainSamples_)));
    r.SetNameValue("TEST_SAMPLES", CPLSPrintf("%lld", static_cast<long long>(testSamples_)));
    if (method_ == "logistic")
      r.SetNameValue("LOGISTIC_CONVERGED", logisticModel_.converged ? "YES" : "NO");
    if (testSamples_ == 0) return;
    r.SetNameValue("OVERALL_ACCURACY", CPLSPrintf("%.17g", metrics_.accuracy));
    std::string confusion;
    for (int t = 0; t < k; ++t) {
      for (int p = 0; p < k; ++p)
        confusion += CPLSPrintf("%s%lld", p ? "," : (t ? ";" : ""),
                                static_cast<long long>(metrics_.confusion(t, p)));
    }
    r.SetNameValue("CONFUSION_MATRIX", confusion.c_str());
    for (int c = 0; c < k; ++c) {
      const size_t i = static_cast<size_t>(c);
      r.SetNameValue(CPLSPrintf("CLASS_%d_NAME", c), classes_[i].c_str());
      r.SetNameValue(CPLSPrintf("CLASS_%d_PRECISION", c),
                     CPLSPrintf("%.17g", metrics_.precision[i]));
      r.SetNameValue(CPLSPrintf("CLASS_%d_RECALL", c), CPLSPrintf("%.17g", metrics_.recall[i]));
      r.SetNameValue(CPLSPrintf("CLASS_%d_F1", c), CPLSPrintf("%.17g", metrics_.f1[i]));
      r.SetNameValue(CPLSPrintf("CLASS_%d_SUPPORT", c),
                     CPLSPrintf("%lld", static_cast<long long>(metrics_.support[i])));
    }
  }

 private:
  void predictProbabilities(const Eigen::Ref<const Eigen::MatrixXf>& cells,
                            Eigen::MatrixXd& proba) const {
    if (method_ == "random_forest")
      math::predictProba(forestModel_, cells, proba);
    else if (method_ == "knn")
      math::predictProba(knnModel_, cells, proba);
    else
      math::predictProba(logisticModel_, cells, proba);
  }

  void predictLabels(const Eigen::Ref<const Eigen::MatrixXf>& cells,
                     std::vector<int>& labels) const {
    Eigen::MatrixXd proba;
    predictProbabilities(cells, proba);
    math::argmaxLabels(proba, labels);
  }

  VectorQuery query_;
  std::string method_;
  math::RandomForestOptions forest_;
  int k_ = 5;
  std::string metric_;
  math::LogisticOptions logistic_;
  double testFraction_ = 0.2;
  bool probabilities_ = false;

  std::vector<std::string> classes_;
  int given_ = 0, outside_ = 0, noData_ = 0, duplicates_ = 0;
  int64_t trainSamples_ = 0, testSamples_ = 0;
  math::ClassificationMetrics metrics_;
  struct HeldOut {
    int64_t x, y;
    int label;
  };
  std::vector<HeldOut> heldOut_;  // cells of the test part, with their class
  math::RandomForestModel forestModel_;
  math::KnnModel knnModel_;
  math::LogisticModel logisticModel_;
};

}  // namespace

const ViewKind& classifyView() {
  static const ViewKind kind{
      kDriver,
      "Supervised classification of vitfeat features",
      "vitclass",
      "docs/views.md#vitclassify",
      {{"TRAINING",
        "string",
        "",
        "Training samples: any OGR dataset of points (taken at their cell), polygons or lines "
        "(sampled)",
        {}},
       {"LAYER", "string", "first layer", "Layer of TRAINING", {}},
       {"WHERE", "string", "", "Attribute filter on TRAINING's layer (OGR SQL)", {}},
       {"FIELD", "string", "", "Field holding the class (string or integer values)", {}},
       {"SAMPLES",
        "int",
        "50",
        "Seeded points drawn per class in its polygons (spread by area) and lines",
        {}},
       {"METHOD",
        "string-select",
        "random_forest",
        "Classifier",
        {"random_forest", "knn", "logistic"}},
       {"N_TREES", "int", "100", "random_forest: number of trees", {}},
       {"MAX_DEPTH", "int", "0", "random_forest: deepest split level, 0 = unlimited", {}},
       {"MIN_SAMPLES_LEAF", "int", "1", "random_forest: samples each leaf keeps at least", {}},
       {"MAX_FEATURES",
        "string",
        "sqrt",
        "random_forest: features tried per split: sqrt, log2, all or a count",
        {}},
       {"BOOTSTRAP",
        "boolean",
        "YES",
        "random_forest: each tree on a bootstrap sample (NO: on every training sample)",
        {}},
       {"K", "int", "5", "knn: neighbours that vote", {}},
       {"METRIC", "string-select", "euclidean", "knn: distance", {"euclidean", "cosine"}},
       {"C", "float", "1", "logistic: inverse L2 penalty strength (scikit-learn's C)", {}},
       {"TEST_FRACTION",
        "float",
        "0.2",
        "Fraction of each class held out (stratified, seeded) for the accuracy figures; 0: none",
        {}},
       {"SEED", "int", "0", "Seed of the polygon sampling, the split and the forest", {}},
       {"PROBABILITIES", "boolean", "NO", "Add one Float32 probability band per class", {}}},
      [](ViewOptions& o) -> std::unique_ptr<ViewAlgorithm> {
        auto v = std::make_unique<ClassifyView>(o);
        return o.ok() ? std::move(v) : nullptr;
      }};
  return kind;
}

}  // namespace vitfeat
