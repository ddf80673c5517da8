// Batch prediction for networks of a named space given as rows of choice
// indices (FastPredictService): the path for clients that drive their own
// search or sample supernet subnets by the million. A row is decoded into
// the space's genotype, checked with Space::Fits, and its latency summed from
// per-position block latencies memoised by (resolution, stage, first block,
// gene, input width, output width): no Architecture protos, no strings, no
// lowering per network. The answer is bit-identical to
// LatencyPredictor::PredictMs(Space::ToArchitecture(genotype)) and, with
// cost, to AnalyzeNetwork's totals (both pinned by encoded_predict_test).
#ifndef LUTNAS_CORE_ENCODED_PREDICT_H_
#define LUTNAS_CORE_ENCODED_PREDICT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"

#include "latency_models/lut.h"
#include "lutnas/v1/service.pb.h"
#include "space/space.h"

namespace lutnas::core {

// The row layout of a space: slot 0 resolution; per stage width, depth and
// max-depth x (type, kernel, expansion).
class SpaceEncoding {
 public:
  explicit SpaceEncoding(std::shared_ptr<const space::Space> space);

  const space::Space& space() const { return *space_; }
  int width() const { return static_cast<int>(slots_.size()); }
  v1::EncodingResponse Describe() const;

  // Row -> genotype (genes normalised). INVALID_ARGUMENT naming the slot
  // ("stages[1].blocks[0].type: index 5 out of range (3 choices)") or the
  // block that does not fit its position. Does not check the whole space
  // rule set beyond Fits: Decode + Fits is what ToArchitecture needs.
  absl::Status Decode(const uint8_t* row, space::Genotype* g) const;
  // The inverse (for tests and clients): genotype of this space -> row.
  absl::Status Encode(const space::Genotype& g, std::vector<uint8_t>* row) const;

 private:
  friend class EncodedPredictor;
  struct Slot {
    std::string name;
    std::vector<std::string> values;
  };
  std::shared_ptr<const space::Space> space_;
  std::vector<Slot> slots_;
  std::vector<int> stage_offset_;  // first slot of each stage (its width index)
  std::vector<int> max_depth_;
};

// One per stream (not thread-safe: the memo is private to it).
class EncodedPredictor {
 public:
  EncodedPredictor(std::shared_ptr<const SpaceEncoding> enc,
                   std::vector<std::shared_ptr<const latency::LatencyPredictor>> hardware, bool cost);

  // rows: n * width bytes. lat: n * hardware.size(); params/macs/mac_bytes:
  // n each (only with cost; may be null otherwise). first_row: index of rows[0]
  // in the stream, for error messages ("choices: row 1234: ..."). An invalid
  // row fails the call unless skip_invalid (then NaN latencies, -1 costs,
  // counted in *invalid).
  absl::Status Predict(const uint8_t* rows, size_t n, int64_t first_row, bool skip_invalid, double* lat,
                       int64_t* params, int64_t* macs, int64_t* mac_bytes, int* invalid);

 private:
  struct Entry {
    int8_t state = 0;  // 0 not computed, 1 fits, 2 does not fit
    latency::Cost cost;
    int lat = -1;  // offset of this entry's per-hardware latencies in lat_
  };
  Entry& BlockEntry(int r, int stage, bool first, int t, int k, int e, int in_w, int out_w);
  Entry& HeadEntry(int r, int last_w);
  // Looks up `key` on every hardware (and its cost when asked) into `en`, marks it filled.
  Entry& Fill(const space::KeySpec& key, Entry& en);
  absl::Status RowError(int64_t row, const uint8_t* p) const;

  std::shared_ptr<const SpaceEncoding> enc_;
  std::vector<std::shared_ptr<const latency::LatencyPredictor>> hw_;
  bool cost_;
  int nh_;
  std::vector<std::vector<space::Shape>> stage_in_;  // [res][stage]: input shape (channels unset)
  std::vector<std::vector<double>> stem_;            // [res][hw]: stem latencies in order
  std::vector<latency::Cost> stem_cost_;             // [res]
  std::vector<std::vector<Entry>> blocks_;           // [stage]: dense memo
  std::vector<Entry> heads_;                         // [res * last widths]
  std::vector<double> lat_;                          // memoised latencies
  std::vector<double> sums_;                         // scratch, per hardware
};

}  // namespace lutnas::core

#endif  // LUTNAS_CORE_ENCODED_PREDICT_H_
