#include "latency_models/lut.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

#include "latency_models/correction.h"
#include "latency_models/graph.h"
#include "space/arch_ext.h"
#include "space/block_traits.h"

namespace lutnas::latency {
namespace {

inline uint64_t Mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}

inline space::Shape Down(const space::Shape& in, int c, int s) {
  return space::Shape{c, (in.h - 1) / s + 1, (in.w - 1) / s + 1};
}

// Output shape of a canonical block without validation or strings.
space::Shape FastOut(const v1::Block& b, const space::Shape& in) {
  switch (b.kind_case()) {
    case v1::Block::kConv:
      return Down(in, b.conv().out_channels(), b.conv().stride());
    case v1::Block::kRepvgg:
      return Down(in, b.repvgg().out_channels(), b.repvgg().stride());
    case v1::Block::kMbconv:
      return Down(in, b.mbconv().out_channels(), b.mbconv().stride());
    case v1::Block::kFusedMbconv:
      return Down(in, b.fused_mbconv().out_channels(), b.fused_mbconv().stride());
    case v1::Block::kShuffle:
      return Down(in, b.shuffle().out_channels(), b.shuffle().stride());
    case v1::Block::kCsp:
      return Down(in, b.csp().out_channels(), b.csp().stride());
    case v1::Block::kOsa:
      return Down(in, b.osa().out_channels(), b.osa().stride());
    case v1::Block::kBasic:
      return Down(in, b.basic().out_channels(), b.basic().stride());
    case v1::Block::kBottleneck:
      return Down(in, b.bottleneck().out_channels(), b.bottleneck().stride());
    case v1::Block::kPool:
      return Down(in, in.c, b.pool().stride());
    case v1::Block::kC3:
      return Down(in, b.c3().out_channels(), b.c3().stride());
    case v1::Block::kC2F:
      return Down(in, b.c2f().out_channels(), b.c2f().stride());
    case v1::Block::kSppf:
      return Down(in, b.sppf().out_channels(), 1);
    default:
      if (const space::BlockTraits* t = space::TraitsOf(b)) {  // a type with no case here: its row
        const auto& m = space::BlockMessage(b, *t);
        return Down(in, space::OutChannelsOf(*t, m, in.c), space::StrideOfBlock(*t, m));
      }
      return in;
  }
}

// Every key of a network, blocks in order then the head, with the key text
// and (when `where` is given) each one's place ("stages[1].blocks[0]", "head").
std::vector<space::KeySpec> NetworkKeys(const v1::Architecture& arch,
                                        std::vector<std::string>* where = nullptr) {
  std::vector<space::KeySpec> keys;
  const auto sites = space::ListBlocks(arch);
  for (const auto& site : sites) {
    space::KeySpec k;
    k.block = site.block;
    k.in = site.in;
    k.key = space::BlockKey(site.block, site.in);
    keys.push_back(std::move(k));
    if (where) where->push_back(site.where);
  }
  space::KeySpec h;
  h.is_head = true;
  h.head = arch.head();
  h.in = sites.empty() ? space::InputShape(arch) : sites.back().out;
  h.key = space::HeadKey(arch.head(), h.in);
  keys.push_back(std::move(h));
  if (where) where->push_back("head");
  return keys;
}

}  // namespace

std::vector<space::KeySpec> NetworkKeyList(const v1::Architecture& arch, std::vector<std::string>* where) {
  return NetworkKeys(arch, where);
}

space::Shape FastOutShape(const v1::Block& b, const space::Shape& in) { return FastOut(b, in); }

