#!/usr/bin/env python3
"""Lifter tests: one tiny function per instruction (and per trap), lifted to C
over several shards, compiled with gcc against the runtime, and compared with
the reference interpreter on many operand vectors."""
import os, random, shutil, subprocess, tempfile, unittest

import t32test
import analyze, interp, isa, lift, link

# case name -> body of a function taking operands in r2, r3 and returning r1
CASES = {
    "add": "add r1, r2, r3", "sub": "sub r1, r2, r3", "and": "and r1, r2, r3",
    "or": "or r1, r2, r3", "xor": "xor r1, r2, r3", "shl": "shl r1, r2, r3",
    "shr": "shr r1, r2, r3", "sar": "sar r1, r2, r3", "mul": "mul r1, r2, r3",
    "slt": "slt r1, r2, r3", "sltu": "sltu r1, r2, r3", "addi": "addi r1, r2, -1234",
    "andi": "andi r1, r2, 0xF0F0", "ori": "ori r1, r2, 0x8001", "xori": "xori r1, r2, 0xFFFF",
    "shli": "shli r1, r2, 7", "shri": "shri r1, r2, 31", "sari": "sari r1, r2, 9",
    "li": "li r1, -2\nadd r1, r1, r2", "lui": "lui r1, 0xBEEF\nor r1, r1, r3",
    "ld_data": "andi r2, r2, 0x3C\nld r1, 0x1000(r2)", "ld_raw": "ld r1, 0(r2)",
    "ldb_data": "andi r2, r2, 63\nldb r1, 0x1000(r2)", "st_raw": "st r3, 0(r2)\nld r1, 0(r2)",
    "stb": "stb r3, 1(r2)\nldb r1, 1(r2)", "ld_wrap": "li r4, 99\nst r4, -4(r0)\nld r1, -4(r2)",
    "r0_write": "add r0, r2, r3\nld r0, 0(r2)\nadd r1, r0, r3",
    "beq": "li r1, 1\nbeq r2, r3, beq_y\nli r1, 2\nbeq_y:", "bne": "li r1, 1\nbne r2, r3, bne_y\nli r1, 2\nbne_y:",
    "blt": "li r1, 1\nblt r2, r3, blt_y\nli r1, 2\nblt_y:", "bge": "li r1, 1\nbge r2, r3, bge_y\nli r1, 2\nbge_y:",
    "bltu": "li r1, 1\nbltu r2, r3, bltu_y\nli r1, 2\nbltu_y:",
    "bgeu": "li r1, 1\nbgeu r2, r3, bgeu_y\nli r1, 2\nbgeu_y:",
    "jt": "jt r2, 4, jt_tab\njt_0: li r1, 10\nret\njt_1: li r1, 11\nret\njt_2: mov r1, r3",
    "out": "out r2\nout r3\nmov r1, r3", "outfull": "outfull_l: out r2\nj outfull_l",
    "halt": "mov r1, r3\nhalt", "illegal": ".word 0xFC000000", "depth": "beq r2, r3, depth_out\ncall t_depth\ndepth_out:",
    "badret": "addi r15, r15, 4", "spin": "spin_l: addi r1, r1, 1\nj spin_l",
    "callbad": ".word 0xC0003FFF",
}
LAST = "falloff"       # placed last in .text: falls off the end of code
STEP_LIMIT = 5000


def semantics_source():
    names = list(CASES) + [LAST]
    main = [".entry main", ".func main", "push lr", "jt r1, %d, cases" % len(names)]
    for n in names:
        main += ["c_%s:" % n, "call t_%s" % n, "j done"]
    main += ["done:", "out r1", "pop lr", "ret"]
    funcs = []
    for n in names[:-1]:
        funcs += [".func t_%s" % n, CASES[n], "ret"]
    funcs += [".func t_" + LAST, "addi r1, r2, 1"]
    data = [".data", "dat: .word " + ", ".join(str(0x01020304 * (i + 1)) for i in range(16)),
            "cases: .word " + ", ".join("c_" + n for n in names),
            "jt_tab: .word jt_0, jt_1, jt_2, 2"]
    return "\n".join(main + funcs + data) + "\n", names


def operand_vectors(rng):
    edge = [0, 1, 2, 31, 32, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x4000, 0x4001, 3]
    vecs = [(a, b) for a in edge for b in (0, 1, 5, 0xFFFFFFFF)] + [(x, x) for x in edge]
    vecs += [(rng.getrandbits(32), rng.getrandbits(32)) for _ in range(20)]
    vecs += [(rng.getrandbits(6), rng.getrandbits(6)) for _ in range(10)]
    return vecs


