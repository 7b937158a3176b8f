#!/usr/bin/env python3
"""The Debian package (cmake/Packaging.cmake, packaging/, docs/install.md): `cpack -G DEB` from
the build tree makes recomp_<version>_<arch>.deb holding the binary, /etc/recomp/recomp.toml as
a conffile, the man page, the bash and zsh completions, the systemd units, the docs and the
T32 sample, with a postinst that creates the `recomp` user. Unpacked into a scratch root
(`dpkg -x`), its binary says its version, runs a pool (`recomp up`) and a run on it, and the
units' own command lines (the coordinator; a worker taking its endpoint from the config) run
a pool that stops cleanly on SIGTERM, and the gc unit's command line collects the pool's
store while it runs (its windows from the config). `systemd-analyze verify` checks the units
where it exists. Loopback only; the package is built into a temp dir, never into the build tree."""
import gzip
import json
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tomllib
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recomp_testlib as rt  # noqa: E402

BUILD = os.environ.get("RECOMP_BUILD_DIR") or os.path.dirname(os.path.dirname(rt.RECOMP_BIN))
UNITS = "usr/lib/systemd/system"
UNIT_NAMES = ("recomp-coordinator.service", "recomp-worker.service")
# The store's daily gc: a oneshot service and the timer that starts it.
GC_UNITS = ("recomp-gc.service", "recomp-gc.timer")
ALL_UNITS = UNIT_NAMES + GC_UNITS
GC_REPORT = re.compile(r"removed (\d+) blob\(s\), (\d+) bytes; kept (\d+)")


def project_version():
    with open(os.path.join(rt.REPO, "CMakeLists.txt")) as f:
        return re.search(r"project\(recomp VERSION (\S+)", f.read()).group(1)


