#include "core/predict.h"

#include <vector>

#include "absl/strings/str_cat.h"

#include "core/field_path.h"
#include "core/limits.h"
#include "core/names.h"
#include "latency_models/correction.h"
#include "latency_models/cost.h"
#include "latency_models/lut.h"
#include "space/arch_util.h"

namespace lutnas::core {

using absl::StrCat;

absl::StatusOr<v1::Architecture> CheckArch(const v1::Architecture& a, const std::string& field) {
  if (a.ByteSizeLong() > space::kMaxJsonBytes)
    return absl::InvalidArgumentError(StrCat(field, ": larger than ", space::kMaxJsonBytes, " bytes"));
  if (auto st = CheckName(a.name(), field + ".name", kMaxArchNameBytes); !st.ok()) return st;
  if (auto st = space::ValidateArchitecture(a); !st.ok()) return InField(st, field + ".");
  v1::Architecture c = space::Canonicalize(a);
  if (auto st = latency::CheckCostsFit(c); !st.ok()) return InField(st, field + ".");
  return c;
}

absl::Status CheckHardwareList(const HardwareList& hw) {
  if (hw.size() > 16) return absl::InvalidArgumentError("hardware: at most 16 hardware names per call");
  return absl::OkStatus();
}

absl::Status PredictChecked(Catalog* catalog, const v1::Architecture& arch, const HardwareList& hardware,
                            bool breakdown, v1::PredictResponse* out, bool places) {
  const latency::NetworkCost nc = latency::AnalyzeNetwork(arch);
  out->set_arch_hash(space::ArchHash(arch));
  out->set_params(nc.total.params);
  out->set_macs(nc.total.macs);
  out->set_mac_bytes(nc.total.mac_bytes);
  std::vector<space::KeySpec> keys;  // with !places: the network's keys, once
  for (int i = 0; i < hardware.size(); ++i) {
    auto p = catalog->Get(hardware[i], 0);
    if (!p.ok()) return InField(p.status(), StrCat("hardware[", i, "]: "));
    auto* pred = out->add_predictions();
    *pred = (*p)->Predict(arch, breakdown);
    // Name what was estimated and how (breakdowns have it already).
    if (breakdown || pred->measured_fraction() >= 1) continue;
    if (places) {
      (*p)->AddEstimates(arch, pred);
    } else {
      // Compact: places counted; the keys are the same on every hardware.
      if (keys.empty()) keys = latency::NetworkKeyList(arch);
      (*p)->AddEstimates(keys, pred);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::PredictResponse> Predict(Catalog* catalog, const v1::PredictRequest& r) {
  if (auto st = CheckHardwareList(r.hardware()); !st.ok()) return st;
  auto arch = CheckArch(r.arch(), "arch");
  if (!arch.ok()) return arch.status();
  v1::PredictResponse out;
  if (auto st = PredictChecked(catalog, *arch, r.hardware(), r.breakdown(), &out); !st.ok()) return st;
  AddTableWarnings(catalog, *arch, &out);
  return out;
}

void AddTableWarnings(Catalog* catalog, const v1::Architecture& arch, v1::PredictResponse* out) {
  for (auto& pred : *out->mutable_predictions()) {
    if (!pred.correction_out_of_range() && !pred.table_validation_failed()) continue;
    auto p = catalog->Get(pred.hardware(), pred.table_version());
    if (!p.ok()) continue;
    // The sum the correction's range rule sees (per-key terms folded in).
    const double sum = (*p)->SumLatency(arch, nullptr);
    pred.clear_table_warnings();
    for (auto& w : latency::CorrectionWarnings((*p)->correction(), sum))
      pred.add_table_warnings(std::move(w));
  }
}

absl::StatusOr<v1::PredictBatchResponse> PredictBatch(Catalog* catalog, const v1::PredictBatchRequest& r,
                                                      int max_batch, const std::function<bool()>& cancelled,
                                                      int64_t max_response_bytes) {
  if (auto st = CheckHardwareList(r.hardware()); !st.ok()) return st;
  if (r.archs_size() == 0) return absl::InvalidArgumentError("archs: at least one architecture is needed");
  if (r.archs_size() > max_batch)
    return absl::InvalidArgumentError(
        StrCat("archs: at most ", max_batch, " per call, got ", r.archs_size()));
  v1::PredictBatchResponse out;
  int64_t bytes = 0;
  for (int i = 0; i < r.archs_size(); ++i) {
    if (cancelled && cancelled()) return absl::CancelledError("cancelled");
    auto arch = CheckArch(r.archs(i), StrCat("archs[", i, "]"));
    if (!arch.ok()) return arch.status();
    auto* res = out.add_results();
    // Compact: a count per estimated key, not every place it occurs per hardware.
    if (auto st = PredictChecked(catalog, *arch, r.hardware(), false, res, /*places=*/false); !st.ok())
      return st;
    bytes += static_cast<int64_t>(res->ByteSizeLong()) + 8;  // + the field's tag and length
    if (auto st = CheckResponseBytes(bytes, max_response_bytes, StrCat("archs[0..", i, "]"),
                                     StrCat("send at most ", std::max(1, i), " architectures per call"));
        !st.ok())
      return st;
  }
  return out;
}

void AddBreakdowns(Catalog* catalog, v1::Candidate* c) {
  const v1::Architecture arch = space::Canonicalize(c->arch());
  for (auto& p : *c->mutable_latency()) {
    auto pred = catalog->Get(p.hardware(), p.table_version());
    if (pred.ok()) p = (*pred)->Predict(arch, true);
  }
}

}  // namespace lutnas::core
