#include "driver/feature_engine.h"

#if __has_include(<malloc.h>)
#include <malloc.h>
#endif

#include <cpl_conv.h>
#include <cpl_error.h>
#include <torch/torch.h>

#include <array>
#include <cmath>
#include <cstring>
#include <future>
#include <limits>
#include <mutex>
#include <optional>
#include <tuple>

#include "driver/cpu_turn.h"
#include "models/runtime.h"

namespace vitfeat {

namespace {
std::atomic<uint64_t> processComputed{0};
}  // namespace

uint64_t FeatureEngine::processTilesComputed() { return processComputed; }

FeatureEngine::FeatureEngine(TileGrid grid, std::unique_ptr<TileReader> reader,
                             std::shared_ptr<const Encoder> encoder,
                             std::shared_ptr<TileCache> cache, std::shared_ptr<TileStore> store,
                             std::string configKey, BlendMode blend, int batchSize)
    : grid_(std::move(grid)),
      reader_(std::move(reader)),
      encoder_(std::move(encoder)),
      cache_(std::move(cache)),
      inFlight_(processInFlightTiles()),
      store_(std::move(store)),
      configKey_(std::move(configKey)),
      blend_(blend),
      batchSize_(std::max(1, batchSize)) {}

namespace {

// CPLErrors raised on the prefetch thread, re-raised on the caller's thread
// (error handlers, e.g. a test's or QGIS's, are per thread).
class ErrorCapture {
 public:
  ErrorCapture() { CPLPushErrorHandlerEx(&ErrorCapture::handle, &errors_); }
  ~ErrorCapture() { CPLPopErrorHandler(); }
  ErrorCapture(const ErrorCapture&) = delete;
  ErrorCapture& operator=(const ErrorCapture&) = delete;
  std::vector<std::tuple<CPLErr, CPLErrorNum, std::string>> take() { return std::move(errors_); }

