// framed-kv-cli: one request to framed-kv, its reply on stdout.
//
//   framed-kv-cli --port 7779 set greeting hello 5000
//   framed-kv-cli --port 7779 get greeting        # prints: value hello
//
// Exit status: 0 when a reply came, 1 when none did (the reason on
// stderr), 2 on bad usage. Built on framed::Client.
#include <framed/client.h>

#include <charconv>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  unsigned long port = 7779;
  unsigned long timeout_ms = 10'000;
  std::string request;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::puts(
          "usage: framed-kv-cli [--host H] [--port N] [--timeout MS] REQUEST...\n"
          "Sends the words of REQUEST as one frame to framed-kv and prints the reply.");
      return 0;
    }
    if (arg == "--host" || arg == "--port" || arg == "--timeout") {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "framed-kv-cli: %s needs a value\n", argv[i]);
        return 2;
      }
      const std::string_view v = argv[++i];
      if (arg == "--host") {
        host = std::string(v);
        continue;
      }
      unsigned long n = 0;
      const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc{} || end != v.data() + v.size() || (arg == "--port" && n > 65535)) {
        std::fprintf(stderr, "framed-kv-cli: invalid value '%s' for %s\n", argv[i], argv[i - 1]);
        return 2;
      }
      (arg == "--port" ? port : timeout_ms) = n;
      continue;
    }
    request += (request.empty() ? "" : " ") + std::string(arg);
  }
  if (request.empty()) {
    std::fputs("framed-kv-cli: no request (try --help)\n", stderr);
    return 2;
  }
  const std::chrono::milliseconds timeout(timeout_ms);
  framed::Client client;
  std::vector<std::byte> reply;
  framed::Error e = client.connect(host, static_cast<std::uint16_t>(port), timeout);
  if (!e) e = client.send_frame(std::as_bytes(std::span(request.data(), request.size())), timeout);
  if (!e) e = client.receive_frame(reply, timeout);
  if (e) {
    std::fprintf(stderr, "framed-kv-cli: %s\n", e.message.c_str());
    return 1;
  }
  std::printf("%.*s\n", static_cast<int>(reply.size()),
              reinterpret_cast<const char*>(reply.data()));
  return 0;
}
