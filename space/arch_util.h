// Architecture plumbing with no torch: JSON I/O, validation with field paths,
// canonical defaults, the canonical text encoding and its stable hash, and
// per-block shape inference. Thread-compatible free functions.
#ifndef LUTNAS_SPACE_ARCH_UTIL_H_
#define LUTNAS_SPACE_ARCH_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "lutnas/v1/arch.pb.h"
#include "lutnas/v1/space.pb.h"

namespace lutnas::space {

using v1::Architecture;
using v1::Block;

// A feature-map shape (channels, height, width); batch is implicit.
struct Shape {
  int c = 0, h = 0, w = 0;
  bool operator==(const Shape& o) const { return c == o.c && h == o.h && w == o.w; }
  std::string ToString() const;  // "CxHxW"
};

// Limits that keep validation and everything downstream bounded.
inline constexpr int kMaxChannels = 16384;
inline constexpr int kMaxBlocks = 512;
inline constexpr int kMaxResolution = 1024;
inline constexpr size_t kMaxJsonBytes = 4 << 20;

// Parses protobuf JSON (snake_case or lowerCamel field names). Unknown
// fields are errors so that typos never pass silently.
absl::StatusOr<Architecture> ParseArchitectureJson(const std::string& json);
absl::StatusOr<Architecture> LoadArchitectureFile(const std::string& path);
// Pretty JSON with proto field names.
std::string ArchitectureToJson(const Architecture& arch);

// The oneof case of a block as the space's BlockType.
v1::BlockType TypeOf(const Block& b);
const char* BlockTypeName(v1::BlockType t);  // "conv", "mbconv", ...

// Checks one block on an input shape; on success stores the output shape.
// `path` prefixes every message, e.g. "stages[2].blocks[0]".
absl::Status ValidateBlock(const Block& b, const Shape& in, const std::string& path, Shape* out);
// Checks a classifier head; `path` prefixes messages ("head").
absl::Status ValidateHead(const v1::Head& h, const std::string& path);
// Checks the whole architecture. Never crashes, whatever the input.
absl::Status ValidateArchitecture(const Architecture& arch);

// Copy with every default filled in explicitly (assumes a valid block).
Block CanonicalBlock(const Block& b);
Architecture Canonicalize(const Architecture& arch);

// An activation's text in table keys ("relu", "relu6", "hswish", "silu", "id").
const char* ActName(v1::Activation a);

// Canonical text of one block, e.g. "mbconv:o24,e6,k3,s2,se0,relu6".
std::string EncodeBlock(const Block& b);
std::string EncodeHead(const v1::Head& h);
// Whole network: resolution, input channels, every block in order (stage
// boundaries do not change the network and are not encoded), head.
std::string CanonicalEncoding(const Architecture& arch);
// 16 hex digits: FNV-1a 64 of the canonical encoding (stable everywhere).
std::string ArchHash(const Architecture& arch);
uint64_t Fnv1a64(const std::string& s);

// Output shape of a (valid, canonical) block.
Shape OutShape(const Block& b, const Shape& in);
Shape InputShape(const Architecture& arch);

// Visits stem, then stage blocks, in order, with canonical blocks.
struct BlockSite {
  std::string where;  // "stem[0]", "stages[1].blocks[2]"
  Block block;
  Shape in;
  Shape out;
};
std::vector<BlockSite> ListBlocks(const Architecture& canonical_arch);

}  // namespace lutnas::space

#endif  // LUTNAS_SPACE_ARCH_UTIL_H_
