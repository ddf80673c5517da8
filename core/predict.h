// Prediction for PredictService and CandidateService: request checks
// (architecture, hardware list, batch size) and the answer, costs plus one
// prediction per hardware, with a per-block breakdown on request. Errors name
// the request field they are about ("arch.", "archs[3].", "hardware[1]: ").
#ifndef LUTNAS_CORE_PREDICT_H_
#define LUTNAS_CORE_PREDICT_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "core/predictor_catalog.h"
#include "lutnas/v1/service.pb.h"

namespace lutnas::core {

using HardwareList = google::protobuf::RepeatedPtrField<std::string>;

// Validates and canonicalises an architecture; errors start with `field`
// ("arch" -> "arch.stem[0]...", "arch: larger than ... bytes").
absl::StatusOr<v1::Architecture> CheckArch(const v1::Architecture& a, const std::string& field);

// At most 16 names; an empty list is fine (the answer then carries the costs alone).
absl::Status CheckHardwareList(const HardwareList& hw);

// Costs and one prediction per hardware (latest table, or the spec prior) of
// a checked architecture, appended to `out`. NOT_FOUND "hardware[i]: ..." for
// an unknown name.
// places=false: estimated keys count their places instead of listing them.
absl::Status PredictChecked(Catalog* catalog, const v1::Architecture& arch, const HardwareList& hardware,
                            bool breakdown, v1::PredictResponse* out, bool places = true);

// PredictService.Predict: checks, then PredictChecked.
absl::StatusOr<v1::PredictResponse> Predict(Catalog* catalog, const v1::PredictRequest& r);

// Words for what each prediction's flags say about the table behind it
// (Prediction.table_warnings for the canonical `arch`: the correction failed
// its validation, or this network is beyond the range it was fitted on).
// Predict adds them; a batch carries the flags alone (answers stay compact).
void AddTableWarnings(Catalog* catalog, const v1::Architecture& arch, v1::PredictResponse* out);

// PredictService.PredictBatch: 1..max_batch architectures, each checked
// ("archs[i]."); `cancelled` is asked before each (CANCELLED "cancelled").
// Compact: estimated keys carry `occurrences`, not every place (`where`).
// RESOURCE_EXHAUSTED "max_response_mb: ..." once the answer passes
// max_response_bytes (naming how many architectures fit).
absl::StatusOr<v1::PredictBatchResponse> PredictBatch(Catalog* catalog, const v1::PredictBatchRequest& r,
                                                      int max_batch, const std::function<bool()>& cancelled,
                                                      int64_t max_response_bytes = int64_t{32} << 20);

// Replaces each stored prediction of a candidate by one with a per-block
// breakdown from the same pinned table version (left as stored when that
// version cannot be loaded).
void AddBreakdowns(Catalog* catalog, v1::Candidate* c);

}  // namespace lutnas::core

#endif  // LUTNAS_CORE_PREDICT_H_
