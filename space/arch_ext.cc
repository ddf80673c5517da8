#include "space/arch_ext.h"
#include "space/arch_util.h"

#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace lutnas::space {
namespace {

using absl::StrCat;

absl::Status Bad(const std::string& path, const std::string& field,
                 const std::string& problem) {
  return absl::InvalidArgumentError(
      StrCat(path.empty() ? "" : StrCat(path, "."), field, ": ", problem));
}


absl::Status CheckActivation(v1::Activation a, const std::string& path,
                             const char* field = "act") {
  if (a < 0 || a > v1::IDENTITY || !v1::Activation_IsValid(a))
    return Bad(path, field, StrCat("unknown activation ", static_cast<int>(a)));
  return absl::OkStatus();
}

v1::Activation Dflt(v1::Activation a, v1::Activation d) {
  return a == v1::ACTIVATION_UNSPECIFIED ? d : a;
}

// Shared checks of C3 and C2f.
template <typename M>
absl::Status CheckCsp2(const M& m, const std::string& p) {
  if (m.out_channels() <= 0 || m.out_channels() > kMaxChannels)
    return Bad(p, "out_channels",
               StrCat("must be in 1..", kMaxChannels, ", got ", m.out_channels()));
  if (m.has_num_blocks() && (m.num_blocks() < 1 || m.num_blocks() > 16))
    return Bad(p, "num_blocks", StrCat("must be in 1..16, got ", m.num_blocks()));
  if (m.has_expansion() && !(m.expansion() > 0.0 && m.expansion() <= 1.0))
    return Bad(p, "expansion", StrCat("must be in (0, 1], got ", m.expansion()));
  if (m.has_stride() && m.stride() != 1 && m.stride() != 2)
    return Bad(p, "stride", StrCat("must be 1 or 2, got ", m.stride()));
  const double e = m.has_expansion() ? m.expansion() : 0.5;
  if (static_cast<int>(m.out_channels() * e) < 1)
    return Bad(p, "expansion",
               StrCat("leaves no hidden channels of ", m.out_channels()));
  return CheckActivation(m.act(), p);
}

template <typename M>
void CanonCsp2(M* m) {
  if (!m->has_num_blocks()) m->set_num_blocks(1);
  if (!m->has_expansion()) m->set_expansion(0.5);
  if (!m->has_stride()) m->set_stride(1);
  m->set_act(Dflt(m->act(), v1::SILU));
}

template <typename M>
std::string EncodeCsp2(const char* type, const M& m) {
  return StrCat(type, ":o", m.out_channels(), ",n", m.num_blocks(), ",sc",
                m.shortcut() ? 1 : 0, ",e", absl::StrFormat("%.4g", m.expansion()),
                ",s", m.stride(), ",", ActName(m.act()));
}

double Num(const std::map<std::string, double>& num, const char* f, double d) {
  auto it = num.find(f);
  return it == num.end() ? d : it->second;
}
int Int(const std::map<std::string, double>& num, const char* f) {
  const double v = Num(num, f, -1);
  return v >= -1e6 && v <= 1e6 ? static_cast<int>(v) : -1;
}

}  // namespace

absl::Status ValidateSe(const v1::SqueezeExcite& se, const std::string& path) {
  if (!v1::SEBase_IsValid(se.base()))
    return Bad(path, "base", StrCat("unknown value ", se.base()));
  if (se.has_ratio() && !(se.ratio() > 0.0 && se.ratio() <= 1.0))
    return Bad(path, "ratio", StrCat("must be in (0, 1], got ", se.ratio()));
  if (se.has_divisor() && (se.divisor() < 1 || se.divisor() > 64))
    return Bad(path, "divisor", StrCat("must be in 1..64, got ", se.divisor()));
  if (!v1::SEGate_IsValid(se.gate()))
    return Bad(path, "gate", StrCat("unknown value ", se.gate()));
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
  return c.base() == v1::SE_HIDDEN && c.ratio() == 0.25 && c.divisor() == 8 &&
         c.gate() == v1::SE_HSIGMOID && c.act() == v1::RELU;
}

