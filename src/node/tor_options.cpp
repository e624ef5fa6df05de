#include "shardnode/node/tor_options.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <set>

#include "shardnode/core/bytes.h"
#include "shardnode/core/errors.h"
#include "shardnode/core/multiaddr.h"

namespace shardnode::node {

namespace {

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

const std::vector<AllowedTorOption>& table() {
  static const std::vector<AllowedTorOption> t = {
      {"AvoidDiskWrites", "writes tor's state to disk less often (SD cards, flash); nothing on the network changes",
       {}},
      {"BandwidthRate", "caps tor's own bandwidth; what and whom it connects to stay the same", {}},
      {"BandwidthBurst", "the burst that goes with BandwidthRate", {}},
      {"MaxMemInQueues", "caps the memory of tor's cell queues (its out-of-memory handler); resources only", {}},
      {"NumCPUs", "worker threads for tor's crypto; resources only", {}},
      {"ConstrainedSockets", "smaller socket buffers for hosts short of memory; resources only", {}},
      {"ConstrainedSockSize", "the buffer size that goes with ConstrainedSockets", {}},
      {"HardwareAccel", "lets OpenSSL use hardware crypto acceleration; the bytes on the wire are the same", {}},
      {"KeepalivePeriod",
       "how often idle connections to relays are kept alive (NATs that drop idle flows); padding only", {}},
      {"SocksTimeout", "how long tor waits for a circuit for one of our dials before giving up on it", {}},
      {"LogTimeGranularity", "coarser timestamps in tor's own log (a privacy gain for logs kept)", {}},
      {"TruncateLogFile", "tor's log file starts empty on each start", {}},
      {"ConnectionPadding", "link padding may only be kept on (tor's default, auto) or forced on", {"1", "auto"}},
      {"CircuitPadding", "circuit padding may only be kept on (tor's default)", {"1"}},
      {"VanguardsLiteEnabled", "vanguards-lite (guards for onion-service circuits) may only be kept on",
       {"1", "auto"}},
  };
  return t;
}

// Why a key the node owns or that would weaken anonymity is refused; other keys are
// refused as "not on the allowlist".
std::string_view refused_because(std::string_view key) {
  struct Why {
    std::array<std::string_view, 12> keys;
    std::string_view why;
  };
  static const Why reasons[] = {
      {{"SocksPort", "ControlPort", "ORPort", "DirPort", "TransPort", "DNSPort", "NATDPort", "HTTPTunnelPort",
        "ExtORPort", "MetricsPort"},
       "the node owns tor's listeners (onion-only: nothing listens beyond its own unix sockets)"},
      {{"DataDirectory", "CacheDirectory", "KeyDirectory", "HiddenServiceDir", "HiddenServicePort",
        "ControlSocket", "CookieAuthFile", "PidFile", "User", "RunAsDaemon", "Sandbox"},
       "the node owns tor's files, process and onion service (tor.data_dir sets the directory)"},
      {{"DirAuthority", "AlternateDirAuthority", "FallbackDir", "TestingTorNetwork", "DisableNetwork",
        "UseDefaultFallbackDirs"},
       "which Tor network to join is tor.testnet or tor.public_network"},
      {{"UseBridges", "Bridge", "ClientTransportPlugin", "ServerTransportPlugin"},
       "bridges and pluggable transports are tor.bridges and tor.transport_plugins"},
      {{"Socks4Proxy", "Socks5Proxy", "HTTPSProxy", "HTTPSProxyAuthenticator", "Socks5ProxyUsername",
        "Socks5ProxyPassword", "TCPProxy", "OutboundBindAddress", "OutboundBindAddressOR", "OutboundBindAddressExit",
        "ReachableAddresses", "FascistFirewall"},
       "it changes how tor reaches the network"},
      {{"ClientUseIPv4", "ClientUseIPv6", "ClientPreferIPv6ORPort", "ClientAutoIPv6ORPort", "ReachableORAddresses",
        "ReachableDirAddresses"},
       "it changes how tor reaches the network (address families of the relays it connects to)"},
      {{"EntryNodes", "ExitNodes", "MiddleNodes", "ExcludeNodes", "ExcludeExitNodes", "StrictNodes", "NodeFamily",
        "GeoIPExcludeUnknown", "HSLayer2Nodes", "HSLayer3Nodes"},
       "pinning or excluding relays narrows path selection, which can make our circuits recognisable"},
      {{"NumEntryGuards", "NumPrimaryGuards", "NumDirectoryGuards", "GuardLifetime", "UseEntryGuards",
        "GuardfractionFile", "UseGuardFraction", "PathsNeededToBuildCircuits"},
       "guard selection decides who can watch us enter the network; tor's defaults are the analysed ones"},
      {{"HiddenServiceSingleHopMode", "HiddenServiceNonAnonymousMode", "Tor2webMode"},
       "a single-hop onion service reveals where it runs"},
      {{"ReducedConnectionPadding", "ReducedCircuitPadding", "SafeLogging", "Log", "LogMessageDomains"},
       "it would weaken a defence or let tor log addresses (tor.log_level sets the level)"},
      {{"MaxCircuitDirtiness", "NewCircuitPeriod", "EnforceDistinctSubnets", "LearnCircuitBuildTimeout",
        "CircuitBuildTimeout", "CircuitsAvailableTimeout"},
       "circuit lifetime and building rules decide what can be linked across our connections"},
  };
  for (const auto& r : reasons)
    for (std::string_view k : r.keys)
      if (!k.empty() && iequal(k, key)) return r.why;
  return {};
}

std::vector<std::string> words(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    const std::size_t b = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
    if (i > b) out.emplace_back(s.substr(b, i - b));
  }
  return out;
}

std::string join(const std::vector<std::string>& w, std::size_t from = 0) {
  std::string out;
  for (std::size_t i = from; i < w.size(); ++i) out += (out.empty() ? "" : " ") + w[i];
  return out;
}

bool printable(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
  });
}

