#include "base/file.h"
#include "space/arch_util.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/util/json_util.h"
#include "space/arch_ext.h"
#include "base/status_macros.h"

namespace lutnas::space {
namespace {

using absl::StrCat;
using absl::StrAppend;
using v1::Activation;

absl::Status Bad(const std::string& path, const std::string& field,
                 const std::string& problem) {
  return absl::InvalidArgumentError(
      StrCat(path.empty() ? "" : StrCat(path, "."), field, ": ", problem));
}


absl::Status CheckAct(Activation a, const std::string& path) {
  if (a < 0 || a > v1::IDENTITY || !v1::Activation_IsValid(a))
    return Bad(path, "act", StrCat("unknown activation ", static_cast<int>(a)));
  return absl::OkStatus();
}

absl::Status CheckChannels(int64_t v, const std::string& path,
                           const char* field) {
  if (v <= 0) return Bad(path, field, StrCat("must be > 0, got ", v));
  if (v > kMaxChannels)
    return Bad(path, field, StrCat("must be <= ", kMaxChannels, ", got ", v));
  return absl::OkStatus();
}

absl::Status CheckStride(bool has, int v, const std::string& path) {
  if (has && v != 1 && v != 2)
    return Bad(path, "stride", StrCat("must be 1 or 2, got ", v));
  return absl::OkStatus();
}

absl::Status CheckKernel(bool has, int v, const std::string& path,
                         bool allow_one) {
  if (!has) return absl::OkStatus();
  if ((allow_one && v == 1) || v == 3 || v == 5 || v == 7)
    return absl::OkStatus();
  return Bad(path, "kernel",
             StrCat("must be ", allow_one ? "1, " : "", "3, 5 or 7, got ", v));
}

absl::Status CheckGroups(bool has, int g, int cin, int cout,
                         const std::string& path) {
  if (!has) return absl::OkStatus();
  if (g <= 0) return Bad(path, "groups", StrCat("must be > 0, got ", g));
  if (cin % g != 0 || cout % g != 0)
    return Bad(path, "groups",
               StrCat(g, " does not divide in_channels ", cin,
                      " and out_channels ", cout));
  return absl::OkStatus();
}

absl::Status CheckExpansion(bool has, int e, const std::string& path) {
  if (has && (e < 1 || e > 8))
    return Bad(path, "expansion", StrCat("must be in 1..8, got ", e));
  return absl::OkStatus();
}

int Down(int x, int s) { return (x - 1) / s + 1; }

template <typename T>
int StrideOf(const T& m) {
  return m.has_stride() ? m.stride() : 1;
}

Activation Act(Activation a, Activation dflt) {
  return a == v1::ACTIVATION_UNSPECIFIED ? dflt : a;
}

}  // namespace

const char* ActName(Activation a) {
  switch (a) {
    case v1::RELU: return "relu";
    case v1::RELU6: return "relu6";
    case v1::HSWISH: return "hswish";
    case v1::SILU: return "silu";
    case v1::IDENTITY: return "id";
    default: return "?";
  }
}

std::string Shape::ToString() const { return StrCat(c, "x", h, "x", w); }

absl::StatusOr<Architecture> ParseArchitectureJson(const std::string& json) {
  if (json.size() > kMaxJsonBytes)
    return absl::InvalidArgumentError(
        StrCat("architecture: JSON larger than ", kMaxJsonBytes, " bytes"));
  Architecture arch;
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false;
  auto st = google::protobuf::util::JsonStringToMessage(json, &arch, opts);
  if (!st.ok())
    return absl::InvalidArgumentError(
        StrCat("architecture: invalid JSON: ", st.message().as_string()));
  return arch;
}

absl::StatusOr<Architecture> LoadArchitectureFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string data, base::ReadFileToString(path));
  auto arch = ParseArchitectureJson(data);
  if (!arch.ok())
    return absl::Status(arch.status().code(),
                        StrCat(path, ": ", arch.status().message()));
  return arch;
}

