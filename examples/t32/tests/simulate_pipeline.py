#!/usr/bin/env python3
"""End-to-end test of config/pipelines/t32.toml under the pool's job contract
(see pipeline_sim.py): validation passes, runs are byte-identical, a one-function
edit touches one lift and one compile shard (inputs and outputs), a broken lifter is caught and the
report names the function, a corrupted ROM stops at ingest, no ROM data leaks.
"""
import json, os, shutil, sys, tempfile, unittest

import t32test
import asm, isa, lift
import pipeline_sim as ps

PIPELINE = os.environ.get("T32_PIPELINE", os.path.join(t32test.REPO, "config", "pipelines", "t32.toml"))
ROM_DIR = os.path.join(t32test.T32, "rom")
EDIT_FILE, EDIT_FUNC = "math.s", "collatz"
EDIT_FROM, EDIT_TO = "    li r5, 64\n", "    li r5, 63\n"      # collatz's iteration cap
SAR_SEMANTICS = '"sar": "(uint32_t)((int32_t)%s >> (%s & 31u))" % (s, t),'
SAR_BROKEN = '"sar": "%s >> (%s & 31u)" % (s, t),'


def build_modules(src_dir, out_dir):
    """Assemble <src_dir>/game.s into the module files the submitter provides."""
    os.makedirs(out_dir, exist_ok=True)
    rom_path = os.path.join(out_dir, "game.rom")
    rom, funcs, _ = asm.assemble(os.path.join(src_dir, "game.s"))
    with open(rom_path, "wb") as f:
        f.write(rom)
    with open(os.path.join(out_dir, "symbols.toml"), "w") as f:
        f.write(asm.symbols_toml(funcs))
    with open(os.path.join(out_dir, "provenance.json"), "w") as f:
        f.write(asm.provenance(rom, "game.rom", "game.s"))
    return {n: os.path.join(out_dir, n) for n in ("game.rom", "symbols.toml", "provenance.json")}


def changed_shards(a, b, stage):
    fa, fb = a.output_files([stage]), b.output_files([stage])
    assert fa.keys() == fb.keys(), (sorted(fa), sorted(fb))
    return sorted({int(k.split("/")[1]) for k in fa if fa[k] != fb[k]})


def changed_inputs(a, b, stage):
    """Shards of `stage` whose job input sets differ between two runs (= job IDs that differ)."""
    ka, kb = [j["input_key"] for j in a.jobs[stage]], [j["input_key"] for j in b.jobs[stage]]
    assert len(ka) == len(kb)
    return [i for i in range(len(ka)) if ka[i] != kb[i]]


