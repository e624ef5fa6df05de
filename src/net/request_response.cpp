#include "shardnode/net/request_response.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "shardnode/core/log.h"
#include "shardnode/net/errors.h"
#include "shardnode/net/framing.h"

namespace shardnode::net {
namespace asio = boost::asio;

RequestResponse::RequestResponse(asio::io_context& io, Host& host) : io_(io), host_(host) {}

RequestResponse::~RequestResponse() { stop(); }

void RequestResponse::stop() {
  *alive_ = false;
  for (const auto& p : served_) host_.remove_handler(p);
  served_.clear();
}

void RequestResponse::unserve(const std::string& protocol) {
  if (served_.erase(protocol)) host_.remove_handler(protocol);
}

void RequestResponse::serve(const std::string& protocol, std::size_t max_request, Answer answer) {
  served_.insert(protocol);
  auto shared_answer = std::make_shared<Answer>(std::move(answer));
  host_.set_handler(protocol, [alive = alive_, max_request, shared_answer](std::shared_ptr<Stream> s) {
    if (!*alive) return s->reset();
    auto reader = std::make_shared<LengthPrefixedReader>(max_request);
    std::weak_ptr<Stream> w = s;
    s->on_data([w, reader, shared_answer, alive](ByteView b) {
      auto st = w.lock();
      if (!st || !*alive) return;
      if (Status ok = reader->received_bytes(b); !ok) return st->reset();
      auto req = reader->next();
      if (!req) return;
      auto resp = (*shared_answer)(st->remote_peer(), *req);
      if (!resp) {
        logging::get("net")->info("{} request from {} refused: {}", st->protocol(), st->remote_peer().to_string(),
                                  resp.error().what());
        return st->reset();
      }
      (void)st->write(length_prefixed(*resp));
      st->close_write();
    });
  });
}

void RequestResponse::request(const PeerId& peer, const std::string& protocol, Bytes request,
                              std::size_t max_response, std::chrono::milliseconds timeout, Done done) {
  auto alive = alive_;
  // `done` runs once: the first of response, error, close or deadline.
  auto finish = std::make_shared<Done>(std::move(done));
  auto fire = [finish](Result<Bytes> r) {
    if (!*finish) return;
    auto f = std::move(*finish);
    *finish = nullptr;
    f(std::move(r));
  };
  host_.new_stream(peer, {protocol}, [this, alive, protocol, request = std::move(request), max_response, timeout,
                                      fire](Result<std::shared_ptr<Stream>> r) mutable {
    if (!*alive) return;
    if (!r) {
      // new_stream may fail inside the call (not connected): keep `done` out of it.
      asio::post(io_, [alive, fire, e = r.error()]() mutable {
        if (*alive) fire(std::move(e));
      });
      return;
    }
    auto s = *r;
    auto reader = std::make_shared<LengthPrefixedReader>(max_response);
    auto timer = std::make_shared<asio::steady_timer>(io_, timeout);
    timer->async_wait([s, alive, fire, protocol](const boost::system::error_code& ec) mutable {
      if (ec || !*alive) return;
      fire(Error{RequestErrc::timeout, protocol + ": no response in time"});
      s->reset();
    });
    std::weak_ptr<Stream> w = s;
    s->on_data([w, reader, timer, alive, fire, protocol](ByteView b) mutable {
      auto st = w.lock();
      if (!st || !*alive) return;
      if (Status ok = reader->received_bytes(b); !ok) {
        timer->cancel();
        // Reported before the reset, which would report the stream closed.
        fire(Error{RequestErrc::bad_response, protocol + ": bad response framing: " + ok.error().what()});
        st->reset();
        return;
      }
      if (auto resp = reader->next()) {
        timer->cancel();
        fire(std::move(*resp));  // before close_write, which may report the stream closed
        st->close_write();
      }
    });
    s->on_close([timer, alive, fire, protocol](std::error_code) mutable {
      if (!*alive) return;
      timer->cancel();
      fire(Error{RequestErrc::closed, protocol + ": stream closed before a response"});
    });
    (void)s->write(length_prefixed(request));
  });
}

}  // namespace shardnode::net
