// The test runner. Environment defaults are set here rather than through
// catch_discover_tests' ENVIRONMENT, which keeps only its first entry.
#define CATCH_CONFIG_RUNNER
#include <stdlib.h>

#include <catch2/catch.hpp>

int main(int argc, char* argv[]) {
  // Tests never read or fill the user's on-disk fit and digest stores
  // (~/.cache/vitfeat); a test that wants one sets VITFEAT_FIT_CACHE or
  // VITFEAT_DIGEST_CACHE itself.
  setenv("VITFEAT_FIT_CACHE", "NO", 0);
  setenv("VITFEAT_DIGEST_CACHE", "NO", 0);
  return Catch::Session().run(argc, argv);
}
