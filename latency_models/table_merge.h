// Missing keys of architectures against a table, and merged table versions
// (lutnas-profile table --arch). No torch, no grpc.
#ifndef LUTNAS_LATENCY_MODELS_TABLE_MERGE_H_
#define LUTNAS_LATENCY_MODELS_TABLE_MERGE_H_

#include <vector>

#include "absl/status/statusor.h"

#include "lutnas/v1/arch.pb.h"
#include "lutnas/v1/table.pb.h"
#include "space/space.h"

namespace lutnas::latency {

// Keys (blocks and head) of canonical `archs` that `table` has no entry for
// (a failed entry counts as present: the device cannot run it), each once,
// in network order.
std::vector<space::KeySpec> MissingKeys(const std::vector<v1::Architecture>& archs,
                                        const v1::LatencyTable& table);

// base + added as one table: base's info (version, counts and creation time
// cleared, source "merge:<base source>"), base's entries then added's.
// `added` must be in base's time units (measured against its reference_ms).
// INVALID_ARGUMENT naming the key when `added` repeats a key of `base` or
// of itself.
absl::StatusOr<v1::LatencyTable> MergeTables(const v1::LatencyTable& base, const v1::LatencyTable& added);

}  // namespace lutnas::latency

#endif  // LUTNAS_LATENCY_MODELS_TABLE_MERGE_H_
