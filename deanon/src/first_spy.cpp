#include "shardnode/deanon/first_spy.h"

namespace shardnode::deanon {

MessageScore score(const FirstSpyVerdict& v, NodeIndex true_source) {
  MessageScore s;
  if (!v.estimate) return s;
  s.guessed = true;
  s.correct = *v.estimate == true_source;
  for (std::size_t i = 0; i < v.ranking.size(); ++i)
    if (v.ranking[i] == true_source) {
      s.inverse_rank = 1.0 / static_cast<double>(i + 1);
      break;
    }
  return s;
}

}  // namespace shardnode::deanon
