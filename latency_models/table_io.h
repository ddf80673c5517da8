// Latency-table files. CSV (documented in docs/measurement.md):
//   # lutnas latency table v1
//   # hardware: host-cpu          (also backend, precision, threads, tool,
//   # space: tiny                  space, reference_ms, source)
//   key,median_ms,iqr_ms,p10_ms,p90_ms,samples,status,error
//   conv:o16,k3,s2,g1,relu@3x64x64,0.0521,0.0012,0.0508,0.0561,45,measured,
// and JSON (protobuf JSON mapping of lutnas.v1.LatencyTable). Parsing checks
// every line; errors name the line and the field. Thread-compatible.
#ifndef LUTNAS_LATENCY_MODELS_TABLE_IO_H_
#define LUTNAS_LATENCY_MODELS_TABLE_IO_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

#include "lutnas/v1/table.pb.h"

namespace lutnas::latency {

inline constexpr size_t kMaxTableEntries = 200000;

// `hardware`: when non-empty, a file naming another hardware is rejected and
// a file naming none is assigned this one.
absl::StatusOr<v1::LatencyTable> ParseTableCsv(const std::string& content, const std::string& hardware);
std::string WriteTableCsv(const v1::LatencyTable& table);
absl::StatusOr<v1::LatencyTable> ParseTableJson(const std::string& content, const std::string& hardware);
std::string WriteTableJson(const v1::LatencyTable& table);
// By format name: "csv", "json" (and "ofa" once the importer exists).
absl::StatusOr<v1::LatencyTable> ParseTable(const std::string& content, const std::string& format,
                                            const std::string& hardware, std::vector<std::string>* unmapped);

// Checks one entry (key parses, finite positive statistics, status set);
// `where` prefixes messages ("line 7" or "entries[3]").
absl::Status ValidateEntry(const v1::LatencyEntry& e, const std::string& where);
// Checks a correction's fields: CheckCorrectionFields (latency_models/correction.h).
// ValidateTable also checks it over the table's range (CheckCorrection).
absl::Status ValidateCorrection(const v1::Correction& c, const std::string& field);
// Checks a table's metadata: hardware name, ranges, finite numbers, lengths.
// The hardware-name rule, [a-z0-9][a-z0-9._-]{0,63}: the one place it is written
// (db's RegisterHardware and every table check use it).
bool ValidHardwareName(const std::string& name);
absl::Status ValidateTableInfo(const v1::TableInfo& info);
// Checks info and all entries, duplicates included.
absl::Status ValidateTable(const v1::LatencyTable& t);

}  // namespace lutnas::latency

#endif  // LUTNAS_LATENCY_MODELS_TABLE_IO_H_
