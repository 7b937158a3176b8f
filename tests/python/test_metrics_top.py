#!/usr/bin/env python3
"""Measuring a pool from outside: the coordinator's Prometheus endpoint (named in
endpoints.json) passes `promtool check metrics` and its values change with the work done;
Debian's prometheus server scrapes it and answers a query for a value that changed; each
worker's own endpoint; and `recomp top`, driven in a real terminal under tmux (redrawn in
place, a progress bar per run in flight, the workers), and as a plain snapshot when stdout is
not a terminal. All traffic is on 127.0.0.1."""
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recomp_testlib as rt  # noqa: E402


def scrape(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def value(text, name, labels=None):
    """The sample `name{labels}` of a Prometheus text page, or None."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(3) or ""))
        if got == (labels or {}):
            return float(m.group(4))
    return None


class MetricsTop(rt.PoolTestCase):
    def setUp(self):
        super().setUp()
        self.p = self.pool(workers=2, config_overrides={"worker": {"metrics": "127.0.0.1:0"}})
        self.p.start()
        self.count = self.tmp.join("count.txt")
        self.mod = rt.write_module(self.tmp.join("mod"))
        self.prov = rt.write_provenance(self.tmp.join("mod"), [self.mod])

    def pipeline(self, name, stages):
        return rt.write_pipeline(self.tmp.join(name), name, stages,
                                 common_env=self.p.job_env(self.count))

    def test_metrics_endpoint_promtool_and_prometheus(self):
        url = self.p.endpoints()["metrics"]
        self.assertTrue(url.startswith("http://127.0.0.1:") and url.endswith("/metrics"), url)
        rt.wait_for(lambda: value(scrape(url), "recomp_workers") == 2, 30, "2 workers in metrics")
        before = scrape(url)
        self.assertIsNone(value(before, "recomp_job_attempts_total",
                                {"outcome": "succeeded", "stage": "a"}))
        self.assertEqual(value(before, "recomp_runs_completed_total", {"state": "succeeded"}), 0)
        p, st = self.p.submit([self.mod], self.pipeline("fan", rt.fanout_stages()), self.prov)
        self.assertEqual(st["state"], "succeeded", p.stdout + p.stderr)
        after = scrape(url)
        self.assertEqual(value(after, "recomp_job_attempts_total",
                               {"outcome": "succeeded", "stage": "b"}), 3)
        self.assertEqual(value(after, "recomp_runs_completed_total", {"state": "succeeded"}), 1)
        self.assertEqual(value(after, "recomp_action_cache_misses_total"), 5)
        self.assertEqual(value(after, "recomp_job_duration_seconds_count", {"stage": "b"}), 3)
        self.assertGreater(value(after, "recomp_event_sequence"), 0)
        self.assertGreater(value(after, "recomp_lmdb_commit_seconds_count"), 0)
        self.assertIsNotNone(value(after, "recomp_blob_bytes_sent_total"))
        self.assertEqual(value(after, "recomp_worker_slots", {"use": "total"}), 2)
        check = subprocess.run(["promtool", "check", "metrics"], input=after, text=True,
                               capture_output=True, timeout=60)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

        # Each worker serves its own.
        urls = re.findall(r"metrics at (http://127\.0\.0\.1:\d+/metrics)", self.p.log_tail(200))
        self.assertEqual(len(set(urls)), 2, self.p.log_tail(60))
        started = sum(value(scrape(u), "recomp_worker_jobs_started_total") for u in set(urls))
        self.assertEqual(started, 5)
        self.assertEqual(value(scrape(urls[0]), "recomp_worker_slots"), 1)

        # Debian's Prometheus scrapes the pool and answers for a value that changed.
        self.scrape_with_prometheus(url)

    def scrape_with_prometheus(self, url):
        target = urllib.parse.urlparse(url).netloc
        port = rt.free_port()
        cfg = self.tmp.join("prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\nscrape_configs:\n"
                    "  - job_name: recomp\n    static_configs:\n"
                    "      - targets: ['%s']\n" % target)
        prom = rt.Proc(["prometheus", "--config.file=" + cfg,
                        "--storage.tsdb.path=" + self.tmp.join("tsdb"),
                        "--web.listen-address=127.0.0.1:%d" % port], self.tmp.join("prom.log"))
        try:
            query = "http://127.0.0.1:%d/api/v1/query?query=%s" % (
                port, urllib.parse.quote('recomp_runs_completed_total{state="succeeded"}'))

            def answered():
                try:
                    body = json.loads(scrape(query))
                except OSError:
                    return False
                res = body.get("data", {}).get("result", [])
                return bool(res) and float(res[0]["value"][1]) == 1.0
            rt.wait_for(answered, 90, "prometheus to scrape the pool", interval=0.5)
        finally:
            prom.kill_group()
            prom.close()

    def test_top_in_a_terminal_and_as_a_snapshot(self):
        self.p.wait_workers(2)
        snap = self.p.cli("top")  # stdout is a pipe: one snapshot, then exit 0
        self.assertIn("recomp top", snap.stdout)
        self.assertIn("(no runs in flight)", snap.stdout)
        self.assertEqual(len(re.findall(r"^\S+:\d+:\w+ ", snap.stdout, re.M)), 2, snap.stdout)
        self.assertNotIn("\033[", snap.stdout)
        js = json.loads(self.p.cli("top", "--json").stdout)
        self.assertEqual(len(js["workers"]), 2)

        cfg = self.pipeline("hang", rt.fanout_stages(salt="top", env_b={"HANG": "1"}))
        _, st = self.p.submit([self.mod], cfg, self.prov, wait=False)
        run_id = st["run_id"]
        session = "recomp-top-%d" % os.getpid()
        cmd = "%s top --data %s --interval 0.2" % (rt.RECOMP_BIN, self.p.data)
        subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "200", "-y", "40", cmd],
                       check=True, timeout=30)
        try:
            def screen():
                return subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                      capture_output=True, text=True, timeout=10).stdout
            # b's shards hang after a: 1 of 5 jobs done, the stage is b.
            rt.wait_for(lambda: re.search(re.escape(run_id) + r"\s+running\s+\[#+\.+\]\s+20% 1/5\s+b",
                                          screen()), 60, "top to show the run's progress")
            self.assertEqual(screen().count("recomp top"), 1, "redrawn in place, not appended")
            # A worker's current job (the worker list follows the broker's, rate-limited).
            rt.wait_for(lambda: re.search(r"\bb/\d", screen()), 30, "top to show b's jobs")
            self.p.cli("cancel", run_id)
            rt.wait_for(lambda: "(no runs in flight)" in screen(), 60, "top to see the cancel")
            subprocess.run(["tmux", "send-keys", "-t", session, "C-c"], check=True, timeout=10)
            rt.wait_for(lambda: subprocess.run(["tmux", "has-session", "-t", session],
                                               capture_output=True).returncode != 0,
                        30, "top to exit on Ctrl-C")
        finally:
            subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


if __name__ == "__main__":
    if not shutil.which("tmux") or not shutil.which("promtool"):
        print("tmux and promtool are needed (scripts/deps.sh installs them)", file=sys.stderr)
        sys.exit(1)
    rt.main()
