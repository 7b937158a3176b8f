#!/usr/bin/env python3
"""T32 assembler: two-pass, labels, .word/.byte/.ascii data, pseudo-ops.

Writes a ROM (SPEC.md), and optionally the symbol overrides TOML (from .func
directives) and the provenance manifest (ROM name + SHA-256) used by ingest.
"""
import argparse, hashlib, json, os, re, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import isa  # noqa: E402

REGS = {"r%d" % i: i for i in range(16)}
REGS.update(zero=0, sp=isa.SP, lr=isa.LR)
# pseudo-op -> size in bytes
PSEUDO = {"nop": 4, "mov": 4, "neg": 4, "j": 4, "beqz": 4, "bnez": 4, "bgt": 4,
          "ble": 4, "bgtu": 4, "bleu": 4, "la": 8, "push": 8, "pop": 8}
LABEL_RE = re.compile(r"^\s*([A-Za-z_.][\w.]*)\s*:")
TOKEN_RE = re.compile(r"\s*(0x[0-9a-fA-F]+|\d+|'(?:\\.|[^'])'|[A-Za-z_.][\w.]*|[-+])")


class AsmError(Exception):
    pass


class Line:
    def __init__(self, fname, lineno, text):
        self.fname, self.lineno, self.text = fname, lineno, text

    def err(self, msg):
        return AsmError("%s:%d: error: %s" % (self.fname, self.lineno, msg))


def strip_comment(s):
    out, quote = [], None
    for ch in s:
        if quote:
            quote = None if ch == quote and (not out or out[-1] != "\\") else quote
        elif ch in "\"'":
            quote = ch
        elif ch in ";#":
            break
        out.append(ch)
    return "".join(out).strip()


def split_operands(s):
    parts, depth, cur, quote = [], 0, [], None
    for ch in s:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if cur or parts:
        parts.append("".join(cur).strip())
    return parts


def read_lines(path, seen=()):
    """Read a source file, expanding .include "file" (relative to the file)."""
    if path in seen:
        raise AsmError("%s: error: recursive .include" % path)
    try:
        with open(path, encoding="utf-8") as f:
            raw = f.read().splitlines()
    except OSError as e:
        raise AsmError("%s: error: cannot read: %s" % (path, e.strerror))
    lines = []
    for i, text in enumerate(raw, 1):
        m = re.match(r'^\s*\.include\s+"([^"]+)"\s*(?:[;#].*)?$', text)
        if m:
            sub = os.path.join(os.path.dirname(path), m.group(1))
            lines.extend(read_lines(sub, seen + (path,)))
        else:
            lines.append(Line(path, i, text))
    return lines


