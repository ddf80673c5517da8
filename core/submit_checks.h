// Checks Submit runs before a job is stored, beyond field validation: that
// the spec constrains the search at all (or says `unconstrained: true`), that
// some sampled architecture meets every hard constraint (so an impossible
// budget is refused at once, not found by a worker later), and idempotent
// submits (a client-chosen request id -> the job it created).
// Thread-safe: plain functions; SubmitRequestMutex serialises submits that
// carry a request id, so two retries cannot both create a job.
#ifndef LUTNAS_CORE_SUBMIT_CHECKS_H_
#define LUTNAS_CORE_SUBMIT_CHECKS_H_

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

#include "core/predictor_catalog.h"
#include "core/storage.h"
#include "search/engine.h"
#include "space/space.h"

namespace lutnas::core {

// What Submit's checks need of the daemon.
struct SubmitContext {
  Storage* store = nullptr;
  Catalog* catalog = nullptr;
  // A shipped space by name or an inline one (JobManager::ResolveSpace).
  std::function<absl::StatusOr<std::shared_ptr<const space::Space>>(const v1::SearchSpec&)> resolve_space;
  int max_population = 5000;  // lutnasd's per-job caps
  int max_generations = 10000;
  int64_t max_evaluations = 1000000;
  double max_runtime_s = 24 * 3600.0;
  // The caller's cancellation (a gRPC call's IsCancelled is also true past
  // its deadline): CANCELLED before the next sampled network. Empty: never.
  std::function<bool()> cancelled;
};

// Every check of Submit, in order: the fields (INVALID_ARGUMENT /
// NOT_FOUND / FAILED_PRECONDITION naming the field relative to the spec:
// "population: ..."), defaults filled in, table versions pinned, the engine's
// own options, CheckConstrained, CheckFeasible, and SubmitWarnings stored in
// the returned spec's warnings.
absl::StatusOr<v1::SearchSpec> CheckSubmitSpec(const v1::SearchSpec& in, const SubmitContext& c);

// The engine's options for a checked spec.
search::EngineOptions EngineOptionsOf(const v1::SearchSpec& s, int64_t max_evaluations);

// INVALID_ARGUMENT when the spec has no latency budget, no max_params and no
// max_macs and does not set unconstrained, or sets unconstrained together
// with a constraint.
absl::Status CheckConstrained(const v1::SearchSpec& spec);

// Samples the space (the engine's first-generation draw: up to 20 x
// population, at most `max_samples`, stopping at the first sample that meets
// every hard constraint). FAILED_PRECONDITION naming the constraint when none
// does: "budgets[0].max_ms: ... the fastest of N samples needs X ms ...".
// Budgets must carry their pinned table_version. Soft specs always pass.
// `cancelled` (if given) returning true ends the sampling with CANCELLED.
absl::Status CheckFeasible(const v1::SearchSpec& spec, std::shared_ptr<const space::Space> space,
                           Catalog* catalog, int max_samples = 20000,
                           const std::function<bool()>& cancelled = nullptr);

// What a user should know before trusting a valid spec's search (stored in
// SearchSpec.warnings): per budget, from `samples` networks sampled from the
// space (seeded by the spec): a table that measures less than 80% of their
// latency on average ("budgets[0]: table v3 of host-cpu measures 0% of the
// latency of space 'edge' ..."), no table at all (spec prior), a correction
// applied beyond its fitted range (with the share of samples), a correction
// whose validation failed.
std::vector<std::string> SubmitWarnings(const v1::SearchSpec& spec, const space::Space& space,
                                        Catalog* catalog, int samples = 64);

// INVALID_ARGUMENT unless empty or 1..128 characters of [A-Za-z0-9._:-].
absl::Status CheckRequestId(const std::string& request_id);

// The job an earlier Submit with this request id created (nullopt: none).
// ALREADY_EXISTS when that Submit sent a different spec.
absl::StatusOr<std::optional<v1::Job>> PriorSubmit(Storage* store, const std::string& request_id,
                                                   const v1::SearchSpec& spec);

// Held by Submit from the lookup of a request id to the storing of its job.
std::mutex& SubmitRequestMutex();

}  // namespace lutnas::core

#endif  // LUTNAS_CORE_SUBMIT_CHECKS_H_