std::string ArchitectureToJson(const Architecture& arch) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(arch, &out, opts);
  return out;
}

v1::BlockType TypeOf(const Block& b) {
  switch (b.kind_case()) {
    case Block::kConv: return v1::CONV;
    case Block::kRepvgg: return v1::REPVGG;
    case Block::kMbconv: return v1::MBCONV;
    case Block::kFusedMbconv: return v1::FUSED_MBCONV;
    case Block::kShuffle: return v1::SHUFFLE;
    case Block::kCsp: return v1::CSP;
    case Block::kOsa: return v1::OSA;
    case Block::kBasic: return v1::BASIC;
    case Block::kBottleneck: return v1::BOTTLENECK;
    case Block::kC3: return v1::C3;
    case Block::kC2F: return v1::C2F;
    case Block::kSppf: return v1::SPPF;
    default: return v1::BLOCK_TYPE_UNSPECIFIED;
  }
}

const char* BlockTypeName(v1::BlockType t) {
  switch (t) {
    case v1::CONV: return "conv";
    case v1::REPVGG: return "repvgg";
    case v1::MBCONV: return "mbconv";
    case v1::FUSED_MBCONV: return "fused_mbconv";
    case v1::SHUFFLE: return "shuffle";
    case v1::CSP: return "csp";
    case v1::OSA: return "osa";
    case v1::BASIC: return "basic";
    case v1::BOTTLENECK: return "bottleneck";
    case v1::C3: return "c3";
    case v1::C2F: return "c2f";
    case v1::SPPF: return "sppf";
    default: return "unknown";
  }
}