class Pipeline(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="t32pipe-")
        cls.pipeline = ps.load_pipeline(PIPELINE)
        cls.modules = build_modules(ROM_DIR, os.path.join(cls.tmp, "modules"))
        cls.run_a = cls.simulate("a", cls.modules)
        cls.run_a.run()
        cls.run_b = cls.simulate("b", cls.modules)
        cls.run_b.run()

    @classmethod
    def tearDownClass(cls):
        if not os.environ.get("T32_KEEP"):
            shutil.rmtree(cls.tmp)

    @classmethod
    def simulate(cls, tag, modules, overrides=None):
        root = os.path.join(cls.tmp, "run-" + tag)
        os.makedirs(root)
        return ps.Simulator(cls.pipeline, modules, root, overrides)

    def report(self, sim):
        with open(os.path.join(sim.results["validate"][0], "out", "report.json")) as f:
            return json.load(f)

    def test_contract_shape(self):
        names = [s["name"] for s in self.pipeline["stages"]]
        self.assertEqual(names, ["ingest", "analyze", "split", "lift", "compile", "link", "validate"])
        stages = {s["name"]: s for s in self.pipeline["stages"]}
        self.assertEqual([stages[n]["shards"] for n in ("split", "lift", "compile")], [8, 8, 8])
        for name in ("lift", "compile"):
            self.assertEqual((stages[name]["module"], stages[name]["shard_inputs"]), (False, "same"))
        self.assertTrue(self.run_a.stage("validate")["validation"])

    def test_full_pipeline_passes_validation(self):
        rep = self.report(self.run_a)
        self.assertEqual(rep["result"], "pass", rep.get("summary"))
        self.assertEqual((rep["vectors"], rep["mismatches"]), (200, 0))
        self.assertTrue(rep["rejects_tampered_rom"])
        self.assertIn("PASS", self.run_a.jobs["validate"][0]["stdout"])

    def test_two_runs_are_byte_identical(self):
        a, b = self.run_a.output_files(), self.run_b.output_files()
        self.assertEqual(sorted(a), sorted(b))
        self.assertIn("link/0/out/t32prog", a)
        differing = [k for k in a if a[k] != b[k]]
        self.assertEqual(differing, [])

    def test_one_function_edit_changes_exactly_one_shard(self):
        src = os.path.join(self.tmp, "rom-edit")
        shutil.copytree(ROM_DIR, src)
        path = os.path.join(src, EDIT_FILE)
        with open(path) as f:
            text = f.read()
        self.assertEqual(text.count(EDIT_FROM), 1, "edit anchor must be unique")
        with open(path, "w") as f:
            f.write(text.replace(EDIT_FROM, EDIT_TO))
        sim = self.simulate("edit", build_modules(src, os.path.join(self.tmp, "modules-edit")))
        sim.run(until="compile")
        expected = [lift.shard_of(EDIT_FUNC, 8)]
        self.assertEqual(changed_shards(self.run_a, sim, "split"), expected)
        for stage in ("lift", "compile"):
            with self.subTest(stage):
                self.assertEqual(changed_inputs(self.run_a, sim, stage), expected, "job inputs (IDs)")
                self.assertEqual(changed_shards(self.run_a, sim, stage), expected, "outputs")
        # Unchanged input sets mean unchanged job IDs: the pool serves the other 7 from cache.
        self.assertEqual(changed_inputs(self.run_a, self.run_b, "lift"), [])

    def test_lift_and_compile_read_only_their_shard(self):
        job = self.run_a.jobs["lift"][3]
        self.assertEqual(sorted(os.listdir(os.path.join(job["dir"], "in"))), ["split", "tools"])
        self.assertEqual(os.listdir(os.path.join(job["dir"], "in", "split")), ["3"])
        job = self.run_a.jobs["compile"][5]
        self.assertEqual(sorted(os.listdir(os.path.join(job["dir"], "in"))), ["lift", "tools"])
        self.assertEqual(os.listdir(os.path.join(job["dir"], "in", "lift")), ["5"])

    def test_wrong_lifter_fails_validation_and_names_function(self):
        with open(os.path.join(t32test.T32, "lift.py")) as f:
            text = f.read()
        self.assertEqual(text.count(SAR_SEMANTICS), 1, "patch anchor missing from lift.py")
        bad_dir = os.path.join(self.tmp, "badlift")
        os.makedirs(bad_dir)
        with open(os.path.join(bad_dir, "lift.py"), "w") as f:
            f.write(text.replace(SAR_SEMANTICS, SAR_BROKEN))
        users = self.functions_using("sar")
        self.assertEqual(users, ["sign_extend"])
        sim = self.simulate("badlift", self.modules, {"lift.py": os.path.join(bad_dir, "lift.py")})
        sim.adopt(self.run_a, ["ingest", "analyze", "split"])
        with self.assertRaises(ps.StageFailed) as cm:
            sim.run(start="lift")
        self.assertEqual(cm.exception.stage, "validate")
        with open(os.path.join(cm.exception.job["dir"], "out", "report.json")) as f:
            rep = json.load(f)
        self.assertEqual(rep["result"], "fail")
        self.assertGreater(rep["mismatches"], 0)
        self.assertEqual(rep["first_failure"]["function"], "sign_extend")
        self.assertIn("first divergence in function sign_extend", cm.exception.job["stdout"])

    def functions_using(self, op):
        with open(os.path.join(self.run_a.results["analyze"][0], "out", "functions.json")) as f:
            funcs = json.load(f)["functions"]
        return [fn["name"] for fn in funcs
                if any((isa.decode(int(w, 16)) or ("",))[0] == op for _pc, w in fn["insns"])]

    def test_corrupted_or_missing_rom_fails_at_ingest(self):
        bad = os.path.join(self.tmp, "modules-bad")
        shutil.copytree(os.path.dirname(self.modules["game.rom"]), bad)
        with open(os.path.join(bad, "game.rom"), "r+b") as f:
            f.seek(100)
            byte = f.read(1)
            f.seek(100)
            f.write(bytes([byte[0] ^ 0x40]))
        cases = [({n: os.path.join(bad, n) for n in self.modules}, "sha256 mismatch"),
                 ({"provenance.json": self.modules["provenance.json"]}, "No such file"),
                 ({"game.rom": self.modules["game.rom"]}, "missing in/module/provenance.json")]
        for i, (modules, message) in enumerate(cases):
            with self.subTest(message):
                sim = self.simulate("ingest%d" % i, modules)
                with self.assertRaises(ps.StageFailed) as cm:
                    sim.run(until="ingest")
                self.assertEqual(cm.exception.stage, "ingest")
                self.assertIn("ingest: error:", cm.exception.job["stderr"])
                self.assertIn(message, cm.exception.job["stderr"])

    def test_no_rom_data_window_in_any_artifact(self):
        with open(self.modules["game.rom"], "rb") as f:
            data = isa.parse_rom(f.read())["data"]
        self.assertGreater(len(data), 256)
        windows = {data[i:i + 16] for i in range(len(data) - 15)}
        for name, blob in self.run_a.output_files().items():
            hits = [i for i in range(len(blob) - 15) if blob[i:i + 16] in windows]
            self.assertEqual(hits, [], "%s contains ROM data bytes at offsets %s" % (name, hits[:5]))


if __name__ == "__main__":
    sys.exit(unittest.main())