uint64_t NumericKey(const v1::Block& b, const space::Shape& in) {
  uint64_t h = Mix(Mix(Mix(Mix(0, b.kind_case()), in.c), in.h), in.w);
  // Issue-15 fields (hidden widths, SE options, YOLO blocks): hash the key text.
  if (space::HasExtendedFields(b)) return Mix(Mix(h, 0x15), space::Fnv1a64(space::EncodeBlock(b)));
  switch (b.kind_case()) {
    case v1::Block::kConv: {
      const auto& m = b.conv();
      for (int64_t v : {(int64_t)m.out_channels(), (int64_t)m.kernel(), (int64_t)m.stride(),
                        (int64_t)m.groups(), (int64_t)m.act()})
        h = Mix(h, v);
      break;
    }
    case v1::Block::kRepvgg: {
      const auto& m = b.repvgg();
      for (int64_t v : {(int64_t)m.out_channels(), (int64_t)m.stride(), (int64_t)m.groups(),
                        (int64_t)m.deploy(), (int64_t)m.act()})
        h = Mix(h, v);
      break;
    }
    case v1::Block::kMbconv: {
      const auto& m = b.mbconv();
      for (int64_t v : {(int64_t)m.out_channels(), (int64_t)m.expansion(), (int64_t)m.kernel(),
                        (int64_t)m.stride(), (int64_t)m.se(), (int64_t)m.act()})
        h = Mix(h, v);
      break;
    }
    case v1::Block::kFusedMbconv: {
      const auto& m = b.fused_mbconv();
      for (int64_t v : {(int64_t)m.out_channels(), (int64_t)m.expansion(), (int64_t)m.kernel(),
                        (int64_t)m.stride(), (int64_t)m.se(), (int64_t)m.act()})
        h = Mix(h, v);
      break;
    }
    case v1::Block::kShuffle: {
      const auto& m = b.shuffle();
      for (int64_t v :
           {(int64_t)m.out_channels(), (int64_t)m.kernel(), (int64_t)m.stride(), (int64_t)m.act()})
        h = Mix(h, v);
      break;
    }
    case v1::Block::kCsp: {
      const auto& m = b.csp();
      for (int64_t v :
           {(int64_t)m.out_channels(), (int64_t)m.stride(), (int64_t)std::llround(m.split_ratio() * 1e4),
            (int64_t)m.num_blocks(), (int64_t)m.inner(), (int64_t)m.act()})
        h = Mix(h, v);
      break;
    }
    case v1::Block::kOsa: {
      const auto& m = b.osa();
      for (int64_t v : {(int64_t)m.out_channels(), (int64_t)m.stage_channels(), (int64_t)m.layers(),
                        (int64_t)m.stride(), (int64_t)m.residual(), (int64_t)m.ese(), (int64_t)m.act()})
        h = Mix(h, v);
      break;
    }
    case v1::Block::kBasic: {
      const auto& m = b.basic();
      for (int64_t v : {(int64_t)m.out_channels(), (int64_t)m.stride(), (int64_t)m.act()}) h = Mix(h, v);
      break;
    }
    case v1::Block::kBottleneck: {
      const auto& m = b.bottleneck();
      for (int64_t v : {(int64_t)m.out_channels(), (int64_t)m.mid_channels(), (int64_t)m.stride(),
                        (int64_t)m.groups(), (int64_t)m.act()})
        h = Mix(h, v);
      break;
    }
    case v1::Block::kPool: {
      const auto& m = b.pool();
      for (int64_t v : {(int64_t)m.kind(), (int64_t)m.kernel(), (int64_t)m.stride()}) h = Mix(h, v);
      break;
    }
    default:
      break;
  }
  return h;
}

uint64_t NumericHeadKey(const v1::Head& hd, const space::Shape& in) {
  uint64_t h = Mix(Mix(Mix(Mix(0, 1000), in.c), in.h), in.w);
  if (space::IsFeatureHead(hd)) return Mix(Mix(h, 0x15), space::Fnv1a64(space::EncodeHead(hd)));
  const int act = hd.act() == v1::ACTIVATION_UNSPECIFIED ? v1::RELU : hd.act();
  for (int64_t v :
       {(int64_t)hd.conv_channels(), (int64_t)act, (int64_t)hd.fc_hidden(), (int64_t)hd.num_classes()})
    h = Mix(h, v);
  return h;
}

int BytesPerElement(const std::string& p) {
  if (p == "fp16" || p == "bf16") return 2;
  if (p == "int8" || p == "uint8") return 1;
  return 4;
}

std::string KeyFamily(const std::string& key) {
  const std::string body = key.substr(0, key.find('@'));
  std::string out;
  size_t i = 0;
  while (i < body.size()) {
    const bool field_start = i > 0 && (body[i - 1] == ':' || body[i - 1] == ',');
    if (field_start && (body[i] == 'o' || body[i] == 'c' || body[i] == 'm') && i + 1 < body.size() &&
        std::isdigit(static_cast<unsigned char>(body[i + 1]))) {
      out += body[i];
      out += '*';
      ++i;
      while (i < body.size() && std::isdigit(static_cast<unsigned char>(body[i]))) ++i;
      continue;
    }
    out += body[i++];
  }
  return out;
}

