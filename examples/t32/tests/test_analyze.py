#!/usr/bin/env python3
"""Analysis tests on the sample ROM and small snippets: discovery from the
entry through calls, symbol overrides that name and add functions, jump-table
targets as intra-function labels, and bodies that stop at unconditional jumps."""
import os, unittest

import t32test
from t32test import assemble_text
import analyze, asm, isa


class SampleRom(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rom, cls.funcs, _ = asm.assemble(os.path.join(t32test.T32, "rom", "game.s"))
        cls.named = analyze.analyze(cls.rom, {a: n for n, a in cls.funcs})
        cls.plain = analyze.analyze(cls.rom)

    def test_sorted_by_address_and_entry_named(self):
        addrs = [f["addr"] for f in self.named["functions"]]
        self.assertEqual(addrs, sorted(addrs))
        self.assertEqual(self.named["entry"], "main")
        self.assertGreaterEqual(len(addrs), 48)

    def test_overrides_name_and_add_functions(self):
        plain = {f["name"] for f in self.plain["functions"]}
        named = {f["name"] for f in self.named["functions"]}
        self.assertTrue(all(n.startswith("fn_") for n in plain))
        self.assertIn("debug_dump", named)                    # never called: only the overrides add it
        self.assertEqual(len(named), len(plain) + 1)
        self.assertEqual(named, {n for n, _a in self.funcs})

    def test_bodies_do_not_swallow_other_functions(self):
        entries = {f["addr"] for f in self.named["functions"]}
        for f in self.named["functions"]:
            inside = {pc for pc, _w in f["insns"]} & entries
            self.assertEqual(inside, {f["addr"]}, f["name"])

    def test_jump_table_targets_are_labels_of_the_function(self):
        by_name = {f["name"]: f for f in self.named["functions"]}
        for name in ("op_dispatch", "vm_run"):
            f = by_name[name]
            (targets,) = f["jump_tables"].values()
            self.assertEqual(len(targets), 8)
            self.assertTrue(set(targets) <= {pc for pc, _w in f["insns"]}, name)

    def test_callees_are_named(self):
        main = next(f for f in self.named["functions"] if f["name"] == "main")
        self.assertIn("phase_math", main["calls"].values())


class Snippets(unittest.TestCase):
    def test_unreachable_after_jump_is_not_in_body(self):
        rom, funcs, _ = assemble_text(".entry m\n.func m\n j end\n halt\nend: ret\n")
        (f,) = analyze.analyze(rom)["functions"]
        self.assertEqual([pc for pc, _w in f["insns"]], [0, 8])

    def test_table_outside_data_has_no_static_targets(self):
        rom, _f, _e = assemble_text(".entry m\n.func m\n jt r1, 2, 0x4000\n ret\n")
        (f,) = analyze.analyze(rom)["functions"]
        self.assertEqual(f["jump_tables"], {"0": []})

    def test_override_errors(self):
        with self.assertRaises(analyze.AnalyzeError):
            analyze.parse_overrides('[[function]]\nname = "9bad"\naddr = 0\n')
        with self.assertRaises(analyze.AnalyzeError):
            analyze.parse_overrides('[[function]]\nname = "a"\naddr = 0\n[[function]]\nname = "b"\naddr = 0\n')
        rom, _f, _e = assemble_text(".entry m\n.func m\n ret\n")
        with self.assertRaises(analyze.AnalyzeError):
            analyze.analyze(rom, {0x40: "far"})
        self.assertEqual(analyze.parse_overrides('[[function]]\nname = "x"\naddr = 0x10\n'), {0x10: "x"})

    def test_rom_errors(self):
        with self.assertRaises(isa.RomError):
            analyze.analyze(b"T32R" + bytes(10))


if __name__ == "__main__":
    unittest.main()
