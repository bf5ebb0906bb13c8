#include "driver/views/view_options.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace vitfeat {

std::string ViewOptions::text(const char* key, const std::string& fallback) const {
  const auto it = values_.find(key);
  return it == values_.end() ? fallback : it->second;
}

void ViewOptions::fail(const char* key, const std::string& value, const std::string& valid) {
  CPLError(CE_Failure, CPLE_IllegalArg, "%s: invalid %s=%s: %s", driver_.c_str(), key,
           value.c_str(), valid.c_str());
  ok_ = false;
}

void ViewOptions::refuseOtherMethods(
    const std::string& method,
    std::initializer_list<std::pair<const char*, const char*>> methodOnly) {
  for (const auto& [key, only] : methodOnly) {
    const auto it = values_.find(key);
    if (it == values_.end() || method == only) continue;
    fail(key, it->second, std::string("only used with METHOD=") + only);
    values_.erase(it);
  }
}

int ViewOptions::integer(const char* key, int fallback, int minimum, int maximum) {
  const auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  const std::string& v = it->second;
  char* end = nullptr;
  errno = 0;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno != 0 || x < minimum || x > maximum) {
    fail(key, v,
         "expected an integer from " + std::to_string(minimum) + " to " + std::to_string(maximum));
    return fallback;
  }
  return static_cast<int>(x);
}

double ViewOptions::real(const char* key, double fallback, double minimum, double maximum) {
  const auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  const std::string& v = it->second;
  char* end = nullptr;
  const double x = CPLStrtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || !std::isfinite(x) || x < minimum || x > maximum) {
    fail(key, v, CPLSPrintf("expected a number from %g to %g", minimum, maximum));
    return fallback;
  }
  return x;
}

uint64_t ViewOptions::seed(const char* key, uint64_t fallback) {
  const auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  const std::string& v = it->second;
  char* end = nullptr;
  errno = 0;
  const unsigned long long x = std::strtoull(v.c_str(), &end, 10);
  if (v.empty() || v[0] == '-' || *end != '\0' || errno != 0) {
    fail(key, v, "expected a non-negative integer");
    return fallback;
  }
  return x;
}

bool ViewOptions::flag(const char* key, bool fallback) {
  const auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  const char* v = it->second.c_str();
  if (EQUAL(v, "YES") || EQUAL(v, "TRUE") || EQUAL(v, "ON") || EQUAL(v, "1")) return true;
  if (EQUAL(v, "NO") || EQUAL(v, "FALSE") || EQUAL(v, "OFF") || EQUAL(v, "0")) return false;
  fail(key, it->second, "expected YES or NO");
  return fallback;
}

std::string ViewOptions::choice(const char* key, const std::string& fallback,
                                const std::vector<const char*>& allowed) {
  const auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  std::string list;
  for (const char* a : allowed) {
    if (EQUAL(a, it->second.c_str())) return CPLString(a).tolower();
    list += (list.empty() ? "" : ", ") + std::string(a);
  }
  fail(key, it->second, "expected one of " + list);
  return fallback;
}

void splitOptions(const OptionMap& all, const std::vector<OptionSpec>& specs, OptionMap* own,
                  OptionMap* source) {
  for (const auto& [rawKey, value] : all) {
    const std::string key = CPLString(rawKey).toupper();
    bool mine = false;
    for (const OptionSpec& s : specs) mine = mine || EQUAL(s.name, key.c_str());
    (mine ? own : source)->emplace(key, value);
  }
}

}  // namespace vitfeat
