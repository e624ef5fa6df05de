// Tor v3 onion services as a libp2p transport.
//
// listen(/onion3/<our address>:<port>): binds a unix socket (mode 0600) in the data
// directory and publishes the node key as an onion service with
// `ADD_ONION ED25519-V3:<key> Flags=DiscardPK Port=<port>,unix:<socket>`, so the
// onion address *is* the node identity. The service counts as published once tor
// reports the first descriptor upload (HS_DESC UPLOADED); on_published() tells.
//
// dial(/onion3/<addr>:<port>): connects to tor's SOCKS5 port (a unix socket, or a
// loopback TCP port for an external tor), asks for the onion hostname - never
// resolved here - with a per-peer SOCKS username so tor isolates circuits per peer,
// and retries with capped backoff while tor reports a descriptor that is not yet
// available or an intro/rendezvous failure (ExtendedErrors F0/F2/F3/F7, or 4).
// The host then requires the remote to prove the onion address's key in Noise.
//
// Nothing here opens a clearnet connection: can_dial() accepts /onion3/ only.
#pragma once

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <list>
#include <memory>
#include <string>

#include "shardnode/core/clock.h"
#include "shardnode/core/clock_timer.h"
#include "shardnode/core/keys.h"
#include "shardnode/net/transport.h"

namespace shardnode::onion {
class ControlClient;
struct HsDescEvent;
}

namespace shardnode::net {

struct OnionTransportConfig {
  // tor's SOCKS5 port: "unix:/path/socks.sock" or "127.0.0.1:<port>" (loopback only).
  std::string socks_endpoint;
  // Where tor forwards inbound onion connections (kept short: sun_path is ~108 bytes).
  std::filesystem::path service_socket;
  bool pow_defense = true;           // PoWDefensesEnabled=1 on our service
  std::uint32_t max_streams = 0;     // MaxStreams per rendezvous circuit; 0: tor's default
  // A dial retries until this much time has passed since it started.
  std::chrono::milliseconds dial_timeout{120000};
  std::chrono::milliseconds retry_initial{1000};
  std::chrono::milliseconds retry_max{8000};
  // How long to wait for the first descriptor upload before on_published() fails.
  std::chrono::milliseconds publish_timeout{180000};
  // SOCKS5 password sent with the per-peer isolation username.
  std::string isolation_password = "shardnode";
  // The clock dial deadlines are measured on (null: the real monotonic clock).
  const Clock* clock = nullptr;
};

class OnionTransport final : public Transport {
 public:
  struct Counters {
    std::uint64_t dials = 0, dial_attempts = 0, dial_retries = 0, dials_failed = 0, dials_succeeded = 0;
    std::uint64_t inbound = 0;
    std::uint64_t descriptors_uploaded = 0, descriptor_uploads_failed = 0;
  };
  // on_published(ok, detail): once, at the first HS_DESC UPLOADED for our address
  // (ok), or when every upload failed / publish_timeout passed (error).
  using PublishedHandler = std::function<void(Status)>;

  OnionTransport(boost::asio::io_context& io, const NodeKey& key, std::shared_ptr<onion::ControlClient> control,
                 OnionTransportConfig cfg);
  ~OnionTransport() override;

  const char* name() const override { return "onion3"; }
  bool can_dial(const Multiaddr& addr) const override { return addr.onion_endpoint().has_value(); }
  bool can_listen(const Multiaddr& addr) const override;
  void dial(const Multiaddr& addr, DialHandler handler) override;
  Result<Multiaddr> listen(const Multiaddr& addr, AcceptHandler on_accept) override;
  void close() override;

  void on_published(PublishedHandler h) { on_published_ = std::move(h); }
  bool published() const { return published_; }
  const std::string& onion_address() const { return service_id_; }
  const Counters& counters() const { return counters_; }

  // The node routes tor's HS_DESC events here (SETEVENTS is the node's, not ours).
  void on_hs_desc(const onion::HsDescEvent& ev);

  // The SOCKS username tor isolates circuits by for a dial from our onion service
  // `own_address` to `onion_address`: one circuit set per peer and per identity of
  // ours, so a rotated identity never shares a circuit with the one before it.
  static std::string isolation_username(const std::string& own_address, const std::string& onion_address);

 private:
  struct Dial;
  struct Listener;
  void attempt(const std::shared_ptr<Dial>& d);
  void socks_write(const std::shared_ptr<Dial>& d);
  void socks_read(const std::shared_ptr<Dial>& d);
  void socks_refused(const std::shared_ptr<Dial>& d);
  void finish_publish(Status s);
  void accept_next();

  boost::asio::io_context& io_;
  const NodeKey& key_;
  std::shared_ptr<onion::ControlClient> control_;
  OnionTransportConfig cfg_;
  SteadyClock steady_;
  const Clock* clock_;  // cfg_.clock or steady_
  std::string own_address_;   // 56 chars, from our key
  std::string service_id_;    // once ADD_ONION answered
  std::shared_ptr<Listener> listener_;
  std::list<std::weak_ptr<Dial>> dials_;
  PublishedHandler on_published_;
  std::unique_ptr<ClockTimer> publish_timer_;
  bool published_ = false, publish_reported_ = false, closed_ = false;
  std::size_t uploads_started_ = 0, uploads_failed_ = 0;
  Counters counters_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace shardnode::net
