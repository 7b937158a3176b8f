#!/usr/bin/env python3
"""Stage `lift`: turn T32 functions into C, one shard of functions per job.

Literal C per instruction, a label per branch target, a `switch` per jump
table.  Shard membership hashes the function name (`shard_of`); the `split`
stage writes each shard's functions (`slice_of`) to its own slice.json, and
lift shard i reads only in/split/i/out/slice.json (shard_inputs = "same"), so
editing one function's body changes exactly one lift job's inputs and output.
The output is a pure function of the slice.
"""
import hashlib, os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import isa, stageio  # noqa: E402

STAGE = stageio.stage_name("lift")
BINOPS = {"add": "+", "sub": "-", "and": "&", "or": "|", "xor": "^", "mul": "*"}
CONDS = {"beq": "{a} == {b}", "bne": "{a} != {b}", "blt": "(int32_t){a} < (int32_t){b}",
         "bge": "(int32_t){a} >= (int32_t){b}", "bltu": "{a} < {b}", "bgeu": "{a} >= {b}"}


def shard_of(name, nshards):
    return int(hashlib.sha256(name.encode()).hexdigest()[:16], 16) % nshards


def reg(n):
    return "0u" if n == 0 else "cpu->r[%d]" % n


def u32(v):
    return "0x%xu" % (v & isa.MASK32)


def plus(expr, imm):
    """expr + sign-extended imm, written the readable way round."""
    if imm == 0:
        return expr
    return "%s %s %s" % (expr, "-" if imm < 0 else "+", u32(abs(imm)))


def value_expr(name, a, b, c, pc):
    """C expression for the value an ALU/load instruction writes to rd."""
    s, t = reg(b), reg(c)
    if name in BINOPS:
        return "%s %s %s" % (s, BINOPS[name], t)
    table = {
        "shl": "%s << (%s & 31u)" % (s, t), "shr": "%s >> (%s & 31u)" % (s, t),
        "sar": "(uint32_t)((int32_t)%s >> (%s & 31u))" % (s, t),
        "slt": "(uint32_t)((int32_t)%s < (int32_t)%s)" % (s, t), "sltu": "(uint32_t)(%s < %s)" % (s, t),
        "addi": plus(s, c), "andi": "%s & %s" % (s, u32(c)),
        "ori": "%s | %s" % (s, u32(c)), "xori": "%s ^ %s" % (s, u32(c)),
        "shli": "%s << %d" % (s, c), "shri": "%s >> %d" % (s, c),
        "sari": "(uint32_t)((int32_t)%s >> %d)" % (s, c),
        "li": u32(c), "lui": u32(c << 16),
        "ld": "t32_ld32(cpu, %s, %s)" % (plus(s, c), u32(pc)),
        "ldb": "t32_ld8(cpu, %s)" % plus(s, c),
    }
    return table[name]


