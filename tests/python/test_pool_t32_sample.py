#!/usr/bin/env python3
"""The T32 sample end to end on a real pool: `examples/t32/run` succeeds (validation passed,
program and report fetched, pool stopped with no orphan), and on the same data dir:
* a second, cache-busted run (every stage salted) gives identical digests for every stage's
  outputs;
* changing one function in the ROM source re-lifts and recompiles exactly one shard (the
  other 7 of lift and of compile are cache hits, `cached: true`);
* a corrupted ROM fails at ingest (its log says why);
* no 16-byte window of the ROM's data section appears in any generated artifact (outputs
  and logs), and every one of them is exportable (none is external).
Reuses the T32 tools' test helpers (examples/t32/tests/t32test.py)."""
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recomp_testlib as rt  # noqa: E402

sys.path.insert(0, os.path.join(rt.REPO, "examples", "t32", "tests"))
import t32test  # noqa: E402  (puts examples/t32 on sys.path)
import asm  # noqa: E402
import isa  # noqa: E402
import lift  # noqa: E402

PIPELINE = os.path.join(rt.REPO, "config", "pipelines", "t32.toml")
ROM_DIR = os.path.join(t32test.T32, "rom")
EDIT_FILE, EDIT_FUNC = "math.s", "collatz"
EDIT_FROM, EDIT_TO = "    li r5, 64\n", "    li r5, 63\n"
STAGE_COUNTS = {"ingest": 1, "analyze": 1, "split": 8, "lift": 8, "compile": 8, "link": 1, "validate": 1}


def build_modules(src_dir, out_dir):
    """Assembles <src_dir>/game.s into the three module files a submitter provides."""
    os.makedirs(out_dir, exist_ok=True)
    rom, funcs, _ = asm.assemble(os.path.join(src_dir, "game.s"))
    paths = {n: os.path.join(out_dir, n) for n in ("game.rom", "symbols.toml", "provenance.json")}
    with open(paths["game.rom"], "wb") as f:
        f.write(rom)
    with open(paths["symbols.toml"], "w") as f:
        f.write(asm.symbols_toml(funcs))
    with open(paths["provenance.json"], "w") as f:
        f.write(asm.provenance(rom, "game.rom", "game.s"))
    return paths


def salted_pipeline(path, salt):
    """t32.toml with absolute tool paths and every stage's salt set: new job IDs, same work."""
    with open(PIPELINE) as f:
        text = f.read()
    base = os.path.dirname(PIPELINE)
    text = re.sub(r'"(\.\./\.\./examples/t32/[^"]+)"',
                  lambda m: json.dumps(os.path.normpath(os.path.join(base, m.group(1)))), text)
    text, n = re.subn(r'^salt = ""$', 'salt = %s' % json.dumps(salt), text, flags=re.M)
    assert n == len(STAGE_COUNTS), "expected one salt line per stage in t32.toml"
    with open(path, "w") as f:
        f.write(text)
    return path


def by_stage(events):
    return {(e["data"]["stage"], e["data"]["shard"]): e["data"] for e in events
            if e["type"] == "recomp.run.stage.completed"}


