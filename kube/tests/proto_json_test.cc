// Protobuf → JSON transcoding: the wire format, the envelope and watch frames, and Go's
// encoding/json details, on hand-built messages. Faithfulness against the real API server
// is checked by the integration test (tests/integration/proto_test.cc).

#include "proto_json.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <cstdint>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "poolguard/kube/client.h"
#include "poolguard/kube/errors.h"
#include "watch_stream.h"

namespace poolguard::kube::proto {
namespace {

// ---- a tiny protobuf writer -------------------------------------------------------------

std::string Varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}
std::string Tag(uint32_t number, int wire) { return Varint((uint64_t{number} << 3) | wire); }
std::string Len(uint32_t number, const std::string& bytes) {
  return Tag(number, 2) + Varint(bytes.size()) + bytes;
}
std::string Int(uint32_t number, int64_t v) {
  return Tag(number, 0) + Varint(static_cast<uint64_t>(v));
}
std::string Entry(uint32_t number, const std::string& key, const std::string& value) {
  return Len(number, Len(1, key) + Len(2, value));
}
std::string Envelope(const std::string& api_version, const std::string& kind,
                     const std::string& raw) {
  return std::string(kMagic) + Len(1, Len(1, api_version) + Len(2, kind)) + Len(2, raw);
}

TEST(ProtoJsonTest, ConfigMapFieldOrderMapsAndOmitEmpty) {
  std::string meta = Len(1, "cm") + Len(3, "ns") + Len(6, "42") + Len(8, Int(1, 1700000000)) +
                     Entry(11, "b", "2") + Entry(11, "a", "1");
  // data entries out of order and a duplicate key (the last wins, as in a Go map).
  std::string cm = Len(1, meta) + Entry(2, "z", "last") + Entry(2, "k", "v<&>") +
                   Entry(2, "z", "zz") + Entry(3, "bin", std::string("\x00\xff\x10", 3)) +
                   Entry(3, "empty", "");
  EXPECT_EQ(ToJson(Envelope("v1", "ConfigMap", cm)),
            R"({"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"cm","namespace":"ns",)"
            R"("resourceVersion":"42","creationTimestamp":"2023-11-14T22:13:20Z",)"
            R"("labels":{"a":"1","b":"2"}},"data":{"k":"v\u003c\u0026\u003e","z":"zz"},)"
            R"("binaryData":{"bin":"AP8Q","empty":""}})");
}

TEST(ProtoJsonTest, EmptyObjectKeepsStructsAndOmitsZeroTime) {
  // metadata is a struct: never omitted; creationTimestamp is omitzero.
  EXPECT_EQ(ToJson(Envelope("v1", "ConfigMap", "")),
            R"({"kind":"ConfigMap","apiVersion":"v1","metadata":{}})");
  // An empty Timestamp message is the zero time too.
  EXPECT_EQ(ToJson(Envelope("v1", "ConfigMap", Len(1, Len(8, "")))),
            R"({"kind":"ConfigMap","apiVersion":"v1","metadata":{}})");
}

TEST(ProtoJsonTest, PointerScalarsPresentAtZero) {
  // immutable is *bool: present false is written, absent is omitted.
  EXPECT_EQ(ToJson(Envelope("v1", "ConfigMap", Int(4, 0))),
            R"({"kind":"ConfigMap","apiVersion":"v1","metadata":{},"immutable":false})");
}

TEST(ProtoJsonTest, IntOrStringQuantityAndApps) {
  // PodDisruptionBudget spec: minAvailable (IntOrString*), maxUnavailable.
  std::string spec = Len(1, Int(1, 0) + Int(2, 3)) + Len(3, Int(1, 1) + Len(3, "50%"));
  std::string pdb = Len(2, spec);
  EXPECT_EQ(ToJson(Envelope("policy/v1", "PodDisruptionBudget", pdb)),
            R"({"kind":"PodDisruptionBudget","apiVersion":"policy/v1","metadata":{},)"
            R"("spec":{"minAvailable":3,"maxUnavailable":"50%"},)"
            R"("status":{"disruptionsAllowed":0,"currentHealthy":0,"desiredHealthy":0,)"
            R"("expectedPods":0}})");
}

