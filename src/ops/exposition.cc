#include "ops/exposition.h"

#include <charconv>
#include <cmath>

namespace framed::ops {
namespace {

void escape(std::string& out, std::string_view text, bool quote) {
  for (const char c : text) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '"':
        // In HELP text a quote is itself; in a label value it is escaped.
        out += quote ? "\\\"" : "\"";
        break;
      default: out += c;
    }
  }
}

}  // namespace

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return {buf, r.ptr};
}

void Exposition::family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  escape(out_, help, false);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void Exposition::labels(std::initializer_list<Label> labels) {
  if (labels.size() == 0) return;
  out_ += '{';
  bool first = true;
  for (const auto& [key, value] : labels) {
    if (!first) out_ += ',';
    first = false;
    out_ += key;
    out_ += "=\"";
    escape(out_, value, true);
    out_ += '"';
  }
  out_ += '}';
}

void Exposition::sample(std::string_view name, std::initializer_list<Label> l,
                        std::uint64_t value) {
  out_ += name;
  labels(l);
  out_ += ' ';
  out_ += std::to_string(value);
  out_ += '\n';
}

void Exposition::sample(std::string_view name, std::initializer_list<Label> l, double value) {
  out_ += name;
  labels(l);
  out_ += ' ';
  out_ += format_value(value);
  out_ += '\n';
}

void Exposition::histogram(std::string_view name, const double* bounds, const std::uint64_t* counts,
                           std::size_t buckets, double sum) {
  std::uint64_t total = 0;
  const std::string bucket = std::string(name) + "_bucket";
  for (std::size_t i = 0; i < buckets; ++i) {
    total += counts[i];
    const std::string le = format_value(bounds[i]);
    sample(bucket, {{"le", le}}, total);
  }
  total += counts[buckets];
  sample(bucket, {{"le", "+Inf"}}, total);
  sample(std::string(name) + "_sum", {}, sum);
  sample(std::string(name) + "_count", {}, total);
}

}  // namespace framed::ops
