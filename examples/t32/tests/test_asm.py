#!/usr/bin/env python3
"""Assembler tests: encodings, directives, pseudo-ops, errors with line numbers,
ROM header layout, and that the build-time ROM matches a fresh assembly."""
import os, struct, unittest

import t32test
from t32test import assemble_text
import asm, isa


def words(src):
    rom, _f, _e = assemble_text(".entry main\n.func main\n" + src)
    return isa.code_words(isa.parse_rom(rom)["code"])


class Encoding(unittest.TestCase):
    def test_golden_words(self):
        cases = {
            "add r1, r2, r3": 0x0448C000, "sub r15, r14, r13": 0x0BFB4000,
            "addi r1, r2, -1": 0x4048FFFF, "andi r3, r4, 0xF0F0": 0x44D0F0F0,
            "shli r5, r6, 31": 0x5158001F, "li r7, -2": 0x5DC0FFFE, "lui r8, 0xBEEF": 0x6200BEEF,
            "ld r1, 8(r14)": 0x64780008, "st r15, -4(sp)": 0x6BF8FFFC, "ldb r2, 0x1000(r0)": 0x6C801000,
            "out r9": 0xCE400000, "halt": 0x00000000, "ret": 0xC4000000,
        }
        for text, want in cases.items():
            with self.subTest(text):
                self.assertEqual(words(text)[0], want, "%s -> %08x" % (text, words(text)[0]))

    def test_every_opcode_roundtrips_through_decode(self):
        for name, (op, fmt) in isa.OPCODES.items():
            w = isa.encode(name, 3, 5, 7, 9) if fmt != "C" else isa.encode(name, imm=9)
            d = isa.decode(w)
            self.assertIsNotNone(d, name)
            self.assertEqual(d[0], name)

    def test_reserved_bits_make_illegal(self):
        self.assertIsNone(isa.decode(0x04000001))   # add with low bits set
        self.assertIsNone(isa.decode(0xC4000001))   # ret with operand bits
        self.assertIsNone(isa.decode(0x50000020))   # shli by 32
        self.assertIsNone(isa.decode(0xFC000000))   # unknown opcode

    def test_branches_and_calls_are_relative_and_absolute(self):
        w = words("loop: addi r1, r1, 1\n bne r1, r2, loop\n call main\n j loop\n")
        self.assertEqual(w[1] & 0xFFFF, 0xFFFE)              # back 2 words from pc+4
        self.assertEqual(w[2], 0xC0000000)                   # call 0
        self.assertEqual(isa.decode(w[3])[:3], ("beq", 0, 0))

    def test_jump_table_encoding(self):
        rom, _, _ = assemble_text(".entry m\n.func m\n jt r4, 3, tab\n.data\ntab: .word m, m, m\n")
        w = isa.code_words(isa.parse_rom(rom)["code"])[0]
        self.assertEqual(isa.decode(w), ("jt", 4, 3, isa.DATA_ADDR))

    def test_pseudo_ops(self):
        w = words("push r10\npop r11\nla r3, 0x12345678\nmov r1, r2\nneg r4, r5\nnop\n")
        self.assertEqual(len(w), 9)
        self.assertEqual(isa.decode(w[0]), ("addi", 14, 14, -4))
        self.assertEqual(isa.decode(w[1]), ("st", 10, 14, 0))
        self.assertEqual(isa.decode(w[2]), ("ld", 11, 14, 0))
        self.assertEqual(isa.decode(w[4]), ("lui", 3, 0, 0x1234))
        self.assertEqual(isa.decode(w[5]), ("ori", 3, 3, 0x5678))
        self.assertEqual(isa.decode(w[7]), ("sub", 4, 0, 5))


