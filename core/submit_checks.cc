#include "core/submit_checks.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"

#include "base/rng.h"
#include "base/status_macros.h"
#include "core/evaluator.h"
#include "core/names.h"
#include "latency_models/lut.h"
#include "space/arch_util.h"

namespace lutnas::core {
namespace {

using absl::StrCat;

constexpr int kInitDrawFactor = 20;  // as the engine's first generation

bool HasConstraint(const v1::SearchSpec& s) {
  return s.budgets_size() > 0 || s.max_params() > 0 || s.max_macs() > 0;
}

absl::Status Invalid(const std::string& field, const std::string& msg) {
  return absl::InvalidArgumentError(StrCat(field, ": ", msg));
}

// Validation only: Engine::Create needs an evaluator but never calls it.
class NoEvaluator : public search::Evaluator {
 public:
  absl::Status Evaluate(const std::vector<space::Genotype>&, std::vector<search::Evaluation>*) override {
    return absl::InternalError("not for evaluation");
  }
};

}  // namespace

search::EngineOptions EngineOptionsOf(const v1::SearchSpec& s, int64_t max_evals) {
  search::EngineOptions o;
  o.algorithm = s.algorithm() == v1::ALGORITHM_UNSPECIFIED ? v1::EVOLUTION : s.algorithm();
  o.population = s.population();
  o.sample_size = s.sample_size();
  o.generations = s.generations();
  o.seed = s.seed();
  for (const auto& b : s.budgets()) o.latency_budgets_ms.push_back(b.max_ms());
  o.max_params = s.max_params();
  o.max_macs = s.max_macs();
  o.soft = s.soft_constraint();
  o.soft_weight = s.soft_weight();
  o.external = s.objective() == v1::EXTERNAL;
  o.max_evaluations = max_evals;
  o.seed_architectures.assign(s.seed_architectures().begin(), s.seed_architectures().end());
  return o;
}

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
                           Catalog* catalog, int max_samples, const std::function<bool()>& cancelled) {
  if (spec.soft_constraint() || !HasConstraint(spec)) return absl::OkStatus();
  std::vector<std::shared_ptr<const latency::LatencyPredictor>> preds;
  for (const auto& b : spec.budgets()) {
    ASSIGN_OR_RETURN(auto p, catalog->Get(b.hardware(), b.table_version()));
    preds.push_back(p);
  }
  const absl::Status kCancelled = absl::CancelledError("submit cancelled: nothing stored");
  LutEvaluator::Options eo;
  eo.objective = v1::PARAMS;  // no proxy: only costs and latencies are read
  // The caller gone (cancelled, or past its deadline) stops the sampling
  // before the next network, not after all of them.
  if (cancelled) eo.check = [&]() { return cancelled() ? kCancelled : absl::OkStatus(); };
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
    if (cancelled && cancelled()) return kCancelled;
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

absl::StatusOr<v1::SearchSpec> CheckSubmitSpec(const v1::SearchSpec& in, const SubmitContext& c) {
  v1::SearchSpec spec = in;
  spec.clear_warnings();  // output only: Submit sets them below
  RETURN_IF_ERROR(CheckName(spec.name(), "name"));
  if (!v1::Algorithm_IsValid(spec.algorithm()))
    return Invalid("algorithm", StrCat("unknown value ", spec.algorithm()));
  if (!v1::Objective_IsValid(spec.objective()))
    return Invalid("objective", StrCat("unknown value ", spec.objective()));
  if (spec.algorithm() == v1::ALGORITHM_UNSPECIFIED) spec.set_algorithm(v1::EVOLUTION);
  if (spec.objective() == v1::OBJECTIVE_UNSPECIFIED) spec.set_objective(v1::ZEN);
  ASSIGN_OR_RETURN(auto space, c.resolve_space(spec));
  if (!spec.space().empty() && absl::AsciiStrToLower(space->name()) == absl::AsciiStrToLower(spec.space()))
    spec.set_space(space->name());  // the shipped name, in its case
  if (spec.population() == 0) spec.set_population(100);
  if (spec.sample_size() == 0) spec.set_sample_size(std::min(25, std::max(1, spec.population())));
  if (spec.generations() == 0) spec.set_generations(20);  // proto3: 0 means unset
  if (spec.population() < 2 || spec.population() > c.max_population)
    return Invalid("population", StrCat("must be in 2..", c.max_population, ", got ", spec.population()));
  if (spec.generations() < 0 || spec.generations() > c.max_generations)
    return Invalid("generations", StrCat("must be in 0..", c.max_generations, ", got ", spec.generations()));
  if (spec.sample_size() < 1 || spec.sample_size() > spec.population())
    return Invalid("sample_size",
                   StrCat("must be in 1..population (", spec.population(), "), got ", spec.sample_size()));
  if (spec.max_params() < 0) return Invalid("max_params", StrCat("must be >= 0, got ", spec.max_params()));
  if (spec.max_macs() < 0) return Invalid("max_macs", StrCat("must be >= 0, got ", spec.max_macs()));
  if (!std::isfinite(spec.soft_weight())) return Invalid("soft_weight", "must be finite");
  if (spec.soft_weight() == 0) spec.set_soft_weight(-0.07);
  // MnasNet's w: reward = score * (latency / budget)^w. A positive w would
  // reward slower networks; below -10 one millisecond outweighs any score.
  if (spec.soft_weight() < -10 || spec.soft_weight() >= 0)
    return Invalid("soft_weight", StrCat("must be in [-10, 0) (0 = default -0.07; a positive weight would "
                                         "reward slower networks), got ",
                                         spec.soft_weight()));
  if (spec.proxy_resolution() == 0) spec.set_proxy_resolution(64);
  if (spec.proxy_batch() == 0) spec.set_proxy_batch(8);
  if (spec.proxy_resolution() < 16 || spec.proxy_resolution() > 512)
    return Invalid("proxy_resolution", StrCat("must be in 16..512, got ", spec.proxy_resolution()));
  if (spec.proxy_batch() < 2 || spec.proxy_batch() > 64)
    return Invalid("proxy_batch", StrCat("must be in 2..64, got ", spec.proxy_batch()));
  if (!std::isfinite(spec.max_runtime_s()) || spec.max_runtime_s() < 0 ||
      spec.max_runtime_s() > c.max_runtime_s)
    return Invalid("max_runtime_s",
                   StrCat("must be in 0..", c.max_runtime_s, ", got ", spec.max_runtime_s()));
  if (spec.max_runtime_s() == 0) spec.set_max_runtime_s(c.max_runtime_s);
  if (spec.budgets_size() > 8) return Invalid("budgets", "at most 8 latency budgets");
  for (int i = 0; i < spec.budgets_size(); ++i) {
    auto* b = spec.mutable_budgets(i);
    const std::string f = StrCat("budgets[", i, "]");
    if (b->table_version() < 0)
      return Invalid(f + ".table_version", StrCat("must be >= 0, got ", b->table_version()));
    if (!std::isfinite(b->max_ms()) || b->max_ms() <= 0)
      return Invalid(f + ".max_ms", StrCat("must be a finite number > 0, got ", b->max_ms()));
    auto hw = c.store->GetHardware(b->hardware());
    if (!hw.ok()) {
      std::vector<std::string> known;
      if (auto all = c.store->ListHardware(); all.ok())
        for (const auto& h : *all) known.push_back(h.name());
      return absl::NotFoundError(StrCat(f, ".hardware: unknown hardware '", b->hardware().substr(0, 64), "'",
                                        DidYouMean(b->hardware(), known)));
    }
    auto info = c.store->GetTableInfo(b->hardware(), b->table_version());
    if (!info.ok()) {
      if (b->table_version() != 0)
        return absl::NotFoundError(
            StrCat(f, ".table_version: hardware '", b->hardware(), "' has no version ", b->table_version()));
      if (spec.allow_spec_budgets() && hw->peak_gops() > 0 && hw->bandwidth_gbs() > 0)
        continue;  // against the spec prior, version 0 (issue 16; service.proto)
      return absl::FailedPreconditionError(
          StrCat(f, ".hardware: '", b->hardware(),
                 "' has no latency table to budget against; measure one with "
                 "lutnas-profile table --server or import one"));
    }
    b->set_table_version(info->version());
  }
  if (spec.report_hardware_size() > 16) return Invalid("report_hardware", "at most 16 hardware names");
  for (int i = 0; i < spec.report_hardware_size(); ++i) {
    const std::string f = StrCat("report_hardware[", i, "]");
    if (!c.store->GetHardware(spec.report_hardware(i)).ok())
      return absl::NotFoundError(
          StrCat(f, ": unknown hardware '", spec.report_hardware(i).substr(0, 64), "'"));
    auto p = c.catalog->Get(spec.report_hardware(i), 0);
    if (!p.ok()) return absl::Status(p.status().code(), StrCat(f, ": ", p.status().message()));
  }
  if (spec.budgets_size() == 0 && spec.max_macs() == 0 && spec.max_params() == 0 && spec.soft_constraint())
    return Invalid("soft_constraint", "needs at least one latency budget");
  if (c.cancelled && c.cancelled()) return absl::CancelledError("submit cancelled: nothing stored");
  NoEvaluator none;
  auto engine = search::Engine::Create(space, EngineOptionsOf(spec, c.max_evaluations), &none);
  if (!engine.ok()) return engine.status();
  RETURN_IF_ERROR(CheckConstrained(spec));
  RETURN_IF_ERROR(CheckFeasible(spec, space, c.catalog, 20000, c.cancelled));
  for (auto& w : SubmitWarnings(spec, *space, c.catalog)) spec.add_warnings(std::move(w));
  return spec;
}

}  // namespace lutnas::core
