// A deterministic report of what the space layer does with many random blocks (valid and not):
// the validation message or output shape, the key text, the canonical block's bytes, parsing
// of the key and of mutated keys, and every key of the shipped spaces. tests/data/
// block_golden.txt holds the report of the code before the traits table (issue 12); space_test
// compares the current code's report with it line by line, so any change to keys, hashes,
// canonical forms or error messages shows up. Only API that existed before the table is used.
#ifndef LUTNAS_TESTS_BLOCK_GOLDEN_H_
#define LUTNAS_TESTS_BLOCK_GOLDEN_H_

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/descriptor.h"

#include "base/rng.h"
#include "space/arch_ext.h"
#include "space/arch_util.h"
#include "space/space.h"

namespace lutnas::golden {

// Fills every field of `m` at random from small pools of interesting values (or leaves it unset).
inline void RandomFill(google::protobuf::Message* m, base::Rng& rng, int depth = 0) {
  static const int kInts[] = {-1, 0,  1,  2,  3,  4,  5,  6,  7,  8,   9,
                              10, 11, 15, 16, 17, 24, 32, 40, 64, 120, 17000};
  static const double kReals[] = {-1, 0, 0.1, 0.25, 0.3, 0.333333, 0.5, 0.75, 1, 1.5};
  const auto* d = m->GetDescriptor();
  const auto* r = m->GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const auto* f = d->field(i);
    if (f->is_repeated() || rng.Uniform(3) == 0) continue;
    switch (f->cpp_type()) {
      case google::protobuf::FieldDescriptor::CPPTYPE_INT32:
        r->SetInt32(m, f, kInts[rng.Uniform(sizeof(kInts) / sizeof(kInts[0]))]);
        break;
      case google::protobuf::FieldDescriptor::CPPTYPE_DOUBLE:
        r->SetDouble(m, f, kReals[rng.Uniform(sizeof(kReals) / sizeof(kReals[0]))]);
        break;
      case google::protobuf::FieldDescriptor::CPPTYPE_BOOL:
        r->SetBool(m, f, rng.Uniform(2) == 1);
        break;
      case google::protobuf::FieldDescriptor::CPPTYPE_ENUM:
        r->SetEnumValue(
            m, f, rng.Uniform(8) == 0 ? 9 : static_cast<int>(rng.Uniform(f->enum_type()->value_count())));
        break;
      case google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE:
        if (depth < 2) RandomFill(r->MutableMessage(m, f), rng, depth + 1);
        break;
      default:
        break;
    }
  }
}

inline std::string Hex(const std::string& bytes) { return absl::StrFormat("%016x", space::Fnv1a64(bytes)); }

// Key variants that must fail or parse: tokens dropped, swapped, doubled, renumbered.
inline std::vector<std::string> Mutations(const std::string& key, base::Rng& rng) {
  const size_t at = key.find('@');
  const size_t colon = key.find(':');
  std::vector<std::string> out;
  if (at == std::string::npos || colon == std::string::npos || colon > at) return out;
  std::vector<std::string> toks = absl::StrSplit(key.substr(colon + 1, at - colon - 1), ',');
  const std::string type = key.substr(0, colon + 1), shape = key.substr(at);
  auto join = [&](const std::vector<std::string>& t) {
    return absl::StrCat(type, absl::StrJoin(t, ","), shape);
  };
  const size_t i = rng.Uniform(toks.size()), j = rng.Uniform(toks.size());
  auto a = toks;
  a.erase(a.begin() + i);
  out.push_back(join(a));
  auto b = toks;
  std::swap(b[i], b[j]);
  out.push_back(join(b));
  auto c = toks;
  c.insert(c.begin() + i, toks[i]);
  out.push_back(join(c));
  auto e = toks;
  e[i] += "0";
  out.push_back(join(e));
  out.push_back(absl::StrCat(type, absl::StrJoin(toks, ","), "@", rng.Uniform(3) + 1, "x7x9"));
  return out;
}

