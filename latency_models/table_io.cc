#include "latency_models/table_io.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/json_util.h"

#include "base/status_macros.h"
#include "latency_models/correction.h"
#include "latency_models/ofa_import.h"
#include "space/space.h"

namespace lutnas::latency {
namespace {

using absl::StrAppend;
using absl::StrCat;

const char* kColumns[] = {"key", "median_ms", "iqr_ms", "p10_ms", "p90_ms", "samples", "status", "error"};

absl::Status LineError(int line, const std::string& field, const std::string& msg) {
  return absl::InvalidArgumentError(StrCat("line ", line, ": ", field, ": ", msg));
}

// Splits a CSV line, honouring "quoted, fields" with "" escapes.
std::vector<std::string> SplitCsv(const std::string& line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"')
        out.back() += '"', ++i;
      else if (c == '"')
        quoted = false;
      else
        out.back() += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

// Doubles print with enough digits to round-trip exactly.
std::string Num(double v) { return absl::StrFormat("%.9g", v); }

}  // namespace

bool ValidHardwareName(const std::string& n) {
  if (n.empty() || n.size() > 64) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i > 0 && (c == '.' || c == '_' || c == '-'));
    if (!ok) return false;
  }
  return true;
}

absl::Status ValidateEntry(const v1::LatencyEntry& e, const std::string& where) {
  auto err = [&](const char* field, const std::string& msg) {
    return absl::InvalidArgumentError(StrCat(where, ": ", field, ": ", msg));
  };
  auto key = space::ParseKey(e.key());
  if (!key.ok()) return err("key", std::string(key.status().message()));
  if (e.status() == v1::ENTRY_FAILED) {
    if (e.error().empty()) return err("error", "a failed entry must say why");
    return absl::OkStatus();
  }
  if (e.status() == v1::ENTRY_CPU_FALLBACK) {  // median_ms optional: 0 = not timed
    if (e.error().empty()) return err("error", "a cpu_fallback entry must name the operators");
    if (!std::isfinite(e.median_ms()) || e.median_ms() < 0)
      return err("median_ms", StrCat("must be a finite number >= 0, got ", e.median_ms()));
    return absl::OkStatus();
  }
  if (e.status() != v1::ENTRY_MEASURED) return err("status", "must be measured, failed or cpu_fallback");
  if (!std::isfinite(e.median_ms()) || e.median_ms() <= 0)
    return err("median_ms", StrCat("must be a finite number > 0, got ", e.median_ms()));
  for (auto [name, v] :
       {std::pair<const char*, double>{"iqr_ms", e.iqr_ms()}, {"p10_ms", e.p10_ms()}, {"p90_ms", e.p90_ms()}})
    if (!std::isfinite(v) || v < 0) return err(name, StrCat("must be a finite number >= 0, got ", v));
  if (e.samples() < 1) return err("samples", StrCat("must be >= 1, got ", e.samples()));
  // Percentiles, when given (0 = unknown), must be ordered p10 <= median <= p90.
  const double tol = 1e-9 * e.median_ms();
  if (e.p10_ms() > 0 && e.p10_ms() > e.median_ms() + tol)
    return err("p10_ms", StrCat("must be <= median_ms (", e.median_ms(), "), got ", e.p10_ms()));
  if (e.p90_ms() > 0 && e.p90_ms() + tol < e.median_ms())
    return err("p90_ms", StrCat("must be >= median_ms (", e.median_ms(), "), got ", e.p90_ms()));
  return absl::OkStatus();
}

absl::Status ValidateCorrection(const v1::Correction& c, const std::string& field) {
  return CheckCorrectionFields(c, field);  // latency_models/correction.h
}