std::string EncodeSeTokens(const v1::SqueezeExcite& c) {
  std::string s;
  if (c.base() == v1::SE_INPUT) absl::StrAppend(&s, ",sein");
  if (c.ratio() != 0.25) absl::StrAppend(&s, ",ser", absl::StrFormat("%.4g", c.ratio()));
  if (c.divisor() != 8) absl::StrAppend(&s, ",sed", c.divisor());
  if (c.gate() == v1::SE_SIGMOID) absl::StrAppend(&s, ",sesig");
  if (c.act() != v1::RELU) absl::StrAppend(&s, ",se", ActName(c.act()));
  return s;
}

bool HasSeTokens(const std::set<std::string>& words,
                 const std::map<std::string, double>& num) {
  for (const char* w : {"sein", "sesig", "serelu6", "sehswish", "sesilu", "seid"})
    if (words.count(w)) return true;
  return num.count("ser") || num.count("sed");
}

void ApplySeTokens(const std::set<std::string>& words,
                   const std::map<std::string, double>& num,
                   v1::SqueezeExcite* se) {
  se->set_base(words.count("sein") ? v1::SE_INPUT : v1::SE_HIDDEN);
  se->set_ratio(Num(num, "ser", 0.25));
  se->set_divisor(num.count("sed") ? Int(num, "sed") : 8);
  se->set_gate(words.count("sesig") ? v1::SE_SIGMOID : v1::SE_HSIGMOID);
  v1::Activation a = v1::RELU;
  if (words.count("serelu6")) a = v1::RELU6;
  if (words.count("sehswish")) a = v1::HSWISH;
  if (words.count("sesilu")) a = v1::SILU;
  if (words.count("seid")) a = v1::IDENTITY;
  se->set_act(a);
}

int SqueezeChannels(const v1::SqueezeExcite& c, int in_c, int ch) {
  const double v = (c.base() == v1::SE_INPUT ? in_c : ch) * c.ratio();
  if (c.divisor() <= 1) return std::max(1, static_cast<int>(std::floor(v + 1e-9)));
  const int d = c.divisor();
  int n = std::max(d, static_cast<int>(v + d / 2.0) / d * d);
  if (n < 0.9 * v) n += d;
  return n;
}

absl::Status ValidateBlockExtensions(const Block& b, int cin,
                                     const std::string& p) {
  (void)cin;
  auto hidden = [&](const auto& m) -> absl::Status {
    if (!m.has_hidden_channels()) return absl::OkStatus();
    if (m.hidden_channels() < 1 || m.hidden_channels() > kMaxChannels)
      return Bad(p, "hidden_channels", StrCat("must be in 1..", kMaxChannels,
                                              ", got ", m.hidden_channels()));
    if (m.has_expansion())
      return Bad(p, "hidden_channels",
                 "cannot be set together with expansion (give one of them)");
    return absl::OkStatus();
  };
  switch (b.kind_case()) {
    case Block::kMbconv: {
      const auto& m = b.mbconv();
      if (auto st = hidden(m); !st.ok()) return st;
      if (m.has_se_options()) return ValidateSe(m.se_options(), StrCat(p, ".se_options"));
      break;
    }
    case Block::kFusedMbconv: {
      const auto& m = b.fused_mbconv();
      if (auto st = hidden(m); !st.ok()) return st;
      if (m.has_se_options()) return ValidateSe(m.se_options(), StrCat(p, ".se_options"));
      break;
    }
    case Block::kBottleneck:
      if (b.bottleneck().has_se()) return ValidateSe(b.bottleneck().se(), StrCat(p, ".se"));
      break;
    default:
      break;
  }
  return absl::OkStatus();
}