double LatencyPredictor::CostModel::Eval(const Cost& c) const {
  return ms_per_mmac * c.macs / 1e6 + ms_per_mib * c.mac_bytes / 1048576.0 + ms_fixed;
}

absl::StatusOr<std::shared_ptr<const LatencyPredictor>> LatencyPredictor::Create(
    const v1::Hardware& hw, const v1::LatencyTable* table) {
  std::shared_ptr<LatencyPredictor> p(new LatencyPredictor());
  p->hw_ = hw;
  p->bpe_ = BytesPerElement(table ? table->info().precision() : hw.precision());
  if (!table) {
    if (hw.peak_gops() <= 0 || hw.bandwidth_gbs() <= 0)
      return absl::FailedPreconditionError(
          absl::StrCat("hardware '", hw.name(),
                       "' has no latency table and no published peak_gops/bandwidth_gbs "
                       "to estimate from"));
    p->spec_only_ = true;
    p->efficiency_ = EfficiencyOf(hw, &p->spec_efficiency_);
    // Roofline prior at a 50% attainable fraction of the published peaks.
    p->model_.ms_per_mmac = 2e6 / (hw.peak_gops() * 1e9 * 0.5) * 1e3;
    p->model_.ms_per_mib = 1048576.0 / (hw.bandwidth_gbs() * 1e9 * 0.5) * 1e3;
    p->model_.ms_fixed = 0.0;
    return std::shared_ptr<const LatencyPredictor>(std::move(p));
  }
  p->version_ = table->info().version() > 0 ? table->info().version() : 1;
  p->correction_ = table->info().correction();
  // Least squares ms ~ a*MMAC + b*MiB + c over measured keys (3x3 normal eqs).
  double A[3][3] = {}, y[3] = {};
  int n = 0;
  std::vector<OpFeatures> feats;
  std::vector<double> times, spreads;
  const double penalty = hw.cpu_fallback_penalty() > 0 ? hw.cpu_fallback_penalty() : 4.0;
  for (const auto& e : table->entries()) {
    const bool timed_fallback = e.status() == v1::ENTRY_CPU_FALLBACK && e.median_ms() > 0;
    if (e.status() == v1::ENTRY_FAILED || (e.status() == v1::ENTRY_CPU_FALLBACK && !timed_fallback)) {
      // The device cannot run a failed key: a network holding one is
      // infeasible there (+inf, so every budget rejects it). An untimed
      // cpu_fallback key is estimated and penalised (docs/hardware.md).
      auto ks = space::ParseKey(e.key());
      if (!ks.ok()) continue;
      const uint64_t nk = ks->is_head ? NumericHeadKey(ks->head, ks->in) : NumericKey(ks->block, ks->in);
      if (e.status() == v1::ENTRY_FAILED)
        p->measured_[nk] = HUGE_VAL;
      else
        p->fallback_penalty_[nk] = penalty;
      continue;
    }
    if (e.status() != v1::ENTRY_MEASURED && !timed_fallback) continue;
    auto ks = space::ParseKey(e.key());
    if (!ks.ok()) continue;
    const uint64_t nk = ks->is_head ? NumericHeadKey(ks->head, ks->in) : NumericKey(ks->block, ks->in);
    const Graph g = LowerKey(*ks);
    const Cost c = GraphCost(g, p->bpe_);
    // The correction's per-key terms are part of every key's latency on the
    // hot path (SumLatency, KeyLatency); Measured::ms stays the plain entry.
    p->measured_[nk] = e.median_ms() * p->FactorOfType(KeyType(e.key())) + p->KeyTermMs(c.params);
    const Measured m{e.median_ms(), c, e.key(), GraphFeatures(g, p->bpe_)};
    p->families_[KeyFamily(e.key())].push_back(m);
    p->types_[e.key().substr(0, e.key().find(':'))].push_back(m);
    feats.push_back(m.feats);
    times.push_back(e.median_ms());
    spreads.push_back(e.iqr_ms() > 0 ? e.iqr_ms() / e.median_ms() : 0);
    const double x[3] = {c.macs / 1e6, c.mac_bytes / 1048576.0, 1.0};
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 3; ++j) A[i][j] += x[i] * x[j];
      y[i] += x[i] * e.median_ms();
    }
    ++n;
  }
  if (n == 0) {
    // Only failed / cpu_fallback keys (a converter's report, no timings):
    // everything else is still estimated from the spec.
    if (p->measured_.empty() && p->fallback_penalty_.empty())
      return absl::InvalidArgumentError("table: no measured entries");
    if (hw.peak_gops() <= 0 || hw.bandwidth_gbs() <= 0)
      return absl::FailedPreconditionError(
          absl::StrCat("hardware '", hw.name(), "': table version ", p->version_,
                       " has no measured entries and the hardware no published peak_gops/bandwidth_gbs"));
    p->spec_only_ = true;
    p->efficiency_ = EfficiencyOf(hw, &p->spec_efficiency_);
    if (table->info().precision().empty()) p->bpe_ = BytesPerElement(hw.precision());
    p->model_.ms_per_mmac = 2e6 / (hw.peak_gops() * 1e9 * 0.5) * 1e3;
    p->model_.ms_per_mib = 1048576.0 / (hw.bandwidth_gbs() * 1e9 * 0.5) * 1e3;
    return std::shared_ptr<const LatencyPredictor>(std::move(p));
  }
  // Solve with Cramer's rule; fall back to a pure per-MAC rate.
  auto det3 = [](double m[3][3]) {
    return m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
           m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
           m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
  };
  const double d = det3(A);
  double sol[3] = {0, 0, 0};
  bool ok = std::fabs(d) > 1e-12;
  if (ok) {
    for (int k = 0; k < 3; ++k) {
      double M[3][3];
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) M[i][j] = j == k ? y[i] : A[i][j];
      sol[k] = det3(M) / d;
    }
    ok = sol[0] >= 0 && sol[1] >= 0 && sol[2] >= 0;
  }
  if (!ok) {
    double total_ms = 0, total_mmac = 0;
    for (const auto& [f, v] : p->families_)
      for (const auto& m : v) {
        total_ms += m.ms;
        total_mmac += m.cost.macs / 1e6 + m.cost.mac_bytes / 1048576.0;
      }
    sol[0] = sol[1] = total_mmac > 0 ? total_ms / total_mmac : 0.01;
    sol[2] = 0;
  }
  p->model_ = CostModel{sol[0], sol[1], sol[2]};
  p->op_model_ = OpClassModel::Fit(feats, times, spreads);
  return std::shared_ptr<const LatencyPredictor>(std::move(p));
}

