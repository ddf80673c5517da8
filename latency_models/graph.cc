#include "latency_models/graph.h"

#include <cmath>

#include "space/arch_ext.h"

namespace lutnas::latency {
namespace {

// Appends ops to a graph; every helper returns the id of its output value.
class Lowerer {
 public:
  explicit Lowerer(Graph* g) : g_(g) {}
  int block = -1;

  int Conv(int x, int cout, int k, int s, int groups = 1, bool bias = false, Role role = Role::kNone) {
    const space::Shape in = g_->values[x];
    Op op{OpKind::kConv};
    op.cin = in.c;
    op.cout = cout;
    op.kernel = k;
    op.stride = s;
    op.groups = groups;
    op.bias = bias;
    op.role = role;
    return Add(op, {x}, space::Shape{cout, (in.h - 1) / s + 1, (in.w - 1) / s + 1});
  }
  int Bn(int x, Role role = Role::kNone) {
    Op op{OpKind::kBatchNorm};
    op.cin = op.cout = g_->values[x].c;
    op.role = role;
    op.folded = !g_->ops.empty() && g_->ops.back().out == x && g_->ops.back().kind == OpKind::kConv;
    return Add(op, {x}, g_->values[x]);
  }
  int Act(int x, ActKind a) {
    if (a == ActKind::kNone) return x;
    Op op{OpKind::kAct};
    op.act = a;
    op.cin = op.cout = g_->values[x].c;
    return Add(op, {x}, g_->values[x]);
  }
  int Cba(int x, int cout, int k, int s, int groups, ActKind a) {
    return Act(Bn(Conv(x, cout, k, s, groups)), a);
  }
  int Sum(std::vector<int> xs) {
    Op op{OpKind::kAdd};
    op.cin = op.cout = g_->values[xs[0]].c;
    return Add(op, xs, g_->values[xs[0]]);
  }
  int Mul(int x, int gate) {
    Op op{OpKind::kMul};
    op.cin = op.cout = g_->values[x].c;
    return Add(op, {x, gate}, g_->values[x]);
  }
  int Concat(std::vector<int> xs) {
    space::Shape s = g_->values[xs[0]];
    s.c = 0;
    for (int x : xs) s.c += g_->values[x].c;
    Op op{OpKind::kConcat};
    op.cout = s.c;
    return Add(op, xs, s);
  }
  int Slice(int x, int begin, int end) {
    space::Shape s = g_->values[x];
    Op op{OpKind::kSlice};
    op.cin = s.c;
    op.begin = begin;
    op.end = end;
    op.cout = end - begin;
    s.c = end - begin;
    return Add(op, {x}, s);
  }
  int Shuffle(int x, int groups) {
    Op op{OpKind::kShuffle};
    op.cin = op.cout = g_->values[x].c;
    op.groups = groups;
    return Add(op, {x}, g_->values[x]);
  }
  int Pool(int x, bool max, int k, int s) {
    const space::Shape in = g_->values[x];
    Op op{max ? OpKind::kMaxPool : OpKind::kAvgPool};
    op.cin = op.cout = in.c;
    op.kernel = k;
    op.stride = s;
    return Add(op, {x}, space::Shape{in.c, (in.h - 1) / s + 1, (in.w - 1) / s + 1});
  }
  int GlobalPool(int x) {
    Op op{OpKind::kGlobalPool};
    op.cin = op.cout = g_->values[x].c;
    return Add(op, {x}, space::Shape{op.cout, 1, 1});
  }
  int Linear(int x, int cout) {
    Op op{OpKind::kLinear};
    op.cin = g_->values[x].c;
    op.cout = cout;
    op.bias = true;
    return Add(op, {x}, space::Shape{cout, 1, 1});
  }
  // Squeeze-excite: pool, 1x1 reduce + ReLU, 1x1 expand + hard sigmoid.
  int Se(int x, int squeeze, ActKind act = ActKind::kRelu, ActKind gate = ActKind::kHsigmoid) {
    const int c = g_->values[x].c;
    int s = GlobalPool(x);
    s = Act(Conv(s, squeeze, 1, 1, 1, true), act);
    s = Act(Conv(s, c, 1, 1, 1, true), gate);
    return Mul(x, s);
  }
  // Squeeze-excite with options on `x`, in a block whose input has `cin`.
  int SeWith(int x, const v1::SqueezeExcite& raw, int cin) {
    const v1::SqueezeExcite o = space::CanonicalSe(raw);
    return Se(x, space::SqueezeChannels(o, cin, g_->values[x].c), ToActKind(o.act()),
              o.gate() == v1::SE_SIGMOID ? ActKind::kSigmoid : ActKind::kHsigmoid);
  }

