// One row per block type: its name (the Block oneof field and the key prefix), its BlockType,
// which fields it has, their defaults and checks, its default activation, and the key text
// (field letters in key order). Validation, canonical defaults, key encoding and parsing, TypeOf
// and the key grammar for Python (lutnas-inspect key-grammar) are all driven by the table
// (block_traits.cc), through protobuf reflection on the row's message.
//
// Adding a block type: its message and oneof field in proto/lutnas/v1/arch.proto (and a
// BlockType in space.proto when searchable), and one row in block_traits.cc; then what the
// block *is* (latency_models/graph.cc lowering) and, when searchable, Space::BuildBlock/Fits.
// The table is immutable after first use and safe to share between threads.
#ifndef LUTNAS_SPACE_BLOCK_TRAITS_H_
#define LUTNAS_SPACE_BLOCK_TRAITS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "google/protobuf/descriptor.h"

#include "lutnas/v1/arch.pb.h"
#include "lutnas/v1/space.pb.h"

namespace lutnas::space {

struct Shape;

// How a field is written in a key.
enum class KeyKind {
  kNone,  // not in the key
  kInt,   // letters + integer: "o24"
  kReal,  // letters + %.4g: "r0.5"
  kBit,   // letters + 0/1 of a bool: "se1"
  kWord,  // a bool as one of two words: words[0] false, words[1] true ("train"/"deploy")
  kEnum,  // an enum as a word: words[i] is enum value i + 1 ("max", "avg")
  kSe,    // a SqueezeExcite message: its non-default tokens (",sein,ser0.3,...")
  kAct,   // the activation's name ("relu6")
};

// How a field is checked (each check names the field in its message).
enum class FieldCheck {
  kNone,
  kChannels,    // > 0 and <= kMaxChannels
  kChannelsIn,  // in 1..kMaxChannels (one message)
  kKernel,      // 3, 5 or 7 when set
  kKernelOr1,   // 1, 3, 5 or 7 when set
  kStride,      // 1 or 2 when set
  kGroups,      // divides in and out channels, when set
  kGroupsMid,   // divides mid_channels, when set
  kRange,       // integer in lo..hi when set
  kUnit,        // real in (0, 1] when set
  kEnumValid,   // a known enum value
  kAct,         // a known activation
  kHidden,      // in 1..kMaxChannels, and not together with `unless`
  kSe,          // SqueezeExcite options, when set
};

struct FieldTraits {
  const char* name = "";  // proto field of the row's message
  const char* key = "";   // key letters ("o", "se"); "" for kWord/kEnum/kAct/kNone
  KeyKind kind = KeyKind::kNone;
  FieldCheck check = FieldCheck::kNone;
  int lo = 0, hi = 0;              // kRange
  bool has_default = false;        // canonical form fills `dflt` when absent
  double dflt = 0;                 // int, real, bool or enum value
  int default_out_div = 0;         // > 0: default is out_channels / default_out_div
  const char* unless = "";         // field that excludes this one (expansion unless hidden_channels)
  std::vector<const char*> words;  // kWord / kEnum
  const char* sets_bit = "";       // kSe: bool field turned on when set (mbconv "se")
  bool clear_if_default = false;   // kSe: canonical form drops default options
  bool extended = false;           // not covered by the fast numeric table key (latency_models/lut)
  const google::protobuf::FieldDescriptor* fd = nullptr;      // resolved from `name`
  const google::protobuf::FieldDescriptor* bit_fd = nullptr;  // resolved from `sets_bit`
  int unless_index = -1;                                      // index of `unless` in the row's fields
};

// A cross-field check of one type, run at `extra_after` in the check order.
using ExtraCheck = absl::Status (*)(const google::protobuf::Message& m, const Shape& in,
                                    const std::string& path);

struct BlockTraits {
  const char* name = "";                            // oneof field of Block and key prefix ("fused_mbconv")
  v1::BlockType type = v1::BLOCK_TYPE_UNSPECIFIED;  // UNSPECIFIED: not searchable (pool)
  v1::Activation default_act = v1::ACTIVATION_UNSPECIFIED;  // UNSPECIFIED: no activation
  std::vector<FieldTraits> fields;                          // in key order
  // Field names in check order when it differs from key order; "+" marks the extra check.
  std::vector<const char*> check_order;
  ExtraCheck extra = nullptr;                                   // runs last unless check_order places "+"
  bool gene_kernel = false;                                     // the search gene's kernel applies (Space)
  bool gene_expansion = false;                                  // the search gene's expansion applies (Space)
  bool extended = false;                                        // always outside the fast numeric key
  const google::protobuf::FieldDescriptor* oneof_fd = nullptr;  // Block.<name>
  // Resolved when the table is built: field indices (-1: none), the check order as indices
  // (-1: the extra check).
  int out_index = -1, stride_index = -1, mid_index = -1;
  std::vector<int> check_sequence;
  const FieldTraits* Field(const char* name) const;  // nullptr when absent
  const FieldTraits* At(int index) const { return index < 0 ? nullptr : &fields[index]; }
};

// Every block type, in Block's oneof order.
const std::vector<BlockTraits>& AllBlockTraits();
// The row of a block (nullptr when no type is set), of a BlockType, of a key prefix.
const BlockTraits* TraitsOf(const v1::Block& b);
const BlockTraits* TraitsOf(v1::BlockType t);
const BlockTraits* TraitsByName(const std::string& name);

// The row's message inside a block (the block must have that type).
const google::protobuf::Message& BlockMessage(const v1::Block& b, const BlockTraits& t);
google::protobuf::Message* MutableBlockMessage(v1::Block* b, const BlockTraits& t);

// Table-driven halves of arch_util.h's ValidateBlock and CanonicalBlock: checks of the row's
// fields (path is the type's path, "stages[0].blocks[1].conv"), the output channels and
// stride, and the defaults.
absl::Status CheckBlockFields(const BlockTraits& t, const google::protobuf::Message& m, const Shape& in,
                              const std::string& path);
int OutChannelsOf(const BlockTraits& t, const google::protobuf::Message& m, int in_c);
int StrideOfBlock(const BlockTraits& t, const google::protobuf::Message& m);
void FillBlockDefaults(const BlockTraits& t, google::protobuf::Message* m);

}  // namespace lutnas::space

#endif  // LUTNAS_SPACE_BLOCK_TRAITS_H_
