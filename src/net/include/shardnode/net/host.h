// The libp2p host: transports, listeners, the connection manager (limits, per-peer
// dedupe, dial timeouts and backoff), the protocol handler registry, and the
// identify and ping services. Single-threaded: call it from its io_context's thread.
#pragma once

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "shardnode/core/clock.h"
#include "shardnode/core/keys.h"
#include "shardnode/net/connection.h"
#include "shardnode/net/identify.h"
#include "shardnode/net/transport.h"

namespace shardnode::net {

struct HostConfig {
  std::size_t max_connections = 128;
  std::size_t max_inbound = 96;
  std::size_t max_outbound = 64;
  std::chrono::milliseconds dial_timeout{10000};   // transport connect + upgrade
  std::chrono::milliseconds backoff_base{1000};    // first backoff after a failed dial; doubles
  std::chrono::milliseconds backoff_max{5 * 60 * 1000};
  std::string agent_version = "shardnode/0.1.0";
  // Addresses advertised in identify; empty: the addresses we listen on.
  std::vector<Multiaddr> advertise_addrs;
  // Whether identify tells the peer the address we see it at (off for onion nodes).
  bool send_observed_addr = true;
  // Onion-only mode (validators): connect() refuses every address that is not
  // /onion3/, listen() refuses everything but /onion3/ and loopback, and identify
  // advertises /onion3/ addresses only. Nothing is resolved in any mode.
  bool onion_only = false;
  // The clock backoffs and ping round trips are measured on (null: the real monotonic clock).
  const Clock* clock = nullptr;
  ConnectionConfig connection;
};

class Host {
 public:
  using StreamHandler = std::function<void(std::shared_ptr<Stream>)>;
  using StreamOpenHandler = std::function<void(Result<std::shared_ptr<Stream>>)>;
  using ConnectHandler = std::function<void(Result<PeerId>)>;
  using PingHandler = std::function<void(Result<std::chrono::microseconds>)>;

  struct Counters {
    std::uint64_t inbound_accepted = 0, inbound_rejected = 0;
    std::uint64_t dials_succeeded = 0, dials_failed = 0, dials_rejected = 0;
    std::uint64_t duplicate_connections_closed = 0;
    std::uint64_t identify_received = 0, identify_failed = 0;
    std::uint64_t identify_records = 0, identify_records_rejected = 0;  // signedPeerRecord in identify
    std::uint64_t identify_pushes_sent = 0, identify_pushes_received = 0;  // /ipfs/id/push/1.0.0
  };

  Host(boost::asio::io_context& io, const NodeKey& key, HostConfig cfg = {});
  ~Host();
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  const PeerId& peer_id() const { return self_; }
  void add_transport(std::unique_ptr<Transport> t);
  Result<Multiaddr> listen(const Multiaddr& addr);
  const std::vector<Multiaddr>& listen_addrs() const { return listen_addrs_; }
  // The addresses identify advertises (advertise_addrs or the listen addresses,
  // onion-only: /onion3/ ones only) - what our signed peer record should carry.
  std::vector<Multiaddr> advertised_addrs() const;
  // From now on identify (and identify push) lists no listen address: this identity is
  // being retired (identity rotation), its record is about to say the same.
  void withdraw_addrs() { withdrawn_ = true; }
  // Our signed peer record, sent in identify from now on (the owner seals it: the
  // host reads no wall clock for the record's seq).
  void set_signed_record(SignedPeerRecord r) { signed_record_ = std::move(r); }
  const std::optional<SignedPeerRecord>& signed_record() const { return signed_record_; }

  // identify push (/ipfs/id/push/1.0.0): our identify message - with the signed record
  // set now - to every connected peer, unasked. `done` runs once every push stream has
  // been written and closed by the remote, or failed (how many were delivered).
  void push_identify(std::function<void(std::size_t delivered)> done);

