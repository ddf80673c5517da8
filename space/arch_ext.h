// Schema extensions of issue 15, kept apart from arch_util.cc: squeeze-excite
// options, explicit hidden widths, the YOLO blocks (C3, C2f, SPPF), feature-map
// heads and non-square inputs. Validation with field paths, canonical
// defaults and key text; arch_util.cc and space.cc call in here.
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
// Key tokens of non-default options (",sein,ser0.3,sed1,sesig,sesilu"), ""
// for the defaults. Applies the same tokens back (ParseKey).
std::string EncodeSeTokens(const v1::SqueezeExcite& canonical);
void ApplySeTokens(const std::set<std::string>& words,
                   const std::map<std::string, double>& num,
                   v1::SqueezeExcite* se);
bool HasSeTokens(const std::set<std::string>& words,
                 const std::map<std::string, double>& num);
// Squeeze width for a block with input width `in_c` whose SE acts on `c`.
int SqueezeChannels(const v1::SqueezeExcite& canonical, int in_c, int c);

// Checks the extension fields of a block of an existing type (hidden
// widths, SE options); `p` is the block's type path ("...blocks[0].mbconv").
absl::Status ValidateBlockExtensions(const Block& b, int cin,
                                     const std::string& path);
// Canonical extension fields (in place) of an already-defaulted block.
void CanonicalizeBlockExtensions(Block* b);
// Extra key tokens of an existing type's extension fields.
std::string EncodeBlockExtensions(const Block& canonical);

// The YOLO block types: is `b` one of them, and their checks/defaults/text.
bool IsYoloBlock(const Block& b);
absl::Status ValidateYoloBlock(const Block& b, const Shape& in,
                               const std::string& path, int* cout,
                               int* stride);
void CanonicalizeYoloBlock(Block* b);
std::string EncodeYoloBlock(const Block& canonical);
// Builds a YOLO block from a key's type and tokens; false: not a YOLO type.
bool ParseYoloKey(const std::string& type,
                  const std::map<std::string, double>& num,
                  const std::set<std::string>& words, v1::Activation act,
                  Block* b);

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
absl::Status CheckFeatureStrides(const v1::Head& h,
                                 const std::vector<int>& strides,
                                 const std::string& path);
std::string EncodeFeatureHead(const v1::Head& h);  // "fhead:s8-16-32"
absl::Status ParseFeatureHead(const std::string& body, v1::Head* h);

// Input height of an architecture (resolution when square).
int InputHeight(const Architecture& arch);

}  // namespace lutnas::space

#endif  // LUTNAS_SPACE_ARCH_EXT_H_
