#include "core/hardware_catalogue.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"

#include "base/file.h"
#include "base/status_macros.h"
#include "lutnas/v1/service.pb.h"
#include "space/arch_util.h"

namespace lutnas::core {

absl::Status SeedHardwareCatalogue(Storage* store, const std::string& path) {
  ASSIGN_OR_RETURN(auto existing, store->ListHardware());
  if (!existing.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::string json, base::ReadFileToString(path));
  v1::ListHardwareResponse list;
  google::protobuf::util::JsonParseOptions o;
  o.ignore_unknown_fields = true;  // "_comment"
  auto st = google::protobuf::util::JsonStringToMessage(json, &list, o);
  if (!st.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", st.message().as_string()));
  for (const auto& hw : list.hardware()) {
    auto put = store->PutHardware(hw, false);
    if (!put.ok() && put.code() != absl::StatusCode::kAlreadyExists)
      return absl::Status(put.code(), absl::StrCat(path, ": ", hw.name(), ": ", put.message()));
  }
  return absl::OkStatus();
}

absl::Status CheckSpecPriorFields(const v1::Hardware& hw) {
  auto bad = [](const std::string& field, const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("hardware.", field, ": ", why));
  };
  if (hw.efficiency_size() > 8) return bad("efficiency", "at most 8 entries");
  for (int i = 0; i < hw.efficiency_size(); ++i) {
    const auto& e = hw.efficiency(i);
    const std::string f = absl::StrCat("efficiency[", i, "]");
    const std::string& c = e.op_class();
    if (!c.empty() && c != "conv" && c != "dwconv" && c != "other")
      return bad(f + ".op_class",
                 absl::StrCat("must be \"\", conv, dwconv or other, got '", c.substr(0, 40), "'"));
    for (auto [name, v] :
         {std::pair<const char*, double>{"compute", e.compute()}, {"bandwidth", e.bandwidth()}})
      if (!std::isfinite(v) || v <= 0 || v > 1)
        return bad(absl::StrCat(f, ".", name),
                   absl::StrCat("must be a fraction of the peak in (0, 1], got ", v));
  }
  if (hw.published_size() > 64) return bad("published", "at most 64 figures");
  for (int i = 0; i < hw.published_size(); ++i) {
    const auto& p = hw.published(i);
    const std::string f = absl::StrCat("published[", i, "]");
    if (!std::isfinite(p.latency_ms()) || p.latency_ms() <= 0)
      return bad(f + ".latency_ms", absl::StrCat("must be a finite number > 0, got ", p.latency_ms()));
    if (p.network().empty() || p.network().size() > 64 || p.network().find('/') != std::string::npos)
      return bad(f + ".network", "must name a zoo model (models/NAME.json), 1..64 characters, no '/'");
    if (p.batch() < 0) return bad(f + ".batch", absl::StrCat("must be >= 0, got ", p.batch()));
    for (auto [name, v] : {std::pair<const char*, const std::string*>{"source", &p.source()},
                           {"runtime", &p.runtime()},
                           {"note", &p.note()},
                           {"precision", &p.precision()}})
      if (v->size() > 1024) return bad(absl::StrCat(f, ".", name), "longer than 1024 characters");
  }
  const double pen = hw.cpu_fallback_penalty();
  if (!std::isfinite(pen) || pen < 0 || (pen > 0 && pen < 1) || pen > 1000)
    return bad("cpu_fallback_penalty", absl::StrCat("must be 0 (default 4) or in [1, 1000], got ", pen));
  return absl::OkStatus();
}

}  // namespace lutnas::core
