#include "shardnode/deanon/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace shardnode::deanon {
namespace {

constexpr double kWidth = 640, kHeight = 420, kLeft = 60, kRight = 150, kTop = 40, kBottom = 50;
constexpr double kPlotW = kWidth - kLeft - kRight, kPlotH = kHeight - kTop - kBottom;

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

struct Series {
  const char* name;
  const char* color;
  const Summary ExperimentResult::*metric;  // nullptr: the closed form
};

}  // namespace

std::string to_svg(const std::vector<ExperimentResult>& sweep) {
  double pmax = 0.0;
  for (const auto& r : sweep) pmax = std::max(pmax, r.config.spy_fraction);
  if (pmax <= 0.0) pmax = 1.0;
  pmax = std::ceil(pmax * 10.0) / 10.0;  // axis to the next tenth
  const auto x = [&](double p) { return kLeft + p / pmax * kPlotW; };
  const auto y = [&](double v) { return kTop + (1.0 - std::clamp(v, 0.0, 1.0)) * kPlotH; };

  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << kHeight
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  o << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  if (!sweep.empty()) {
    const ExperimentConfig& c = sweep.front().config;
    o << "<text x=\"" << kLeft << "\" y=\"20\">first-spy: " << c.nodes << " nodes, " << to_string(c.topology);
    if (c.topology == TopologyKind::random_regular) o << " d=" << c.degree;
    o << ", " << to_string(c.placement) << " spies, " << c.runs << " runs, 95% CI</text>\n";
  }
  // Axes, grid and ticks.
  o << "<g stroke=\"black\"><line x1=\"" << kLeft << "\" y1=\"" << y(0) << "\" x2=\"" << x(pmax) << "\" y2=\"" << y(0)
    << "\"/><line x1=\"" << kLeft << "\" y1=\"" << y(0) << "\" x2=\"" << kLeft << "\" y2=\"" << y(1) << "\"/></g>\n";
  for (int i = 0; i <= 4; ++i) {
    const double v = i / 4.0;
    o << "<line x1=\"" << kLeft << "\" y1=\"" << num(y(v)) << "\" x2=\"" << num(x(pmax)) << "\" y2=\"" << num(y(v))
      << "\" stroke=\"#ddd\"/><text x=\"" << kLeft - 8 << "\" y=\"" << num(y(v) + 4) << "\" text-anchor=\"end\">"
      << num(v) << "</text>\n";
  }
  for (int i = 0; i <= 10; ++i) {
    const double p = pmax * i / 10.0;
    o << "<text x=\"" << num(x(p)) << "\" y=\"" << num(y(0) + 18) << "\" text-anchor=\"middle\">" << num(p)
      << "</text>\n";
  }
  o << "<text x=\"" << num(kLeft + kPlotW / 2) << "\" y=\"" << kHeight - 8
    << "\" text-anchor=\"middle\">spy fraction p</text>\n";

  const Series series[] = {{"precision", "#1f77b4", &ExperimentResult::precision},
                           {"recall", "#d62728", &ExperimentResult::recall},
                           {"inverse rank", "#2ca02c", &ExperimentResult::inverse_rank},
                           {"timing recall", "#9467bd", &ExperimentResult::posterior_recall},
                           {"1-(1-p)^d", "#777777", nullptr}};
  int legend = 0;
  for (const Series& s : series) {
    std::ostringstream path;
    for (const auto& r : sweep) {
      const double p = r.config.spy_fraction;
      const double v = s.metric ? (r.*s.metric).mean : r.flooding_recall_closed_form;
      if (!std::isfinite(v)) continue;
      path << (path.tellp() > 0 ? " L" : "M") << num(x(p)) << ',' << num(y(v));
      if (s.metric && (r.*s.metric).has_ci()) {
        const Summary& m = r.*s.metric;
        o << "<line x1=\"" << num(x(p)) << "\" y1=\"" << num(y(m.ci_low)) << "\" x2=\"" << num(x(p)) << "\" y2=\""
          << num(y(m.ci_high)) << "\" stroke=\"" << s.color << "\"/>\n";
      }
      o << "<circle cx=\"" << num(x(p)) << "\" cy=\"" << num(y(v)) << "\" r=\"3\" fill=\"" << s.color << "\"/>\n";
    }
    o << "<path d=\"" << path.str() << "\" fill=\"none\" stroke=\"" << s.color << "\""
      << (s.metric ? "" : " stroke-dasharray=\"5,4\"") << "/>\n";
    const double ly = kTop + 10 + 20 * legend++;
    o << "<line x1=\"" << num(x(pmax) + 15) << "\" y1=\"" << num(ly) << "\" x2=\"" << num(x(pmax) + 40) << "\" y2=\""
      << num(ly) << "\" stroke=\"" << s.color << "\"" << (s.metric ? "" : " stroke-dasharray=\"5,4\"") << "/><text x=\""
      << num(x(pmax) + 45) << "\" y=\"" << num(ly + 4) << "\">" << s.name << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

}  // namespace shardnode::deanon
