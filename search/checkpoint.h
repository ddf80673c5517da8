// Text form of a search engine checkpoint: versioned, line based, doubles
// as their exact 64-bit patterns (NaN "pending" scores included), and an
// FNV-1a checksum over everything before the final "end" line, so a
// truncated or corrupted checkpoint is detected. Only the syntax is checked
// here (DATA_LOSS "checkpoint: ..."); the engine checks what values mean.
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

}  // namespace lutnas::search

#endif  // LUTNAS_SEARCH_CHECKPOINT_H_
