// FastPredictService: encoded batch prediction (core/encoded_predict.h)
// over one bidirectional stream. Glue only, like services.h.
#ifndef LUTNAS_SERVER_FAST_PREDICT_SERVICE_H_
#define LUTNAS_SERVER_FAST_PREDICT_SERVICE_H_

#include <memory>

#include "server/services.h"

namespace lutnas::server {

std::unique_ptr<grpc::Service> MakeFastPredictService(const Core& core);

}  // namespace lutnas::server

#endif  // LUTNAS_SERVER_FAST_PREDICT_SERVICE_H_
