#include "space/space_seed.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

#include "space/arch_ext.h"

namespace lutnas::space {

absl::StatusOr<Genotype> GenotypeOfArchitecture(const Space& space, const v1::Architecture& raw,
                                                const std::string& path) {
  using absl::StrCat;
  auto bad = [&](const std::string& field, const std::string& why) {
    return absl::InvalidArgumentError(StrCat(path, ".", field, ": ", why));
  };
  if (auto st = ValidateArchitecture(raw); !st.ok())
    return absl::InvalidArgumentError(StrCat(path, ".", st.message()));
  const v1::Architecture arch = Canonicalize(raw);
  const auto& sp = space.proto();
  const auto& res = space.resolutions();
  if (std::find(res.begin(), res.end(), arch.resolution()) == res.end())
    return bad("resolution", StrCat(arch.resolution(), " is not a resolution of space '", space.name(), "'"));
  const int height = sp.has_height() ? sp.height() : arch.resolution();
  if (InputHeight(arch) != height)
    return bad("height",
               StrCat("space '", space.name(), "' has input height ", height, ", got ", InputHeight(arch)));
  if (arch.in_channels() != (sp.has_in_channels() ? sp.in_channels() : 3))
    return bad("in_channels", "differs from the space's");
  if (arch.stem_size() != sp.stem_size())
    return bad("stem", StrCat("has ", arch.stem_size(), " blocks, the space's stem ", sp.stem_size()));
  for (int i = 0; i < sp.stem_size(); ++i)
    if (EncodeBlock(arch.stem(i)) != EncodeBlock(sp.stem(i)))
      return bad(StrCat("stem[", i, "]"),
                 StrCat(EncodeBlock(arch.stem(i)), " is not the space's ", EncodeBlock(sp.stem(i))));
  v1::Head head = sp.head();
  if (head.act() == v1::ACTIVATION_UNSPECIFIED) head.set_act(v1::RELU);
  if (EncodeHead(arch.head()) != EncodeHead(head))
    return bad("head", StrCat(EncodeHead(arch.head()), " is not the space's ", EncodeHead(head)));
  if (arch.stages_size() != space.num_stages())
    return bad("stages", StrCat("has ", arch.stages_size(), " stages, the space ", space.num_stages()));
  Genotype g;
  g.resolution = arch.resolution();
  int in_c = space.stem_out_channels();
  for (int i = 0; i < space.num_stages(); ++i) {
    const auto& c = space.stage(i);
    const auto& blocks = arch.stages(i).blocks();
    StageGene st;
    st.width = OutShape(blocks[0], Shape{in_c, 64, 64}).c;
    if (std::find(c.widths.begin(), c.widths.end(), st.width) == c.widths.end())
      return bad(StrCat("stages[", i, "]"), StrCat("width ", st.width, " is not a choice"));
    if (std::find(c.depths.begin(), c.depths.end(), blocks.size()) == c.depths.end())
      return bad(StrCat("stages[", i, "]"), StrCat("depth ", blocks.size(), " is not a choice"));
    for (int j = 0; j < blocks.size(); ++j) {
      const int bin = j == 0 ? in_c : st.width, stride = j == 0 ? c.stride : 1;
      const std::string want = EncodeBlock(blocks[j]);
      bool found = false;
      for (auto t : c.types) {
        for (int k : c.kernels) {
          for (int e : c.expansions) {
            const BlockGene gene = space.NormalizeGene({t, k, e});
            auto b = space.MakeBlock(i, gene, bin, st.width, stride);
            if (b.ok() && EncodeBlock(*b) == want) {
              st.blocks.push_back(gene);
              found = true;
              break;
            }
          }
          if (found) break;
        }
        if (found) break;
      }
      if (!found)
        return bad(StrCat("stages[", i, "].blocks[", j, "]"),
                   StrCat(want, " on ", bin, " input channels is not a choice of space '", space.name(),
                          "' stage ", i));
    }
    in_c = st.width;
    g.stages.push_back(std::move(st));
  }
  if (auto st = space.CheckGenotype(g); !st.ok())
    return absl::InvalidArgumentError(StrCat(path, ": ", st.message()));
  return g;
}

}  // namespace lutnas::space
