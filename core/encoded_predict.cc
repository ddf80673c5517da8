#include "core/encoded_predict.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

#include "latency_models/cost.h"
#include "latency_models/graph.h"
#include "space/arch_util.h"

namespace lutnas::core {

using absl::StrCat;

namespace {

template <typename T>
int IndexOf(const std::vector<T>& v, const T& x) {
  auto it = std::find(v.begin(), v.end(), x);
  return it == v.end() ? -1 : static_cast<int>(it - v.begin());
}

int AtLeastOne(size_t n) { return n == 0 ? 1 : static_cast<int>(n); }

}  // namespace

SpaceEncoding::SpaceEncoding(std::shared_ptr<const space::Space> space) : space_(std::move(space)) {
  const space::Space& s = *space_;
  Slot res{"resolution", {}};
  for (int r : s.resolutions()) res.values.push_back(StrCat(r));
  slots_.push_back(res);
  for (int i = 0; i < s.num_stages(); ++i) {
    const auto& c = s.stage(i);
    stage_offset_.push_back(static_cast<int>(slots_.size()));
    const std::string st = StrCat("stages[", i, "]");
    Slot w{st + ".width", {}}, d{st + ".depth", {}};
    for (int v : c.widths) w.values.push_back(StrCat(v));
    for (int v : c.depths) d.values.push_back(StrCat(v));
    slots_.push_back(w);
    slots_.push_back(d);
    const int maxd = c.depths.empty() ? 0 : *std::max_element(c.depths.begin(), c.depths.end());
    max_depth_.push_back(maxd);
    for (int j = 0; j < maxd; ++j) {
      const std::string b = StrCat(st, ".blocks[", j, "]");
      Slot t{b + ".type", {}}, k{b + ".kernel", {}}, e{b + ".expansion", {}};
      for (auto v : c.types) t.values.push_back(v1::BlockType_Name(v));
      for (int v : c.kernels) k.values.push_back(StrCat(v));
      for (int v : c.expansions) e.values.push_back(StrCat(v));
      if (k.values.empty()) k.values.push_back("0");
      if (e.values.empty()) e.values.push_back("0");
      slots_.push_back(t);
      slots_.push_back(k);
      slots_.push_back(e);
    }
  }
}

v1::EncodingResponse SpaceEncoding::Describe() const {
  v1::EncodingResponse r;
  r.set_space(space_->name());
  r.set_width(width());
  for (const auto& s : slots_) {
    auto* o = r.add_slots();
    o->set_name(s.name);
    o->set_choices(static_cast<int>(s.values.size()));
    for (const auto& v : s.values) o->add_values(v);
  }
  return r;
}

absl::Status SpaceEncoding::Decode(const uint8_t* row, space::Genotype* g) const {
  const space::Space& s = *space_;
  for (int i = 0; i < width(); ++i)
    if (row[i] >= slots_[i].values.size())
      return absl::InvalidArgumentError(StrCat(slots_[i].name, ": index ", int(row[i]), " out of range (",
                                               slots_[i].values.size(), " choices)"));
  g->resolution = s.resolutions()[row[0]];
  g->stages.resize(s.num_stages());
  int in_c = s.stem_out_channels();
  for (int i = 0; i < s.num_stages(); ++i) {
    const auto& c = s.stage(i);
    const uint8_t* p = row + stage_offset_[i];
    space::StageGene& sg = g->stages[i];
    sg.width = c.widths[p[0]];
    const int depth = c.depths[p[1]];
    sg.blocks.resize(depth);
    for (int j = 0; j < depth; ++j) {
      const uint8_t* b = p + 2 + 3 * j;
      space::BlockGene gene;
      gene.type = c.types[b[0]];
      gene.kernel = c.kernels.empty() ? 0 : c.kernels[b[1]];
      gene.expansion = c.expansions.empty() ? 0 : c.expansions[b[2]];
      gene = s.NormalizeGene(gene);
      const int bin = j == 0 ? in_c : sg.width, stride = j == 0 ? c.stride : 1;
      if (!s.Fits(i, gene, bin, sg.width, stride))
        return absl::InvalidArgumentError(StrCat("stages[", i, "].blocks[", j,
                                                 "]: ", v1::BlockType_Name(gene.type), " cannot go from ",
                                                 bin, " to ", sg.width, " channels at stride ", stride));
      sg.blocks[j] = gene;
    }
    in_c = sg.width;
  }
  return absl::OkStatus();
}

absl::Status SpaceEncoding::Encode(const space::Genotype& g, std::vector<uint8_t>* row) const {
  const space::Space& s = *space_;
  row->assign(width(), 0);
  const int r = IndexOf(s.resolutions(), g.resolution);
  if (r < 0) return absl::InvalidArgumentError(StrCat("resolution: ", g.resolution, " is not in the space"));
  (*row)[0] = static_cast<uint8_t>(r);
  if (static_cast<int>(g.stages.size()) != s.num_stages())
    return absl::InvalidArgumentError(
        StrCat("stages: ", g.stages.size(), " stages, the space has ", s.num_stages()));
  for (int i = 0; i < s.num_stages(); ++i) {
    const auto& c = s.stage(i);
    uint8_t* p = row->data() + stage_offset_[i];
    const int w = IndexOf(c.widths, g.stages[i].width);
    const int d = IndexOf(c.depths, static_cast<int>(g.stages[i].blocks.size()));
    if (w < 0)
      return absl::InvalidArgumentError(
          StrCat("stages[", i, "].width: ", g.stages[i].width, " is not a choice"));
    if (d < 0)
      return absl::InvalidArgumentError(
          StrCat("stages[", i, "].depth: ", g.stages[i].blocks.size(), " is not a choice"));
    p[0] = static_cast<uint8_t>(w);
    p[1] = static_cast<uint8_t>(d);
    for (size_t j = 0; j < g.stages[i].blocks.size(); ++j) {
      const space::BlockGene& b = g.stages[i].blocks[j];
      const int t = IndexOf(c.types, b.type);
      const int k = b.kernel == 0 ? 0 : IndexOf(c.kernels, b.kernel);
      const int e = b.expansion == 0 ? 0 : IndexOf(c.expansions, b.expansion);
      if (t < 0 || k < 0 || e < 0)
        return absl::InvalidArgumentError(
            StrCat("stages[", i, "].blocks[", j, "]: not a choice of the space"));
      p[2 + 3 * j] = static_cast<uint8_t>(t);
      p[3 + 3 * j] = static_cast<uint8_t>(k);
      p[4 + 3 * j] = static_cast<uint8_t>(e);
    }
  }
  return absl::OkStatus();
}

EncodedPredictor::EncodedPredictor(std::shared_ptr<const SpaceEncoding> enc,
                                   std::vector<std::shared_ptr<const latency::LatencyPredictor>> hardware,
                                   bool cost)
    : enc_(std::move(enc)), hw_(std::move(hardware)), cost_(cost), nh_(static_cast<int>(hw_.size())) {
  const space::Space& s = enc_->space();
  const int nr = static_cast<int>(s.resolutions().size());
  stage_in_.resize(nr);
  stem_.resize(nr);
  stem_cost_.resize(nr);
  // Stem and stage input shapes per resolution, from a canonical network of the space.
  base::Rng rng(1);
  space::Genotype g = s.Sample(rng);
  for (int r = 0; r < nr; ++r) {
    g.resolution = s.resolutions()[r];
    const v1::Architecture a = s.ToArchitecture(g, false);
    space::Shape sh = space::InputShape(a);
    stem_[r].assign(nh_, 0.0);
    for (const auto& b : a.stem()) {
      space::KeySpec k;
      k.block = b;
      k.in = sh;
      k.key = space::BlockKey(b, sh);
      for (int h = 0; h < nh_; ++h) {
        v1::LatencySource src;
        stem_[r][h] += hw_[h]->KeyLatency(k, &src);  // the same order of additions as SumLatency
      }
      if (cost_) stem_cost_[r] += latency::GraphCost(latency::LowerKey(k));
      sh = latency::FastOutShape(b, sh);
    }
    for (int i = 0; i < s.num_stages(); ++i) {
      stage_in_[r].push_back(sh);
      const int st = s.stage(i).stride;
      sh = space::Shape{sh.c, (sh.h - 1) / st + 1, (sh.w - 1) / st + 1};
    }
    stage_in_[r].push_back(sh);  // the head's input (spatial)
  }
  blocks_.resize(s.num_stages());
  for (int i = 0; i < s.num_stages(); ++i) {
    const auto& c = s.stage(i);
    const size_t win = i == 0 ? 1 : s.stage(i - 1).widths.size();
    blocks_[i].resize(nr * 2 * AtLeastOne(c.types.size()) * AtLeastOne(c.kernels.size()) *
                      AtLeastOne(c.expansions.size()) * win * c.widths.size());
  }
  heads_.resize(nr * (s.num_stages() ? s.stage(s.num_stages() - 1).widths.size() : 1));
  sums_.resize(nh_);
}

EncodedPredictor::Entry& EncodedPredictor::Fill(const space::KeySpec& key, Entry& en) {
  en.lat = static_cast<int>(lat_.size());
  for (int h = 0; h < nh_; ++h) {
    v1::LatencySource src;
    lat_.push_back(hw_[h]->KeyLatency(key, &src));
  }
  if (cost_) en.cost = latency::GraphCost(latency::LowerKey(key));
  en.state = 1;
  return en;
}

EncodedPredictor::Entry& EncodedPredictor::BlockEntry(int r, int i, bool first, int t, int k, int e, int in_w,
                                                      int out_w) {
  const space::Space& s = enc_->space();
  const auto& c = s.stage(i);
  const int T = AtLeastOne(c.types.size()), K = AtLeastOne(c.kernels.size()),
            E = AtLeastOne(c.expansions.size());
  const int W = static_cast<int>(c.widths.size());
  const int Win = i == 0 ? 1 : static_cast<int>(s.stage(i - 1).widths.size());
  if (!first) in_w = 0;
  const size_t idx =
      (((((static_cast<size_t>(r) * 2 + first) * T + t) * K + k) * E + e) * Win + in_w) * W + out_w;
  Entry& en = blocks_[i][idx];
  if (en.state != 0) return en;
  space::BlockGene gene;
  gene.type = c.types[t];
  gene.kernel = c.kernels.empty() ? 0 : c.kernels[k];
  gene.expansion = c.expansions.empty() ? 0 : c.expansions[e];
  gene = s.NormalizeGene(gene);
  const int out_c = c.widths[out_w];
  const int in_c = !first ? out_c : i == 0 ? s.stem_out_channels() : s.stage(i - 1).widths[in_w];
  const int stride = first ? c.stride : 1;
  auto b = s.MakeBlock(i, gene, in_c, out_c, stride);
  if (!b.ok()) {
    en.state = 2;
    return en;
  }
  space::KeySpec key;
  key.block = *b;
  const space::Shape& sp = stage_in_[r][i];
  key.in = first ? space::Shape{in_c, sp.h, sp.w}
                 : space::Shape{in_c, (sp.h - 1) / c.stride + 1, (sp.w - 1) / c.stride + 1};
  key.key = space::BlockKey(key.block, key.in);
  return Fill(key, en);
}

EncodedPredictor::Entry& EncodedPredictor::HeadEntry(int r, int last_w) {
  const space::Space& s = enc_->space();
  const auto& last = s.stage(s.num_stages() - 1);
  Entry& en = heads_[static_cast<size_t>(r) * last.widths.size() + last_w];
  if (en.state != 0) return en;
  space::KeySpec key;
  key.is_head = true;
  key.head = s.proto().head();
  if (key.head.act() == v1::ACTIVATION_UNSPECIFIED) key.head.set_act(v1::RELU);  // as ToArchitecture
  const space::Shape& sp = stage_in_[r].back();
  key.in = space::Shape{last.widths[last_w], sp.h, sp.w};
  key.key = space::HeadKey(key.head, key.in);
  return Fill(key, en);
}

absl::Status EncodedPredictor::RowError(int64_t row, const uint8_t* p) const {
  space::Genotype g;
  absl::Status st = enc_->Decode(p, &g);
  if (st.ok()) st = absl::InvalidArgumentError("not a point of the space");
  return absl::InvalidArgumentError(StrCat("choices: row ", row, ": ", st.message()));
}

absl::Status EncodedPredictor::Predict(const uint8_t* rows, size_t n, int64_t first_row, bool skip_invalid,
                                       double* lat, int64_t* params, int64_t* macs, int64_t* mac_bytes,
                                       int* invalid) {
  const space::Space& s = enc_->space();
  const int width = enc_->width();
  const int ns = s.num_stages();
  const int nr = static_cast<int>(s.resolutions().size());
  *invalid = 0;
  for (size_t row = 0; row < n; ++row) {
    const uint8_t* p = rows + row * width;
    bool ok = p[0] < nr;
    latency::Cost total;
    if (ok) {
      const int r = p[0];
      for (int h = 0; h < nh_; ++h) sums_[h] = stem_[r][h];
      if (cost_) total = stem_cost_[r];
      int prev_w = 0;
      for (int i = 0; i < ns && ok; ++i) {
        const auto& c = s.stage(i);
        const uint8_t* q = p + enc_->stage_offset_[i];
        const int w = q[0], d = q[1];
        if (w >= static_cast<int>(c.widths.size()) || d >= static_cast<int>(c.depths.size())) {
          ok = false;
          break;
        }
        const int depth = c.depths[d];
        const int T = AtLeastOne(c.types.size()), K = AtLeastOne(c.kernels.size()),
                  E = AtLeastOne(c.expansions.size());
        // Ignored positions must still hold in-range indices.
        for (int j = 0; j < enc_->max_depth_[i] && ok; ++j) {
          const uint8_t* b = q + 2 + 3 * j;
          if (b[0] >= T || b[1] >= K || b[2] >= E) ok = false;
        }
        for (int j = 0; j < depth && ok; ++j) {
          const uint8_t* b = q + 2 + 3 * j;
          const Entry& en = BlockEntry(r, i, j == 0, b[0], b[1], b[2], prev_w, w);
          if (en.state != 1) {
            ok = false;
            break;
          }
          const double* l = &lat_[en.lat];
          for (int h = 0; h < nh_; ++h) sums_[h] += l[h];
          if (cost_) total += en.cost;
        }
        prev_w = w;
      }
      if (ok) {
        const Entry& en = HeadEntry(r, prev_w);
        const double* l = &lat_[en.lat];
        for (int h = 0; h < nh_; ++h) lat[row * nh_ + h] = hw_[h]->CorrectedMs(sums_[h] + l[h]);
        if (cost_) {
          total += en.cost;
          params[row] = total.params;
          macs[row] = total.macs;
          mac_bytes[row] = total.mac_bytes;
        }
      }
    }
    if (!ok) {
      if (!skip_invalid) return RowError(first_row + static_cast<int64_t>(row), p);
      ++*invalid;
      for (int h = 0; h < nh_; ++h) lat[row * nh_ + h] = std::numeric_limits<double>::quiet_NaN();
      if (cost_) params[row] = macs[row] = mac_bytes[row] = -1;
    }
  }
  return absl::OkStatus();
}

}  // namespace lutnas::core
