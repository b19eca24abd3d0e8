// framed-router: parses the command line and runs the router's workers.
// Everything it uses of framed is the public library (framed/server.h).
#include <cstdio>
#include <memory>
#include <string>

#include "framed/server.h"
#include "framed/version.h"
#include "router/options.h"
#include "router/router.h"
#include "router/stats.h"

int main(int argc, char** argv) {
  framed::router::Options options;
  std::string message;
  switch (framed::router::parse(argc, argv, options, message)) {
    case framed::router::Parsed::help: std::fputs(framed::router::usage(), stdout); return 0;
    case framed::router::Parsed::version: std::printf("framed-router %s\n", FRAMED_VERSION); return 0;
    case framed::router::Parsed::error:
      std::fprintf(stderr, "framed-router: %s\nTry 'framed-router --help' for more information.\n",
                   message.c_str());
      return 2;
    case framed::router::Parsed::run: break;
  }
  framed::ServerOptions server = options.server;
  // The backend connections count toward the server's one limit: it is the
  // clients' limit plus the pools' share, which is kept for them, so that a
  // flood of clients cannot stop a backend link from reconnecting. Twice
  // the pools: a link given up may still be closing (its lingering close,
  // or a connect still under way) when its replacement is made.
  server.outbound_reserve = 2 * options.backends.size() * options.backend_conns * server.workers;
  server.max_conns += server.outbound_reserve;
  std::vector<std::string> names;
  for (const auto& b : options.backends) names.push_back(b.text());
  auto stats = std::make_shared<framed::router::Stats>(names, server.workers);
  server.metrics_extra = [stats] { return stats->render(); };
  return framed::serve(server, [&options, stats](framed::Loop& loop) {
    return std::make_unique<framed::router::Router>(loop, options, stats->worker(loop.index()));
  });
}
