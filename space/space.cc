#include "space/space.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"

#include "base/file.h"
#include "base/status_macros.h"
#include "space/arch_ext.h"
#include "space/block_traits.h"

namespace lutnas::space {
namespace {

using absl::StrAppend;
using absl::StrCat;

absl::Status Bad(const std::string& field, const std::string& problem) {
  return absl::InvalidArgumentError(StrCat(field, ": ", problem));
}

bool HasKernel(v1::BlockType t) {
  const BlockTraits* r = TraitsOf(t);
  return r && r->gene_kernel;
}
bool HasExpansion(v1::BlockType t) {
  const BlockTraits* r = TraitsOf(t);
  return r && r->gene_expansion;
}
bool KnownType(int t) {
  return v1::BlockType_IsValid(t) && TraitsOf(static_cast<v1::BlockType>(t)) != nullptr;
}
// OFA's hidden width: in * expansion rounded to a multiple of 8.
int HiddenWidth(int in_c, int tenths) {
  const double v = in_c * tenths / 10.0;
  int n = std::max(8, static_cast<int>(v + 4) / 8 * 8);
  if (n < 0.9 * v) n += 8;
  return n;
}

// Values of an IntChoice; `align` snaps each to a multiple of itself.
absl::StatusOr<std::vector<int>> Expand(const v1::IntChoice& c, const std::string& field, int align, int lo,
                                        int hi) {
  std::vector<int> v;
  if (c.values_size() > 0) {
    if (c.values_size() > 256) return Bad(field + ".values", "more than 256 values");
    for (int x : c.values()) v.push_back(x);
  } else {
    if (c.min() <= 0 && c.max() <= 0) return Bad(field, "set values or min/max");
    if (c.max() < c.min()) return Bad(field, StrCat("max ", c.max(), " < min ", c.min()));
    const int step = c.step() > 0 ? c.step() : (align > 1 ? align : 1);
    if ((static_cast<int64_t>(c.max()) - c.min()) / step > 256) return Bad(field, "more than 256 choices");
    for (int64_t x = c.min(); x <= c.max(); x += step) v.push_back(static_cast<int>(x));
  }
  std::set<int> out;
  for (int x : v) {
    if (x < lo || x > hi) return Bad(field, StrCat("value ", x, " out of range ", lo, "..", hi));
    if (align > 1) x = std::max(align, (x + align / 2) / align * align);
    out.insert(x);
  }
  return std::vector<int>(out.begin(), out.end());
}

}  // namespace

std::string Genotype::Encode() const {
  std::string s = StrCat("r", resolution);
  for (const auto& st : stages) {
    StrAppend(&s, "|", st.width, ":");
    for (size_t i = 0; i < st.blocks.size(); ++i) {
      const auto& b = st.blocks[i];
      StrAppend(&s, i ? "," : "", BlockTypeName(b.type), ".", b.kernel, ".", b.expansion);
    }
  }
  return s;
}

absl::StatusOr<Genotype> Genotype::Decode(const std::string& s) {
  Genotype g;
  std::vector<std::string> parts = absl::StrSplit(s, '|');
  if (parts.empty() || parts[0].size() < 2 || parts[0][0] != 'r' ||
      !absl::SimpleAtoi(parts[0].substr(1), &g.resolution))
    return absl::InvalidArgumentError(StrCat("genotype: bad resolution in '", s, "'"));
  for (size_t i = 1; i < parts.size(); ++i) {
    std::vector<std::string> wb = absl::StrSplit(parts[i], ':');
    StageGene st;
    if (wb.size() != 2 || !absl::SimpleAtoi(wb[0], &st.width))
      return absl::InvalidArgumentError(StrCat("genotype: bad stage '", parts[i], "'"));
    for (const auto& bs : absl::StrSplit(wb[1], ',')) {
      std::vector<std::string> f = absl::StrSplit(bs, '.');
      BlockGene bg;
      if (f.size() != 3 || !absl::SimpleAtoi(f[1], &bg.kernel) || !absl::SimpleAtoi(f[2], &bg.expansion))
        return absl::InvalidArgumentError(StrCat("genotype: bad block '", bs, "'"));
      if (const BlockTraits* t = TraitsByName(f[0])) bg.type = t->type;
      if (bg.type == v1::BLOCK_TYPE_UNSPECIFIED)
        return absl::InvalidArgumentError(StrCat("genotype: unknown block type '", f[0], "'"));
      st.blocks.push_back(bg);
    }
    g.stages.push_back(std::move(st));
  }
  return g;
}

absl::StatusOr<v1::SearchSpace> ParseSpaceJson(const std::string& json) {
  if (json.size() > kMaxJsonBytes) return absl::InvalidArgumentError("space: JSON too large");
  v1::SearchSpace sp;
  google::protobuf::util::JsonParseOptions opts;
  auto st = google::protobuf::util::JsonStringToMessage(json, &sp, opts);
  if (!st.ok()) return absl::InvalidArgumentError(StrCat("space: invalid JSON: ", st.message().as_string()));
  return sp;
}

absl::StatusOr<std::shared_ptr<const Space>> Space::Load(const std::string& path) {
  ASSIGN_OR_RETURN(std::string data, base::ReadFileToString(path));
  auto sp = ParseSpaceJson(data);
  if (!sp.ok()) return absl::Status(sp.status().code(), StrCat(path, ": ", sp.status().message()));
  auto space = Create(*sp);
  if (!space.ok()) return absl::Status(space.status().code(), StrCat(path, ": ", space.status().message()));
  return space;
}

absl::StatusOr<std::shared_ptr<const Space>> Space::Create(const v1::SearchSpace& proto) {
  std::shared_ptr<Space> s(new Space());
  s->proto_ = proto;
  const int align = proto.channel_alignment();
  if (align < 0 || align > 256) return Bad("channel_alignment", StrCat("must be in 0..256, got ", align));
  s->alignment_ = std::max(1, align);
  if (proto.resolutions_size() == 0) return Bad("resolutions", "at least one resolution is needed");
  for (int i = 0; i < proto.resolutions_size(); ++i) {
    const int r = proto.resolutions(i);
    if (r < 16 || r > kMaxResolution)
      return Bad(StrCat("resolutions[", i, "]"), StrCat("must be in 16..", kMaxResolution, ", got ", r));
  }
  s->resolutions_.assign(proto.resolutions().begin(), proto.resolutions().end());
  std::sort(s->resolutions_.begin(), s->resolutions_.end());
  s->resolutions_.erase(std::unique(s->resolutions_.begin(), s->resolutions_.end()), s->resolutions_.end());
  if (proto.stages_size() == 0) return Bad("stages", "at least one stage is needed");
  if (proto.stages_size() > 16) return Bad("stages", "more than 16 stages");

  // Stem and head must be valid on the smallest resolution.
  v1::Architecture probe;
  probe.set_resolution(s->resolutions_.front());
  if (proto.has_in_channels()) probe.set_in_channels(proto.in_channels());
  *probe.mutable_stem() = proto.stem();
  *probe.mutable_head() = proto.head();
  Shape sh = InputShape(probe);
  if (proto.has_in_channels() && (proto.in_channels() < 1 || proto.in_channels() > 64))
    return Bad("in_channels", StrCat("must be in 1..64, got ", proto.in_channels()));
  for (int i = 0; i < proto.stem_size(); ++i) {
    Shape next;
    RETURN_IF_ERROR(ValidateBlock(proto.stem(i), sh, StrCat("stem[", i, "]"), &next));
    sh = next;
  }
  s->stem_out_ = sh;
  RETURN_IF_ERROR(ValidateHead(proto.head(), "head"));
  if (proto.has_height() && (proto.height() < 16 || proto.height() > kMaxResolution))
    return Bad("height", StrCat("must be in 16..", kMaxResolution, ", got ", proto.height()));

  for (int i = 0; i < proto.stages_size(); ++i) {
    const auto& st = proto.stages(i);
    const std::string p = StrCat("stages[", i, "]");
    StageChoices c;
    if (st.block_types_size() == 0) return Bad(p + ".block_types", "at least one block type is needed");
    for (int t : st.block_types()) {
      if (!KnownType(t)) return Bad(p + ".block_types", StrCat("unknown block type ", t));
      c.types.push_back(static_cast<v1::BlockType>(t));
    }
    std::sort(c.types.begin(), c.types.end());
    c.types.erase(std::unique(c.types.begin(), c.types.end()), c.types.end());
    ASSIGN_OR_RETURN(c.widths, Expand(st.width(), p + ".width", s->alignment_, 1, kMaxChannels));
    ASSIGN_OR_RETURN(c.depths, Expand(st.depth(), p + ".depth", 1, 1, 16));
    if (st.stride() != 0 && st.stride() != 1 && st.stride() != 2)
      return Bad(p + ".stride", StrCat("must be 1 or 2, got ", st.stride()));
    c.stride = st.stride() == 0 ? 1 : st.stride();
    for (int k : st.kernels()) {
      if (k != 1 && k != 3 && k != 5 && k != 7)
        return Bad(p + ".kernels", StrCat("must be 1, 3, 5 or 7, got ", k));
      c.kernels.push_back(k);
    }
    if (c.kernels.empty()) c.kernels.push_back(3);
    bool yolo = false;
    for (auto t : c.types) yolo = yolo || t == v1::C3 || t == v1::C2F;
    c.hidden_widths = st.hidden_widths();
    const int elo = c.hidden_widths ? 10 : 1, ehi = c.hidden_widths ? 80 : (yolo ? 16 : 8);
    for (int e : st.expansions()) {
      if (e < elo || e > ehi)
        return Bad(p + ".expansions",
                   StrCat("must be in ", elo, "..", ehi,
                          c.hidden_widths ? " (tenths, with hidden_widths)" : "", ", got ", e));
      c.expansions.push_back(e);
    }
    if (st.has_se_options()) {
      RETURN_IF_ERROR(ValidateSe(st.se_options(), p + ".se_options"));
      c.se_options = CanonicalSe(st.se_options());
      c.has_se_options = true;
    }
    if (c.expansions.empty()) c.expansions.push_back(c.hidden_widths ? 40 : yolo ? 1 : 4);
    c.se = st.se();
    if (!v1::Activation_IsValid(st.act())) return Bad(p + ".act", StrCat("unknown activation ", st.act()));
    c.act = st.act();
    s->stages_.push_back(std::move(c));
  }
  if (IsFeatureHead(proto.head())) {
    std::vector<int> strides;
    for (const auto& b : proto.stem())
      strides.push_back((strides.empty() ? 1 : strides.back()) * BlockStride(CanonicalBlock(b)));
    for (const auto& c : s->stages_) strides.push_back((strides.empty() ? 1 : strides.back()) * c.stride);
    RETURN_IF_ERROR(CheckFeatureStrides(proto.head(), strides, "head"));
  }
  // Every position must admit at least one block type for every width pair,
  // or sampling could not terminate: a contradictory space is an error.
  std::vector<int> in_widths = {s->stem_out_.c};
  for (int i = 0; i < s->num_stages(); ++i) {
    const auto& c = s->stages_[i];
    for (int in_c : in_widths)
      for (int w : c.widths) {
        bool first_ok = false, rest_ok = false;
        for (auto t : c.types) {
          BlockGene g{t, c.kernels[0], c.expansions[0]};
          for (int k : c.kernels) {
            g.kernel = k;
            first_ok = first_ok || s->Fits(i, g, in_c, w, c.stride);
            rest_ok = rest_ok || s->Fits(i, g, w, w, 1);
          }
        }
        if (!first_ok || !rest_ok)
          return Bad(StrCat("stages[", i, "]"),
                     StrCat("no allowed block type can go from ", in_c, " to ", w, " channels (",
                            !first_ok ? "first" : "later", " block)"));
      }
    in_widths = c.widths;
  }
  return std::shared_ptr<const Space>(std::move(s));
}

BlockGene Space::NormalizeGene(const BlockGene& g) const {
  BlockGene n = g;
  if (!HasKernel(g.type)) n.kernel = 0;
  if (!HasExpansion(g.type)) n.expansion = 0;
  return n;
}

namespace {

v1::Activation DefaultAct(v1::BlockType t) {
  const BlockTraits* r = TraitsOf(t);
  return r ? r->default_act : v1::RELU;
}

bool KernelOk(int k, bool allow_one) { return (allow_one && k == 1) || k == 3 || k == 5 || k == 7; }

}  // namespace

bool Space::Fits(int stage, const BlockGene& g, int in_c, int out_c, int stride) const {
  if (in_c < 1 || out_c < 1 || out_c > kMaxChannels || (stride != 1 && stride != 2)) return false;
  switch (g.type) {
    case v1::CONV:
      return KernelOk(g.kernel, true);
    case v1::MBCONV:
    case v1::FUSED_MBCONV:
      return KernelOk(g.kernel, false) &&
             (stages_[stage].hidden_widths ? g.expansion >= 10 && g.expansion <= 80
                                           : g.expansion >= 1 && g.expansion <= 8);
    case v1::C3:
    case v1::C2F:
      return g.expansion >= 1 && g.expansion <= 16;
    case v1::SPPF:
      return stride == 1 && in_c >= 2;
    case v1::SHUFFLE:
      return KernelOk(g.kernel, false) && out_c % 2 == 0 && (stride == 2 || in_c == out_c);
    case v1::REPVGG:
    case v1::CSP:
    case v1::OSA:
    case v1::BASIC:
    case v1::BOTTLENECK:
      return true;
    default:
      return false;
  }
}

absl::StatusOr<v1::Block> Space::MakeBlock(int stage, const BlockGene& g, int in_c, int out_c,
                                           int stride) const {
  v1::Block b = BuildBlock(stage, g, in_c, out_c, stride);
  if (!Fits(stage, g, in_c, out_c, stride)) {
    Shape out;
    RETURN_IF_ERROR(ValidateBlock(b, Shape{in_c, 64, 64}, StrCat("stages[", stage, "]"), &out));
    return absl::InvalidArgumentError(StrCat("stages[", stage, "]: ", BlockTypeName(g.type),
                                             " cannot go from ", in_c, " to ", out_c, " channels"));
  }
  return b;
}

v1::Block Space::BuildBlock(int stage, const BlockGene& g, int in_c, int out_c, int stride) const {
  const auto& c = stages_[stage];
  v1::Block b;
  const v1::Activation act = c.act == v1::ACTIVATION_UNSPECIFIED ? DefaultAct(g.type) : c.act;
  // MBConv and FusedMBConv share every field a gene sets.
  auto FillInvertedResidual = [&](auto* m) {
    m->set_out_channels(out_c);
    if (c.hidden_widths)
      m->set_hidden_channels(HiddenWidth(in_c, g.expansion));
    else
      m->set_expansion(g.expansion);
    m->set_kernel(g.kernel);
    m->set_stride(stride);
    m->set_se(c.se);
    if (c.se && c.has_se_options) *m->mutable_se_options() = c.se_options;
    m->set_act(act);
  };
  switch (g.type) {
    case v1::CONV: {
      auto* m = b.mutable_conv();
      m->set_out_channels(out_c);
      m->set_kernel(g.kernel);
      m->set_stride(stride);
      m->set_groups(1);
      m->set_act(act);
      break;
    }
    case v1::REPVGG: {
      auto* m = b.mutable_repvgg();
      m->set_out_channels(out_c);
      m->set_stride(stride);
      m->set_groups(1);
      m->set_deploy(true);  // tables measure what runs on the device
      m->set_act(act);
      break;
    }
    case v1::MBCONV:
      FillInvertedResidual(b.mutable_mbconv());
      b = CanonicalBlock(b);
      break;
    case v1::FUSED_MBCONV:
      FillInvertedResidual(b.mutable_fused_mbconv());
      b = CanonicalBlock(b);
      break;
    case v1::SHUFFLE: {
      auto* m = b.mutable_shuffle();
      m->set_out_channels(out_c);
      m->set_kernel(g.kernel);
      m->set_stride(stride);
      m->set_act(act);
      break;
    }
    case v1::CSP: {
      auto* m = b.mutable_csp();
      m->set_out_channels(out_c);
      m->set_stride(stride);
      m->set_split_ratio(0.5);
      m->set_num_blocks(1);
      m->set_inner(v1::CSP_BASIC);
      m->set_act(act);
      break;
    }
    case v1::OSA: {
      auto* m = b.mutable_osa();
      m->set_out_channels(out_c);
      m->set_stage_channels(std::max(alignment_, out_c / 2 / alignment_ * alignment_));
      m->set_layers(3);
      m->set_stride(stride);
      m->set_residual(in_c == out_c && stride == 1);
      m->set_act(act);
      break;
    }
    case v1::BASIC: {
      auto* m = b.mutable_basic();
      m->set_out_channels(out_c);
      m->set_stride(stride);
      m->set_act(act);
      break;
    }
    case v1::BOTTLENECK: {
      auto* m = b.mutable_bottleneck();
      m->set_out_channels(out_c);
      m->set_mid_channels(std::max(1, out_c / 4));
      m->set_stride(stride);
      m->set_groups(1);
      m->set_act(act);
      break;
    }
    case v1::C3:
    case v1::C2F: {
      auto set = [&](auto* m) {
        m->set_out_channels(out_c);
        m->set_num_blocks(g.expansion);
        m->set_shortcut(true);
        m->set_expansion(0.5);
        m->set_stride(stride);
        m->set_act(act);
      };
      if (g.type == v1::C3)
        set(b.mutable_c3());
      else
        set(b.mutable_c2f());
      break;
    }
    case v1::SPPF: {
      auto* m = b.mutable_sppf();
      m->set_out_channels(out_c);
      m->set_kernel(5);
      m->set_act(act);
      break;
    }
    default:
      break;
  }
  return b;
}

BlockGene Space::SampleGene(int stage, int in_c, int out_c, int stride, base::Rng& rng) const {
  const auto& c = stages_[stage];
  // Bounded: try random picks, then fall back to a scan (validated to exist).
  for (int tries = 0; tries < 16; ++tries) {
    BlockGene g{c.types[rng.Uniform(c.types.size())], c.kernels[rng.Uniform(c.kernels.size())],
                c.expansions[rng.Uniform(c.expansions.size())]};
    g = NormalizeGene(g);
    if (Fits(stage, g, in_c, out_c, stride)) return g;
  }
  for (auto t : c.types)
    for (int k : c.kernels) {
      BlockGene g = NormalizeGene({t, k, c.expansions[0]});
      if (Fits(stage, g, in_c, out_c, stride)) return g;
    }
  return NormalizeGene({c.types[0], c.kernels[0], c.expansions[0]});
}

Genotype Space::Sample(base::Rng& rng) const {
  Genotype g;
  g.resolution = resolutions_[rng.Uniform(resolutions_.size())];
  int in_c = stem_out_.c;
  for (int i = 0; i < num_stages(); ++i) {
    const auto& c = stages_[i];
    StageGene st;
    st.width = c.widths[rng.Uniform(c.widths.size())];
    const int depth = c.depths[rng.Uniform(c.depths.size())];
    for (int j = 0; j < depth; ++j)
      st.blocks.push_back(SampleGene(i, j == 0 ? in_c : st.width, st.width, j == 0 ? c.stride : 1, rng));
    in_c = st.width;
    g.stages.push_back(std::move(st));
  }
  return g;
}

void Space::Repair(Genotype* g, base::Rng& rng) const {
  auto nearest = [](const std::vector<int>& v, int x) {
    int best = v[0];
    for (int y : v)
      if (std::abs(y - x) < std::abs(best - x)) best = y;
    return best;
  };
  g->resolution = nearest(resolutions_, g->resolution);
  g->stages.resize(num_stages());
  int in_c = stem_out_.c;
  for (int i = 0; i < num_stages(); ++i) {
    const auto& c = stages_[i];
    auto& st = g->stages[i];
    st.width = nearest(c.widths, st.width);
    const int depth = nearest(c.depths, std::max<int>(1, st.blocks.size()));
    while (static_cast<int>(st.blocks.size()) < depth)
      st.blocks.push_back(st.blocks.empty() ? BlockGene{} : st.blocks.back());
    st.blocks.resize(depth);
    for (int j = 0; j < depth; ++j) {
      const int bin = j == 0 ? in_c : st.width;
      const int stride = j == 0 ? c.stride : 1;
      BlockGene& b = st.blocks[j];
      b = NormalizeGene(b);
      const bool allowed = std::find(c.types.begin(), c.types.end(), b.type) != c.types.end() &&
                           (!HasKernel(b.type) ||
                            std::find(c.kernels.begin(), c.kernels.end(), b.kernel) != c.kernels.end()) &&
                           (!HasExpansion(b.type) || std::find(c.expansions.begin(), c.expansions.end(),
                                                               b.expansion) != c.expansions.end());
      if (!allowed || !Fits(i, b, bin, st.width, stride)) b = SampleGene(i, bin, st.width, stride, rng);
    }
    in_c = st.width;
  }
}

absl::Status Space::CheckGenotype(const Genotype& g) const {
  if (std::find(resolutions_.begin(), resolutions_.end(), g.resolution) == resolutions_.end())
    return Bad("genotype.resolution", StrCat(g.resolution, " is not in the space"));
  if (static_cast<int>(g.stages.size()) != num_stages())
    return Bad("genotype.stages", StrCat("has ", g.stages.size(), " stages, space has ", num_stages()));
  Genotype copy = g;
  base::Rng rng(0);
  Repair(&copy, rng);
  if (!(copy == g)) return Bad("genotype", "not a point of the space");
  return absl::OkStatus();
}

v1::Architecture Space::ToArchitecture(const Genotype& g, bool with_name) const {
  v1::Architecture a;
  if (with_name) a.set_name(StrCat(proto_.name(), ":", g.Encode()));
  a.set_resolution(g.resolution);
  if (proto_.has_height() && proto_.height() != g.resolution) a.set_height(proto_.height());
  a.set_in_channels(proto_.has_in_channels() ? proto_.in_channels() : 3);
  for (const auto& b : proto_.stem()) *a.add_stem() = CanonicalBlock(b);
  int in_c = stem_out_.c;
  for (int i = 0; i < static_cast<int>(g.stages.size()); ++i) {
    auto* st = a.add_stages();
    const auto& sg = g.stages[i];
    for (size_t j = 0; j < sg.blocks.size(); ++j) {
      const int bin = j == 0 ? in_c : sg.width, stride = j == 0 ? stages_[i].stride : 1;
      if (Fits(i, sg.blocks[j], bin, sg.width, stride))
        *st->add_blocks() = BuildBlock(i, sg.blocks[j], bin, sg.width, stride);
    }
    in_c = sg.width;
  }
  *a.mutable_head() = proto_.head();
  a.mutable_head()->set_act(a.head().act() == v1::ACTIVATION_UNSPECIFIED ? v1::RELU : a.head().act());
  return a;
}

std::vector<KeySpec> Space::EnumerateKeys() const {
  std::map<std::string, KeySpec> keys;
  auto add_block = [&](const v1::Block& b, const Shape& in) {
    std::string k = BlockKey(b, in);
    if (keys.count(k)) return;
    KeySpec ks;
    ks.key = k;
    ks.block = b;
    ks.in = in;
    keys.emplace(std::move(k), std::move(ks));
  };
  auto down = [](int x, int s) { return (x - 1) / s + 1; };
  for (int r : resolutions_) {
    Shape sh{proto_.has_in_channels() ? proto_.in_channels() : 3, proto_.has_height() ? proto_.height() : r,
             r};
    for (const auto& b : proto_.stem()) {
      v1::Block cb = CanonicalBlock(b);
      add_block(cb, sh);
      sh = OutShape(cb, sh);
    }
    std::vector<int> in_widths = {sh.c};
    int spatial = sh.h, spatial_w = sh.w;
    for (int i = 0; i < num_stages(); ++i) {
      const auto& c = stages_[i];
      const int out_sp = down(spatial, c.stride), out_w = down(spatial_w, c.stride);
      for (int w : c.widths) {
        for (auto t : c.types)
          for (int k : (HasKernel(t) ? c.kernels : std::vector<int>{0}))
            for (int e : (HasExpansion(t) ? c.expansions : std::vector<int>{0})) {
              BlockGene g{t, k, e};
              for (int in_c : in_widths) {
                auto b = MakeBlock(i, g, in_c, w, c.stride);
                if (b.ok()) add_block(*b, Shape{in_c, spatial, spatial_w});
              }
              if (*std::max_element(c.depths.begin(), c.depths.end()) > 1) {
                auto b = MakeBlock(i, g, w, w, 1);
                if (b.ok()) add_block(*b, Shape{w, out_sp, out_w});
              }
            }
      }
      in_widths = c.widths;
      spatial = out_sp;
      spatial_w = out_w;
    }
    v1::Head head = proto_.head();
    if (head.act() == v1::ACTIVATION_UNSPECIFIED) head.set_act(v1::RELU);
    for (int in_c : in_widths) {
      KeySpec ks;
      ks.in = Shape{in_c, spatial, spatial_w};
      ks.key = HeadKey(head, ks.in);
      ks.is_head = true;
      ks.head = head;
      keys.emplace(ks.key, ks);
    }
  }
  std::vector<KeySpec> out;
  out.reserve(keys.size());
  for (auto& [k, v] : keys) out.push_back(std::move(v));
  return out;
}

}  // namespace lutnas::space