bool transport_name(std::string_view s) {
  return !s.empty() && !std::isdigit(static_cast<unsigned char>(s[0])) &&
         std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

bool fingerprint(std::string_view s) { return s.size() == 40 && hex_decode(s); }

// "1.2.3.4:443" or "[::1]:443" (port 1..65535), read as the multiaddr it stands for.
std::optional<Multiaddr> address_port(std::string_view s) {
  const bool v6 = !s.empty() && s.front() == '[';
  const auto colon = v6 ? s.find("]:") : s.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const std::string host(s.substr(v6 ? 1 : 0, v6 ? colon - 1 : colon));
  const std::string port(s.substr(colon + (v6 ? 2 : 1)));
  auto a = Multiaddr::parse(std::string(v6 ? "/ip6/" : "/ip4/") + host + "/tcp/" + port);
  if (!a || a->tcp_endpoint()->port == 0) return std::nullopt;
  return *a;
}

Error refused(std::string msg) { return Error{ConfigErrc::invalid_value, std::move(msg)}; }

}  // namespace

std::span<const AllowedTorOption> allowed_tor_options() { return table(); }

Result<std::pair<std::string, std::string>> parse_tor_option(std::string_view line) {
  if (!printable(line)) return refused("a tor option is one line of printable text (\"Key value\")");
  const auto w = words(line);
  const std::string_view key = w.empty() ? std::string_view() : std::string_view(w[0]);
  const std::string value = join(w, 1);
  if (key.empty()) return refused("empty tor option (expected \"Key value\", e.g. \"NumCPUs 2\")");
  if (!std::all_of(key.begin(), key.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }))
    return refused("'" + std::string(key) + "' is not a tor option name");
  const auto& t = table();
  auto it = std::find_if(t.begin(), t.end(), [&](const AllowedTorOption& o) { return iequal(o.key, key); });
  if (it == t.end()) {
    const std::string_view why = refused_because(key);
    return refused("'" + std::string(key) + "' is not allowed" +
                   (why.empty() ? std::string(": not on the allowlist (docs/CONFIG.md, tor.options)")
                                : ": " + std::string(why)));
  }
  if (value.empty()) return refused("'" + std::string(it->key) + "' needs a value");
  if (!it->values.empty() &&
      std::none_of(it->values.begin(), it->values.end(), [&](std::string_view v) { return iequal(v, value); })) {
    std::string allowed;
    for (std::string_view v : it->values) allowed += (allowed.empty() ? "" : ", ") + std::string(v);
    return refused("'" + std::string(it->key) + " " + std::string(value) + "' is not allowed: " +
                   std::string(it->why) + " (allowed values: " + allowed + ")");
  }
  return std::pair{std::string(it->key), std::string(value)};
}

Result<std::vector<std::pair<std::string, std::string>>> parse_tor_options(const std::vector<std::string>& lines) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& l : lines) {
    auto o = parse_tor_option(l);
    if (!o) return o.error();
    if (std::any_of(out.begin(), out.end(), [&](const auto& p) { return p.first == o->first; }))
      return refused("'" + o->first + "' is given twice");
    out.push_back(std::move(*o));
  }
  return out;
}

