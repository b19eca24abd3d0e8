// framed-decode: encodes three frames, then decodes the stream one byte at a
// time, as a socket might deliver it, and prints each frame. Exits 0 when
// the frames come back exactly, 1 otherwise. Needs only framed::protocol.
#include <framed/decoder.h>
#include <framed/encoder.h>
#include <framed/version.h>

#include <cstdio>
#include <string>
#include <vector>

int main() {
  const std::vector<std::string> texts{"hello", "", "length-prefixed"};
  std::vector<std::byte> stream;
  for (const auto& t : texts) {
    std::vector<std::byte> payload;
    for (char ch : t) payload.push_back(static_cast<std::byte>(ch));
    if (!framed::append_frame(stream, payload)) return 1;
  }
  framed::Decoder decoder(1024);
  std::vector<std::string> got(1);
  for (std::size_t i = 0; i < stream.size(); ++i) {
    std::span<const std::byte> in(&stream[i], 1);
    while (true) {
      const framed::DecodeResult r = decoder.feed(in);
      in = in.subspan(r.consumed);
      if (r.status == framed::DecodeStatus::error) return 1;
      if (r.status != framed::DecodeStatus::chunk) break;
      for (std::byte b : r.payload) got.back().push_back(static_cast<char>(b));
      if (r.frame_end) got.emplace_back();
    }
  }
  got.pop_back();
  if (decoder.finish() != framed::DecodeError::none || got != texts) return 1;
  for (const auto& t : got) std::printf("frame (%zu bytes): %s\n", t.size(), t.c_str());
  std::printf("framed %s: %zu frames decoded one byte at a time\n", FRAMED_VERSION, got.size());
  return 0;
}