LatencyPredictor::Estimated LatencyPredictor::Estimate(const space::KeySpec& key) const {
  if (!fallback_penalty_.empty()) {
    const uint64_t nk = key.is_head ? NumericHeadKey(key.head, key.in) : NumericKey(key.block, key.in);
    auto it = fallback_penalty_.find(nk);
    if (it != fallback_penalty_.end()) {
      Estimated e = EstimateKey(key);
      e.ms *= it->second;
      e.method = absl::StrFormat("%s; x %.3g: stored as cpu_fallback (the device runs it on its CPU)",
                                 e.method, it->second);
      return e;
    }
  }
  return EstimateKey(key);
}

LatencyPredictor::Estimated LatencyPredictor::EstimateKey(const space::KeySpec& key) const {
  Estimated e;
  if (spec_only_ && spec_efficiency_) {
    e.source = v1::SOURCE_ROOFLINE;
    e.ms = SpecPriorKeyMs(key, hw_, efficiency_, bpe_);
    e.method =
        "spec prior: published peaks x efficiencies fitted to published end-to-end figures "
        "(lutnas hardware check-priors)";
    return e;
  }
  const Graph g = LowerKey(key);
  const Cost c = GraphCost(g, bpe_);
  if (spec_only_) {
    // Roofline: time is bound by the slower of compute and memory.
    e.source = v1::SOURCE_ROOFLINE;
    e.ms = std::max(model_.ms_per_mmac * c.macs / 1e6, model_.ms_per_mib * c.mac_bytes / 1048576.0) + 0.002;
    e.method = "roofline of the device's published peak compute and bandwidth (no table)";
    return e;
  }
  // The per-op-class model; where it has nothing to say (a table too small
  // to fit any rate) the plain MACs/bytes fit stands in.
  auto model_of = [&](const OpFeatures& f, const Cost& cost) {
    const double m = op_model_.Eval(f);
    return m > 0 ? m : std::max(1e-6, model_.Eval(cost));
  };
  const double model = model_of(GraphFeatures(g, bpe_), c);
  // The measured/model ratio of the k closest relatives (by MACs and bytes),
  // their median: the model gives the shape of the scaling, the relatives
  // its level on this device for this kind of block.
  auto ratio = [&](const std::vector<Measured>& rel, size_t k, std::string* basis) {
    std::vector<std::pair<double, const Measured*>> d;
    d.reserve(rel.size());
    for (const auto& m : rel)
      d.push_back({std::fabs(std::log((m.cost.macs + 1.0) / (c.macs + 1.0))) +
                       std::fabs(std::log((m.cost.mac_bytes + 1.0) / (c.mac_bytes + 1.0))),
                   &m});
    k = std::min(k, d.size());
    std::partial_sort(d.begin(), d.begin() + k, d.end(),
                      [](const auto& x, const auto& y) { return x.first < y.first; });
    std::vector<double> r;
    for (size_t i = 0; i < k; ++i)
      r.push_back(d[i].second->ms / model_of(d[i].second->feats, d[i].second->cost));
    std::sort(r.begin(), r.end());
    *basis = d[0].second->family;
    return k % 2 ? r[k / 2] : std::sqrt(r[k / 2 - 1] * r[k / 2]);
  };
  auto fam = families_.find(KeyFamily(key.key));
  if (fam != families_.end() && !fam->second.empty()) {
    const double r = ratio(fam->second, 5, &e.basis_key);
    e.source = v1::SOURCE_INTERPOLATED;
    e.ms = model * r;
    e.method = absl::StrFormat(
        "same family: fitted cost model x %.2f (measured/model of the closest %d of %d measured "
        "keys of this family)",
        r, static_cast<int>(std::min<size_t>(5, fam->second.size())), static_cast<int>(fam->second.size()));
    return e;
  }
  const std::string type = key.key.substr(0, key.key.find(':'));
  auto ty = types_.find(type);
  if (ty != types_.end() && !ty->second.empty()) {
    const double r = ratio(ty->second, 9, &e.basis_key);
    e.source = v1::SOURCE_INTERPOLATED;
    e.ms = model * r;
    e.method = absl::StrFormat(
        "same block type '%s': fitted cost model x %.2f (measured/model of the closest %d of %d "
        "measured '%s' keys)",
        type, r, static_cast<int>(std::min<size_t>(9, ty->second.size())),
        static_cast<int>(ty->second.size()), type);
    return e;
  }
  e.source = v1::SOURCE_COST_MODEL;
  e.ms = model;
  e.method =
      absl::StrFormat("no measured '%s' key: per-op-class cost model fitted to the table's %d measured keys",
                      type, static_cast<int>(measured_.size()));
  return e;
}