absl::Status ValidateBlock(const Block& b, const Shape& in,
                           const std::string& path, Shape* out) {
  const int cin = in.c;
  int cout = 0, stride = 1;
  switch (b.kind_case()) {
    case Block::kConv: {
      const auto& m = b.conv();
      const std::string p = StrCat(path, ".conv");
      RETURN_IF_ERROR(CheckChannels(m.out_channels(), p, "out_channels"));
      RETURN_IF_ERROR(CheckKernel(m.has_kernel(), m.kernel(), p, true));
      RETURN_IF_ERROR(CheckStride(m.has_stride(), m.stride(), p));
      RETURN_IF_ERROR(CheckGroups(m.has_groups(), m.groups(), cin,
                                  m.out_channels(), p));
      RETURN_IF_ERROR(CheckAct(m.act(), p));
      cout = m.out_channels();
      stride = StrideOf(m);
      break;
    }
    case Block::kRepvgg: {
      const auto& m = b.repvgg();
      const std::string p = StrCat(path, ".repvgg");
      RETURN_IF_ERROR(CheckChannels(m.out_channels(), p, "out_channels"));
      RETURN_IF_ERROR(CheckStride(m.has_stride(), m.stride(), p));
      RETURN_IF_ERROR(CheckGroups(m.has_groups(), m.groups(), cin,
                                  m.out_channels(), p));
      RETURN_IF_ERROR(CheckAct(m.act(), p));
      cout = m.out_channels();
      stride = StrideOf(m);
      break;
    }
    case Block::kMbconv: {
      const auto& m = b.mbconv();
      const std::string p = StrCat(path, ".mbconv");
      RETURN_IF_ERROR(CheckChannels(m.out_channels(), p, "out_channels"));
      RETURN_IF_ERROR(CheckExpansion(m.has_expansion(), m.expansion(), p));
      RETURN_IF_ERROR(ValidateBlockExtensions(b, cin, p));
      RETURN_IF_ERROR(CheckKernel(m.has_kernel(), m.kernel(), p, false));
      RETURN_IF_ERROR(CheckStride(m.has_stride(), m.stride(), p));
      RETURN_IF_ERROR(CheckAct(m.act(), p));
      cout = m.out_channels();
      stride = StrideOf(m);
      break;
    }
    case Block::kFusedMbconv: {
      const auto& m = b.fused_mbconv();
      const std::string p = StrCat(path, ".fused_mbconv");
      RETURN_IF_ERROR(CheckChannels(m.out_channels(), p, "out_channels"));
      RETURN_IF_ERROR(CheckExpansion(m.has_expansion(), m.expansion(), p));
      RETURN_IF_ERROR(ValidateBlockExtensions(b, cin, p));
      RETURN_IF_ERROR(CheckKernel(m.has_kernel(), m.kernel(), p, false));
      RETURN_IF_ERROR(CheckStride(m.has_stride(), m.stride(), p));
      RETURN_IF_ERROR(CheckAct(m.act(), p));
      cout = m.out_channels();
      stride = StrideOf(m);
      break;
    }
    case Block::kShuffle: {
      const auto& m = b.shuffle();
      const std::string p = StrCat(path, ".shuffle");
      RETURN_IF_ERROR(CheckChannels(m.out_channels(), p, "out_channels"));
      RETURN_IF_ERROR(CheckStride(m.has_stride(), m.stride(), p));
      RETURN_IF_ERROR(CheckKernel(m.has_kernel(), m.kernel(), p, false));
      RETURN_IF_ERROR(CheckAct(m.act(), p));
      cout = m.out_channels();
      stride = StrideOf(m);
      if (cout % 2 != 0)
        return Bad(p, "out_channels",
                   StrCat("channel split needs an even width, got ", cout));
      if (stride == 1 && cin != cout)
        return Bad(p, "out_channels",
                   StrCat("stride-1 unit needs out_channels == in_channels ",
                          cin, ", got ", cout));
      break;
    }
    case Block::kCsp: {
      const auto& m = b.csp();
      const std::string p = StrCat(path, ".csp");
      RETURN_IF_ERROR(CheckChannels(m.out_channels(), p, "out_channels"));
      RETURN_IF_ERROR(CheckStride(m.has_stride(), m.stride(), p));
      if (m.has_split_ratio() &&
          !(m.split_ratio() > 0.0 && m.split_ratio() <= 1.0))
        return Bad(p, "split_ratio",
                   StrCat("must be in (0, 1], got ", m.split_ratio()));
      if (m.has_num_blocks() && (m.num_blocks() < 1 || m.num_blocks() > 16))
        return Bad(p, "num_blocks",
                   StrCat("must be in 1..16, got ", m.num_blocks()));
      if (!v1::CSPInner_IsValid(m.inner()))
        return Bad(p, "inner", StrCat("unknown value ", m.inner()));
      RETURN_IF_ERROR(CheckAct(m.act(), p));
      cout = m.out_channels();
      stride = StrideOf(m);
      const double ratio = m.has_split_ratio() ? m.split_ratio() : 0.5;
      if (std::lround(cout * ratio) < 1)
        return Bad(p, "split_ratio",
                   StrCat("leaves no channels in a part of ", cout));
      break;
    }
    case Block::kOsa: {
      const auto& m = b.osa();
      const std::string p = StrCat(path, ".osa");
      RETURN_IF_ERROR(CheckChannels(m.out_channels(), p, "out_channels"));
      RETURN_IF_ERROR(CheckChannels(m.stage_channels(), p, "stage_channels"));
      if (m.has_layers() && (m.layers() < 1 || m.layers() > 10))
        return Bad(p, "layers", StrCat("must be in 1..10, got ", m.layers()));
      RETURN_IF_ERROR(CheckStride(m.has_stride(), m.stride(), p));
      RETURN_IF_ERROR(CheckAct(m.act(), p));
      cout = m.out_channels();
      stride = StrideOf(m);
      if (m.residual() && (cin != cout || stride != 1))
        return Bad(p, "residual",
                   StrCat("needs in_channels == out_channels and stride 1 "
                          "(in ",
                          cin, ", out ", cout, ", stride ", stride, ")"));
      break;
    }
    case Block::kBasic: {
      const auto& m = b.basic();
      const std::string p = StrCat(path, ".basic");
      RETURN_IF_ERROR(CheckChannels(m.out_channels(), p, "out_channels"));
      RETURN_IF_ERROR(CheckStride(m.has_stride(), m.stride(), p));
      RETURN_IF_ERROR(CheckAct(m.act(), p));
      cout = m.out_channels();
      stride = StrideOf(m);
      break;
    }
    case Block::kBottleneck: {
      const auto& m = b.bottleneck();
      const std::string p = StrCat(path, ".bottleneck");
      RETURN_IF_ERROR(CheckChannels(m.out_channels(), p, "out_channels"));
      const int mid = m.has_mid_channels() ? m.mid_channels()
                                           : m.out_channels() / 4;
      RETURN_IF_ERROR(CheckChannels(mid, p, "mid_channels"));
      RETURN_IF_ERROR(CheckStride(m.has_stride(), m.stride(), p));
      RETURN_IF_ERROR(CheckGroups(m.has_groups(), m.groups(), mid, mid, p));
      RETURN_IF_ERROR(CheckAct(m.act(), p));
      RETURN_IF_ERROR(ValidateBlockExtensions(b, cin, p));
      cout = m.out_channels();
      stride = StrideOf(m);
      break;
    }
    case Block::kPool: {
      const auto& m = b.pool();
      const std::string p = StrCat(path, ".pool");
      if (!v1::PoolKind_IsValid(m.kind()))
        return Bad(p, "kind", StrCat("unknown value ", m.kind()));
      RETURN_IF_ERROR(CheckKernel(m.has_kernel(), m.kernel(), p, false));
      RETURN_IF_ERROR(CheckStride(m.has_stride(), m.stride(), p));
      cout = cin;
      stride = m.has_stride() ? m.stride() : 2;
      break;
    }
    case Block::kC3:
    case Block::kC2F:
    case Block::kSppf:
      RETURN_IF_ERROR(ValidateYoloBlock(b, in, path, &cout, &stride));
      break;
    default:
      return absl::InvalidArgumentError(
          StrCat(path, ": block has no type (set one of conv, repvgg, "
                       "mbconv, fused_mbconv, shuffle, csp, osa, basic, "
                       "bottleneck, pool, c3, c2f, sppf)"));
  }
  *out = Shape{cout, Down(in.h, stride), Down(in.w, stride)};
  return absl::OkStatus();
}

