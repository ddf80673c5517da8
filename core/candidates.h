// CandidateService's logic: listing with filters that must exist, a stored
// candidate with per-block breakdowns, and export as PyTorch code or JSON of
// a stored candidate or of an architecture given inline.
#ifndef LUTNAS_CORE_CANDIDATES_H_
#define LUTNAS_CORE_CANDIDATES_H_

#include "absl/status/statusor.h"

#include "core/predictor_catalog.h"
#include "core/storage.h"
#include "lutnas/v1/service.pb.h"

namespace lutnas::core {

// A filter on a job or hardware that does not exist is NOT_FOUND naming it
// ("job_id: ...", "hardware: ..."), not an empty page.
absl::StatusOr<v1::ListCandidatesResponse> ListCandidates(Storage* store, const v1::ListCandidatesRequest& r);

// The stored candidate, each prediction recomputed with its per-block
// breakdown from the table version it was pinned to.
absl::StatusOr<v1::Candidate> GetCandidate(Storage* store, Catalog* catalog, int64_t id);

// format "" or "pytorch": a .py module; "json": the architecture. Either id
// (a stored candidate: candidate_<id>.py) or arch (checked like Predict's,
// "arch."; arch_<hash12>.py), not both.
absl::StatusOr<v1::ExportCandidateResponse> ExportCandidate(Storage* store,
                                                            const v1::ExportCandidateRequest& r);

}  // namespace lutnas::core

#endif  // LUTNAS_CORE_CANDIDATES_H_
