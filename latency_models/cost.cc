#include "latency_models/cost.h"

#include "space/space.h"

namespace lutnas::latency {
namespace {

int64_t Elems(const space::Shape& s) { return SatMul(SatMul(s.c, s.h), s.w); }

}  // namespace

Cost OpCost(const Graph& g, const Op& op, int bpe) {
  Cost c;
  const space::Shape& out = g.values[op.out];
  const space::Shape& in = g.values[op.in[0]];
  switch (op.kind) {
    case OpKind::kConv: {
      const int64_t w = SatMul(SatMul(SatMul(op.cout, op.cin / op.groups), op.kernel), op.kernel);
      c.params = SatAdd(w, op.bias ? op.cout : 0);
      c.macs = SatMul(SatMul(w, out.h), out.w);
      c.mac_bytes = SatMul(SatAdd(SatAdd(c.params, Elems(in)), Elems(out)), bpe);
      c.activations = Elems(out);
      break;
    }
    case OpKind::kLinear: {
      const int64_t w = SatMul(op.cin, op.cout);
      c.params = SatAdd(w, op.cout);
      c.macs = w;
      c.mac_bytes = SatMul(SatAdd(SatAdd(c.params, op.cin), op.cout), bpe);
      c.activations = op.cout;
      break;
    }
    case OpKind::kBatchNorm: {
      c.params = 2LL * op.cout;
      // Folded into the producing conv unless it stands alone (RepVGG id).
      if (!op.folded) {
        c.mac_bytes = 2 * Elems(in) * bpe;
        c.activations = Elems(out);
      }
      break;
    }
    case OpKind::kAct:
    case OpKind::kSlice:
      break;
    case OpKind::kAdd:
    case OpKind::kMul:
    case OpKind::kConcat: {
      int64_t read = 0;
      for (int v : op.in) read += Elems(g.values[v]);
      c.mac_bytes = (read + Elems(out)) * bpe;
      c.activations = Elems(out);
      break;
    }
    case OpKind::kShuffle:
    case OpKind::kMaxPool:
    case OpKind::kAvgPool:
    case OpKind::kGlobalPool:
      c.mac_bytes = (Elems(in) + Elems(out)) * bpe;
      c.activations = Elems(out);
      break;
  }
  return c;
}

Cost GraphCost(const Graph& g, int bpe) {
  Cost total;
  for (const auto& op : g.ops) total += OpCost(g, op, bpe);
  return total;
}

NetworkCost AnalyzeNetwork(const v1::Architecture& raw, int bpe) {
  const v1::Architecture arch = space::Canonicalize(raw);
  const Graph g = LowerNetwork(arch);
  NetworkCost nc;
  nc.bytes_per_element = bpe;
  const auto sites = space::ListBlocks(arch);
  nc.blocks.resize(sites.size() + 1);
  for (size_t i = 0; i < sites.size(); ++i) {
    auto& bc = nc.blocks[i];
    bc.where = sites[i].where;
    bc.key = space::BlockKey(sites[i].block, sites[i].in);
    bc.type = space::BlockTypeName(space::TypeOf(sites[i].block));
    if (sites[i].block.has_pool()) bc.type = "pool";
    bc.in = sites[i].in;
    bc.out = sites[i].out;
  }
  auto& head = nc.blocks.back();
  head.where = "head";
  head.type = "head";
  head.in = sites.empty() ? space::InputShape(arch) : sites.back().out;
  head.out = arch.head().feature_strides_size() > 0 ? head.in  // feature-map head: the maps themselves
                                                    : space::Shape{arch.head().num_classes(), 1, 1};
  head.key = space::HeadKey(arch.head(), head.in);
  for (const auto& op : g.ops) {
    const Cost c = OpCost(g, op, bpe);
    nc.blocks[op.block].cost += c;
    nc.total += c;
  }
  return nc;
}

}  // namespace lutnas::latency
