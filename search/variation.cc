#include "search/variation.h"

#include <utility>
#include <vector>

namespace lutnas::search {
namespace {

constexpr int kMutateTries = 16;   // operators drawn until one applies
constexpr int kDistinctTries = 8;  // mutations tried until the child differs

// Largest / smallest value of `v` below / above `cur`; false when none.
bool NextLower(const std::vector<int>& v, int cur, int* out) {
  bool found = false;
  for (int x : v)
    if (x < cur && (!found || x > *out)) *out = x, found = true;
  return found;
}
bool NextHigher(const std::vector<int>& v, int cur, int* out) {
  bool found = false;
  for (int x : v)
    if (x > cur && (!found || x < *out)) *out = x, found = true;
  return found;
}

// A value of `v` other than `cur`, uniformly; false when there is none.
bool PickOther(const std::vector<int>& v, int cur, base::Rng& rng, int* out) {
  std::vector<int> others;
  for (int x : v)
    if (x != cur) others.push_back(x);
  if (others.empty()) return false;
  *out = others[rng.Uniform(static_cast<int>(others.size()))];
  return true;
}

int Size(const std::vector<space::BlockGene>& v) { return static_cast<int>(v.size()); }

}  // namespace

void Variation::Mutate(space::Genotype* g, base::Rng& rng) const {
  for (int t = 0; t < kMutateTries; ++t)
    if (ApplyOp(g, rng.Uniform(6), rng)) break;
  space_->Repair(g, rng);
}

space::Genotype Variation::Child(const space::Genotype& parent, base::Rng& rng) const {
  const std::string parent_key = parent.Encode();
  space::Genotype g;
  for (int t = 0; t < kDistinctTries; ++t) {
    g = parent;
    Mutate(&g, rng);
    if (g.Encode() != parent_key) break;
  }
  return g;
}

bool Variation::ApplyOp(space::Genotype* g, int op, base::Rng& rng) const {
  switch (op) {
    case 0:
      return PickOther(space_->resolutions(), g->resolution, rng, &g->resolution);
    case 1: {
      const int s = rng.Uniform(space_->num_stages());
      return PickOther(space_->stage(s).widths, g->stages[s].width, rng, &g->stages[s].width);
    }
    case 2:
      return MutateDepth(g, rng);
    case 3:
      return MutateType(g, rng);
    default:
      return MutateBlockField(g, op == 4, rng);
  }
}

bool Variation::MutateDepth(space::Genotype* g, base::Rng& rng) const {
  const int s = rng.Uniform(space_->num_stages());
  auto& st = g->stages[s];
  const int d = Size(st.blocks);
  int lo = 0, hi = 0;
  const bool has_lo = NextLower(space_->stage(s).depths, d, &lo);
  const bool has_hi = NextHigher(space_->stage(s).depths, d, &hi);
  if (!has_lo && !has_hi) return false;
  const int target = (has_lo && has_hi) ? (rng.Uniform(2) ? hi : lo) : (has_lo ? lo : hi);
  // Remove random blocks, or insert new ones after the first (which keeps
  // the stage's stride and input width).
  while (Size(st.blocks) > target) st.blocks.erase(st.blocks.begin() + rng.Uniform(Size(st.blocks)));
  while (Size(st.blocks) < target) {
    const int pos = 1 + rng.Uniform(Size(st.blocks));
    st.blocks.insert(st.blocks.begin() + pos, space_->SampleGene(s, st.width, st.width, 1, rng));
  }
  return true;
}

bool Variation::MutateType(space::Genotype* g, base::Rng& rng) const {
  const int s = rng.Uniform(space_->num_stages());
  auto& st = g->stages[s];
  const int j = rng.Uniform(Size(st.blocks));
  const auto& c = space_->stage(s);
  const int in_c = j > 0 ? st.width : s == 0 ? space_->stem_out_channels() : g->stages[s - 1].width;
  const int stride = j == 0 ? c.stride : 1;
  space::BlockGene& b = st.blocks[j];
  std::vector<space::BlockGene> options;  // other types that fit here
  for (auto t : c.types) {
    if (t == b.type) continue;
    const space::BlockGene n = space_->NormalizeGene(
        {t, b.kernel ? b.kernel : c.kernels[0], b.expansion ? b.expansion : c.expansions[0]});
    if (space_->Fits(s, n, in_c, st.width, stride)) options.push_back(n);
  }
  if (options.empty()) return false;
  b = options[rng.Uniform(static_cast<int>(options.size()))];
  return true;
}

bool Variation::MutateBlockField(space::Genotype* g, bool kernel, base::Rng& rng) const {
  std::vector<std::pair<int, int>> sites;  // blocks with a choice
  for (int s = 0; s < space_->num_stages(); ++s) {
    const auto& c = space_->stage(s);
    if ((kernel ? c.kernels : c.expansions).size() < 2) continue;
    for (int j = 0; j < Size(g->stages[s].blocks); ++j) {
      const space::BlockGene n = space_->NormalizeGene({g->stages[s].blocks[j].type, 3, 1});
      if (kernel ? n.kernel != 0 : n.expansion != 0) sites.emplace_back(s, j);
    }
  }
  if (sites.empty()) return false;
  const auto [s, j] = sites[rng.Uniform(static_cast<int>(sites.size()))];
  space::BlockGene& b = g->stages[s].blocks[j];
  const auto& c = space_->stage(s);
  return kernel ? PickOther(c.kernels, b.kernel, rng, &b.kernel)
                : PickOther(c.expansions, b.expansion, rng, &b.expansion);
}

bool Variation::Shrink(space::Genotype* g, base::Rng& rng) const {
  enum { kRes, kWidth, kDepth, kExpansion, kKinds };
  std::vector<std::pair<int, int>> moves[kKinds];  // (stage, block)
  int lower = 0;
  if (NextLower(space_->resolutions(), g->resolution, &lower)) moves[kRes].emplace_back(-1, -1);
  for (int s = 0; s < space_->num_stages(); ++s) {
    const auto& c = space_->stage(s);
    const auto& st = g->stages[s];
    if (NextLower(c.widths, st.width, &lower)) moves[kWidth].emplace_back(s, -1);
    if (NextLower(c.depths, Size(st.blocks), &lower)) moves[kDepth].emplace_back(s, -1);
    for (int j = 0; j < Size(st.blocks); ++j)
      if (st.blocks[j].expansion > 0 && NextLower(c.expansions, st.blocks[j].expansion, &lower))
        moves[kExpansion].emplace_back(s, j);
  }
  std::vector<int> kinds;
  for (int k = 0; k < kKinds; ++k)
    if (!moves[k].empty()) kinds.push_back(k);
  if (kinds.empty()) return false;
  const int kind = kinds[rng.Uniform(static_cast<int>(kinds.size()))];
  const auto [s, j] = moves[kind][rng.Uniform(static_cast<int>(moves[kind].size()))];
  switch (kind) {
    case kRes:
      NextLower(space_->resolutions(), g->resolution, &g->resolution);
      break;
    case kWidth:
      NextLower(space_->stage(s).widths, g->stages[s].width, &g->stages[s].width);
      break;
    case kDepth:
      NextLower(space_->stage(s).depths, Size(g->stages[s].blocks), &lower);
      g->stages[s].blocks.resize(lower);  // drop the last blocks
      break;
    case kExpansion: {
      space::BlockGene& b = g->stages[s].blocks[j];
      NextLower(space_->stage(s).expansions, b.expansion, &b.expansion);
      break;
    }
  }
  space_->Repair(g, rng);
  return true;
}

space::Genotype Variation::Crossover(const space::Genotype& a, const space::Genotype& b,
                                     base::Rng& rng) const {
  space::Genotype g = a;
  const int ns = space_->num_stages();
  const int cut = rng.Uniform(ns + 1);
  for (int s = cut; s < ns; ++s) g.stages[s] = b.stages[s];
  if (rng.Uniform(2)) g.resolution = b.resolution;
  space_->Repair(&g, rng);
  return g;
}

space::Genotype Variation::UniformCrossover(const space::Genotype& a, const space::Genotype& b,
                                            base::Rng& rng) const {
  space::Genotype g = a;
  if (rng.Uniform(2)) g.resolution = b.resolution;
  for (int s = 0; s < space_->num_stages(); ++s) {
    const auto& sa = a.stages[s].blocks;
    const auto& sb = b.stages[s].blocks;
    auto& st = g.stages[s];
    if (rng.Uniform(2)) st.width = b.stages[s].width;
    st.blocks = rng.Uniform(2) ? sb : sa;  // the depth of one parent
    for (size_t j = 0; j < st.blocks.size(); ++j)
      if (j < sa.size() && j < sb.size()) st.blocks[j] = rng.Uniform(2) ? sb[j] : sa[j];
  }
  space_->Repair(&g, rng);
  return g;
}

}  // namespace lutnas::search
