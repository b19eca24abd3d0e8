#include "conform/vectors.h"

#include <cctype>
#include <charconv>

namespace framed::conform {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) s.remove_suffix(1);
  return s;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool parse_hex(std::string_view text, std::vector<std::byte>& out) {
  int high = -1;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c)) != 0) continue;
    const int v = hex_value(c);
    if (v < 0) return false;
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<std::byte>(high * 16 + v));
      high = -1;
    }
  }
  return high < 0;
}

template <typename T>
bool parse_number(std::string_view text, T& out) {
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

bool parse_end(std::string_view text, WireVector& v) {
  if (text == "ok") return true;
  const auto at = text.find('@');
  if (at == std::string_view::npos) return false;
  const std::string_view name = trim(text.substr(0, at));
  for (auto e : {DecodeError::frame_too_large, DecodeError::truncated_header,
                 DecodeError::truncated_payload}) {
    if (to_string(e) == name) v.end = e;
  }
  return v.end != DecodeError::none && parse_number(trim(text.substr(at + 1)), v.end_offset);
}

// Runs a decoder with `limit` over the whole input: the complete frames, the
// end and its offset, and where the last complete frame ends.
struct Decoded {
  std::vector<std::vector<std::byte>> frames;
  DecodeError end = DecodeError::none;
  std::uint64_t end_offset = 0;
  std::size_t complete = 0;
};

Decoded decode(std::span<const std::byte> input, std::uint32_t limit) {
  Decoded d;
  Decoder decoder(limit);
  std::vector<std::byte> pending;  // The frame being assembled from chunks.
  std::span<const std::byte> rest = input;
  // Each chunk consumes at least one byte or ends a frame; the guard bounds
  // the loop by the input anyway.
  for (std::size_t guard = 0; guard <= 2 * input.size() + 2; ++guard) {
    const DecodeResult r = decoder.feed(rest);
    rest = rest.subspan(r.consumed);
    if (r.status != DecodeStatus::chunk) break;
    pending.insert(pending.end(), r.payload.begin(), r.payload.end());
    if (r.frame_end) {
      d.frames.push_back(std::move(pending));
      pending.clear();
      d.complete = static_cast<std::size_t>(decoder.offset());
    }
  }
  d.end = decoder.error() != DecodeError::none ? decoder.error() : decoder.finish();
  d.end_offset = decoder.error_offset();
  return d;
}

}  // namespace

std::vector<WireVector> parse_vectors(std::string_view text, std::string& error) {
  std::vector<WireVector> out;
  bool has_end = true;
  int line_no = 0;
  auto fail = [&](const std::string& why) {
    error = "line " + std::to_string(line_no) + ": " + why;
    return std::vector<WireVector>{};
  };
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    if (line.front() == '[') {
      if (line.back() != ']' || line.size() < 3) return fail("bad case header");
      if (!has_end) return fail("previous case has no end");
      out.emplace_back();
      out.back().name = std::string(line.substr(1, line.size() - 2));
      has_end = false;
      continue;
    }
    const auto eq = line.find('=');
    if (out.empty() || eq == std::string_view::npos) return fail("expected key = value");
    const std::string_view key = trim(line.substr(0, eq));
    const std::string_view value = trim(line.substr(eq + 1));
    WireVector& v = out.back();
    bool ok = true;
    if (key == "limit") {
      ok = parse_number(value, v.limit);
    } else if (key == "input") {
      ok = parse_hex(value, v.input);
    } else if (key == "frame") {
      v.frames.emplace_back();
      ok = parse_hex(value, v.frames.back());
    } else if (key == "partial") {
      // The payload of the unfinished frame delivered before a truncation:
      // on the wire, the bytes after the last complete frame (their echo is
      // checked as a prefix of what was sent).
      ok = parse_hex(value, v.partial);
    } else if (key == "end") {
      ok = parse_end(value, v);
      has_end = true;
    } else {
      ok = false;
    }
    if (!ok) return fail("bad " + std::string(key));
  }
  if (!has_end) return fail("last case has no end");
  return out;
}

bool applies_at(const WireVector& v, std::uint32_t max_frame) {
  const Decoded d = decode(v.input, max_frame);
  return d.frames == v.frames && d.end == v.end && d.end_offset == v.end_offset;
}

std::size_t complete_prefix(const WireVector& v) { return decode(v.input, v.limit).complete; }

}  // namespace framed::conform
