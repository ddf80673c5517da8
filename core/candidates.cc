#include "core/candidates.h"

#include <string>

#include "absl/strings/str_cat.h"

#include "core/predict.h"
#include "latency_models/export_pytorch.h"
#include "space/arch_util.h"

namespace lutnas::core {
namespace {

using absl::StrCat;

absl::Status PositiveId(const char* field, int64_t v) {
  return absl::InvalidArgumentError(StrCat(field, ": must be > 0, got ", v));
}

// Fills out with `arch` as `fmt` in a file named stem + extension; `onnx_note`
// adds where ONNX comes from to the unknown-format message.
absl::Status Render(const v1::Architecture& arch, const std::string& format, const std::string& stem,
                    bool onnx_note, v1::ExportCandidateResponse* out) {
  const std::string fmt = format.empty() ? "pytorch" : format;
  if (fmt == "pytorch") {
    out->set_content(latency::ExportPyTorch(arch));
    out->set_filename(stem + ".py");
  } else if (fmt == "json") {
    out->set_content(space::ArchitectureToJson(arch));
    out->set_filename(stem + ".json");
  } else {
    return absl::InvalidArgumentError(StrCat("format: must be pytorch or json, got '", fmt.substr(0, 40), "'",
                                             onnx_note ? " (onnx is made client-side)" : ""));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::ListCandidatesResponse> ListCandidates(Storage* store,
                                                          const v1::ListCandidatesRequest& r) {
  if (r.job_id() > 0 && !store->GetJob(r.job_id()).ok())
    return absl::NotFoundError(StrCat("job_id: job ", r.job_id(), " not found"));
  if (!r.hardware().empty() && !store->GetHardware(r.hardware()).ok())
    return absl::NotFoundError(StrCat("hardware: '", r.hardware().substr(0, 64), "' is not registered"));
  auto page = store->ListCandidates(r);
  if (!page.ok()) return page.status();
  v1::ListCandidatesResponse out;
  for (auto& c : page->candidates) *out.add_candidates() = std::move(c);
  out.set_next_page_token(page->next_page_token);
  out.set_total(page->total);
  return out;
}

absl::StatusOr<v1::Candidate> GetCandidate(Storage* store, Catalog* catalog, int64_t id) {
  if (id <= 0) return PositiveId("id", id);
  auto c = store->GetCandidate(id);
  if (!c.ok()) return c.status();
  AddBreakdowns(catalog, &*c);
  return c;
}

absl::StatusOr<v1::ExportCandidateResponse> ExportCandidate(Storage* store,
                                                            const v1::ExportCandidateRequest& r) {
  v1::ExportCandidateResponse out;
  if (r.has_arch()) {
    // An architecture given inline (a candidate from Ask has no id yet).
    if (r.id() != 0) return absl::InvalidArgumentError("arch: give either id or arch, not both");
    auto arch = CheckArch(r.arch(), "arch");
    if (!arch.ok()) return arch.status();
    const std::string stem = StrCat("arch_", space::ArchHash(*arch).substr(0, 12));
    if (auto st = Render(*arch, r.format(), stem, /*onnx_note=*/false, &out); !st.ok()) return st;
    return out;
  }
  if (r.id() <= 0) return PositiveId("id", r.id());
  auto c = store->GetCandidate(r.id());
  if (!c.ok()) return c.status();
  if (auto st = Render(c->arch(), r.format(), StrCat("candidate_", c->id()), /*onnx_note=*/true, &out);
      !st.ok())
    return st;
  return out;
}

}  // namespace lutnas::core
