#!/usr/bin/env python3
"""Reference interpreter tests: every instruction's semantics, r0, memory
masking and alignment, calls/returns, jump tables, traps and the step limit."""
import unittest

from t32test import assemble_text
import interp, isa

M = 0xFFFFFFFF


def run(body, regs=(), data="", steps=isa.DEFAULT_STEP_LIMIT, trace=None):
    src = ".entry main\n.func main\n%s\n.data\n%s\n" % (body, data)
    rom, _f, _e = assemble_text(src)
    return interp.run(rom, regs, steps, trace)


def r1(body, *regs, **kw):
    res = run(body + "\nret", regs, **kw)
    assert res["status"] == "ret", res["status"]
    return res["regs"][1]


class Alu(unittest.TestCase):
    def test_register_ops(self):
        a, b = 0x80000005, 0x00000023
        expect = {"add": (a + b) & M, "sub": (a - b) & M, "and": a & b, "or": a | b, "xor": a ^ b,
                  "shl": (a << 3) & M, "shr": a >> 3, "sar": 0xF0000000, "mul": (a * b) & M,
                  "slt": 1, "sltu": 0}
        for op, want in expect.items():
            with self.subTest(op):
                self.assertEqual(r1("%s r1, r2, r3" % op, 0, a, b), want)

    def test_shift_amount_uses_low_five_bits(self):
        self.assertEqual(r1("shl r1, r2, r3", 0, 1, 33), 2)
        self.assertEqual(r1("shr r1, r2, r3", 0, 0x80000000, 63), 1)
        self.assertEqual(r1("sar r1, r2, r3", 0, 0x80000000, 31), M)

    def test_compare_signed_vs_unsigned(self):
        self.assertEqual(r1("slt r1, r2, r3", 0, M, 0), 1)
        self.assertEqual(r1("sltu r1, r2, r3", 0, M, 0), 0)

    def test_immediate_ops(self):
        self.assertEqual(r1("addi r1, r2, -3", 0, 1), M - 1)
        self.assertEqual(r1("andi r1, r2, 0xF0F0", 0, M), 0xF0F0)
        self.assertEqual(r1("ori r1, r2, 0x8001", 0, 0x10000), 0x18001)
        self.assertEqual(r1("xori r1, r2, 0xFFFF", 0, 0x12345678), 0x1234A987)
        self.assertEqual(r1("shli r1, r2, 4", 0, 0x12345678), 0x23456780)
        self.assertEqual(r1("shri r1, r2, 4", 0, 0x87654321), 0x08765432)
        self.assertEqual(r1("sari r1, r2, 4", 0, 0x87654321), 0xF8765432)
        self.assertEqual(r1("li r1, -2"), M - 1)
        self.assertEqual(r1("lui r1, 0xBEEF"), 0xBEEF0000)

    def test_r0_is_hardwired_zero(self):
        self.assertEqual(r1("li r0, 5\nadd r1, r0, r0"), 0)


class Memory(unittest.TestCase):
    def test_word_load_store_little_endian(self):
        res = run("li r2, 0x4000\nla r3, 0x11223344\nst r3, 0(r2)\nldb r1, 0(r2)\nldb r4, 3(r2)\nret")
        self.assertEqual((res["regs"][1], res["regs"][4]), (0x44, 0x11))

    def test_data_section_is_loaded(self):
        self.assertEqual(r1("li r2, tab\nld r1, 4(r2)", data="tab: .word 1, 0xCAFEF00D"), 0xCAFEF00D)

    def test_addresses_wrap_to_16_bits(self):
        res = run("la r2, 0x12340000\nli r3, 77\nst r3, -4(r2)\nld r1, -4(r0)\nret")
        self.assertEqual(res["regs"][1], 77)

    def test_byte_store_keeps_low_byte(self):
        self.assertEqual(r1("li r2, 0x4000\nli r3, -1\nstb r3, 1(r2)\nld r1, 0(r2)"), 0xFF00)

    def test_misaligned_word_access_traps(self):
        for body in ("li r2, 0x4001\nld r1, 0(r2)", "li r2, 0x4002\nst r1, 0(r2)"):
            res = run(body + "\nret")
            self.assertEqual((res["status"], res["pc"], res["steps"]), ("trap:align", 4, 2))


