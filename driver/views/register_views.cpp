// The GDAL entry points of the view drivers: one set of plain functions per
// kind (GDAL's callbacks carry no user data), all forwarding to ViewDataset.
#include "driver/views/register_views.h"

#include "driver/c_boundary.h"
#include "driver/views/view_dataset.h"

namespace vitfeat {

namespace {

// guarded(): no C++ exception reaches GDAL's C code.
template <const ViewKind& (*Kind)()>
struct Entry {
  static int identify(GDALOpenInfo* info) {
    return guarded(Kind().driver, FALSE, [&] { return ViewDataset::identify(info, Kind()); });
  }
  static GDALDataset* open(GDALOpenInfo* info) {
    return guarded(Kind().driver, static_cast<GDALDataset*>(nullptr),
                   [&] { return ViewDataset::open(info, Kind()); });
  }
  static GDALDataset* copy(const char* name, GDALDataset* src, int, char** options,
                           GDALProgressFunc progress, void* data) {
    return guarded(Kind().driver, static_cast<GDALDataset*>(nullptr), [&] {
      return ViewDataset::createCopy(Kind(), name, src, options, progress, data);
    });
  }
  static void registerDriver() { ViewDataset::registerDriver(Kind(), open, identify, copy); }
};

}  // namespace

void registerViewDrivers() {
  Entry<pcaView>::registerDriver();
  Entry<clusterView>::registerDriver();
  Entry<similarityView>::registerDriver();
  Entry<classifyView>::registerDriver();
  Entry<umapView>::registerDriver();
}

}  // namespace vitfeat
