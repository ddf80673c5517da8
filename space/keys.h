// The latency-table key codec, in one place: block and head text ("mbconv:o24,e6,k3,s2,se0,relu6",
// "head:c0,relu,f0,n100", "fhead:s8-16-32"), the "@CxHxW" input-shape suffix, squeeze-excite
// tokens, parsing back (canonical keys only), and the key grammar as JSON for clients that
// read keys (clients/python/lutnas/key_grammar.json, written by `lutnas-inspect key-grammar`).
// Block text follows the rows of block_traits.cc. EncodeBlock, EncodeHead and ActName are
// declared in arch_util.h (the canonical encoding uses them) and defined in keys.cc.
// Thread-compatible free functions.
#ifndef LUTNAS_SPACE_KEYS_H_
#define LUTNAS_SPACE_KEYS_H_

#include <map>
#include <set>
#include <string>

#include "absl/status/statusor.h"

#include "lutnas/v1/arch.pb.h"
#include "space/arch_util.h"

namespace lutnas::space {

// One latency-table key with what is needed to build and measure it.
struct KeySpec {
  std::string key;  // "mbconv:o24,e6,k3,s2,se0,relu6@16x56x56"
  bool is_head = false;
  v1::Block block;  // canonical; unused for the head
  v1::Head head;
  Shape in;
};

std::string BlockKey(const v1::Block& b, const Shape& in);
std::string HeadKey(const v1::Head& h, const Shape& in);

// Inverse of BlockKey/HeadKey: parses and validates a key; errors name the
// problem ("unknown block type 'foo'"). Only canonical keys are accepted.
absl::StatusOr<KeySpec> ParseKey(const std::string& key);

// Squeeze-excite key tokens of non-default options (",sein,ser0.3,sed1,sesig,sesilu"), "" for
// the defaults; and the same tokens applied back.
std::string EncodeSeTokens(const v1::SqueezeExcite& canonical);
void ApplySeTokens(const std::set<std::string>& words, const std::map<std::string, double>& num,
                   v1::SqueezeExcite* se);
bool HasSeTokens(const std::set<std::string>& words, const std::map<std::string, double>& num);

// Feature-map head text: "fhead:s8-16-32"; the body after "fhead:" parses back (validated).
std::string EncodeFeatureHead(const v1::Head& h);
absl::Status ParseFeatureHead(const std::string& body, v1::Head* h);

// The key grammar (every type's tokens in order, activations, SE tokens, heads, the shape
// suffix) as pretty JSON, generated from the traits table.
std::string KeyGrammarJson();

}  // namespace lutnas::space

#endif  // LUTNAS_SPACE_KEYS_H_
