// The first-spy adversary: for each message, the source estimate is the neighbour
// from which the first spy to receive it got it (earliest receipt time, ties by the
// lowest spy index). Pure functions over the spies' logs; no simulator needed.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "shardnode/core/clock.h"

namespace shardnode::deanon {

using NodeIndex = std::uint32_t;

// One spy's first receipt of one message: when, from which neighbour, and whether
// it came on the stem protocol (pubsub/stem.h) rather than in gossip.
struct SpyObservation {
  NodeIndex spy = 0;
  NodeIndex from = 0;
  TimePoint at{0};
  bool stem = false;
};

struct FirstSpyVerdict {
  std::optional<NodeIndex> estimate;  // nullopt: no spy saw the message
  // Honest senders ranked by when a spy first heard the message from them
  // (earliest first, ties by lowest node index); estimate == ranking.front().
  std::vector<NodeIndex> ranking;
};

// `is_spy(n)` tells spies from honest nodes: a spy is never a candidate source.
template <class IsSpy>
FirstSpyVerdict first_spy(std::vector<SpyObservation> obs, IsSpy&& is_spy);

// Per-message scores against the truth.
struct MessageScore {
  bool guessed = false;
  bool correct = false;
  double inverse_rank = 0.0;  // 1/rank of the true source in the ranking, 0 if absent
};
MessageScore score(const FirstSpyVerdict& v, NodeIndex true_source);

}  // namespace shardnode::deanon

#include "shardnode/deanon/detail/first_spy_impl.h"