class FunctionLifter:
    def __init__(self, fn):
        self.fn = fn
        self.pcs = [pc for pc, _ in fn["insns"]]
        self.inset = set(self.pcs)
        self.labels, self.body = set(), []

    def goto(self, target):
        if target in self.inset:
            self.labels.add(target)
            return "goto L_%04x;" % target
        return "t32_stop(cpu, T32_TRAP_BADPC, %s);" % u32(target)

    def lift(self):
        for i, (pc, word) in enumerate(self.fn["insns"]):
            nxt = self.pcs[i + 1] if i + 1 < len(self.pcs) else None
            self.instruction(pc, int(word, 16), nxt)
        lines = ["void %s(t32_cpu *cpu, uint32_t ret_to)" % c_name(self.fn["name"]), "{",
                 "    (void)ret_to;"]
        for pc, text in self.body:
            if pc is not None and pc in self.labels:
                lines.append("L_%04x:" % pc)
            lines.extend("    " + t for t in text)
        return "\n".join(lines + ["}", ""])

    def instruction(self, pc, word, nxt):
        d = isa.decode(word)
        out = ["/* %04x: %08x  %s */" % (pc, word, isa.disasm(word, pc))]
        self.body.append((pc, out))
        out.append("t32_step(cpu, %s);" % u32(pc))
        if d is None:
            out.append("t32_stop(cpu, T32_TRAP_ILLEGAL, %s);" % u32(pc))
            return
        falls = self.semantics(out, pc, *d)
        if falls and nxt != pc + 4:
            out.append(self.goto(pc + 4))

    def semantics(self, out, pc, name, a, b, c):
        """Append C for one decoded instruction; return True if it can fall through."""
        if name in isa.BRANCHES:
            return self.branch(out, pc, name, a, b, c)
        if name == "call":
            return self.call(out, pc, c)
        if name == "ret":
            out += ["t32_leave(cpu, %s, ret_to, %s);" % (u32(pc), u32(self.fn["addr"])), "return;"]
            return False
        if name == "jt":
            out.append("switch (t32_jt_load(cpu, %s, %du, %s, %s)) {" % (reg(a), b, u32(c), u32(pc)))
            for t in self.fn["jump_tables"].get("%x" % pc, []):
                out.append("case %s: %s" % (u32(t), self.goto(t)))
            out += ["default: t32_stop(cpu, T32_TRAP_BADJUMP, %s);" % u32(pc), "}"]
            return False
        if name == "halt":
            out.append("t32_stop(cpu, T32_HALT, %s);" % u32(pc))
            return False
        if name == "out":
            out.append("t32_out(cpu, %s, %s);" % (reg(a), u32(pc)))
        elif name in ("st", "stb"):
            addr = plus(reg(b), c)
            out.append("t32_st32(cpu, %s, %s, %s);" % (addr, reg(a), u32(pc)) if name == "st"
                       else "t32_st8(cpu, %s, %s);" % (addr, reg(a)))
        elif a != 0:
            out.append("%s = %s;" % (reg(a), value_expr(name, a, b, c, pc)))
        elif name == "ld":
            out.append("(void)%s;  /* r0 is hardwired zero */" % value_expr(name, a, b, c, pc))
        else:
            out.append("/* write to r0 discarded */")
        return True

    def branch(self, out, pc, name, a, b, c):
        target = (pc + 4 + 4 * c) & isa.MASK32
        fixed = isa.static_branch(name, a, b)
        if fixed == "always":
            out.append(self.goto(target))
            return False
        if fixed is None:
            cond = CONDS[name].format(a=reg(a), b=reg(b))
            out.append("if (%s) %s" % (cond, self.goto(target)))
        return True

    def call(self, out, pc, target):
        out.append("t32_enter(cpu, %s, %s);" % (u32(pc), u32(target)))
        callee = self.fn["calls"].get("%x" % target)
        if callee is None:
            out.append("t32_stop(cpu, T32_TRAP_BADPC, %s);" % u32(target))
            return False
        out += ["%s(cpu, %s);" % (c_name(callee), u32(pc + 4)), "cpu->depth--;"]
        return True


def c_name(name):
    return "t32f_" + name


# The fields of an analyze function record that lifting reads (all a slice carries): the
# instruction words (code only, never data bytes), jump-table targets and callee names.
SLICE_FIELDS = ("name", "addr", "insns", "jump_tables", "calls")


def slice_of(functions, shard, nshards):
    """The slice of an analyze result for one lift shard (what split writes; deterministic)."""
    mine = [{k: f[k] for k in SLICE_FIELDS} for f in functions["functions"]
            if shard_of(f["name"], nshards) == shard]
    return {"schema": "t32-slice/1", "shard": shard, "shards": nshards, "functions": mine}


def lift_slice(sl):
    """C source text for one slice -> (text, function names); a pure function of the slice."""
    shard, nshards, mine = sl["shard"], sl["shards"], sl["functions"]
    lines = ["/* T32 lifted code: shard %d of %d (generated by lift.py; do not edit). */" % (shard, nshards),
             '#include "runtime.h"', ""]
    protos = sorted({f["name"] for f in mine} | {n for f in mine for n in f["calls"].values() if n})
    lines += ["void %s(t32_cpu *cpu, uint32_t ret_to);" % c_name(n) for n in protos]
    if not mine:
        lines.append("typedef int t32_empty_shard_%d;" % shard)
    lines.append("")
    for f in mine:
        lines.append(FunctionLifter(f).lift())
    return "\n".join(lines), [f["name"] for f in mine]


def lift_shard(functions, shard, nshards):
    """C source text for one shard of an analyze result (= lift_slice of its slice)."""
    return lift_slice(slice_of(functions, shard, nshards))


def main():
    index, count = stageio.shard()
    path = "in/split/%d/out/slice.json" % index
    if not os.path.exists(path):
        stageio.fail(STAGE, "missing %s: split must run with the same shard count (%d)" % (path, count))
    sl = stageio.read_json(STAGE, path)
    if (sl.get("schema"), sl.get("shard"), sl.get("shards")) != ("t32-slice/1", index, count):
        stageio.fail(STAGE, "%s is not the t32-slice/1 slice of shard %d/%d" % (path, index, count))
    text, names = lift_slice(sl)
    stageio.write("out/shard.c", text)
    print("lift: shard %d/%d: %d functions: %s" % (index, count, len(names), " ".join(names)))


if __name__ == "__main__":
    main()
