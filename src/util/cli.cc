#include "util/cli.h"

#include <cstdio>
#include <map>

#include "util/parse.h"

namespace framed::util {

CliOutcome parse_cli(int argc, const char* const* argv, std::span<const CliOption> options,
                     std::vector<std::string>* positional, std::string& message) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") return CliOutcome::help;
    if (arg == "--version") return CliOutcome::version;
    if (arg.empty() || arg[0] != '-' || arg == "-") {
      if (positional == nullptr) {
        message = "unexpected argument '" + std::string(arg) + "'";
        return CliOutcome::error;
      }
      positional->emplace_back(arg);
      continue;
    }
    std::string_view value;
    bool inline_value = false;
    if (const auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      inline_value = true;
    }
    const CliOption* option = nullptr;
    for (const auto& o : options) {
      if (o.name == arg || (!o.alias.empty() && o.alias == arg)) option = &o;
    }
    if (option == nullptr) {
      message = "unknown option '" + std::string(arg) + "'";
      return CliOutcome::error;
    }
    if (option->expects.empty()) {
      if (inline_value) {
        message = "option '" + std::string(arg) + "' takes no value";
        return CliOutcome::error;
      }
      option->set({});
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= argc) {
        message = "option '" + std::string(arg) + "' needs a value (" +
                  std::string(option->expects) + ")";
        return CliOutcome::error;
      }
      value = argv[++i];
    }
    if (!option->set(value)) {
      message = "invalid value '" + std::string(value) + "' for " + std::string(arg) +
                ": expected " + std::string(option->expects);
      return CliOutcome::error;
    }
  }
  return CliOutcome::run;
}

int usage_error(std::string_view program, std::string_view message) {
  std::fprintf(stderr, "%.*s: %.*s\nTry '%.*s --help' for more information.\n",
               static_cast<int>(program.size()), program.data(), static_cast<int>(message.size()),
               message.data(), static_cast<int>(program.size()), program.data());
  return 2;
}

std::function<bool(std::string_view)> set_count(std::size_t& out, std::uint64_t max,
                                                bool allow_zero) {
  return [&out, max, allow_zero](std::string_view v) {
    const auto n = parse_uint(v, max);
    if (!n || (*n == 0 && !allow_zero)) return false;
    out = static_cast<std::size_t>(*n);
    return true;
  };
}

std::function<bool(std::string_view)> set_u64(std::uint64_t& out, std::uint64_t max) {
  return [&out, max](std::string_view v) {
    const auto n = parse_uint(v, max);
    if (n) out = *n;
    return n.has_value();
  };
}

std::function<bool(std::string_view)> set_port(std::uint16_t& out, bool allow_zero) {
  return [&out, allow_zero](std::string_view v) {
    const auto n = parse_uint(v, 65535);
    if (!n || (*n == 0 && !allow_zero)) return false;
    out = static_cast<std::uint16_t>(*n);
    return true;
  };
}

std::function<bool(std::string_view)> set_size(std::size_t& out, std::uint64_t max) {
  return [&out, max](std::string_view v) {
    const auto n = parse_size(v, max);
    if (n) out = static_cast<std::size_t>(*n);
    return n.has_value();
  };
}

std::function<bool(std::string_view)> set_duration(std::chrono::milliseconds& out,
                                                   bool allow_zero) {
  return [&out, allow_zero](std::string_view v) {
    const auto d = parse_duration(v);
    if (!d || (d->count() == 0 && !allow_zero)) return false;
    out = *d;
    return true;
  };
}

std::function<bool(std::string_view)> set_text(std::string& out) {
  return [&out](std::string_view v) {
    out = std::string(v);
    return !v.empty();
  };
}

std::function<bool(std::string_view)> set_flag(bool& out) {
  return [&out](std::string_view) {
    out = true;
    return true;
  };
}

std::function<bool(std::string_view)> append_to(std::vector<std::string>& out) {
  return [&out](std::string_view v) {
    out.emplace_back(v);
    return true;
  };
}

std::vector<std::string> fold_errors(const std::vector<std::string>& errors,
                                     std::string_view what) {
  std::vector<std::string> order;
  std::map<std::string, std::size_t> count;
  for (const auto& e : errors) {
    if (count[e]++ == 0) order.push_back(e);
  }
  std::vector<std::string> out;
  for (const auto& e : order) {
    const std::size_t n = count[e];
    out.push_back(n > 1 ? std::to_string(n) + " " + std::string(what) + ": " + e : e);
  }
  return out;
}

}  // namespace framed::util
