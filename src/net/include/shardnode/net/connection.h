// One upgraded libp2p connection: a byte stream taken through
//   multistream-select -> /noise -> multistream-select -> /yamux/1.0.0
// and then carrying many streams, each negotiated with multistream-select.
// The protocol work is done by the sans-IO codecs; this class only moves bytes
// between them and the ByteStream, on the node's single io_context thread.
#pragma once

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "shardnode/core/clock.h"
#include "shardnode/core/keys.h"
#include "shardnode/net/multistream.h"
#include "shardnode/net/noise.h"
#include "shardnode/net/transport.h"
#include "shardnode/net/yamux.h"

namespace shardnode::net {

class Connection;

// A negotiated stream. Handlers run on the io_context thread.
class Stream : public std::enable_shared_from_this<Stream> {
 public:
  using DataHandler = std::function<void(ByteView)>;
  // {} when the remote finished writing (FIN) and all data was delivered;
  // an error when the stream was reset or the connection closed.
  using CloseHandler = std::function<void(std::error_code)>;
  using WritableHandler = std::function<void()>;

  const std::string& protocol() const { return protocol_; }
  const PeerId& remote_peer() const { return remote_; }
  std::uint32_t id() const { return id_; }
  bool inbound() const { return inbound_; }

  // Data that arrived before a handler was set is delivered when it is set. Until
  // then - and while paused - nothing is consumed, so the sender is back-pressured.
  void on_data(DataHandler h);
  void on_close(CloseHandler h);
  // Called when a write that failed with buffer_full may be retried.
  void on_writable(WritableHandler h) { on_writable_ = std::move(h); }
  Status write(ByteView data);
  std::size_t write_capacity() const;
  void close_write();
  void reset();
  void pause() { paused_ = true; }
  void resume();
  bool is_closed() const { return closed_; }

  Stream(std::weak_ptr<Connection> conn, std::uint32_t id, bool inbound, PeerId remote);

 private:
  friend class Connection;
  void drop_handlers();
  std::weak_ptr<Connection> conn_;
  std::uint32_t id_;
  bool inbound_;
  PeerId remote_;
  std::string protocol_;
  std::optional<MultistreamSelect> mss_;  // while negotiating
  std::function<void(Result<std::shared_ptr<Stream>>)> on_negotiated_;
  DataHandler on_data_;
  CloseHandler on_close_;
  WritableHandler on_writable_;
  Bytes early_;             // protocol bytes that arrived with the negotiation
  bool paused_ = false;
  bool remote_fin_ = false;
  bool closed_ = false;     // close reported (or about to be)
  bool close_reported_ = false;
  std::error_code close_reason_;
};

struct ConnectionConfig {
  std::chrono::milliseconds upgrade_timeout{10000};
  std::chrono::milliseconds close_linger{2000};
  // Bytes queued for the socket; more aborts the connection (the peer is not reading).
  // Streams are offered write capacity only while less than a quarter of it is
  // queued, so a peer's large yamux window cannot make our own writes overflow it.
  std::size_t max_write_queue = 8 * 1024 * 1024;
  std::size_t read_chunk = 64 * 1024;
  YamuxConfig yamux;
  // The clock yamux times its round trips and window updates on (null: the real one).
  const Clock* clock = nullptr;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  enum class Direction { inbound, outbound };
  using Ptr = std::shared_ptr<Connection>;
  struct Callbacks {
    std::function<void(const Ptr&)> on_ready;                       // upgrade finished
    std::function<void(const Ptr&, const Error&)> on_closed;        // exactly once
    // At most once, before on_closed, when an open connection starts to go away (we
    // close it, or the peer sent GO_AWAY): streams already open may finish, no new
    // stream should be opened on it.
    std::function<void(const Ptr&)> on_going_away;
    std::function<std::vector<std::string>()> supported_protocols;  // for inbound streams
    std::function<void(std::shared_ptr<Stream>)> on_inbound_stream; // negotiated
  };

  Connection(boost::asio::io_context& io, std::unique_ptr<ByteStream> stream, Direction dir, const NodeKey& key,
             std::optional<PeerId> expected, ConnectionConfig cfg, Callbacks cb);
  ~Connection();

  void start();
  void open_stream(std::vector<std::string> protocols, std::function<void(Result<std::shared_ptr<Stream>>)> cb);
  void close();             // graceful: GO_AWAY, flush, then close the byte stream
  void abort(Error why);    // immediate

  bool ready() const { return stage_ == Stage::open; }
  bool closed() const { return stage_ == Stage::closed; }
  // Open, and neither side has started to close it: new streams may be opened.
  bool usable() const { return stage_ == Stage::open && !going_away_; }
  Direction direction() const { return dir_; }
  const PeerId& remote_peer() const { return remote_; }  // valid once ready
  const Multiaddr& remote_address() const { return remote_addr_; }
  std::size_t stream_count() const { return streams_.size(); }
  std::uint64_t id() const { return id_; }

 private:
  friend class Stream;
  enum class Stage { security_mss, noise, muxer_mss, open, closed };

  void read_loop();
  void on_bytes(ByteView b);
  void on_plaintext(Bytes p);
  void send_raw(Bytes b);
  void send_plain(ByteView b);
  void flush_yamux();
  void pump();
  void handle_yamux_events();
  void on_stream_data(std::shared_ptr<Stream> s);
  void deliver(std::shared_ptr<Stream> s);
  // Marks a stream over and tells its handlers once: a pending negotiation gets
  // `detail` (or a generic error), on_close gets `why` ({} for a clean end).
  void finish_stream(std::shared_ptr<Stream> s, std::error_code why, std::optional<Error> detail = std::nullopt);
  void forget_dead_streams();
  void become_ready();
  void finalize(const Error& why);
  void going_away();

  // Stream operations.
  Status stream_write(Stream& s, ByteView data);
  std::size_t stream_capacity(const Stream& s) const;
  std::size_t socket_room() const;       // what streams may still queue for the socket
  void notify_socket_writable();        // after the socket queue drained
  void tick_yamux();
  void stream_close_write(Stream& s);
  void stream_reset(Stream& s);

  boost::asio::io_context& io_;
  std::unique_ptr<ByteStream> stream_;
  Direction dir_;
  const NodeKey& key_;
  std::optional<PeerId> expected_;
  ConnectionConfig cfg_;
  Callbacks cb_;
  Stage stage_ = Stage::security_mss;
  std::uint64_t id_;
  Multiaddr remote_addr_;
  PeerId remote_;

  std::optional<MultistreamSelect> mss_;
  std::unique_ptr<NoiseHandshake> handshake_;
  std::optional<NoiseSession> session_;
  std::optional<YamuxSession> yamux_;
  std::map<std::uint32_t, std::shared_ptr<Stream>> streams_;

  Bytes read_buf_;
  std::deque<Bytes> write_queue_;
  std::size_t write_queued_ = 0;
  Bytes writing_buf_;
  bool writing_ = false;
  bool closing_ = false;
  bool going_away_ = false;
  mutable bool socket_limited_ = false;  // a stream was offered less than yamux allows
  SteadyClock steady_;
  const Clock* clock_;  // cfg_.clock or steady_
  boost::asio::steady_timer timer_;  // upgrade timeout, then close linger
};

}  // namespace shardnode::net
