// The node's local inputs: the TOML settings loader (and what the node derives from
// it), and the control API's frames.
#include <string>
#include <string_view>

#include "../fuzz.h"
#include "control.pb.h"
#include "shardnode/core/varint.h"
#include "shardnode/node/control_server.h"
#include "shardnode/node/detail/control_ops.h"
#include "shardnode/node/metrics.h"
#include "shardnode/node/pubsub_settings.h"
#include "shardnode/node/settings.h"

namespace shardnode::fuzz {

// A config file, then everything `run` derives from it. The first line is also
// tried as a --set override.
SHARDNODE_FUZZ_TARGET(settings) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto s = node::Settings::parse(text, "fuzz.toml");
  if (!s) {
    auto d = node::Settings::defaults();
    (void)d.set_from_text(text.substr(0, text.find('\n')));
    return;
  }
  (void)node::gossipsub_config_from(*s);
  (void)node::codec_limits_from(*s);
  (void)node::score_thresholds_from(*s);
  (void)node::score_params_from(*s);
  (void)node::pubsub_config_from(*s);
  for (const auto& def : node::settings_table()) (void)s->value(def.key);
}

// The control socket's byte stream as the server splits it (control/socket.cpp):
// uvarint length (at most 1 MiB), then a Request, each looked up in the dispatch
// table. The stateful server is the control_server target.
SHARDNODE_FUZZ_TARGET(control_frame) {
  ByteView in(data, size);
  while (!in.empty()) {
    const auto len = decode_uvarint(in);
    if (len.status != VarintStatus::ok || len.value > node::kControlMaxFrame) return;
    if (in.size() - len.length < len.value) return;
    const ByteView frame = in.subspan(len.length, static_cast<std::size_t>(len.value));
    in = in.subspan(len.length + frame.size());
    shardnode::control::v1::Request req;
    if (!req.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) return;
    (void)node::control::find_op(req.op_case());
    std::string again;
    SHARDNODE_FUZZ_CHECK(req.SerializeToString(&again));
  }
}

// The metrics server's HTTP handling (node::MetricsHttp, what each connection runs):
// request bytes in fuzzer-chosen pieces, buffered as the server buffers them.
SHARDNODE_FUZZ_TARGET(metrics_http) {
  Input in(data, size);
  static const node::MetricsServerLimits limits{.max_header_bytes = 1024, .max_body_bytes = 64,
                                                .max_requests_per_connection = 4};
  static const node::MetricsServer::Renderer render = [] { return std::string("shardnode_up 1\n"); };
  node::MetricsServer::Counters counters;
  node::MetricsHttp http(limits, render, counters);
  std::string buffered;
  const std::size_t cap = limits.max_header_bytes + limits.max_body_bytes + 1024;  // the server's buffer
  while (!in.empty() && !http.finished()) {
    const ByteView piece = in.chunk();
    buffered.append(reinterpret_cast<const char*>(piece.data()), std::min(piece.size(), cap - buffered.size()));
    for (;;) {
      std::optional<node::MetricsHttp::Answer> a;
      const std::size_t used = http.feed(buffered, a);
      SHARDNODE_FUZZ_CHECK(used <= buffered.size());
      buffered.erase(0, used);
      if (!a) break;
      SHARDNODE_FUZZ_CHECK(a->status == 200 || a->status == 400 || a->status == 404 || a->status == 405 ||
                           a->status == 431);
      if (a->status == 200) SHARDNODE_FUZZ_CHECK(a->body == "shardnode_up 1\n");
      if (!a->keep_alive) SHARDNODE_FUZZ_CHECK(http.finished());
      if (http.finished()) break;
    }
    if (buffered.size() >= cap) break;  // the server answers 431 itself
  }
  SHARDNODE_FUZZ_CHECK(http.requests() <= limits.max_requests_per_connection);
}

}  // namespace shardnode::fuzz
