// An iterative Kademlia lookup (FIND_NODE, GET_PROVIDERS, GET_VALUE all walk the
// same way), as a sans-IO state machine: the caller asks `next` whom to query, sends
// the requests, and reports each answer (`on_response`, with the closer peers it
// named) or failure (`on_failure`, or the request deadline passing in `tick`).
//
// Bounds, because an onion dial costs about a second and a lookup must not wander:
// at most `alpha` requests in flight, at most `max_requests` in all, and the caller's
// overall deadline (the lookup does not read a clock). It finishes when the `k`
// closest peers it knows that have not failed have all answered - or when no peer is
// left to ask, or the request budget is spent. Peers are only ever candidates: a
// peer named by another is never trusted to exist until it answers itself.
#pragma once

#include <cstddef>
#include <map>
#include <vector>

#include "shardnode/core/clock.h"
#include "shardnode/net/kad.h"

namespace shardnode::net::kad {

struct LookupConfig {
  std::size_t alpha = 3;
  std::size_t k = 20;
  std::size_t max_requests = 60;
  Duration request_timeout = std::chrono::seconds(10);
  std::size_t max_candidates = 200;  // peers remembered; the farthest are dropped
};

class Lookup {
 public:
  Lookup(const Key& target, const PeerId& self, const std::vector<PeerId>& seeds, LookupConfig cfg = {});

  // Peers to query now; each is in flight from `now` until it answers, fails or times out.
  std::vector<PeerId> next(TimePoint now);
  // `from` answered, naming `closer` (ourselves, and peers already known, are ignored).
  void on_response(const PeerId& from, const std::vector<PeerId>& closer);
  void on_failure(const PeerId& from);
  // Requests past their deadline count as failures; returns those peers.
  std::vector<PeerId> tick(TimePoint now);

  bool finished() const;
  // Up to k peers that answered, closest first.
  std::vector<PeerId> closest() const;
  std::size_t requests() const { return requests_; }
  std::size_t in_flight() const { return in_flight_; }
  std::size_t failures() const { return failures_; }
  const Key& target() const { return target_; }

 private:
  enum class State { waiting, in_flight, answered, failed };
  struct Candidate {
    PeerId id;
    State state = State::waiting;
    TimePoint deadline{};
  };
  void add(const PeerId& p);
  // Whether every one of the k closest non-failed candidates has answered.
  bool closest_answered() const;

  Key target_;
  PeerId self_;
  LookupConfig cfg_;
  std::map<Key, Candidate> by_distance_;  // XOR distance to the target -> candidate
  std::size_t requests_ = 0, in_flight_ = 0, failures_ = 0;
};

}  // namespace shardnode::net::kad
