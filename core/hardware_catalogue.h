// The shipped hardware catalogue (server/hardware_catalog.json): loaded into
// a database that has no hardware yet, at lutnasd's first start.
#ifndef LUTNAS_CORE_HARDWARE_CATALOGUE_H_
#define LUTNAS_CORE_HARDWARE_CATALOGUE_H_

#include <string>

#include "absl/status/status.h"

#include "core/storage.h"
#include "lutnas/v1/table.pb.h"

namespace lutnas::core {

absl::Status SeedHardwareCatalogue(Storage* store, const std::string& path);

// Hardware.efficiency / published / cpu_fallback_penalty of a Register
// request: InvalidArgument naming the field ("hardware.efficiency[0].compute: ...").
absl::Status CheckSpecPriorFields(const v1::Hardware& hw);

}  // namespace lutnas::core

#endif  // LUTNAS_CORE_HARDWARE_CATALOGUE_H_