LatencyPredictor::Estimated LatencyPredictor::Explain(const space::KeySpec& key) const {
  const uint64_t nk = key.is_head ? NumericHeadKey(key.head, key.in) : NumericKey(key.block, key.in);
  auto it = measured_.find(nk);
  if (it != measured_.end()) {
    Estimated e;
    e.ms = it->second;
    e.source = v1::SOURCE_MEASURED;
    e.method = "measured";
    e.basis_key = key.key;
    return e;
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    auto e = estimates_.find(nk);
    if (e != estimates_.end()) return e->second;
  }
  Estimated e = Estimate(key);
  if (HasTypeFactors() && std::isfinite(e.ms)) e.ms *= FactorOf(key);
  if (HasKeyTerms() && std::isfinite(e.ms)) e.ms += KeyTermMs(GraphCost(LowerKey(key), bpe_).params);
  std::lock_guard<std::mutex> l(mu_);
  estimates_[nk] = e;
  return e;
}

double LatencyPredictor::KeyLatency(const space::KeySpec& key, v1::LatencySource* src) const {
  const uint64_t nk = key.is_head ? NumericHeadKey(key.head, key.in) : NumericKey(key.block, key.in);
  auto it = measured_.find(nk);
  if (it != measured_.end()) {
    *src = v1::SOURCE_MEASURED;
    return it->second;
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    auto e = estimates_.find(nk);
    if (e != estimates_.end()) {
      *src = e->second.source;
      return e->second.ms;
    }
  }
  const Estimated e = Explain(key);
  *src = e.source;
  return e.ms;
}