Shape InputShape(const Architecture& arch) {
  const int r = arch.resolution();
  return Shape{arch.has_in_channels() ? arch.in_channels() : 3, InputHeight(arch), r};
}

absl::Status ValidateArchitecture(const Architecture& arch) {
  if (arch.resolution() < 8 || arch.resolution() > kMaxResolution)
    return absl::InvalidArgumentError(
        StrCat("resolution: must be in 8..", kMaxResolution, ", got ",
               arch.resolution()));
  if (arch.has_height() && (arch.height() < 8 || arch.height() > kMaxResolution))
    return absl::InvalidArgumentError(StrCat(
        "height: must be in 8..", kMaxResolution, ", got ", arch.height()));
  if (arch.has_in_channels() &&
      (arch.in_channels() < 1 || arch.in_channels() > 64))
    return absl::InvalidArgumentError(
        StrCat("in_channels: must be in 1..64, got ", arch.in_channels()));
  size_t total = arch.stem_size();
  for (int i = 0; i < arch.stages_size(); ++i) {
    if (arch.stages(i).blocks_size() == 0)
      return absl::InvalidArgumentError(
          StrCat("stages[", i, "].blocks: a stage needs at least one block"));
    total += arch.stages(i).blocks_size();
  }
  if (total == 0)
    return absl::InvalidArgumentError("stages: the network has no blocks");
  if (total > kMaxBlocks)
    return absl::InvalidArgumentError(StrCat(
        "stages: ", total, " blocks is more than the limit of ", kMaxBlocks));
  Shape s = InputShape(arch);
  std::vector<int> strides;  // cumulative stride after each block
  for (int i = 0; i < arch.stem_size(); ++i) {
    Shape next;
    RETURN_IF_ERROR(ValidateBlock(arch.stem(i), s, StrCat("stem[", i, "]"),
                                  &next));
    s = next;
    strides.push_back((strides.empty() ? 1 : strides.back()) *
                      BlockStride(CanonicalBlock(arch.stem(i))));
  }
  for (int i = 0; i < arch.stages_size(); ++i) {
    for (int j = 0; j < arch.stages(i).blocks_size(); ++j) {
      Shape next;
      RETURN_IF_ERROR(ValidateBlock(arch.stages(i).blocks(j), s,
                                    StrCat("stages[", i, "].blocks[", j, "]"),
                                    &next));
      s = next;
      strides.push_back((strides.empty() ? 1 : strides.back()) *
                        BlockStride(CanonicalBlock(arch.stages(i).blocks(j))));
    }
  }
  RETURN_IF_ERROR(ValidateHead(arch.head(), "head"));
  return CheckFeatureStrides(arch.head(), strides, "head");
}