class T32Sample(rt.PoolTestCase):
    def test_sample_end_to_end(self):
        data = self.tmp.join("t32-data")
        env = dict(os.environ, RECOMP_BIN=rt.RECOMP_BIN)
        t0 = rt.time.monotonic()
        p = subprocess.run([os.path.join(rt.REPO, "examples", "t32", "run"), "--workers", "2",
                            "--data", data], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=420, env=env)
        print("examples/t32/run took %.1fs" % (rt.time.monotonic() - t0), file=sys.stderr)
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertRegex(p.stdout, r"validation\W+passed")
        self.assertIn("artifact://", p.stdout)
        for name in ("t32prog", "report.json"):
            self.assertTrue(os.path.isfile(os.path.join(data, "out", name)), p.stdout)
        with open(os.path.join(data, "out", "report.json")) as f:
            report = json.load(f)
        self.assertEqual((report["result"], report["mismatches"]), ("pass", 0))
        self.assertEqual(rt.processes_mentioning(data), [], "examples/t32/run left processes behind")
        # The fetched program agrees with the reference interpreter.
        rom_path = os.path.join(data, "in", "game.rom")
        prog = rt.run([os.path.join(data, "out", "t32prog"), rom_path, 1, 2, 3, 4]).stdout
        ref = rt.run([rt.PYTHON, os.path.join(t32test.T32, "interp.py"), rom_path, 1, 2, 3, 4]).stdout
        self.assertEqual(prog, ref)

        # A pool of our own on the same data dir: the run's events and the cache are there.
        pool = self.pool(workers=2, name="again")
        pool.data = data
        pool.start()

        all_events = pool.events()
        runs = sorted({e["subject"] for e in all_events})
        self.assertEqual(len(runs), 1, runs)
        run_a = [e for e in all_events if e["subject"] == runs[0]]
        a = by_stage(run_a)
        self.assertEqual(sorted({k[0] for k in a}), sorted(STAGE_COUNTS))
        self.assertEqual(len(a), sum(STAGE_COUNTS.values()))
        modules = {n: os.path.join(data, "in", n) for n in ("game.rom", "provenance.json", "symbols.toml")}

        # 1. A cache-busted second run: every job executes again, identical output digests.
        salted = salted_pipeline(self.tmp.join("t32-salted.toml"), "determinism-check")
        p, st = pool.submit(list(modules.values()), salted, timeout=420)
        self.assertEqual(st["state"], "succeeded", p.stdout + p.stderr)
        b = by_stage(pool.events(st["run_id"]))
        self.assertFalse([k for k, d in b.items() if d["cached"]], "salted jobs must execute")
        self.assertEqual(set(a), set(b))
        diff = [k for k in a if a[k]["outputs"] != b[k]["outputs"]]
        self.assertEqual(diff, [], "outputs differ between two runs")
        self.assertTrue(all(a[k]["job_id"] != b[k]["job_id"] for k in a))

        # 2. One function edited: exactly one lift shard and one compile shard execute.
        src = self.tmp.join("rom-edit")
        shutil.copytree(ROM_DIR, src)
        path = os.path.join(src, EDIT_FILE)
        with open(path) as f:
            text = f.read()
        self.assertEqual(text.count(EDIT_FROM), 1, "edit anchor must be unique")
        with open(path, "w") as f:
            f.write(text.replace(EDIT_FROM, EDIT_TO))
        edited = build_modules(src, self.tmp.join("modules-edit"))
        p, st = pool.submit([edited["game.rom"], edited["provenance.json"], edited["symbols.toml"]],
                            PIPELINE, timeout=420)
        self.assertEqual(st["state"], "succeeded", p.stdout + p.stderr)
        e = by_stage(pool.events(st["run_id"]))
        shard = lift.shard_of(EDIT_FUNC, 8)
        deferred = []  # checked last, so that the other checks still run
        for stage in ("lift", "compile"):
            changed = sorted(sh for (sg, sh), d in e.items()
                             if sg == stage and d["outputs"] != a[(sg, sh)]["outputs"])
            self.assertEqual(changed, [shard], "%s: shards whose outputs changed" % stage)
            executed = sorted(sh for (sg, sh), d in e.items() if sg == stage and not d["cached"])
            if executed != [shard]:
                deferred.append("%s: executed shards %r, expected only [%d] (the others cache hits)"
                                % (stage, executed, shard))

        # 3. A corrupted ROM fails at ingest, and the ingest log says why.
        bad = self.tmp.join("modules-bad")
        shutil.copytree(os.path.join(data, "in"), bad)
        with open(os.path.join(bad, "game.rom"), "r+b") as f:
            f.seek(100)
            byte = f.read(1)
            f.seek(100)
            f.write(bytes([byte[0] ^ 0x40]))
        p, st = pool.submit([os.path.join(bad, n) for n in ("game.rom", "provenance.json", "symbols.toml")],
                            PIPELINE, check=False, timeout=120)
        self.assertNotEqual(p.returncode, 0)
        self.assertEqual(st["state"], "failed", p.stdout + p.stderr)
        evs = pool.events(st["run_id"])
        stages = by_stage(evs)
        self.assertEqual(list(stages), [("ingest", 0)])
        self.assertEqual(stages[("ingest", 0)]["outcome"], "failed")
        self.assertIn("ingest", evs[-1]["data"]["reason"])
        log = pool.cli("logs", st["run_id"], "--stage", "ingest", "--shard", "0").stdout
        self.assertIn("ingest: error:", log)
        self.assertIn("sha256 mismatch", log)

        # 4. No ROM data in any generated artifact of the first run (outputs and logs).
        with open(modules["game.rom"], "rb") as f:
            rom_data = isa.parse_rom(f.read())["data"]
        self.assertGreater(len(rom_data), 256)
        windows = {rom_data[i:i + 16] for i in range(len(rom_data) - 15)}
        refs = sorted({o["ref"] for d in a.values() for o in d["outputs"]} |
                      {d["log_ref"] for d in a.values() if d["log_ref"]})
        export = self.tmp.join("export")
        os.makedirs(export)
        rt.run([rt.RECOMP_BIN, "artifact", "export", "--store", os.path.join(data, "store"), export, *refs])
        for ref in refs:
            with open(os.path.join(export, ref.rsplit("/", 1)[1]), "rb") as f:
                blob = f.read()
            hits = [i for i in range(len(blob) - 15) if blob[i:i + 16] in windows]
            self.assertEqual(hits, [], "%s contains ROM data bytes at %r" % (ref, hits[:5]))
        pool.stop()
        self.assertEqual(deferred, [], "one-function edit: cache reuse")


if __name__ == "__main__":
    rt.main()
