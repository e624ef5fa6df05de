#include "shardnode/net/kad_dht.h"

#include <algorithm>

namespace shardnode::net::kad {

namespace {
constexpr std::string_view kRecordPrefix = "/shardnode-pr/";
}  // namespace

Bytes record_key(const PeerId& peer) {
  Bytes k(kRecordPrefix.begin(), kRecordPrefix.end());
  k.insert(k.end(), peer.bytes().begin(), peer.bytes().end());
  return k;
}

std::optional<PeerId> record_key_peer(ByteView key) {
  if (key.size() <= kRecordPrefix.size() || !std::equal(kRecordPrefix.begin(), kRecordPrefix.end(), key.begin()))
    return std::nullopt;
  auto id = PeerId::from_bytes(key.subspan(kRecordPrefix.size()));
  if (!id) return std::nullopt;
  return *id;
}

struct Dht::Walk {
  Walk(const Key& target, const PeerId& self, const std::vector<PeerId>& seeds, LookupConfig cfg)
      : lookup(target, self, seeds, cfg) {}
  Lookup lookup;
  Message request;
  std::size_t want = 0;  // get_providers: stop at this many
  std::map<PeerId, ProviderInfo> providers;
  std::optional<SignedPeerRecord> record;  // get_record: the newest an answer carried
  std::optional<SignedPeerRecord> local;   // get_record: the copy we held ourselves
  // provide: after the walk, ADD_PROVIDER to the closest
  bool provide = false, announcing = false;
  Message add;
  std::map<PeerId, TimePoint> add_deadlines;
  std::size_t accepted = 0;
};

Dht::Dht(const PeerId& self, DhtCoreConfig cfg) : self_(self), cfg_(std::move(cfg)), table_(self, cfg_.k) {}

Dht::~Dht() = default;

// ------------------------------------------------------------------ peers

std::vector<Multiaddr> Dht::usable_addrs(const PeerId& p, const std::vector<Multiaddr>& addrs) const {
  std::vector<Multiaddr> ok;
  for (const auto& a : addrs) {
    if (ok.size() == cfg_.limits.max_addrs) break;
    if (cfg_.dialable && !cfg_.dialable(a)) continue;
    auto suffix = a.peer_id();
    if (suffix && !(*suffix == p)) continue;
    ok.push_back(a.without_peer_id());
  }
  return ok;
}

void Dht::remember(const PeerId& p, const std::vector<Multiaddr>& addrs) {
  if (p == self_) return;
  std::vector<Multiaddr> ok = usable_addrs(p, addrs);
  if (ok.empty() || addrs_.count(p) || addrs_.size() >= cfg_.max_addresses) return;
  addrs_.emplace(p, std::move(ok));
}

void Dht::learn(const PeerId& peer, const std::vector<Multiaddr>& addrs, TimePoint now) {
  if (peer == self_) return;
  // The peer's own word replaces what others said about it.
  if (auto it = addrs_.find(peer); it != addrs_.end()) {
    std::vector<Multiaddr> keep = std::move(it->second);
    addrs_.erase(it);
    remember(peer, addrs);
    if (!addrs_.count(peer)) addrs_.emplace(peer, std::move(keep));
  } else {
    remember(peer, addrs);
  }
  if (addrs_.count(peer)) admit(peer, now);
}

std::optional<std::vector<Multiaddr>> Dht::addresses_of(const PeerId& peer) const {
  auto it = addrs_.find(peer);
  if (it == addrs_.end()) return std::nullopt;
  return it->second;
}

Peer Dht::peer_entry(const PeerId& p) const {
  Peer e{p, {}, ConnectionType::can_connect};
  if (auto a = addresses_of(p)) e.addrs = *a;
  return e;
}

// ------------------------------------------------------------------ serving

void Dht::prune_providers(TimePoint now) {
  for (auto it = providers_.begin(); it != providers_.end();) {
    std::erase_if(it->second, [&](const auto& kv) { return kv.second.expires <= now; });
    it = it->second.empty() ? providers_.erase(it) : std::next(it);
  }
}

Message Dht::handle(const PeerId& from, const Message& req, TimePoint now) {
  ++counters_.requests_in;
  Message out;
  out.type = req.type;
  out.key = req.key;
  auto closer = [&] {
    for (const auto& p : table_.closest(key_of(req.key), cfg_.k))
      if (!(p == from) && addrs_.count(p)) out.closer.push_back(peer_entry(p));
  };
  switch (req.type) {
    case MessageType::ping: break;
    case MessageType::find_node: closer(); break;
    case MessageType::get_value: {
      if (auto it = records_.find(req.key); it != records_.end()) {
        if (it->second.expires > now) out.record = Record{req.key, it->second.record.envelope, ""};
        else records_.erase(it);
      }
      closer();
      break;
    }
    case MessageType::put_value: {
      out.key.clear();
      auto peer = record_key_peer(req.key);
      if (!peer || !req.record) {
        ++counters_.records_refused;
        break;
      }
      auto rec = open_peer_record(req.record->value);
      auto it = records_.find(req.key);
      const bool fits = it != records_.end() || records_.size() < cfg_.max_records;
      if (!rec || !(rec->record.peer == *peer) || !fits ||
          (it != records_.end() && it->second.expires > now && it->second.record.record.seq >= rec->record.seq)) {
        ++counters_.records_refused;
        break;
      }
      records_[req.key] = HeldRecord{std::move(*rec), now + cfg_.record_ttl};
      ++counters_.records_stored;
      out.key = req.key;  // the echo says it was kept
      break;
    }
    case MessageType::get_providers: {
      prune_providers(now);
      if (auto it = providers_.find(req.key); it != providers_.end())
        for (const auto& [p, s] : it->second) out.providers.push_back({p, s.addrs, ConnectionType::not_connected});
      closer();
      break;
    }
    case MessageType::add_provider: {
      out.key.clear();
      for (const auto& p : req.providers) {
        if (!(p.id == from)) continue;  // only the sender may announce itself
        std::vector<Multiaddr> addrs = usable_addrs(from, p.addrs);
        if (addrs.empty())
          if (auto known = addresses_of(from)) addrs = *known;
        const bool new_key = !providers_.count(req.key);
        if (addrs.empty() || (new_key && providers_.size() >= cfg_.max_provider_keys)) {
          ++counters_.providers_refused;
          continue;
        }
        auto& set = providers_[req.key];
        if (!set.count(from) && set.size() >= cfg_.max_providers_per_key) {
          ++counters_.providers_refused;
          continue;
        }
        set[from] = Stored{std::move(addrs), now + cfg_.provider_ttl};
        ++counters_.providers_stored;
      }
      break;
    }
  }
  return out;
}

Result<Bytes> Dht::handle_bytes(const PeerId& from, ByteView request, TimePoint now) {
  auto m = decode_kad_message(request, cfg_.limits);
  if (!m) {
    ++counters_.requests_in;
    ++counters_.requests_refused;
    return m.error();
  }
  return encode(handle(from, *m, now));
}

// ------------------------------------------------------------------ lookups

Dht::LookupId Dht::start(Message request, std::size_t want, TimePoint now, std::optional<Message> add,
                         std::optional<SignedPeerRecord> local) {
  ++counters_.lookups;
  const Key target = key_of(request.key);
  LookupConfig lc;
  lc.alpha = cfg_.alpha;
  lc.k = cfg_.k;
  lc.max_requests = cfg_.max_requests;
  lc.request_timeout = cfg_.request_timeout;
  auto w = std::make_unique<Walk>(target, self_, table_.closest(target, cfg_.k), lc);
  w->want = want;
  w->local = std::move(local);
  if (request.type == MessageType::get_providers) {
    // Providers we hold ourselves (others announced to us) count first.
    prune_providers(now);
    if (auto it = providers_.find(request.key); it != providers_.end())
      for (const auto& [p, s] : it->second)
        if (!(p == self_)) w->providers.emplace(p, ProviderInfo{p, s.addrs});
  }
  w->request = std::move(request);
  if (add) {
    w->provide = true;
    w->add = std::move(*add);
  }
  const LookupId id = next_id_++;
  Walk& ref = *w;
  lookups_.emplace(id, std::move(w));
  progress(id, ref, now);
  return id;
}

Dht::LookupId Dht::find_node(const Bytes& key, TimePoint now) {
  Message m;
  m.type = MessageType::find_node;
  m.key = key;
  return start(std::move(m), 0, now);
}

Dht::LookupId Dht::get_providers(const Bytes& key, std::size_t want, TimePoint now) {
  Message m;
  m.type = MessageType::get_providers;
  m.key = key;
  return start(std::move(m), std::max<std::size_t>(want, 1), now);
}

Dht::LookupId Dht::put_record(const SignedPeerRecord& ours, TimePoint now) {
  Message m;
  m.type = MessageType::find_node;
  m.key = record_key(ours.record.peer);
  Message put;
  put.type = MessageType::put_value;
  put.key = m.key;
  put.record = Record{m.key, ours.envelope, ""};
  // We hold our own record too: if we are among the closest to its key, the walk does
  // not ask us, and a GET that reaches us must still find it.
  records_[m.key] = HeldRecord{ours, now + cfg_.record_ttl};
  return start(std::move(m), 0, now, std::move(put));
}

Dht::LookupId Dht::get_record(const PeerId& peer, TimePoint now) {
  Message m;
  m.type = MessageType::get_value;
  m.key = record_key(peer);
  // A copy we hold (we may be among the closest to the key) is the answer if the walk
  // finds nothing newer; the walk still runs, since a newer record may be out there.
  std::optional<SignedPeerRecord> local;
  if (auto it = records_.find(m.key); it != records_.end() && it->second.expires > now) local = it->second.record;
  return start(std::move(m), 1, now, {}, std::move(local));
}

Dht::LookupId Dht::provide(const Bytes& key, std::vector<Multiaddr> our_addrs, TimePoint now) {
  Message m;
  m.type = MessageType::find_node;
  m.key = key;
  Message add;
  add.type = MessageType::add_provider;
  add.key = key;
  // We answer GET_PROVIDERS with ourselves too (the walk does not ask us, and we may
  // be among the closest to the key).
  if (auto addrs = usable_addrs(self_, our_addrs); !addrs.empty())
    providers_[key][self_] = Stored{std::move(addrs), now + cfg_.provider_ttl};
  add.providers = {Peer{self_, std::move(our_addrs), ConnectionType::connected}};
  return start(std::move(m), 0, now, std::move(add));
}

void Dht::progress(LookupId id, Walk& w, TimePoint now) {
  if (!w.announcing) {
    const bool enough = (w.request.type == MessageType::get_providers && w.providers.size() >= w.want) ||
                        (w.request.type == MessageType::get_value && w.record);
    if (!enough && !w.lookup.finished()) {
      for (const auto& p : w.lookup.next(now)) {
        ++counters_.requests_out;
        out_.push_back({id, p, w.request});
      }
      if (!w.lookup.finished()) return;
    }
    if (w.provide) {
      w.announcing = true;
      for (const auto& p : w.lookup.closest()) {
        ++counters_.requests_out;
        w.add_deadlines[p] = now + cfg_.request_timeout;
        out_.push_back({id, p, w.add});
      }
    }
  }
  if (w.announcing && !w.add_deadlines.empty()) return;
  Finished f{id, {}};
  f.result.closest = w.lookup.closest();
  for (auto& [p, info] : w.providers) f.result.providers.push_back(std::move(info));
  f.result.accepted = w.accepted;
  f.result.record = std::move(w.record);
  if (w.local && (!f.result.record || f.result.record->record.seq < w.local->record.seq))
    f.result.record = std::move(w.local);
  f.result.requests = w.lookup.requests() + (w.provide ? f.result.closest.size() : 0);
  f.result.failures = w.lookup.failures();
  finished_.push_back(std::move(f));
  lookups_.erase(id);  // w is gone from here on
}

std::vector<Dht::Request> Dht::take_requests(TimePoint now) {
  (void)now;
  return std::exchange(out_, {});
}

void Dht::admit(const PeerId& peer, TimePoint now) {
  auto u = table_.update(peer, now);
  if (u.outcome != RoutingTable::Outcome::bucket_full || !u.oldest) return;
  // A full bucket keeps its old peers - if they are still there. Ask the least
  // recently seen one; gone, it makes room for the newcomer.
  if (checks_.count(*u.oldest) || checks_.size() >= 64) return;
  checks_[*u.oldest] = Check{peer, now + cfg_.request_timeout};
  ++counters_.requests_out;
  Message ping;
  ping.type = MessageType::ping;
  out_.push_back({kLivenessCheck, *u.oldest, std::move(ping)});
}

void Dht::end_check(const PeerId& oldest, bool alive, TimePoint now) {
  auto it = checks_.find(oldest);
  if (it == checks_.end()) return;
  const PeerId newcomer = it->second.newcomer;
  checks_.erase(it);
  if (alive) {
    (void)table_.update(oldest, now);  // seen now; the newcomer waits for another chance
    return;
  }
  ++counters_.evicted;
  table_.remove(oldest);
  if (addrs_.count(newcomer)) (void)table_.update(newcomer, now);
}

void Dht::on_answer(LookupId id, const PeerId& from, const Result<Message>& answer, TimePoint now) {
  if (id == kLivenessCheck) {
    if (!answer) ++counters_.requests_failed;
    return end_check(from, answer.ok(), now);
  }
  auto it = lookups_.find(id);
  if (it == lookups_.end()) return;
  Walk& w = *it->second;
  if (!answer) ++counters_.requests_failed;
  if (w.announcing) {
    // A PUT_VALUE answer echoes the key when the record was kept; any ADD_PROVIDER answer counts.
    const bool kept = answer && (w.add.type != MessageType::put_value || answer->key == w.add.key);
    if (w.add_deadlines.erase(from) && kept) ++w.accepted;
    return progress(id, w, now);
  }
  if (!answer) {
    w.lookup.on_failure(from);
    table_.remove(from);
    return progress(id, w, now);
  }
  if (addrs_.count(from)) admit(from, now);  // it answered: it speaks the DHT
  std::vector<PeerId> named;
  for (const auto& c : answer->closer) {
    remember(c.id, c.addrs);
    if (addrs_.count(c.id)) named.push_back(c.id);
  }
  for (const auto& pr : answer->providers) {
    if (pr.id == self_) continue;
    std::vector<Multiaddr> addrs = usable_addrs(pr.id, pr.addrs);
    if (!addrs.empty()) w.providers.emplace(pr.id, ProviderInfo{pr.id, std::move(addrs)});
  }
  if (w.request.type == MessageType::get_value && answer->record) {
    auto peer = record_key_peer(w.request.key);
    auto rec = open_peer_record(answer->record->value);
    if (peer && rec && rec->record.peer == *peer && (!w.record || w.record->record.seq < rec->record.seq))
      w.record = std::move(*rec);
  }
  w.lookup.on_response(from, named);
  progress(id, w, now);
}

void Dht::tick(TimePoint now) {
  std::vector<PeerId> expired;
  for (const auto& [p, c] : checks_)
    if (c.deadline <= now) expired.push_back(p);
  for (const auto& p : expired) {
    ++counters_.requests_failed;
    end_check(p, false, now);
  }
  std::vector<LookupId> ids;
  for (const auto& [id, w] : lookups_) ids.push_back(id);
  for (auto id : ids) {
    auto it = lookups_.find(id);
    if (it == lookups_.end()) continue;
    Walk& w = *it->second;
    for (const auto& p : w.lookup.tick(now)) {
      ++counters_.requests_failed;
      table_.remove(p);  // no answer in time: gone, or not worth asking
    }
    std::erase_if(w.add_deadlines, [&](const auto& kv) { return kv.second <= now; });
    progress(id, w, now);
  }
}

}  // namespace shardnode::net::kad
