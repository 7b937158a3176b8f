#!/usr/bin/env python3
"""What a user's habits expect of the CLI: a pool that does not answer is given up on within
the timeout with exit code 3 naming the endpoint; --json prints JSON only; exit codes say what
happened (0 succeeded, 1 the run failed, 2 usage, 3 unreachable, 130 interrupted, with --wait
saying the run goes on); `up` takes the endpoints as flags (wildcard ports resolved in
endpoints.json); config mistakes name the line and the expected type, a missing file says
"not found"; a module manifest ref passed to --module is read as a manifest."""
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recomp_testlib as rt  # noqa: E402


class CliHabits(rt.PoolTestCase):
    def test_help_did_you_mean_version_completion_and_man_page(self):
        p = rt.run([rt.RECOMP_BIN, "stauts"], check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("unknown command 'stauts'; did you mean 'status'?", p.stderr)
        self.assertIn("Exit codes", rt.run([rt.RECOMP_BIN, "help"]).stdout)
        self.assertIn("--timeout", rt.run([rt.RECOMP_BIN, "help", "status"]).stdout)
        self.assertIn("did you mean 'show'?",
                      rt.run([rt.RECOMP_BIN, "help", "shwo"], check=False).stderr)
        with open(os.path.join(rt.REPO, "CMakeLists.txt")) as f:
            version = re.search(r"project\(recomp VERSION (\S+)", f.read()).group(1)
        self.assertEqual(rt.run([rt.RECOMP_BIN, "--version"]).stdout.strip(), "recomp " + version)
        # -v / --log-level parse before or after the command.
        status = ["status", "run-x", "--api", "tcp://127.0.0.1:9", "--timeout", "200"]
        for args in (["-v", *status], [*status, "--log-level", "debug"]):
            p = rt.run([rt.RECOMP_BIN, *args], check=False)
            self.assertEqual(p.returncode, 3, p.stderr)
        # Completion: bash completes commands and a command's options.
        script = self.tmp.join("recomp.bash")
        with open(script, "w") as f:
            f.write(rt.run([rt.RECOMP_BIN, "completion", "bash"]).stdout)
        def complete(*words):
            line = ("source %s; COMP_WORDS=(%s); COMP_CWORD=%d; _recomp; echo \"${COMPREPLY[@]}\""
                    % (script, " ".join(words), len(words) - 1))
            return rt.run(["bash", "-c", line]).stdout.split()
        self.assertIn("status", complete("recomp", "sta"))
        self.assertIn("--timeout", complete("recomp", "status", "--ti"))
        self.assertIn("--follow", complete("recomp", "logs", "--f"))
        self.assertTrue(rt.run([rt.RECOMP_BIN, "completion", "zsh"]).stdout.startswith(
            "autoload -U +X bashcompinit"))
        # The man page, made by help2man from --help at build time.
        man = os.path.join(os.environ.get("RECOMP_BUILD_DIR", ""), "cli", "recomp.1")
        with open(man) as f:
            page = f.read()
        self.assertIn(".TH RECOMP", page)
        self.assertIn("Exit codes", page)
        self.assertIn(version, page)

    def test_up_port_flags_and_config_mistakes(self):
        data = self.tmp.join("data")
        cfg = rt.write_config(self.tmp.join("recomp.toml"))
        api_port = rt.free_port()
        up = rt.Proc([rt.RECOMP_BIN, "up", "--workers", 1, "--data", data, "--config", cfg,
                      "--api", "tcp://127.0.0.1:%d" % api_port,
                      "--events", "tcp://127.0.0.1:*", "--metrics", ""],
                     self.tmp.join("up.log"))
        try:
            ep_path = os.path.join(data, "endpoints.json")
            rt.wait_for(lambda: os.path.exists(ep_path), 30, "endpoints.json")
            with open(ep_path) as f:
                ep = json.load(f)
            self.assertEqual(ep["api"], "tcp://127.0.0.1:%d" % api_port)  # the flag won
            self.assertRegex(ep["events"], r"^tcp://127\.0\.0\.1:\d+$")   # '*' resolved
            self.assertNotIn("metrics", ep)                                # --metrics "" = off
            rt.run([rt.RECOMP_BIN, "runs", "--data", data, "--config", cfg])
            # `recomp worker` takes what no flag gives from the config's [worker] section.
            wcfg = self.tmp.join("worker.toml")
            with open(wcfg, "w") as f:
                f.write('[worker]\nconnect = "%s"\nslots = 3\nexecutor = "noop"\n'
                        'heartbeat_ms = 200\n' % ep["workers"])
            worker = rt.Proc([rt.RECOMP_BIN, "worker", "--data", self.tmp.join("w2"),
                              "--config", wcfg, "--id", "from-config"], self.tmp.join("w2.log"))
            try:
                def registered():
                    p = rt.run([rt.RECOMP_BIN, "workers", "--data", data, "--config", cfg,
                                "--json"])
                    ws = [w for w in json.loads(p.stdout)
                          if w["worker_id"] == "from-config"]
                    return ws and ws[0]["slots"] == 3
                rt.wait_for(registered, 30, "the configured worker in `recomp workers`")
            finally:
                worker.signal(signal.SIGINT)
                worker.wait(20)
                worker.close()
            # A config value gets the flag's check: a mistyped confine is refused, not `auto`.
            with open(wcfg, "a") as f:
                f.write('confine = "bwrap"\n')
            p = rt.run([rt.RECOMP_BIN, "worker", "--config", wcfg], check=False)
            self.assertEqual(p.returncode, 2)
            self.assertIn("[worker] confine must be auto, bubblewrap or none, not 'bwrap'",
                          p.stderr)
        finally:
            up.signal(signal.SIGINT)
            self.assertEqual(up.wait(30), 0, up.output())
            up.close()
        # Config mistakes: the line, the key, what it must be; a did-you-mean for a typo.
        bad = self.tmp.join("bad.toml")
        with open(bad, "w") as f:
            f.write("[broker]\n# comment\nheartbeat_ms = \"fast\"\n")
        p = rt.run([rt.RECOMP_BIN, "up", "--data", data, "--config", bad], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("line 3: 'broker.heartbeat_ms' must be an integer, not a string", p.stderr)
        with open(bad, "w") as f:
            f.write("[worker]\nslotz = 2\n")
        p = rt.run([rt.RECOMP_BIN, "up", "--data", data, "--config", bad], check=False)
        self.assertIn("line 2: unknown key 'worker.slotz'; did you mean 'worker.slots'?",
                      p.stderr)
        missing = self.tmp.join("missing.toml")
        for argv, env in (([rt.RECOMP_BIN, "up", "--data", data, "--config", missing], None),
                          ([rt.RECOMP_BIN, "runs", "--data", data],
                           dict(os.environ, RECOMP_CONFIG=missing))):
            p = rt.run(argv, check=False, env=env)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("config '%s' not found" % missing, p.stderr)

    def test_stage_tools_keep_other_stages_cached(self):
        # b lists its own tool: editing it re-runs b only; a (and its cache entry) is untouched.
        pool = self.pool(workers=1).start()
        d = self.tmp.join("pipe")
        rt.write_pipeline(d, "unused", [rt.stage("a")])  # writes step.py
        env = rt.toml_value(pool.job_env(self.tmp.join("count.txt")))
        with open(os.path.join(d, "b_flags.txt"), "w") as f:
            f.write("-O1\n")
        cfg = os.path.join(d, "stage_tools.toml")
        with open(cfg, "w") as f:
            f.write('tools = ["step.py"]\n'
                    '[[stages]]\nname = "a"\ncommand = [%s, "in/tools/step.py"]\n'
                    'outputs = ["out/"]\nenv = %s\n'
                    '[[stages]]\nname = "b"\nneeds = ["a"]\n'
                    'command = [%s, "in/tools/step.py"]\noutputs = ["out/"]\nenv = %s\n'
                    'tools = ["b_flags.txt"]\n' % (rt.toml_value(rt.PYTHON), env,
                                                   rt.toml_value(rt.PYTHON), env))
        mod = rt.write_module(self.tmp.join("mod"))
        def stages(run_id):
            view = json.loads(pool.cli("show", run_id, "--json").stdout)
            return {s["name"]: s["cached"] for s in view["stages"]}
        p, rec = pool.submit([mod], cfg, run_id="tools-1")
        self.assertEqual(rec["state"], "succeeded", p.stderr)
        self.assertEqual(stages("tools-1"), {"a": 0, "b": 0})
        with open(os.path.join(d, "b_flags.txt"), "w") as f:
            f.write("-O2\n")
        p, rec = pool.submit([mod], cfg, run_id="tools-2")
        self.assertEqual(rec["state"], "succeeded", p.stderr)
        self.assertEqual(stages("tools-2"), {"a": 1, "b": 0})

    def test_an_unreachable_pool_is_given_up_on_with_exit_code_3(self):
        # Nothing listens on 127.0.0.1:9 (loopback only: the network rule).
        t0 = time.monotonic()
        p = rt.run([rt.RECOMP_BIN, "status", "run-x", "--api", "tcp://127.0.0.1:9",
                    "--timeout", "1000"], check=False, timeout=60)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertIn("tcp://127.0.0.1:9", p.stderr)
        p = rt.run([rt.RECOMP_BIN, "status"], check=False)  # usage: RUN is required
        self.assertEqual(p.returncode, 2, p.stderr)

    def test_json_purity_exit_codes_and_interrupted_wait(self):
        pool = self.pool(workers=1).start()
        count = self.tmp.join("count.txt")
        mod = rt.write_module(self.tmp.join("mod"))
        prov = rt.write_provenance(self.tmp.join("mod"), [mod])
        cfg = rt.write_pipeline(self.tmp.join("fail"), "fail", [rt.stage("x", env={"FAIL": "1"})],
                                common_env=pool.job_env(count))
        p, _ = pool.submit([mod], cfg, prov, check=False)
        self.assertEqual(p.returncode, 1)
        rec = json.loads(p.stdout)  # the whole of stdout is one JSON document
        self.assertEqual(rec["state"], "failed")
        self.assertIn("recomp logs %s --stage x --shard 0" % rec["run_id"], p.stderr)

        cfg = rt.write_pipeline(self.tmp.join("hang"), "hang", [rt.stage("h", env={"HANG": "1"})],
                                common_env=pool.job_env(count))
        w = subprocess.Popen([rt.RECOMP_BIN, "submit", "--module", mod, "--config", cfg,
                              "--provenance", prov, "--wait", "--data", pool.data],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            run_id = w.stdout.readline().strip()  # without --json the run id comes first
            rt.wait_for(lambda: pool.status(run_id)["state"] == "running", 60, "the run to run")
            w.send_signal(signal.SIGINT)
            out, err = w.communicate(timeout=30)
        finally:
            if w.poll() is None:
                w.kill()
        self.assertEqual(w.returncode, 130, err)
        self.assertIn("interrupted: run %s goes on" % run_id, err)
        self.assertEqual(pool.status(run_id)["state"], "running")  # it does go on
        pool.cli("cancel", run_id)


    def test_run_id_prefixes_and_runs_filters(self):
        pool = self.pool(workers=1).start()
        count = self.tmp.join("count.txt")
        mod = rt.write_module(self.tmp.join("mod"))
        prov = rt.write_provenance(self.tmp.join("mod"), [mod])
        ok = rt.write_pipeline(self.tmp.join("ok"), "ok", [rt.stage("s")],
                               common_env=pool.job_env(count))
        bad = rt.write_pipeline(self.tmp.join("bad"), "bad", [rt.stage("x", env={"FAIL": "1"})],
                                common_env=pool.job_env(count))
        before = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 5))
        for run_id, cfg in (("alpha-1", ok), ("alpha-2", ok), ("beta-1", bad)):
            pool.submit([mod], cfg, prov, run_id=run_id, check=False)
        # A unique prefix names its run everywhere; an ambiguous one says which it could be.
        self.assertEqual(pool.status("bet")["run_id"], "beta-1")
        self.assertEqual(json.loads(pool.cli("show", "beta", "--json").stdout)["run"]["run_id"],
                         "beta-1")
        amb = pool.cli("status", "alpha", check=False)
        self.assertEqual(amb.returncode, 1)
        self.assertIn("ambiguous: alpha-1 alpha-2", amb.stderr)
        self.assertEqual(pool.cli("status", "gamma", check=False).returncode, 1)
        evs = [json.loads(l) for l in pool.cli("events", "--run", "bet", "--json").stdout.splitlines()]
        self.assertEqual({e["subject"] for e in evs}, {"beta-1"})
        self.assertEqual(pool.cli("audit", "beta").returncode, 0)
        # runs --state / --limit / --since.
        def ids(*args):
            return [r["run_id"] for r in json.loads(pool.cli("runs", "--json", *args).stdout)]
        self.assertEqual(ids(), ["alpha-1", "alpha-2", "beta-1"])
        self.assertEqual(ids("--state", "failed"), ["beta-1"])
        self.assertEqual(ids("--state", "succeeded", "--limit", "1"), ["alpha-1"])
        self.assertEqual(ids("--since", before), ["alpha-1", "alpha-2", "beta-1"])
        self.assertEqual(ids("--since", "2199-01-01T00:00:00Z"), [])
        # A module manifest ref given to --module is that manifest (its files), not a file
        # named after its hash: the same manifest, byte for byte.
        def requested(run_id):
            evs = [json.loads(l) for l in
                   pool.cli("events", "--run", run_id, "--json").stdout.splitlines()]
            return [e for e in evs if e["type"] == "recomp.run.requested"][0]["data"]
        manifest = requested("alpha-1")["module_manifest"]
        p, rec = pool.submit([manifest], ok, prov, run_id="alpha-3")
        self.assertEqual(rec["state"], "succeeded", p.stderr)
        self.assertEqual(requested("alpha-3")["module_manifest"], manifest)
        self.assertEqual(pool.cli("runs", "--state", "nope", check=False).returncode, 2)
        self.assertIn("since", pool.cli("runs", "--since", "yesterday", check=False).stderr)


if __name__ == "__main__":
    rt.main()
