// The refusal of networks whose costs do not fit (see checked_math.h).
#include "absl/strings/str_cat.h"

#include "latency_models/cost.h"

namespace lutnas::latency {

absl::Status CheckCostsFit(const v1::Architecture& arch) {
  const NetworkCost nc = AnalyzeNetwork(arch);
  for (auto [name, v] : {std::pair<const char*, int64_t>{"macs", nc.total.macs},
                         {"params", nc.total.params},
                         {"mac_bytes", nc.total.mac_bytes},
                         {"activations", nc.total.activations}})
    if (v == kCostOverflow)
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": the network's ", name, " do not fit in a signed 64-bit count (more than ",
                       kCostOverflow, "); make it smaller (channels, expansion, resolution or depth)"));
  return absl::OkStatus();
}

}  // namespace lutnas::latency
