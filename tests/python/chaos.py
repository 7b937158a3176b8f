"""A seeded chaos round against a real pool, shared by tests/python/test_chaos.py (a short
round in CI) and bench/chaos_bench.py (a long one).

The round starts `recomp up`, submits runs (each with its own run id, so a resubmission is
idempotent) while SIGKILLing the coordinator, a worker or the supervisor (`recomp up`) at
moments drawn from a seeded generator, restarts the supervisor when it was killed, resubmits
every run, waits for all of them, and then checks the invariants (check_invariants). The
sleeps between kills are the chaos schedule, not synchronisation: every wait for a state
polls with a deadline.
"""
import os
import random
import signal
import time

import recomp_testlib as rt

# Kill targets and their weights.
TARGETS = (("coordinator", 4), ("worker", 4), ("up", 2))


class Round:
    """One chaos round on pool (a started rt.Pool) in directory tmp (an rt.TempDir)."""

    def __init__(self, pool, tmp, seed, runs, kills, modules=2, max_gap_s=1.5, log=None):
        self.pool, self.tmp = pool, tmp
        self.rng = random.Random(seed)
        self.seed, self.runs, self.kills, self.modules = seed, runs, kills, modules
        self.max_gap_s = max_gap_s
        self.log = log or (lambda msg: None)
        self.count = tmp.join("chaos-count.txt")
        self.killed = {name: 0 for name, _ in TARGETS}
        self.resubmissions = 0
        self.expected = {}      # module index -> {(stage, shard): outputs}
        self.submitted = {}     # run id -> module index

    # -- setup
    def prepare(self):
        """Modules, pipelines and one undisturbed reference run per module (another salt:
        other job IDs, the same output bytes)."""
        self.mods, self.provs = [], []
        for m in range(self.modules):
            d = self.tmp.join("chaos-mod-%d" % m)
            mod = rt.write_module(d, text="chaos module %d\n" % m)
            self.mods.append(mod)
            self.provs.append(rt.write_provenance(d, [mod]))
        env_b = {"SLEEP_S": "0.4"}
        common = self.pool.job_env(self.count)
        ref = rt.write_pipeline(self.tmp.join("chaos-ref"), "ref",
                                rt.fanout_stages(salt="reference", env_b=env_b),
                                common_env=common)
        for m in range(self.modules):
            p, st = self.pool.submit([self.mods[m]], ref, self.provs[m])
            if st is None or st["state"] != "succeeded":
                raise rt.TestFailure("reference run failed: %s%s" % (p.stdout, p.stderr))
            self.expected[m] = rt.stage_outputs(self.pool.events(st["run_id"]))
        # Runs come in identical pairs (same module and salt, so the same job IDs): the second
        # of a pair exercises the cache and the one-attempt-in-flight rule under kills.
        self.pipelines = []
        for j in range((self.runs + 1) // 2):
            self.pipelines.append(rt.write_pipeline(
                self.tmp.join("chaos-p%d" % j), "p%d" % j,
                rt.fanout_stages(salt="chaos-%d-%d" % (self.seed, j), env_b=env_b),
                common_env=common))

    def run_id(self, i):
        return "chaos-%d-run-%d" % (self.seed, i)

    # -- submitting
    def submit(self, i, timeout=90):
        """Submits run i until the coordinator accepts it (it may be down or restarting)."""
        j = i // 2
        m = j % self.modules
        deadline = time.monotonic() + timeout
        while True:
            p, st = self.pool.submit([self.mods[m]], self.pipelines[j], self.provs[m],
                                     run_id=self.run_id(i), wait=False, check=False, timeout=60)
            if p.returncode == 0 and st and st.get("run_id") == self.run_id(i):
                self.submitted[self.run_id(i)] = m
                return
            if time.monotonic() >= deadline:
                raise rt.TestFailure("run %s not accepted within %ss: %s%s"
                                     % (self.run_id(i), timeout, p.stdout, p.stderr))
            self.resubmissions += 1
            time.sleep(0.2)

    # -- killing
    def candidates(self, target):
        if target == "coordinator":
            return self.pool.coordinator_pids()
        if target == "worker":
            return self.pool.worker_pids()
        return [self.pool.up.p.pid] if self.pool.up and self.pool.up.alive() else []

    def kill_one(self):
        names = [n for n, _ in TARGETS]
        target = self.rng.choices(names, weights=[w for _, w in TARGETS])[0]
        pids = sorted(self.candidates(target))
        if not pids:
            return None
        pid = self.rng.choice(pids)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return None
        self.killed[target] += 1
        self.log("kill -9 %s %d" % (target, pid))
        if target == "up":
            self.restart_up()
        return target

    def restart_up(self):
        """The supervisor is gone: its children follow it (PR_SET_PDEATHSIG); start a new one
        on the same data dir, as an operator would."""
        self.pool.up.wait(10)
        self.pool.up.close()
        self.pool.up = None
        rt.wait_for(lambda: not self.pool.processes(), 30,
                    "the killed supervisor's children to exit")
        self.pool.start(timeout=60)

    # -- the round
    def play(self):
        """Interleaves submissions and kills, then resubmits every run and waits for all."""
        order = list(range(self.runs))
        kills_left = self.kills
        while order or kills_left:
            if order and (not kills_left or self.rng.random() < 0.5):
                self.submit(order.pop(0))
            if kills_left and (not order or self.rng.random() < 0.6):
                time.sleep(self.rng.uniform(0.05, self.max_gap_s))
                if self.kill_one():
                    kills_left -= 1
        for i in range(self.runs):  # idempotent: the same run id names the same run
            self.submit(i)
        finals = {}
        for rid in sorted(self.submitted):
            finals[rid] = self.pool.wait_state(rid, states=("succeeded", "failed", "blocked"),
                                               timeout=300)
        return finals

    def total_kills(self):
        return sum(self.killed.values())


def check_invariants(case, rnd, finals):
    """The invariants of docs/testing.md's chaos suite, asserted through case (a TestCase);
    the pool must still be running. Stops it and checks nothing is left behind."""
    pool = rnd.pool
    for rid, st in finals.items():
        case.assertEqual(st["state"], "succeeded", "%s: %r" % (rid, st))
    listed = rt.Client(pool.endpoints()["api"]).ok("LIST", {"limit": 1000})
    chaos_runs = [r["run_id"] for r in listed["runs"] if r["run_id"].startswith("chaos-")]
    case.assertEqual(sorted(chaos_runs), sorted(finals), "one run per run id")
    everything = pool.events(extensions=True)
    seqs = [e["sequence"] for e in everything]
    case.assertEqual(seqs, list(range(1, len(everything) + 1)), "replay has a gap or a duplicate")
    ids = [e["id"] for e in everything]
    case.assertEqual(len(ids), len(set(ids)), "an event id repeated")
    for rid, m in rnd.submitted.items():
        evs = pool.events(rid)
        completed = [(e["data"]["stage"], e["data"]["shard"]) for e in evs
                     if e["type"] == "recomp.run.stage.completed"]
        case.assertEqual(len(completed), len(set(completed)), "%s: a stage completed twice" % rid)
        terminal = [e for e in evs if e["type"] == "recomp.run.completed"]
        case.assertEqual(len(terminal), 1, "%s: %d completion events" % (rid, len(terminal)))
        case.assertEqual(rt.stage_outputs(evs), rnd.expected[m], "%s: outputs differ" % rid)
        audit = pool.cli("audit", rid, check=False)
        case.assertEqual(audit.returncode, 0, "%s: audit: %s%s" % (rid, audit.stdout, audit.stderr))
    pool.stop()
    verify = rt.run([rt.RECOMP_BIN, "artifact", "verify", "--store",
                     os.path.join(pool.data, "store")], check=False)
    case.assertEqual(verify.returncode, 0, verify.stdout + verify.stderr)
    case.assertIn(" 0 problem(s)", verify.stdout)
    work = os.path.join(pool.data, "work")
    left = [n for n in os.listdir(work) if not n.startswith(".spare.")] if os.path.isdir(work) else []
    case.assertEqual(left, [], "sandboxes left after stop")
