#!/usr/bin/env python3
"""T32 reference interpreter: the ground truth the recompiled program must match.

API: run(rom_bytes, input_regs, step_limit=..., trace=None) -> result dict with
status, pc, steps, regs, mem_sha256, out.  CLI prints isa.format_result blocks.
"""
import argparse, functools, hashlib, os, struct, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import isa  # noqa: E402

M = isa.MASK32
AM = isa.ADDR_MASK
S32 = 0x80000000
_W = struct.Struct("<I")


class _Stop(Exception):
    def __init__(self, status, pc):
        super().__init__(status)
        self.status, self.pc = status, pc


def parse_word(s):
    """Decimal or 0x-hex, optionally negative; reduced mod 2**32."""
    s = s.strip()
    neg = s.startswith("-")
    body = s[1:] if neg else s
    v = int(body, 16) if body.lower().startswith("0x") else int(body, 10)
    return (-v if neg else v) & M


def initial_state(rom, input_regs):
    info = isa.parse_rom(rom)
    mem = bytearray(isa.MEM_SIZE)
    mem[info["data_addr"]:info["data_addr"] + len(info["data"])] = info["data"]
    regs = [0] * 16
    for i, v in enumerate(list(input_regs)[:4]):
        regs[1 + i] = v & M
    regs[isa.SP], regs[isa.LR] = isa.INITIAL_SP, isa.RET_SENTINEL
    return info, mem, regs


def run(rom, input_regs, step_limit=isa.DEFAULT_STEP_LIMIT, trace=None):
    """Execute from the entry point until ret-from-entry, halt or a trap.

    trace: optional list; receives isa.format_event lines (E/X per call/ret).
    """
    info, mem, r = initial_state(rom, input_regs)
    dec = _decode_all(info["code"])
    st = {"steps": 0, "storesum": 0, "out": [], "shadow": [(isa.RET_SENTINEL, info["entry"])]}
    if trace is not None:
        trace.append(isa.format_event("E", info["entry"], 0, 0, 0, r))
    status = pc = None
    try:
        _loop(dec, len(dec) * 4, info["entry"], r, mem, st, step_limit, trace)
    except _Stop as s:
        status, pc = s.status, s.pc
    return {"status": status, "pc": pc, "steps": st["steps"], "regs": r,
            "mem_sha256": hashlib.sha256(mem).hexdigest(), "out": st["out"]}


@functools.lru_cache(maxsize=8)
def _decode_all(code):
    """Predecode: (kind, fn, a, b, c, name) per word, None if illegal.

    kind 0: rd = fn(rs, rt)  1: rd = fn(rs, imm)  2: branch to absolute c if
    fn(ra, rb)  3: everything else (memory, control, I/O) via _special.
    """
    out = []
    for i, w in enumerate(isa.code_words(code)):
        d = isa.decode(w)
        if d is None:
            out.append(None)
            continue
        name, a, b, c = d
        if name in _ALU:
            out.append((0, _ALU[name], a, b, c, name))
        elif name in _IMM:
            out.append((1, _IMM[name], a, b, c, name))
        elif name in _BRANCH:
            out.append((2, _BRANCH[name], a, b, (4 * i + 4 + 4 * c) & M, name))
        else:
            out.append((3, None, a, b, c, name))
    return tuple(out)


def _event(trace, kind, fn, steps, st, r):
    if trace is not None:
        trace.append(isa.format_event(kind, fn, steps, st["storesum"], len(st["out"]), r))


def _addr(a, pc, align):
    a &= AM
    if align and a & 3:
        raise _Stop("trap:align", pc)
    return a


def _loop(dec, csize, pc, r, mem, st, limit, trace):
    steps = st["steps"]
    try:
        while True:
            if pc >= csize or pc & 3:
                raise _Stop("trap:badpc", pc)
            if steps >= limit:
                raise _Stop("trap:steps", pc)
            steps += 1
            ins = dec[pc >> 2]
            if ins is None:
                raise _Stop("trap:illegal", pc)
            kind, fn, a, b, c, op = ins
            if kind == 1:
                if a:
                    r[a] = fn(r[b], c) & M
                pc += 4
            elif kind == 2:
                pc = c if fn(r[a], r[b]) else pc + 4
            elif kind == 0:
                if a:
                    r[a] = fn(r[b], r[c]) & M
                pc += 4
            else:
                pc = _special(op, a, b, c, pc, csize, r, mem, st, steps, trace)
    finally:
        st["steps"] = steps