absl::Status ValidateTableInfo(const v1::TableInfo& i) {
  auto bad = [](const char* f, const std::string& why) {
    return absl::InvalidArgumentError(StrCat("info.", f, ": ", why));
  };
  if (!ValidHardwareName(i.hardware()))
    return bad("hardware",
               StrCat("must match [a-z0-9][a-z0-9._-]{0,63}, got '", i.hardware().substr(0, 80), "'"));
  if (i.threads() < 0 || i.threads() > 4096)
    return bad("threads", StrCat("must be in 0..4096, got ", i.threads()));
  if (!std::isfinite(i.reference_ms()) || i.reference_ms() < 0)
    return bad("reference_ms", StrCat("must be a finite number >= 0, got ", i.reference_ms()));
  for (auto [name, v] : {std::pair<const char*, const std::string*>{"backend", &i.backend()},
                         {"precision", &i.precision()},
                         {"tool", &i.tool()},
                         {"space", &i.space()},
                         {"source", &i.source()}})
    if (v->size() > 1024) return bad(name, "longer than 1024 characters");
  return ValidateCorrection(i.correction(), "info.correction");
}

absl::Status ValidateTable(const v1::LatencyTable& t) {
  RETURN_IF_ERROR(ValidateTableInfo(t.info()));
  // The correction must be safe over this table's own range.
  RETURN_IF_ERROR(CheckCorrection(t.info().correction(), "info.correction", TableSumRange(t)));
  if (t.entries_size() == 0) return absl::InvalidArgumentError("entries: a table needs at least one entry");
  if (static_cast<size_t>(t.entries_size()) > kMaxTableEntries)
    return absl::InvalidArgumentError(StrCat("entries: more than ", kMaxTableEntries, " entries"));
  std::map<std::string, int> seen;
  for (int i = 0; i < t.entries_size(); ++i) {
    RETURN_IF_ERROR(ValidateEntry(t.entries(i), StrCat("entries[", i, "]")));
    auto [it, fresh] = seen.emplace(t.entries(i).key(), i);
    if (!fresh)
      return absl::InvalidArgumentError(
          StrCat("entries[", i, "]: key: duplicate of entries[", it->second, "]"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::LatencyTable> ParseTableCsv(const std::string& content, const std::string& hardware) {
  v1::LatencyTable t;
  auto* info = t.mutable_info();
  std::vector<int> col(8, -1);
  int header_cols = 0;
  bool header = false;
  std::map<std::string, int> seen;
  int line_no = 0;
  for (absl::string_view raw : absl::StrSplit(content, '\n')) {
    ++line_no;
    std::string line(absl::StripTrailingAsciiWhitespace(raw));
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::string c(absl::StripAsciiWhitespace(line.substr(1)));
      const size_t colon = c.find(':');
      if (colon == std::string::npos) continue;
      const std::string k(absl::StripAsciiWhitespace(c.substr(0, colon)));
      const std::string v(absl::StripAsciiWhitespace(c.substr(colon + 1)));
      if (k == "hardware")
        info->set_hardware(v);
      else if (k == "backend")
        info->set_backend(v);
      else if (k == "precision")
        info->set_precision(v);
      else if (k == "tool")
        info->set_tool(v);
      else if (k == "space")
        info->set_space(v);
      else if (k == "source")
        info->set_source(v);
      else if (k == "threads") {
        int n;
        if (!absl::SimpleAtoi(v, &n) || n < 0) return LineError(line_no, "threads", "not a count");
        info->set_threads(n);
      } else if (k == "correction") {
        auto* c = info->mutable_correction();
        for (absl::string_view kv : absl::StrSplit(v, ' ', absl::SkipEmpty())) {
          std::vector<std::string> p = absl::StrSplit(kv, '=');
          if (p.size() == 2 && p[0] == "method") {  // provenance (correction.h)
            c->set_method(p[1]);
            continue;
          }
          double d;
          if (p.size() != 2 || !absl::SimpleAtod(p[1], &d) || !std::isfinite(d))
            return LineError(line_no, "correction",
                             StrCat("malformed '", std::string(kv).substr(0, 40), "'"));
          if (p[0] == "scale")
            c->set_scale(d);
          else if (p[0] == "offset_ms")
            c->set_offset_ms(d);
          else if (p[0] == "fitted_on")
            c->set_fitted_on(d >= 0 && d < 1e9 ? static_cast<int>(d) : 0);
          else if (p[0] == "mape_before")
            c->set_mape_before(d);
          else if (p[0] == "mape_after")
            c->set_mape_after(d);
          else if (p[0] == "fitted_unix_ms")
            c->set_fitted_unix_ms(d >= 0 && d < 9e15 ? static_cast<int64_t>(d) : 0);
          else if (p[0] == "reference_drift")
            c->set_reference_drift(d);
          else if (p[0] == "seed")
            c->set_seed(d >= 0 && d < 1.8e19 ? static_cast<uint64_t>(d) : 0);
          else if (p[0] == "range_min_ms")
            c->set_range_min_ms(d);
          else if (p[0] == "range_max_ms")
            c->set_range_max_ms(d);
          else if (p[0] == "half_rel_diff")
            c->set_half_rel_diff(d);
          else if (p[0] == "accepted_noisy")
            c->set_accepted_noisy(d != 0);
          else if (p[0] == "key_ms_per_mparam")
            c->set_key_ms_per_mparam(d);
          else if (p[0] == "key_overhead_ms")
            c->set_key_overhead_ms(d);
          else if (absl::StartsWith(p[0], "factor.") && p[0].size() > 7)  // type_factors
            (*c->mutable_type_factors())[p[0].substr(7)] = d;
        }
        if (!(c->scale() > 0)) return LineError(line_no, "correction", "scale must be > 0");
      } else if (k == "reference_ms") {
        double d;
        if (!absl::SimpleAtod(v, &d) || !std::isfinite(d) || d < 0)
          return LineError(line_no, "reference_ms", "not a finite number >= 0");
        info->set_reference_ms(d);
      }
      continue;
    }
    std::vector<std::string> f = line.find('"') != std::string::npos
                                     ? SplitCsv(line)
                                     : std::vector<std::string>(absl::StrSplit(line, ','));
    if (!header) {
      for (size_t i = 0; i < f.size(); ++i)
        for (int c = 0; c < 8; ++c)
          if (absl::StripAsciiWhitespace(f[i]) == kColumns[c]) col[c] = i;
      for (int c = 0; c < 6; ++c)
        if (col[c] < 0) return LineError(line_no, "header", StrCat("missing column '", kColumns[c], "'"));
      header_cols = static_cast<int>(f.size());
      header = true;
      continue;
    }
    // Keys contain commas: the key runs up to the field holding its
    // '@CxHxW' shape; the other columns follow.
    const int ncols = header_cols;
    if (col[0] != 0) return LineError(line_no, "header", "key must be the first column");
    int extra = -1;
    for (size_t i = 0; i < f.size() && extra < 0; ++i)
      if (f[i].find('@') != std::string::npos) extra = static_cast<int>(i);
    if (extra < 0) return LineError(line_no, "key", "missing '@CxHxW' input shape");
    if (static_cast<int>(f.size()) - extra != ncols)
      return LineError(line_no, "line",
                       StrCat("expected ", ncols, " columns, got ", static_cast<int>(f.size()) - extra));
    std::string key = f[0];
    for (int i = 1; i <= extra; ++i) StrAppend(&key, ",", f[i]);
    auto field = [&](int c) -> std::string {
      return col[c] < 0 ? "" : std::string(absl::StripAsciiWhitespace(f[col[c] + extra]));
    };
    if (static_cast<size_t>(t.entries_size()) >= kMaxTableEntries)
      return LineError(line_no, "line", StrCat("more than ", kMaxTableEntries, " entries"));
    v1::LatencyEntry e;
    e.set_key(std::string(absl::StripAsciiWhitespace(key)));
    const std::string status = field(6);
    if (status.empty() || status == "measured")
      e.set_status(v1::ENTRY_MEASURED);
    else if (status == "failed")
      e.set_status(v1::ENTRY_FAILED);
    else if (status == "cpu_fallback")
      e.set_status(v1::ENTRY_CPU_FALLBACK);
    else
      return LineError(line_no, "status",
                       StrCat("must be measured, failed or cpu_fallback, got '", status.substr(0, 40), "'"));
    e.set_error(field(7));
    const char* dnames[] = {"median_ms", "iqr_ms", "p10_ms", "p90_ms"};
    for (int c = 1; c <= 4; ++c) {
      const std::string v = field(c);
      double d = 0;
      if (v.empty() && (c > 1 || e.status() != v1::ENTRY_MEASURED)) continue;
      if (!absl::SimpleAtod(v, &d))
        return LineError(line_no, dnames[c - 1], StrCat("not a number: '", v.substr(0, 40), "'"));
      if (c == 1) e.set_median_ms(d);
      if (c == 2) e.set_iqr_ms(d);
      if (c == 3) e.set_p10_ms(d);
      if (c == 4) e.set_p90_ms(d);
    }
    int samples = 0;
    if (!absl::SimpleAtoi(field(5), &samples) && e.status() == v1::ENTRY_MEASURED)
      return LineError(line_no, "samples", StrCat("not an integer: '", field(5).substr(0, 40), "'"));
    e.set_samples(samples);
    RETURN_IF_ERROR(ValidateEntry(e, StrCat("line ", line_no)));
    auto [it, fresh] = seen.emplace(e.key(), line_no);
    if (!fresh) return LineError(line_no, "key", StrCat("duplicate of line ", it->second));
    *t.add_entries() = std::move(e);
  }
  if (!header) return absl::InvalidArgumentError("line 1: header: no header line found");
  if (!hardware.empty()) {
    if (info->hardware().empty()) info->set_hardware(hardware);
    if (info->hardware() != hardware)
      return absl::InvalidArgumentError(
          StrCat("hardware: the file is for '", info->hardware(), "', not '", hardware, "'"));
  }
  if (t.entries_size() == 0) return absl::InvalidArgumentError("entries: the file has no entries");
  return t;
}

std::string WriteTableCsv(const v1::LatencyTable& t) {
  const auto& i = t.info();
  std::string s = "# lutnas latency table v1\n";
  StrAppend(&s, "# hardware: ", i.hardware(), "\n");
  if (i.version()) StrAppend(&s, "# version: ", i.version(), "\n");
  if (!i.backend().empty()) StrAppend(&s, "# backend: ", i.backend(), "\n");
  if (!i.precision().empty()) StrAppend(&s, "# precision: ", i.precision(), "\n");
  if (i.threads()) StrAppend(&s, "# threads: ", i.threads(), "\n");
  if (!i.tool().empty()) StrAppend(&s, "# tool: ", i.tool(), "\n");
  if (!i.space().empty()) StrAppend(&s, "# space: ", i.space(), "\n");
  if (!i.source().empty()) StrAppend(&s, "# source: ", i.source(), "\n");
  if (i.reference_ms() > 0) StrAppend(&s, "# reference_ms: ", Num(i.reference_ms()), "\n");
  if (i.correction().scale() > 0) {
    const auto& c = i.correction();
    StrAppend(&s, "# correction: scale=", Num(c.scale()), " offset_ms=", Num(c.offset_ms()),
              " fitted_on=", c.fitted_on(), " mape_before=", Num(c.mape_before()),
              " mape_after=", Num(c.mape_after()));
    if (c.fitted_unix_ms()) StrAppend(&s, " fitted_unix_ms=", c.fitted_unix_ms());
    if (c.reference_drift()) StrAppend(&s, " reference_drift=", Num(c.reference_drift()));
    if (c.seed()) StrAppend(&s, " seed=", c.seed());
    if (!c.method().empty() && c.method().find_first_of(" \n=") == std::string::npos)
      StrAppend(&s, " method=", c.method());
    if (c.range_min_ms()) StrAppend(&s, " range_min_ms=", Num(c.range_min_ms()));
    if (c.range_max_ms()) StrAppend(&s, " range_max_ms=", Num(c.range_max_ms()));
    if (c.half_rel_diff()) StrAppend(&s, " half_rel_diff=", Num(c.half_rel_diff()));
    if (c.accepted_noisy()) StrAppend(&s, " accepted_noisy=1");
    if (c.key_ms_per_mparam()) StrAppend(&s, " key_ms_per_mparam=", Num(c.key_ms_per_mparam()));
    if (c.key_overhead_ms()) StrAppend(&s, " key_overhead_ms=", Num(c.key_overhead_ms()));
    // Sorted: the same correction writes the same file.
    const std::map<std::string, double> factors(c.type_factors().begin(), c.type_factors().end());
    for (const auto& [type, f] : factors) StrAppend(&s, " factor.", type, "=", Num(f));
    s += "\n";
  }
  s += "key,median_ms,iqr_ms,p10_ms,p90_ms,samples,status,error\n";
  for (const auto& e : t.entries()) {
    std::string err = e.error();
    for (char& c : err)
      if (c == ',' || c == '\n' || c == '\r')
        c = ';';
      else if (c == '"')
        c = '\'';
    if (e.status() == v1::ENTRY_FAILED)
      StrAppend(&s, e.key(), ",,,,,", e.samples(), ",failed,", err, "\n");
    else if (e.status() == v1::ENTRY_CPU_FALLBACK)
      StrAppend(&s, e.key(), ",", e.median_ms() > 0 ? Num(e.median_ms()) : "", ",,,,", e.samples(),
                ",cpu_fallback,", err, "\n");
    else
      StrAppend(&s, e.key(), ",", Num(e.median_ms()), ",", Num(e.iqr_ms()), ",", Num(e.p10_ms()), ",",
                Num(e.p90_ms()), ",", e.samples(), ",measured,\n");
  }
  return s;
}

absl::StatusOr<v1::LatencyTable> ParseTableJson(const std::string& content, const std::string& hardware) {
  v1::LatencyTable t;
  auto st = google::protobuf::util::JsonStringToMessage(content, &t);
  if (!st.ok()) return absl::InvalidArgumentError(StrCat("table: invalid JSON: ", st.message().as_string()));
  if (!hardware.empty()) {
    if (t.info().hardware().empty()) t.mutable_info()->set_hardware(hardware);
    if (t.info().hardware() != hardware)
      return absl::InvalidArgumentError(
          StrCat("info.hardware: the file is for '", t.info().hardware(), "', not '", hardware, "'"));
  }
  for (auto& e : *t.mutable_entries())
    if (e.status() == v1::ENTRY_STATUS_UNSPECIFIED) e.set_status(v1::ENTRY_MEASURED);
  RETURN_IF_ERROR(ValidateTable(t));
  return t;
}

std::string WriteTableJson(const v1::LatencyTable& t) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = true;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(t, &out, o);
  return out;
}

absl::StatusOr<v1::LatencyTable> ParseTable(const std::string& content, const std::string& format,
                                            const std::string& hardware, std::vector<std::string>* unmapped) {
  if (format.empty() || format == "csv") {
    ASSIGN_OR_RETURN(auto t, ParseTableCsv(content, hardware));
    RETURN_IF_ERROR(ValidateTable(t));
    return t;
  }
  if (format == "json") return ParseTableJson(content, hardware);
  if (format == "ofa") {
    if (hardware.empty()) return absl::InvalidArgumentError("hardware: is required for OFA tables");
    ASSIGN_OR_RETURN(auto t, ParseOfaYaml(content, hardware, unmapped));
    RETURN_IF_ERROR(ValidateTable(t));
    return t;
  }
  return absl::InvalidArgumentError(
      StrCat("format: must be csv, json or ofa, got '", format.substr(0, 40), "'"));
}

}  // namespace lutnas::latency