def unit_settings(path):
    """{key: [values]} of a unit file (comments and section headers skipped)."""
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", ";", "[")):
                k, _, v = line.partition("=")
                out.setdefault(k, []).append(v)
    return out


class Package(unittest.TestCase):
    """One package, built and unpacked once for all the checks."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.TempDir("recomp-pkg-")
        try:
            cls.build_and_unpack()
        except BaseException:
            cls.tmp.cleanup()  # tearDownClass does not run when setUpClass fails
            raise

    @classmethod
    def build_and_unpack(cls):
        cls.version = project_version()
        cls.arch = rt.run(["dpkg", "--print-architecture"]).stdout.strip()
        out = cls.tmp.join("out")
        # -B: the package and CPack's staging tree go to the temp dir, not the build tree.
        rt.run(["cpack", "-G", "DEB", "--config", os.path.join(BUILD, "CPackConfig.cmake"),
                "-B", out], timeout=300)
        cls.deb = os.path.join(out, "recomp_%s_%s.deb" % (cls.version, cls.arch))
        if not os.path.exists(cls.deb):
            raise rt.TestFailure("cpack made %s, not %s" % (os.listdir(out), cls.deb))
        cls.root = cls.tmp.join("root")
        rt.run(["dpkg", "-x", cls.deb, cls.root])
        cls.control = cls.tmp.join("control")
        rt.run(["dpkg-deb", "-e", cls.deb, cls.control])
        cls.recomp = os.path.join(cls.root, "usr", "bin", "recomp")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def setUp(self):
        self.work = rt.TempDir("recomp-pkg-run-")
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.alive():
                p.kill_group()
            p.close()
        self.work.cleanup()

    def installed(self, *parts):
        return os.path.join(self.root, *parts)

    # -- what the package is

    def test_control_fields_conffiles_and_maintainer_scripts(self):
        def field(name):
            return rt.run(["dpkg-deb", "-f", self.deb, name]).stdout.strip()
        self.assertEqual(field("Package"), "recomp")
        self.assertEqual(field("Version"), self.version)
        self.assertEqual(field("Architecture"), self.arch)
        self.assertEqual(field("Section"), "devel")
        self.assertTrue(field("Maintainer"))
        depends = [d.strip().split()[0] for d in field("Depends").split(",")]
        for dep in ("adduser", "libc6", "libzmq5", "liblmdb0", "libsodium23"):  # dpkg-shlibdeps
            self.assertIn(dep, depends)
        self.assertIn("bubblewrap", field("Recommends"))
        with open(os.path.join(self.control, "conffiles")) as f:
            self.assertEqual(f.read().split(), ["/etc/recomp/recomp.toml",
                                                "/etc/default/recomp-worker"])
        for script in ("postinst", "prerm", "postrm"):
            path = os.path.join(self.control, script)
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o755, script)
            rt.run(["sh", "-n", path])
        with open(os.path.join(self.control, "postinst")) as f:
            postinst = f.read()
        self.assertIn("getent passwd recomp", postinst)
        self.assertIn("adduser --system --group --home /var/lib/recomp", postinst)

    def test_contents(self):
        listing = rt.run(["dpkg-deb", "--contents", self.deb]).stdout.splitlines()
        files = {}
        for line in listing:
            cols = line.split()
            files[cols[-1].lstrip(".").rstrip("/")] = (cols[0], cols[1])
        for path in ("/usr/bin/recomp", "/etc/recomp/recomp.toml", "/etc/default/recomp-worker",
                     "/usr/share/man/man1/recomp.1.gz",
                     "/usr/share/bash-completion/completions/recomp",
                     "/usr/share/zsh/vendor-completions/_recomp",
                     "/usr/share/doc/recomp/install.md",
                     "/usr/share/doc/recomp/schemas/run-status.schema.json",
                     "/usr/share/recomp/config/pipelines/t32.toml",
                     "/usr/share/recomp/examples/t32/run",
                     "/usr/share/recomp/examples/t32/rom/game.s",
                     *("/%s/%s" % (UNITS, u) for u in ALL_UNITS)):
            self.assertIn(path, files)
        self.assertEqual(files["/usr/bin/recomp"][0], "-rwxr-xr-x")
        self.assertEqual({owner for _, owner in files.values()}, {"root/root"})
        self.assertFalse([p for p in files if "__pycache__" in p or "/tests" in p], files)
        # Every document of docs/ is shipped; the config is the repository's, byte for byte.
        docs = {n for n in os.listdir(os.path.join(rt.REPO, "docs")) if n.endswith(".md")}
        self.assertEqual(docs - {os.path.basename(p) for p in files
                                 if p.startswith("/usr/share/doc/recomp/")}, set())
        with open(os.path.join(rt.REPO, "config", "recomp.toml"), "rb") as a, \
                open(self.installed("etc", "recomp", "recomp.toml"), "rb") as b:
            self.assertEqual(a.read(), b.read())
        # The sample pipeline names its tools by relative paths: they resolve in the package.
        manifest = self.installed("usr", "share", "recomp", "config", "pipelines", "t32.toml")
        with open(manifest, "rb") as f:
            tools = tomllib.load(f)["tools"]
        for tool in tools:
            self.assertTrue(os.path.isfile(os.path.join(os.path.dirname(manifest), tool)), tool)

    def test_version_man_page_and_completions(self):
        self.assertEqual(rt.run([self.recomp, "--version"]).stdout.strip(),
                         "recomp " + self.version)
        with gzip.open(self.installed("usr", "share", "man", "man1", "recomp.1.gz"), "rt") as f:
            page = f.read()
        self.assertIn(".TH RECOMP", page)
        self.assertIn(self.version, page)
        bash = self.installed("usr", "share", "bash-completion", "completions", "recomp")
        line = ("source %s; COMP_WORDS=(recomp sta); COMP_CWORD=1; _recomp; "
                "echo \"${COMPREPLY[@]}\"" % shlex.quote(bash))
        self.assertIn("status", rt.run(["bash", "-c", line]).stdout.split())
        zsh = self.installed("usr", "share", "zsh", "vendor-completions", "_recomp")
        with open(zsh) as f:
            lines = f.read().splitlines()
        self.assertEqual(lines[0], "#compdef recomp")  # what compinit registers it by
        self.assertEqual(lines[-1], '_bash_complete -o default -F _recomp "$@"')
        if shutil.which("zsh"):
            rt.run(["zsh", "-n", zsh])

    def test_units(self):
        with open(os.path.join(self.control, "postinst")) as f:
            adduser = re.search(r"adduser --system --group --home (\S+) [^\n]* (\w+)\n", f.read())
        home, user = adduser.group(1), adduser.group(2)
        for name in UNIT_NAMES:
            u = unit_settings(self.installed(UNITS, name))
            self.assertEqual(u["User"], [user], name)
            self.assertEqual(u["KillSignal"], ["SIGTERM"], name)
            argv = shlex.split(u["ExecStart"][0])
            self.assertEqual(argv[0], "/usr/bin/recomp")
            # Its data directory is the one systemd makes for it (StateDirectory).
            data = argv[argv.index("--data") + 1]
            self.assertEqual(data, "/var/lib/" + u["StateDirectory"][0], name)
            self.assertEqual(argv[argv.index("--config") + 1], "/etc/recomp/recomp.toml")
        self.assertEqual(home, "/var/lib/recomp")
        # Confinement needs what these take away (docs/worker-sandbox.md, the unit's comment).
        worker = unit_settings(self.installed(UNITS, "recomp-worker.service"))
        for key in ("NoNewPrivileges", "PrivateUsers", "RestrictNamespaces",
                    "ProtectKernelTunables", "ProtectControlGroups", "ProtectProc",
                    "SystemCallArchitectures", "LockPersonality", "PrivateDevices"):
            self.assertNotIn(key, worker)
        self.assertEqual(worker["Delegate"], ["yes"])
        self.assertEqual(worker["InaccessiblePaths"], ["-/var/lib/recomp"])

    def test_gc_units(self):
        coordinator = unit_settings(self.installed(UNITS, "recomp-coordinator.service"))
        gc = unit_settings(self.installed(UNITS, "recomp-gc.service"))
        self.assertEqual(gc["Type"], ["oneshot"])
        self.assertEqual(gc["User"], coordinator["User"])
        self.assertEqual(gc["Group"], coordinator["Group"])
        argv = shlex.split(gc["ExecStart"][0])
        self.assertEqual(argv[:3], ["/usr/bin/recomp", "artifact", "gc"])
        # The coordinator's store, and the config file's [store.retention] windows (gc reads no
        # config file unless --config names it); nothing that changes what is collected.
        self.assertEqual(argv[argv.index("--data") + 1],
                         "/var/lib/" + coordinator["StateDirectory"][0])
        self.assertEqual(gc["StateDirectory"], coordinator["StateDirectory"])
        self.assertEqual(argv[argv.index("--config") + 1], "/etc/recomp/recomp.toml")
        self.assertEqual([a for a in argv if a in ("--dry-run", "--external",
                                                   "--older-than-days", "--store")], [])
        self.assertEqual(gc["ConditionPathIsDirectory"], ["/var/lib/recomp/store"])
        # The coordinator's hardening, and no network at all.
        for key, values in coordinator.items():
            if key.startswith(("Protect", "Private", "Restrict", "NoNewPrivileges",
                               "CapabilityBoundingSet", "LockPersonality",
                               "SystemCallArchitectures", "UMask", "StateDirectoryMode")) \
                    and key != "RestrictAddressFamilies":
                self.assertEqual(gc.get(key), values, key)
        self.assertEqual(gc["PrivateNetwork"], ["yes"])
        self.assertEqual(gc["RestrictAddressFamilies"], ["AF_UNIX"])
        self.assertNotIn("WantedBy", gc)  # started by the timer (or by hand), never at boot
        timer = unit_settings(self.installed(UNITS, "recomp-gc.timer"))
        self.assertNotIn("Unit", timer)  # so it starts recomp-gc.service, its namesake
        self.assertEqual(timer["OnCalendar"], ["daily"])
        self.assertEqual(timer["RandomizedDelaySec"], ["1h"])
        self.assertEqual(timer["Persistent"], ["true"])
        self.assertEqual(timer["WantedBy"], ["timers.target"])

    def test_maintainer_scripts_cover_every_unit(self):
        def script(name):
            with open(os.path.join(self.control, name)) as f:
                return f.read()
        prerm, postrm = script("prerm"), script("postrm")
        stops = [line.split(">")[0].split()[2:] for line in prerm.replace("\\\n", " ").splitlines()
                 if line.strip().startswith("systemctl stop ")]
        for name in ALL_UNITS:
            # prerm stops it before the binary goes ...
            self.assertIn(name, sum(stops, []), stops)
            # ... and a purge forgets its enablement, where `systemctl enable` puts it.
            for target in unit_settings(self.installed(UNITS, name)).get("WantedBy", []):
                self.assertIn("/etc/systemd/system/%s.wants/%s" % (target, name), postrm)
        # The timer stops first, by itself: it must not start a gc while the rest stop.
        self.assertEqual(stops[0], ["recomp-gc.timer"], stops)

    def test_units_verify(self):
        analyze = shutil.which("systemd-analyze")
        if not analyze:
            self.skipTest("systemd-analyze not installed: the units are not verified")
        # Copies whose ExecStart names the package's binary (verify checks that it exists and
        # runs). verify exits 0 on unknown keys and bad values too, only saying so: its
        # output must not mention the units at all.
        copies = self.work.join("units")
        os.makedirs(copies)
        for u in ALL_UNITS:
            with open(self.installed(UNITS, u)) as f:
                text = f.read().replace("/usr/bin/recomp", self.recomp)
            with open(os.path.join(copies, u), "w") as f:
                f.write(text)
        p = rt.run([analyze, "verify", "--man=no",
                    *(os.path.join(copies, u) for u in ALL_UNITS)], check=False)
        out = p.stdout + p.stderr
        self.assertEqual([l for l in out.splitlines() if "recomp" in l], [], out)
        self.assertEqual(p.returncode, 0, out)

    # -- running it

    def env(self, config):
        """Runs of the installed binary: config given, no host config file in the way."""
        xdg = self.work.join("xdg")
        os.makedirs(xdg, exist_ok=True)
        return dict(os.environ, RECOMP_CONFIG=config, XDG_CONFIG_HOME=xdg)

    def start(self, argv, name, env):
        p = rt.Proc(argv, self.work.join(name + ".log"), env=env)
        self.procs.append(p)
        return p

    def wait_serving(self, data, env, proc):
        def serving():
            if not proc.alive():
                raise rt.TestFailure("%s exited %s:\n%s" % (proc.argv, proc.p.returncode,
                                                            proc.output()))
            if not os.path.exists(os.path.join(data, "endpoints.json")):
                return False
            return rt.run([self.recomp, "runs", "--data", data, "--timeout", "1000"],
                          check=False, env=env).returncode == 0
        rt.wait_for(serving, 60, "the coordinator at %s to answer" % data, interval=0.1)

    def submit_tiny_run(self, data, env, client):
        """a -> b (2 shards), submitted and awaited with the installed binary (`client`: how it
        reaches the pool, --data or --api)."""
        count = self.work.join("count.txt")
        mod = rt.write_module(self.work.join("mod"))
        prov = rt.write_provenance(self.work.join("mod"), [mod])
        pipeline = rt.write_pipeline(
            self.work.join("pipeline"), "tiny",
            [rt.stage("a"), rt.stage("b", needs=["a"], shards=2)],
            common_env={"COUNT_FILE": count, "POOL_DATA": data})
        p = rt.run([self.recomp, "submit", *client, "--module", mod, "--provenance", prov,
                    "--config", pipeline, "--wait", "--json"], timeout=120, check=False, env=env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        rec = rt.last_json_line(p.stdout)
        self.assertEqual(rec["state"], "succeeded", rec)
        self.assertEqual(sorted((r[0], r[1], r[2]) for r in rt.read_count(count) if r[0] == "done"),
                         [("done", "a", 0), ("done", "b", 0), ("done", "b", 1)])

    def assert_gone(self, *dirs):
        rt.wait_for(lambda: not any(rt.processes_mentioning(d) for d in dirs), 10,
                    "no process of the pool left")

    def test_pool_from_the_package(self):
        data = self.work.join("data")
        config = rt.write_config(self.work.join("recomp.toml"))  # ports the OS picks
        env = self.env(config)
        up = self.start([self.recomp, "up", "--workers", 1, "--data", data, "--config", config],
                        "up", env)
        self.wait_serving(data, env, up)
        self.submit_tiny_run(data, env, ["--data", data])
        # Every process of the pool is the package's binary.
        exes = {os.readlink("/proc/%d/exe" % pid) for pid, argv in rt.processes_mentioning(data)
                if rt.is_recomp(argv, "coordinator") or rt.is_recomp(argv, "worker")}
        self.assertEqual(exes, {self.recomp})
        up.signal(signal.SIGINT)
        self.assertEqual(up.wait(30), 0, up.output())
        self.assert_gone(data)

    def test_the_units_command_lines_run_a_pool(self):
        # The installed /etc/default/recomp-worker sets nothing: out of the box the worker's
        # endpoint is [worker] connect of /etc/recomp/recomp.toml.
        with open(self.installed("etc", "default", "recomp-worker")) as f:
            self.assertEqual([l for l in f.read().splitlines() if l and not l.startswith("#")],
                             [])
        workers = "tcp://127.0.0.1:%d" % rt.free_port()
        config = rt.write_config(self.work.join("recomp.toml"),
                                 {"broker": {"workers": workers}, "worker": {"connect": workers}})
        env = self.env(config)
        paths = {"/usr/bin/recomp": self.recomp, "/etc/recomp/recomp.toml": config,
                 "/var/lib/recomp": self.work.join("var-lib-recomp"),
                 "/var/lib/recomp-worker": self.work.join("var-lib-recomp-worker")}

        def command(unit, **override):
            argv = shlex.split(unit_settings(self.installed(UNITS, unit))["ExecStart"][0])
            return [override.get(a, paths.get(a, a)) for a in argv if a != "$RECOMP_WORKER_ARGS"]
        for d in ("/var/lib/recomp", "/var/lib/recomp-worker"):  # StateDirectoryMode=0700
            os.makedirs(paths[d], mode=0o700)
        data = paths["/var/lib/recomp"]
        coordinator = self.start(command("recomp-coordinator.service"), "coordinator", env)
        self.wait_serving(data, env, coordinator)
        worker = self.start(command("recomp-worker.service"), "worker", env)
        # As docs/install.md has clients of the service do: the API endpoint only.
        with open(os.path.join(data, "endpoints.json")) as f:
            api = json.load(f)["api"]
        self.submit_tiny_run(data, env, ["--api", api])
        # Its own data directory has no store: blobs go through the coordinator's blob service.
        self.assertIn("no local store", worker.output())

        def gc(**override):
            p = rt.run(command("recomp-gc.service", **override), timeout=120, check=False,
                       env=env)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            lines = p.stdout.splitlines()
            self.assertTrue(lines, p.stderr)
            m = GC_REPORT.fullmatch(lines[-1])
            self.assertTrue(m, p.stdout)
            return [int(n) for n in m.groups()], lines[:-1]
        # recomp-gc.service while the pool runs (it takes the store's own locks): the run just
        # succeeded, so the default windows keep everything it made.
        (removed, size, kept), lines = gc()
        self.assertEqual((removed, size, lines), (0, 0, []))
        self.assertGreater(kept, 0)
        # KillSignal=SIGTERM: both stop cleanly.
        for p in (worker, coordinator):
            p.signal(signal.SIGTERM)
            self.assertEqual(p.wait(30), 0, p.output())
        self.assert_gone(data, paths["/var/lib/recomp-worker"])
        self.assertFalse(os.path.exists(os.path.join(data, "endpoints.json")))
        # The windows are the config's [store.retention]: at 0 days the run's generated blobs
        # go, its inputs (external) stay.
        zero = rt.write_config(self.work.join("recomp-gc.toml"), {"store.retention": {
            "failed_days": 0, "succeeded_days": 0, "unpinned_days": 0}})
        (removed, size, kept2), lines = gc(**{"/etc/recomp/recomp.toml": zero})
        blobs = [l for l in lines if re.fullmatch(r"removed artifact://[0-9a-f]{64} \w+ \d+", l)]
        self.assertEqual(len(blobs), removed, lines)
        self.assertGreater(removed, 0)
        self.assertEqual({l.split()[2] for l in blobs}, {"generated"})
        # ("kept" counts the blobs gc looked at: generated ones, unless --external.)
        self.assertEqual((removed, kept2), (kept, 0))
        left = rt.run([self.recomp, "artifact", "ls", "--data", data], env=env).stdout
        self.assertEqual({l.split()[1] for l in left.splitlines()}, {"external"}, left)
        # A pass with nothing left to collect.
        (removed, _, kept3), lines = gc(**{"/etc/recomp/recomp.toml": zero})
        self.assertEqual((removed, kept3), (0, kept2))


if __name__ == "__main__":
    rt.main()