absl::Status ValidateHead(const v1::Head& h, const std::string& path) {
  if (IsFeatureHead(h)) return ValidateFeatureHead(h, path);
  if (h.conv_channels() < 0 || h.conv_channels() > kMaxChannels)
    return absl::InvalidArgumentError(StrCat(
        path, ".conv_channels: must be in 0..", kMaxChannels, ", got ", h.conv_channels()));
  if (h.fc_hidden() < 0 || h.fc_hidden() > kMaxChannels)
    return absl::InvalidArgumentError(StrCat(
        path, ".fc_hidden: must be in 0..", kMaxChannels, ", got ", h.fc_hidden()));
  if (h.num_classes() < 1 || h.num_classes() > 100000)
    return absl::InvalidArgumentError(StrCat(
        path, ".num_classes: must be in 1..100000, got ", h.num_classes()));
  return CheckAct(h.act(), path);
}

Block CanonicalBlock(const Block& b) {
  Block c = b;
  switch (c.kind_case()) {
    case Block::kConv: {
      auto* m = c.mutable_conv();
      if (!m->has_kernel()) m->set_kernel(3);
      if (!m->has_stride()) m->set_stride(1);
      if (!m->has_groups()) m->set_groups(1);
      m->set_act(Act(m->act(), v1::RELU));
      break;
    }
    case Block::kRepvgg: {
      auto* m = c.mutable_repvgg();
      if (!m->has_stride()) m->set_stride(1);
      if (!m->has_groups()) m->set_groups(1);
      m->set_act(Act(m->act(), v1::RELU));
      break;
    }
    case Block::kMbconv: {
      auto* m = c.mutable_mbconv();
      if (!m->has_expansion() && !m->has_hidden_channels()) m->set_expansion(6);
      if (!m->has_kernel()) m->set_kernel(3);
      if (!m->has_stride()) m->set_stride(1);
      m->set_act(Act(m->act(), v1::RELU6));
      break;
    }
    case Block::kFusedMbconv: {
      auto* m = c.mutable_fused_mbconv();
      if (!m->has_expansion() && !m->has_hidden_channels()) m->set_expansion(4);
      if (!m->has_kernel()) m->set_kernel(3);
      if (!m->has_stride()) m->set_stride(1);
      m->set_act(Act(m->act(), v1::SILU));
      break;
    }
    case Block::kShuffle: {
      auto* m = c.mutable_shuffle();
      if (!m->has_stride()) m->set_stride(1);
      if (!m->has_kernel()) m->set_kernel(3);
      m->set_act(Act(m->act(), v1::RELU));
      break;
    }
    case Block::kCsp: {
      auto* m = c.mutable_csp();
      if (!m->has_stride()) m->set_stride(1);
      if (!m->has_split_ratio()) m->set_split_ratio(0.5);
      if (!m->has_num_blocks()) m->set_num_blocks(1);
      if (m->inner() == v1::CSP_INNER_UNSPECIFIED) m->set_inner(v1::CSP_BASIC);
      m->set_act(Act(m->act(), v1::SILU));
      break;
    }
    case Block::kOsa: {
      auto* m = c.mutable_osa();
      if (!m->has_layers()) m->set_layers(5);
      if (!m->has_stride()) m->set_stride(1);
      m->set_act(Act(m->act(), v1::RELU));
      break;
    }
    case Block::kBasic: {
      auto* m = c.mutable_basic();
      if (!m->has_stride()) m->set_stride(1);
      m->set_act(Act(m->act(), v1::RELU));
      break;
    }
    case Block::kBottleneck: {
      auto* m = c.mutable_bottleneck();
      if (!m->has_mid_channels()) m->set_mid_channels(m->out_channels() / 4);
      if (!m->has_stride()) m->set_stride(1);
      if (!m->has_groups()) m->set_groups(1);
      m->set_act(Act(m->act(), v1::RELU));
      break;
    }
    case Block::kPool: {
      auto* m = c.mutable_pool();
      if (m->kind() == v1::POOL_UNSPECIFIED) m->set_kind(v1::MAX);
      if (!m->has_kernel()) m->set_kernel(3);
      if (!m->has_stride()) m->set_stride(2);
      break;
    }
    case Block::kC3:
    case Block::kC2F:
    case Block::kSppf:
      CanonicalizeYoloBlock(&c);
      break;
    default:
      break;
  }
  CanonicalizeBlockExtensions(&c);
  return c;
}

