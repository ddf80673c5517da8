// Generates self-contained PyTorch code for an architecture from its lowered
// graph, so the exported module has exactly the daemon's parameter count.
// The code defines class Net, build_model() and INPUT_SHAPE. Text a request
// chose (names, keys) reaches it only through CommentText, on line 3 or later.
#ifndef LUTNAS_LATENCY_MODELS_EXPORT_PYTORCH_H_
#define LUTNAS_LATENCY_MODELS_EXPORT_PYTORCH_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "lutnas/v1/arch.pb.h"

namespace lutnas::latency {

// `s` as one line of printable ASCII for a `#` comment of generated code:
// backslash, control characters and every non-ASCII byte are escaped ("\n",
// "\x0b", "\xc3"), so no text ends the comment or declares an encoding
// (PEP 263 reads lines 1-2 only, which hold no such text); at most
// `max_bytes` of `s`, then "... (N bytes)".
std::string CommentText(std::string_view s, size_t max_bytes = 200);

// `arch` must be valid.
std::string ExportPyTorch(const v1::Architecture& arch);
// One latency-table key's module (block or head) on its input shape, e.g.
// for vendor tools that benchmark an exported ONNX file per key.
std::string ExportKeyPyTorch(const std::string& key);

}  // namespace lutnas::latency

#endif  // LUTNAS_LATENCY_MODELS_EXPORT_PYTORCH_H_
