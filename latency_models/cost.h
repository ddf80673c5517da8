// Cost analysis: MACs, parameters, activation sizes and memory access cost
// (bytes read + written) per block and per network, from the lowered graph.
// Memory access counts what an inference engine moves with batch norm and
// activations fused into the producing conv: conv/linear read weights and
// input and write output; add/mul/concat/shuffle/pool read inputs and write
// output; slices are views. Precision is bytes per element (4 = fp32).
#ifndef LUTNAS_LATENCY_MODELS_COST_H_
#define LUTNAS_LATENCY_MODELS_COST_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

#include "latency_models/checked_math.h"
#include "latency_models/graph.h"

namespace lutnas::latency {

struct Cost {
  int64_t params = 0;
  int64_t macs = 0;
  int64_t mac_bytes = 0;    // memory access cost
  int64_t activations = 0;  // elements written (batch 1)
  Cost& operator+=(const Cost& o) {
    params = SatAdd(params, o.params);  // saturates at kCostOverflow
    macs = SatAdd(macs, o.macs);
    mac_bytes = SatAdd(mac_bytes, o.mac_bytes);
    activations = SatAdd(activations, o.activations);
    return *this;
  }
};

struct BlockCost {
  std::string where;  // "stem[0]", "stages[1].blocks[0]", "head"
  std::string key;    // latency-table key
  std::string type;
  space::Shape in, out;
  Cost cost;
};

struct NetworkCost {
  Cost total;
  std::vector<BlockCost> blocks;  // stem, stage blocks, then the head
  int bytes_per_element = 4;
};

// Per-op cost; the graph gives shapes.
Cost OpCost(const Graph& g, const Op& op, int bytes_per_element);
Cost GraphCost(const Graph& g, int bytes_per_element = 4);
// Valid architecture in, canonicalised internally.
NetworkCost AnalyzeNetwork(const v1::Architecture& arch, int bytes_per_element = 4);
// INVALID_ARGUMENT naming the cost ("macs", "params", "mac_bytes") when a
// valid architecture's costs do not fit in int64 (cost_limits.cc).
absl::Status CheckCostsFit(const v1::Architecture& arch);

}  // namespace lutnas::latency

#endif  // LUTNAS_LATENCY_MODELS_COST_H_
