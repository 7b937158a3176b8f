"""T32 instruction set, ROM container and result formats (see SPEC.md).

Shared by asm.py, interp.py, analyze.py and lift.py so that every tool agrees
on one encoding, one decoder and one text format for results and traces.
"""
import struct

MEM_SIZE = 0x10000
ADDR_MASK = 0xFFFF
MASK32 = 0xFFFFFFFF
RET_SENTINEL = 0xFFFFFFFC      # r15 on entry: "return to the host"
INITIAL_SP = 0x10000           # r14 on entry (first push lands at 0xFFFC)
DATA_ADDR = 0x1000             # default load address of the data section
MAX_DEPTH = 128                # call depth limit (entry counts as 1)
MAX_OUT = 1024                 # out log capacity in words
DEFAULT_STEP_LIMIT = 1_000_000
SP, LR = 14, 15

ROM_MAGIC = b"T32R"
ROM_VERSION = 1
HEADER = struct.Struct("<4sHHIIIIII")   # 32 bytes
HEADER_SIZE = HEADER.size

# name -> (opcode, format).  Formats:
#  N: no operands          R: rd, rs, rt          I: rd, rs, simm16
#  U: rd, rs, uimm16       S: rd, rs, shamt(0..31) L: rd, simm16
#  H: rd, uimm16 (lui)     M: rd, simm16(rs)       B: ra, rb, label (simm16 words)
#  C: target (imm26 words) J: ra, count, table     O: ra
OPCODES = {
    "halt": (0x00, "N"), "add": (0x01, "R"), "sub": (0x02, "R"),
    "and": (0x03, "R"), "or": (0x04, "R"), "xor": (0x05, "R"),
    "shl": (0x06, "R"), "shr": (0x07, "R"), "sar": (0x08, "R"),
    "mul": (0x09, "R"), "slt": (0x0A, "R"), "sltu": (0x0B, "R"),
    "addi": (0x10, "I"), "andi": (0x11, "U"), "ori": (0x12, "U"),
    "xori": (0x13, "U"), "shli": (0x14, "S"), "shri": (0x15, "S"),
    "sari": (0x16, "S"), "li": (0x17, "L"), "lui": (0x18, "H"),
    "ld": (0x19, "M"), "st": (0x1A, "M"), "ldb": (0x1B, "M"), "stb": (0x1C, "M"),
    "beq": (0x20, "B"), "bne": (0x21, "B"), "blt": (0x22, "B"),
    "bge": (0x23, "B"), "bltu": (0x24, "B"), "bgeu": (0x25, "B"),
    "call": (0x30, "C"), "ret": (0x31, "N"), "jt": (0x32, "J"), "out": (0x33, "O"),
}
BY_OPCODE = {op: (name, fmt) for name, (op, fmt) in OPCODES.items()}
TRAPS = ("steps", "align", "badpc", "illegal", "badret", "depth",
         "jtrange", "badjump", "outfull")


class RomError(Exception):
    pass


def sext16(v):
    v &= 0xFFFF
    return v - 0x10000 if v & 0x8000 else v


def encode(name, rd=0, rs=0, rt=0, imm=0):
    """Pack one instruction; imm is already range-checked by the caller."""
    op, fmt = OPCODES[name]
    w = op << 26
    if fmt == "N":
        return w
    if fmt == "C":
        return w | (imm & 0x3FFFFFF)
    w |= (rd & 15) << 22
    if fmt == "J":
        return w | ((rs & 63) << 16) | (imm & 0xFFFF)
    if fmt in "LH":
        return w | (imm & 0xFFFF)
    if fmt == "O":
        return w
    w |= (rs & 15) << 18
    if fmt == "R":
        return w | (rt & 15) << 14
    return w | (imm & 0xFFFF)


def decode(word):
    """word -> (name, a, b, c) or None if illegal.

    R: (rd, rs, rt)  I/U/S/M: (rd, rs, imm)  L/H: (rd, 0, imm)
    B: (ra, rb, off_words)  C: (0, 0, target_addr)  J: (ra, count, table)
    O: (ra, 0, 0)  N: (0, 0, 0).  Reserved bits must be zero.
    """
    entry = BY_OPCODE.get(word >> 26)
    if entry is None:
        return None
    name, fmt = entry
    rd, rs, rt, low = (word >> 22) & 15, (word >> 18) & 15, (word >> 14) & 15, word & 0xFFFF
    if fmt == "C":
        return name, 0, 0, (word & 0x3FFFFFF) << 2
    if fmt == "J":
        return name, rd, (word >> 16) & 63, low
    reserved = {"N": 0x3FFFFFF, "R": 0x3FFF, "O": 0x3FFFFF, "L": 0x3F0000,
                "H": 0x3F0000}.get(fmt, 0x30000)
    if word & reserved:
        return None
    if fmt == "R":
        return name, rd, rs, rt
    if fmt in "IMB":
        return name, rd, rs, sext16(low)
    if fmt == "L":
        return name, rd, 0, sext16(low)
    if fmt == "H":
        return name, rd, 0, low
    if fmt == "S":
        return (name, rd, rs, low) if low < 32 else None
    if fmt == "U":
        return name, rd, rs, low
    if fmt == "O":
        return name, rd, 0, 0
    return name, 0, 0, 0


