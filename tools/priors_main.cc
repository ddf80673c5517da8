// lutnas-priors: how well the spec-only prior of each catalogue device
// reproduces the published end-to-end figures cited in its entry.
//   lutnas-priors --catalog server/hardware_catalog.json [--models DIR]
//                 [--hardware NAME] [--json]
// For every figure: the default prior (50% block roofline, what lutnasd
// answered before efficiencies), the prior with the entry's stored
// efficiencies (what lutnasd answers now), a fit on all of the device's
// figures, and the leave-one-out estimate (fitted without that figure).
// Exit 0, 1 on an error (the message names the file and field).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/util/json_util.h"

#include "base/file.h"
#include "latency_models/lut.h"
#include "latency_models/spec_prior.h"
#include "lutnas/v1/service.pb.h"
#include "space/arch_util.h"
#include "space/space.h"

namespace {

using lutnas::v1::Hardware;

int Usage() {
  std::fprintf(stderr,
               "usage: lutnas-priors --catalog FILE.json [--models DIR] [--hardware NAME] [--json]\n"
               "  FILE.json: a hardware catalogue ({\"hardware\": [...]}, as server/hardware_catalog.json\n"
               "  or `lutnas hardware list --json`); DIR: zoo models (default: models)\n");
  return 2;
}

int Fail(const std::string& msg) {
  std::fprintf(stderr, "error: %s\n", msg.c_str());
  return 1;
}

std::string JsonStr(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\')
      o += '\\', o += c;
    else if (static_cast<unsigned char>(c) < 0x20)
      absl::StrAppendFormat(&o, "\\u%04x", c);
    else
      o += c;
  }
  return o + "\"";
}

struct Row {
  std::string network;
  double published = 0, default_ms = 0, stored_ms = 0, fitted_ms = 0, loo_ms = 0;
  int loo_params = 0;
  double loo_ratio() const { return std::max(loo_ms / published, published / loo_ms); }
};

}  // namespace