TEST(ProtoJsonTest, StatusAndUnknownKinds) {
  std::string status = Len(2, "Failure") + Len(3, "too old") + Len(4, "Expired") + Int(6, 410);
  EXPECT_EQ(ToJson(Envelope("v1", "Status", status)),
            R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
            R"("message":"too old","reason":"Expired","code":410})");
  EXPECT_THROW(ToJson(Envelope("example.com/v1", "Widget", "")), ProtoError);
  EXPECT_THROW(ToJson("not k8s"), ProtoError);
  // A field number the generated layout does not know (a newer server): refused, not
  // silently dropped.
  EXPECT_THROW(ToJson(Envelope("v1", "ConfigMap", Len(99, "x"))), ProtoError);
}

TEST(ProtoJsonTest, MalformedWireData) {
  std::string truncated_len = Tag(2, 2) + Varint(10) + "abc";
  EXPECT_THROW(ToJson(Envelope("v1", "ConfigMap", truncated_len)), ProtoError);
  std::string truncated_varint = Tag(4, 0) + "\xff";
  EXPECT_THROW(ToJson(Envelope("v1", "ConfigMap", truncated_varint)), ProtoError);
  std::string wrong_wire = Int(1, 3);  // metadata as a varint
  EXPECT_THROW(ToJson(Envelope("v1", "ConfigMap", wrong_wire)), ProtoError);
  std::string group = Tag(1, 3);
  EXPECT_THROW(ToJson(Envelope("v1", "ConfigMap", group)), ProtoError);
}

TEST(ProtoJsonTest, NegativeAndLargeVarints) {
  // Event.count is int32; -1 is sent as a 10-byte varint.
  std::string ev = Int(8, -1);
  std::string json = ToJson(Envelope("v1", "Event", ev));
  EXPECT_NE(json.find(R"("count":-1)"), std::string::npos) << json;
  std::string meta = Int(7, INT64_MAX);
  json = ToJson(Envelope("v1", "ConfigMap", Len(1, meta)));
  EXPECT_NE(json.find(R"("generation":9223372036854775807)"), std::string::npos) << json;
}

// `depth` scheduling CompositePodGroupTemplates, each the only compositePodGroupTemplates
// (field 9) of the one around it: the input, not the layout, sets the nesting.
std::string NestedTemplates(int depth) {
  std::vector<size_t> size(static_cast<size_t>(depth) + 1, 0);
  for (int k = 1; k <= depth; ++k) {
    size[k] = Tag(9, 2).size() + Varint(size[k - 1]).size() + size[k - 1];
  }
  std::string out;
  for (int k = depth; k >= 1; --k) out += Tag(9, 2) + Varint(size[k - 1]);
  return out;
}

TEST(ProtoJsonTest, DeepNestingIsRefusedNotAStackOverflow) {
  auto workload = [](int depth) {
    return Envelope("scheduling.k8s.io/v1alpha3", "Workload",
                    Len(2, Len(3, NestedTemplates(depth))));
  };
  std::string json = ToJson(workload(50));
  EXPECT_NE(json.find(R"("compositePodGroupTemplates":[{"name":"")"), std::string::npos);
  // A million levels (about 4 MB) would overflow any thread's stack.
  EXPECT_THROW(ToJson(workload(1000000)), ProtoError);
  std::string event = Len(1, "ADDED") + Len(2, Len(1, workload(1000000)));
  EXPECT_THROW(internal::ParseWatchFrame(event, "test"), ApiError);
}

TEST(ProtoJsonTest, MicroTimeOutOfRange) {
  auto lease = [](int64_t seconds, int64_t nanos) {
    std::string spec = Len(3, Int(1, seconds) + Int(2, nanos));
    return ToJson(Envelope("coordination.k8s.io/v1", "Lease", Len(2, spec)));
  };
  EXPECT_NE(lease(1700000000, 123456789).find(R"("acquireTime":"2023-11-14T22:13:20.123456Z")"),
            std::string::npos);
  // Normalising the nanoseconds must not overflow the seconds.
  EXPECT_THROW(lease(INT64_MAX, INT32_MAX), ProtoError);
  EXPECT_THROW(lease(INT64_MIN, -1000), ProtoError);
  EXPECT_THROW(lease(253402300800, 0), ProtoError);  // year 10000
}

