// Reading a view's open options: typed getters that validate each value and
// report a bad one through CPLError, naming the driver, the option, the value
// and what would be valid. Options a view does not know are passed on to its
// source (a VITFEAT: source takes MODEL, STRIDE, ...).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "driver/feature_options.h"

namespace vitfeat {

using OptionMap = std::map<std::string, std::string>;  // upper-case keys

class ViewOptions {
 public:
  ViewOptions(std::string driver, OptionMap values)
      : driver_(std::move(driver)), values_(std::move(values)) {}

  bool has(const char* key) const { return values_.count(key) > 0; }
  std::string text(const char* key, const std::string& fallback = "") const;
  int integer(const char* key, int fallback, int minimum, int maximum);
  // A finite number in [minimum, maximum].
  double real(const char* key, double fallback, double minimum, double maximum);
  uint64_t seed(const char* key, uint64_t fallback);
  bool flag(const char* key, bool fallback);
  // One of `allowed` (case-insensitive), returned lower-case.
  std::string choice(const char* key, const std::string& fallback,
                     const std::vector<const char*>& allowed);

  // Refuses each option of `methodOnly` (option, the method it belongs to)
  // given while another `method` is in use, and forgets it, so that its value
  // is not also checked as if it applied (one message per option).
  void refuseOtherMethods(const std::string& method,
                          std::initializer_list<std::pair<const char*, const char*>> methodOnly);

  // Reports an invalid value; ok() is false afterwards.
  void fail(const char* key, const std::string& value, const std::string& valid);
  bool ok() const { return ok_; }
  const std::string& driver() const { return driver_; }

 private:
  std::string driver_;
  OptionMap values_;
  bool ok_ = true;
};

// Splits options into the view's own (named in specs) and the source's (all
// others). Keys are upper-cased.
void splitOptions(const OptionMap& all, const std::vector<OptionSpec>& specs, OptionMap* own,
                  OptionMap* source);

}  // namespace vitfeat
