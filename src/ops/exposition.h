// The Prometheus text exposition format, version 0.0.4: metric families,
// each a "# HELP" and a "# TYPE" line and its samples, label values and
// help text escaped as the format asks. Written by hand rather than with
// prometheus-cpp: a scrape here is a few dozen samples summed from the
// workers' counters, which a string builder renders in microseconds with no
// registry, no locks and no dependency (docs/OPERATIONS.md says more).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace framed::ops {

// The Content-Type of the format.
inline constexpr std::string_view kExpositionType = "text/plain; version=0.0.4; charset=utf-8";

class Exposition {
 public:
  using Label = std::pair<std::string_view, std::string_view>;

  // Starts a family: `type` is "counter", "gauge" or "histogram". Each
  // family is started once, and its samples follow it.
  void family(std::string_view name, std::string_view type, std::string_view help);
  // One sample line: `name{labels} value`. Names and label names are the
  // caller's (constants); label values are escaped.
  void sample(std::string_view name, std::initializer_list<Label> labels, std::uint64_t value);
  void sample(std::string_view name, std::initializer_list<Label> labels, double value);
  // A histogram's samples from cumulative-ready bucket counts: `bounds[i]`
  // is bucket i's upper bound and `counts[i]` the observations in it alone
  // (the last count is above every bound: +Inf); `sum` the observations'
  // total. Writes name_bucket{le=...} (cumulative), name_sum and name_count.
  void histogram(std::string_view name, const double* bounds, const std::uint64_t* counts,
                 std::size_t buckets, double sum);

  [[nodiscard]] const std::string& text() const noexcept { return out_; }
  std::string take() noexcept { return std::move(out_); }

 private:
  void labels(std::initializer_list<Label> labels);

  std::string out_;
};

// A double as the format writes it: "+Inf", "-Inf", "NaN", or the shortest
// text that reads back as the same value.
std::string format_value(double v);

}  // namespace framed::ops
