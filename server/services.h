// gRPC services of lutnasd: thin glue. Each method checks its request's
// shape, makes one core call (core/registry.h, core/predict.h,
// core/candidates.h, core::JobManager, core::Storage lookups), converts the
// status (grpc_status.h) and returns. No logic that a test of the core could
// not reach: streams (Upload, Export, Watch) keep only their framing here.
#ifndef LUTNAS_SERVER_SERVICES_H_
#define LUTNAS_SERVER_SERVICES_H_

#include <memory>
#include <string>

#include "core/import_file.h"
#include "core/job_manager.h"
#include "core/limits.h"
#include "core/predictor_catalog.h"
#include "core/storage.h"
#include "lutnas/v1/service.grpc.pb.h"

namespace lutnas::server {

// What every service needs; owned by the Daemon (daemon.h).
struct Core {
  core::Storage* store = nullptr;  // the daemon wires its db::Store in (core::DbStorage)
  core::Catalog* catalog = nullptr;
  core::JobManager* jobs = nullptr;
  std::string import_dir;  // file paths in requests must resolve under it ("" = refuse paths)
  int max_batch = 1000;    // PredictBatch architectures per call
  core::ImportLimits import_limits;
  // Shared by every service (Core is copied into each); main sets the flags' values.
  std::shared_ptr<core::ResourceLimits> limits = std::make_shared<core::ResourceLimits>();
};

std::unique_ptr<grpc::Service> MakeHardwareService(const Core& core);
std::unique_ptr<grpc::Service> MakeTableService(const Core& core);
std::unique_ptr<grpc::Service> MakePredictService(const Core& core);
std::unique_ptr<grpc::Service> MakeSearchService(const Core& core);
std::unique_ptr<grpc::Service> MakeCandidateService(const Core& core);

}  // namespace lutnas::server

#endif  // LUTNAS_SERVER_SERVICES_H_