void CanonicalizeBlockExtensions(Block* b) {
  auto mb = [](auto* m) {
    if (m->has_hidden_channels()) m->clear_expansion();
    if (m->has_se_options()) {
      m->set_se(true);
      *m->mutable_se_options() = CanonicalSe(m->se_options());
      if (IsDefaultSe(m->se_options())) m->clear_se_options();
    }
  };
  switch (b->kind_case()) {
    case Block::kMbconv: mb(b->mutable_mbconv()); break;
    case Block::kFusedMbconv: mb(b->mutable_fused_mbconv()); break;
    case Block::kBottleneck:
      if (b->bottleneck().has_se())
        *b->mutable_bottleneck()->mutable_se() = CanonicalSe(b->bottleneck().se());
      break;
    default:
      break;
  }
}

std::string EncodeBlockExtensions(const Block& b) {
  switch (b.kind_case()) {
    case Block::kMbconv:
      return b.mbconv().has_se_options() ? EncodeSeTokens(b.mbconv().se_options()) : "";
    case Block::kFusedMbconv:
      return b.fused_mbconv().has_se_options()
                 ? EncodeSeTokens(b.fused_mbconv().se_options())
                 : "";
    case Block::kBottleneck:
      return b.bottleneck().has_se()
                 ? StrCat(",se1", EncodeSeTokens(b.bottleneck().se()))
                 : "";
    default:
      return "";
  }
}

bool IsYoloBlock(const Block& b) {
  return b.has_c3() || b.has_c2f() || b.has_sppf();
}

absl::Status ValidateYoloBlock(const Block& b, const Shape& in,
                               const std::string& path, int* cout,
                               int* stride) {
  switch (b.kind_case()) {
    case Block::kC3: {
      const std::string p = StrCat(path, ".c3");
      if (auto st = CheckCsp2(b.c3(), p); !st.ok()) return st;
      *cout = b.c3().out_channels();
      *stride = b.c3().has_stride() ? b.c3().stride() : 1;
      return absl::OkStatus();
    }
    case Block::kC2F: {
      const std::string p = StrCat(path, ".c2f");
      if (auto st = CheckCsp2(b.c2f(), p); !st.ok()) return st;
      *cout = b.c2f().out_channels();
      *stride = b.c2f().has_stride() ? b.c2f().stride() : 1;
      return absl::OkStatus();
    }
    case Block::kSppf: {
      const auto& m = b.sppf();
      const std::string p = StrCat(path, ".sppf");
      if (m.out_channels() <= 0 || m.out_channels() > kMaxChannels)
        return Bad(p, "out_channels", StrCat("must be in 1..", kMaxChannels,
                                             ", got ", m.out_channels()));
      if (m.has_kernel() && m.kernel() != 3 && m.kernel() != 5 && m.kernel() != 7)
        return Bad(p, "kernel", StrCat("must be 3, 5 or 7, got ", m.kernel()));
      if (in.c < 2)
        return Bad(p, "out_channels",
                   StrCat("SPPF halves its input width; needs >= 2 input channels, got ", in.c));
      *cout = m.out_channels();
      *stride = 1;
      return CheckActivation(m.act(), p);
    }
    default:
      return absl::InvalidArgumentError(StrCat(path, ": not a YOLO block"));
  }
}

void CanonicalizeYoloBlock(Block* b) {
  switch (b->kind_case()) {
    case Block::kC3: CanonCsp2(b->mutable_c3()); break;
    case Block::kC2F: CanonCsp2(b->mutable_c2f()); break;
    case Block::kSppf: {
      auto* m = b->mutable_sppf();
      if (!m->has_kernel()) m->set_kernel(5);
      m->set_act(Dflt(m->act(), v1::SILU));
      break;
    }
    default:
      break;
  }
}

std::string EncodeYoloBlock(const Block& b) {
  switch (b.kind_case()) {
    case Block::kC3: return EncodeCsp2("c3", b.c3());
    case Block::kC2F: return EncodeCsp2("c2f", b.c2f());
    case Block::kSppf:
      return StrCat("sppf:o", b.sppf().out_channels(), ",k", b.sppf().kernel(), ",",
                    ActName(b.sppf().act()));
    default:
      return "none";
  }
}

