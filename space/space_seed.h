// Seeding a search from a known network: the genotype of a space that builds
// exactly a given architecture (e.g. models/mobilenet_v3_large.json in the
// mbv3 space), or an error naming the first block the space cannot make.
#ifndef LUTNAS_SPACE_SPACE_SEED_H_
#define LUTNAS_SPACE_SPACE_SEED_H_

#include <string>

#include "absl/status/statusor.h"

#include "space/space.h"

namespace lutnas::space {

// `path` prefixes error messages ("seed_architectures[0]").
absl::StatusOr<Genotype> GenotypeOfArchitecture(const Space& space, const v1::Architecture& arch,
                                                const std::string& path);

}  // namespace lutnas::space

#endif  // LUTNAS_SPACE_SPACE_SEED_H_
