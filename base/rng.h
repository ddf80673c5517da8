// Deterministic, platform-independent random numbers (xoshiro256**, seeded by
// splitmix64). Unlike std:: distributions its outputs are the same on every
// compiler, and its whole state can be saved in a checkpoint.
// Not thread-safe: one Rng per thread or per job.
#ifndef LUTNAS_BASE_RNG_H_
#define LUTNAS_BASE_RNG_H_

#include <array>
#include <cstdint>
#include <string>

namespace lutnas::base {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { Seed(seed); }
  void Seed(uint64_t seed) {
    for (auto& w : s_) {
      seed += 0x9e3779b97f4a7c15ull;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      w = z ^ (z >> 31);
    }
  }
  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, n); n > 0. Multiply-shift: no modulo bias worth noting.
  int Uniform(int n) { return static_cast<int>(((Next() >> 32) * static_cast<uint64_t>(n)) >> 32); }
  double Uniform01() { return (Next() >> 11) * 0x1.0p-53; }
  bool Bernoulli(double p) { return Uniform01() < p; }

  std::array<uint64_t, 4> state() const { return s_; }
  void set_state(const std::array<uint64_t, 4>& s) { s_ = s; }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::array<uint64_t, 4> s_;
};

}  // namespace lutnas::base

#endif  // LUTNAS_BASE_RNG_H_