TEST(ProtoJsonTest, EmbeddedJsonMustBeValid) {
  auto revision = [](const std::string& raw) {
    return ToJson(Envelope("apps/v1", "ControllerRevision", Len(2, Len(1, raw))));
  };
  EXPECT_EQ(revision(" {\"a\" : [1, -2.5e+3, true, false, null, \"\\u00e9\\n\"], \"b\": {}} "),
            R"({"kind":"ControllerRevision","apiVersion":"apps/v1","metadata":{},)"
            R"("data":{"a":[1,-2.5e+3,true,false,null,"\u00e9\n"],"b":{}},"revision":0})");
  // Unbalanced, truncated or trailing content would break (or add members to) the object
  // around it.
  const char* bad_json[] = {"{",
                            "{}}",
                            "[}",
                            "{\"a\":1,}",
                            "[1,]",
                            "\"abc",
                            "\"a\\",
                            "\"\\x\"",
                            "\"\\u12\"",
                            "tru",
                            "1 2",
                            "-",
                            "01",
                            "1.",
                            "1e",
                            "{1:2}",
                            "{\"a\" 1}",
                            "[1 2]",
                            "{}, \"metadata\": {}",
                            "\"\n\""};
  for (const char* bad : bad_json) {
    EXPECT_THROW(revision(bad), ProtoError) << bad;
    std::string out;
    EXPECT_THROW(AppendCompactJson(bad, &out), ProtoError) << bad;
  }
  EXPECT_THROW(revision(std::string(20000, '[') + std::string(20000, ']')), ProtoError);
}

TEST(ProtoJsonTest, WatchFrame) {
  std::string obj = Envelope("v1", "ConfigMap", Len(1, Len(1, "a")));
  std::string event = Len(1, "ADDED") + Len(2, Len(1, obj));
  RawWatchEvent ev = internal::ParseWatchFrame(event, "test");
  EXPECT_EQ(ev.type, WatchEvent::Type::kAdded);
  EXPECT_EQ(ev.object, R"({"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a"}})");
  EXPECT_THROW(internal::ParseWatchFrame(Len(1, "NOPE"), "test"), ApiError);
  EXPECT_THROW(internal::ParseWatchFrame(Len(2, Len(1, obj)), "test"), ApiError);
  EXPECT_EQ(internal::ProtobufBodyAsJson(Envelope("v1", "Status", Int(6, 404))),
            R"({"kind":"Status","apiVersion":"v1","metadata":{},"code":404})");
  EXPECT_EQ(internal::ProtobufBodyAsJson("garbage"), "garbage");
}

TEST(ProtoJsonTest, GoStringEscapes) {
  auto q = [](std::string_view s) {
    std::string out;
    AppendGoString(s, &out);
    return out;
  };
  EXPECT_EQ(q("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(q("\b\f\n\r\t"), R"("\b\f\n\r\t")");
  EXPECT_EQ(q(std::string("\x00\x01\x1f\x7f", 4)), "\"\\u0000\\u0001\\u001f\x7f\"");
  EXPECT_EQ(q("<a href='x'>&amp;</a>"), R"("\u003ca href='x'\u003e\u0026amp;\u003c/a\u003e")");
  EXPECT_EQ(q("\xe2\x80\xa8\xe2\x80\xa9"), R"("\u2028\u2029")");
  EXPECT_EQ(q("h\xc3\xa9llo \xf0\x9f\x98\x80"), "\"h\xc3\xa9llo \xf0\x9f\x98\x80\"");
  // Invalid UTF-8: each bad byte becomes U+FFFD (lone continuation, truncated sequence,
  // overlong, surrogate).
  EXPECT_EQ(q("\x80"), R"("\ufffd")");
  EXPECT_EQ(q("\xe2\x80"), R"("\ufffd\ufffd")");
  EXPECT_EQ(q("\xc0\xaf"), R"("\ufffd\ufffd")");
  EXPECT_EQ(q("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");
}

TEST(ProtoJsonTest, GoFloats) {
  auto f = [](double v) {
    std::string out;
    AppendGoFloat(v, &out);
    return out;
  };
  EXPECT_EQ(f(0), "0");
  EXPECT_EQ(f(1), "1");
  EXPECT_EQ(f(0.1), "0.1");
  EXPECT_EQ(f(-2.5), "-2.5");
  EXPECT_EQ(f(1e20), "100000000000000000000");
  EXPECT_EQ(f(1e21), "1e+21");
  EXPECT_EQ(f(1e-6), "0.000001");
  EXPECT_EQ(f(1e-7), "1e-7");
  EXPECT_EQ(f(1.5e-10), "1.5e-10");
  EXPECT_EQ(f(123456789.125), "123456789.125");
}

TEST(ProtoJsonTest, GoDurations) {
  EXPECT_EQ(GoDuration(0), "0s");
  EXPECT_EQ(GoDuration(1), "1ns");
  EXPECT_EQ(GoDuration(1500), "1.5\xc2\xb5s");
  EXPECT_EQ(GoDuration(2000000), "2ms");
  EXPECT_EQ(GoDuration(1000000000), "1s");
  EXPECT_EQ(GoDuration(90 * 1000000000LL), "1m30s");
  EXPECT_EQ(GoDuration(3600 * 1000000000LL + 500000000), "1h0m0.5s");
  EXPECT_EQ(GoDuration(-1500000000), "-1.5s");
  EXPECT_EQ(GoDuration(INT64_MIN), "-2562047h47m16.854775808s");
}

TEST(ProtoJsonTest, CompactJson) {
  std::string out;
  AppendCompactJson("{ \"a\" : [1, 2],\n \"b\": \"x y <\\\" >\" }", &out);
  EXPECT_EQ(out, R"({"a":[1,2],"b":"x y \u003c\" \u003e"})");
}

TEST(ProtoJsonTest, ResourcesOfBuiltInKinds) {
  EXPECT_NE(FindResource("", "v1", "configmaps"), nullptr);
  EXPECT_NE(FindResource("apps", "v1", "deployments"), nullptr);
  EXPECT_NE(FindResource("", "v1", "endpoints"), nullptr);
  EXPECT_NE(FindResource("coordination.k8s.io", "v1", "leases"), nullptr);
  EXPECT_EQ(FindResource("kubetest.poolguard.dev", "v1", "widgets"), nullptr);
  EXPECT_TRUE(IsProtobuf("application/vnd.kubernetes.protobuf;stream=watch"));
  EXPECT_TRUE(IsProtobuf("application/vnd.kubernetes.protobuf"));
  EXPECT_FALSE(IsProtobuf("application/json"));
}

}  // namespace
}  // namespace poolguard::kube::proto

