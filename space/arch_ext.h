// Schema extensions of issue 15, kept apart from arch_util.cc: squeeze-excite
// options, feature-map heads and non-square inputs (validation with field paths,
// canonical defaults). The YOLO blocks and hidden widths are rows and fields of
// block_traits.cc; their key text is in keys.cc.
// Thread-compatible free functions.
#ifndef LUTNAS_SPACE_ARCH_EXT_H_
#define LUTNAS_SPACE_ARCH_EXT_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"

#include "lutnas/v1/arch.pb.h"
#include "space/arch_util.h"

namespace lutnas::space {

// Squeeze-excite options. `path` names the message ("...mbconv.se_options").
absl::Status ValidateSe(const v1::SqueezeExcite& se, const std::string& path);
v1::SqueezeExcite CanonicalSe(const v1::SqueezeExcite& se);
// True when the canonical options equal the MobileNetV3 defaults.
bool IsDefaultSe(const v1::SqueezeExcite& canonical);
// Squeeze width for a block with input width `in_c` whose SE acts on `c`.
int SqueezeChannels(const v1::SqueezeExcite& canonical, int in_c, int c);

// True when a canonical block uses any field the fast numeric table key
// does not cover (the predictor then hashes the key text instead).
bool HasExtendedFields(const Block& canonical);

// Stride of a canonical block (1 or 2).
int BlockStride(const Block& canonical);

// Feature-map heads.
bool IsFeatureHead(const v1::Head& h);
absl::Status ValidateFeatureHead(const v1::Head& h, const std::string& path);
// Checks that every stride is reached by some block and the last one is the
// network's final stride; `strides` holds each block's cumulative stride.
absl::Status CheckFeatureStrides(const v1::Head& h, const std::vector<int>& strides, const std::string& path);

// Input height of an architecture (resolution when square).
int InputHeight(const Architecture& arch);

}  // namespace lutnas::space

#endif  // LUTNAS_SPACE_ARCH_EXT_H_
