// Run views as text.
#include "cli/run_display.h"

#include <cstdio>
#include <sstream>

namespace recomp::cli {
namespace {

std::string Fixed(double v, const char* unit) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%s", v, unit);
  return buf;
}

std::string Pad(std::string s, size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

std::string Num(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? std::to_string(j[key].get<int64_t>()) : "?";
}

std::string Durations(const nlohmann::json& d) {
  if (!d.is_object()) return "-";
  return FormatDuration(d.value("min", 0)) + "/" + FormatDuration(d.value("median", 0)) + "/" +
         FormatDuration(d.value("max", 0));
}

std::string Joined(const nlohmann::json& list, size_t max) {
  std::string out;
  size_t n = 0;
  for (const auto& v : list) {
    if (!v.is_string()) continue;
    if (n++ == max) return out + ",+" + std::to_string(list.size() - max);
    out += (out.empty() ? "" : ",") + v.get<std::string>();
  }
  return out.empty() ? "-" : out;
}

std::string ExitText(const nlohmann::json& f) {
  std::string outcome = f.value("outcome", "");
  if (f.value("signal", 0) != 0) return outcome + ", signal " + Num(f, "signal");
  if (outcome == "failed") return "exit " + Num(f, "exit_code");
  return outcome;
}

void StageTable(std::ostringstream& out, const nlohmann::json& stages) {
  constexpr size_t kCols = 12;
  const char* cols[kCols] = {"STAGE",
                             "STATE",
                             "SHARDS",
                             "OK",
                             "CACHED",
                             "RUN",
                             "QUEUED",
                             "WAIT",
                             "FAIL",
                             "ATTEMPTS",
                             "DURATION min/med/max",
                             "WORKERS"};
  const size_t widths[kCols] = {12, 10, 7, 5, 7, 5, 7, 5, 5, 9, 22, 0};
  for (size_t i = 0; i < kCols; ++i) out << Pad(cols[i], widths[i]);
  out << "\n";
  for (const auto& s : stages) {
    std::string cells[kCols] = {s.value("name", "?"),
                                s.value("state", "?"),
                                Num(s, "shards"),
                                Num(s, "succeeded"),
                                Num(s, "cached"),
                                Num(s, "running"),
                                Num(s, "queued"),
                                Num(s, "waiting"),
                                Num(s, "failed"),
                                Num(s, "attempts"),
                                Durations(s.value("duration_ms", nlohmann::json())),
                                Joined(s.value("workers", nlohmann::json::array()), 3)};
    for (size_t i = 0; i < kCols; ++i) {
      // A cell wider than its column keeps one space before the next.
      std::string c = cells[i];
      if (widths[i] && c.size() >= widths[i]) c += " ";
      out << Pad(std::move(c), widths[i]);
    }
    out << "\n";
  }
}

void Jobs(std::ostringstream& out, const std::string& run_id, const nlohmann::json& s) {
  const std::string name = s.value("name", "?");
  for (const auto& r : s.value("running_jobs", nlohmann::json::array())) {
    out << "  " << name << "/" << Num(r, "shard") << " running, attempt " << Num(r, "attempt")
        << " on " << (r.value("worker", "").empty() ? "(starting)" : r.value("worker", "")) << "\n";
  }
  for (const auto& f : s.value("failures", nlohmann::json::array())) {
    out << "  " << name << "/" << Num(f, "shard") << " FAILED (" << ExitText(f) << ", attempt "
        << Num(f, "attempt")
        << (f.value("worker", "").empty() ? "" : " on " + f.value("worker", ""))
        << "): " << f.value("message", "") << "\n";
    if (!f.value("log_ref", "").empty())
      out << "    log: " << LogsCommand(run_id, name, f.value("shard", 0)) << "\n";
  }
}

void Outputs(std::ostringstream& out, const nlohmann::json& s, size_t max) {
  const auto& list = s.value("outputs", nlohmann::json::array());
  size_t total = s.value("outputs_total", list.size()), n = 0;
  for (const auto& o : list) {
    if (n++ == max) break;
    out << "  " << Pad(s.value("name", "?") + "/" + Num(o, "shard"), 16) << " "
        << Pad(o.value("path", ""), 24) << " " << o.value("ref", "") << "\n";
  }
  if (total > std::min(max, list.size()))
    out << "  " << s.value("name", "?") << ": " << total - std::min(max, list.size())
        << " more outputs (--json lists them)\n";
}

}  // namespace

std::string FormatDuration(uint64_t ms) {
  if (ms < 1000) return std::to_string(ms) + "ms";
  if (ms < 60000) return Fixed(static_cast<double>(ms) / 1000.0, "s");
  char buf[32];
  if (ms < 3600000) {
    std::snprintf(buf, sizeof buf, "%llum%02llus", static_cast<unsigned long long>(ms / 60000),
                  static_cast<unsigned long long>(ms / 1000 % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lluh%02llum", static_cast<unsigned long long>(ms / 3600000),
                  static_cast<unsigned long long>(ms / 60000 % 60));
  }
  return buf;
}

std::string FormatRunView(const nlohmann::json& view, size_t max_outputs) {
  std::ostringstream out;
  const nlohmann::json run = view.value("run", nlohmann::json::object());
  const std::string run_id = run.value("run_id", "?");
  out << run_id << "  " << run.value("state", "?") << "  " << Num(view, "jobs_done") << "/"
      << Num(view, "jobs") << " jobs done  stage=" << run.value("current_stage", "") << "  updated "
      << run.value("updated_at", "") << "\n";
  if (!run.value("reason", "").empty()) out << "reason: " << run.value("reason", "") << "\n";
  if (!view.value("verdict", "").empty())
    out << "validation: " << view.value("verdict", "") << "\n";
  const auto& stages = view.value("stages", nlohmann::json::array());
  out << "\n";
  StageTable(out, stages);
  std::ostringstream jobs, outputs;
  for (const auto& s : stages) {
    Jobs(jobs, run_id, s);
    Outputs(outputs, s, max_outputs);
  }
  if (!jobs.str().empty()) out << "\n" << jobs.str();
  if (!outputs.str().empty()) out << "\noutputs:\n" << outputs.str();
  return out.str();
}

std::string_view LastLines(std::string_view text, size_t n) {
  if (n == 0) return text.substr(text.size());
  size_t end = text.size();
  if (end > 0 && text[end - 1] == '\n') --end;  // the final newline ends the last line
  size_t pos = end;
  for (size_t lines = 0; pos > 0; --pos) {
    if (text[pos - 1] == '\n' && ++lines == n) break;
  }
  return text.substr(pos);
}

std::string LogsCommand(const std::string& run_id, const std::string& stage, uint64_t shard) {
  return "recomp logs " + run_id + " --stage " + stage + " --shard " + std::to_string(shard);
}

}  // namespace recomp::cli
