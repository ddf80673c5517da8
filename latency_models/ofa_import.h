// Import of Once-for-All's latency lookup tables (the YAML files of
// mit-han-lab/once-for-all: ProxylessNAS / MobileNetV3 LUTs). Keys such as
//   expanded_conv-input:112x112x16-output:56x56x24-expand:6-kernel:3-stride:2-idskip:0
// with {count, mean, var} become lutnas MBConv keys; the first conv becomes
// a conv key; Conv_1 + AvgPool2D (+ Conv_2) + Logits chains become head
// keys. What cannot be expressed as a lutnas block is reported by key.
#ifndef LUTNAS_LATENCY_MODELS_OFA_IMPORT_H_
#define LUTNAS_LATENCY_MODELS_OFA_IMPORT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

#include "lutnas/v1/table.pb.h"

namespace lutnas::latency {

absl::StatusOr<v1::LatencyTable> ParseOfaYaml(const std::string& content, const std::string& hardware,
                                              std::vector<std::string>* unmapped);

}  // namespace lutnas::latency

#endif  // LUTNAS_LATENCY_MODELS_OFA_IMPORT_H_
