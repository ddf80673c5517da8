#include "latency_models/table_merge.h"

#include <set>
#include <string>

#include "absl/strings/str_cat.h"

#include "space/arch_util.h"

namespace lutnas::latency {

std::vector<space::KeySpec> MissingKeys(const std::vector<v1::Architecture>& archs,
                                        const v1::LatencyTable& table) {
  std::set<std::string> have;
  for (const auto& e : table.entries()) have.insert(e.key());
  std::vector<space::KeySpec> out;
  std::set<std::string> seen;
  auto add = [&](space::KeySpec k) {
    if (have.count(k.key) || !seen.insert(k.key).second) return;
    out.push_back(std::move(k));
  };
  for (const auto& arch : archs) {
    const auto sites = space::ListBlocks(arch);
    for (const auto& s : sites) {
      space::KeySpec k;
      k.block = s.block;
      k.in = s.in;
      k.key = space::BlockKey(s.block, s.in);
      add(std::move(k));
    }
    space::KeySpec h;
    h.is_head = true;
    h.head = arch.head();
    h.in = sites.empty() ? space::InputShape(arch) : sites.back().out;
    h.key = space::HeadKey(arch.head(), h.in);
    add(std::move(h));
  }
  return out;
}

absl::StatusOr<v1::LatencyTable> MergeTables(const v1::LatencyTable& base, const v1::LatencyTable& added) {
  v1::LatencyTable t;
  *t.mutable_info() = base.info();
  auto* info = t.mutable_info();
  info->clear_version();
  info->clear_created_unix_ms();
  info->clear_entries();
  info->clear_failed();
  const std::string src = base.info().source().empty() ? "profile" : base.info().source();
  info->set_source(src.rfind("merge:", 0) == 0 ? src : absl::StrCat("merge:", src));
  std::set<std::string> keys;
  for (const auto& e : base.entries()) {
    keys.insert(e.key());
    *t.add_entries() = e;
  }
  for (int i = 0; i < added.entries_size(); ++i) {
    const auto& e = added.entries(i);
    if (!keys.insert(e.key()).second)
      return absl::InvalidArgumentError(
          absl::StrCat("entries[", i, "].key: '", e.key(), "' is already in the table"));
    *t.add_entries() = e;
  }
  return t;
}

}  // namespace lutnas::latency
