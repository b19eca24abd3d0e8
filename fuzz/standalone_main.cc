// Replays fuzz inputs without libFuzzer, so any compiler can run the corpus:
//   frame_fuzz_replay [--vectors VECTORS_FILE] FILE_OR_DIR...
// Exits non-zero if no input was found; a failing input aborts.
//
// With --vectors, each seed named spec-<vector>-<split> must also hold that
// vector's limit and input with that split's pattern, and decoding it (whole
// and in the file's chunks) must give exactly the vector's expected frames,
// partial payload and end, and consume the bytes the spec requires. A seed
// named spec-* that matches no vector fails, so a stale corpus cannot pass.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "drive.h"
#include "fuzz_input.h"
#include "spec_vectors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

using framed::test::Vector;

struct Seed {
  const Vector* vector;
  const framed::fuzz::CorpusSplit* split;
};

// Seed file name -> the vector and split it was made from.
std::map<std::string, Seed> g_seeds;
bool g_check_seeds = false;
int g_failures = 0;

void seed_failure(const std::filesystem::path& path, const std::string& why) {
  std::fprintf(stderr, "frame_fuzz_replay: %s: %s\n", path.c_str(), why.c_str());
  ++g_failures;
}

void check_seed(const std::filesystem::path& path, const std::vector<char>& bytes) {
  using namespace framed;
  using namespace framed::test;
  const std::string name = path.filename().string();
  if (name.rfind("spec-", 0) != 0) return;
  const auto it = g_seeds.find(name);
  if (it == g_seeds.end()) {
    seed_failure(path, "named after no vector and split of the spec (stale corpus)");
    return;
  }
  const Vector& v = *it->second.vector;
  fuzz::FuzzInput in;
  if (!fuzz::parse_fuzz_input({reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()},
                              in)) {
    seed_failure(path, "too short to be a fuzz input");
    return;
  }
  const auto& want_pattern = it->second.split->pattern;
  if (in.limit != v.limit ||
      !std::equal(in.stream.begin(), in.stream.end(), v.input.begin(), v.input.end()) ||
      !std::equal(in.pattern.begin(), in.pattern.end(), want_pattern.begin(), want_pattern.end())) {
    seed_failure(path, "limit, pattern or input differ from vector " + v.name);
    return;
  }
  const std::uint64_t must_consume = expected_consumed(v.expected, v.input.size());
  const DriveResult whole = decode_whole(in.limit, in.stream);
  const DriveResult chunked = decode_chunked(in.limit, in.stream, in.pattern);
  for (const DriveResult* r : {&whole, &chunked}) {
    const char* how = r == &whole ? "whole" : "chunked";
    if (!r->violation.empty()) seed_failure(path, std::string(how) + ": " + r->violation);
    if (!(r->outcome == v.expected)) {
      seed_failure(path, std::string(how) + ": expected " + describe(v.expected) + ", got " +
                             describe(r->outcome));
    }
    if (r->consumed != must_consume) {
      seed_failure(path, std::string(how) + ": consumed " + std::to_string(r->consumed) +
                             ", expected " + std::to_string(must_consume));
    }
  }
}

bool run_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "frame_fuzz_replay: cannot read %s\n", path.c_str());
    return false;
  }
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
  if (g_check_seeds) check_seed(path, bytes);
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<framed::test::Vector> vectors;
  int first = 1;
  if (argc >= 3 && std::string(argv[1]) == "--vectors") {
    std::string error;
    vectors = framed::test::load_vectors(argv[2], error);
    if (!error.empty()) {
      std::fprintf(stderr, "frame_fuzz_replay: %s\n", error.c_str());
      return 1;
    }
    for (const auto& v : vectors) {
      for (const auto& split : framed::fuzz::corpus_splits()) {
        g_seeds["spec-" + v.name + "-" + split.suffix] = Seed{&v, &split};
      }
    }
    g_check_seeds = true;
    first = 3;
  }
  std::size_t count = 0;
  std::size_t seeds = 0;
  for (int i = first; i < argc; ++i) {
    const std::filesystem::path arg(argv[i]);
    std::error_code ec;
    if (std::filesystem::is_directory(arg, ec)) {
      for (const auto& entry : std::filesystem::directory_iterator(arg)) {
        if (entry.is_regular_file() && run_file(entry.path())) ++count;
        if (entry.path().filename().string().rfind("spec-", 0) == 0) ++seeds;
      }
    } else if (run_file(arg)) {
      ++count;
      if (arg.filename().string().rfind("spec-", 0) == 0) ++seeds;
    }
  }
  std::printf("replayed %zu input(s)", count);
  if (g_check_seeds) {
    std::printf(", checked %zu spec seed(s) against %zu vector(s)", seeds, vectors.size());
    // Every vector must have its seeds: a vector added without regenerating
    // the corpus leaves its expected outcome unchecked here.
    if (seeds < vectors.size() * framed::fuzz::corpus_splits().size()) {
      std::printf("\n");
      std::fprintf(stderr, "frame_fuzz_replay: fewer spec seeds than vectors x splits\n");
      return 1;
    }
  }
  std::printf("\n");
  if (g_failures > 0) return 1;
  return count > 0 ? 0 : 1;
}
