// FastPredictService's logic over core/encoded_predict.h: the encodings of
// shipped spaces (cached: they do not change), a stream opened by its first
// message (space, hardware, cost) and the answer to each message of rows.
#ifndef LUTNAS_CORE_FAST_PREDICT_H_
#define LUTNAS_CORE_FAST_PREDICT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

#include "core/encoded_predict.h"
#include "core/job_manager.h"
#include "core/predictor_catalog.h"
#include "lutnas/v1/service.pb.h"

namespace lutnas::core {

// Encodings of shipped spaces by name. Thread-safe.
class EncodingCache {
 public:
  explicit EncodingCache(JobManager* jobs) : jobs_(jobs) {}
  // INVALID_ARGUMENT "space: ..." for an empty name or a slot with more than
  // 256 choices; NOT_FOUND "space: unknown space ..." for an unknown one.
  absl::StatusOr<std::shared_ptr<const SpaceEncoding>> Get(const std::string& name);

 private:
  JobManager* jobs_;
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<const SpaceEncoding>> cache_ ABSL_GUARDED_BY(mu_);
};

// One PredictEncoded stream. Open() takes its first message's space,
// hardware (<= 16; none only with cost), cost and skip_invalid; Answer()
// predicts each message's rows (the first one's too), rows numbered across
// the stream.
class EncodedStream {
 public:
  // max_response_bytes: the largest answer one message may get (lutnasd
  // --max_response_mb).
  static absl::StatusOr<std::unique_ptr<EncodedStream>> Open(EncodingCache* encodings, Catalog* catalog,
                                                             const v1::PredictEncodedRequest& first,
                                                             int64_t max_response_bytes = int64_t{32} << 20);
  // The bytes of r's answer (latencies, costs), checked before any work:
  // INVALID_ARGUMENT "choices: ..." for a partial row or more than 2^20
  // rows; RESOURCE_EXHAUSTED "max_response_mb: ..." (naming how many rows a
  // message may carry) for an answer over max_response_bytes.
  absl::StatusOr<int64_t> AnswerBytes(const v1::PredictEncodedRequest& r) const;
  // AnswerBytes' errors; "space: ..." for a later message naming another
  // space. The first message goes to Open() and then here. Peak memory: the
  // answer plus a chunk of 64k rows.
  absl::StatusOr<v1::PredictEncodedResponse> Answer(const v1::PredictEncodedRequest& r);

 private:
  EncodedStream() = default;
  std::shared_ptr<const SpaceEncoding> enc_;
  std::unique_ptr<EncodedPredictor> pred_;
  std::vector<int64_t> versions_;
  bool cost_ = false, skip_ = false;
  bool first_ = true;  // no message answered yet (the first names the space)
  int nh_ = 0;
  int64_t done_ = 0;  // rows answered so far
  int64_t max_response_bytes_ = 0;
};

}  // namespace lutnas::core

#endif  // LUTNAS_CORE_FAST_PREDICT_H_
