// Fit and predict times of the derived-view math (pixelfunctions/: HDBSCAN,
// k-means, logistic regression, random forest, UMAP) on synthetic data of the
// sizes a view fits on, wall and CPU seconds of each step, all in one run. The
// math is single-threaded: on a busy machine the CPU time says more than the
// wall time. The data are the generators of the math tests (tests/support/).
//
//   vitfeat_math_bench [--only NAME]... [--list]
//
// --only runs the workloads whose name starts with NAME (repeatable): hdbscan,
// kmeans, logistic, forest, umap-fit, umap-transform ("umap" runs both).
#include <Eigen/Dense>
#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "pixelfunctions/hdbscan.h"
#include "pixelfunctions/kmeans.h"
#include "pixelfunctions/logistic.h"
#include "pixelfunctions/random_forest.h"
#include "pixelfunctions/umap.h"
#include "tests/support/class_centres.h"
#include "tests/support/feature_blobs.h"
#include "tests/support/gaussian_classes.h"

namespace math = vitfeat::math;
namespace test = vitfeat::test;
using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::MatrixXf;

namespace {

struct Timing {
  double wall = 0;
  double cpu = 0;
};

// Wall and process CPU seconds of one call.
template <class F>
Timing timed(F&& fn) {
  const auto start = std::chrono::steady_clock::now();
  const std::clock_t cpuStart = std::clock();
  fn();
  Timing t;
  t.cpu = static_cast<double>(std::clock() - cpuStart) / CLOCKS_PER_SEC;
  t.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return t;
}

void report(const char* name, const std::string& size, const Timing& t, const std::string& note) {
  std::printf("%-16s %-42s %7.3f s wall %7.3f s CPU%s%s\n", name, size.c_str(), t.wall, t.cpu,
              note.empty() ? "" : "  ", note.c_str());
  std::fflush(stdout);
}

std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* fmt, ...) {
  char text[256];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(text, sizeof text, fmt, args);
  va_end(args);
  return text;
}

std::string cpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

std::string loadAverage() {
  std::ifstream in("/proc/loadavg");
  double one = 0, five = 0, fifteen = 0;
  in >> one >> five >> fifteen;
  return in ? format("%.2f %.2f %.2f", one, five, fifteen) : "unknown";
}

// Adjusted Rand index (Hubert & Arabie 1985); every label, -1 included, is one class.
double adjustedRandIndex(const std::vector<int>& a, const std::vector<int>& b) {
  int ka = 0, kb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ka = std::max(ka, a[i] + 2);
    kb = std::max(kb, b[i] + 2);
  }
  MatrixXd joint = MatrixXd::Zero(ka, kb);
  for (size_t i = 0; i < a.size(); ++i) joint(a[i] + 1, b[i] + 1) += 1;
  auto pairs = [](double count) { return count * (count - 1) / 2; };
  const double index = joint.unaryExpr(pairs).sum();
  const double rows = joint.rowwise().sum().unaryExpr(pairs).sum();
  const double cols = joint.colwise().sum().unaryExpr(pairs).sum();
  const double expected = rows * cols / pairs(static_cast<double>(a.size()));
  const double maximum = (rows + cols) / 2;
  return maximum == expected ? 1.0 : (index - expected) / (maximum - expected);
}

// HDBSCAN: twelve blobs in 192 dimensions plus 200 noise samples, then
// approximate prediction of 4096 cells near the blob samples.
void benchHdbscan() {
  const test::FeatureBlobs data = test::featureBlobs(5000, 4800, 192, 77);
  math::HdbscanOptions options;
  options.min_cluster_size = 25;
  math::HdbscanFit fit;
  const Timing fitTime = timed([&] { fit = math::fitHdbscan(data.samples, options); });
  report("hdbscan-fit", "5000 x 192, 12 blobs, min_cluster_size 25", fitTime,
         format("%zu clusters, ARI %.3f", fit.sizes.size(),
                adjustedRandIndex(data.truth, fit.model.labels)));

  const MatrixXf cells = test::cellsNear(data.samples, 4800, 4096, 78);
  const math::HdbscanPredictor predictor(fit.model);
  std::vector<int> labels;
  std::vector<float> strengths;
  const Timing predictTime = timed([&] { predictor.predict(cells, labels, strengths); });
  int clustered = 0;
  for (const int label : labels) clustered += label >= 0;
  report("hdbscan-predict", "4096 cells x 192 against 5000 samples", predictTime,
         format("%d clustered", clustered));
}

void benchKMeans() {
  std::vector<int> sizes;
  for (int c = 0; c < 8; ++c) sizes.push_back(1625 + 250 * c);  // 20000 in all
  const test::Classes data = test::gaussianClasses(sizes, 384, 0.35, 77);
  math::KMeansOptions options;
  options.clusters = 8;
  options.n_init = 4;
  math::KMeansFit fit;
  const Timing t = timed([&] { fit = math::fitKMeans(data.samples, options); });
  report("kmeans-fit", "20000 x 384, k = 8, n_init = 4", t,
         format("%zu clusters, %d iterations in the best run", fit.sizes.size(), fit.iterations));
}

