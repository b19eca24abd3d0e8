// The command-line parser framed's tools share (framed-client, stress,
// framed-bench): a table of options, each naming what its value must be and
// how to store it, and errors in the GNU style: one line naming the problem,
// then "Try 'PROGRAM --help' for more information."
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace framed::util {

struct CliOption {
  std::string_view name;     // "--port"; a short alias may follow: "-q".
  std::string_view expects;  // "a port from 1 to 65535"; empty: takes no value.
  // Stores the value; returns false if it is not what `expects` says. For an
  // option without a value it is called with an empty view.
  std::function<bool(std::string_view)> set;
  std::string_view alias{};
};

enum class CliOutcome { run, help, version, error };

// Parses argv[1..]. "-h"/"--help" and "--version" are recognised by
// themselves; "--name=value" and "--name value" both work. Arguments that do
// not start with "-" go to `positional` (an error when it is null). On
// `error`, `message` names the problem in one line.
CliOutcome parse_cli(int argc, const char* const* argv, std::span<const CliOption> options,
                     std::vector<std::string>* positional, std::string& message);

// Prints "PROGRAM: MESSAGE" and the --help hint to stderr; returns 2, the
// exit status for bad usage.
int usage_error(std::string_view program, std::string_view message);

// Setters for the common kinds of value.
std::function<bool(std::string_view)> set_count(std::size_t& out, std::uint64_t max,
                                                bool allow_zero = false);
std::function<bool(std::string_view)> set_u64(std::uint64_t& out, std::uint64_t max);
std::function<bool(std::string_view)> set_port(std::uint16_t& out, bool allow_zero = false);
std::function<bool(std::string_view)> set_size(std::size_t& out, std::uint64_t max);
std::function<bool(std::string_view)> set_duration(std::chrono::milliseconds& out,
                                                   bool allow_zero = true);
std::function<bool(std::string_view)> set_text(std::string& out);
std::function<bool(std::string_view)> set_flag(bool& out);
// For a repeatable option: appends each value.
std::function<bool(std::string_view)> append_to(std::vector<std::string>& out);

// Folds repeated error messages: "50 clients: cannot connect to ...: ..."
// instead of fifty identical lines. Returns one line per distinct message,
// in first-seen order, with the count as a prefix when above one.
std::vector<std::string> fold_errors(const std::vector<std::string>& errors, std::string_view what);

}  // namespace framed::util
