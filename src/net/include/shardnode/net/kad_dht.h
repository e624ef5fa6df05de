// The Kademlia DHT as a sans-IO core: everything a DHT node decides - what to answer,
// whom to remember, whom to ask next, when a lookup is done - with no sockets and no
// clock. kad_service.h drives it on a live host; the simulator drives the same core
// over a simulated network (tests/sim, bench/dht_sim_bench), so figures measure this
// code.
//
// Serving (`handle`): FIND_NODE answers the k closest peers of the routing table with
// their addresses; GET_PROVIDERS the providers held for the key, and closer peers;
// PUT_VALUE/GET_VALUE hold signed peer records only (peer_record.h), under
// record_key(peer): a PUT is kept if its value opens as a record of the peer the key
// names and is newer (seq) than the one held, for `record_ttl`, at most `max_records`;
// a GET answers the held record and closer peers. ADD_PROVIDER records the sender as a provider - only the sender, only at addresses
// `dialable` allows (or those we know for it), for `provider_ttl`, at most
// `max_providers_per_key` per key and `max_provider_keys` keys (new ones refused when
// full); PING answers PING.
//
// A full bucket keeps its old peers while they answer: a newcomer for a full bucket
// makes the core PING the bucket's least recently seen peer (a request with lookup id
// kLivenessCheck); if that fails or times out, it is evicted and the newcomer takes
// its place (Kademlia's rule; a flood of new identities cannot push out live peers).
//
// Learning: `learn` is for a peer's own word (identify, its signed record, a
// configured bootnode): it joins the routing table with its addresses. Peers named in
// answers are a lookup's candidates and get an address to be dialled at (`/p2p/<id>`
// appended by the caller, so Noise checks the claim); a peer enters the routing table
// only once it has answered us. A peer whose request failed leaves the table.
//
// Lookups (`find_node`, `get_providers`, `provide`): each runs a kad_lookup.h walk;
// `take_requests` hands out the requests to send, `on_answer` takes each outcome,
// `tick` expires requests past their deadline, `take_finished` returns the results.
// `provide` is a FIND_NODE walk followed by ADD_PROVIDER to the k closest; `put_record`
// the same with PUT_VALUE of our signed record; `get_record` walks with GET_VALUE and
// stops at the first record that opens and names the peer. What we announce we also
// hold (our own record, ourselves as a provider), and what we hold counts in our own
// lookups (providers others announced to us; a record copy, unless the walk finds a
// newer one): a node among the k closest to a key is never asked by its own walk.
//
// In onion-only mode (`dialable` allows /onion3/ only) a stored or returned record may
// still carry other addresses - it is the peer's signed statement - but no address we
// would not dial is ever remembered from it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "shardnode/core/clock.h"
#include "shardnode/net/kad.h"
#include "shardnode/net/kad_lookup.h"
#include "shardnode/net/kad_routing.h"
#include "shardnode/net/peer_record.h"

namespace shardnode::net::kad {

struct DhtCoreConfig {
  std::size_t k = 20;
  std::size_t alpha = 3;
  std::size_t max_requests = 60;             // per lookup
  Duration request_timeout = std::chrono::seconds(10);
  Duration provider_ttl = std::chrono::hours(24);
  std::size_t max_providers_per_key = 20;
  std::size_t max_provider_keys = 10000;
  std::size_t max_addresses = 4000;          // peers whose addresses we remember
  Duration record_ttl = std::chrono::hours(24);
  std::size_t max_records = 10000;           // signed peer records held for others
  std::function<bool(const Multiaddr&)> dialable;  // null: every address
  Limits limits;
};

struct DhtCounters {
  std::uint64_t requests_in = 0, requests_refused = 0;
  std::uint64_t requests_out = 0, requests_failed = 0;
  std::uint64_t lookups = 0, providers_stored = 0, providers_refused = 0;
  std::uint64_t records_stored = 0, records_refused = 0;
  std::uint64_t evicted = 0;  // routing-table peers dropped after failing a liveness check
};

struct ProviderInfo {
  PeerId peer;
  std::vector<Multiaddr> addrs;
};

struct LookupResult {
  std::vector<PeerId> closest;          // peers that answered, closest first
  std::vector<ProviderInfo> providers;  // get_providers
  std::size_t accepted = 0;             // provide, put_record: requests answered
  std::optional<SignedPeerRecord> record;  // get_record: the newest record that opened
  std::size_t requests = 0, failures = 0;
};

// The DHT key a peer's signed record is stored under: "/shardnode-pr/" || peer id bytes.
Bytes record_key(const PeerId& peer);
std::optional<PeerId> record_key_peer(ByteView key);

class Dht {
 public:
  using LookupId = std::uint64_t;
  // The lookup id of a liveness check (a PING to a full bucket's oldest peer).
  static constexpr LookupId kLivenessCheck = 0;
  struct Request {
    LookupId lookup;
    PeerId to;
    Message message;
  };
  struct Finished {
    LookupId lookup;
    LookupResult result;
  };