double LatencyPredictor::SumLatency(const v1::Architecture& arch, double* measured_ms) const {
  // Hot path: numeric keys and one hash lookup per block; a miss (estimate)
  // builds the key text once and is memoised by KeyLatency.
  double sum = 0, meas = 0;
  space::Shape s = space::InputShape(arch);
  auto block = [&](const v1::Block& b) {
    auto it = measured_.find(NumericKey(b, s));
    if (it != measured_.end()) {
      sum += it->second;
      meas += it->second;
    } else {
      space::KeySpec k;
      k.block = b;
      k.in = s;
      k.key = space::BlockKey(b, s);
      v1::LatencySource src;
      sum += KeyLatency(k, &src);
    }
    s = FastOut(b, s);
  };
  for (const auto& b : arch.stem()) block(b);
  for (const auto& st : arch.stages())
    for (const auto& b : st.blocks()) block(b);
  auto it = measured_.find(NumericHeadKey(arch.head(), s));
  if (it != measured_.end()) {
    sum += it->second;
    meas += it->second;
  } else {
    space::KeySpec k;
    k.is_head = true;
    k.head = arch.head();
    k.in = s;
    k.key = space::HeadKey(arch.head(), s);
    v1::LatencySource src;
    sum += KeyLatency(k, &src);
  }
  if (measured_ms) *measured_ms = meas;
  return sum;
}

v1::Prediction LatencyPredictor::Predict(const v1::Architecture& arch, bool breakdown) const {
  v1::Prediction p;
  p.set_hardware(hw_.name());
  p.set_table_version(version_);
  // sum: the table's entries alone (sum_ms); with_terms: every key's latency
  // with the correction's per-key terms and type factors folded in.
  double sum = 0, meas = 0, with_terms = 0;
  if (breakdown) {
    std::vector<std::string> where;
    for (const auto& k : NetworkKeys(arch, &where)) {
      v1::LatencySource src;
      const double full = KeyLatency(k, &src);
      const double ms = EntryOf(k, full);
      with_terms += full;
      auto* bl = p.add_blocks();
      bl->set_where(where[p.blocks_size() - 1]);
      bl->set_key(k.key);
      bl->set_latency_ms(ms);
      bl->set_source(src);
      sum += ms;
      if (src == v1::SOURCE_MEASURED) meas += ms;
    }
  } else {
    with_terms = sum = SumLatency(arch, &meas);
    if (HasKeyTerms() || HasTypeFactors()) sum = EntrySum(arch);
  }
  p.set_sum_ms(sum);
  // A failed key (+inf) is a stored fact: the network cannot run there.
  p.set_measured_fraction(!std::isfinite(sum) ? 1.0
                          : sum > 0           ? std::min(1.0, meas / (breakdown ? sum : with_terms))
                                              : 0);
  p.set_estimated_from_spec(spec_only_);
  p.set_latency_ms(Corrected(with_terms));
  // What the table's correction means for this answer (words: core/predict.cc).
  p.set_correction_out_of_range(CorrectionOutOfRange(correction_, with_terms));
  p.set_table_validation_failed(correction_.scale() > 0 &&
                                (correction_.validation_flags_size() > 0 || correction_.accepted_noisy()));
  p.set_low_confidence(p.measured_fraction() < kLowConfidenceMeasuredFraction);
  if (breakdown && meas < sum) AddEstimates(arch, &p);
  return p;
}

void LatencyPredictor::AddEstimates(const std::vector<space::KeySpec>& keys, v1::Prediction* p) const {
  AddEstimatesOf(keys, nullptr, p);
}

void LatencyPredictor::AddEstimates(const v1::Architecture& arch, v1::Prediction* p, bool places) const {
  std::vector<std::string> where;
  const std::vector<space::KeySpec> keys = places ? NetworkKeys(arch, &where) : NetworkKeys(arch);
  AddEstimatesOf(keys, places ? &where : nullptr, p);
}