void benchLogistic() {
  const test::Classes data = test::gaussianClasses({600, 600, 500, 500, 400, 400}, 192, 0.15, 12);
  math::LogisticModel model;
  const Timing fitTime = timed([&] { model = math::fitLogistic(data.samples, data.labels, 6); });
  report("logistic-fit", "3000 x 192, 6 classes", fitTime,
         format("%d iterations, gradient %.2g%s", model.iterations, model.gradient,
                model.converged ? "" : ", NOT converged"));
  const MatrixXf cells = data.samples.cast<float>();
  MatrixXd proba;
  const Timing predictTime = timed([&] { math::predictProba(model, cells, proba); });
  report("logistic-predict", "3000 cells x 192", predictTime, "");
}

void benchForest() {
  const test::Classes data = test::gaussianClasses({400, 400, 350, 350, 250, 250}, 192, 0.15, 12);
  math::RandomForestModel model;
  const Timing fitTime = timed([&] {
    model = math::fitRandomForest(data.samples, data.labels, 6, math::RandomForestOptions{});
  });
  size_t nodes = 0;
  for (const math::DecisionTree& tree : model.trees) nodes += static_cast<size_t>(tree.nodes());
  report("forest-fit", "2000 x 192, 6 classes, 100 trees", fitTime, format("%zu nodes", nodes));
  // A 128 x 128 block of cells.
  const test::Classes cells = test::gaussianClasses({4096, 4096, 4096, 4096}, 192, 0.15, 13);
  const MatrixXf block = cells.samples.cast<float>();
  MatrixXd proba;
  const Timing predictTime = timed([&] { math::predictProba(model, block, proba); });
  report("forest-predict", "16384 cells x 192", predictTime, "");
}

void benchUmapFit() {
  const test::ClassCentres classes(10, 192, 1.0, 51);
  std::vector<int> labels;
  const MatrixXd x = classes.draw(3000, 52, labels);
  math::UmapModel model;
  const Timing t = timed([&] { model = math::fitUmap(x, math::UmapOptions{}); });
  report("umap-fit", "3000 x 192, 10 classes, 500 epochs", t,
         model.embedding.allFinite() ? "3 components" : "NON-FINITE embedding");
}

void benchUmapTransform() {
  // The model is a plain struct: a 5000-point one built directly (positions at
  // images of the class centres plus noise) costs no fit, and a transform's
  // cost does not depend on how the positions were found.
  const test::ClassCentres classes(10, 192, 1.0, 51);
  std::vector<int> labels;
  math::UmapModel model;
  model.points = classes.draw(5000, 53, labels);
  model.embedding.resize(5000, 3);
  std::mt19937_64 engine(54);
  auto jitter = [&] { return static_cast<double>(engine() >> 11) * 0x1.0p-53 - 0.5; };
  for (Index i = 0; i < 5000; ++i) {
    const int c = labels[static_cast<size_t>(i)];
    model.embedding.row(i) << 3.0 * (c % 4) + jitter(), 3.0 * (c / 4) + jitter(), jitter();
  }
  std::tie(model.a, model.b) = math::findUmapAbParams(1.0, 0.1);
  model.transform_epochs = 100;  // what a default fit gives
  const MatrixXf cells = classes.draw(4096, 55, labels).cast<float>();
  MatrixXf out(4096, 3);
  const Timing t = timed([&] { math::transformUmap(model, cells, out); });
  report("umap-transform", "4096 cells x 192 against 5000 points", t,
         format("%d epochs%s", model.transform_epochs, out.allFinite() ? "" : ", NON-FINITE"));
}

struct Workload {
  const char* name;
  std::function<void()> run;
};

}  // namespace

int main(int argc, char** argv) {
  const std::vector<Workload> workloads = {
      {"hdbscan", benchHdbscan}, {"kmeans", benchKMeans},    {"logistic", benchLogistic},
      {"forest", benchForest},   {"umap-fit", benchUmapFit}, {"umap-transform", benchUmapTransform},
  };
  std::vector<std::string> only;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--only" && i + 1 < argc) {
      only.push_back(argv[++i]);
    } else if (arg == "--list") {
      for (const Workload& w : workloads) std::printf("%s\n", w.name);
      return 0;
    } else {
      std::fprintf(stderr, "usage: %s [--only NAME]... [--list]\n", argv[0]);
      return 2;
    }
  }
  auto selected = [&](const std::string& name) {
    if (only.empty()) return true;
    for (const std::string& prefix : only)
      if (name.rfind(prefix, 0) == 0) return true;
    return false;
  };
  bool any = false;
  for (const Workload& w : workloads) any = any || selected(w.name);
  if (!any) {
    std::fprintf(stderr, "no workload matches --only (--list names them)\n");
    return 2;
  }

  std::printf("machine: %s, single-threaded math, load average %s\n", cpuModel().c_str(),
              loadAverage().c_str());
  const Timing total = timed([&] {
    for (const Workload& w : workloads)
      if (selected(w.name)) w.run();
  });
  std::printf("total %.1f s wall, %.1f s CPU (data generation included), load average %s\n",
              total.wall, total.cpu, loadAverage().c_str());
  return 0;
}