class Control(unittest.TestCase):
    def branch(self, op, a, b):
        return r1("li r1, 0\n%s r2, r3, yes\nret\nyes: li r1, 1" % op, 0, a, b)

    def test_conditional_branches(self):
        cases = [("beq", 5, 5, 1), ("beq", 5, 6, 0), ("bne", 5, 6, 1), ("blt", M, 0, 1),
                 ("blt", 0, M, 0), ("bge", 0, M, 1), ("bltu", 0, M, 1), ("bgeu", 0, M, 0), ("bgeu", 7, 7, 1)]
        for op, a, b, want in cases:
            with self.subTest(op=op, a=a, b=b):
                self.assertEqual(self.branch(op, a, b), want)

    def test_call_sets_link_and_ret_returns(self):
        res = run("push lr\ncall f\nmov r2, r15\npop lr\nret\n.func f\nli r1, 9\nret")
        self.assertEqual((res["status"], res["regs"][1], res["regs"][2]), ("ret", 9, 12))

    def test_ret_to_wrong_address_traps(self):
        res = run("push lr\ncall f\npop lr\nret\n.func f\naddi r15, r15, 4\nret")
        self.assertEqual((res["status"], res["pc"]), ("trap:badret", 0x1c))

    def test_call_depth_limit(self):
        res = run("call main")
        self.assertEqual((res["status"], res["steps"]), ("trap:depth", isa.MAX_DEPTH))

    def test_jump_table(self):
        body = "jt r1, 3, tab\nc0: li r1, 10\nret\nc1: li r1, 11\nret\nc2: li r1, 12\nret"
        data = "tab: .word c0, c1, c2, 2"
        for idx, want in ((0, 10), (2, 12)):
            self.assertEqual(run(body, [idx], data)["regs"][1], want)
        self.assertEqual(run(body, [3], data)["status"], "trap:jtrange")
        bad = run(body.replace("jt r1, 3", "jt r1, 4"), [3], data)
        self.assertEqual((bad["status"], bad["pc"]), ("trap:badjump", 0))

    def test_out_log_and_capacity(self):
        self.assertEqual(run("out r1\nout r2\nret", [5, 6])["out"], [5, 6])
        full = run("loop: out r1\nj loop", [1])
        self.assertEqual((full["status"], len(full["out"])), ("trap:outfull", isa.MAX_OUT))

    def test_halt_illegal_and_falling_off_code(self):
        self.assertEqual(run("halt")["status"], "halt")
        self.assertEqual(run(".word 0xFC000000")["status"], "trap:illegal")
        res = run("nop")
        self.assertEqual((res["status"], res["pc"], res["steps"]), ("trap:badpc", 4, 1))

    def test_step_limit(self):
        res = run("loop: j loop", steps=100)
        self.assertEqual((res["status"], res["steps"], res["pc"]), ("trap:steps", 100, 0))

    def test_initial_state(self):
        res = run("ret", [1, 2, 3, 4])
        self.assertEqual(res["regs"][1:5], [1, 2, 3, 4])
        self.assertEqual(res["regs"][14:], [isa.INITIAL_SP, isa.RET_SENTINEL])

    def test_trace_records_entries_and_exits(self):
        trace = []
        run("push lr\ncall f\npop lr\nret\n.func f\nret", trace=trace)
        self.assertEqual([t[:10] for t in trace], ["E 00000000", "E 00000018", "X 00000018", "X 00000000"])


class Format(unittest.TestCase):
    def test_result_block(self):
        text = isa.format_result(run("out r1\nret", [42]))
        lines = text.splitlines()
        self.assertEqual(len(lines), 4)
        self.assertTrue(lines[0].startswith("status=ret pc=00000004 steps=2"))
        self.assertEqual(lines[3], "out=1 0000002a")


if __name__ == "__main__":
    unittest.main()
