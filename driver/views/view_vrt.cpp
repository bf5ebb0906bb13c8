#include "driver/views/view_vrt.h"

#include <cpl_minixml.h>
#include <cpl_string.h>

#include <cmath>
#include <memory>

#include "driver/descriptor.h"
#include "driver/views/view_dataset.h"

namespace vitfeat {

namespace {

struct XmlDeleter {
  void operator()(CPLXMLNode* n) const { CPLDestroyXMLNode(n); }
};

std::string number(double v) { return std::isnan(v) ? "nan" : CPLSPrintf("%.17g", v); }

CPLXMLNode* element(CPLXMLNode* parent, const char* name, const std::string& text = "") {
  return text.empty() ? CPLCreateXMLNode(parent, CXT_Element, name)
                      : CPLCreateXMLElementAndValue(parent, name, text.c_str());
}

void attribute(CPLXMLNode* node, const char* name, const std::string& value) {
  CPLAddXMLAttributeAndValue(node, name, value.c_str());
}

// The feature band `b` of the source as one SimpleSource.
void addSource(CPLXMLNode* band, const std::string& vrtPath, const FeatureSource& src, int b,
               GDALDataType type) {
  CPLXMLNode* s = element(band, "SimpleSource");
  const std::string name = portablePath(vrtPath, absoluteSource(src.name()));
  CPLXMLNode* file = element(s, "SourceFilename", name);
  const bool relative = CPLIsFilenameRelative(name.c_str()) &&
                        name.find(':') == std::string::npos && !STARTS_WITH(name.c_str(), "/vsi");
  attribute(file, "relativeToVRT", relative ? "1" : "0");
  if (!src.openOptions().empty()) {
    CPLXMLNode* oo = element(s, "OpenOptions");
    for (const auto& [k, v] : src.openOptions()) {
      const std::string value = k == "MODEL" ? portablePath(vrtPath, v) : v;
      attribute(element(oo, "OOI", value), "key", k);
    }
  }
  element(s, "SourceBand", std::to_string(b));
  CPLXMLNode* props = element(s, "SourceProperties");
  attribute(props, "RasterXSize", std::to_string(src.width()));
  attribute(props, "RasterYSize", std::to_string(src.height()));
  attribute(props, "DataType", GDALGetDataTypeName(type));
  attribute(props, "BlockXSize", std::to_string(src.blockWidth()));
  attribute(props, "BlockYSize", std::to_string(src.blockHeight()));
}

}  // namespace

bool writeViewVrt(const std::string& path, ViewDataset& view) {
  const FeatureSource& src = view.source();
  std::unique_ptr<CPLXMLNode, XmlDeleter> root(
      CPLCreateXMLNode(nullptr, CXT_Element, "VRTDataset"));
  attribute(root.get(), "rasterXSize", std::to_string(view.GetRasterXSize()));
  attribute(root.get(), "rasterYSize", std::to_string(view.GetRasterYSize()));
  if (const OGRSpatialReference* srs = view.GetSpatialRef()) {
    char* wkt = nullptr;
    srs->exportToWkt(&wkt);
    CPLXMLNode* node = element(root.get(), "SRS", wkt ? wkt : "");
    CPLFree(wkt);
    const std::vector<int> mapping = srs->GetDataAxisToSRSAxisMapping();
    std::string m;
    for (const int a : mapping) m += (m.empty() ? "" : ",") + std::to_string(a);
    attribute(node, "dataAxisToSRSAxisMapping", m);
  }
  double gt[6];
  if (view.GetGeoTransform(gt) == CE_None) {
    std::string t;
    for (const double v : gt) t += (t.empty() ? "" : ", ") + number(v);
    element(root.get(), "GeoTransform", t);
  }
  bool nonNanNoData = false;
  for (int b = 1; b <= src.bands(); ++b) {
    int has = FALSE;
    const double nd = src.dataset()->GetRasterBand(b)->GetNoDataValue(&has);
    nonNanNoData = nonNanNoData || (has && !std::isnan(nd));
  }
  if (nonNanNoData)
    CPLError(CE_Warning, CPLE_AppDefined,
             "%s: the feature source marks no data with a value other than NaN; the VRT's pixel "
             "functions treat only NaN as no data",
             view.kind().driver);

  const std::vector<ViewBand>& specs = view.bandSpecs();
  for (size_t i = 0; i < specs.size(); ++i) {
    const ViewBand& spec = specs[i];
    CPLXMLNode* band = element(root.get(), "VRTRasterBand");
    attribute(band, "dataType", GDALGetDataTypeName(spec.type));
    attribute(band, "band", std::to_string(i + 1));
    attribute(band, "subClass", "VRTDerivedRasterBand");
    if (!spec.description.empty()) element(band, "Description", spec.description);
    element(band, "NoDataValue", number(spec.noData));
    if (spec.colorInterp != GCI_Undefined)
      element(band, "ColorInterp", GDALGetColorInterpretationName(spec.colorInterp));
    if (!spec.categories.empty()) {
      CPLXMLNode* cats = element(band, "CategoryNames");
      for (const std::string& c : spec.categories) element(cats, "Category", c.empty() ? " " : c);
    }
    if (!spec.colors.empty()) {
      CPLXMLNode* table = element(band, "ColorTable");
      for (const GDALColorEntry& e : spec.colors) {
        CPLXMLNode* entry = element(table, "Entry");
        attribute(entry, "c1", std::to_string(e.c1));
        attribute(entry, "c2", std::to_string(e.c2));
        attribute(entry, "c3", std::to_string(e.c3));
        attribute(entry, "c4", std::to_string(e.c4));
      }
    }
    const VrtFunction function = view.algorithm().vrtFunction(static_cast<int>(i));
    element(band, "PixelFunctionType", function.name);
    CPLXMLNode* args = element(band, "PixelFunctionArguments");
    // The value written where a feature is NaN (no data).
    attribute(args, "nodata", number(spec.noData));
    for (int a = 0; a < function.arguments.size(); ++a) {
      char* key = nullptr;
      const char* value = CPLParseNameValue(function.arguments[a], &key);
      if (key && value) attribute(args, key, value);
      CPLFree(key);
    }
    element(band, "SourceTransferType", "Float32");
    for (int b = 1; b <= src.bands(); ++b)
      addSource(band, path, src, b, src.dataset()->GetRasterBand(b)->GetRasterDataType());
  }
  if (!CPLSerializeXMLTreeToFile(root.get(), path.c_str())) {
    CPLError(CE_Failure, CPLE_FileIO, "%s: cannot write %s", view.kind().driver, path.c_str());
    return false;
  }
  return true;
}

}  // namespace vitfeat
