#include "conform/options.h"

#include <limits>
#include <string_view>

#include "util/parse.h"

namespace framed::conform {
namespace {

const char* const kUsage = R"(usage: framed-conform [options] [SECTION...]

Checks a length-prefixed echo server (spec/PROTOCOL.md) case by case, black
box, over TCP. Each case prints one line: PASS, FAIL or SKIP, its id (which
starts with the spec section it checks) and, for a failure, what was sent,
what was expected and what came back. SECTION... runs only the cases whose
section starts with it ("6" selects 6.1, 6.2, ...).

options:
  --host ADDR            server address or name (default 127.0.0.1)
  --port N               server port (default 7777)
  --max-frame BYTES      the server's frame limit (default 16MiB; KiB/MiB/GiB ok)
  --timeout DUR          give up on a case after this long without progress (default 5s)
  --seed N               seed for random splits and payloads (default: from the clock)
  --strict               also run the cases for recommended behaviour (timeouts,
                         slow readers, connection limit); otherwise they SKIP
  --idle-timeout DUR     the server's idle timeout, for --strict (default 60s)
  --frame-timeout DUR    the server's frame timeout, for --strict (default 30s)
  --max-conns N          the server's connection limit, for --strict (default: not checked)
  --tls                  run every case over TLS; the server's certificate is verified
  --tls-ca FILE          PEM CA certificates to trust (default: the system's)
  --tls-cert FILE        PEM client certificate, for mutual TLS (with --tls-key)
  --tls-key FILE         its PEM private key
  --tls-servername NAME  the name to send and verify (default: --host)
  --junit FILE           also write a JUnit XML report to FILE
  --json                 print one JSON object instead of the text report
  --list                 list the cases and what each checks, without connecting
  -h, --help             show this text
  --version              print the version and exit

Exit status: 0 when no case failed, 1 when a case failed, 2 on bad usage or
when the server cannot be reached.
)";

// Options that take a value, so "--port" at the end is reported as missing
// its value rather than as unknown.
bool takes_value(std::string_view arg) {
  for (std::string_view name : {"--host", "--port", "--max-frame", "--timeout", "--seed",
                                "--idle-timeout", "--frame-timeout", "--max-conns", "--junit",
                                "--tls-ca", "--tls-cert", "--tls-key", "--tls-servername"}) {
    if (arg == name) return true;
  }
  return false;
}

bool set_duration(std::string_view text, std::chrono::milliseconds& out) {
  const auto d = util::parse_duration(text);
  if (!d) return false;
  out = *d;
  return true;
}

// Applies one "--name value" pair; returns false with `error` set.
bool apply(Options& o, std::string_view name, const std::string& value, std::string& error) {
  bool ok = true;
  if (name == "--host") {
    o.host = value;
    ok = !value.empty();
  } else if (name == "--port") {
    const auto p = util::parse_uint(value, 65535);
    ok = p.has_value() && *p != 0;
    if (ok) o.port = static_cast<std::uint16_t>(*p);
  } else if (name == "--max-frame") {
    const auto s = util::parse_size(value, std::numeric_limits<std::uint32_t>::max());
    ok = s.has_value();
    if (ok) o.max_frame = static_cast<std::uint32_t>(*s);
  } else if (name == "--timeout") {
    ok = set_duration(value, o.timeout) && o.timeout.count() > 0;
  } else if (name == "--seed") {
    const auto s = util::parse_uint(value, std::numeric_limits<std::uint64_t>::max());
    ok = s.has_value();
    if (ok) {
      o.seed = *s;
      o.seed_given = true;
    }
  } else if (name == "--idle-timeout") {
    ok = set_duration(value, o.idle_timeout);
  } else if (name == "--frame-timeout") {
    ok = set_duration(value, o.frame_timeout);
  } else if (name == "--max-conns") {
    const auto n = util::parse_uint(value, 100'000);
    ok = n.has_value();
    if (ok) o.max_conns = static_cast<std::uint32_t>(*n);
  } else if (name == "--junit") {
    o.junit_path = value;
    ok = !value.empty();
  } else if (name == "--tls-ca") {
    o.tls.ca_file = value;
    ok = !value.empty();
  } else if (name == "--tls-cert") {
    o.tls.cert_file = value;
    ok = !value.empty();
  } else if (name == "--tls-key") {
    o.tls.key_file = value;
    ok = !value.empty();
  } else if (name == "--tls-servername") {
    o.tls.server_name = value;
    ok = !value.empty();
  }
  if (!ok) error = "invalid value '" + value + "' for " + std::string(name);
  return ok;
}

// A section is digits separated by single dots: "6", "6.2".
bool is_section(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  char prev = '.';
  for (char c : s) {
    if (c == '.' && prev == '.') return false;
    if (c != '.' && (c < '0' || c > '9')) return false;
    prev = c;
  }
  return true;
}

}  // namespace

const char* usage_text() { return kUsage; }

std::optional<Options> parse_options(int argc, const char* const* argv, std::string& error) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      o.help = true;
    } else if (arg == "--version") {
      o.version = true;
    } else if (arg == "--strict") {
      o.strict = true;
    } else if (arg == "--tls") {
      o.tls.enabled = true;
    } else if (arg == "--json") {
      o.json = true;
    } else if (arg == "--list") {
      o.list = true;
    } else if (takes_value(arg)) {
      if (i + 1 >= argc) {
        error = "option '" + std::string(arg) + "' requires an argument";
        return std::nullopt;
      }
      if (!apply(o, arg, argv[++i], error)) return std::nullopt;
    } else if (arg.size() > 1 && arg.front() == '-') {
      error = "unrecognized option '" + std::string(arg) + "'";
      return std::nullopt;
    } else if (is_section(arg)) {
      o.sections.emplace_back(arg);
    } else {
      error = "invalid section '" + std::string(arg) + "' (expected e.g. 4 or 6.2)";
      return std::nullopt;
    }
  }
  const auto& t = o.tls;
  if (!t.enabled && (!t.ca_file.empty() || !t.cert_file.empty() || !t.key_file.empty() ||
                     !t.server_name.empty())) {
    error = "the --tls-* options need --tls";
    return std::nullopt;
  }
  if (t.cert_file.empty() != t.key_file.empty()) {
    error = "--tls-cert and --tls-key go together";
    return std::nullopt;
  }
  if (t.enabled && !Client::tls_supported()) {
    error = "TLS is not available: this framed-conform was built without OpenSSL 3";
    return std::nullopt;
  }
  return o;
}

}  // namespace framed::conform
