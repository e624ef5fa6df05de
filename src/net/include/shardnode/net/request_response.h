// One request, one response, on a fresh stream: the shape of every ask-a-peer protocol
// (/shardnode/shard-table/1, /shardnode/collations/1, and what comes next - a DHT's
// queries, peer records). The request and the response are each one uvarint
// length-prefixed frame (framing.h); the server closes its side after answering.
//
// - Serving: `serve(protocol, max_request, answer)` registers a host handler. A stream
//   whose request is not one well-formed frame within max_request bytes, or that
//   `answer` refuses (an error), is reset; the refusal is logged with the peer.
// - Asking: `request(peer, protocol, bytes, max_response, timeout, done)` opens a stream
//   on an existing connection (the host's new_stream), writes the request and calls
//   `done` exactly once, never inside the call: with the response, or an error -
//   the host's (not connected, protocol not supported), RequestErrc::bad_response
//   (framing broken or over max_response: a protocol violation the caller may
//   penalise), timeout, closed.
//
// Single-threaded on the host's io_context. Destroying the RequestResponse stops its
// handlers and drops pending callbacks (they never run), so an owner may go away with
// requests in flight.
#pragma once

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "shardnode/core/bytes.h"
#include "shardnode/core/keys.h"
#include "shardnode/core/result.h"
#include "shardnode/net/host.h"

namespace shardnode::net {

class RequestResponse {
 public:
  using Answer = std::function<Result<Bytes>(const PeerId& from, ByteView request)>;
  using Done = std::function<void(Result<Bytes>)>;

  RequestResponse(boost::asio::io_context& io, Host& host);
  ~RequestResponse();
  RequestResponse(const RequestResponse&) = delete;
  RequestResponse& operator=(const RequestResponse&) = delete;

  void serve(const std::string& protocol, std::size_t max_request, Answer answer);
  void unserve(const std::string& protocol);
  void request(const PeerId& peer, const std::string& protocol, Bytes request, std::size_t max_response,
               std::chrono::milliseconds timeout, Done done);
  // Removes every handler; pending requests end silently.
  void stop();

 private:
  boost::asio::io_context& io_;
  Host& host_;
  std::set<std::string> served_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace shardnode::net