bool ParseYoloKey(const std::string& type,
                  const std::map<std::string, double>& num,
                  const std::set<std::string>& words, v1::Activation act,
                  Block* b) {
  (void)words;
  auto csp2 = [&](auto* m) {
    m->set_out_channels(Int(num, "o"));
    m->set_num_blocks(Int(num, "n"));
    m->set_shortcut(Int(num, "sc") == 1);
    m->set_expansion(Num(num, "e", -1));
    m->set_stride(Int(num, "s"));
    m->set_act(act);
  };
  if (type == "c3") {
    csp2(b->mutable_c3());
  } else if (type == "c2f") {
    csp2(b->mutable_c2f());
  } else if (type == "sppf") {
    b->mutable_sppf()->set_out_channels(Int(num, "o"));
    b->mutable_sppf()->set_kernel(Int(num, "k"));
    b->mutable_sppf()->set_act(act);
  } else {
    return false;
  }
  return true;
}

bool HasExtendedFields(const Block& b) {
  switch (b.kind_case()) {
    case Block::kMbconv:
      return b.mbconv().has_hidden_channels() || b.mbconv().has_se_options();
    case Block::kFusedMbconv:
      return b.fused_mbconv().has_hidden_channels() || b.fused_mbconv().has_se_options();
    case Block::kBottleneck:
      return b.bottleneck().has_se();
    case Block::kC3:
    case Block::kC2F:
    case Block::kSppf:
      return true;
    default:
      return false;
  }
}

int BlockStride(const Block& b) {
  switch (b.kind_case()) {
    case Block::kConv: return b.conv().stride();
    case Block::kRepvgg: return b.repvgg().stride();
    case Block::kMbconv: return b.mbconv().stride();
    case Block::kFusedMbconv: return b.fused_mbconv().stride();
    case Block::kShuffle: return b.shuffle().stride();
    case Block::kCsp: return b.csp().stride();
    case Block::kOsa: return b.osa().stride();
    case Block::kBasic: return b.basic().stride();
    case Block::kBottleneck: return b.bottleneck().stride();
    case Block::kPool: return b.pool().stride();
    case Block::kC3: return b.c3().stride();
    case Block::kC2F: return b.c2f().stride();
    default: return 1;
  }
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
    if (s <= prev)
      return Bad(path, f, StrCat("strides must increase strictly, got ", s, " after ", prev));
    prev = s;
  }
  if (h.num_classes() != 0)
    return Bad(path, "num_classes",
               StrCat("must be 0 with feature_strides (no classifier), got ", h.num_classes()));
  if (h.conv_channels() != 0)
    return Bad(path, "conv_channels",
               StrCat("must be 0 with feature_strides, got ", h.conv_channels()));
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
                 StrCat("no block outputs stride ", s, " (the network reaches stride ",
                        final_stride, ")"));
  }
  const int last = h.feature_strides(h.feature_strides_size() - 1);
  if (last != final_stride)
    return Bad(path, StrCat("feature_strides[", h.feature_strides_size() - 1, "]"),
               StrCat("the last stride must be the network's final stride ", final_stride,
                      " (blocks after stride ", last, " would be unused), got ", last));
  return absl::OkStatus();
}

std::string EncodeFeatureHead(const v1::Head& h) {
  std::string s = "fhead:s";
  for (int i = 0; i < h.feature_strides_size(); ++i)
    absl::StrAppend(&s, i ? "-" : "", h.feature_strides(i));
  return s;
}

absl::Status ParseFeatureHead(const std::string& body, v1::Head* h) {
  if (body.size() < 2 || body[0] != 's')
    return absl::InvalidArgumentError("feature head needs 's<stride>-<stride>...'");
  for (const auto& part : absl::StrSplit(body.substr(1), '-')) {
    int s;
    if (!absl::SimpleAtoi(part, &s))
      return absl::InvalidArgumentError(StrCat("malformed stride '", part, "'"));
    h->add_feature_strides(s);
  }
  return ValidateFeatureHead(*h, "head");
}

int InputHeight(const Architecture& arch) {
  return arch.has_height() ? arch.height() : arch.resolution();
}

}  // namespace lutnas::space
