// The proxy_fuzzer's seed corpus and its replay without libFuzzer:
//   proxy_corpus_tool write VECTORS DIR    write spec-* seeds from the vectors
//   proxy_corpus_tool check VECTORS DIR    exit 1 if DIR's spec-* seeds are stale
//   proxy_corpus_tool replay VECTORS DIR   run every file through the fuzz
//        target (a failing input aborts) and check that each spec-* seed
//        still ends as its vector says, at every split
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>

#include "guarded_buffer.h"
#include "proxy_fuzz_input.h"
#include "proxy_vectors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

std::vector<char> read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

int main(int argc, char** argv) {
  using namespace framed;
  if (argc != 4) {
    std::fprintf(stderr, "usage: proxy_corpus_tool write|check|replay VECTORS DIR\n");
    return 2;
  }
  const std::string mode = argv[1];
  const std::filesystem::path dir = argv[3];
  std::string error;
  const auto vectors = test::load_proxy_vectors(argv[2], error);
  if (!error.empty()) {
    std::fprintf(stderr, "proxy_corpus_tool: %s\n", error.c_str());
    return 1;
  }
  std::map<std::string, std::vector<std::byte>> seeds;
  std::map<std::string, const test::ProxyVector*> seed_vector;
  for (const auto& v : vectors) {
    for (const auto& split : fuzz::proxy_corpus_splits()) {
      const std::string name = "spec-" + v.name + "-" + split.suffix;
      seeds[name] = fuzz::make_proxy_fuzz_input(v.v2_max, split.pattern, v.input);
      seed_vector[name] = &v;
    }
  }
  int failures = 0;
  if (mode == "write") {
    std::filesystem::create_directories(dir);
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("spec-", 0) == 0 && seeds.count(name) == 0)
        std::filesystem::remove(entry.path());
    }
    for (const auto& [name, bytes] : seeds) {
      std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
      out.write(reinterpret_cast<const char*>(bytes.data()),
                static_cast<std::streamsize>(bytes.size()));
    }
    std::printf("wrote %zu corpus files\n", seeds.size());
    return 0;
  }
  if (mode != "check" && mode != "replay") {
    std::fprintf(stderr, "proxy_corpus_tool: unknown mode %s\n", mode.c_str());
    return 2;
  }
  std::set<std::string> found;
  std::size_t replayed = 0;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    std::fprintf(stderr, "proxy_corpus_tool: %s is not a directory\n", dir.c_str());
    return 1;
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const std::string name = entry.path().filename().string();
    const auto bytes = read_all(entry.path());
    if (name.rfind("spec-", 0) == 0) {
      found.insert(name);
      const auto it = seeds.find(name);
      if (it == seeds.end() || it->second.size() != bytes.size() ||
          !std::equal(bytes.begin(), bytes.end(),
                      reinterpret_cast<const char*>(it->second.data()))) {
        std::fprintf(
            stderr,
            "proxy_corpus_tool: %s is stale (regenerate with: proxy_corpus_tool write %s %s)\n",
            name.c_str(), argv[2], dir.c_str());
        ++failures;
        continue;
      }
    }
    if (mode == "replay") {
      LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
      ++replayed;
      const auto v = seed_vector.find(name);
      if (v == seed_vector.end()) continue;
      // The seed's expected end, from the spec, through the seed's split.
      fuzz::ProxyFuzzInput in;
      (void)fuzz::parse_proxy_fuzz_input(
          {reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()}, in);
      std::vector<std::size_t> split;
      for (std::size_t at = 0, turn = 0; at < in.stream.size(); ++turn) {
        const std::size_t n = in.pattern.empty() ? in.stream.size()
                                                 : std::min(in.pattern[turn % in.pattern.size()],
                                                            in.stream.size() - at);
        split.push_back(n);
        at += n;
      }
      test::GuardedBuffer guard(std::max<std::size_t>(in.stream.size(), 1));
      ProxyParser parser(in.v2_max);
      std::size_t consumed = 0;
      std::string violation;
      const auto got = test::replay_proxy(
          parser, in.stream, split, [&](std::span<const std::byte> b) { return guard.place(b); },
          consumed, violation);
      if (!(got == v->second->expected) || !violation.empty()) {
        std::fprintf(stderr, "proxy_corpus_tool: %s: expected %s, got %s %s\n", name.c_str(),
                     test::describe(v->second->expected).c_str(), test::describe(got).c_str(),
                     violation.c_str());
        ++failures;
      }
    }
  }
  for (const auto& [name, bytes] : seeds) {
    if (found.count(name) == 0) {
      std::fprintf(stderr, "proxy_corpus_tool: %s is missing\n", name.c_str());
      ++failures;
    }
  }
  if (mode == "replay")
    std::printf("replayed %zu input(s), %zu spec seed(s)\n", replayed, found.size());
  return failures == 0 ? 0 : 1;
}
