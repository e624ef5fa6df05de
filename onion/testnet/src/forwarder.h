// The `wan` profile's delaying forwarder: listens on every advertised ORPort of the
// testnet (forward.json routes), and for each connection opens one to the node's real
// (NoAdvertise) ORPort, bound to the caller's own address so the node still sees who
// called. Each direction goes through a DelayLine (delay.h) with the one-way latency
// between the caller's region (from its source address) and the node's region, plus
// jitter and the per-connection rate cap. A single-threaded poll loop over
// non-blocking sockets; time from the injected Clock. Run by the hidden CLI command
// `shardnode testnet forward --config D/forward.json` (a detached process started by
// `testnet up`), in-process by the tests. Internal to shardnode_testnet.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "latency.h"
#include "shardnode/core/clock.h"
#include "shardnode/core/result.h"

namespace shardnode::testnet::detail {

class Forwarder {
 public:
  // Binds every route's listener (a listen_port of 0 takes any free port).
  static Result<std::unique_ptr<Forwarder>> open(ForwardConfig cfg, const Clock& clock);
  ~Forwarder();
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // The port route i listens on.
  int listen_port(std::size_t route) const;

  // Forwards until stop_fd becomes readable (a self-pipe written from a signal
  // handler, or by a test). Returns an error only if poll itself fails.
  Status run(int stop_fd);

  std::uint64_t connections_accepted() const { return accepted_; }

 private:
  struct Pair;
  Forwarder(ForwardConfig cfg, const Clock& clock);
  int region_of(std::uint32_t addr_host_order) const;
  void accept_on(std::size_t route);
  void flush(Pair& p, TimePoint now);

  ForwardConfig cfg_;
  const Clock& clock_;
  std::vector<int> listeners_;
  std::vector<int> ports_;
  std::vector<std::unique_ptr<Pair>> pairs_;
  std::uint64_t accepted_ = 0;
};

}  // namespace shardnode::testnet::detail
