// The tor side of a control connection in tests: collects the command lines a
// client sends and, through `respond`, answers each one. No tor involved.
#pragma once

#include <sys/socket.h>

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <deque>
#include <functional>
#include <string>
#include <vector>

namespace shardnode::test {

namespace asio = boost::asio;

// The tor side: collects command lines, optionally answers each through `respond`.
class FakeTor {
 public:
  FakeTor(asio::io_context& io, int fd) : sock_(io) {
    sock_.assign(asio::generic::stream_protocol(AF_UNIX, 0), fd);
    read();
  }
  // Any connected stream socket (unix or TCP).
  template <class Socket>
  explicit FakeTor(Socket&& s) : sock_(std::move(s)) {
    read();
  }

  std::vector<std::string> lines;
  bool eof = false;
  std::function<void(FakeTor&, const std::string&)> respond;

  void send(std::string bytes) {
    out_.push_back(std::move(bytes));
    if (out_.size() == 1) write_next();
  }
  void close() {
    boost::system::error_code ec;
    sock_.close(ec);
  }
  bool saw(const std::string& prefix) const {
    return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return l.rfind(prefix, 0) == 0; });
  }
  std::string line_starting(const std::string& prefix) const {
    for (const auto& l : lines)
      if (l.rfind(prefix, 0) == 0) return l;
    return {};
  }

 private:
  void read() {
    sock_.async_read_some(asio::buffer(buf_), [this](const boost::system::error_code& ec, std::size_t n) {
      if (ec) {
        eof = true;
        return;
      }
      in_.append(buf_.data(), n);
      for (auto nl = in_.find("\r\n"); nl != std::string::npos; nl = in_.find("\r\n")) {
        std::string line = in_.substr(0, nl);
        in_.erase(0, nl + 2);
        lines.push_back(line);
        if (respond) respond(*this, line);
      }
      read();
    });
  }
  void write_next() {
    asio::async_write(sock_, asio::buffer(out_.front()), [this](const boost::system::error_code& ec, std::size_t) {
      out_.pop_front();
      if (!ec && !out_.empty()) write_next();
    });
  }

  asio::generic::stream_protocol::socket sock_;
  std::array<char, 4096> buf_{};
  std::string in_;
  std::deque<std::string> out_;
};

}  // namespace shardnode::test
