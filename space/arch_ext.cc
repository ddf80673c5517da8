#include "space/arch_ext.h"

#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

#include "space/arch_util.h"
#include "space/block_traits.h"

namespace lutnas::space {
namespace {

using absl::StrCat;

absl::Status Bad(const std::string& path, const std::string& field, const std::string& problem) {
  return absl::InvalidArgumentError(StrCat(path.empty() ? "" : StrCat(path, "."), field, ": ", problem));
}

absl::Status CheckActivation(v1::Activation a, const std::string& path, const char* field = "act") {
  if (a < 0 || a > v1::IDENTITY || !v1::Activation_IsValid(a))
    return Bad(path, field, StrCat("unknown activation ", static_cast<int>(a)));
  return absl::OkStatus();
}

v1::Activation Dflt(v1::Activation a, v1::Activation d) { return a == v1::ACTIVATION_UNSPECIFIED ? d : a; }

}  // namespace

absl::Status ValidateSe(const v1::SqueezeExcite& se, const std::string& path) {
  if (!v1::SEBase_IsValid(se.base())) return Bad(path, "base", StrCat("unknown value ", se.base()));
  if (se.has_ratio() && !(se.ratio() > 0.0 && se.ratio() <= 1.0))
    return Bad(path, "ratio", StrCat("must be in (0, 1], got ", se.ratio()));
  if (se.has_divisor() && (se.divisor() < 1 || se.divisor() > 64))
    return Bad(path, "divisor", StrCat("must be in 1..64, got ", se.divisor()));
  if (!v1::SEGate_IsValid(se.gate())) return Bad(path, "gate", StrCat("unknown value ", se.gate()));
  return CheckActivation(se.act(), path);
}

v1::SqueezeExcite CanonicalSe(const v1::SqueezeExcite& in) {
  v1::SqueezeExcite se = in;
  if (se.base() == v1::SE_BASE_UNSPECIFIED) se.set_base(v1::SE_HIDDEN);
  if (!se.has_ratio()) se.set_ratio(0.25);
  if (!se.has_divisor()) se.set_divisor(8);
  if (se.gate() == v1::SE_GATE_UNSPECIFIED) se.set_gate(v1::SE_HSIGMOID);
  se.set_act(Dflt(se.act(), v1::RELU));
  return se;
}

bool IsDefaultSe(const v1::SqueezeExcite& c) {
  return c.base() == v1::SE_HIDDEN && c.ratio() == 0.25 && c.divisor() == 8 && c.gate() == v1::SE_HSIGMOID &&
         c.act() == v1::RELU;
}

int SqueezeChannels(const v1::SqueezeExcite& c, int in_c, int ch) {
  const double v = (c.base() == v1::SE_INPUT ? in_c : ch) * c.ratio();
  if (c.divisor() <= 1) return std::max(1, static_cast<int>(std::floor(v + 1e-9)));
  const int d = c.divisor();
  int n = std::max(d, static_cast<int>(v + d / 2.0) / d * d);
  if (n < 0.9 * v) n += d;
  return n;
}

bool HasExtendedFields(const Block& b) {
  const BlockTraits* t = TraitsOf(b);
  if (t == nullptr) return false;
  if (t->extended) return true;
  const google::protobuf::Message& m = BlockMessage(b, *t);
  for (const FieldTraits& f : t->fields)
    if (f.extended && m.GetReflection()->HasField(m, f.fd)) return true;
  return false;
}

int BlockStride(const Block& b) {
  const BlockTraits* t = TraitsOf(b);
  return t ? StrideOfBlock(*t, BlockMessage(b, *t)) : 1;
}

bool IsFeatureHead(const v1::Head& h) { return h.feature_strides_size() > 0; }

absl::Status ValidateFeatureHead(const v1::Head& h, const std::string& path) {
  if (h.feature_strides_size() > 6)
    return Bad(path, "feature_strides", StrCat("at most 6 strides, got ", h.feature_strides_size()));
  int prev = 0;
  for (int i = 0; i < h.feature_strides_size(); ++i) {
    const int s = h.feature_strides(i);
    const std::string f = StrCat("feature_strides[", i, "]");
    if (s < 1 || s > 1024 || (s & (s - 1)) != 0)
      return Bad(path, f, StrCat("must be a power of two in 1..1024, got ", s));
    if (s <= prev) return Bad(path, f, StrCat("strides must increase strictly, got ", s, " after ", prev));
    prev = s;
  }
  if (h.num_classes() != 0)
    return Bad(path, "num_classes",
               StrCat("must be 0 with feature_strides (no classifier), got ", h.num_classes()));
  if (h.conv_channels() != 0)
    return Bad(path, "conv_channels", StrCat("must be 0 with feature_strides, got ", h.conv_channels()));
  if (h.fc_hidden() != 0)
    return Bad(path, "fc_hidden", StrCat("must be 0 with feature_strides, got ", h.fc_hidden()));
  return CheckActivation(h.act(), path);
}

absl::Status CheckFeatureStrides(const v1::Head& h, const std::vector<int>& strides,
                                 const std::string& path) {
  if (!IsFeatureHead(h)) return absl::OkStatus();
  const int final_stride = strides.empty() ? 1 : strides.back();
  for (int i = 0; i < h.feature_strides_size(); ++i) {
    const int s = h.feature_strides(i);
    bool found = false;
    for (int x : strides) found = found || x == s;
    if (!found)
      return Bad(path, StrCat("feature_strides[", i, "]"),
                 StrCat("no block outputs stride ", s, " (the network reaches stride ", final_stride, ")"));
  }
  const int last = h.feature_strides(h.feature_strides_size() - 1);
  if (last != final_stride)
    return Bad(path, StrCat("feature_strides[", h.feature_strides_size() - 1, "]"),
               StrCat("the last stride must be the network's final stride ", final_stride,
                      " (blocks after stride ", last, " would be unused), got ", last));
  return absl::OkStatus();
}

int InputHeight(const Architecture& arch) { return arch.has_height() ? arch.height() : arch.resolution(); }

}  // namespace lutnas::space
