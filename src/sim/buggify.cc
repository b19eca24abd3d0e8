#include "sim/buggify.h"

#include <map>
#include <string>

namespace framed::sim {
namespace {

Rng* g_rng = nullptr;
std::map<std::string, bool, std::less<>>* g_sites = nullptr;
std::uint64_t g_fired = 0;

}  // namespace

BuggifyScope::BuggifyScope(Rng* rng) {
  g_rng = rng;
  g_sites = &sites_;
  g_fired = 0;
}

BuggifyScope::~BuggifyScope() {
  g_rng = nullptr;
  g_sites = nullptr;
}

std::uint64_t BuggifyScope::fired() const noexcept { return g_fired; }

bool buggify(double p, const char* site) noexcept {
  if (g_rng == nullptr || g_sites == nullptr) return false;
  auto it = g_sites->find(site);
  if (it == g_sites->end()) {
    // Decided once per run, on first use: a quarter of the points are on.
    it = g_sites->emplace(site, g_rng->chance(0.25)).first;
  }
  if (!it->second || !g_rng->chance(p)) return false;
  ++g_fired;
  return true;
}

}  // namespace framed::sim
