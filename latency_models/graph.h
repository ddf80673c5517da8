// Lowering of architectures to a flat graph of primitive operators (conv,
// batch norm, activation, add, concat, ...). The one place that says what a
// block *is*: cost analysis, the LibTorch builder and the PyTorch code
// exporter all walk this graph, so their parameter counts cannot disagree.
#ifndef LUTNAS_LATENCY_MODELS_GRAPH_H_
#define LUTNAS_LATENCY_MODELS_GRAPH_H_

#include <string>
#include <vector>

#include "lutnas/v1/arch.pb.h"
#include "space/arch_util.h"
#include "space/space.h"

namespace lutnas::latency {

enum class OpKind {
  kConv,
  kBatchNorm,
  kAct,
  kAdd,
  kMul,
  kConcat,
  kSlice,
  kShuffle,
  kMaxPool,
  kAvgPool,
  kGlobalPool,
  kLinear,
};
enum class ActKind { kNone, kRelu, kRelu6, kHswish, kSilu, kSigmoid, kHsigmoid };

ActKind ToActKind(v1::Activation a);
const char* OpKindName(OpKind k);

// RepVGG roles, so re-parameterisation can find the branches of a block.
enum class Role { kNone, kRep3x3, kRep1x1, kRepIdentity };

struct Op {
  OpKind kind;
  std::vector<int> in;  // value ids
  int out = -1;         // value id
  int cin = 0, cout = 0, kernel = 1, stride = 1, groups = 1;
  bool bias = false;
  ActKind act = ActKind::kNone;
  int begin = 0, end = 0;  // kSlice channel range
  int block = -1;          // index into the network's block list; head = n
  Role role = Role::kNone;
  bool folded = false;  // batch norm right after a conv (fused at deploy)
};

struct Graph {
  std::vector<Op> ops;
  std::vector<space::Shape> values;  // values[0] is the input
  int output = 0;
  int num_blocks = 0;  // blocks (stem + stages) before the head
  // Feature-map head: the values returned, in stride order (output is the
  // last); empty for a classifier.
  std::vector<int> outputs;
};

// Whole network (canonical, valid architecture). Head ops get block index
// == number of blocks; the output is [N, num_classes].
Graph LowerNetwork(const v1::Architecture& arch);
// One block (or just the head) on its own, as measured for a table key.
Graph LowerBlock(const v1::Block& block, const space::Shape& in);
Graph LowerHead(const v1::Head& head, const space::Shape& in);
// The module a latency-table key stands for (block or head).
Graph LowerKey(const space::KeySpec& key);

int MakeDivisible(double v, int divisor = 8);

}  // namespace lutnas::latency

#endif  // LUTNAS_LATENCY_MODELS_GRAPH_H_
