#include "space/block_traits.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"

#include "space/arch_ext.h"
#include "space/arch_util.h"

namespace lutnas::space {
namespace {

using absl::StrCat;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// ---------------------------------------------------------------- row builders
struct F {
  FieldTraits f;
  F(const char* name, const char* key, KeyKind kind, FieldCheck check = FieldCheck::kNone) {
    f.name = name;
    f.key = key;
    f.kind = kind;
    f.check = check;
  }
  F& Default(double v) {
    f.has_default = true;
    f.dflt = v;
    return *this;
  }
  F& DefaultOutDiv(int d) {
    f.has_default = true;
    f.default_out_div = d;
    return *this;
  }
  F& Range(int lo, int hi) {
    f.lo = lo;
    f.hi = hi;
    return *this;
  }
  F& Unless(const char* other) {
    f.unless = other;
    return *this;
  }
  F& Words(std::vector<const char*> w) {
    f.words = std::move(w);
    return *this;
  }
  F& SetsBit(const char* bit) {
    f.sets_bit = bit;
    return *this;
  }
  F& ClearIfDefault() {
    f.clear_if_default = true;
    return *this;
  }
  F& Extended() {
    f.extended = true;
    return *this;
  }
  operator FieldTraits() const { return f; }  // NOLINT: builder
};

F Out(FieldCheck c = FieldCheck::kChannels) { return F("out_channels", "o", KeyKind::kInt, c); }
F Kernel(FieldCheck c, int dflt) { return F("kernel", "k", KeyKind::kInt, c).Default(dflt); }
F Stride(int dflt = 1) { return F("stride", "s", KeyKind::kInt, FieldCheck::kStride).Default(dflt); }
F Act() { return F("act", "", KeyKind::kAct, FieldCheck::kAct); }
F Expansion(int dflt) {
  return F("expansion", "e", KeyKind::kInt, FieldCheck::kRange)
      .Range(1, 8)
      .Default(dflt)
      .Unless("hidden_channels");
}
F Hidden() {
  return F("hidden_channels", "h", KeyKind::kInt, FieldCheck::kHidden).Unless("expansion").Extended();
}
F SeOptions() {
  return F("se_options", "", KeyKind::kSe, FieldCheck::kSe).SetsBit("se").ClearIfDefault().Extended();
}

absl::Status Bad(const std::string& path, const std::string& field, const std::string& problem) {
  return absl::InvalidArgumentError(StrCat(path.empty() ? "" : StrCat(path, "."), field, ": ", problem));
}

// ---------------------------------------------------------------- cross-field checks
absl::Status ShuffleCheck(const Message& msg, const Shape& in, const std::string& p) {
  const auto& m = static_cast<const v1::ShuffleV2Unit&>(msg);
  const int cout = m.out_channels(), stride = m.has_stride() ? m.stride() : 1;
  if (cout % 2 != 0) return Bad(p, "out_channels", StrCat("channel split needs an even width, got ", cout));
  if (stride == 1 && in.c != cout)
    return Bad(p, "out_channels",
               StrCat("stride-1 unit needs out_channels == in_channels ", in.c, ", got ", cout));
  return absl::OkStatus();
}

absl::Status CspCheck(const Message& msg, const Shape&, const std::string& p) {
  const auto& m = static_cast<const v1::CSPStage&>(msg);
  const double ratio = m.has_split_ratio() ? m.split_ratio() : 0.5;
  if (std::lround(m.out_channels() * ratio) < 1)
    return Bad(p, "split_ratio", StrCat("leaves no channels in a part of ", m.out_channels()));
  return absl::OkStatus();
}

absl::Status OsaCheck(const Message& msg, const Shape& in, const std::string& p) {
  const auto& m = static_cast<const v1::OSAModule&>(msg);
  const int cout = m.out_channels(), stride = m.has_stride() ? m.stride() : 1;
  if (m.residual() && (in.c != cout || stride != 1))
    return Bad(p, "residual",
               StrCat("needs in_channels == out_channels and stride 1 (in ", in.c, ", out ", cout,
                      ", stride ", stride, ")"));
  return absl::OkStatus();
}

template <typename M>
absl::Status Csp2Check(const Message& msg, const Shape&, const std::string& p) {
  const auto& m = static_cast<const M&>(msg);
  const double e = m.has_expansion() ? m.expansion() : 0.5;
  if (static_cast<int>(m.out_channels() * e) < 1)
    return Bad(p, "expansion", StrCat("leaves no hidden channels of ", m.out_channels()));
  return absl::OkStatus();
}

absl::Status SppfCheck(const Message&, const Shape& in, const std::string& p) {
  if (in.c < 2)
    return Bad(p, "out_channels",
               StrCat("SPPF halves its input width; needs >= 2 input channels, got ", in.c));
  return absl::OkStatus();
}

// ---------------------------------------------------------------- the table
std::vector<BlockTraits> Rows() {
  std::vector<BlockTraits> rows;
  auto row = [&](const char* name, v1::BlockType type, v1::Activation act,
                 std::vector<FieldTraits> fields) -> BlockTraits& {
    BlockTraits t;
    t.name = name;
    t.type = type;
    t.default_act = act;
    t.fields = std::move(fields);
    rows.push_back(std::move(t));
    return rows.back();
  };
  using C = FieldCheck;
  using K = KeyKind;
  row("conv", v1::CONV, v1::RELU,
      {Out(), Kernel(C::kKernelOr1, 3), Stride(), F("groups", "g", K::kInt, C::kGroups).Default(1), Act()})
      .gene_kernel = true;
  row("repvgg", v1::REPVGG, v1::RELU,
      {Out(), Stride(), F("groups", "g", K::kInt, C::kGroups).Default(1),
       F("deploy", "", K::kWord).Words({"train", "deploy"}), Act()});
  for (auto [name, type, e, act] : {std::tuple{"mbconv", v1::MBCONV, 6, v1::RELU6},
                                    std::tuple{"fused_mbconv", v1::FUSED_MBCONV, 4, v1::SILU}}) {
    BlockTraits& t = row(name, type, act,
                         {Out(), Hidden(), Expansion(e), Kernel(C::kKernel, 3), Stride(),
                          F("se", "se", K::kBit), SeOptions(), Act()});
    t.check_order = {"out_channels", "expansion", "hidden_channels", "se_options", "kernel", "stride", "act"};
    t.gene_kernel = t.gene_expansion = true;
  }
  {
    BlockTraits& t = row("shuffle", v1::SHUFFLE, v1::RELU, {Out(), Kernel(C::kKernel, 3), Stride(), Act()});
    t.check_order = {"out_channels", "stride", "kernel", "act", "+"};
    t.extra = ShuffleCheck;
    t.gene_kernel = true;
  }
  row("csp", v1::CSP, v1::SILU,
      {Out(), Stride(), F("split_ratio", "r", K::kReal, C::kUnit).Default(0.5),
       F("num_blocks", "n", K::kInt, C::kRange).Range(1, 16).Default(1),
       F("inner", "", K::kEnum, C::kEnumValid).Words({"basic", "bottleneck"}).Default(v1::CSP_BASIC), Act()})
      .extra = CspCheck;
  row("osa", v1::OSA, v1::RELU,
      {Out(), F("stage_channels", "c", K::kInt, C::kChannels),
       F("layers", "l", K::kInt, C::kRange).Range(1, 10).Default(5), Stride(), F("residual", "res", K::kBit),
       F("ese", "ese", K::kBit), Act()})
      .extra = OsaCheck;
  row("basic", v1::BASIC, v1::RELU, {Out(), Stride(), Act()});
  row("bottleneck", v1::BOTTLENECK, v1::RELU,
      {Out(), F("mid_channels", "m", K::kInt, C::kChannels).DefaultOutDiv(4), Stride(),
       F("groups", "g", K::kInt, C::kGroupsMid).Default(1), F("se", "se", K::kSe, C::kSe).Extended(), Act()})
      .check_order = {"out_channels", "mid_channels", "stride", "groups", "act", "se"};
  row("pool", v1::BLOCK_TYPE_UNSPECIFIED, v1::ACTIVATION_UNSPECIFIED,
      {F("kind", "", K::kEnum, C::kEnumValid).Words({"max", "avg"}).Default(v1::MAX), Kernel(C::kKernel, 3),
       Stride(2)});
  for (auto [name, type] : {std::pair{"c3", v1::C3}, std::pair{"c2f", v1::C2F}}) {
    BlockTraits& t =
        row(name, type, v1::SILU,
            {Out(C::kChannelsIn), F("num_blocks", "n", K::kInt, C::kRange).Range(1, 16).Default(1),
             F("shortcut", "sc", K::kBit), F("expansion", "e", K::kReal, C::kUnit).Default(0.5), Stride(),
             Act()});
    t.check_order = {"out_channels", "num_blocks", "expansion", "stride", "+", "act"};
    t.extra = type == v1::C3 ? Csp2Check<v1::C3Block> : Csp2Check<v1::C2fBlock>;
    t.gene_expansion = true;  // the gene's expansion is num_blocks
    t.extended = true;
  }
  {
    BlockTraits& t = row("sppf", v1::SPPF, v1::SILU, {Out(C::kChannelsIn), Kernel(C::kKernel, 5), Act()});
    t.check_order = {"out_channels", "kernel", "+", "act"};
    t.extra = SppfCheck;
    t.extended = true;
  }
  // Resolve descriptors; a row naming a field the proto lacks is a programming error.
  for (BlockTraits& t : rows) {
    t.oneof_fd = v1::Block::descriptor()->FindFieldByName(t.name);
    if (t.oneof_fd == nullptr || t.oneof_fd->message_type() == nullptr) std::abort();
    auto index = [&](const char* name) {
      for (size_t i = 0; i < t.fields.size(); ++i)
        if (std::strcmp(t.fields[i].name, name) == 0) return static_cast<int>(i);
      return -1;
    };
    for (FieldTraits& f : t.fields) {
      f.fd = t.oneof_fd->message_type()->FindFieldByName(f.name);
      if (f.fd == nullptr) std::abort();
      if (*f.sets_bit && (f.bit_fd = t.oneof_fd->message_type()->FindFieldByName(f.sets_bit)) == nullptr)
        std::abort();
      if (*f.unless && (f.unless_index = index(f.unless)) < 0) std::abort();
    }
    t.out_index = index("out_channels");
    t.stride_index = index("stride");
    t.mid_index = index("mid_channels");
    if (t.check_order.empty()) {
      for (size_t i = 0; i < t.fields.size(); ++i) t.check_sequence.push_back(static_cast<int>(i));
      if (t.extra) t.check_sequence.push_back(-1);
    } else {
      bool extra = false;
      for (const char* name : t.check_order) {
        const bool plus = std::strcmp(name, "+") == 0;
        extra = extra || plus;
        if (!plus && index(name) < 0) std::abort();
        if (!plus || t.extra) t.check_sequence.push_back(plus ? -1 : index(name));
      }
      if (!extra && t.extra) t.check_sequence.push_back(-1);
    }
  }
  return rows;
}

struct Table {
  std::vector<BlockTraits> rows = Rows();
  std::vector<const BlockTraits*> by_case;  // by Block oneof field number
  Table() {
    for (const BlockTraits& t : rows) {
      const int n = t.oneof_fd->number();
      if (static_cast<int>(by_case.size()) <= n) by_case.resize(n + 1, nullptr);
      by_case[n] = &t;
    }
  }
};

const Table& GetTable() {
  static const Table* table = new Table();
  return *table;
}

bool Present(const Message& m, const FieldTraits& f) {
  return !f.fd->has_presence() || m.GetReflection()->HasField(m, f.fd);
}

int64_t IntValue(const Message& m, const FieldTraits& f) {
  const Reflection* r = m.GetReflection();
  switch (f.fd->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return r->GetInt32(m, f.fd);
    case FieldDescriptor::CPPTYPE_BOOL:
      return r->GetBool(m, f.fd) ? 1 : 0;
    case FieldDescriptor::CPPTYPE_ENUM:
      return r->GetEnumValue(m, f.fd);
    default:
      return 0;
  }
}

// The value checks see: the field's own, or its out_channels-derived default when absent.
int64_t EffectiveInt(const BlockTraits& t, const Message& m, const FieldTraits& f) {
  if (f.default_out_div > 0 && !Present(m, f)) {
    const FieldTraits* out = t.At(t.out_index);
    return out ? IntValue(m, *out) / f.default_out_div : 0;
  }
  return IntValue(m, f);
}

absl::Status CheckAct(v1::Activation a, const std::string& path) {
  if (a < 0 || a > v1::IDENTITY || !v1::Activation_IsValid(a))
    return Bad(path, "act", StrCat("unknown activation ", static_cast<int>(a)));
  return absl::OkStatus();
}

absl::Status CheckGroups(bool has, int64_t g, int64_t cin, int64_t cout, const std::string& path) {
  if (!has) return absl::OkStatus();
  if (g <= 0) return Bad(path, "groups", StrCat("must be > 0, got ", g));
  if (cin % g != 0 || cout % g != 0)
    return Bad(path, "groups", StrCat(g, " does not divide in_channels ", cin, " and out_channels ", cout));
  return absl::OkStatus();
}

absl::Status CheckField(const BlockTraits& t, const FieldTraits& f, const Message& m, const Shape& in,
                        const std::string& p) {
  const bool has = Present(m, f);
  const Reflection* r = m.GetReflection();
  switch (f.check) {
    case FieldCheck::kNone:
      return absl::OkStatus();
    case FieldCheck::kChannels: {
      const int64_t v = EffectiveInt(t, m, f);
      if (v <= 0) return Bad(p, f.name, StrCat("must be > 0, got ", v));
      if (v > kMaxChannels) return Bad(p, f.name, StrCat("must be <= ", kMaxChannels, ", got ", v));
      return absl::OkStatus();
    }
    case FieldCheck::kChannelsIn: {
      const int64_t v = IntValue(m, f);
      if (v <= 0 || v > kMaxChannels)
        return Bad(p, f.name, StrCat("must be in 1..", kMaxChannels, ", got ", v));
      return absl::OkStatus();
    }
    case FieldCheck::kKernel:
    case FieldCheck::kKernelOr1: {
      if (!has) return absl::OkStatus();
      const bool allow_one = f.check == FieldCheck::kKernelOr1;
      const int64_t v = IntValue(m, f);
      if ((allow_one && v == 1) || v == 3 || v == 5 || v == 7) return absl::OkStatus();
      return Bad(p, f.name, StrCat("must be ", allow_one ? "1, " : "", "3, 5 or 7, got ", v));
    }
    case FieldCheck::kStride: {
      const int64_t v = IntValue(m, f);
      if (has && v != 1 && v != 2) return Bad(p, f.name, StrCat("must be 1 or 2, got ", v));
      return absl::OkStatus();
    }
    case FieldCheck::kGroups: {
      const FieldTraits* out = t.At(t.out_index);
      return CheckGroups(has, IntValue(m, f), in.c, out ? IntValue(m, *out) : in.c, p);
    }
    case FieldCheck::kGroupsMid: {
      const FieldTraits* mid = t.At(t.mid_index);
      const int64_t mc = mid ? EffectiveInt(t, m, *mid) : in.c;
      return CheckGroups(has, IntValue(m, f), mc, mc, p);
    }
    case FieldCheck::kRange: {
      const int64_t v = IntValue(m, f);
      if (has && (v < f.lo || v > f.hi))
        return Bad(p, f.name, StrCat("must be in ", f.lo, "..", f.hi, ", got ", v));
      return absl::OkStatus();
    }
    case FieldCheck::kUnit: {
      const double v = r->GetDouble(m, f.fd);
      if (has && !(v > 0.0 && v <= 1.0)) return Bad(p, f.name, StrCat("must be in (0, 1], got ", v));
      return absl::OkStatus();
    }
    case FieldCheck::kEnumValid: {
      const int v = r->GetEnumValue(m, f.fd);
      if (f.fd->enum_type()->FindValueByNumber(v) == nullptr)
        return Bad(p, f.name, StrCat("unknown value ", v));
      return absl::OkStatus();
    }
    case FieldCheck::kAct:
      return CheckAct(static_cast<v1::Activation>(r->GetEnumValue(m, f.fd)), p);
    case FieldCheck::kHidden: {
      if (!has) return absl::OkStatus();
      const int64_t v = IntValue(m, f);
      if (v < 1 || v > kMaxChannels)
        return Bad(p, f.name, StrCat("must be in 1..", kMaxChannels, ", got ", v));
      const FieldTraits* other = t.At(f.unless_index);
      if (other && Present(m, *other))
        return Bad(p, f.name, StrCat("cannot be set together with ", f.unless, " (give one of them)"));
      return absl::OkStatus();
    }
    case FieldCheck::kSe:
      if (!has) return absl::OkStatus();
      return ValidateSe(static_cast<const v1::SqueezeExcite&>(r->GetMessage(m, f.fd)),
                        StrCat(p, ".", f.name));
  }
  return absl::OkStatus();
}

}  // namespace

const FieldTraits* BlockTraits::Field(const char* field) const {
  for (const FieldTraits& f : fields)
    if (std::strcmp(f.name, field) == 0) return &f;
  return nullptr;
}

const std::vector<BlockTraits>& AllBlockTraits() { return GetTable().rows; }

const BlockTraits* TraitsOf(const v1::Block& b) {
  const auto& by_case = GetTable().by_case;
  const int n = static_cast<int>(b.kind_case());
  return n > 0 && n < static_cast<int>(by_case.size()) ? by_case[n] : nullptr;
}

const BlockTraits* TraitsOf(v1::BlockType type) {
  if (type == v1::BLOCK_TYPE_UNSPECIFIED) return nullptr;
  for (const BlockTraits& t : AllBlockTraits())
    if (t.type == type) return &t;
  return nullptr;
}

const BlockTraits* TraitsByName(const std::string& name) {
  for (const BlockTraits& t : AllBlockTraits())
    if (name == t.name) return &t;
  return nullptr;
}

const Message& BlockMessage(const v1::Block& b, const BlockTraits& t) {
  return v1::Block::GetReflection()->GetMessage(b, t.oneof_fd);
}

Message* MutableBlockMessage(v1::Block* b, const BlockTraits& t) {
  return v1::Block::GetReflection()->MutableMessage(b, t.oneof_fd);
}

absl::Status CheckBlockFields(const BlockTraits& t, const Message& m, const Shape& in,
                              const std::string& path) {
  for (int i : t.check_sequence)
    if (auto st = i < 0 ? t.extra(m, in, path) : CheckField(t, t.fields[i], m, in, path); !st.ok()) return st;
  return absl::OkStatus();
}

int OutChannelsOf(const BlockTraits& t, const Message& m, int in_c) {
  const FieldTraits* out = t.At(t.out_index);
  return out ? static_cast<int>(IntValue(m, *out)) : in_c;
}

int StrideOfBlock(const BlockTraits& t, const Message& m) {
  const FieldTraits* s = t.At(t.stride_index);
  if (s == nullptr) return 1;
  return Present(m, *s) ? static_cast<int>(IntValue(m, *s)) : static_cast<int>(s->dflt);
}

void FillBlockDefaults(const BlockTraits& t, Message* m) {
  const Reflection* r = m->GetReflection();
  for (const FieldTraits& f : t.fields) {
    if (f.kind == KeyKind::kAct) {
      if (r->GetEnumValue(*m, f.fd) == v1::ACTIVATION_UNSPECIFIED) r->SetEnumValue(m, f.fd, t.default_act);
      continue;
    }
    if (f.kind == KeyKind::kSe) {
      if (!r->HasField(*m, f.fd)) continue;
      auto* se = static_cast<v1::SqueezeExcite*>(r->MutableMessage(m, f.fd));
      *se = CanonicalSe(*se);
      if (f.bit_fd) r->SetBool(m, f.bit_fd, true);
      if (f.clear_if_default && IsDefaultSe(*se)) r->ClearField(m, f.fd);
      continue;
    }
    if (!f.has_default) continue;
    if (const FieldTraits* other = t.At(f.unless_index)) {
      if (Present(*m, *other)) {
        r->ClearField(m, f.fd);
        continue;
      }
    }
    switch (f.fd->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        if (!r->HasField(*m, f.fd))
          r->SetInt32(
              m, f.fd,
              f.default_out_div > 0 ? static_cast<int>(EffectiveInt(t, *m, f)) : static_cast<int>(f.dflt));
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        if (!r->HasField(*m, f.fd)) r->SetDouble(m, f.fd, f.dflt);
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        if (r->GetEnumValue(*m, f.fd) == 0) r->SetEnumValue(m, f.fd, static_cast<int>(f.dflt));
        break;
      default:
        break;
    }
  }
}

}  // namespace lutnas::space
