// --version reports the one version, from project() through framed/version.h.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "framed/version.h"
#include "server/config.h"

namespace framed::server {
namespace {

TEST(Version, HeaderStringMatchesItsParts) {
  // A version.h.in that spelled the string by hand would drift from the
  // numbers a consumer compares.
  const std::string parts = std::to_string(FRAMED_VERSION_MAJOR) + "." +
                            std::to_string(FRAMED_VERSION_MINOR) + "." +
                            std::to_string(FRAMED_VERSION_PATCH);
  EXPECT_EQ(std::string(FRAMED_VERSION), parts);
}

TEST(Version, ServerVersionOptionIsItsOwnOutcome) {
  std::vector<const char*> args = {"framed-server", "--port", "0", "--version"};
  Config config;
  std::string message;
  EXPECT_EQ(parse_args(static_cast<int>(args.size()), args.data(), config, message),
            ParseOutcome::version);
  EXPECT_EQ(version_line(), std::string("framed-server ") + FRAMED_VERSION);
  EXPECT_NE(usage().find("--version"), std::string::npos) << "--help must document --version";
}

TEST(Version, UsageStartsWithUsageForHelp2man) {
  // help2man builds the man page's SYNOPSIS only from a line that begins
  // "Usage:"; anything else ends up as the description.
  EXPECT_EQ(usage().rfind("Usage: framed-server ", 0), 0U);
}

}  // namespace
}  // namespace framed::server