Architecture Canonicalize(const Architecture& arch) {
  Architecture c = arch;
  if (!c.has_in_channels()) c.set_in_channels(3);
  if (c.has_height() && c.height() == c.resolution()) c.clear_height();
  for (auto& b : *c.mutable_stem()) b = CanonicalBlock(b);
  for (auto& s : *c.mutable_stages())
    for (auto& b : *s.mutable_blocks()) b = CanonicalBlock(b);
  auto* h = c.mutable_head();
  h->set_act(Act(h->act(), v1::RELU));
  return c;
}

std::string EncodeBlock(const Block& raw) {
  const Block b = CanonicalBlock(raw);
  switch (b.kind_case()) {
    case Block::kConv: {
      const auto& m = b.conv();
      return StrCat("conv:o", m.out_channels(), ",k", m.kernel(), ",s",
                    m.stride(), ",g", m.groups(), ",", ActName(m.act()));
    }
    case Block::kRepvgg: {
      const auto& m = b.repvgg();
      return StrCat("repvgg:o", m.out_channels(), ",s", m.stride(), ",g",
                    m.groups(), ",", m.deploy() ? "deploy" : "train", ",",
                    ActName(m.act()));
    }
    case Block::kMbconv: {
      const auto& m = b.mbconv();
      return StrCat("mbconv:o", m.out_channels(),
                    m.has_hidden_channels() ? StrCat(",h", m.hidden_channels())
                                            : StrCat(",e", m.expansion()),
                    ",k", m.kernel(), ",s", m.stride(), ",se", m.se() ? 1 : 0,
                    EncodeBlockExtensions(b), ",", ActName(m.act()));
    }
    case Block::kFusedMbconv: {
      const auto& m = b.fused_mbconv();
      return StrCat("fused_mbconv:o", m.out_channels(),
                    m.has_hidden_channels() ? StrCat(",h", m.hidden_channels())
                                            : StrCat(",e", m.expansion()),
                    ",k", m.kernel(), ",s", m.stride(), ",se", m.se() ? 1 : 0,
                    EncodeBlockExtensions(b), ",", ActName(m.act()));
    }
    case Block::kShuffle: {
      const auto& m = b.shuffle();
      return StrCat("shuffle:o", m.out_channels(), ",k", m.kernel(), ",s",
                    m.stride(), ",", ActName(m.act()));
    }
    case Block::kCsp: {
      const auto& m = b.csp();
      return StrCat("csp:o", m.out_channels(), ",s", m.stride(), ",r",
                    absl::StrFormat("%.4g", m.split_ratio()), ",n",
                    m.num_blocks(), ",",
                    m.inner() == v1::CSP_BOTTLENECK ? "bottleneck" : "basic",
                    ",", ActName(m.act()));
    }
    case Block::kOsa: {
      const auto& m = b.osa();
      return StrCat("osa:o", m.out_channels(), ",c", m.stage_channels(), ",l",
                    m.layers(), ",s", m.stride(), ",res", m.residual() ? 1 : 0,
                    ",ese", m.ese() ? 1 : 0, ",", ActName(m.act()));
    }
    case Block::kBasic: {
      const auto& m = b.basic();
      return StrCat("basic:o", m.out_channels(), ",s", m.stride(), ",",
                    ActName(m.act()));
    }
    case Block::kBottleneck: {
      const auto& m = b.bottleneck();
      return StrCat("bottleneck:o", m.out_channels(), ",m", m.mid_channels(),
                    ",s", m.stride(), ",g", m.groups(), EncodeBlockExtensions(b),
                    ",", ActName(m.act()));
    }
    case Block::kPool: {
      const auto& m = b.pool();
      return StrCat("pool:", m.kind() == v1::AVG ? "avg" : "max", ",k",
                    m.kernel(), ",s", m.stride());
    }
    case Block::kC3:
    case Block::kC2F:
    case Block::kSppf:
      return EncodeYoloBlock(b);
    default:
      return "none";
  }
}

