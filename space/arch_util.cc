#include "space/arch_util.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/util/json_util.h"

#include "base/file.h"
#include "base/status_macros.h"
#include "space/arch_ext.h"
#include "space/block_traits.h"
#include "space/keys.h"

namespace lutnas::space {
namespace {

using absl::StrAppend;
using absl::StrCat;
using v1::Activation;

absl::Status Bad(const std::string& path, const std::string& field, const std::string& problem) {
  return absl::InvalidArgumentError(StrCat(path.empty() ? "" : StrCat(path, "."), field, ": ", problem));
}

absl::Status CheckAct(Activation a, const std::string& path) {
  if (a < 0 || a > v1::IDENTITY || !v1::Activation_IsValid(a))
    return Bad(path, "act", StrCat("unknown activation ", static_cast<int>(a)));
  return absl::OkStatus();
}

int Down(int x, int s) { return (x - 1) / s + 1; }

Activation Act(Activation a, Activation dflt) { return a == v1::ACTIVATION_UNSPECIFIED ? dflt : a; }

}  // namespace

std::string Shape::ToString() const { return StrCat(c, "x", h, "x", w); }

absl::StatusOr<Architecture> ParseArchitectureJson(const std::string& json) {
  if (json.size() > kMaxJsonBytes)
    return absl::InvalidArgumentError(StrCat("architecture: JSON larger than ", kMaxJsonBytes, " bytes"));
  Architecture arch;
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false;
  auto st = google::protobuf::util::JsonStringToMessage(json, &arch, opts);
  if (!st.ok())
    return absl::InvalidArgumentError(StrCat("architecture: invalid JSON: ", st.message().as_string()));
  return arch;
}

absl::StatusOr<Architecture> LoadArchitectureFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string data, base::ReadFileToString(path));
  auto arch = ParseArchitectureJson(data);
  if (!arch.ok()) return absl::Status(arch.status().code(), StrCat(path, ": ", arch.status().message()));
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
  const BlockTraits* t = TraitsOf(b);
  return t ? t->type : v1::BLOCK_TYPE_UNSPECIFIED;
}

const char* BlockTypeName(v1::BlockType type) {
  const BlockTraits* t = TraitsOf(type);
  return t ? t->name : "unknown";
}

absl::Status ValidateBlock(const Block& b, const Shape& in, const std::string& path, Shape* out) {
  const BlockTraits* t = TraitsOf(b);
  if (t == nullptr) {
    std::string names;
    for (const BlockTraits& row : AllBlockTraits()) StrAppend(&names, names.empty() ? "" : ", ", row.name);
    return absl::InvalidArgumentError(StrCat(path, ": block has no type (set one of ", names, ")"));
  }
  const google::protobuf::Message& m = BlockMessage(b, *t);
  RETURN_IF_ERROR(CheckBlockFields(*t, m, in, StrCat(path, ".", t->name)));
  const int stride = StrideOfBlock(*t, m);
  *out = Shape{OutChannelsOf(*t, m, in.c), Down(in.h, stride), Down(in.w, stride)};
  return absl::OkStatus();
}

Shape InputShape(const Architecture& arch) {
  const int r = arch.resolution();
  return Shape{arch.has_in_channels() ? arch.in_channels() : 3, InputHeight(arch), r};
}

absl::Status ValidateArchitecture(const Architecture& arch) {
  if (arch.resolution() < 8 || arch.resolution() > kMaxResolution)
    return absl::InvalidArgumentError(
        StrCat("resolution: must be in 8..", kMaxResolution, ", got ", arch.resolution()));
  if (arch.has_height() && (arch.height() < 8 || arch.height() > kMaxResolution))
    return absl::InvalidArgumentError(
        StrCat("height: must be in 8..", kMaxResolution, ", got ", arch.height()));
  if (arch.has_in_channels() && (arch.in_channels() < 1 || arch.in_channels() > 64))
    return absl::InvalidArgumentError(StrCat("in_channels: must be in 1..64, got ", arch.in_channels()));
  size_t total = arch.stem_size();
  for (int i = 0; i < arch.stages_size(); ++i) {
    if (arch.stages(i).blocks_size() == 0)
      return absl::InvalidArgumentError(StrCat("stages[", i, "].blocks: a stage needs at least one block"));
    total += arch.stages(i).blocks_size();
  }
  if (total == 0) return absl::InvalidArgumentError("stages: the network has no blocks");
  if (total > kMaxBlocks)
    return absl::InvalidArgumentError(
        StrCat("stages: ", total, " blocks is more than the limit of ", kMaxBlocks));
  Shape s = InputShape(arch);
  std::vector<int> strides;  // cumulative stride after each block
  for (int i = 0; i < arch.stem_size(); ++i) {
    Shape next;
    RETURN_IF_ERROR(ValidateBlock(arch.stem(i), s, StrCat("stem[", i, "]"), &next));
    s = next;
    strides.push_back((strides.empty() ? 1 : strides.back()) * BlockStride(CanonicalBlock(arch.stem(i))));
  }
  for (int i = 0; i < arch.stages_size(); ++i) {
    for (int j = 0; j < arch.stages(i).blocks_size(); ++j) {
      Shape next;
      RETURN_IF_ERROR(
          ValidateBlock(arch.stages(i).blocks(j), s, StrCat("stages[", i, "].blocks[", j, "]"), &next));
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
    return absl::InvalidArgumentError(
        StrCat(path, ".conv_channels: must be in 0..", kMaxChannels, ", got ", h.conv_channels()));
  if (h.fc_hidden() < 0 || h.fc_hidden() > kMaxChannels)
    return absl::InvalidArgumentError(
        StrCat(path, ".fc_hidden: must be in 0..", kMaxChannels, ", got ", h.fc_hidden()));
  if (h.num_classes() < 1 || h.num_classes() > 100000)
    return absl::InvalidArgumentError(
        StrCat(path, ".num_classes: must be in 1..100000, got ", h.num_classes()));
  return CheckAct(h.act(), path);
}

Block CanonicalBlock(const Block& b) {
  Block c = b;
  if (const BlockTraits* t = TraitsOf(c)) FillBlockDefaults(*t, MutableBlockMessage(&c, *t));
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
  for (int i = 0; i < arch.stem_size(); ++i) add(arch.stem(i), StrCat("stem[", i, "]"));
  for (int i = 0; i < arch.stages_size(); ++i)
    for (int j = 0; j < arch.stages(i).blocks_size(); ++j)
      add(arch.stages(i).blocks(j), StrCat("stages[", i, "].blocks[", j, "]"));
  return sites;
}

}  // namespace lutnas::space
