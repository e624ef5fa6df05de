// shardnode run: the node until SIGINT/SIGTERM.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "commands.h"
#include "shardnode/version.h"
#include "shardnode/core/log.h"
#include "shardnode/node/node.h"

namespace shardnode::cli {
namespace asio = boost::asio;

int cmd_run(const Context& ctx, const RunOptions& o) {
  auto log = logging::get("cli");
  auto opts = node::node_options_from(ctx.settings, ctx.datadir);
  if (!opts) {
    std::fprintf(stderr, "shardnode: %s\n", opts.error().what().c_str());
    return 2;
  }
  if (!o.test_receipt_log.empty() || o.test_spy) {
    // The live deanonymization experiment's switches: never in a config, never by accident.
    const char* which = o.test_spy ? "--test-spy" : "--test-receipt-log";
    const char* ok = std::getenv("SHARDNODE_TEST_ONLY");
    if (!ok || std::string(ok) != "1") {
      std::fprintf(stderr,
                   "shardnode: %s is a test-only switch (the live deanonymization experiment's spies); set "
                   "SHARDNODE_TEST_ONLY=1 as well\n",
                   which);
      return 2;
    }
    if (opts->tor_public_network) {
      std::fprintf(stderr, "shardnode: %s is test-only: refused with tor.public_network\n", which);
      return 2;
    }
    opts->test_receipt_log = o.test_receipt_log;
    if (o.test_spy) {
      opts->pubsub.gossip.stem.own_messages = false;
      opts->pubsub.gossip.flood_publish = true;
      log->warn("--test-spy: our own messages skip the stem (a spy of the live experiment)");
    }
  }
  opts->version = kVersion;
  for (const auto& w : node::settings_warnings(ctx.settings)) log->warn("{}", w);
  asio::io_context io;
  auto n = node::Node::create(io, std::move(*opts));
  if (!n) {
    std::fprintf(stderr, "shardnode: %s\n", n.error().what().c_str());
    return 1;
  }
  auto& node = **n;
  int exit_code = 0;
  node.on_fatal([&](const Error&) {
    exit_code = 1;
    node.stop();
    io.stop();
  });
  // Tor's own signal handlers are off (__DisableSignalHandlers); these are ours.
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    log->info("received {}; shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    node.stop();
    io.stop();
  });
  if (Status s = node.start(); !s) {
    std::fprintf(stderr, "shardnode: %s\n", s.error().what().c_str());
    node.stop();
    (void)node.shutdown_tor();
    return 1;
  }
  io.run();
  signals.cancel();
  node.stop();
  // Let handlers that closing queued run once (they see the node stopped).
  io.restart();
  io.poll();
  if (Status s = node.shutdown_tor(); !s) {
    log->error("{}", s.error().what());
    if (exit_code == 0) exit_code = 1;
  }
  log->info("stopped");
  return exit_code;
}

}  // namespace shardnode::cli
