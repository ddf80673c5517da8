#include "space/keys.h"

#include <cctype>
#include <cmath>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

#include "space/arch_ext.h"
#include "space/block_traits.h"

namespace lutnas::space {
namespace {

using absl::StrAppend;
using absl::StrCat;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Activations in key text, in enum order.
constexpr std::pair<const char*, v1::Activation> kActs[] = {{"relu", v1::RELU},
                                                            {"relu6", v1::RELU6},
                                                            {"hswish", v1::HSWISH},
                                                            {"silu", v1::SILU},
                                                            {"id", v1::IDENTITY}};

bool ParseAct(const std::string& t, v1::Activation* a) {
  for (const auto& [name, act] : kActs)
    if (t == name) {
      *a = act;
      return true;
    }
  return false;
}

v1::Activation Dflt(v1::Activation a, v1::Activation d) { return a == v1::ACTIVATION_UNSPECIFIED ? d : a; }

double Num(const std::map<std::string, double>& num, const char* f, double d) {
  auto it = num.find(f);
  return it == num.end() ? d : it->second;
}

// A key's integer field; absent or out of range: -1, which no check accepts.
int Int(const std::map<std::string, double>& num, const char* f) {
  const double v = Num(num, f, -1);
  return v >= -1e6 && v <= 1e6 ? static_cast<int>(v) : -1;
}

// Squeeze-excite tokens: (token, kind) as written after a block's own tokens.
constexpr std::pair<const char*, const char*> kSeTokens[] = {
    {"sein", "word"}, {"ser", "real"}, {"sed", "int"}, {"sesig", "word"}, {"se", "act_suffix"}};

// Writes one block's text from its row (the block is canonical).
std::string EncodeWithTraits(const BlockTraits& t, const Message& m) {
  const Reflection* r = m.GetReflection();
  std::string s = StrCat(t.name, ":");
  bool first = true;
  auto add = [&](const std::string& tok) {
    StrAppend(&s, first ? "" : ",", tok);
    first = false;
  };
  for (const FieldTraits& f : t.fields) {
    switch (f.kind) {
      case KeyKind::kNone:
        break;
      case KeyKind::kInt:
        if (!f.fd->has_presence() || r->HasField(m, f.fd)) add(StrCat(f.key, r->GetInt32(m, f.fd)));
        break;
      case KeyKind::kReal:
        add(StrCat(f.key, absl::StrFormat("%.4g", r->GetDouble(m, f.fd))));
        break;
      case KeyKind::kBit:
        add(StrCat(f.key, r->GetBool(m, f.fd) ? 1 : 0));
        break;
      case KeyKind::kWord:
        add(f.words[r->GetBool(m, f.fd) ? 1 : 0]);
        break;
      case KeyKind::kEnum: {
        const int v = r->GetEnumValue(m, f.fd);
        add(v >= 1 && v <= static_cast<int>(f.words.size()) ? f.words[v - 1] : f.words[0]);
        break;
      }
      case KeyKind::kSe:
        if (r->HasField(m, f.fd))
          StrAppend(&s, *f.key ? StrCat(",", f.key, "1") : "",
                    EncodeSeTokens(static_cast<const v1::SqueezeExcite&>(r->GetMessage(m, f.fd))));
        break;
      case KeyKind::kAct:
        add(ActName(static_cast<v1::Activation>(r->GetEnumValue(m, f.fd))));
        break;
    }
  }
  return s;
}

// Sets a block's fields from a key's tokens, by its row; checks come after.
void ParseWithTraits(const BlockTraits& t, const std::map<std::string, double>& num,
                     const std::set<std::string>& words, v1::Activation act, Message* m) {
  const Reflection* r = m->GetReflection();
  for (const FieldTraits& f : t.fields) {
    switch (f.kind) {
      case KeyKind::kNone:
        break;
      case KeyKind::kInt: {
        if (f.fd->has_presence() && !f.has_default && !num.count(f.key)) break;  // optional, no default
        const FieldTraits* other = t.At(f.unless_index);
        if (other && other->kind == KeyKind::kInt && num.count(other->key)) break;  // e unless h
        r->SetInt32(m, f.fd, Int(num, f.key));
        break;
      }
      case KeyKind::kReal:
        r->SetDouble(m, f.fd, Num(num, f.key, -1));
        break;
      case KeyKind::kBit:
        r->SetBool(m, f.fd, Int(num, f.key) == 1);
        break;
      case KeyKind::kWord:
        r->SetBool(m, f.fd, words.count(f.words[1]) > 0);
        break;
      case KeyKind::kEnum: {
        int v = static_cast<int>(f.dflt);
        for (int i = static_cast<int>(f.words.size()) - 1; i >= 0; --i)
          if (words.count(f.words[i])) {
            v = i + 1;
            break;
          }
        r->SetEnumValue(m, f.fd, v);
        break;
      }
      case KeyKind::kSe:
        if (*f.key ? Int(num, f.key) == 1 : HasSeTokens(words, num))
          ApplySeTokens(words, num, static_cast<v1::SqueezeExcite*>(r->MutableMessage(m, f.fd)));
        break;
      case KeyKind::kAct:
        r->SetEnumValue(m, f.fd, act);
        break;
    }
  }
}

const char* KindName(KeyKind k) {
  switch (k) {
    case KeyKind::kNone:
      return "none";
    case KeyKind::kInt:
      return "int";
    case KeyKind::kReal:
      return "real";
    case KeyKind::kBit:
      return "bit";
    case KeyKind::kWord:
      return "word";
    case KeyKind::kEnum:
      return "enum";
    case KeyKind::kSe:
      return "se";
    case KeyKind::kAct:
      return "act";
  }
  return "none";
}

std::string Quote(const std::string& s) { return StrCat("\"", s, "\""); }

std::string Token(const std::string& field, const std::string& key, const std::string& kind,
                  const std::string& extra = "") {
  std::string s = StrCat("{\"field\": ", Quote(field));
  if (!key.empty()) StrAppend(&s, ", \"key\": ", Quote(key));
  StrAppend(&s, ", \"kind\": ", Quote(kind), extra, "}");
  return s;
}

}  // namespace

const char* ActName(v1::Activation a) {
  for (const auto& [name, act] : kActs)
    if (a == act) return name;
  return "?";
}

std::string EncodeSeTokens(const v1::SqueezeExcite& c) {
  std::string s;
  if (c.base() == v1::SE_INPUT) StrAppend(&s, ",sein");
  if (c.ratio() != 0.25) StrAppend(&s, ",ser", absl::StrFormat("%.4g", c.ratio()));
  if (c.divisor() != 8) StrAppend(&s, ",sed", c.divisor());
  if (c.gate() == v1::SE_SIGMOID) StrAppend(&s, ",sesig");
  if (c.act() != v1::RELU) StrAppend(&s, ",se", ActName(c.act()));
  return s;
}

bool HasSeTokens(const std::set<std::string>& words, const std::map<std::string, double>& num) {
  for (const char* w : {"sein", "sesig", "serelu6", "sehswish", "sesilu", "seid"})
    if (words.count(w)) return true;
  return num.count("ser") || num.count("sed");
}

void ApplySeTokens(const std::set<std::string>& words, const std::map<std::string, double>& num,
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

std::string EncodeFeatureHead(const v1::Head& h) {
  std::string s = "fhead:s";
  for (int i = 0; i < h.feature_strides_size(); ++i) StrAppend(&s, i ? "-" : "", h.feature_strides(i));
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

std::string EncodeBlock(const v1::Block& raw) {
  const v1::Block b = CanonicalBlock(raw);
  const BlockTraits* t = TraitsOf(b);
  if (t == nullptr) return "none";
  return EncodeWithTraits(*t, BlockMessage(b, *t));
}

std::string EncodeHead(const v1::Head& h) {
  if (IsFeatureHead(h)) return EncodeFeatureHead(h);
  return StrCat("head:c", h.conv_channels(), ",", ActName(Dflt(h.act(), v1::RELU)), ",f", h.fc_hidden(), ",n",
                h.num_classes());
}

std::string BlockKey(const v1::Block& b, const Shape& in) {
  return StrCat(EncodeBlock(b), "@", in.ToString());
}
std::string HeadKey(const v1::Head& h, const Shape& in) { return StrCat(EncodeHead(h), "@", in.ToString()); }

absl::StatusOr<KeySpec> ParseKey(const std::string& key) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(StrCat("key '", key.substr(0, 200), "': ", why));
  };
  if (key.size() > 256) return bad("longer than 256 characters");
  const size_t at = key.find('@');
  if (at == std::string::npos) return bad("missing '@CxHxW' input shape");
  const std::string body = key.substr(0, at);
  std::vector<std::string> dims = absl::StrSplit(key.substr(at + 1), 'x');
  KeySpec ks;
  ks.key = key;
  if (dims.size() != 3 || !absl::SimpleAtoi(dims[0], &ks.in.c) || !absl::SimpleAtoi(dims[1], &ks.in.h) ||
      !absl::SimpleAtoi(dims[2], &ks.in.w))
    return bad("input shape must be CxHxW");
  if (ks.in.c < 1 || ks.in.c > kMaxChannels || ks.in.h < 1 || ks.in.h > kMaxResolution || ks.in.w < 1 ||
      ks.in.w > kMaxResolution)
    return bad("input shape out of range");
  const size_t colon = body.find(':');
  if (colon == std::string::npos) return bad("missing 'type:' prefix");
  const std::string type = body.substr(0, colon);
  if (type == "fhead") {
    ks.is_head = true;
    ks.head.set_act(v1::RELU);
    if (auto st = ParseFeatureHead(body.substr(colon + 1), &ks.head); !st.ok())
      return bad(std::string(st.message()));
    if (HeadKey(ks.head, ks.in) != key) return bad("not in canonical form");
    return ks;
  }
  std::map<std::string, double> num;
  std::set<std::string> words;
  v1::Activation act = v1::ACTIVATION_UNSPECIFIED;
  for (const auto& tok_view : absl::StrSplit(body.substr(colon + 1), ',')) {
    const std::string tok(tok_view);
    if (ParseAct(tok, &act)) continue;
    size_t p = 0;
    while (p < tok.size() && std::isalpha(static_cast<unsigned char>(tok[p]))) ++p;
    if (p == tok.size()) {
      words.insert(tok);
      continue;
    }
    double v;
    if (p == 0 || !absl::SimpleAtod(tok.substr(p), &v) || !std::isfinite(v))
      return bad(StrCat("malformed field '", tok, "'"));
    num[tok.substr(0, p)] = v;
  }
  if (type == "head") {
    ks.is_head = true;
    ks.head.set_conv_channels(Int(num, "c"));
    ks.head.set_act(act);
    ks.head.set_fc_hidden(Int(num, "f"));
    ks.head.set_num_classes(Int(num, "n"));
    if (ks.head.conv_channels() < 0 || ks.head.fc_hidden() < 0 || ks.head.num_classes() < 1)
      return bad("head needs c>=0, f>=0, n>=1");
    if (HeadKey(ks.head, ks.in) != key) return bad("not in canonical form");
    return ks;
  }
  const BlockTraits* t = TraitsByName(type);
  if (t == nullptr) return bad(StrCat("unknown block type '", type.substr(0, 40), "'"));
  v1::Block& b = ks.block;
  ParseWithTraits(*t, num, words, act, MutableBlockMessage(&b, *t));
  Shape out;
  if (auto st = ValidateBlock(b, ks.in, "block", &out); !st.ok()) return bad(std::string(st.message()));
  if (BlockKey(b, ks.in) != key) return bad("not in canonical form");
  ks.block = CanonicalBlock(b);
  return ks;
}

std::string KeyGrammarJson() {
  std::string s = "{\n  \"format\": 1,\n";
  StrAppend(
      &s,
      "  \"note\": \"generated by lutnas-inspect key-grammar from space/block_traits.cc; do not edit\",\n");
  StrAppend(&s,
            "  \"shape\": {\"separator\": \"@\", \"dims\": [\"cin\", \"h\", \"w\"], \"joiner\": \"x\"},\n");
  std::vector<std::string> acts;
  for (const auto& [name, act] : kActs) acts.push_back(Quote(name));
  StrAppend(&s, "  \"activations\": [", absl::StrJoin(acts, ", "), "],\n");
  std::vector<std::string> se;
  for (const auto& [tok, kind] : kSeTokens)
    se.push_back(StrCat("{\"key\": ", Quote(tok), ", \"kind\": ", Quote(kind), "}"));
  StrAppend(&s, "  \"se_tokens\": [", absl::StrJoin(se, ", "), "],\n");
  StrAppend(&s, "  \"heads\": [\n");
  StrAppend(&s, "    {\"type\": \"head\", \"tokens\": [",
            absl::StrJoin({Token("conv_channels", "c", "int"), Token("act", "", "act"),
                           Token("fc_hidden", "f", "int"), Token("num_classes", "n", "int")},
                          ", "),
            "]},\n");
  StrAppend(&s, "    {\"type\": \"fhead\", \"tokens\": [",
            Token("feature_strides", "s", "int_list", ", \"separator\": \"-\""), "]}\n  ],\n");
  StrAppend(&s, "  \"blocks\": [\n");
  const auto& rows = AllBlockTraits();
  for (size_t i = 0; i < rows.size(); ++i) {
    const BlockTraits& t = rows[i];
    std::vector<std::string> toks;
    for (const FieldTraits& f : t.fields) {
      std::string extra;
      if (!f.words.empty()) {
        std::vector<std::string> w;
        for (const char* x : f.words) w.push_back(Quote(x));
        StrAppend(&extra, ", \"words\": [", absl::StrJoin(w, ", "), "]");
      }
      if (f.fd->has_presence() && !f.has_default && f.kind != KeyKind::kSe)
        StrAppend(&extra, ", \"optional\": true");
      if (*f.unless && f.has_default) StrAppend(&extra, ", \"unless\": ", Quote(t.At(f.unless_index)->key));
      toks.push_back(Token(f.name, f.key, KindName(f.kind), extra));
    }
    const std::string type = t.type == v1::BLOCK_TYPE_UNSPECIFIED ? "" : v1::BlockType_Name(t.type);
    StrAppend(&s, "    {\"type\": ", Quote(t.name), ", \"block_type\": ", type.empty() ? "null" : Quote(type),
              ", \"default_act\": ",
              t.default_act == v1::ACTIVATION_UNSPECIFIED ? "null" : Quote(ActName(t.default_act)),
              ",\n     \"tokens\": [", absl::StrJoin(toks, ",\n                "), "]}",
              i + 1 < rows.size() ? ",\n" : "\n");
  }
  StrAppend(&s, "  ]\n}\n");
  return s;
}

}  // namespace lutnas::space
