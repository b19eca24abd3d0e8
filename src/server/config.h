// framed-server's settings and their defaults.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "framed/decoder.h"
#include "loop/poller.h"
#include "util/log.h"

namespace framed::server {

using std::chrono::milliseconds;

// framed-server's settings are the library's options (framed/server.h);
// `workers`, `backend` and the rest are documented there.
using Config = ServerOptions;

enum class ParseOutcome { run, help, version, error };

// Parses argv into `config`. On `error`, `message` says what was wrong;
// on `help` the caller prints usage, on `version` version_line(), and
// exits 0.
ParseOutcome parse_args(int argc, const char* const* argv, Config& config, std::string& message);

// The --help text.
std::string usage();

// The --version text: "framed-server 1.0.0", from framed/version.h.
std::string version_line();

}  // namespace framed::server
