// framed-conform against real servers: it passes framed-server, fails each
// deliberately broken server naming the right case, and reads a plain byte
// echo as failing only the limit cases. Every server listens on an ephemeral
// loopback port.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "backends.h"
#include "net/fd.h"
#include "server_process.h"

namespace framed::test {
namespace {

using namespace std::chrono_literals;

struct ConformRun {
  ExitStatus status;
  std::string out;
  std::string err;
};

ConformRun conform(const std::vector<std::string>& args) {
  ConformRun r;
  r.status = run_to_exit(FRAMED_CONFORM_PATH, args, r.out, r.err, 110'000ms);
  return r;
}

ConformRun conform_at(std::uint16_t port, std::vector<std::string> args) {
  args.insert(args.begin(), {"--port", std::to_string(port), "--seed", "42"});
  return conform(args);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

// The ids on lines starting with `status` ("PASS", "FAIL", "SKIP").
std::set<std::string> ids_with(const std::string& out, const std::string& status) {
  std::set<std::string> ids;
  for (const auto& line : lines_of(out)) {
    if (line.rfind(status + "  ", 0) == 0) ids.insert(line.substr(status.size() + 2));
  }
  return ids;
}

// Every case id in --list order, for the given extra arguments.
std::vector<std::string> listed(std::vector<std::string> args) {
  args.insert(args.begin(), "--list");
  const ConformRun r = conform(args);
  std::vector<std::string> ids;
  for (const auto& line : lines_of(r.out)) ids.push_back(line.substr(0, line.find(' ')));
  return ids;
}

std::string last_line(const std::string& text) {
  const auto lines = lines_of(text);
  return lines.empty() ? "" : lines.back();
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

void start(ServerProcess& server, const std::string& path, std::vector<std::string> args) {
  SpawnOptions options;
  options.args = {"--port", "0"};
  options.args.insert(options.args.end(), args.begin(), args.end());
  std::string error;
  ASSERT_TRUE(server.start(path, options, error)) << error;
}

// Every case passes against framed-server on each backend (and workers).
class ConformBackends : public BackendTest {};

TEST_P(ConformBackends, PassesEveryCaseAgainstFramedServer) {
  ServerProcess server;
  start(server, FRAMED_SERVER_PATH, GetParam().args);
  const ConformRun r = conform_at(server.port(), {"--timeout", "10s"});
  EXPECT_TRUE(r.status.exited);
  EXPECT_EQ(r.status.code, 0) << r.out << r.err << "\nserver log:\n" << server.stderr_text();
  EXPECT_TRUE(ids_with(r.out, "FAIL").empty()) << r.out;
  const std::size_t passed = ids_with(r.out, "PASS").size();
  EXPECT_GT(passed, 100U);
  // Only the --strict cases skip.
  EXPECT_EQ(last_line(r.out), std::to_string(passed) + " passed, 0 failed, 4 skipped");
}

// The whole suite once per transport: the protocol's rules are the core's,
// the I/O paths each transport's (the other backend cases only change the
// poller or the worker count, which the Server and Reliability suites cover).
INSTANTIATE_TEST_SUITE_P(Backends, ConformBackends, ::testing::ValuesIn(transport_cases()),
                         backend_case_name);

TEST(Conform, PassesTheStrictCasesAgainstFramedServerWithShortTimeouts) {
  ServerProcess server;
  // Timeouts long enough that the connection-limit case's held connections
  // are not idled out under load, short enough for a quick test.
  start(server, FRAMED_SERVER_PATH,
        {"--idle-timeout", "2s", "--frame-timeout", "3s", "--max-conns", "16"});
  const ConformRun r =
      conform_at(server.port(), {"--strict", "--idle-timeout", "2s", "--frame-timeout", "3s",
                                 "--max-conns", "16", "6.1", "6.4", "6.5", "6.6"});
  EXPECT_EQ(r.status.code, 0) << r.out << r.err << "\nserver log:\n" << server.stderr_text();
  for (const char* id : {"6.1-slow-reader-others-served", "6.4-idle-timeout",
                         "6.5-frame-timeout-slowloris", "6.6-connection-limit"}) {
    EXPECT_TRUE(ids_with(r.out, "PASS").contains(id)) << id << "\n" << r.out;
  }
}

TEST(Conform, PassesFramedServerWithASmallLimit) {
  // Every case keeps its frames within --max-frame, so only the limit is
  // tested against the limit.
  ServerProcess server;
  start(server, FRAMED_SERVER_PATH, {"--max-frame", "100"});
  const ConformRun r = conform_at(server.port(), {"--max-frame", "100"});
  EXPECT_EQ(r.status.code, 0) << r.out << r.err << "\nserver log:\n" << server.stderr_text();
  EXPECT_TRUE(ids_with(r.out, "PASS").contains("3-exact-max-frame")) << r.out;
  EXPECT_TRUE(ids_with(r.out, "PASS").contains("6.3-eof-mid-payload")) << r.out;
}

TEST(Conform, StrictCasesFailAgainstAServerWithoutTimeouts) {
  // bare-echo has no timeouts: the idle case must see the connection stay open.
  ServerProcess server;
  start(server, FRAMED_BARE_ECHO_PATH, {});
  const ConformRun r =
      conform_at(server.port(), {"--strict", "--idle-timeout", "500ms", "--timeout", "1s", "6.4"});
  EXPECT_EQ(r.status.code, 1) << r.out << r.err;
  EXPECT_TRUE(ids_with(r.out, "FAIL").contains("6.4-idle-timeout")) << r.out;
}

struct FaultCase {
  const char* fault;
  const char* failing_case;  // Must be reported as FAIL.
};

// Test names and failure messages show the fault, not the struct's bytes.
void PrintTo(const FaultCase& fc, std::ostream* os) { *os << fc.fault; }

class FaultyServer : public ::testing::TestWithParam<FaultCase> {};

TEST_P(FaultyServer, ExitsOneAndNamesTheCase) {
  const FaultCase& fc = GetParam();
  ServerProcess server;
  start(server, FRAMED_FAULTY_ECHO_PATH, {"--max-frame", "64KiB", "--fault", fc.fault});
  const ConformRun r = conform_at(server.port(), {"--max-frame", "64KiB", "--timeout", "1s"});
  EXPECT_TRUE(r.status.exited);
  EXPECT_EQ(r.status.code, 1) << r.out << r.err;
  EXPECT_TRUE(ids_with(r.out, "FAIL").contains(fc.failing_case)) << r.out;
  // A failure says what came back, not just that something did.
  EXPECT_NE(r.out.find("expected "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("received "), std::string::npos) << r.out;
}

INSTANTIATE_TEST_SUITE_P(
    EachFault, FaultyServer,
    ::testing::Values(FaultCase{"one-read", "4-split-every-byte"},
                      FaultCase{"drop-empty", "1-zero-length-alone"},
                      FaultCase{"limit-off-by-one", "3-exact-max-frame"},
                      FaultCase{"no-limit", "6.2-oversize-echoes-earlier-then-closes"},
                      FaultCase{"drop-backlog-at-eof", "6.3-half-close-backlog"},
                      FaultCase{"close-after-first", "6.1-pipeline-1000"}),
    [](const ::testing::TestParamInfo<FaultCase>& param_info) {
      std::string name = param_info.param.fault;
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

TEST(Conform, TheFaultyServerWithoutAFaultPasses) {
  // The control: the faults above, not the test server, make those runs fail.
  ServerProcess server;
  start(server, FRAMED_FAULTY_ECHO_PATH, {"--max-frame", "64KiB"});
  const ConformRun r = conform_at(server.port(), {"--max-frame", "64KiB"});
  EXPECT_EQ(r.status.code, 0) << r.out << r.err;
}

TEST(Conform, BareEchoFailsExactlyTheLimitCases) {
  ServerProcess server;
  start(server, FRAMED_BARE_ECHO_PATH, {});
  const ConformRun r = conform_at(server.port(), {});
  EXPECT_EQ(r.status.code, 1) << r.out << r.err;
  // A byte echo has no limit: every case of §3 and §6.2 fails, except the
  // frame of exactly the limit, which it echoes like any other.
  std::set<std::string> limit_cases;
  for (const auto& id : listed({"3", "6.2"})) {
    if (id != "3-exact-max-frame") limit_cases.insert(id);
  }
  EXPECT_GE(limit_cases.size(), 10U);
  EXPECT_EQ(ids_with(r.out, "FAIL"), limit_cases) << r.out;
  EXPECT_TRUE(ids_with(r.out, "PASS").contains("3-exact-max-frame")) << r.out;
}

TEST(Conform, ListsCasesWithoutConnecting) {
  // Port 1 has no server; --list must not try it.
  const ConformRun r = conform({"--list", "--port", "1"});
  EXPECT_EQ(r.status.code, 0) << r.err;
  const auto ids = listed({});
  EXPECT_GT(ids.size(), 100U);
  for (const char* id :
       {"1-zero-length-alone", "4-split-every-byte", "4-split-random",
        "4-vector-hello-frame-every-byte", "6.1-pipeline-1000",
        "6.2-oversize-echoes-earlier-then-closes", "6.3-half-close-backlog", "6.4-idle-timeout"}) {
    EXPECT_NE(std::find(ids.begin(), ids.end(), id), ids.end()) << id;
  }
  const auto only = listed({"6.2"});
  EXPECT_FALSE(only.empty());
  for (const auto& id : only) EXPECT_EQ(id.rfind("6.2-", 0), 0U) << id;
}

TEST(Conform, WritesAWellFormedJUnitReport) {
  ServerProcess server;
  start(server, FRAMED_SERVER_PATH, {});
  const std::string path = ::testing::TempDir() + "conform-junit.xml";
  const ConformRun r = conform_at(server.port(), {"--junit", path, "1", "6.4"});
  EXPECT_EQ(r.status.code, 0) << r.out << r.err;
  std::ifstream in(path);
  std::stringstream xml;
  xml << in.rdbuf();
  const std::string text = xml.str();
  // When libxml2's checker is installed, it has the last word on well-formedness.
  if (::access("/usr/bin/xmllint", X_OK) == 0) {
    std::string out;
    std::string err;
    EXPECT_EQ(run_to_exit("/usr/bin/xmllint", {"--noout", path}, out, err).code, 0) << err;
  }
  std::remove(path.c_str());
  EXPECT_EQ(text.rfind("<?xml version=\"1.0\"", 0), 0U) << text;
  // Three zero-length cases pass; the idle case skips without --strict.
  EXPECT_NE(text.find("tests=\"4\" failures=\"0\" errors=\"0\" skipped=\"1\""), std::string::npos)
      << text;
  EXPECT_EQ(count_of(text, "<testcase "), 4U) << text;
  EXPECT_EQ(count_of(text, "<skipped "), 1U) << text;
  EXPECT_EQ(count_of(text, "<testsuite "), 1U);
  EXPECT_EQ(count_of(text, "</testsuite>"), 1U);
  EXPECT_NE(text.find("</testsuites>"), std::string::npos);
}

TEST(Conform, JUnitReportsAFailureWithItsDetail) {
  ServerProcess server;
  start(server, FRAMED_BARE_ECHO_PATH, {});
  const std::string path = ::testing::TempDir() + "conform-junit-fail.xml";
  const ConformRun r = conform_at(server.port(), {"--junit", path, "6.2"});
  EXPECT_EQ(r.status.code, 1) << r.out << r.err;
  std::ifstream in(path);
  std::stringstream xml;
  xml << in.rdbuf();
  const std::string text = xml.str();
  std::remove(path.c_str());
  const std::size_t failures = ids_with(r.out, "FAIL").size();
  EXPECT_GT(failures, 0U);
  EXPECT_EQ(count_of(text, "<failure "), failures) << text;
  EXPECT_NE(text.find("failures=\"" + std::to_string(failures) + "\""), std::string::npos) << text;
}

TEST(Conform, PrintsOneJsonObject) {
  ServerProcess server;
  start(server, FRAMED_SERVER_PATH, {});
  const ConformRun r = conform_at(server.port(), {"--json", "1"});
  EXPECT_EQ(r.status.code, 0) << r.out << r.err;
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 1U) << r.out;
  EXPECT_EQ(lines[0].front(), '{');
  EXPECT_EQ(lines[0].back(), '}');
  EXPECT_EQ(count_of(r.out, "\"id\":"), 3U) << r.out;
  EXPECT_NE(r.out.find("\"id\":\"1-zero-length-alone\",\"section\":\"1\",\"status\":\"pass\""),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("\"passed\":3,\"failed\":0,\"skipped\":0}"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"seed\":42"), std::string::npos) << r.out;
}

TEST(Conform, BadUsageExitsTwoWithOneLineAndAHint) {
  for (const std::vector<std::string>& args : {std::vector<std::string>{"--bogus"},
                                               {"--port"},
                                               {"--port", "70000"},
                                               {"--timeout", "soon"},
                                               {"--max-frame", "5GiB"},
                                               {"not-a-section"},
                                               {"9.9"}}) {
    const ConformRun r = conform(args);
    EXPECT_TRUE(r.status.exited);
    EXPECT_EQ(r.status.code, 2) << args.front();
    const auto lines = lines_of(r.err);
    ASSERT_EQ(lines.size(), 2U) << r.err;
    EXPECT_EQ(lines[0].rfind("framed-conform: ", 0), 0U) << r.err;
    EXPECT_EQ(lines[1], "Try 'framed-conform --help' for more information.");
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
}

TEST(Conform, HelpExitsZero) {
  const ConformRun r = conform({"--help"});
  EXPECT_EQ(r.status.code, 0);
  EXPECT_NE(r.out.find("usage: framed-conform"), std::string::npos);
}

TEST(Conform, UnreachableServerExitsTwo) {
  // A bound socket that never listens: connecting to its port is refused,
  // and no other process can take the port while we hold it.
  net::UniqueFd holder(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(holder.valid());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(holder.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(holder.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const ConformRun r = conform_at(ntohs(addr.sin_port), {"--timeout", "2s"});
  EXPECT_TRUE(r.status.exited);
  EXPECT_EQ(r.status.code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("cannot connect"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("PASS"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace framed::test