void LatencyPredictor::AddEstimatesOf(const std::vector<space::KeySpec>& keys,
                                      const std::vector<std::string>* where, v1::Prediction* p) const {
  p->clear_estimated_keys();
  p->clear_missing_keys();
  const bool places = where != nullptr;
  // Each distinct key is explained once (a network repeats its blocks).
  struct Seen {
    double ms;
    int index;  // in estimated_keys; -1: measured
  };
  std::unordered_map<std::string, Seen> seen;
  double sum = 0, meas = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    auto it = seen.find(keys[i].key);
    if (it == seen.end()) {
      const Estimated e = Explain(keys[i]);
      Seen k{e.ms, -1};
      if (e.source != v1::SOURCE_MEASURED) {
        k.index = p->estimated_keys_size();
        v1::EstimatedKey* ek = p->add_estimated_keys();
        ek->set_key(keys[i].key);
        ek->set_latency_ms(e.ms);
        ek->set_source(e.source);
        ek->set_method(e.method);
        ek->set_basis_key(e.basis_key);
        p->add_missing_keys(keys[i].key);
      }
      it = seen.emplace(keys[i].key, k).first;
    }
    sum += it->second.ms;
    if (it->second.index < 0) {
      meas += it->second.ms;
      continue;
    }
    v1::EstimatedKey* ek = p->mutable_estimated_keys(it->second.index);
    if (places) ek->add_where((*where)[i]);
    ek->set_occurrences(ek->occurrences() + 1);
  }
  for (auto& ek : *p->mutable_estimated_keys())
    ek.set_share(sum > 0 ? ek.latency_ms() * ek.occurrences() / sum : 0);
  p->set_low_confidence((sum > 0 ? meas / sum : 0) < kLowConfidenceMeasuredFraction);
}

bool LatencyPredictor::HasTypeFactors() const {
  return correction_.scale() > 0 && correction_.type_factors_size() > 0;
}

double LatencyPredictor::FactorOfType(const std::string& type) const {
  return HasTypeFactors() ? TypeFactor(correction_, type) : 1.0;
}

double LatencyPredictor::FactorOf(const space::KeySpec& key) const {
  if (!HasTypeFactors()) return 1.0;
  if (key.is_head) return FactorOfType("head");
  return FactorOfType(KeyType(key.key.empty() ? space::BlockKey(key.block, key.in) : key.key));
}

double LatencyPredictor::EntryOf(const space::KeySpec& key, double latency_ms) const {
  if (!std::isfinite(latency_ms)) return latency_ms;
  return (latency_ms - KeyTermOf(key)) / FactorOf(key);
}

double LatencyPredictor::EntrySum(const v1::Architecture& arch) const {
  double sum = 0;
  v1::LatencySource src;
  for (const auto& k : NetworkKeys(arch)) sum += EntryOf(k, KeyLatency(k, &src));
  return sum;
}

bool LatencyPredictor::HasKeyTerms() const {
  return correction_.scale() > 0 &&
         (correction_.key_ms_per_mparam() > 0 || correction_.key_overhead_ms() != 0);
}

double LatencyPredictor::KeyTermMs(int64_t params) const {
  if (!HasKeyTerms()) return 0;
  return correction_.key_overhead_ms() + correction_.key_ms_per_mparam() * params / 1e6;
}

double LatencyPredictor::KeyTermOf(const space::KeySpec& key) const {
  if (!HasKeyTerms()) return 0;
  return KeyTermMs(GraphCost(LowerKey(key), bpe_).params);
}

double LatencyPredictor::Corrected(double sum) const {
  double lat = sum;
  // Set (fitted or by hand): e2e = scale * sum + offset; beyond 2x the
  // largest sum it was fitted on, the rest of the sum at face value
  // (ApplyCorrection, latency_models/correction.h).
  if (correction_.scale() > 0) lat = ApplyCorrection(correction_, sum);
  return std::max(lat, 1e-6);
}

double LatencyPredictor::PredictMs(const v1::Architecture& arch) const {
  return Corrected(SumLatency(arch, nullptr));
}

v1::Correction FitCorrection(const std::vector<double>& sums, const std::vector<double>& measured) {
  // The one fit lives in correction.cc (robust, safe over the range).
  if (std::min(sums.size(), measured.size()) < 3) return v1::Correction();
  return RobustFit(sums, measured, SumRange{});
}

}  // namespace lutnas::latency
