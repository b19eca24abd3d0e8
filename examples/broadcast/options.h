// framed-broadcast's command line: the library's ServerOptions plus the
// relay's own --max-backlog.
#pragma once

#include <framed/server.h>

#include <cstddef>
#include <string>

namespace broadcast {

struct Options {
  framed::ServerOptions server;
  std::size_t max_backlog = 4U << 20U;  // Per receiver; above it, cut.
};

enum class Parsed { run, help, version, error };

// Parses argv. On `error`, `message` names the problem in one line.
Parsed parse(int argc, const char* const* argv, Options& out, std::string& message);

// The --help text.
const char* usage();

}  // namespace broadcast