std::string EncodeHead(const v1::Head& h) {
  if (IsFeatureHead(h)) return EncodeFeatureHead(h);
  return StrCat("head:c", h.conv_channels(), ",",
                ActName(Act(h.act(), v1::RELU)), ",f", h.fc_hidden(), ",n",
                h.num_classes());
}

std::string CanonicalEncoding(const Architecture& arch) {
  std::string s = StrCat("v1;r", arch.resolution());
  if (InputHeight(arch) != arch.resolution()) StrAppend(&s, ";h", InputHeight(arch));
  StrAppend(&s, ";i", arch.has_in_channels() ? arch.in_channels() : 3);
  for (const auto& b : arch.stem()) StrAppend(&s, ";", EncodeBlock(b));
  for (const auto& st : arch.stages())
    for (const auto& b : st.blocks()) StrAppend(&s, ";", EncodeBlock(b));
  StrAppend(&s, ";", EncodeHead(arch.head()));
  return s;
}

uint64_t Fnv1a64(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : s) {
    h ^= ch;
    h *= 1099511628211ull;
  }
  return h;
}

std::string ArchHash(const Architecture& arch) {
  return absl::StrFormat("%016x", Fnv1a64(CanonicalEncoding(arch)));
}

Shape OutShape(const Block& b, const Shape& in) {
  Shape out;
  if (!ValidateBlock(b, in, "", &out).ok()) return Shape{};
  return out;
}

std::vector<BlockSite> ListBlocks(const Architecture& arch) {
  std::vector<BlockSite> sites;
  Shape s = InputShape(arch);
  auto add = [&](const Block& b, std::string where) {
    BlockSite site{std::move(where), CanonicalBlock(b), s, OutShape(b, s)};
    s = site.out;
    sites.push_back(std::move(site));
  };
  for (int i = 0; i < arch.stem_size(); ++i)
    add(arch.stem(i), StrCat("stem[", i, "]"));
  for (int i = 0; i < arch.stages_size(); ++i)
    for (int j = 0; j < arch.stages(i).blocks_size(); ++j)
      add(arch.stages(i).blocks(j), StrCat("stages[", i, "].blocks[", j, "]"));
  return sites;
}

}  // namespace lutnas::space
