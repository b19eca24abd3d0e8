// framed-server: parses the command line and runs the echo service.
#include <cstdio>
#include <memory>
#include <string>

#include "framed/server.h"
#include "server/config.h"
#include "server/echo_handler.h"

int main(int argc, char** argv) {
  framed::server::Config config;
  config.systemd = true;  // Socket activation and readiness when systemd asks.
  std::string message;
  switch (framed::server::parse_args(argc, argv, config, message)) {
    case framed::server::ParseOutcome::help:
      std::fputs(framed::server::usage().c_str(), stdout);
      return 0;
    case framed::server::ParseOutcome::version:
      std::puts(framed::server::version_line().c_str());
      return 0;
    case framed::server::ParseOutcome::error:
      // GNU style: the problem in one line, then where to read more.
      std::fprintf(stderr, "framed-server: %s\nTry 'framed-server --help' for more information.\n",
                   message.c_str());
      return 2;
    case framed::server::ParseOutcome::run: break;
  }
  framed::ServeOptions program;
  program.frames_label = "frames echoed";
  program.bytes_label = "bytes echoed";
  return framed::serve(
      config, [](framed::Loop&) { return std::make_unique<framed::server::EchoHandler>(); },
      program);
}