BRANCHES = ("beq", "bne", "blt", "bge", "bltu", "bgeu")


def static_branch(name, ra, rb):
    """'always'/'never' for a branch comparing a register with itself, else None.

    Lets analysis treat `j` (beq r0, r0) as unconditional so the next
    function's first instruction is not pulled into this function's body.
    """
    if ra != rb:
        return None
    return "always" if name in ("beq", "bge", "bgeu") else "never"


def disasm(word, pc=0):
    d = decode(word)
    if d is None:
        return ".word 0x%08x  ; illegal" % word
    name, a, b, c = d
    fmt = OPCODES[name][1]
    r = "r%d".__mod__
    if fmt == "R":
        return "%s %s, %s, %s" % (name, r(a), r(b), r(c))
    if fmt in "IUS":
        return "%s %s, %s, %d" % (name, r(a), r(b), c)
    if fmt in "LH":
        return "%s %s, %d" % (name, r(a), c)
    if fmt == "M":
        return "%s %s, %d(%s)" % (name, r(a), c, r(b))
    if fmt == "B":
        return "%s %s, %s, 0x%x" % (name, r(a), r(b), (pc + 4 + 4 * c) & MASK32)
    if fmt == "C":
        return "call 0x%x" % c
    if fmt == "J":
        return "jt %s, %d, 0x%x" % (r(a), b, c)
    if fmt == "O":
        return "out %s" % r(a)
    return name


def pack_rom(entry, code, data, data_addr=DATA_ADDR):
    code_off = HEADER_SIZE
    data_off = code_off + len(code)
    hdr = HEADER.pack(ROM_MAGIC, ROM_VERSION, 0, entry, code_off, len(code),
                      data_off, len(data), data_addr)
    return hdr + bytes(code) + bytes(data)


def parse_rom(rom):
    """Validate the header; return dict with entry, code (bytes), data, data_addr."""
    if len(rom) < HEADER_SIZE:
        raise RomError("ROM too short for header (%d bytes)" % len(rom))
    magic, ver, _flags, entry, coff, csize, doff, dsize, daddr = HEADER.unpack_from(rom)
    if magic != ROM_MAGIC:
        raise RomError("bad ROM magic %r" % magic)
    if ver != ROM_VERSION:
        raise RomError("unsupported ROM version %d" % ver)
    if coff + csize > len(rom) or doff + dsize > len(rom):
        raise RomError("section outside ROM file")
    if csize % 4 or csize == 0:
        raise RomError("code size %d not a positive multiple of 4" % csize)
    if entry % 4 or entry >= csize:
        raise RomError("entry 0x%x outside code" % entry)
    if daddr + dsize > MEM_SIZE:
        raise RomError("data section does not fit in memory")
    return {"entry": entry, "code": rom[coff:coff + csize],
            "data": rom[doff:doff + dsize], "data_addr": daddr,
            "code_offset": coff, "data_offset": doff}


def code_words(code):
    return list(struct.unpack("<%dI" % (len(code) // 4), code))


def format_result(res):
    """The 4-line result block printed by interp.py and the native program."""
    return "status=%s pc=%08x steps=%d\nregs=%s\nmem_sha256=%s\nout=%s\n" % (
        res["status"], res["pc"], res["steps"],
        " ".join("%08x" % v for v in res["regs"]), res["mem_sha256"],
        " ".join([str(len(res["out"]))] + ["%08x" % v for v in res["out"]]))


def format_event(kind, fn, steps, storesum, nout, regs):
    """One trace line: E (function entered) or X (function returned)."""
    return "%s %08x steps=%d s=%08x o=%d r=%s\n" % (
        kind, fn, steps, storesum, nout, " ".join("%08x" % v for v in regs))


def storesum_step(s, addr, value):
    return (((s ^ addr) * 0x01000193) ^ value) & MASK32