  Dht(const PeerId& self, DhtCoreConfig cfg = {});
  ~Dht();
  Dht(const Dht&) = delete;
  Dht& operator=(const Dht&) = delete;

  // ---- serving
  Message handle(const PeerId& from, const Message& request, TimePoint now);
  // decode + handle + encode; a request that does not decode is refused (counted).
  Result<Bytes> handle_bytes(const PeerId& from, ByteView request, TimePoint now);

  // ---- peers
  void learn(const PeerId& peer, const std::vector<Multiaddr>& addrs, TimePoint now);
  std::optional<std::vector<Multiaddr>> addresses_of(const PeerId& peer) const;

  // ---- lookups
  LookupId find_node(const Bytes& key, TimePoint now);
  LookupId get_providers(const Bytes& key, std::size_t want, TimePoint now);
  LookupId provide(const Bytes& key, std::vector<Multiaddr> our_addrs, TimePoint now);
  LookupId put_record(const SignedPeerRecord& ours, TimePoint now);
  LookupId get_record(const PeerId& peer, TimePoint now);
  std::vector<Request> take_requests(TimePoint now);
  void on_answer(LookupId id, const PeerId& from, const Result<Message>& answer, TimePoint now);
  void tick(TimePoint now);
  std::vector<Finished> take_finished() { return std::exchange(finished_, {}); }
  // Lookups and liveness checks still running (a driver ticks while there are any).
  std::size_t active_lookups() const { return lookups_.size() + checks_.size(); }

  const RoutingTable& table() const { return table_; }
  const DhtCounters& counters() const { return counters_; }
  std::size_t provider_keys() const { return providers_.size(); }
  std::size_t records_held() const { return records_.size(); }
  const PeerId& self() const { return self_; }

 private:
  struct Walk;
  // The addresses of `p` we may dial (`dialable`; a /p2p suffix only if it is p's,
  // dropped), at most limits.max_addrs.
  std::vector<Multiaddr> usable_addrs(const PeerId& p, const std::vector<Multiaddr>& addrs) const;
  void remember(const PeerId& p, const std::vector<Multiaddr>& addrs);
  Peer peer_entry(const PeerId& p) const;
  void prune_providers(TimePoint now);
  LookupId start(Message request, std::size_t want, TimePoint now, std::optional<Message> add = {},
                 std::optional<SignedPeerRecord> local = {});
  void progress(LookupId id, Walk& w, TimePoint now);
  void admit(const PeerId& peer, TimePoint now);  // into the routing table, checking a full bucket
  void end_check(const PeerId& oldest, bool alive, TimePoint now);

  PeerId self_;
  DhtCoreConfig cfg_;
  RoutingTable table_;
  std::map<PeerId, std::vector<Multiaddr>> addrs_;
  struct Stored {
    std::vector<Multiaddr> addrs;
    TimePoint expires{};
  };
  std::map<Bytes, std::map<PeerId, Stored>> providers_;
  struct HeldRecord {
    SignedPeerRecord record;
    TimePoint expires{};
  };
  std::map<Bytes, HeldRecord> records_;  // by record_key
  std::map<LookupId, std::unique_ptr<Walk>> lookups_;
  struct Check {
    PeerId newcomer;
    TimePoint deadline{};
  };
  std::map<PeerId, Check> checks_;  // liveness checks of full buckets' oldest peers
  LookupId next_id_ = 1;
  std::vector<Request> out_;
  std::vector<Finished> finished_;
  DhtCounters counters_;
};

}  // namespace shardnode::net::kad
