// GDAL calls the driver through C function pointers and virtual methods called
// from C code: a C++ exception leaving one of them would end the host process
// (QGIS, a Python interpreter). Every such entry point runs its body through
// guarded(), which turns any exception into a CPLError naming who failed.
#pragma once

#include <cpl_error.h>

#include <exception>
#include <new>
#include <utility>

namespace vitfeat {

template <class Result, class Body>
Result guarded(const char* who, Result onFailure, Body&& body) noexcept {
  try {
    return std::forward<Body>(body)();
  } catch (const std::bad_alloc&) {
    CPLError(CE_Failure, CPLE_OutOfMemory, "%s: out of memory", who);
  } catch (const std::exception& e) {
    CPLError(CE_Failure, CPLE_AppDefined, "%s: %s", who, e.what());
  } catch (...) {
    CPLError(CE_Failure, CPLE_AppDefined, "%s: unknown C++ exception", who);
  }
  return onFailure;
}

}  // namespace vitfeat
