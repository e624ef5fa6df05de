// Waiting on a live io_context in tests: run handlers until a condition holds or a
// deadline passes. Never sleeps.
#pragma once

#include <boost/asio/io_context.hpp>

#include <chrono>

namespace shardnode::test {

template <class Pred>
bool run_until(boost::asio::io_context& io, Pred done, std::chrono::milliseconds deadline = std::chrono::seconds(20)) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (!done() && std::chrono::steady_clock::now() < end) {
    io.restart();
    io.run_one_for(std::chrono::milliseconds(20));
  }
  return done();
}

}  // namespace shardnode::test
