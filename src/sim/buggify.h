// The simulator's side of util/buggify.h: while a BuggifyScope lives, the
// core's fault points draw from its Rng (one run at a time, one thread).
// Without one they never fire, so unit tests on the simulated transport
// see the plain code.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "sim/rng.h"
#include "util/buggify.h"

namespace framed::sim {

class BuggifyScope {
 public:
  explicit BuggifyScope(Rng* rng);
  ~BuggifyScope();
  BuggifyScope(const BuggifyScope&) = delete;
  BuggifyScope& operator=(const BuggifyScope&) = delete;
  // How many times a point fired.
  [[nodiscard]] std::uint64_t fired() const noexcept;

 private:
  std::map<std::string, bool, std::less<>> sites_;
};

}  // namespace framed::sim
