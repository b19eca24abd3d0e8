// Writes the fuzz seed corpus from the spec vectors, one file per vector and
// split pattern, or checks that a directory already holds exactly those files.
//   make_corpus VECTORS_FILE OUT_DIR          write
//   make_corpus --check VECTORS_FILE DIR      exit 1 if DIR is out of date
// Files named spec-* that no vector produces are removed (write) or reported
// as stale (check); other files, such as inputs the fuzzer found, are kept.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include "fuzz_input.h"
#include "spec_vectors.h"

namespace {

std::vector<char> read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

int main(int argc, char** argv) {
  const bool check = argc == 4 && std::string(argv[1]) == "--check";
  if (argc != 3 && !check) {
    std::fprintf(stderr, "usage: make_corpus [--check] VECTORS_FILE DIR\n");
    return 2;
  }
  const std::string vectors_path = argv[check ? 2 : 1];
  const std::filesystem::path dir = argv[check ? 3 : 2];
  std::string error;
  const auto vectors = framed::test::load_vectors(vectors_path, error);
  if (!error.empty()) {
    std::fprintf(stderr, "make_corpus: %s\n", error.c_str());
    return 1;
  }
  int stale = 0;
  std::set<std::string> expected_names;
  for (const auto& v : vectors) {
    for (const auto& split : framed::fuzz::corpus_splits()) {
      const auto bytes = framed::fuzz::make_fuzz_input(v.limit, split.pattern, v.input);
      const std::string name = "spec-" + v.name + "-" + split.suffix;
      expected_names.insert(name);
      const auto path = dir / name;
      if (check) {
        const auto have = read_all(path);
        if (have.size() != bytes.size() ||
            !std::equal(have.begin(), have.end(), reinterpret_cast<const char*>(bytes.data()))) {
          std::fprintf(stderr, "make_corpus: %s is missing or stale\n", path.c_str());
          ++stale;
        }
      } else {
        std::filesystem::create_directories(dir);
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(bytes.data()),
                  static_cast<std::streamsize>(bytes.size()));
      }
    }
  }
  // A seed whose vector was renamed or removed is stale too: its name would
  // claim an expected outcome the spec no longer states.
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) {
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("spec-", 0) != 0 || expected_names.count(name) != 0) continue;
      if (check) {
        std::fprintf(stderr, "make_corpus: %s matches no vector\n", entry.path().c_str());
        ++stale;
      } else {
        std::filesystem::remove(entry.path());
      }
    }
  }
  if (check && stale > 0) {
    std::fprintf(stderr, "make_corpus: regenerate with: make_corpus %s %s\n", vectors_path.c_str(),
                 dir.c_str());
    return 1;
  }
  std::printf("%s %zu corpus files\n", check ? "checked" : "wrote",
              vectors.size() * framed::fuzz::corpus_splits().size());
  return 0;
}