class Assembler:
    def __init__(self):
        self.symbols, self.funcs, self.entry = {}, [], None
        self.items = []            # (line, section, offset, mnemonic, operands)
        self.size = {"text": 0, "data": 0}

    # ---- expressions -------------------------------------------------------
    def value(self, expr, line, pass1=False):
        toks, pos, expr = [], 0, expr.strip()
        while pos < len(expr):
            m = TOKEN_RE.match(expr, pos)
            if not m:
                raise line.err("bad expression %r" % expr)
            toks.append(m.group(1))
            pos = m.end()
        total, sign, want_term = 0, 1, True
        for t in toks:
            if t in ("+", "-"):
                sign, want_term = (-sign if t == "-" else sign), True
                continue
            if not want_term:
                raise line.err("bad expression %r" % expr)
            total += sign * self.term(t, line, pass1)
            sign, want_term = 1, False
        if want_term:
            raise line.err("bad expression %r" % expr)
        return total

    def term(self, t, line, pass1):
        if t[0].isdigit():
            return int(t, 0)
        if t[0] == "'":
            body = t[1:-1].encode().decode("unicode_escape")
            return ord(body)
        if t in self.symbols:
            return self.symbols[t]
        if pass1:
            raise line.err("symbol %r must be defined before use here" % t)
        raise line.err("undefined symbol %r" % t)

    def reg(self, s, line):
        r = REGS.get(s.strip().lower())
        if r is None:
            raise line.err("bad register %r" % s)
        return r

    def ranged(self, v, lo, hi, what, line):
        if not lo <= v <= hi:
            raise line.err("%s %d out of range [%d, %d]" % (what, v, lo, hi))
        return v

    # ---- pass 1 ------------------------------------------------------------
    def define(self, name, val, line):
        if name in self.symbols or name in REGS:
            raise line.err("duplicate symbol %r" % name)
        self.symbols[name] = val

    def here(self, section):
        off = self.size[section]
        return off + (isa.DATA_ADDR if section == "data" else 0)

    def pass1(self, lines):
        section = "text"
        for line in lines:
            text = strip_comment(line.text)
            while True:
                m = LABEL_RE.match(text)
                if not m:
                    break
                self.define(m.group(1), self.here(section), line)
                text = text[m.end():].strip()
            if not text:
                continue
            mnem, _, rest = text.partition(" ")
            mnem, ops = mnem.lower(), split_operands(rest.strip())
            if mnem in (".text", ".data"):
                section = mnem[1:]
                continue
            size = self.directive1(mnem, ops, section, line)
            if size is None:
                continue
            self.items.append((line, section, self.size[section], mnem, ops))
            self.size[section] += size

    def directive1(self, mnem, ops, section, line):
        """Return the byte size of a statement (None if it emits nothing)."""
        if mnem == ".equ":
            if len(ops) != 2:
                raise line.err(".equ needs: name, value")
            self.define(ops[0], self.value(ops[1], line, True), line)
            return None
        if mnem == ".entry":
            self.entry = (ops[0] if ops else "", line)
            return None
        if mnem == ".func":
            if len(ops) != 1 or not re.match(r"^[A-Za-z_]\w*$", ops[0]):
                raise line.err(".func needs one C-identifier name")
            self.define(ops[0], self.here(section), line)
            self.funcs.append((ops[0], line))
            return None
        if mnem in isa.OPCODES or mnem in PSEUDO:
            if section != "text":
                raise line.err("instruction %r outside .text" % mnem)
            return PSEUDO.get(mnem, 4)
        if mnem == ".word":
            if self.size[section] % 4:
                raise line.err("misaligned .word (use .align 4)")
            return 4 * len(ops)
        if not mnem.startswith("."):
            raise line.err("unknown instruction or directive %r" % mnem)
        if section == "text":
            raise line.err("directive %s not allowed in .text" % mnem)
        return self.data_size(mnem, ops, line)

    def data_size(self, mnem, ops, line):
        if mnem == ".byte":
            return len(ops)
        if mnem in (".ascii", ".asciz"):
            return len(self.string(ops, line)) + (mnem == ".asciz")
        if mnem == ".space":
            return self.ranged(self.value(ops[0], line, True), 0, 0x10000, "size", line)
        if mnem == ".align":
            n = self.value(ops[0], line, True)
            if n <= 0 or n & (n - 1):
                raise line.err(".align needs a power of two")
            return -self.size["data"] % n
        raise line.err("unknown instruction or directive %r" % mnem)

    def string(self, ops, line):
        if len(ops) != 1 or len(ops[0]) < 2 or ops[0][0] != '"' or ops[0][-1] != '"':
            raise line.err("expected one quoted string")
        return ops[0][1:-1].encode().decode("unicode_escape").encode("latin-1")

    # ---- pass 2 ------------------------------------------------------------
    def pass2(self):
        out = {"text": bytearray(self.size["text"]), "data": bytearray(self.size["data"])}
        for line, section, off, mnem, ops in self.items:
            blob = self.emit(line, section, off, mnem, ops)
            out[section][off:off + len(blob)] = blob
        return bytes(out["text"]), bytes(out["data"])

    def emit(self, line, section, off, mnem, ops):
        if mnem == ".word":
            return b"".join((self.value(o, line) & isa.MASK32).to_bytes(4, "little") for o in ops)
        if mnem == ".byte":
            return bytes(self.ranged(self.value(o, line), -128, 255, "byte", line) & 255 for o in ops)
        if mnem in (".ascii", ".asciz"):
            return self.string(ops, line) + (b"\0" if mnem == ".asciz" else b"")
        if mnem == ".space":
            fill = self.value(ops[1], line) & 255 if len(ops) > 1 else 0
            return bytes([fill]) * self.value(ops[0], line)
        if mnem == ".align":
            return bytes(-off % self.value(ops[0], line))
        words = [self.encode(line, off + 4 * i, m, o) for i, (m, o) in enumerate(self.expand(mnem, ops, line))]
        return b"".join(w.to_bytes(4, "little") for w in words)

    def expand(self, mnem, ops, line):
        """Pseudo-op -> list of (mnemonic, operands)."""
        n = len(ops)
        simple = {"nop": ("add", ["r0", "r0", "r0"], 0), "mov": ("add", ops + ["r0"], 2),
                  "neg": ("sub", ops[:1] + ["r0"] + ops[1:], 2), "j": ("beq", ["r0", "r0"] + ops, 1),
                  "beqz": ("beq", ops[:1] + ["r0"] + ops[1:], 2), "bnez": ("bne", ops[:1] + ["r0"] + ops[1:], 2),
                  "bgt": ("blt", ops[1:2] + ops[:1] + ops[2:], 3), "ble": ("bge", ops[1:2] + ops[:1] + ops[2:], 3),
                  "bgtu": ("bltu", ops[1:2] + ops[:1] + ops[2:], 3), "bleu": ("bgeu", ops[1:2] + ops[:1] + ops[2:], 3)}
        if mnem in simple:
            real, new_ops, want = simple[mnem]
            if n != want:
                raise line.err("%s expects %d operand(s), got %d" % (mnem, want, n))
            return [(real, new_ops)]
        if mnem in ("push", "pop"):
            if n != 1:
                raise line.err("%s expects 1 operand" % mnem)
            adj = ("addi", ["sp", "sp", "-4" if mnem == "push" else "4"])
            mem = ("st" if mnem == "push" else "ld", [ops[0], "0(sp)"])
            return [adj, mem] if mnem == "push" else [mem, adj]
        if mnem == "la":
            if n != 2:
                raise line.err("la expects 2 operands")
            v = self.value(ops[1], line) & isa.MASK32
            return [("lui", [ops[0], str(v >> 16)]), ("ori", [ops[0], ops[0], str(v & 0xFFFF)])]
        return [(mnem, ops)]

    def encode(self, line, pc, mnem, ops):
        fmt = isa.OPCODES[mnem][1]
        want = {"N": 0, "R": 3, "I": 3, "U": 3, "S": 3, "L": 2, "H": 2, "M": 2,
                "B": 3, "C": 1, "J": 3, "O": 1}[fmt]
        if len(ops) != want:
            raise line.err("%s expects %d operand(s), got %d" % (mnem, want, len(ops)))
        regs = [self.reg(o, line) for o in ops[:1]] if fmt in "RIUSLHMBJO" else []
        return getattr(self, "enc_" + fmt)(line, pc, mnem, ops, regs)

    def enc_N(self, line, pc, mnem, ops, regs):
        return isa.encode(mnem)

    def enc_O(self, line, pc, mnem, ops, regs):
        return isa.encode(mnem, regs[0])

    def enc_R(self, line, pc, mnem, ops, regs):
        return isa.encode(mnem, regs[0], self.reg(ops[1], line), self.reg(ops[2], line))

    def enc_imm(self, line, mnem, ops, regs, lo, hi, what="immediate"):
        v = self.ranged(self.value(ops[-1], line), lo, hi, what, line)
        rs = self.reg(ops[1], line) if len(ops) == 3 else 0
        return isa.encode(mnem, regs[0], rs, imm=v)

    def enc_I(self, line, pc, mnem, ops, regs):
        return self.enc_imm(line, mnem, ops, regs, -32768, 32767)

    def enc_U(self, line, pc, mnem, ops, regs):
        return self.enc_imm(line, mnem, ops, regs, 0, 0xFFFF)

    def enc_S(self, line, pc, mnem, ops, regs):
        return self.enc_imm(line, mnem, ops, regs, 0, 31, "shift amount")

    def enc_L(self, line, pc, mnem, ops, regs):
        return self.enc_imm(line, mnem, ops, regs, -32768, 32767, "immediate (use la)")

    def enc_H(self, line, pc, mnem, ops, regs):
        return self.enc_imm(line, mnem, ops, regs, 0, 0xFFFF)

    def enc_M(self, line, pc, mnem, ops, regs):
        m = re.match(r"^(.*)\(\s*(\w+)\s*\)$", ops[1])
        if not m:
            raise line.err("expected offset(reg), got %r" % ops[1])
        off = self.value(m.group(1), line) if m.group(1).strip() else 0
        return isa.encode(mnem, regs[0], self.reg(m.group(2), line),
                          imm=self.ranged(off, -32768, 32767, "offset", line))

    def enc_B(self, line, pc, mnem, ops, regs):
        delta = self.value(ops[2], line) - (pc + 4)
        if delta % 4:
            raise line.err("branch target not word aligned")
        return isa.encode(mnem, regs[0], self.reg(ops[1], line),
                          imm=self.ranged(delta // 4, -32768, 32767, "branch offset", line))

    def enc_C(self, line, pc, mnem, ops, regs):
        t = self.value(ops[0], line)
        if t % 4 or not 0 <= t < self.size["text"]:
            raise line.err("call target 0x%x is not a code address" % t)
        return isa.encode(mnem, imm=t >> 2)

    def enc_J(self, line, pc, mnem, ops, regs):
        count = self.ranged(self.value(ops[1], line), 1, 63, "jump table count", line)
        table = self.ranged(self.value(ops[2], line), 0, 0xFFFF, "table address", line)
        return isa.encode(mnem, regs[0], count, imm=table)


def assemble(path):
    """Assemble a source file -> (rom bytes, [(func name, addr)], entry addr)."""
    a = Assembler()
    a.pass1(read_lines(path))
    if a.entry is None:
        raise AsmError("%s: error: no .entry directive" % path)
    name, line = a.entry
    if name not in a.symbols or a.symbols[name] % 4 or not 0 <= a.symbols[name] < a.size["text"]:
        raise line.err("entry %r is not a code label" % name)
    code, data = a.pass2()
    rom = isa.pack_rom(a.symbols[name], code, data)
    funcs = sorted((a.symbols[f], f) for f, _ in a.funcs)
    return rom, [(f, addr) for addr, f in funcs], a.symbols[name]


def symbols_toml(funcs):
    lines = ["# T32 symbol overrides (generated by asm.py from .func directives)"]
    for name, addr in funcs:
        lines += ["", "[[function]]", 'name = "%s"' % name, "addr = 0x%04x" % addr]
    return "\n".join(lines) + "\n"


def provenance(rom, rom_name, source):
    return json.dumps({"schema": "t32-provenance/1", "rom": rom_name,
                       "sha256": hashlib.sha256(rom).hexdigest(), "size": len(rom),
                       "source": os.path.basename(source)}, indent=2, sort_keys=True) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description="Assemble T32 source into a ROM.")
    p.add_argument("source")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--symbols", help="write symbol overrides TOML")
    p.add_argument("--provenance", help="write provenance manifest JSON")
    args = p.parse_args(argv)
    try:
        rom, funcs, _ = assemble(args.source)
    except AsmError as e:
        print(e, file=sys.stderr)
        return 1
    with open(args.output, "wb") as f:
        f.write(rom)
    if args.symbols:
        with open(args.symbols, "w") as f:
            f.write(symbols_toml(funcs))
    if args.provenance:
        with open(args.provenance, "w") as f:
            f.write(provenance(rom, os.path.basename(args.output), args.source))
    return 0


if __name__ == "__main__":
    sys.exit(main())