class Directives(unittest.TestCase):
    def test_data_layout_and_header(self):
        src = (".entry main\n.equ K, 5\n.func main\n li r1, msg\n ret\n.data\n"
               "msg: .asciz \"hi\"\n.byte 1, K, 'A'\n.align 4\nw: .word w, K+1, -1\n.space 3, 0x7f\n")
        rom, funcs, entry = assemble_text(src)
        magic, ver, _fl, ent, coff, csize, doff, dsize, daddr = struct.unpack_from("<4sHHIIIIII", rom)
        self.assertEqual((magic, ver, ent, coff, csize, daddr), (b"T32R", 1, 0, 32, 8, 0x1000))
        data = rom[doff:doff + dsize]
        self.assertEqual(data[:6], b"hi\0\x01\x05A")
        self.assertEqual(struct.unpack_from("<3I", data, 8), (0x1008, 6, 0xFFFFFFFF))
        self.assertEqual(data[20:], b"\x7f\x7f\x7f")
        self.assertEqual(funcs, [("main", 0)])

    def test_comments_and_labels_on_one_line(self):
        w = words("a: b: add r1, r2, r3 ; comment\n# whole line\n j b  # trailing\n")
        self.assertEqual(len(w), 2)

    def test_symbols_and_provenance_output(self):
        rom, funcs, _ = assemble_text(".entry f\n.func f\n ret\n.func g\n ret\n")
        self.assertIn('name = "g"\naddr = 0x0004', asm.symbols_toml(funcs))
        self.assertIn('"rom": "x.rom"', asm.provenance(rom, "x.rom", "/a/b/x.s"))


class Errors(unittest.TestCase):
    def check(self, src, line, fragment):
        with self.assertRaises(asm.AsmError) as cm:
            assemble_text(src, name="bad.s")
        msg = str(cm.exception)
        self.assertIn("bad.s:%d:" % line, msg)
        self.assertIn(fragment, msg)

    def test_errors_name_file_and_line(self):
        self.check(".entry m\n.func m\n  ad r1, r2, r3\n", 3, "unknown instruction")
        self.check(".entry m\n.func m\nadd r1, r2, r16\n", 3, "bad register")
        self.check(".entry m\n.func m\nnop\nj nowhere\n", 4, "undefined symbol 'nowhere'")
        self.check(".entry m\n.func m\naddi r1, r1, 40000\n", 3, "out of range")
        self.check(".entry m\n.func m\nm2:\nm2:\n", 4, "duplicate symbol")
        self.check(".entry m\n.func m\nadd r1, r2\n", 3, "expects 3 operand")
        self.check(".entry m\n.func m\nld r1, r2\n", 3, "offset(reg)")
        self.check(".entry m\n.func m\n.data\nx: .byte 1\n.word 5\n", 5, "misaligned .word")
        self.check(".entry m\n.func m\n.data\nadd r1, r2, r3\n", 4, "outside .text")
        self.check(".entry m\n.func m\nli r1, 0x8000\n", 3, "use la")
        self.check(".entry nope\n.func m\nret\n", 1, "not a code label")
        self.check(".entry m\n.func m\njt r1, 0, m\n", 3, "jump table count")

    def test_missing_entry(self):
        with self.assertRaises(asm.AsmError) as cm:
            assemble_text(".func m\nret\n", name="bad.s")
        self.assertIn("no .entry", str(cm.exception))

    def test_cli_reports_error_and_fails(self):
        import subprocess, sys, tempfile
        d = tempfile.mkdtemp()
        src = os.path.join(d, "e.s")
        with open(src, "w") as f:
            f.write(".entry m\n.func m\nbogus\n")
        p = subprocess.run([sys.executable, os.path.join(t32test.T32, "asm.py"), src, "-o", os.path.join(d, "o.rom")],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 1)
        self.assertIn("e.s:3: error: unknown instruction or directive 'bogus'", p.stderr)


class BuiltRom(unittest.TestCase):
    def test_build_time_rom_matches_fresh_assembly(self):
        built = os.environ.get("T32_BUILT_ROM")
        if not built:
            self.skipTest("T32_BUILT_ROM not set (run through CTest)")
        rom, funcs, _ = asm.assemble(os.path.join(t32test.T32, "rom", "game.s"))
        with open(built, "rb") as f:
            self.assertEqual(f.read(), rom)
        self.assertGreaterEqual(len(funcs), 48)


if __name__ == "__main__":
    unittest.main()