 private:
  static void CPL_STDCALL handle(CPLErr level, CPLErrorNum number, const char* message) {
    static_cast<std::vector<std::tuple<CPLErr, CPLErrorNum, std::string>>*>(
        CPLGetErrorHandlerUserData())
        ->emplace_back(level, number, message ? message : "");
  }
  std::vector<std::tuple<CPLErr, CPLErrorNum, std::string>> errors_;
};

}  // namespace

FeatureEngine::BatchInput FeatureEngine::readBatch(const std::vector<TileIndex>& tiles,
                                                   const std::vector<size_t>& batch,
                                                   torch::Tensor& buffer) const {
  BatchInput in;
  ErrorCapture capture;
  try {
    const int64_t S = reader_->inputSize();
    if (!buffer.defined())
      buffer = torch::empty({batchSize_, reader_->source().bandCount(), S, S}, torch::kFloat32);
    const torch::Tensor images = buffer.narrow(0, 0, static_cast<int64_t>(batch.size()));
    for (size_t k = 0; k < batch.size(); ++k) {
      auto input = reader_->read(grid_.tilePixels(tiles[batch[k]]),
                                 images.select(0, static_cast<int64_t>(k)));
      if (!input) {
        in.errors = capture.take();
        return in;
      }
      in.valid.push_back(std::move(input->cellValid));
    }
    // Page-locked when the model runs on CUDA, so its copy to the GPU is
    // asynchronous; done here, on the prefetch thread when pipelined.
    in.images = pinnedFor(images, encoder_->info().device);
    in.ok = true;
  } catch (const std::exception& e) {
    CPLError(CE_Failure, CPLE_AppDefined, "VITFEAT: reading tiles failed: %s",
             errorMessage(e).c_str());
  }
  in.errors = capture.take();
  return in;
}

bool FeatureEngine::runBatch(const std::vector<TileIndex>& tiles, const std::vector<size_t>& batch,
                             BatchInput& in,
                             std::vector<std::shared_ptr<const TileFeatures>>& have) {
  for (const auto& [level, number, message] : in.errors)
    CPLError(level, number, "%s", message.c_str());
  if (!in.ok) return false;
  // Tiles another handle computed since the strip began are taken from the
  // cache; those another handle is computing now are waited for, not computed
  // again. Without a cache there is nothing to hand over: all are computed here.
  TileClaims claims(inFlight_.get());
  // Whether the cache holds tile k of the batch now (then it is in have).
  auto cached = [&](size_t k, const TileKey& tileKey) {
    if (!cache_ || !(have[batch[k]] = cache_->get(tileKey))) return false;
    ++reused_;
    return true;
  };
  std::vector<size_t> mine, theirs;  // positions in batch
  for (size_t k = 0; k < batch.size(); ++k) {
    const TileKey tileKey = key(tiles[batch[k]]);
    if (cached(k, tileKey)) continue;
    if (cache_ && !claims.claim(tileKey)) {
      theirs.push_back(k);
      continue;
    }
    // Another handle may have stored it and let its claim go between the
    // lookup above and this claim: look again before computing it.
    if (!cached(k, tileKey)) mine.push_back(k);
  }
  if (!infer(tiles, batch, mine, in, have)) return false;
  claims.release();
  std::vector<size_t> retry;
  for (const size_t k : theirs) {
    const TileKey tileKey = key(tiles[batch[k]]);
    inFlight_->wait(tileKey);
    // Not there: the other handle failed, or its tile was evicted already.
    if (!cached(k, tileKey)) retry.push_back(k);
  }
  return infer(tiles, batch, retry, in, have);
}

bool FeatureEngine::infer(const std::vector<TileIndex>& tiles, const std::vector<size_t>& batch,
                          const std::vector<size_t>& rows, const BatchInput& in,
                          std::vector<std::shared_ptr<const TileFeatures>>& have) {
  if (rows.empty()) return true;
  // On the CPU, one model call at a time (cpu_turn.h): each call uses every core.
  std::optional<CpuTurn> turn;
  if (encoder_->info().device == "cpu") turn.emplace();
  // Another process may have written some of these tiles to CACHE_DIR while
  // this one waited for its turn.
  std::vector<size_t> run;
  for (const size_t k : rows) {
    const size_t i = batch[k];
    if (store_ && (have[i] = store_->load(key(tiles[i])))) {
      ++fromDisk_;
      ++reused_;
      if (cache_) cache_->put(key(tiles[i]), have[i]);
    } else {
      run.push_back(k);
    }
  }
  if (run.empty()) return true;
  torch::Tensor images = in.images;
  if (run.size() < batch.size()) {
    std::vector<int64_t> selected(run.begin(), run.end());
    images = images.index_select(0, torch::tensor(selected, torch::kLong));
  }
  torch::Tensor out;
  try {
    out = encoder_->forward(images);
  } catch (const std::exception& e) {
    CPLError(CE_Failure, CPLE_AppDefined, "VITFEAT: model inference failed: %s",
             errorMessage(e).c_str());
    return false;
  }
  const int g = grid_.cellsPerTile(), D = features();
  if (out.dim() != 4 || out.size(0) != static_cast<int64_t>(run.size()) || out.size(1) != g ||
      out.size(2) != g || out.size(3) != D) {
    CPLError(CE_Failure, CPLE_AppDefined,
             "VITFEAT: the model returned %s for a batch of tiles; expected [%zu, %d, %d, %d]",
             c10::str(out.sizes()).c_str(), run.size(), g, g, D);
    return false;
  }
  // Stored before the turn ends, so that a process waiting for it finds them.
  for (size_t r = 0; r < run.size(); ++r) {
    auto tile = std::make_shared<TileFeatures>(g, D);
    std::memcpy(tile->grid.data(), out[static_cast<int64_t>(r)].data_ptr<float>(),
                tile->grid.size() * sizeof(float));
    tile->valid = in.valid[run[r]];
    const size_t i = batch[run[r]];
    if (cache_) cache_->put(key(tiles[i]), tile);
    if (store_) store_->save(key(tiles[i]), *tile);
    have[i] = std::move(tile);
    ++computed_;
    ++processComputed;
  }
  return true;
}

namespace {

// Planes of one strip of compute(): with STRIDE = TILE_SIZE / 2 the covering
// tiles are about four times this (the blender reads them in place).
constexpr std::size_t kStripBytes = std::size_t(16) << 20;

// Hands freed heap memory back to the system once enough of it has piled up.
// Tiles are kept (cache) while buffers of a few MB around them come and go;
// glibc's adaptive mmap threshold then serves those buffers from the heap,
// and the live tiles between the freed ones keep the heap from shrinking:
// measured, peak RSS grew with the raster (3.1 GB for a 4096 x 4096 input at
// STRIDE = TILE_SIZE / 2) and was 0.74 GB with the freed pages returned.
void returnFreedMemory() {
#if defined(__GLIBC__)
  constexpr std::size_t kSlack = std::size_t(64) << 20;
  if (mallinfo2().fordblks > kSlack) malloc_trim(0);
#endif
}

}  // namespace

int FeatureEngine::topPixelRow(int cellRow) const {
  int row = reader_->source().height();  // past the last row
  if (cellRow < grid_.cellsY())
    for (const TileIndex& t : grid_.tilesCovering({0, cellRow, 1, 1}))
      row = std::min(row, grid_.tilePixels(t).y0);
  return row;
}

bool FeatureEngine::compute(const CellRect& window, float* out, const Progress* progress) {
  const std::size_t rowBytes = static_cast<std::size_t>(window.width) * features() * sizeof(float);
  const int rows =
      static_cast<int>(std::max<std::size_t>(1, kStripBytes / std::max<std::size_t>(1, rowBytes)));
  if (window.height <= rows) {
    const bool ok = computeStrip(window, out, progress);
    returnFreedMemory();
    return ok;
  }
  const std::size_t plane = static_cast<std::size_t>(window.width) * window.height;
  std::vector<float> strip;
  for (int y = 0; y < window.height; y += rows) {
    const int h = std::min(rows, window.height - y);
    const CellRect part{window.x0, window.y0 + y, window.width, h};
    const double from = static_cast<double>(y) / window.height;
    const double span = static_cast<double>(h) / window.height;
    const Progress scaled = [&](double done) {
      return !progress || !*progress || (*progress)(from + span * done);
    };
    strip.resize(static_cast<std::size_t>(features()) * window.width * h);
    if (!computeStrip(part, strip.data(), &scaled)) return false;
    const std::size_t stripPlane = static_cast<std::size_t>(window.width) * h;
    for (int d = 0; d < features(); ++d)
      std::memcpy(out + d * plane + static_cast<std::size_t>(y) * window.width,
                  strip.data() + d * stripPlane, stripPlane * sizeof(float));
    returnFreedMemory();
  }
  return true;
}

bool FeatureEngine::computeStrip(const CellRect& window, float* out, const Progress* progress) {
  const std::vector<TileIndex> tiles = grid_.tilesCovering(window);
  std::vector<std::shared_ptr<const TileFeatures>> have(tiles.size());
  std::vector<size_t> missing;
  for (size_t i = 0; i < tiles.size(); ++i) {
    if (cache_) have[i] = cache_->get(key(tiles[i]));
    if (!have[i] && store_ && (have[i] = store_->load(key(tiles[i])))) {
      ++fromDisk_;
      if (cache_) cache_->put(key(tiles[i]), have[i]);
    }
    if (have[i])
      ++reused_;
    else
      missing.push_back(i);
  }
  std::vector<std::vector<size_t>> batches;
  for (size_t start = 0; start < missing.size(); start += batchSize_)
    batches.emplace_back(missing.begin() + start,
                         missing.begin() + std::min(missing.size(), start + batchSize_));
  // A full-width window is read top to bottom (GDAL's whole-raster copies, a
  // one-band read of a swath): source rows above both the next batch's tiles
  // (the tiles go row by row) and the next strip's are read no more, and
  // leave GDAL's block cache batch by batch, so a strip holds about one tile
  // row of the source, whatever its height. Only while no prefetch reads the
  // source.
  const bool fullWidth = window.x0 == 0 && window.width == grid_.cellsX();
  int released = topPixelRow(window.y0);
  const int nextStripRow = topPixelRow(window.y1());
  auto releaseAbove = [&](int row) {
    row = std::min(row, nextStripRow);
    if (!fullWidth || row <= released) return;
    reader_->source().releaseRows(released, row);
    released = row;
  };
  // Pipelined: while the model runs batch k, another thread reads and
  // normalises batch k + 1 (the source is read by that thread alone meanwhile).
  // A future from std::async waits in its destructor, so no read outlives this call.
  // On by default when the model runs off the CPU (CUDA). On the CPU the
  // model already keeps every core busy and the extra thread only competes
  // with it (measured slower on 2 cores: bench/end_to_end.sh); the config
  // option VITFEAT_PIPELINE=YES/NO forces either way.
  const char* forced = CPLGetConfigOption("VITFEAT_PIPELINE", nullptr);
  const bool pipeline = forced ? CPLTestBool(forced) : encoder_->info().device != "cpu";
  // Batches are read into buffers reused through the strip: fresh buffers
  // per tile and their copy into a batch cost about a quarter of the reading
  // (page faults, perf). Two when pipelined, batch k + 1 being read while
  // batch k is in the model.
  std::array<torch::Tensor, 2> buffers;
  const auto bufferFor = [&](size_t k) -> torch::Tensor& { return buffers[pipeline ? k % 2 : 0]; };
  std::future<BatchInput> next;
  size_t done = 0;
  for (size_t k = 0; k < batches.size(); ++k) {
    BatchInput in = k == 0 || !pipeline ? readBatch(tiles, batches[k], bufferFor(k)) : next.get();
    if (k + 1 < batches.size()) releaseAbove(grid_.tilePixels(tiles[batches[k + 1].front()]).y0);
    if (pipeline && k + 1 < batches.size())
      next = std::async(std::launch::async, [this, &tiles, &batches, &bufferFor, k] {
        return readBatch(tiles, batches[k + 1], bufferFor(k + 1));
      });
    if (!runBatch(tiles, batches[k], in, have)) return false;
    returnFreedMemory();
    done += batches[k].size();
    if (progress && *progress && !(*progress)(static_cast<double>(done) / missing.size())) {
      CPLError(CE_Failure, CPLE_UserInterrupt, "VITFEAT: read cancelled");
      return false;
    }
    CPLDebug("VITFEAT", "computed %zu/%zu tiles for cells %d,%d %dx%d", done, missing.size(),
             window.x0, window.y0, window.width, window.height);
  }
  releaseAbove(nextStripRow);  // the strip's reads are done

  Blender blender(blend_, window, features());
  for (size_t i = 0; i < tiles.size(); ++i)
    blender.add(grid_.tileCells(tiles[i]), grid_.order(tiles[i]), have[i]->grid.data());
  blender.finish(out);

  // A cell's footprint is the same pixels in every tile covering it, so any
  // covering tile can say whether it has data.
  const size_t plane = static_cast<size_t>(window.width) * window.height;
  const int g = grid_.cellsPerTile();
  for (size_t i = 0; i < tiles.size(); ++i) {
    const std::vector<unsigned char>& valid = have[i]->valid;
    if (valid.empty()) continue;
    const CellRect cells = grid_.tileCells(tiles[i]);
    const CellRect overlap = cells.intersect(window);
    for (int y = overlap.y0; y < overlap.y1(); ++y)
      for (int x = overlap.x0; x < overlap.x1(); ++x) {
        if (valid[static_cast<size_t>(y - cells.y0) * g + (x - cells.x0)]) continue;
        const size_t at = static_cast<size_t>(y - window.y0) * window.width + (x - window.x0);
        for (int d = 0; d < features(); ++d)
          out[d * plane + at] = std::numeric_limits<float>::quiet_NaN();
      }
  }
  return true;
}

}  // namespace vitfeat
