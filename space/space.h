// Search spaces: loading and validation of SearchSpace files, the genotype
// the search mutates, genotype -> Architecture, seeded sampling and the
// enumeration of every (block, input shape) key a latency table must hold.
// A Space is immutable after Create and safe to share between threads.
#ifndef LUTNAS_SPACE_SPACE_H_
#define LUTNAS_SPACE_SPACE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

#include "base/rng.h"
#include "lutnas/v1/space.pb.h"
#include "space/arch_util.h"
#include "space/keys.h"

namespace lutnas::space {

struct BlockGene {
  v1::BlockType type = v1::BLOCK_TYPE_UNSPECIFIED;
  int kernel = 0;     // 0 where the type has no kernel choice
  int expansion = 0;  // 0 where the type has no expansion
  bool operator==(const BlockGene& o) const {
    return type == o.type && kernel == o.kernel && expansion == o.expansion;
  }
};

struct StageGene {
  int width = 0;
  std::vector<BlockGene> blocks;  // depth = blocks.size()
  bool operator==(const StageGene& o) const { return width == o.width && blocks == o.blocks; }
};

// A point of a search space: what evolution mutates and checkpoints.
struct Genotype {
  int resolution = 0;
  std::vector<StageGene> stages;
  bool operator==(const Genotype& o) const { return resolution == o.resolution && stages == o.stages; }
  // Compact text, e.g. "r128|32:mbconv.k3.e4,conv.k3|..."; Decode inverts.
  std::string Encode() const;
  static absl::StatusOr<Genotype> Decode(const std::string& s);
};

absl::StatusOr<v1::SearchSpace> ParseSpaceJson(const std::string& json);

class Space {
 public:
  // Validates the space (errors name the field path) and expands choices.
  static absl::StatusOr<std::shared_ptr<const Space>> Create(const v1::SearchSpace& proto);
  static absl::StatusOr<std::shared_ptr<const Space>> Load(const std::string& path);

  const v1::SearchSpace& proto() const { return proto_; }
  const std::string& name() const { return proto_.name(); }
  int num_stages() const { return static_cast<int>(stages_.size()); }

  // Expanded per-stage choices (widths snapped to the channel alignment).
  struct StageChoices {
    std::vector<v1::BlockType> types;
    std::vector<int> widths, depths, kernels, expansions;
    int stride = 1;
    bool se = false;
    v1::Activation act = v1::ACTIVATION_UNSPECIFIED;
    bool hidden_widths = false;  // expansions in tenths -> hidden_channels
    bool has_se_options = false;
    v1::SqueezeExcite se_options;  // canonical, when has_se_options
  };
  const StageChoices& stage(int i) const { return stages_[i]; }
  const std::vector<int>& resolutions() const { return resolutions_; }
  int stem_out_channels() const { return stem_out_.c; }

  // Builds the block at a position. Fails for combinations a block type
  // cannot express (e.g. a stride-1 ShuffleNet unit changing width).
  absl::StatusOr<v1::Block> MakeBlock(int stage, const BlockGene& g, int in_c, int out_c, int stride) const;
  // The gene canonicalised for its type (unused kernel/expansion zeroed).
  BlockGene NormalizeGene(const BlockGene& g) const;
  // True when block `g` can sit at that position.
  bool Fits(int stage, const BlockGene& g, int in_c, int out_c, int stride) const;

  Genotype Sample(base::Rng& rng) const;
  // Random gene valid at a position (types filtered by Fits).
  BlockGene SampleGene(int stage, int in_c, int out_c, int stride, base::Rng& rng) const;
  // Repairs widths/types/depths so that the genotype is valid in this space.
  void Repair(Genotype* g, base::Rng& rng) const;
  absl::Status CheckGenotype(const Genotype& g) const;
  // `with_name`: set name "<space>:<genotype>" (skipped on hot paths).
  v1::Architecture ToArchitecture(const Genotype& g, bool with_name = true) const;

  // Every distinct key the space can produce (stem, blocks, head), sorted.
  std::vector<KeySpec> EnumerateKeys() const;

 private:
  Space() = default;
  // The canonical block for a gene at a position (no checks: see Fits).
  v1::Block BuildBlock(int stage, const BlockGene& g, int in_c, int out_c, int stride) const;
  v1::SearchSpace proto_;
  std::vector<StageChoices> stages_;
  std::vector<int> resolutions_;
  Shape stem_out_;  // channels only; spatial depends on resolution
  int alignment_ = 1;
};

}  // namespace lutnas::space

#endif  // LUTNAS_SPACE_SPACE_H_