def _special(op, a, b, c, pc, csize, r, mem, st, steps, trace):
    """Memory, control transfer and I/O instructions; returns the next pc."""
    if op in ("ld", "ldb", "st", "stb"):
        _memory(op, a, b, c, pc, r, mem, st)
    elif op in ("call", "ret", "jt"):
        return _control(op, a, b, c, pc, csize, r, mem, st, steps, trace)
    elif op == "out":
        if len(st["out"]) >= isa.MAX_OUT:
            raise _Stop("trap:outfull", pc)
        st["out"].append(r[a])
    elif op == "halt":
        raise _Stop("halt", pc)
    return pc + 4


def _memory(op, a, b, c, pc, r, mem, st):
    ad = _addr(r[b] + c, pc, op in ("ld", "st"))
    if op == "ld" or op == "ldb":
        v = _W.unpack_from(mem, ad)[0] if op == "ld" else mem[ad]
        if a:
            r[a] = v
        return
    val = r[a] if op == "st" else r[a] & 255
    if op == "st":
        _W.pack_into(mem, ad, val)
    else:
        mem[ad] = val
    st["storesum"] = isa.storesum_step(st["storesum"], ad, val)


def _control(op, a, b, c, pc, csize, r, mem, st, steps, trace):
    shadow = st["shadow"]
    if op == "call":
        if len(shadow) >= isa.MAX_DEPTH:
            raise _Stop("trap:depth", pc)
        r[15] = pc + 4
        shadow.append((pc + 4, c))
        _event(trace, "E", c, steps, st, r)
        return c
    if op == "ret":
        ret_to, fn = shadow[-1]
        if r[15] != ret_to:
            raise _Stop("trap:badret", pc)
        shadow.pop()
        _event(trace, "X", fn, steps, st, r)
        if not shadow:
            raise _Stop("ret", pc)
        return r[15]
    if r[a] >= b:
        raise _Stop("trap:jtrange", pc)
    tgt = _W.unpack_from(mem, _addr(c + 4 * r[a], pc, True))[0]
    if tgt & 3 or tgt >= csize:
        raise _Stop("trap:badjump", pc)
    return tgt


def _sar(x, s):
    return ((x - (1 << 32) if x & S32 else x) >> (s & 31))


_ALU = {
    "add": lambda x, y: x + y, "sub": lambda x, y: x - y,
    "and": lambda x, y: x & y, "or": lambda x, y: x | y, "xor": lambda x, y: x ^ y,
    "shl": lambda x, y: x << (y & 31), "shr": lambda x, y: x >> (y & 31), "sar": _sar,
    "mul": lambda x, y: x * y, "slt": lambda x, y: int((x ^ S32) < (y ^ S32)),
    "sltu": lambda x, y: int(x < y),
}
_IMM = {"addi": lambda x, k: x + k, "li": lambda x, k: k, "lui": lambda x, k: k << 16,
        "andi": lambda x, k: x & k, "ori": lambda x, k: x | k, "xori": lambda x, k: x ^ k,
        "shli": lambda x, k: x << k, "shri": lambda x, k: x >> k, "sari": _sar}
_BRANCH = {"beq": lambda x, y: x == y, "bne": lambda x, y: x != y,
           "blt": lambda x, y: (x ^ S32) < (y ^ S32), "bge": lambda x, y: (x ^ S32) >= (y ^ S32),
           "bltu": lambda x, y: x < y, "bgeu": lambda x, y: x >= y}


def main(argv=None):
    p = argparse.ArgumentParser(description="Run a T32 ROM on the reference interpreter.")
    p.add_argument("rom")
    p.add_argument("regs", nargs="*", help="r1..r4; if absent, one vector per stdin line")
    p.add_argument("--steps", type=int, default=isa.DEFAULT_STEP_LIMIT)
    p.add_argument("--trace", help="write E/X trace lines to this file")
    args = p.parse_args(argv)
    with open(args.rom, "rb") as f:
        rom = f.read()
    vectors = [args.regs] if args.regs else [ln.split() for ln in sys.stdin if ln.strip()]
    trace = [] if args.trace else None
    for vec in vectors:
        sys.stdout.write(isa.format_result(run(rom, [parse_word(x) for x in vec], args.steps, trace)))
    if args.trace:
        with open(args.trace, "w") as f:
            f.writelines(trace)
    return 0


if __name__ == "__main__":
    sys.exit(main())
