// Text form of a search engine checkpoint: versioned, line based, doubles
// as their exact 64-bit patterns (NaN "pending" scores included), and an
// FNV-1a checksum over everything before the final "end" line, so a
// truncated or corrupted checkpoint is detected. Only the syntax is checked
// here (DATA_LOSS "checkpoint: ..."); the engine checks what values mean.
// JobFingerprint and CheckCheckpoint tie a checkpoint to its job: the
// options and space that made it, and values that mean something there.
// Pure functions; thread-safe.
#ifndef LUTNAS_SEARCH_CHECKPOINT_H_
#define LUTNAS_SEARCH_CHECKPOINT_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

#include "search/engine.h"

namespace lutnas::search {

// One archived individual: the genotype key and what the evaluator said.
struct CheckpointEntry {
  std::string key;  // Genotype::Encode(), no spaces
  int generation = 0;
  Evaluation eval;
};

// Everything an engine needs to continue; lists index into `archive`.
struct CheckpointData {
  uint64_t fingerprint = 0;  // of the job's options and space
  std::array<uint64_t, 4> rng{};
  int steps_done = 0;
  int children_started = 0;
  int64_t rejected = 0;
  bool batch_active = false;
  std::vector<CheckpointEntry> archive;
  std::vector<int> population, batch, report;
  double elapsed_s = 0;
};

std::string EncodeCheckpoint(const CheckpointData& d);
absl::StatusOr<CheckpointData> DecodeCheckpoint(const std::string& text);

// FNV-1a over everything of the options and space a checkpoint depends on.
uint64_t JobFingerprint(const space::Space& space, const EngineOptions& options);

// Checks decoded checkpoint `d` against the job (options already validated
// by Engine::Create) and moves its archive out as individuals (genotype,
// key, evaluation, generation; feasibility and fitness are the archive's to
// derive). FAILED_PRECONDITION when another job's fingerprint; DATA_LOSS
// "checkpoint: ..." when counters, entries (generation, latency count,
// genotype, duplicates) or the lists (population, batch, report) do not fit
// the job or each other, so that a bad checkpoint cannot crash the engine.
absl::StatusOr<std::vector<Individual>> CheckCheckpoint(const space::Space& space,
                                                        const EngineOptions& options, CheckpointData* d);

}  // namespace lutnas::search

#endif  // LUTNAS_SEARCH_CHECKPOINT_H_
