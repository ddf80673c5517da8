#include "server/catalogue.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "lutnas/v1/service.pb.h"
#include "search/space/arch_util.h"
#include "search/space/status_macros.h"

namespace lutnas::server {

absl::Status SeedHardwareCatalogue(db::Store* store, const std::string& path) {
  ASSIGN_OR_RETURN(auto existing, store->ListHardware());
  if (!existing.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::string json, ReadFileToString(path));
  v1::ListHardwareResponse list;
  google::protobuf::util::JsonParseOptions o;
  o.ignore_unknown_fields = true;  // "_comment"
  auto st = google::protobuf::util::JsonStringToMessage(json, &list, o);
  if (!st.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", st.message().as_string()));
  for (const auto& hw : list.hardware()) {
    auto put = store->PutHardware(hw, false);
    if (!put.ok() && put.code() != absl::StatusCode::kAlreadyExists)
      return absl::Status(put.code(), absl::StrCat(path, ": ", hw.name(), ": ", put.message()));
  }
  return absl::OkStatus();
}

}  // namespace lutnas::server
