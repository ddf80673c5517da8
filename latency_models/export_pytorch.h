// Generates self-contained PyTorch code for an architecture from its lowered
// graph, so the exported module has exactly the daemon's parameter count.
// The code defines class Net, build_model() and INPUT_SHAPE.
#ifndef LUTNAS_LATENCY_MODELS_EXPORT_PYTORCH_H_
#define LUTNAS_LATENCY_MODELS_EXPORT_PYTORCH_H_

#include <string>

#include "lutnas/v1/arch.pb.h"

namespace lutnas::latency {

// `arch` must be valid.
std::string ExportPyTorch(const v1::Architecture& arch);
// One latency-table key's module (block or head) on its input shape, e.g.
// for vendor tools that benchmark an exported ONNX file per key.
std::string ExportKeyPyTorch(const std::string& key);

}  // namespace lutnas::latency

#endif  // LUTNAS_LATENCY_MODELS_EXPORT_PYTORCH_H_