Result<BridgeLine> parse_bridge_line(std::string_view line) {
  if (!printable(line)) return refused("a bridge is one line of printable text");
  const auto w = words(line);
  if (w.empty()) return refused("empty bridge line (expected \"[transport] address:port [fingerprint] [key=value ...]\")");
  BridgeLine b;
  std::size_t i = 0;
  if (w[0].find(':') == std::string::npos) {
    if (!transport_name(w[0])) return refused("bridge: '" + w[0] + "' is not a transport name");
    b.transport = w[0];
    i = 1;
  }
  if (i >= w.size()) return refused("bridge: no address:port after '" + w[0] + "'");
  const auto addr = address_port(w[i]);
  if (!addr)
    return refused("bridge: '" + w[i] + "' is not an IPv4 or [IPv6] address with a port (host names would need DNS)");
  b.address = w[i].substr(0, w[i].rfind(':'));
  b.loopback = addr->is_loopback();
  ++i;
  if (i < w.size() && w[i].find('=') == std::string::npos) {
    if (!fingerprint(w[i])) return refused("bridge: '" + w[i] + "' is not a 40-hex-digit fingerprint");
    ++i;
  }
  for (; i < w.size(); ++i) {
    const auto eq = w[i].find('=');
    if (eq == std::string::npos || eq == 0) return refused("bridge: '" + w[i] + "' is not key=value");
  }
  b.line = join(w);
  return b;
}

Result<TransportPlugin> parse_transport_plugin(std::string_view line) {
  if (!printable(line)) return refused("a transport plugin is one line of printable text");
  const auto w = words(line);
  if (w.size() < 3)
    return refused("transport plugin: expected \"transport[,transport] exec /path/to/proxy [args]\", e.g. "
                   "\"obfs4 exec /usr/bin/obfs4proxy\"");
  TransportPlugin t;
  std::size_t b = 0;
  while (b <= w[0].size()) {
    const auto e = std::min(w[0].find(',', b), w[0].size());
    const std::string name = w[0].substr(b, e - b);
    if (!transport_name(name)) return refused("transport plugin: '" + name + "' is not a transport name");
    t.transports.push_back(name);
    b = e + 1;
  }
  if (w[1] == "socks4" || w[1] == "socks5")
    return refused("transport plugin: '" + w[1] +
                   "' names a running proxy, which would make tor reach the network through it; give the "
                   "executable for tor to run: \"" + w[0] + " exec /path/to/proxy\"");
  if (w[1] != "exec") return refused("transport plugin: expected 'exec' after the transport names, not '" + w[1] + "'");
  if (w[2].empty() || w[2].front() != '/') return refused("transport plugin: '" + w[2] + "' is not an absolute path");
  t.path = w[2];
  t.line = join(w);
  return t;
}

Result<std::vector<std::pair<std::string, std::string>>> bridge_options(const std::vector<std::string>& bridges,
                                                                       const std::vector<std::string>& plugins,
                                                                       bool loopback_only) {
  std::vector<std::pair<std::string, std::string>> out;
  if (bridges.empty()) {
    if (!plugins.empty()) return refused("tor.transport_plugins are set but tor.bridges is empty: no bridge uses them");
    return out;
  }
  std::set<std::string> provided, used;
  std::vector<TransportPlugin> ps;
  for (const auto& l : plugins) {
    auto p = parse_transport_plugin(l);
    if (!p) return p.error();
    if (::access(p->path.c_str(), X_OK) != 0)
      return refused("transport plugin: " + p->path + " is not an executable file (Debian's obfs4proxy package "
                                                        "installs /usr/bin/obfs4proxy)");
    for (const auto& n : p->transports)
      if (!provided.insert(n).second) return refused("transport plugin: '" + n + "' is provided twice");
    ps.push_back(std::move(*p));
  }
  out.emplace_back("UseBridges", "1");
  for (const auto& l : bridges) {
    auto b = parse_bridge_line(l);
    if (!b) return b.error();
    if (loopback_only && !b->loopback)
      return refused("bridge " + b->address + " is not on loopback: a private test network's bridges are");
    if (!b->transport.empty()) {
      if (!provided.count(b->transport))
        return refused("bridge: no tor.transport_plugins entry provides '" + b->transport + "' (e.g. \"" +
                       b->transport + " exec /usr/bin/obfs4proxy\")");
      used.insert(b->transport);
    }
    out.emplace_back("Bridge", b->line);
  }
  for (const auto& p : ps) {
    if (std::none_of(p.transports.begin(), p.transports.end(), [&](const std::string& n) { return used.count(n); }))
      return refused("transport plugin '" + p.line + "': no bridge in tor.bridges uses it");
    out.emplace_back("ClientTransportPlugin", p.line);
  }
  return out;
}

}  // namespace shardnode::node
