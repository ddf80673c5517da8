#include "core/registry.h"

#include <cmath>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

#include "core/hardware_catalogue.h"
#include "latency_models/correction.h"
#include "latency_models/table_io.h"

namespace lutnas::core {
namespace {

using absl::StrCat;

// As db quotes names: escaped, at most 80 characters.
std::string Quote(const std::string& s) {
  constexpr size_t kMax = 80;
  std::string out = StrCat("'", absl::CHexEscape(s.substr(0, kMax)), "'");
  if (s.size() > kMax) out += "...";
  return out;
}

}  // namespace

absl::Status CheckHardwareFields(const v1::Hardware& h) {
  for (auto [name, v] :
       {std::pair<const char*, double>{"peak_gops", h.peak_gops()}, {"bandwidth_gbs", h.bandwidth_gbs()}})
    if (!std::isfinite(v) || v < 0)
      return absl::InvalidArgumentError(StrCat("hardware.", name, ": must be finite and >= 0, got ", v));
  if (h.threads() < 0 || h.threads() > 4096)
    return absl::InvalidArgumentError(StrCat("hardware.threads: must be in 0..4096, got ", h.threads()));
  if (h.channel_alignment() < 0 || h.channel_alignment() > 256)
    return absl::InvalidArgumentError(
        StrCat("hardware.channel_alignment: must be in 0..256, got ", h.channel_alignment()));
  for (auto [name, v, max] :
       {std::tuple<const char*, const std::string*, size_t>{"description", &h.description(), 4096},
        {"source", &h.source(), 4096},
        {"backend", &h.backend(), 64},
        {"precision", &h.precision(), 32}})
    if (v->size() > max)
      return absl::InvalidArgumentError(StrCat("hardware.", name, ": longer than ", max, " characters"));
  if (h.precisions_size() > 16) return absl::InvalidArgumentError("hardware.precisions: at most 16 entries");
  for (int i = 0; i < h.precisions_size(); ++i)
    if (h.precisions(i).size() > 32)
      return absl::InvalidArgumentError(StrCat("hardware.precisions[", i, "]: longer than 32 characters"));
  if (auto st = CheckSpecPriorFields(h); !st.ok()) return st;
  // The store checks the name too; checked here it carries its field path.
  if (!latency::ValidHardwareName(h.name()))
    return absl::InvalidArgumentError(
        StrCat("hardware.name: must match [a-z0-9][a-z0-9._-]{0,63}, got ", Quote(h.name())));
  return absl::OkStatus();
}

absl::StatusOr<v1::Hardware> RegisterHardware(Storage* store, Catalog* catalog, const v1::Hardware& h,
                                              bool update) {
  if (auto st = CheckHardwareFields(h); !st.ok()) return st;
  if (auto st = store->PutHardware(h, update); !st.ok()) return st;
  catalog->Invalidate(h.name());
  return store->GetHardware(h.name());
}

absl::Status DeleteHardware(Storage* store, Catalog* catalog, const std::string& name) {
  if (name.empty()) return absl::InvalidArgumentError("name: is required");
  auto st = store->DeleteHardware(name);
  catalog->Invalidate(name);
  return st;
}

absl::StatusOr<v1::TableInfo> AddTable(Storage* store, Catalog* catalog, v1::LatencyTable table,
                                       const std::string& source) {
  if (table.info().source().empty()) table.mutable_info()->set_source(source);
  if (auto st = latency::ValidateTable(table); !st.ok()) return st;
  auto info = store->AddTable(table);
  if (!info.ok()) return info.status();
  catalog->Invalidate(table.info().hardware());
  return info;
}

absl::StatusOr<v1::ImportTableResponse> ImportTable(Storage* store, Catalog* catalog,
                                                    const ImportPolicy& policy,
                                                    const v1::ImportTableRequest& r) {
  std::string content = r.content();
  if (!r.path().empty()) {
    if (!content.empty()) return absl::InvalidArgumentError("path: give either content or path, not both");
    auto data = ReadImportFile(policy.import_dir, r.path(), policy.limits);
    if (!data.ok()) return data.status();
    content = std::move(*data);
  }
  if (content.empty()) return absl::InvalidArgumentError("content: the file is empty");
  if (r.hardware().empty()) return absl::InvalidArgumentError("hardware: is required");
  std::vector<std::string> unmapped;
  auto t = latency::ParseTable(content, r.format(), r.hardware(), &unmapped);
  if (!t.ok()) return t.status();
  t->mutable_info()->set_hardware(r.hardware());
  v1::ImportTableResponse out;
  for (auto& u : unmapped) out.add_unmapped(u);
  auto info =
      AddTable(store, catalog, std::move(*t), StrCat("import:", r.format().empty() ? "csv" : r.format()));
  if (!info.ok()) return info.status();
  *out.mutable_info() = std::move(*info);
  return out;
}

absl::StatusOr<v1::TableInfo> SetCorrection(Storage* store, Catalog* catalog,
                                            const v1::SetCorrectionRequest& r) {
  if (r.hardware().empty()) return absl::InvalidArgumentError("hardware: is required");
  if (auto st = latency::CheckCorrectionFields(r.correction(), "correction", /*required=*/true); !st.ok())
    return st;
  if (r.version() <= 0) return absl::InvalidArgumentError(StrCat("version: must be > 0, got ", r.version()));
  auto info = store->SetCorrection(r.hardware(), r.version(), r.correction());
  if (!info.ok()) return info.status();
  catalog->Invalidate(r.hardware());
  return info;
}

absl::StatusOr<v1::LatencyTable> TableToExport(Storage* store, const v1::ExportTableRequest& r) {
  if (r.hardware().empty()) return absl::InvalidArgumentError("hardware: is required");
  if (r.version() < 0) return absl::InvalidArgumentError(StrCat("version: must be >= 0, got ", r.version()));
  return store->GetTable(r.hardware(), r.version());
}

absl::StatusOr<v1::ListTablesResponse> ListTables(Storage* store, const std::string& hardware) {
  if (!hardware.empty()) {
    auto h = store->GetHardware(hardware);
    if (!h.ok()) return h.status();
  }
  auto l = store->ListTables(hardware);
  if (!l.ok()) return l.status();
  v1::ListTablesResponse out;
  for (auto& i : *l) *out.add_tables() = std::move(i);
  return out;
}

}  // namespace lutnas::core
