#include "core/submit_checks.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"

#include "base/rng.h"
#include "base/status_macros.h"
#include "core/evaluator.h"
#include "latency_models/lut.h"
#include "space/arch_util.h"

namespace lutnas::core {
namespace {

using absl::StrCat;

constexpr int kInitDrawFactor = 20;  // as the engine's first generation

bool HasConstraint(const v1::SearchSpec& s) {
  return s.budgets_size() > 0 || s.max_params() > 0 || s.max_macs() > 0;
}

}  // namespace

absl::Status CheckConstrained(const v1::SearchSpec& spec) {
  if (spec.unconstrained() && HasConstraint(spec))
    return absl::InvalidArgumentError(
        "unconstrained: true contradicts the spec's budgets/max_params/max_macs; drop one or the other");
  if (!spec.unconstrained() && !HasConstraint(spec))
    return absl::InvalidArgumentError(
        "budgets: no latency budget and no max_params/max_macs cap, so the search would ignore "
        "every hardware; give a budget (e.g. {\"hardware\": \"host-cpu\", \"max_ms\": 5}) or a cap, "
        "or set unconstrained: true to search the space without constraints on purpose");
  return absl::OkStatus();
}

absl::Status CheckFeasible(const v1::SearchSpec& spec, std::shared_ptr<const space::Space> space,
                           Catalog* catalog, int max_samples) {
  if (spec.soft_constraint() || !HasConstraint(spec)) return absl::OkStatus();
  std::vector<std::shared_ptr<const latency::LatencyPredictor>> preds;
  for (const auto& b : spec.budgets()) {
    ASSIGN_OR_RETURN(auto p, catalog->Get(b.hardware(), b.table_version()));
    preds.push_back(p);
  }
  LutEvaluator::Options eo;
  eo.objective = v1::PARAMS;  // no proxy: only costs and latencies are read
  LutEvaluator evaluator(space, preds, eo, /*proxies=*/nullptr);
  const int64_t draws =
      std::min<int64_t>(max_samples, int64_t{kInitDrawFactor} * std::max(1, spec.population()));
  const int nb = spec.budgets_size();
  std::vector<double> fastest(nb, std::numeric_limits<double>::infinity());
  int64_t fewest_params = std::numeric_limits<int64_t>::max();
  int64_t fewest_macs = std::numeric_limits<int64_t>::max();
  base::Rng rng(spec.seed() ^ 0x5eed5eedull);
  constexpr int kChunk = 64;
  int64_t drawn = 0;
  while (drawn < draws) {
    std::vector<space::Genotype> chunk;
    for (; drawn < draws && static_cast<int>(chunk.size()) < kChunk; ++drawn)
      chunk.push_back(space->Sample(rng));
    std::vector<search::Evaluation> evals;
    RETURN_IF_ERROR(evaluator.Evaluate(chunk, &evals));
    for (const auto& e : evals) {
      bool ok = true;
      for (int i = 0; i < nb; ++i) {
        const double lat = i < static_cast<int>(e.latency_ms.size()) ? e.latency_ms[i] : NAN;
        if (lat < fastest[i]) fastest[i] = lat;
        if (!(lat <= spec.budgets(i).max_ms())) ok = false;
      }
      fewest_params = std::min(fewest_params, e.params);
      fewest_macs = std::min(fewest_macs, e.macs);
      if (spec.max_params() > 0 && e.params > spec.max_params()) ok = false;
      if (spec.max_macs() > 0 && e.macs > spec.max_macs()) ok = false;
      if (ok) return absl::OkStatus();
    }
  }
  // Nothing met every constraint: name the one missed by the largest factor.
  const std::string head = StrCat("no architecture of space '", space->name(), "' meets the ");
  double worst = 1;
  std::string why;
  for (int i = 0; i < nb; ++i) {
    const auto& b = spec.budgets(i);
    const double r = fastest[i] / b.max_ms();
    if (r > worst) {
      worst = r;
      why = StrCat("budgets[", i, "].max_ms: ", head, "budget: the fastest of ", drawn, " samples needs ",
                   fastest[i], " ms on ", b.hardware(), " (table v", b.table_version(), ", limit ",
                   b.max_ms(), " ms)");
    }
  }
  auto cap = [&](int64_t limit, int64_t lo, const char* field, const char* what) {
    if (limit <= 0 || lo <= limit) return;
    const double r = static_cast<double>(lo) / limit;
    if (r > worst) {
      worst = r;
      why = StrCat(field, ": ", head, field, " cap: the smallest of ", drawn, " samples has ", lo, " ", what,
                   " (limit ", limit, ")");
    }
  };
  cap(spec.max_params(), fewest_params, "max_params", "params");
  cap(spec.max_macs(), fewest_macs, "max_macs", "MACs");
  if (why.empty())
    why = StrCat("budgets: ", head, "constraints: none of ", drawn,
                 " samples meets every constraint at once, though each alone is met");
  return absl::FailedPreconditionError(why);
}

std::vector<std::string> SubmitWarnings(const v1::SearchSpec& spec, const space::Space& space,
                                        Catalog* catalog, int samples) {
  std::vector<std::string> out;
  base::Rng rng(spec.seed() ^ 0x3a7e5ull);
  std::vector<v1::Architecture> archs;
  for (int i = 0; i < samples; ++i)
    archs.push_back(space::Canonicalize(space.ToArchitecture(space.Sample(rng))));
  for (int i = 0; i < spec.budgets_size(); ++i) {
    const auto& b = spec.budgets(i);
    const std::string f = StrCat("budgets[", i, "]: ");
    auto p = catalog->Get(b.hardware(), b.table_version());
    if (!p.ok()) continue;  // Submit has refused it already
    if (!(*p)->has_table()) {
      out.push_back(StrCat(f, "'", b.hardware(),
                           "' has no latency table: every latency is estimated from its "
                           "published peaks (within about 2-3x); measure a table with lutnas-profile table "
                           "--server or lutnas profile-external"));
      continue;
    }
    double measured = 0;
    int out_of_range = 0, validation_failed = 0;
    for (const auto& a : archs) {
      const v1::Prediction pred = (*p)->Predict(a, false);
      measured += pred.measured_fraction();
      out_of_range += pred.correction_out_of_range();
      validation_failed += pred.table_validation_failed();
    }
    measured /= std::max<size_t>(1, archs.size());
    if (measured < latency::kLowConfidenceMeasuredFraction)
      out.push_back(StrCat(f, "table v", (*p)->table_version(), " of '", b.hardware(), "' measures ",
                           static_cast<int>(std::floor(measured * 100)), "% of the latency of space '",
                           space.name(), "' (mean of ", archs.size(),
                           " sampled networks): the search ranks by estimated latencies; measure the "
                           "missing keys first (lutnas-profile table --space SPACE.json --hardware ",
                           b.hardware(), " --server, or lutnas profile-external)"));
    if (out_of_range > 0)
      out.push_back(StrCat(f, out_of_range, " of ", archs.size(), " sampled networks of space '",
                           space.name(), "' lie beyond the range the correction of table v",
                           (*p)->table_version(), " of '", b.hardware(),
                           "' was fitted on, where it is not applied in full (lutnas predict "
                           "shows the figures); validate the table on networks of this space"));
    if (validation_failed > 0)
      out.push_back(StrCat(f, "the correction of table v", (*p)->table_version(), " of '", b.hardware(),
                           "' failed its validation and was stored anyway (--accept-noisy): its latencies "
                           "may be off by more than the budget's margin"));
  }
  return out;
}

absl::Status CheckRequestId(const std::string& id) {
  if (id.empty()) return absl::OkStatus();
  if (id.size() > 128)
    return absl::InvalidArgumentError(StrCat("request_id: longer than 128 characters (", id.size(), ")"));
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == ':' || c == '-';
    if (!ok)
      return absl::InvalidArgumentError(
          "request_id: only letters, digits and . _ : - are allowed (e.g. a UUID)");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<v1::Job>> PriorSubmit(Storage* store, const std::string& request_id,
                                                   const v1::SearchSpec& spec) {
  if (request_id.empty()) return std::optional<v1::Job>();
  auto prior = store->FindRequest(request_id);
  if (absl::IsNotFound(prior.status())) return std::optional<v1::Job>();
  if (!prior.ok()) return prior.status();
  if (!google::protobuf::util::MessageDifferencer::Equals(prior->second, spec))
    return absl::AlreadyExistsError(StrCat("request_id: '", request_id, "' already submitted job ",
                                           prior->first, " with a different spec; use a new request id"));
  ASSIGN_OR_RETURN(v1::Job job, store->GetJob(prior->first));
  return std::optional<v1::Job>(std::move(job));
}

std::mutex& SubmitRequestMutex() {
  static std::mutex mu;
  return mu;
}

}  // namespace lutnas::core
