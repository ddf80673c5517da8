#include "latency_models/export_pytorch.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

#include "latency_models/graph.h"
#include "space/space.h"

namespace lutnas::latency {
namespace {

using absl::StrAppend;
using absl::StrCat;

std::string ActExpr(ActKind a, const std::string& x) {
  switch (a) {
    case ActKind::kRelu:
      return StrCat("F.relu(", x, ")");
    case ActKind::kRelu6:
      return StrCat("F.relu6(", x, ")");
    case ActKind::kHswish:
      return StrCat("F.hardswish(", x, ")");
    case ActKind::kSilu:
      return StrCat("F.silu(", x, ")");
    case ActKind::kSigmoid:
      return StrCat("torch.sigmoid(", x, ")");
    case ActKind::kHsigmoid:
      return StrCat("F.hardsigmoid(", x, ")");
    case ActKind::kNone:
      return x;
  }
  return x;
}

// Python source of a module interpreting `g`; INPUT_SHAPE = batch 1 input.
std::string GraphToPyTorch(const Graph& g, const std::string& header) {
  std::string init, fwd;
  auto v = [](int id) { return StrCat("v", id); };
  for (size_t i = 0; i < g.ops.size(); ++i) {
    const Op& op = g.ops[i];
    const std::string a = v(op.in[0]), out = v(op.out);
    switch (op.kind) {
      case OpKind::kConv:
        StrAppend(&init, "        self.m", i, " = nn.Conv2d(", op.cin, ", ", op.cout, ", ", op.kernel,
                  ", stride=", op.stride, ", padding=", op.kernel / 2, ", groups=", op.groups,
                  ", bias=", op.bias ? "True" : "False", ")\n");
        StrAppend(&fwd, "        ", out, " = self.m", i, "(", a, ")\n");
        break;
      case OpKind::kBatchNorm:
        StrAppend(&init, "        self.m", i, " = nn.BatchNorm2d(", op.cout, ")\n");
        StrAppend(&fwd, "        ", out, " = self.m", i, "(", a, ")\n");
        break;
      case OpKind::kLinear:
        StrAppend(&init, "        self.m", i, " = nn.Linear(", op.cin, ", ", op.cout, ")\n");
        StrAppend(&fwd, "        ", out, " = self.m", i, "(torch.flatten(", a, ", 1))\n");
        break;
      case OpKind::kAct:
        StrAppend(&fwd, "        ", out, " = ", ActExpr(op.act, a), "\n");
        break;
      case OpKind::kAdd: {
        std::string e = a;
        for (size_t j = 1; j < op.in.size(); ++j) StrAppend(&e, " + ", v(op.in[j]));
        StrAppend(&fwd, "        ", out, " = ", e, "\n");
        break;
      }
      case OpKind::kMul:
        StrAppend(&fwd, "        ", out, " = ", a, " * ", v(op.in[1]), "\n");
        break;
      case OpKind::kConcat: {
        std::string e;
        for (size_t j = 0; j < op.in.size(); ++j) StrAppend(&e, j ? ", " : "", v(op.in[j]));
        StrAppend(&fwd, "        ", out, " = torch.cat([", e, "], 1)\n");
        break;
      }
      case OpKind::kSlice:
        StrAppend(&fwd, "        ", out, " = ", a, "[:, ", op.begin, ":", op.end, "]\n");
        break;
      case OpKind::kShuffle:
        StrAppend(&fwd, "        n, c, h, w = ", a, ".shape\n        ", out, " = ", a, ".view(n, ", op.groups,
                  ", c // ", op.groups, ", h, w).transpose(1, 2).reshape(n, c, h, w)\n");
        break;
      case OpKind::kMaxPool:
        StrAppend(&fwd, "        ", out, " = F.max_pool2d(", a, ", ", op.kernel, ", ", op.stride, ", ",
                  op.kernel / 2, ")\n");
        break;
      case OpKind::kAvgPool:
        StrAppend(&fwd, "        ", out, " = F.avg_pool2d(", a, ", ", op.kernel, ", ", op.stride, ", ",
                  op.kernel / 2, ")\n");
        break;
      case OpKind::kGlobalPool:
        StrAppend(&fwd, "        ", out, " = F.adaptive_avg_pool2d(", a, ", 1)\n");
        break;
    }
  }
  const space::Shape& in = g.values[0];
  // A feature-map head returns a tuple of maps, in stride order.
  std::string ret = v(g.output);
  if (g.outputs.size() > 1) {
    ret = "(";
    for (size_t i = 0; i < g.outputs.size(); ++i) StrAppend(&ret, i ? ", " : "", v(g.outputs[i]));
    ret += ")";
  }
  std::string s = StrCat(header, "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n",
                         "INPUT_SHAPE = (1, ", in.c, ", ", in.h, ", ", in.w, ")\n\n\n",
                         "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n", init,
                         "\n    def forward(self, v0):\n", fwd, "        return ", ret, "\n\n\n",
                         "def build_model():\n    return Net().eval()\n");
  return s;
}

}  // namespace

std::string CommentText(std::string_view s, size_t max_bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  const size_t n = std::min(s.size(), max_bytes);
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c >= 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > max_bytes) StrAppend(&out, "... (", s.size(), " bytes)");
  return out;
}

// Lines 1 and 2 of every generated file are fixed text: Python reads a
// source-encoding declaration (PEP 263, `coding[:=]`) from them, so nothing
// a request chose (a name, an encoding "v1;...") may appear there.
std::string ExportPyTorch(const v1::Architecture& raw) {
  const v1::Architecture arch = space::Canonicalize(raw);
  return GraphToPyTorch(
      LowerNetwork(arch),
      StrCat("# Generated by lutnas: the PyTorch module of one architecture.\n",
             "# It defines build_model() and INPUT_SHAPE (batch 1).\n",
             "# architecture hash: ", space::ArchHash(arch), "\n", "# name: ", CommentText(arch.name()), "\n",
             "# canonical form: ", CommentText(space::CanonicalEncoding(arch), 1 << 20), "\n"));
}

std::string ExportKeyPyTorch(const std::string& key) {
  auto k = space::ParseKey(key);
  if (!k.ok()) return "";
  const Graph g = LowerKey(*k);
  return GraphToPyTorch(g, StrCat("# Generated by lutnas: the PyTorch module of one latency-table key.\n",
                                  "# It defines build_model() and INPUT_SHAPE (batch 1).\n",
                                  "# key: ", CommentText(key, 1 << 20), "\n"));
}

}  // namespace lutnas::latency
