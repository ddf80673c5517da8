#include "latency_models/ofa_import.h"

#include <cmath>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

#include "space/space.h"

namespace lutnas::latency {
namespace {

using absl::StrCat;

struct OfaEntry {
  double mean = NAN, var = 0;
  int count = 0;
  int line = 0;
};

struct Hwc {
  int h = 0, w = 0, c = 0;
};

// "112x112x16" (H x W x C) or "1000" (features).
bool ParseHwc(const std::string& s, Hwc* out) {
  std::vector<std::string> p = absl::StrSplit(s, 'x');
  if (p.size() == 1) {
    out->h = out->w = 1;
    return absl::SimpleAtoi(p[0], &out->c);
  }
  return p.size() == 3 && absl::SimpleAtoi(p[0], &out->h) && absl::SimpleAtoi(p[1], &out->w) &&
         absl::SimpleAtoi(p[2], &out->c);
}

// Parses "name-field:value-field:value..." into the name and fields.
std::string SplitKey(const std::string& key, std::map<std::string, std::string>* fields) {
  std::vector<std::string> parts = absl::StrSplit(key, '-');
  for (size_t i = 1; i < parts.size(); ++i) {
    const size_t c = parts[i].find(':');
    if (c != std::string::npos) (*fields)[parts[i].substr(0, c)] = parts[i].substr(c + 1);
  }
  return parts[0];
}

// The YAML of OFA's LUTs: top-level "key:" lines, each followed by indented
// "count: N", "mean: X", "var: Y" lines, or the flow form "key: {count: N, ...}".
absl::StatusOr<std::map<std::string, OfaEntry>> ParseYaml(const std::string& content) {
  std::map<std::string, OfaEntry> out;
  std::string current;
  int line_no = 0;
  auto set_field = [&](OfaEntry& e, const std::string& k, const std::string& v) -> absl::Status {
    double d;
    if (!absl::SimpleAtod(v, &d))
      return absl::InvalidArgumentError(
          StrCat("line ", line_no, ": ", k, ": not a number: '", v.substr(0, 40), "'"));
    if (k == "mean")
      e.mean = d;
    else if (k == "var")
      e.var = d;
    else if (k == "count")
      e.count = std::isfinite(d) && d >= 0 && d < 1e9 ? static_cast<int>(d) : 0;
    return absl::OkStatus();
  };
  for (absl::string_view raw : absl::StrSplit(content, '\n')) {
    ++line_no;
    std::string line(absl::StripTrailingAsciiWhitespace(raw));
    if (line.empty() || absl::StripLeadingAsciiWhitespace(line)[0] == '#') continue;
    const bool indented = line[0] == ' ' || line[0] == '\t';
    std::string body(absl::StripAsciiWhitespace(line));
    if (!indented) {
      const size_t colon = body.find(": ");
      std::string key = body.back() == ':' ? body.substr(0, body.size() - 1)
                                           : (colon == std::string::npos ? "" : body.substr(0, colon));
      if (key.size() >= 2 && (key.front() == '\'' || key.front() == '"')) key = key.substr(1, key.size() - 2);
      if (key.empty()) return absl::InvalidArgumentError(StrCat("line ", line_no, ": expected 'key:'"));
      if (out.count(key))
        return absl::InvalidArgumentError(
            StrCat("line ", line_no, ": key: duplicate '", key.substr(0, 120), "'"));
      current = key;
      out[key].line = line_no;
      if (body.back() != ':') {  // flow mapping
        std::string flow = body.substr(colon + 2);
        if (flow.size() < 2 || flow.front() != '{' || flow.back() != '}')
          return absl::InvalidArgumentError(
              StrCat("line ", line_no, ": expected {count: N, mean: X, var: Y}"));
        for (absl::string_view kv : absl::StrSplit(flow.substr(1, flow.size() - 2), ',')) {
          std::vector<std::string> p = absl::StrSplit(kv, ':');
          if (p.size() != 2)
            return absl::InvalidArgumentError(
                StrCat("line ", line_no, ": malformed '", std::string(kv).substr(0, 40), "'"));
          auto st = set_field(out[key], std::string(absl::StripAsciiWhitespace(p[0])),
                              std::string(absl::StripAsciiWhitespace(p[1])));
          if (!st.ok()) return st;
        }
      }
      continue;
    }
    if (current.empty())
      return absl::InvalidArgumentError(StrCat("line ", line_no, ": value outside any key"));
    const size_t colon = body.find(':');
    if (colon == std::string::npos)
      return absl::InvalidArgumentError(StrCat("line ", line_no, ": expected 'field: value'"));
    auto st = set_field(out[current], body.substr(0, colon),
                        std::string(absl::StripAsciiWhitespace(body.substr(colon + 1))));
    if (!st.ok()) return st;
  }
  for (const auto& [k, e] : out)
    if (!std::isfinite(e.mean) || e.mean <= 0)
      return absl::InvalidArgumentError(
          StrCat("line ", e.line, ": mean: must be a finite number > 0 for '", k.substr(0, 120), "'"));
  return out;
}

}  // namespace

absl::StatusOr<v1::LatencyTable> ParseOfaYaml(const std::string& content, const std::string& hardware,
                                              std::vector<std::string>* unmapped) {
  auto parsed = ParseYaml(content);
  if (!parsed.ok()) return parsed.status();
  // MobileNetV3 tables carry se/hs flags; ProxylessNAS tables use ReLU6.
  bool mbv3 = false;
  for (const auto& [k, e] : *parsed) mbv3 = mbv3 || k.find("-hs:") != std::string::npos;
  const v1::Activation first_act = mbv3 ? v1::HSWISH : v1::RELU6;
  v1::LatencyTable t;
  t.mutable_info()->set_hardware(hardware);
  t.mutable_info()->set_source("import:ofa");
  std::map<std::string, const OfaEntry*> head_parts;
  std::map<std::string, std::string> head_kinds;
  auto add = [&](const std::string& key, const OfaEntry& e) {
    auto* x = t.add_entries();
    x->set_key(key);
    x->set_median_ms(e.mean);  // OFA stores the mean; kept as the table's central value
    const double sd = std::sqrt(std::max(0.0, e.var));
    x->set_iqr_ms(1.349 * sd);  // IQR of a normal with that variance
    x->set_p10_ms(std::max(0.0, e.mean - 1.2816 * sd));
    x->set_p90_ms(e.mean + 1.2816 * sd);
    x->set_samples(std::max(1, e.count));
    x->set_status(v1::ENTRY_MEASURED);
  };
  struct HeadPart {
    Hwc in, out;
    const OfaEntry* e;
  };
  std::vector<HeadPart> conv1, pool, conv2, logits;
  for (const auto& [key, e] : *parsed) {
    std::map<std::string, std::string> f;
    const std::string name = SplitKey(key, &f);
    Hwc in, out;
    if (!ParseHwc(f["input"], &in) || !ParseHwc(f["output"], &out)) {
      unmapped->push_back(key);
      continue;
    }
    if (name == "expanded_conv") {
      int e_ = 0, k = 0, s = 0, id = 0, se = 0, hs = 0;
      if (!absl::SimpleAtoi(f["expand"], &e_) || !absl::SimpleAtoi(f["kernel"], &k) ||
          !absl::SimpleAtoi(f["stride"], &s) || !absl::SimpleAtoi(f["idskip"], &id)) {
        unmapped->push_back(key);
        continue;
      }
      (void)absl::SimpleAtoi(f["se"], &se);
      (void)absl::SimpleAtoi(f["hs"], &hs);
      // MobileNetV3 tables give the hidden width, ProxylessNAS the ratio.
      int ratio = e_;
      if (e_ > 8) ratio = in.c > 0 && e_ % in.c == 0 ? e_ / in.c : -1;
      const bool residual = s == 1 && in.c == out.c;
      v1::Block b;
      auto* m = b.mutable_mbconv();
      m->set_out_channels(out.c);
      m->set_expansion(ratio);
      m->set_kernel(k);
      m->set_stride(s);
      m->set_se(se == 1);
      m->set_act(mbv3 ? (hs ? v1::HSWISH : v1::RELU) : v1::RELU6);
      const std::string lk = space::BlockKey(b, space::Shape{in.c, in.h, in.w});
      if (ratio < 1 || residual != (id == 1) || !space::ParseKey(lk).ok()) {
        unmapped->push_back(key);
        continue;
      }
      add(lk, e);
    } else if (name == "Conv" || name == "first_conv") {
      v1::Block b;
      auto* m = b.mutable_conv();
      m->set_out_channels(out.c);
      m->set_kernel(3);
      m->set_stride(in.h > out.h ? 2 : 1);
      m->set_groups(1);
      m->set_act(first_act);
      const std::string lk = space::BlockKey(b, space::Shape{in.c, in.h, in.w});
      if (!space::ParseKey(lk).ok()) {
        unmapped->push_back(key);
        continue;
      }
      add(lk, e);
    } else if (name == "Conv_1" || name == "final_expand_layer") {
      conv1.push_back({in, out, &e});
    } else if (name == "AvgPool2D") {
      pool.push_back({in, out, &e});
    } else if (name == "Conv_2" || name == "feature_mix_layer") {
      conv2.push_back({in, out, &e});
    } else if (name == "Logits" || name == "classifier") {
      logits.push_back({in, out, &e});
    } else {
      unmapped->push_back(key);
    }
  }
  // Heads: Conv_1 -> AvgPool2D -> [Conv_2] -> Logits, matched by shapes.
  std::vector<bool> used_pool(pool.size()), used_c2(conv2.size()), used_lg(logits.size());
  std::vector<bool> used_c1(conv1.size());
  for (size_t i = 0; i < conv1.size(); ++i) {
    const auto& c1 = conv1[i];
    for (size_t j = 0; j < pool.size(); ++j) {
      if (pool[j].in.c != c1.out.c || pool[j].in.h != c1.out.h) continue;
      int c2 = -1;
      for (size_t k = 0; k < conv2.size(); ++k)
        if (conv2[k].in.c == c1.out.c) c2 = k;
      const int feat = c2 >= 0 ? conv2[c2].out.c : c1.out.c;
      for (size_t l = 0; l < logits.size(); ++l) {
        if (logits[l].in.c != feat) continue;
        v1::Head h;
        h.set_conv_channels(c1.out.c);
        h.set_act(first_act);
        h.set_fc_hidden(c2 >= 0 ? feat : 0);
        h.set_num_classes(logits[l].out.c);
        OfaEntry sum;
        sum.mean = c1.e->mean + pool[j].e->mean + logits[l].e->mean + (c2 >= 0 ? conv2[c2].e->mean : 0);
        sum.var = c1.e->var + pool[j].e->var + logits[l].e->var + (c2 >= 0 ? conv2[c2].e->var : 0);
        sum.count = c1.e->count;
        add(space::HeadKey(h, space::Shape{c1.in.c, c1.in.h, c1.in.w}), sum);
        used_c1[i] = used_pool[j] = used_lg[l] = true;
        if (c2 >= 0) used_c2[c2] = true;
      }
    }
  }
  auto leftovers = [&](const std::vector<HeadPart>& v, const std::vector<bool>& used, const char* name) {
    for (size_t i = 0; i < v.size(); ++i)
      if (!used[i]) unmapped->push_back(StrCat(name, "-input:", v[i].in.h, "x", v[i].in.w, "x", v[i].in.c));
  };
  leftovers(conv1, used_c1, "Conv_1");
  leftovers(pool, used_pool, "AvgPool2D");
  leftovers(conv2, used_c2, "Conv_2");
  leftovers(logits, used_lg, "Logits");
  // Different OFA keys may land on one lutnas key: keep the first.
  std::map<std::string, int> seen;
  v1::LatencyTable dedup;
  *dedup.mutable_info() = t.info();
  for (const auto& e : t.entries())
    if (seen.emplace(e.key(), 1).second) *dedup.add_entries() = e;
  if (dedup.entries_size() == 0)
    return absl::InvalidArgumentError("ofa: no key could be mapped onto a lutnas block");
  return dedup;
}

}  // namespace lutnas::latency
