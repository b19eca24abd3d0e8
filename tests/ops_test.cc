// The metrics endpoint's parts, as specs: the Prometheus text format as
// written (families, escaping, histograms), the HTTP request parser replayed
// whole and at every split, the response framing, and the frame size
// buckets. The endpoint against the real binary (and a real Prometheus) is
// integration/metrics_test.cc.
#include <gtest/gtest.h>

#include <string>

#include "core/counters.h"
#include "ops/exposition.h"
#include "ops/http_request.h"
#include "ops/metrics_http.h"
#include "util/log.h"

namespace framed::ops {
namespace {

TEST(Exposition, AFamilyIsHelpThenTypeThenItsSamples) {
  Exposition x;
  x.family("framed_frames_sent_total", "counter", "Frames whose last byte was written.");
  x.sample("framed_frames_sent_total", {}, std::uint64_t{42});
  x.family("framed_connections_refused_total", "counter", "Refused, by reason.");
  x.sample("framed_connections_refused_total", {{"reason", "per-ip"}}, std::uint64_t{3});
  EXPECT_EQ(x.text(),
            "# HELP framed_frames_sent_total Frames whose last byte was written.\n"
            "# TYPE framed_frames_sent_total counter\n"
            "framed_frames_sent_total 42\n"
            "# HELP framed_connections_refused_total Refused, by reason.\n"
            "# TYPE framed_connections_refused_total counter\n"
            "framed_connections_refused_total{reason=\"per-ip\"} 3\n");
}

TEST(Exposition, LabelValuesAndHelpAreEscapedAsTheFormatAsks) {
  Exposition x;
  x.family("m", "gauge", "a \\ back\nslash and \"quotes\"");
  x.sample("m", {{"a", "q\"uote"}, {"b", "back\\slash\nline"}}, std::uint64_t{1});
  EXPECT_EQ(x.text(),
            "# HELP m a \\\\ back\\nslash and \"quotes\"\n"
            "# TYPE m gauge\n"
            "m{a=\"q\\\"uote\",b=\"back\\\\slash\\nline\"} 1\n");
}

TEST(Exposition, AHistogramIsCumulativeWithInfSumAndCount) {
  Exposition x;
  const double bounds[] = {16, 64};
  const std::uint64_t counts[] = {2, 0, 5};  // 2 <= 16, none in (16, 64], 5 above.
  x.histogram("h", bounds, counts, 2, 1234.5);
  EXPECT_EQ(x.text(),
            "h_bucket{le=\"16\"} 2\n"
            "h_bucket{le=\"64\"} 2\n"
            "h_bucket{le=\"+Inf\"} 7\n"
            "h_sum 1234.5\n"
            "h_count 7\n");
}

TEST(Exposition, ValuesReadBackExactly) {
  EXPECT_EQ(format_value(0.25), "0.25");
  EXPECT_EQ(format_value(16777216), "16777216");
  EXPECT_EQ(format_value(1.0 / 0.0), "+Inf");
  EXPECT_EQ(format_value(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(format_value(0.0 / 0.0), "NaN");
}

TEST(FrameSizeBuckets, EachBoundIsInclusive) {
  using core::frame_size_bucket;
  EXPECT_EQ(frame_size_bucket(0), 0U);
  EXPECT_EQ(frame_size_bucket(16), 0U);
  EXPECT_EQ(frame_size_bucket(17), 1U);
  EXPECT_EQ(frame_size_bucket(64), 1U);
  EXPECT_EQ(frame_size_bucket(65), 2U);
  EXPECT_EQ(frame_size_bucket(65536), 6U);
  EXPECT_EQ(frame_size_bucket(16777216), 10U);
  EXPECT_EQ(frame_size_bucket(16777217), 11U);
  EXPECT_EQ(frame_size_bucket(0xFFFFFFFFU), 11U);
  // Every bucket's bound is the largest length it takes.
  for (std::size_t i = 0; i < core::kFrameSizeBounds.size(); ++i) {
    const auto bound = static_cast<std::uint32_t>(core::kFrameSizeBounds[i]);
    EXPECT_EQ(frame_size_bucket(bound), i) << bound;
    EXPECT_EQ(frame_size_bucket(bound + 1), i + 1) << bound;
  }
}

struct Vector {
  std::string input;
  HttpParse status;
  std::string method;
  std::string path;
  std::string version;
};

const Vector kVectors[] = {
    {"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n", HttpParse::done, "GET", "/metrics",
     "HTTP/1.1"},
    {"GET /metrics?name[]=x HTTP/1.0\r\n\r\n", HttpParse::done, "GET", "/metrics", "HTTP/1.0"},
    {"HEAD /healthz HTTP/1.1\n\n", HttpParse::done, "HEAD", "/healthz", "HTTP/1.1"},
    {"POST /metrics HTTP/1.1\r\n\r\nbody", HttpParse::done, "POST", "/metrics", "HTTP/1.1"},
    {"GET /metrics HTTP/2.0\r\n\r\n", HttpParse::bad, "", "", ""},
    {"GET /metrics\r\n\r\n", HttpParse::bad, "", "", ""},
    {"GET  /metrics HTTP/1.1\r\n\r\n", HttpParse::bad, "", "", ""},
    {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", HttpParse::bad, "", "", ""},
    {"G(T / HTTP/1.1\r\n\r\n", HttpParse::bad, "", "", ""},
};

TEST(HttpRequests, VectorsWholeAndAtEverySplit) {
  for (const Vector& v : kVectors) {
    HttpRequest r;
    EXPECT_EQ(parse_http_request(v.input, 8192, r), v.status) << v.input;
    if (v.status == HttpParse::done) {
      EXPECT_EQ(r.method, v.method);
      EXPECT_EQ(r.path, v.path);
      EXPECT_EQ(r.version, v.version);
    }
    // Every prefix is either still incomplete or already judged the same
    // way (garbage is refused as soon as it shows).
    for (std::size_t cut = 0; cut < v.input.size(); ++cut) {
      HttpRequest p;
      const HttpParse s = parse_http_request(std::string_view(v.input).substr(0, cut), 8192, p);
      EXPECT_TRUE(s == HttpParse::need_more || s == v.status)
          << "'" << v.input << "' cut at " << cut;
    }
  }
}

TEST(HttpRequests, TheLimitIsCheckedBeforeTheEnd) {
  HttpRequest r;
  const std::string line = "GET /" + std::string(100, 'a');
  EXPECT_EQ(parse_http_request(line, 64, r), HttpParse::too_large);
  EXPECT_EQ(parse_http_request(line, 200, r), HttpParse::need_more);
  const std::string headers = "GET / HTTP/1.1\r\nX: " + std::string(100, 'b') + "\r\n";
  EXPECT_EQ(parse_http_request(headers, 64, r), HttpParse::too_large);
  EXPECT_EQ(parse_http_request(headers + "\r\n", 64, r), HttpParse::too_large);
  EXPECT_EQ(parse_http_request(headers + "\r\n", 1024, r), HttpParse::done);
  EXPECT_EQ(r.length, headers.size() + 2);
}

TEST(HttpResponses, HeadersFramingAndHead) {
  HttpResponse r;
  r.status = 405;
  r.body = "only GET and HEAD\n";
  EXPECT_EQ(render_response(r, false),
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 18\r\nConnection: close\r\nAllow: GET, HEAD\r\n\r\n"
            "only GET and HEAD\n");
  r.status = 200;
  const std::string head = render_response(r, true);
  EXPECT_NE(head.find("Content-Length: 18\r\n"), std::string::npos);
  EXPECT_TRUE(head.ends_with("\r\n\r\n")) << head;
}

TEST(JsonLog, StringsAreEscapedAndAlwaysValidUtf8) {
  std::string out;
  util::append_json_escaped(out, "a\"b\\c\nd\te\x01\x7f");
  EXPECT_EQ(out, "a\\\"b\\\\c\\nd\\te\\u0001\\u007f");
  out.clear();
  util::append_json_escaped(
      out, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");  // e-acute, euro, an emoji
  EXPECT_EQ(out, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  out.clear();
  // A lone continuation byte, a truncated sequence, an overlong form, a
  // surrogate: each byte that is not UTF-8 becomes U+FFFD.
  util::append_json_escaped(out, "\x80|\xe2\x82|\xc0\xaf|\xed\xa0\x80");
  EXPECT_EQ(out, "\\ufffd|\\ufffd\\ufffd|\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd");
}

TEST(JsonLog, AnEventCarriesItsFieldsInOrder) {
  util::LogEvent e("closing");
  e.text("peer", "127.0.0.1:5000").number("conn", 7).text("why", "say \"hi\"");
  EXPECT_EQ(e.name(), "closing");
  EXPECT_EQ(e.fields(), ",\"peer\":\"127.0.0.1:5000\",\"conn\":7,\"why\":\"say \\\"hi\\\"\"");
}

}  // namespace
}  // namespace framed::ops
