#include "driver/views/view_dataset.h"

#include <cpl_conv.h>
#include <cpl_string.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>

#include "driver/descriptor.h"
#include "driver/views/fit_store.h"
#include "driver/views/view_descriptor.h"
#include "driver/views/view_vrt.h"
#include "models/sha256.h"

namespace vitfeat {

namespace {

std::string prefixOf(const ViewKind& kind) { return std::string(kind.driver) + ":"; }

int CPL_STDCALL stderrProgress(double done, const char* message, void*) {
  // Ten steps per task, one line each: readable in logs, silent in between.
  static int lastStep = -1;
  const int step = static_cast<int>(done * 10 + 1e-9);
  if (done <= 0) lastStep = -1;
  if (step != lastStep) {
    lastStep = step;
    std::fprintf(stderr, "%3d%% %s\n", step * 10, message ? message : "");
    std::fflush(stderr);
  }
  return TRUE;
}

std::string optionsText(const OptionMap& options) {
  std::string s;
  for (const auto& [k, v] : options) s += (s.empty() ? "" : " ") + k + "=" + v;
  return s;
}

}  // namespace

GDALProgressFunc configuredProgress() {
  return CPLTestBool(CPLGetConfigOption("VITFEAT_PROGRESS", "NO")) ? stderrProgress
                                                                   : GDALDummyProgress;
}

int ViewDataset::identify(GDALOpenInfo* info, const ViewKind& kind) {
  if (STARTS_WITH_CI(info->pszFilename, prefixOf(kind).c_str())) return TRUE;
  return EQUAL(CPLGetExtension(info->pszFilename), kind.extension) &&
         looksLikeViewDescriptor(reinterpret_cast<const char*>(info->pabyHeader),
                                 info->nHeaderBytes, kind.driver);
}

GDALDataset* ViewDataset::open(GDALOpenInfo* info, const ViewKind& kind) {
  if (!identify(info, kind)) return nullptr;
  try {
    if (info->eAccess == GA_Update && STARTS_WITH_CI(info->pszFilename, prefixOf(kind).c_str())) {
      CPLError(CE_Failure, CPLE_NotSupported,
               "%s: views are read-only (a descriptor can be opened for update, to build "
               "external overviews with gdaladdo)",
               kind.driver);
      return nullptr;
    }
    std::unique_ptr<ViewDataset> ds(new ViewDataset());
    ds->kind_ = &kind;
    std::string sourceName;
    OptionMap all, sourceOptions;
    std::optional<CPLJSONObject> savedFit;
    OptionMap savedOptions;
    const std::string prefix = prefixOf(kind);
    if (STARTS_WITH_CI(info->pszFilename, prefix.c_str())) {
      sourceName = info->pszFilename + prefix.size();
      if (sourceName.empty()) {
        CPLError(CE_Failure, CPLE_OpenFailed, "%s: expected %s<feature raster>", kind.driver,
                 prefix.c_str());
        return nullptr;
      }
    } else {
      auto d = readViewDescriptor(info->pszFilename, kind.driver);
      if (!d) return nullptr;
      sourceName = d->source;
      sourceOptions = d->sourceOptions;
      all = d->options;
      savedOptions = d->options;
      if (d->fit.IsValid() && !d->fit.GetChildren().empty()) savedFit = d->fit;
      ds->descriptorPath_ = info->pszFilename;
    }
    for (const char* const* o = info->papszOpenOptions; o && *o; ++o) {
      char* key = nullptr;
      const char* value = CPLParseNameValue(*o, &key);
      if (key && value) all[CPLString(key).toupper()] = value;
      CPLFree(key);
    }
    OptionMap passOn;
    splitOptions(all, kind.options, &ds->ownOptions_, &passOn);
    for (const auto& [k, v] : passOn) sourceOptions[k] = v;

    ViewOptions options(kind.driver, ds->ownOptions_);
    ds->algorithm_ = kind.create(options);
    if (!ds->algorithm_ || !options.ok()) return nullptr;
    ds->source_ = FeatureSource::open(kind.driver, sourceName, sourceOptions);
    if (!ds->source_) return nullptr;
    // A descriptor's fit is used only with the options it was fitted with.
    if (savedFit && savedOptions != ds->ownOptions_) savedFit.reset();
    if (!ds->obtainFit(savedFit)) return nullptr;

    CPLStringList& r = ds->record_;
    r.SetNameValue("SOURCE", sourceName.c_str());
    if (!sourceOptions.empty())
      r.SetNameValue("SOURCE_OPTIONS", optionsText(sourceOptions).c_str());
    for (const OptionSpec& spec : kind.options) {
      const auto it = ds->ownOptions_.find(spec.name);
      r.SetNameValue(spec.name,
                     it != ds->ownOptions_.end() ? it->second.c_str() : spec.defaultValue);
    }
    ds->algorithm_->describe(r);
    ds->specs_ = ds->algorithm_->bands();
    ds->createBands();
    // The same fit over each overview level of the source.
    const int levels = ds->source_->overviewCount();
    for (int i = 0; i < levels; ++i) {
      std::unique_ptr<ViewDataset> ov(new ViewDataset());
      ov->kind_ = &kind;
      ov->source_ = ds->source_->overview(i);
      ov->algorithm_ = ds->algorithm_;
      ov->ownOptions_ = ds->ownOptions_;
      ov->specs_ = ds->specs_;
      ov->record_ = ds->record_;
      ov->createBands();
      ov->initSideFiles("", GA_ReadOnly);
      ov->SetDescription(CPLSPrintf("%s (overview %d)", info->pszFilename, i + 1));
      ds->overviews_.push_back(std::move(ov));
    }
    ds->SetDescription(info->pszFilename);
    // Statistics, histograms and gdaladdo's .ovr live beside a descriptor; a
    // <driver>:<source> name is not a file and has none.
    ds->initSideFiles(ds->descriptorPath_, info->eAccess);
    return ds.release();
  } catch (const std::exception& e) {
    CPLError(CE_Failure, CPLE_AppDefined, "%s: %s", kind.driver, e.what());
    return nullptr;
  }
}

void ViewDataset::createBands() {
  nRasterXSize = source_->width();
  nRasterYSize = source_->height();
  for (size_t b = 0; b < specs_.size(); ++b)
    SetBand(static_cast<int>(b) + 1,
            new ViewRasterBand(this, static_cast<int>(b) + 1, specs_[b], source_->blockWidth(),
                               source_->blockHeight()));
  // GDAL's whole-raster copy then reads every band of a swath at once.
  GDALDataset::SetMetadataItem("INTERLEAVE", "PIXEL", "IMAGE_STRUCTURE");
}

bool ViewDataset::obtainFit(const std::optional<CPLJSONObject>& saved) {
  const int d = source_->bands();
  const std::string signature = source_->signature();
  // A view over this view keys its own fit on this (the files behind the
  // source are not in this dataset's file list).
  Sha256 h;
  h.update(signature.data(), signature.size());
  record_.SetNameValue("SOURCE_SIGNATURE_SHA256", Sha256::hex(h.digest()).c_str());
  if (saved) {
    CPLErrorReset();
    CPLPushErrorHandler(CPLQuietErrorHandler);
    const bool loaded = algorithm_->loadFit(*saved, d);
    CPLPopErrorHandler();
    if (!loaded) {
      std::string why = CPLGetLastErrorMsg();
      const std::string prefix = std::string(kind_->driver) + ": ";
      if (why.compare(0, prefix.size(), prefix) == 0) why.erase(0, prefix.size());
      CPLError(CE_Failure, CPLE_AppDefined,
               "%s: the fit saved in %s cannot be used: %s (remove its \"fit\" to fit again)",
               kind_->driver, descriptorPath_.c_str(),
               why.empty() ? "it does not match the view's options and source" : why.c_str());
      return false;
    }
    record_.SetNameValue("FIT_FROM", "descriptor");
    return true;
  }
  const std::string key = std::string(kind_->driver) + "|" + optionsText(ownOptions_) + "|" +
                          signature + "|" + algorithm_->fitInputs();
  if (const auto cached = findFit(key)) {
    CPLJSONDocument doc;
    if (doc.LoadMemory(*cached)) {
      CPLPushErrorHandler(CPLQuietErrorHandler);
      const bool ok = algorithm_->loadFit(doc.GetRoot(), d);
      CPLPopErrorHandler();
      if (ok) {
        record_.SetNameValue("FIT_FROM", "cache");
        return true;
      }
    }
    CPLError(CE_Warning, CPLE_AppDefined, "%s: ignoring an unreadable cached fit; fitting again",
             kind_->driver);
  }
  if (!algorithm_->fit(*source_, configuredProgress(), nullptr)) return false;
  storeFit(key, algorithm_->saveFit().Format(CPLJSONObject::PrettyFormat::Plain));
  record_.SetNameValue("FIT_FROM", "sample");
  return true;
}

GDALDataset* ViewDataset::createCopy(const ViewKind& kind, const char* filename, GDALDataset* src,
                                     char** options, GDALProgressFunc progress,
                                     void* progressData) {
  try {
    auto* view = dynamic_cast<ViewDataset*>(src);
    if (!view || view->kind_ != &kind) {
      CPLError(CE_Failure, CPLE_NotSupported,
               "%s: CreateCopy writes a descriptor (or a VRT) of a %s view; %s is not one (open "
               "%s:<feature raster>, and use no band, window or resampling options in "
               "gdal_translate)",
               kind.driver, kind.driver, copySourceName(src).c_str(), kind.driver);
      return nullptr;
    }
    const char* format = CSLFetchNameValueDef(options, "FORMAT", "");
    const bool vrt = EQUAL(format, "VRT") || EQUAL(CPLGetExtension(filename), "vrt");
    if (!vrt && format[0] && !EQUAL(format, "DESCRIPTOR")) {
      CPLError(CE_Failure, CPLE_IllegalArg, "%s: invalid FORMAT=%s: expected DESCRIPTOR or VRT",
               kind.driver, format);
      return nullptr;
    }
    if (vrt) {
      const std::string why = view->algorithm_->vrtUnsupported();
      if (!why.empty()) {
        CPLError(CE_Failure, CPLE_NotSupported,
                 "%s: cannot write %s as a VRT: %s; write a descriptor (.%s) instead, or "
                 "materialise the view with gdal_translate -of GTiff",
                 kind.driver, filename, why.c_str(), kind.extension);
        return nullptr;
      }
      if (!writeViewVrt(filename, *view)) return nullptr;
    } else {
      ViewDescriptor d;
      d.driver = kind.driver;
      d.source = view->source_->name();
      d.sourceOptions = view->source_->openOptions();
      d.options = view->ownOptions_;
      d.fit = view->algorithm_->saveFit();
      if (!writeViewDescriptor(filename, d)) return nullptr;
    }
    if (progress) progress(1.0, nullptr, progressData);
    return GDALDataset::Open(filename, GDAL_OF_RASTER | GDAL_OF_VERBOSE_ERROR);
  } catch (const std::exception& e) {
    CPLError(CE_Failure, CPLE_AppDefined, "%s: %s", kind.driver, e.what());
    return nullptr;
  }
}

void ViewDataset::registerDriver(const ViewKind& kind, OpenFn open, IdentifyFn identify,
                                 CopyFn copy) {
  if (GDALGetDriverByName(kind.driver) != nullptr) return;
  auto* driver = new GDALDriver();
  driver->SetDescription(kind.driver);
  driver->SetMetadataItem(GDAL_DCAP_RASTER, "YES");
  driver->SetMetadataItem(GDAL_DMD_LONGNAME, kind.longName);
  driver->SetMetadataItem(GDAL_DMD_EXTENSION, kind.extension);
  driver->SetMetadataItem(GDAL_DMD_CONNECTION_PREFIX, prefixOf(kind).c_str());
  driver->SetMetadataItem(GDAL_DMD_HELPTOPIC, kind.helpTopic);
  // The view's own options, then VITFEAT's, passed on to a VITFEAT: source.
  std::vector<std::string> passedOn;
  for (const OptionSpec& s : openOptionSpecs())
    passedOn.push_back(std::string("(passed to the feature source) ") + s.description);
  std::vector<OptionSpec> specs = kind.options;
  for (size_t i = 0; i < passedOn.size(); ++i) {
    specs.push_back(openOptionSpecs()[i]);
    specs.back().description = passedOn[i].c_str();
  }
  const std::string xml = optionListXml(specs, nullptr);
  driver->SetMetadataItem(GDAL_DMD_OPENOPTIONLIST, xml.c_str());
  driver->SetMetadataItem(GDAL_DMD_CREATIONOPTIONLIST,
                          "<CreationOptionList><Option name='FORMAT' type='string-select' "
                          "default='DESCRIPTOR' description='DESCRIPTOR: a small JSON file "
                          "with the fit; VRT: a plain VRT using vitfeat pixel functions (also "
                          "chosen by a .vrt file name)'><Value>DESCRIPTOR</Value><Value>VRT</"
                          "Value></Option></CreationOptionList>");
  driver->SetMetadataItem(GDAL_DCAP_VIRTUALIO, "YES");
  driver->pfnIdentify = identify;
  driver->pfnOpen = open;
  driver->pfnCreateCopy = copy;
  GetGDALDriverManager()->RegisterDriver(driver);
}

CPLErr ViewDataset::GetGeoTransform(double* gt) { return source_->dataset()->GetGeoTransform(gt); }

const OGRSpatialReference* ViewDataset::GetSpatialRef() const {
  return source_->dataset()->GetSpatialRef();
}

int ViewDataset::CloseDependentDatasets() {
  const bool had = source_ != nullptr;
  LazyDataset::CloseDependentDatasets();
  overviews_.clear();  // they read the source's overview datasets
  source_.reset();
  return had;
}

void ViewDataset::refreshCounters() {
  if (!source_) return;
  for (const char* name : {"TILES_COMPUTED", "TILES_REUSED"})
    if (const char* v = source_->counter(name)) record_.SetNameValue(name, v);
}

char** ViewDataset::GetMetadataDomainList() {
  return BuildMetadataDomainList(LazyDataset::GetMetadataDomainList(), TRUE, kind_->driver,
                                 nullptr);
}

char** ViewDataset::GetMetadata(const char* domain) {
  if (domain && EQUAL(domain, kind_->driver)) {
    refreshCounters();
    return record_.List();
  }
  return LazyDataset::GetMetadata(domain);
}

const char* ViewDataset::GetMetadataItem(const char* name, const char* domain) {
  if (domain && EQUAL(domain, kind_->driver)) {
    refreshCounters();
    return record_.FetchNameValue(name);
  }
  return LazyDataset::GetMetadataItem(name, domain);
}

std::size_t ViewDataset::windowBytes(int width, int height) const {
  return (static_cast<std::size_t>(source_->bands()) + specs_.size()) * width * height *
         sizeof(float);
}

const float* ViewDataset::windowPlanes(const CellRect& window, GDALProgressFunc progress,
                                       void* progressData) {
  if (window == lastWindow_ && !lastOutputs_.empty()) return lastOutputs_.data();
  lastOutputs_.clear();
  try {
    if (!source_->read(window, inputs_, progress, progressData)) return nullptr;
    const Eigen::Index n = static_cast<Eigen::Index>(window.width) * window.height;
    const Eigen::Map<const Eigen::MatrixXf> cells(inputs_.data(), n, source_->bands());
    lastOutputs_.resize(static_cast<size_t>(n) * specs_.size());
    Eigen::Map<Eigen::MatrixXf> out(lastOutputs_.data(), n,
                                    static_cast<Eigen::Index>(specs_.size()));
    algorithm_->apply(cells, out);
  } catch (const std::exception& e) {
    CPLError(CE_Failure, CPLE_AppDefined, "%s: %s", kind_->driver, e.what());
    lastOutputs_.clear();
    return nullptr;
  }
  lastWindow_ = window;
  return lastOutputs_.data();
}

ViewRasterBand::ViewRasterBand(ViewDataset* ds, int band, const ViewBand& spec, int blockX,
                               int blockY)
    : spec_(spec) {
  poDS = ds;
  nBand = band;
  eDataType = spec.type;
  nBlockXSize = blockX;
  nBlockYSize = blockY;
  SetDescription(spec.description.c_str());
  if (!spec.colors.empty()) {
    colors_ = std::make_unique<GDALColorTable>();
    for (size_t i = 0; i < spec.colors.size(); ++i)
      colors_->SetColorEntry(static_cast<int>(i), &spec.colors[i]);
  }
  for (const std::string& c : spec.categories) categories_.AddString(c.c_str());
}

double ViewRasterBand::GetNoDataValue(int* success) {
  if (success) *success = TRUE;
  return spec_.noData;
}

}  // namespace vitfeat