inline std::string ParseReport(const std::string& key) {
  auto ks = space::ParseKey(key);
  if (!ks.ok()) return absl::StrCat("  parse ", key, " -> ", ks.status().message());
  return absl::StrCat("  parse ", key, " -> ok ",
                      ks->is_head ? space::HeadKey(ks->head, ks->in) : space::BlockKey(ks->block, ks->in),
                      " ", Hex(ks->block.SerializeAsString()));
}

// The report: `n` random blocks from `seed`, then the keys of each space file.
inline std::string BlockReport(uint64_t seed, int n, const std::vector<std::string>& space_files) {
  base::Rng rng(seed);
  std::string out;
  const auto* oneof = v1::Block::descriptor()->FindOneofByName("kind");
  static const int kCh[] = {1, 2, 3, 8, 16, 24, 32, 64};
  static const int kSp[] = {1, 7, 8, 16, 56};
  for (int i = 0; i < n; ++i) {
    v1::Block b;
    const int which = static_cast<int>(rng.Uniform(oneof->field_count() + 1));
    if (which < oneof->field_count()) {
      const auto* f = oneof->field(which);
      RandomFill(b.GetReflection()->MutableMessage(&b, f), rng);
    }
    const space::Shape in{kCh[rng.Uniform(8)], kSp[rng.Uniform(5)], kSp[rng.Uniform(5)]};
    space::Shape o;
    const absl::Status st = space::ValidateBlock(b, in, "b", &o);
    const v1::Block c = space::CanonicalBlock(b);
    absl::StrAppend(&out, i, " ", space::BlockTypeName(space::TypeOf(b)), " ", Hex(b.SerializeAsString()),
                    " @", in.ToString(), " -> ",
                    st.ok() ? absl::StrCat("ok ", o.ToString()) : std::string(st.message()), " | ",
                    space::EncodeBlock(b), " | ", Hex(c.SerializeAsString()), "\n");
    if (!st.ok()) continue;
    const std::string key = space::BlockKey(b, in);
    absl::StrAppend(&out, "  ext ", space::HasExtendedFields(c) ? 1 : 0, " stride ", space::BlockStride(c),
                    "\n", ParseReport(key), "\n");
    for (const std::string& m : Mutations(key, rng)) absl::StrAppend(&out, ParseReport(m), "\n");
  }
  for (const std::string& file : space_files) {
    auto sp = space::Space::Load(file);
    if (!sp.ok()) {
      absl::StrAppend(&out, "space ", file, ": ", sp.status().message(), "\n");
      continue;
    }
    const auto keys = (*sp)->EnumerateKeys();
    std::string all;
    for (const auto& k : keys) {
      auto ks = space::ParseKey(k.key);
      absl::StrAppend(&all, k.key, ks.ok() ? "" : " PARSE-FAILED", "\n");
    }
    base::Rng srng(7);
    std::string hashes;
    for (int s = 0; s < 200; ++s)
      absl::StrAppend(&hashes,
                      space::ArchHash(space::Canonicalize((*sp)->ToArchitecture((*sp)->Sample(srng)))));
    absl::StrAppend(&out, "space ", file.substr(file.rfind('/') + 1), ": ", keys.size(), " keys ", Hex(all),
                    " archs ", Hex(hashes), "\n");
  }
  return out;
}

// The report as stored: lines up to 60 characters verbatim, longer ones as "~<hash>".
inline std::string Compact(const std::string& report) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(report, '\n', absl::SkipEmpty())) {
    if (line.size() <= 60)
      absl::StrAppend(&out, line, "\n");
    else
      absl::StrAppend(&out, "~", Hex(std::string(line)), "\n");
  }
  return out;
}

}  // namespace lutnas::golden

#endif  // LUTNAS_TESTS_BLOCK_GOLDEN_H_
