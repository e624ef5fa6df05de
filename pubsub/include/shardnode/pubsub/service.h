// Runs a Router on the live libp2p host: one outbound stream per peer for our RPCs
// (negotiating /meshsub/1.2.0, /meshsub/1.1.0 or /floodsub/1.0.0), the peer's inbound
// stream read as uvarint-length-prefixed RPCs, the heartbeat on an Asio timer.
// Everything runs on the host's io_context thread. With GossipsubConfig::stem on,
// stem messages travel on /shardnode/stem/1.0.0: one outbound stream per peer,
// opened on first use, carrying uvarint-length-prefixed RPCs of exactly one message
// each; a peer that does not speak it is routed around. An RPC that does not fit in the
// peer's stream buffer (yamux max_send_buffer) is dropped and counted: a slow peer
// must not grow our memory.
#pragma once

#include <boost/asio/steady_timer.hpp>

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>

#include "shardnode/core/random.h"
#include "shardnode/net/host.h"
#include "shardnode/pubsub/inbound_gate.h"
#include "shardnode/pubsub/outbound_queue.h"
#include "shardnode/pubsub/codec.h"
#include "shardnode/pubsub/router.h"

namespace shardnode::pubsub {

struct ServiceConfig {
  GossipsubConfig gossip;
  PeerScoreParams score = PeerScoreParams::defaults();
  PeerScoreThresholds thresholds = PeerScoreThresholds::defaults();
  CodecLimits limits;
  Duration heartbeat_initial_delay = std::chrono::milliseconds(100);
  // Each peer's outbound lanes (outbound_queue.h); a peer stalled past
  // outbound.stall_after is disconnected.
  OutboundLimits outbound;
  // Budgets for what we read from peers, and the admission rate of new inbound
  // identities (inbound_gate.h).
  InboundLimits inbound;
  // With the latency-aware mesh (gossip.latency.enabled), every peer is pinged
  // (/ipfs/ping) this often and the round trip goes to Router::observe_rtt.
  Duration ping_interval = std::chrono::seconds(30);
};

inline constexpr const char* kStemProtocolId = "/shardnode/stem/1.0.0";

// One message copy as it reached us, for the live deanonymization experiment's
// test-only receipt log (`shardnode run --test-receipt-log`): a copy a peer sent us
// in gossip or on the stem (before the router sees it, duplicates included), or a
// message we published (`from` is then our own id).
struct Receipt {
  enum class Kind { gossip, stem, own };
  Kind kind = Kind::gossip;
  PeerId from;
  TopicId topic;
  MessageId id;
};

struct ServiceCounters {
  // rpcs_out counts frames written (an RPC of the router's may go out as one frame
  // per lane); rpcs_dropped_queue_full the frames a full lane refused, also by lane.
  std::uint64_t rpcs_in = 0, rpcs_out = 0, rpcs_malformed = 0, rpcs_dropped_queue_full = 0;
  std::array<std::uint64_t, kLanes> dropped_by_lane{};
  std::uint64_t slow_peers_dropped = 0;  // disconnected: their queue did not move for outbound.stall_after
  std::uint64_t stem_in = 0, stem_out = 0, stem_malformed = 0, stem_dropped = 0;
};

class PubsubService {
 public:
  PubsubService(boost::asio::io_context& io, net::Host& host, ServiceConfig cfg);
  ~PubsubService();

  void start();
  void stop();

  void subscribe(const TopicId& topic);
  void unsubscribe(const TopicId& topic);
  Result<MessageId> publish(const TopicId& topic, Bytes data);
  void set_validator(const TopicId& topic, Validator v) { router_.set_validator(topic, std::move(v)); }
  void report_validation(const MessageId& id, ValidationResult r);
  void on_message(std::function<void(const Delivery&)> f) { on_message_ = std::move(f); }
  // Stem mode: one of our own messages has entered gossip (Router::take_own_gossiped).
  void on_own_gossiped(std::function<void(const MessageId&)> f) { on_own_gossiped_ = std::move(f); }
  // Peer exchange: the candidates of PRUNEs we accepted PX from (Router::take_px_candidates).
  void on_px(std::function<void(const std::vector<Router::PxCandidate>&)> f) { on_px_ = std::move(f); }
  // The signed peer records offered with PX peers in our PRUNEs (Router::set_record_source).
  void set_record_source(std::function<std::optional<Bytes>(const PeerId&)> f) { router_.set_record_source(std::move(f)); }

  // Test-only: every Receipt, as it happens. Costs a message-id computation per
  // copy received; unset (the default), nothing is computed or recorded.
  void on_receipt(std::function<void(const Receipt&)> f) { on_receipt_ = std::move(f); }

  Router& router() { return router_; }
  const ServiceCounters& counters() const { return counters_; }
  const InboundGate& inbound() const { return gate_; }
  TimePoint now() const { return clock_.now(); }

 private:
  struct PeerStreams;
  struct Inbound;
  void read_inbound(const std::shared_ptr<Inbound>& in);
  void on_connected(const PeerId& peer);
  void on_disconnected(const PeerId& peer);
  void on_inbound(std::shared_ptr<net::Stream> s);
  void on_stem_inbound(std::shared_ptr<net::Stream> s);
  void send_stem(const PeerId& peer, Message msg);
  void report_receipts(const PeerId& from, std::span<const Message> msgs, Receipt::Kind kind);
  void flush();
  void flush_once();
  void pump(const PeerId& peer, PeerStreams& ps);  // writes from ps's queue while its stream has room
  void drop_stalled_peers();
  void schedule_heartbeat(Duration after);
  void ping_peers();  // GossipsubConfig::latency: round trips for the router

  boost::asio::io_context& io_;
  net::Host& host_;
  ServiceConfig cfg_;
  SecureRandom rng_;
  SteadyClock clock_;
  Router router_;
  InboundGate gate_;
  std::map<PeerId, std::unique_ptr<PeerStreams>> peers_;
  std::uint64_t generation_ = 0;
  boost::asio::steady_timer heartbeat_;
  std::function<void(const Delivery&)> on_message_;
  std::function<void(const MessageId&)> on_own_gossiped_;
  std::function<void(const std::vector<Router::PxCandidate>&)> on_px_;
  std::function<void(const Receipt&)> on_receipt_;
  ServiceCounters counters_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  bool started_ = false;
  std::optional<TimePoint> last_ping_;
};

}  // namespace shardnode::pubsub
