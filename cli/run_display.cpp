// Run views as text.
#include "cli/run_display.h"

#include <algorithm>
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

std::string ProgressBar(uint64_t done, uint64_t total, size_t width) {
  const double f = total == 0 ? 0.0 : std::min(1.0, static_cast<double>(done) / total);
  const size_t filled = static_cast<size_t>(f * static_cast<double>(width));
  char pct[16];
  std::snprintf(pct, sizeof pct, "%3d%%", static_cast<int>(f * 100.0));
  return "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] " + pct;
}

namespace {

std::string Cut(std::string line, size_t width) {
  if (line.size() > width) line.resize(width);
  return line + "\n";
}

std::string WorkerJobs(const nlohmann::json& w) {
  std::string out;
  size_t n = 0;
  for (const auto& j : w.value("jobs", nlohmann::json::array())) {
    if (n++ == 4) return out + ", ...";
    out += (out.empty() ? "" : ", ") + j.value("stage", "?") + "/" + Num(j, "shard");
  }
  return out.empty() ? "-" : out;
}

}  // namespace

std::string FormatTop(const nlohmann::json& stats, const nlohmann::json& workers, double jobs_per_s,
                      size_t width) {
  std::string out;
  char head[256];
  std::snprintf(head, sizeof head,
                "recomp top   runs in flight %s   jobs/s %.1f   jobs in flight %s   completed %s"
                "   event head %s",
                Num(stats, "runs_active").c_str(), jobs_per_s, Num(stats, "inflight").c_str(),
                Num(stats, "jobs_completed").c_str(), Num(stats, "head").c_str());
  out += Cut(head, width);
  const nlohmann::json q = stats.value("queues", nlohmann::json::object());
  out += Cut("queues: ready high " + Num(q, "ready_high") + ", standard " +
                 Num(q, "ready_standard") + ", low " + Num(q, "ready_low") + "   retry backoff " +
                 Num(q, "retry_backoff") + "   broker " + Num(q, "broker"),
             width);
  out += "\n" + Cut(Pad("RUN", 40) + Pad("STATE", 10) + Pad("PROGRESS", 38) + "STAGE", width);
  const auto& runs = stats.value("runs", nlohmann::json::array());
  for (const auto& r : runs) {
    const uint64_t done = r.value("jobs_done", uint64_t{0}), total = r.value("jobs", uint64_t{0});
    std::string progress =
        ProgressBar(done, total, 20) + " " + std::to_string(done) + "/" + std::to_string(total);
    out += Cut(Pad(r.value("run_id", "?") + " ", 40) + Pad(r.value("state", "?"), 10) +
                   Pad(progress, 38) + r.value("current_stage", ""),
               width);
  }
  if (runs.empty()) out += Cut("(no runs in flight)", width);
  out += "\n" + Cut(Pad("WORKER", 32) + Pad("HOST", 16) + Pad("SLOTS", 7) + Pad("BUSY", 6) + "JOBS",
                    width);
  const auto& list = workers.value("workers", nlohmann::json::array());
  for (const auto& w : list) {
    out += Cut(Pad(w.value("worker_id", "?") + " ", 32) + Pad(w.value("host", "?") + " ", 16) +
                   Pad(Num(w, "slots"), 7) + Pad(Num(w, "active"), 6) + WorkerJobs(w),
               width);
  }
  if (list.empty()) out += Cut("(no workers)", width);
  return out;
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
