// A tor the node can use: the embedded one (started here, network enabled once we
// listen to its events) or an external one (ControlPort + SocksPort), behind one
// asynchronous control connection. Tracks bootstrap and fans HS_DESC events out to
// every onion service listening on this tor.
//
// Threading: start() may block (the embedded tor answers within start_timeout);
// everything after runs on the io_context's thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "shardnode/core/result.h"
#include "shardnode/onion/control_events.h"
#include "shardnode/onion/embedded_tor.h"

namespace shardnode::onion {

class ControlClient;

struct TorSessionOptions {
  bool embedded = true;
  EmbeddedTorOptions tor;   // embedded: data_dir, log level, network lines; socks_port is set here
  // external
  std::string control;                  // "unix:/path" or "127.0.0.1:9051"
  std::optional<std::string> password;  // HashedControlPassword, if tor asks for one
  std::string socks;                    // "unix:/path" or "127.0.0.1:9050"
  std::chrono::seconds bootstrap_timeout{300};
};

class TorSession {
 public:
  // Embedded: starts tor (blocking until it answers). External: connects and
  // authenticates asynchronously. Either way bootstrap progress follows on the
  // io_context; failures after this returns go to on_fatal.
  static Result<std::unique_ptr<TorSession>> start(boost::asio::io_context& io, TorSessionOptions opts);
  ~TorSession();

  void on_progress(std::function<void(const BootstrapTracker&)> f) { on_progress_ = std::move(f); }
  void on_bootstrapped(std::function<void()> f) { on_bootstrapped_ = std::move(f); }
  void on_fatal(std::function<void(const Error&)> f) { on_fatal_ = std::move(f); }
  // Every HS_DESC event (several onion services may share this tor).
  void on_hs_desc(std::function<void(const HsDescEvent&)> f) { on_hs_desc_.push_back(std::move(f)); }

  // The control connection once it is up (null before, for an external tor).
  const std::shared_ptr<ControlClient>& control() const { return control_; }
  // tor's SOCKS port: "unix:<data_dir>/socks.sock" (embedded) or the configured one.
  const std::string& socks_endpoint() const { return socks_; }
  const BootstrapTracker& bootstrap() const { return bootstrap_; }
  bool bootstrapped() const { return bootstrapped_; }

  // Closes the control connection (the embedded tor exits at once). Idempotent.
  void close();
  // After the io_context stopped: waits for the embedded tor's thread.
  Status shutdown(std::chrono::milliseconds deadline);

 private:
  TorSession(boost::asio::io_context& io, TorSessionOptions opts);
  void adopt(std::shared_ptr<ControlClient> c);
  void on_event(const Reply& r);
  void check_done();
  void fatal(const Error& e);

  boost::asio::io_context& io_;
  TorSessionOptions opts_;
  std::string socks_;
  std::unique_ptr<EmbeddedTor> tor_;
  std::shared_ptr<ControlClient> control_;
  BootstrapTracker bootstrap_;
  boost::asio::steady_timer timer_;
  bool bootstrapped_ = false, closed_ = false;
  int last_progress_ = -1;
  std::function<void(const BootstrapTracker&)> on_progress_;
  std::function<void()> on_bootstrapped_;
  std::function<void(const Error&)> on_fatal_;
  std::vector<std::function<void(const HsDescEvent&)>> on_hs_desc_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace shardnode::onion
