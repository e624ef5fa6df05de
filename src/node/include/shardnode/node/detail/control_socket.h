// The control API's socket layer (internal to shardnode_node_control): the unix
// socket (0600, stale/live/other-file checks, SO_PEERCRED), the client cap, and one
// Connection per client - uvarint framing with the 1 MiB cap, the output queue and
// its cap, requests still waiting for their answer, and the client's open streams.
// It knows no operation: every parsed Request goes to the handler given to Socket
// (detail/control_ops.h dispatches it), which answers through the Connection.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "control.pb.h"
#include "shardnode/core/bytes.h"
#include "shardnode/core/result.h"
#include "shardnode/node/control_server.h"

namespace shardnode::node::control {

namespace pb = shardnode::control::v1;

pb::Response error_response(std::uint64_t id, pb::Error::Code code, std::string message);

// What an open stream remembers (its filter, its options). The op that opens a
// stream derives its own; the connection only owns it and ends it.
class Stream {
 public:
  virtual ~Stream() = default;
};

class Socket;

// One client. Everything on the io_context's thread. Lifetime: the Socket holds it
// while it is open; pending reads and writes hold it too.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Socket& socket, boost::asio::local::stream_protocol::socket s, std::uint64_t number);

  void start();
  // Closes the socket at once (server stop, read or write error).
  void close();
  // Closed, or closing once its output is out: nothing more is sent.
  bool closed() const { return closed_ || closing_; }
  std::uint64_t number() const { return number_; }

  // Queues a response (never dropped: callers bound how many there are). A response
  // over the frame cap goes out as an UNKNOWN error for its id.
  void send(const pb::Response& r);
  void send_error(std::uint64_t id, pb::Error::Code code, std::string message);

  // A request answered later (a jump that waits, a request to a peer): counted
  // against ControlLimits::max_in_flight. begin_later() answers RESOURCE_EXHAUSTED
  // itself and returns false at the cap; finish() sends the answer and lets the
  // connection read on; drop_later() un-counts a request that failed before
  // anything was waiting for it.
  bool begin_later(std::uint64_t id);
  void finish(const pb::Response& r);
  void drop_later();

  // Streams: the stream's id is the request id that opened it. open_stream()
  // answers BAD_REQUEST (id in use) or RESOURCE_EXHAUSTED (ControlLimits::max_streams)
  // itself and returns false. cancel_stream() returns whether there was one.
  bool open_stream(std::uint64_t id, std::unique_ptr<Stream> s);
  bool cancel_stream(std::uint64_t id);
  std::size_t stream_count() const { return streams_.size(); }
  // One event for stream `id` (the response's id is set here). If it does not fit in
  // ControlLimits::max_queued_bytes the stream is dropped with a RESOURCE_EXHAUSTED
  // error for its id instead.
  void push(std::uint64_t id, pb::Response event);
  // Calls f(id, stream) for each open stream of type S; f may push (and so drop).
  template <class S, class F>
  void for_each_stream(F&& f) {
    if (closed() || streams_.empty()) return;
    std::vector<std::uint64_t> ids;
    ids.reserve(streams_.size());
    for (const auto& [id, s] : streams_) ids.push_back(id);
    for (auto id : ids) {
      auto it = streams_.find(id);
      if (it == streams_.end()) continue;
      if (auto* s = dynamic_cast<S*>(it->second.get())) f(id, *s);
    }
  }

 private:
  void read();
  bool held_back() const;
  void read_if_room();
  void resume();
  void process();
  void handle(ByteView frame);
  // A frame that cannot be trusted: answer, then close once the answer is out.
  void fail(std::uint64_t id, std::string message);
  void enqueue(const std::string& body);
  void write();

  Socket& socket_;
  boost::asio::local::stream_protocol::socket sock_;
  std::uint64_t number_;
  std::array<std::uint8_t, 16 * 1024> rbuf_{};
  Bytes in_;
  std::deque<std::string> out_;
  std::size_t queued_ = 0;
  std::size_t in_flight_ = 0;
  std::map<std::uint64_t, std::unique_ptr<Stream>> streams_;
  bool reading_ = false, writing_ = false, closing_ = false, closed_ = false, frame_ready_ = false;
  bool eof_ = false, processing_ = false;
};

// The listening socket and its clients.
class Socket {
 public:
  using RequestHandler = std::function<void(Connection&, const pb::Request&)>;

  Socket(boost::asio::io_context& io, ControlLimits limits, RequestHandler on_request);
  ~Socket();
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  // See ControlServer::listen.
  Status listen(const std::filesystem::path& path);
  // Closes the listener and every client and unlinks the socket file we bound.
  void stop();

  const std::filesystem::path& path() const { return path_; }
  std::size_t client_count() const { return clients_.size(); }
  const ControlLimits& limits() const { return limits_; }
  ControlCounters& counters() { return counters_; }
  const ControlCounters& counters() const { return counters_; }

  // f(Connection&) for each client, on a snapshot (f may close clients).
  template <class F>
  void for_each_connection(F&& f) {
    std::vector<std::shared_ptr<Connection>> all;
    all.reserve(clients_.size());
    for (auto& [p, c] : clients_) all.push_back(c);
    for (auto& c : all) f(*c);
  }

 private:
  friend class Connection;
  void accept();
  void forget(Connection* c);
  void dispatch(Connection& c, const pb::Request& req) { on_request_(c, req); }

  ControlLimits limits_;
  RequestHandler on_request_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  boost::asio::steady_timer accept_retry_;
  std::filesystem::path path_;
  std::optional<std::pair<std::uint64_t, std::uint64_t>> socket_inode_;  // (dev, ino) of the file we bound
  std::map<Connection*, std::shared_ptr<Connection>> clients_;
  std::uint64_t next_client_ = 1;
  bool listening_ = false, stopped_ = false;
  ControlCounters counters_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace shardnode::node::control