int main(int argc, char** argv) {
  std::string catalog, models = "models", only;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    auto next = [&](std::string* v) {
      if (i + 1 >= argc) return false;
      *v = argv[++i];
      return true;
    };
    if (!std::strcmp(argv[i], "--catalog")) {
      if (!next(&catalog)) return Usage();
    } else if (!std::strcmp(argv[i], "--models")) {
      if (!next(&models)) return Usage();
    } else if (!std::strcmp(argv[i], "--hardware")) {
      if (!next(&only)) return Usage();
    } else if (!std::strcmp(argv[i], "--json"))
      json = true;
    else
      return Usage();
  }
  if (catalog.empty()) return Usage();
  auto text = lutnas::base::ReadFileToString(catalog);
  if (!text.ok()) return Fail(std::string(text.status().message()));
  lutnas::v1::ListHardwareResponse list;
  google::protobuf::util::JsonParseOptions o;
  o.ignore_unknown_fields = true;
  auto st = google::protobuf::util::JsonStringToMessage(*text, &list, o);
  if (!st.ok()) return Fail(absl::StrCat(catalog, ": ", st.message().as_string()));

  std::string out = "{\"devices\": [";
  int devices = 0;
  bool found = only.empty();
  for (int h = 0; h < list.hardware_size(); ++h) {
    const Hardware& hw = list.hardware(h);
    if (!only.empty() && hw.name() != only) continue;
    found = true;
    if (hw.published_size() == 0) {
      if (!only.empty()) return Fail(absl::StrCat(hw.name(), ": the entry cites no published figures"));
      continue;
    }
    const std::string where = absl::StrCat(catalog, ": ", hw.name());
    if (!(hw.peak_gops() > 0) || !(hw.bandwidth_gbs() > 0))
      return Fail(absl::StrCat(where, ": published figures but no peak_gops/bandwidth_gbs to scale"));
    const int bpe = lutnas::latency::BytesPerElement(hw.precision());
    Hardware plain = hw;
    plain.clear_efficiency();
    auto base = lutnas::latency::LatencyPredictor::Create(plain, nullptr);
    auto stored = lutnas::latency::LatencyPredictor::Create(hw, nullptr);
    if (!base.ok() || !stored.ok()) return Fail(absl::StrCat(where, ": ", base.status().message()));
    std::vector<std::vector<lutnas::latency::PeakTime>> nets;
    std::vector<double> pub;
    std::vector<Row> rows;
    for (int f = 0; f < hw.published_size(); ++f) {
      const auto& fig = hw.published(f);
      const std::string fwhere = absl::StrCat(where, ": published[", f, "]");
      if (!(fig.latency_ms() > 0) || !std::isfinite(fig.latency_ms()))
        return Fail(absl::StrCat(fwhere, ".latency_ms: must be a finite number > 0"));
      if (fig.network().empty() || fig.network().find('/') != std::string::npos)
        return Fail(absl::StrCat(fwhere, ".network: must name a zoo model (models/NAME.json)"));
      auto arch = lutnas::space::LoadArchitectureFile(absl::StrCat(models, "/", fig.network(), ".json"));
      if (!arch.ok()) return Fail(absl::StrCat(fwhere, ".network: ", arch.status().message()));
      if (auto v = lutnas::space::ValidateArchitecture(*arch); !v.ok())
        return Fail(absl::StrCat(fwhere, ".network: ", v.message()));
      const auto canon = lutnas::space::Canonicalize(*arch);
      nets.push_back(lutnas::latency::NetworkPeakTimes(canon, hw, bpe));
      pub.push_back(fig.latency_ms());
      Row r;
      r.network = fig.network();
      r.published = fig.latency_ms();
      r.default_ms = (*base)->PredictMs(canon);
      r.stored_ms = (*stored)->PredictMs(canon);
      rows.push_back(r);
    }
    const auto all = lutnas::latency::FitEfficiency(nets, pub);
    double worst = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      rows[i].fitted_ms = lutnas::latency::PriorMs(nets[i], all.eff);
      std::vector<std::vector<lutnas::latency::PeakTime>> n2;
      std::vector<double> p2;
      for (size_t j = 0; j < rows.size(); ++j)
        if (j != i) n2.push_back(nets[j]), p2.push_back(pub[j]);
      const auto loo = lutnas::latency::FitEfficiency(n2, p2);
      rows[i].loo_params = loo.params;
      rows[i].loo_ms = loo.params == 0 ? rows[i].default_ms : lutnas::latency::PriorMs(nets[i], loo.eff);
      worst = std::max(worst, rows[i].loo_ratio());
    }
    const bool enough = rows.size() >= 2;
    bool has_stored = false;
    const auto stored_eff = lutnas::latency::EfficiencyOf(hw, &has_stored);
    if (json) {
      absl::StrAppendFormat(
          &out,
          "%s\n {\"hardware\": %s, \"figures\": %d, \"fit\": {\"compute\": %.4g, \"bandwidth\": %.4g, "
          "\"params\": %d}, \"stored\": %s, \"worst_loo_ratio\": %.4g, \"enough_figures\": %s, \"rows\": [",
          devices ? "," : "", JsonStr(hw.name()), static_cast<int>(rows.size()), all.eff.compute[0],
          all.eff.bandwidth[0], all.params,
          has_stored ? absl::StrFormat("{\"compute\": %.4g, \"bandwidth\": %.4g}", stored_eff.compute[0],
                                       stored_eff.bandwidth[0])
                     : std::string("null"),
          worst, enough ? "true" : "false");
      for (size_t i = 0; i < rows.size(); ++i) {
        const auto& r = rows[i];
        absl::StrAppendFormat(&out,
                              "%s\n  {\"network\": %s, \"published_ms\": %.6g, \"default_ms\": %.6g, "
                              "\"stored_ms\": %.6g, \"fitted_ms\": %.6g, \"loo_ms\": %.6g, "
                              "\"loo_params\": %d, \"loo_ratio\": %.4g}",
                              i ? "," : "", JsonStr(r.network), r.published, r.default_ms, r.stored_ms,
                              r.fitted_ms, r.loo_ms, r.loo_params, r.loo_ratio());
      }
      out += "]}";
    } else {
      std::printf("%s: %d figure%s; fit on all: compute %.3g, bandwidth %.3g of peak (%d parameter%s)\n",
                  hw.name().c_str(), static_cast<int>(rows.size()), rows.size() == 1 ? "" : "s",
                  all.eff.compute[0], all.eff.bandwidth[0], all.params, all.params == 1 ? "" : "s");
      std::printf("  %-20s %10s %10s %10s %10s %10s %8s\n", "network", "published", "default", "stored",
                  "fitted", "LOO", "LOO x");
      for (const auto& r : rows)
        std::printf("  %-20s %10.3f %10.3f %10.3f %10.3f %10.3f %8.2f\n", r.network.c_str(), r.published,
                    r.default_ms, r.stored_ms, r.fitted_ms, r.loo_ms, r.loo_ratio());
      if (!enough)
        std::printf(
            "  too few figures for a leave-one-out check: the left-out figure is predicted by "
            "the 50%% default\n");
      else
        std::printf("  worst leave-one-out factor %.2f (%s 1.5)\n", worst,
                    worst <= 1.5 ? "within" : "outside");
    }
    ++devices;
  }
  if (!found) return Fail(absl::StrCat(catalog, ": no hardware named '", only, "'"));
  if (json)
    std::printf("%s\n]}\n", out.c_str());
  else if (devices == 0)
    std::printf("no device in %s cites published figures\n", catalog.c_str());
  return 0;
}
