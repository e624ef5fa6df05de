#include "shardnode/shard/memory_store.h"

#include <limits>

#include "shardnode/core/errors.h"
#include "shardnode/shard/errors.h"

namespace shardnode::shard {

Result<bool> MemoryCollationStore::put(const Collation& c, std::int64_t) {
  if (c.header.period > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    return Error{ShardErrc::future, "collation store: period " + std::to_string(c.header.period) + " cannot be stored"};
  const Hash32 id = collation_hash(c.header);
  if (by_id_.count(id)) return false;
  const Bytes data = encode(c);
  if (opts_.verify)
    if (auto d = decode_collation(data, opts_.collation); !d) return d.error();
  by_id_.emplace(id, Entry{c, data.size()});
  index_.emplace(c.header.shard, c.header.period, id);
  return true;
}

Result<std::optional<Collation>> MemoryCollationStore::get(const Hash32& hash) {
  auto it = by_id_.find(hash);
  if (it == by_id_.end()) return std::optional<Collation>{};
  return std::optional<Collation>(it->second.collation);
}

const Collation* MemoryCollationStore::find(const Hash32& hash) const {
  auto it = by_id_.find(hash);
  return it == by_id_.end() ? nullptr : &it->second.collation;
}

std::set<Hash32> MemoryCollationStore::ids(std::optional<std::uint32_t> shard) const {
  std::set<Hash32> out;
  for (const auto& [k, period, id] : index_)
    if (!shard || k == *shard) out.insert(id);
  return out;
}

Result<RangeResult> MemoryCollationStore::range(std::uint32_t shard, std::uint64_t from_period,
                                                std::uint64_t to_period, std::size_t max_count,
                                                std::size_t max_bytes) {
  RangeResult out;
  if (from_period > to_period) return out;
  std::size_t bytes = 0;
  for (auto it = index_.lower_bound(Key{shard, from_period, Hash32{}});
       it != index_.end() && std::get<0>(*it) == shard && std::get<1>(*it) <= to_period; ++it) {
    const Entry& e = by_id_.at(std::get<2>(*it));
    if (out.collations.size() == max_count || e.encoded_size > max_bytes - bytes) {
      out.truncated = true;
      return out;
    }
    bytes += e.encoded_size;
    out.collations.push_back(e.collation);
  }
  return out;
}

Result<std::size_t> MemoryCollationStore::prune_before(std::uint64_t period) {
  std::size_t n = 0;
  for (auto it = index_.begin(); it != index_.end();) {
    if (std::get<1>(*it) < period) {
      by_id_.erase(std::get<2>(*it));
      it = index_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  return n;
}

}  // namespace shardnode::shard