  void set_handler(const std::string& protocol, StreamHandler h);
  void remove_handler(const std::string& protocol);
  std::vector<std::string> protocols() const;

  // Connects (or reuses a connection). With /p2p/<id> in the address, Noise must
  // prove that identity.
  void connect(const Multiaddr& addr, ConnectHandler h);
  void new_stream(const PeerId& peer, std::vector<std::string> protocols, StreamOpenHandler h);
  void ping(const PeerId& peer, PingHandler h);
  void disconnect(const PeerId& peer);
  void close();  // listeners, dials and connections

  bool connected(const PeerId& peer) const { return conns_.count(peer) != 0; }
  std::vector<PeerId> peers() const;
  std::size_t connection_count() const { return conns_.size(); }
  std::optional<IdentifyInfo> peer_info(const PeerId& peer) const;
  const Counters& counters() const { return counters_; }

  // Listeners accumulate (several services may watch peers); they run on the io thread.
  void on_peer_connected(std::function<void(const PeerId&)> f) { on_connected_.push_back(std::move(f)); }
  void on_peer_disconnected(std::function<void(const PeerId&)> f) { on_disconnected_.push_back(std::move(f)); }
  void on_peer_identified(std::function<void(const PeerId&, const IdentifyInfo&)> f) {
    on_identified_.push_back(std::move(f));
  }

  // The kept connection to `peer`: who dialed it and the remote transport address.
  struct ConnectionInfo {
    bool outbound;
    Multiaddr remote_address;
  };
  std::optional<ConnectionInfo> connection_info(const PeerId& peer) const;

 private:
  struct PendingDial;
  Transport* transport_for(const Multiaddr& addr, bool listen) const;
  Connection::Ptr make_connection(std::unique_ptr<ByteStream> s, Connection::Direction dir,
                                  std::optional<PeerId> expected);
  void on_ready(const Connection::Ptr& c);
  void on_closed(const Connection::Ptr& c, const Error& why);
  void forget(const Connection::Ptr& c, const Error& why);  // drop from conns_, tell on_disconnected
  void finish_dial(const std::string& key, Result<PeerId> r);
  void note_dial_failure(const std::string& key);
  std::size_t count(Connection::Direction d) const;
  void start_identify(const Connection::Ptr& c);
  void serve_identify(const std::shared_ptr<Stream>& s);
  Bytes identify_message(const PeerId& remote) const;  // length-prefixed, for `remote`
  // Reads one identify message from `s` (an answer or a push) and hands it on.
  void read_identify(const std::shared_ptr<Stream>& s, const PeerId& peer, bool push);
  void serve_ping(const std::shared_ptr<Stream>& s);

  boost::asio::io_context& io_;
  const NodeKey& key_;
  PeerId self_;
  HostConfig cfg_;
  SteadyClock steady_;
  const Clock* clock_;  // cfg_.clock or steady_
  std::vector<std::unique_ptr<Transport>> transports_;
  std::vector<Multiaddr> listen_addrs_;
  std::map<std::string, StreamHandler> handlers_;
  std::map<PeerId, Connection::Ptr, std::less<>> conns_;      // the one connection kept per peer
  std::map<std::uint64_t, Connection::Ptr> upgrading_;          // not yet ready
  std::map<std::uint64_t, Connection::Ptr> leaving_;            // going away, not yet closed
  std::map<std::string, std::shared_ptr<PendingDial>> dials_;   // by address
  struct Backoff {
    TimePoint until{};  // on clock_
    std::chrono::milliseconds last{0};
  };
  std::map<std::string, Backoff> backoff_;
  std::map<PeerId, IdentifyInfo, std::less<>> infos_;
  std::optional<SignedPeerRecord> signed_record_;
  Counters counters_;
  std::vector<std::function<void(const PeerId&)>> on_connected_, on_disconnected_;
  std::vector<std::function<void(const PeerId&, const IdentifyInfo&)>> on_identified_;
  bool closed_ = false, withdrawn_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace shardnode::net
