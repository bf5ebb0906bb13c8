// The GDAL entry points of the view drivers: one set of plain functions per
// kind (GDAL's callbacks carry no user data), all forwarding to ViewDataset.
#include "driver/views/register_views.h"

#include "driver/views/view_dataset.h"

namespace vitfeat {

namespace {

template <const ViewKind& (*Kind)()>
struct Entry {
  static int identify(GDALOpenInfo* info) { return ViewDataset::identify(info, Kind()); }
  static GDALDataset* open(GDALOpenInfo* info) { return ViewDataset::open(info, Kind()); }
  static GDALDataset* copy(const char* name, GDALDataset* src, int, char** options,
                           GDALProgressFunc progress, void* data) {
    return ViewDataset::createCopy(Kind(), name, src, options, progress, data);
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
