// HardwareService's and TableService's logic: the field checks of a hardware
// registration, table imports (content or a confined path), storing a table,
// corrections, and the table a version names. Each one that changes what a
// predictor would answer drops that hardware's cached predictors.
#ifndef LUTNAS_CORE_REGISTRY_H_
#define LUTNAS_CORE_REGISTRY_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "core/import_file.h"
#include "core/predictor_catalog.h"
#include "core/storage.h"
#include "lutnas/v1/service.pb.h"

namespace lutnas::core {

// Register's checks; errors name the field ("hardware.threads: must be in
// 0..4096, got -1", "hardware.name: must match ...").
absl::Status CheckHardwareFields(const v1::Hardware& h);

// Checks, stores (update: replace one already registered), drops the cached
// predictors and returns what is stored.
absl::StatusOr<v1::Hardware> RegisterHardware(Storage* store, Catalog* catalog, const v1::Hardware& h,
                                              bool update);
absl::Status DeleteHardware(Storage* store, Catalog* catalog, const std::string& name);

// Validates a whole table (source defaulting to `source`), stores it as the
// hardware's next version and drops the cached predictors.
absl::StatusOr<v1::TableInfo> AddTable(Storage* store, Catalog* catalog, v1::LatencyTable table,
                                       const std::string& source);

// Where TableService.Import may read files from and how much.
struct ImportPolicy {
  std::string import_dir;  // paths must resolve under it ("" = refuse paths)
  ImportLimits limits;
};

// TableService.Import: content or path (read under policy.import_dir), parsed
// in r.format() for r.hardware(), then AddTable; keys that map to no block
// type come back in unmapped.
absl::StatusOr<v1::ImportTableResponse> ImportTable(Storage* store, Catalog* catalog,
                                                    const ImportPolicy& policy,
                                                    const v1::ImportTableRequest& r);

// TableService.SetCorrection: fields here, the range over the table in the store.
absl::StatusOr<v1::TableInfo> SetCorrection(Storage* store, Catalog* catalog,
                                            const v1::SetCorrectionRequest& r);

// TableService.Export's table (version 0: the latest).
absl::StatusOr<v1::LatencyTable> TableToExport(Storage* store, const v1::ExportTableRequest& r);

// TableService.List: NOT_FOUND for a hardware filter that is not registered.
absl::StatusOr<v1::ListTablesResponse> ListTables(Storage* store, const std::string& hardware);

}  // namespace lutnas::core

#endif  // LUTNAS_CORE_REGISTRY_H_