  int LowerBlock(const v1::Block& b, int x);
  int LowerYolo(const v1::Block& b, int x);
  int LowerHead(const v1::Head& h, int x);

 private:
  int Add(Op op, std::vector<int> in, space::Shape out) {
    op.in = std::move(in);
    op.out = static_cast<int>(g_->values.size());
    op.block = block;
    g_->values.push_back(out);
    g_->ops.push_back(std::move(op));
    return g_->ops.back().out;
  }
  Graph* g_;
};

int Lowerer::LowerBlock(const v1::Block& raw, int x) {
  const v1::Block b = space::CanonicalBlock(raw);
  const int cin = g_->values[x].c;
  switch (b.kind_case()) {
    case v1::Block::kConv: {
      const auto& m = b.conv();
      return Cba(x, m.out_channels(), m.kernel(), m.stride(), m.groups(), ToActKind(m.act()));
    }
    case v1::Block::kRepvgg: {
      const auto& m = b.repvgg();
      const ActKind a = ToActKind(m.act());
      if (m.deploy())
        return Act(Conv(x, m.out_channels(), 3, m.stride(), m.groups(), true, Role::kRep3x3), a);
      std::vector<int> br;
      br.push_back(
          Bn(Conv(x, m.out_channels(), 3, m.stride(), m.groups(), false, Role::kRep3x3), Role::kRep3x3));
      br.push_back(
          Bn(Conv(x, m.out_channels(), 1, m.stride(), m.groups(), false, Role::kRep1x1), Role::kRep1x1));
      if (cin == m.out_channels() && m.stride() == 1) br.push_back(Bn(x, Role::kRepIdentity));
      return Act(Sum(br), a);
    }
    case v1::Block::kMbconv: {
      const auto& m = b.mbconv();
      const ActKind a = ToActKind(m.act());
      const int hidden = m.has_hidden_channels() ? m.hidden_channels() : cin * m.expansion();
      int y = x;
      if (hidden != cin) y = Cba(y, hidden, 1, 1, 1, a);
      y = Cba(y, hidden, m.kernel(), m.stride(), hidden, a);
      if (m.has_se_options())
        y = SeWith(y, m.se_options(), cin);
      else if (m.se())
        y = Se(y, MakeDivisible(hidden / 4.0));
      y = Bn(Conv(y, m.out_channels(), 1, 1));
      if (m.stride() == 1 && cin == m.out_channels()) y = Sum({x, y});
      return y;
    }
    case v1::Block::kFusedMbconv: {
      const auto& m = b.fused_mbconv();
      const ActKind a = ToActKind(m.act());
      int y;
      if (!m.has_hidden_channels() && m.expansion() == 1) {
        y = Cba(x, m.out_channels(), m.kernel(), m.stride(), 1, a);
        if (m.has_se_options())
          y = SeWith(y, m.se_options(), cin);
        else if (m.se())
          y = Se(y, MakeDivisible(m.out_channels() / 4.0));
      } else {
        const int hidden = m.has_hidden_channels() ? m.hidden_channels() : cin * m.expansion();
        y = Cba(x, hidden, m.kernel(), m.stride(), 1, a);
        if (m.has_se_options())
          y = SeWith(y, m.se_options(), cin);
        else if (m.se())
          y = Se(y, MakeDivisible(hidden / 4.0));
        y = Bn(Conv(y, m.out_channels(), 1, 1));
      }
      if (m.stride() == 1 && cin == m.out_channels()) y = Sum({x, y});
      return y;
    }
    case v1::Block::kShuffle: {
      const auto& m = b.shuffle();
      const ActKind a = ToActKind(m.act());
      const int half = m.out_channels() / 2;
      const int k = m.kernel();
      if (m.stride() == 1) {
        const int left = Slice(x, 0, cin / 2);
        int r = Slice(x, cin / 2, cin);
        r = Cba(r, half, 1, 1, 1, a);
        r = Bn(Conv(r, half, k, 1, half));
        r = Cba(r, half, 1, 1, 1, a);
        return Shuffle(Concat({left, r}), 2);
      }
      int l = Bn(Conv(x, cin, k, 2, cin));
      l = Cba(l, half, 1, 1, 1, a);
      int r = Cba(x, half, 1, 1, 1, a);
      r = Bn(Conv(r, half, k, 2, half));
      r = Cba(r, half, 1, 1, 1, a);
      return Shuffle(Concat({l, r}), 2);
    }
    case v1::Block::kCsp: {
      const auto& m = b.csp();
      const ActKind a = ToActKind(m.act());
      int y = x;
      if (m.stride() == 2) y = Cba(y, m.out_channels(), 3, 2, 1, a);
      const int hidden = static_cast<int>(std::lround(m.out_channels() * m.split_ratio()));
      const int p1 = Cba(y, hidden, 1, 1, 1, a);
      int p2 = Cba(y, hidden, 1, 1, 1, a);
      for (int i = 0; i < m.num_blocks(); ++i) {
        if (m.inner() == v1::CSP_BOTTLENECK) {
          int t = Cba(p2, hidden, 1, 1, 1, a);
          t = Cba(t, hidden, 3, 1, 1, a);
          p2 = Sum({p2, t});
        } else {
          int t = Cba(p2, hidden, 3, 1, 1, a);
          t = Bn(Conv(t, hidden, 3, 1));
          p2 = Act(Sum({p2, t}), a);
        }
      }
      return Cba(Concat({p2, p1}), m.out_channels(), 1, 1, 1, a);
    }
    case v1::Block::kOsa: {
      const auto& m = b.osa();
      const ActKind a = ToActKind(m.act());
      int y = m.stride() == 2 ? Pool(x, true, 3, 2) : x;
      std::vector<int> feats = {y};
      int t = y;
      for (int i = 0; i < m.layers(); ++i) {
        t = Cba(t, m.stage_channels(), 3, 1, 1, a);
        feats.push_back(t);
      }
      y = Cba(Concat(feats), m.out_channels(), 1, 1, 1, a);
      if (m.ese()) {
        int s = GlobalPool(y);
        s = Act(Conv(s, m.out_channels(), 1, 1, 1, true), ActKind::kHsigmoid);
        y = Mul(y, s);
      }
      if (m.residual()) y = Sum({y, x});
      return y;
    }
    case v1::Block::kBasic: {
      const auto& m = b.basic();
      const ActKind a = ToActKind(m.act());
      int y = Cba(x, m.out_channels(), 3, m.stride(), 1, a);
      y = Bn(Conv(y, m.out_channels(), 3, 1));
      int sc = x;
      if (m.stride() != 1 || cin != m.out_channels()) sc = Bn(Conv(x, m.out_channels(), 1, m.stride()));
      return Act(Sum({y, sc}), a);
    }
    case v1::Block::kBottleneck: {
      const auto& m = b.bottleneck();
      const ActKind a = ToActKind(m.act());
      int y = Cba(x, m.mid_channels(), 1, 1, 1, a);
      y = Cba(y, m.mid_channels(), 3, m.stride(), m.groups(), a);
      if (m.has_se()) y = SeWith(y, m.se(), cin);
      y = Bn(Conv(y, m.out_channels(), 1, 1));
      int sc = x;
      if (m.stride() != 1 || cin != m.out_channels()) sc = Bn(Conv(x, m.out_channels(), 1, m.stride()));
      return Act(Sum({y, sc}), a);
    }
    case v1::Block::kPool: {
      const auto& m = b.pool();
      return Pool(x, m.kind() != v1::AVG, m.kernel(), m.stride());
    }
    case v1::Block::kC3:
    case v1::Block::kC2F:
    case v1::Block::kSppf:
      return LowerYolo(b, x);
    default:
      return x;
  }
}

// The YOLO blocks (C3, C2f, SPPF); `b` is canonical.
int Lowerer::LowerYolo(const v1::Block& b, int x) {
  if (b.has_sppf()) {
    const auto& m = b.sppf();
    const ActKind a = ToActKind(m.act());
    std::vector<int> ys = {Cba(x, g_->values[x].c / 2, 1, 1, 1, a)};
    for (int i = 0; i < 3; ++i) ys.push_back(Pool(ys.back(), true, m.kernel(), 1));
    return Cba(Concat(ys), m.out_channels(), 1, 1, 1, a);
  }
  if (b.has_c2f()) {
    const auto& m = b.c2f();
    const ActKind a = ToActKind(m.act());
    int y = m.stride() == 2 ? Cba(x, m.out_channels(), 3, 2, 1, a) : x;
    const int c = static_cast<int>(m.out_channels() * m.expansion());
    y = Cba(y, 2 * c, 1, 1, 1, a);
    std::vector<int> ys = {Slice(y, 0, c), Slice(y, c, 2 * c)};
    for (int i = 0; i < m.num_blocks(); ++i) {
      const int in = ys.back();
      int t = Cba(Cba(in, c, 3, 1, 1, a), c, 3, 1, 1, a);
      if (m.shortcut()) t = Sum({in, t});
      ys.push_back(t);
    }
    return Cba(Concat(ys), m.out_channels(), 1, 1, 1, a);
  }
  const auto& m = b.c3();
  const ActKind a = ToActKind(m.act());
  int y = m.stride() == 2 ? Cba(x, m.out_channels(), 3, 2, 1, a) : x;
  const int c = static_cast<int>(m.out_channels() * m.expansion());
  int p1 = Cba(y, c, 1, 1, 1, a);
  const int p2 = Cba(y, c, 1, 1, 1, a);
  for (int i = 0; i < m.num_blocks(); ++i) {
    int t = Cba(Cba(p1, c, 1, 1, 1, a), c, 3, 1, 1, a);
    p1 = m.shortcut() ? Sum({p1, t}) : t;
  }
  return Cba(Concat({p1, p2}), m.out_channels(), 1, 1, 1, a);
}

int Lowerer::LowerHead(const v1::Head& h, int x) {
  if (space::IsFeatureHead(h)) return x;  // feature maps: no ops
  const ActKind a = ToActKind(h.act() == v1::ACTIVATION_UNSPECIFIED ? v1::RELU : h.act());
  int y = x;
  if (h.conv_channels() > 0) y = Cba(y, h.conv_channels(), 1, 1, 1, a);
  y = GlobalPool(y);
  if (h.fc_hidden() > 0) y = Act(Linear(y, h.fc_hidden()), a);
  return Linear(y, h.num_classes());
}

}  // namespace

ActKind ToActKind(v1::Activation a) {
  switch (a) {
    case v1::RELU:
      return ActKind::kRelu;
    case v1::RELU6:
      return ActKind::kRelu6;
    case v1::HSWISH:
      return ActKind::kHswish;
    case v1::SILU:
      return ActKind::kSilu;
    default:
      return ActKind::kNone;
  }
}

const char* OpKindName(OpKind k) {
  switch (k) {
    case OpKind::kConv:
      return "conv";
    case OpKind::kBatchNorm:
      return "bn";
    case OpKind::kAct:
      return "act";
    case OpKind::kAdd:
      return "add";
    case OpKind::kMul:
      return "mul";
    case OpKind::kConcat:
      return "concat";
    case OpKind::kSlice:
      return "slice";
    case OpKind::kShuffle:
      return "shuffle";
    case OpKind::kMaxPool:
      return "maxpool";
    case OpKind::kAvgPool:
      return "avgpool";
    case OpKind::kGlobalPool:
      return "gpool";
    case OpKind::kLinear:
      return "linear";
  }
  return "?";
}

int MakeDivisible(double v, int divisor) {
  int n = std::max(divisor, static_cast<int>(v + divisor / 2.0) / divisor * divisor);
  if (n < 0.9 * v) n += divisor;
  return n;
}

Graph LowerNetwork(const v1::Architecture& arch) {
  Graph g;
  g.values.push_back(space::InputShape(arch));
  Lowerer l(&g);
  int x = 0;
  int idx = 0;
  std::vector<std::pair<int, int>> feats;  // (cumulative stride, value) per block
  int stride = 1;
  auto lower = [&](const v1::Block& b) {
    l.block = idx++;
    x = l.LowerBlock(b, x);
    stride *= space::BlockStride(space::CanonicalBlock(b));
    feats.emplace_back(stride, x);
  };
  for (const auto& b : arch.stem()) lower(b);
  for (const auto& st : arch.stages())
    for (const auto& b : st.blocks()) lower(b);
  g.num_blocks = idx;
  l.block = idx;
  g.output = l.LowerHead(arch.head(), x);
  for (int s : arch.head().feature_strides()) {
    int v = -1;
    for (const auto& [fs, fv] : feats)
      if (fs == s) v = fv;  // the last block at that stride
    if (v >= 0) g.outputs.push_back(v);
  }
  return g;
}

Graph LowerBlock(const v1::Block& block, const space::Shape& in) {
  Graph g;
  g.values.push_back(in);
  Lowerer l(&g);
  l.block = 0;
  g.output = l.LowerBlock(block, 0);
  g.num_blocks = 1;
  return g;
}

Graph LowerKey(const space::KeySpec& k) {
  return k.is_head ? LowerHead(k.head, k.in) : LowerBlock(k.block, k.in);
}

Graph LowerHead(const v1::Head& head, const space::Shape& in) {
  Graph g;
  g.values.push_back(in);
  Lowerer l(&g);
  l.block = 0;
  g.output = l.LowerHead(head, 0);
  return g;
}

}  // namespace lutnas::latency