// ---- a protobuf watch stream with a frame larger than any object -------------------------

namespace poolguard::kube {
namespace {

// Serves one HTTP/1.1 response on a loopback port: a protobuf watch whose first frame
// announces `length` bytes and then sends `sent` bytes of it, keeping the connection open
// until the client goes.
class OneWatchServer {
 public:
  OneWatchServer(uint32_t length, size_t sent)
      : acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this, length, sent] {
      boost::system::error_code ec;
      boost::asio::ip::tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      if (ec) return;
      std::string request;
      char c;
      while (request.find("\r\n\r\n") == std::string::npos &&
             boost::asio::read(socket, boost::asio::buffer(&c, 1), ec) == 1) {
        request.push_back(c);
      }
      std::string body = {static_cast<char>(length >> 24), static_cast<char>(length >> 16),
                          static_cast<char>(length >> 8), static_cast<char>(length)};
      body += std::string(sent, 'x');
      std::ostringstream chunk;
      chunk << std::hex << body.size() << "\r\n" << body << "\r\n";
      const std::string head =
          "HTTP/1.1 200 OK\r\n"
          "Content-Type: application/vnd.kubernetes.protobuf;stream=watch\r\n"
          "Transfer-Encoding: chunked\r\n\r\n";
      boost::asio::write(socket, boost::asio::buffer(head + chunk.str()), ec);
      while (boost::asio::read(socket, boost::asio::buffer(&c, 1), ec) == 1) {
      }
    });
  }
  ~OneWatchServer() {
    boost::system::error_code ec;
    acceptor_.close(ec);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  int port_ = 0;
  std::thread thread_;
};

TEST(ProtobufWatchFrames, AFrameLongerThanAnyObjectEndsTheWatchInsteadOfBuffering) {
  OneWatchServer server(0xFFFFFFF0u, 1000);
  Config config;
  config.server = server.url();
  auto client = Client::Create(config);
  auto stream = client->OpenWatchAccept("/api/v1/configmaps", {{"watch", "true"}},
                                        std::chrono::seconds(10), proto::kMediaType);
  try {
    stream->NextRaw();
    FAIL() << "an announced frame of ~4 GiB was accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kTransport);
    EXPECT_NE(std::string(e.what()).find("protobuf watch frame of 4294967280 bytes"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace poolguard::kube