class LiftSemantics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="t32lift-")
        text, cls.names = semantics_source()
        cls.rom, funcs, _ = t32test.assemble_text(text)
        cls.rom_path = os.path.join(cls.tmp, "sem.rom")
        with open(cls.rom_path, "wb") as f:
            f.write(cls.rom)
        cls.functions = analyze.analyze(cls.rom, {a: n for n, a in funcs})
        shards = [lift.lift_shard(cls.functions, i, 3)[0] for i in range(3)]
        glue = link.glue_source(__import__("hashlib").sha256(cls.rom).hexdigest(),
                                isa.parse_rom(cls.rom)["entry"], cls.functions["entry"])
        cls.prog = t32test.build_native(cls.tmp, shards, glue)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def native(self, vecs):
        inp = "".join("%d %d %d\n" % v for v in vecs)
        p = subprocess.run([self.prog, "--steps", str(STEP_LIMIT), self.rom_path], input=inp,
                           capture_output=True, text=True, check=True)
        lines = p.stdout.splitlines(keepends=True)
        return ["".join(lines[i:i + 4]) for i in range(0, len(lines), 4)]

    def test_every_case_matches_interpreter(self):
        rng = random.Random(1234)
        for idx, name in enumerate(self.names):
            vecs = [(idx, a, b) for a, b in operand_vectors(rng)]
            got = self.native(vecs)
            with self.subTest(name):
                for vec, actual in zip(vecs, got):
                    expected = isa.format_result(interp.run(self.rom, vec, STEP_LIMIT))
                    self.assertEqual(actual, expected, "case %s, input %s" % (name, vec))

    def test_traps_are_reached(self):
        want = {"outfull": "trap:outfull", "halt": "halt", "illegal": "trap:illegal",
                "depth": "trap:depth", "badret": "trap:badret", "spin": "trap:steps",
                "callbad": "trap:badpc", LAST: "trap:badpc"}
        for name, status in want.items():
            res = interp.run(self.rom, [self.names.index(name), 1, 2], STEP_LIMIT)
            self.assertEqual(res["status"], status, name)
        self.assertEqual(interp.run(self.rom, [self.names.index("jt"), 3, 0], STEP_LIMIT)["status"], "trap:badjump")
        self.assertEqual(interp.run(self.rom, [99], STEP_LIMIT)["status"], "trap:jtrange")

    def test_native_rejects_other_rom(self):
        bad = os.path.join(self.tmp, "other.rom")
        with open(bad, "wb") as f:
            f.write(self.rom[:-1] + bytes([self.rom[-1] ^ 1]))
        p = subprocess.run([self.prog, bad, "1"], capture_output=True, text=True)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("hash mismatch", p.stderr)

    def test_rom_path_from_environment_and_trace(self):
        trace = os.path.join(self.tmp, "trace.txt")
        env = dict(os.environ, T32_ROM=self.rom_path)
        p = subprocess.run([self.prog, "--trace", trace, "0", "3", "4"], capture_output=True, text=True, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        expected_trace = []
        self.assertEqual(p.stdout, isa.format_result(interp.run(self.rom, [0, 3, 4], trace=expected_trace)))
        with open(trace) as f:
            self.assertEqual(f.read(), "".join(expected_trace))

    def test_lift_is_deterministic_and_partitions_functions(self):
        a = [lift.lift_shard(self.functions, i, 3) for i in range(3)]
        b = [lift.lift_shard(self.functions, i, 3) for i in range(3)]
        self.assertEqual(a, b)
        names = sorted(n for _text, ns in a for n in ns)
        self.assertEqual(names, sorted(f["name"] for f in self.functions["functions"]))


class LiftText(unittest.TestCase):
    def test_generated_c_is_literal_per_instruction(self):
        rom, funcs, _ = t32test.assemble_text(".entry m\n.func m\nadd r1, r2, r3\njt r1, 2, t\n"
                                              "a: ret\nb: ret\n.data\nt: .word a, b\n")
        text, _ = lift.lift_shard(analyze.analyze(rom, {a: n for n, a in funcs}), 0, 1)
        self.assertIn("cpu->r[1] = cpu->r[2] + cpu->r[3];", text)
        self.assertIn("switch (t32_jt_load(cpu, cpu->r[1], 2u, 0x1000u, 0x4u))", text)
        self.assertIn("case 0x8u: goto L_0008;", text)
        self.assertIn("void t32f_m(t32_cpu *cpu, uint32_t ret_to)", text)


if __name__ == "__main__":
    unittest.main()
