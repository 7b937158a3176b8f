#!/usr/bin/env python3
"""Stage `analyze`: serial global analysis of a T32 ROM.

Discovers functions from the entry point by following `call` targets (plus the
roots/names of an optional symbol overrides TOML), walks each body including
jump-table targets read from the data section, and writes out/functions.json
sorted by address.
"""
import os, re, sys, tomllib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import isa, stageio  # noqa: E402

STAGE = stageio.stage_name("analyze")
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class AnalyzeError(Exception):
    pass


def parse_overrides(text):
    """TOML [[function]] tables with name and addr -> {addr: name}."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise AnalyzeError("symbol overrides: %s" % e)
    names = {}
    for i, fn in enumerate(doc.get("function", [])):
        name, addr = fn.get("name"), fn.get("addr")
        if not isinstance(name, str) or not NAME_RE.match(name) or not isinstance(addr, int):
            raise AnalyzeError("symbol overrides: function #%d needs name (C identifier) and integer addr" % (i + 1))
        if addr in names and names[addr] != name:
            raise AnalyzeError("symbol overrides: 0x%x named both %s and %s" % (addr, names[addr], name))
        names[addr] = name
    return names


def jump_targets(info, table, count, csize):
    """Static targets of `jt`: entries read from the (immutable) data section."""
    lo, data = info["data_addr"], info["data"]
    targets = []
    for i in range(count):
        a = (table + 4 * i) & isa.ADDR_MASK
        if a % 4 or not lo <= a <= lo + len(data) - 4:
            continue
        t = int.from_bytes(data[a - lo:a - lo + 4], "little")
        if t % 4 == 0 and t < csize and t not in targets:
            targets.append(t)
    return sorted(targets)


def successors(pc, d, info, csize, jts):
    if d is None or d[0] in ("halt", "ret"):
        return []
    name, _a, b, c = d
    if name in isa.BRANCHES:
        fixed = isa.static_branch(name, _a, b)
        target = (pc + 4 + 4 * c) & isa.MASK32
        return {"always": [target], "never": [pc + 4]}.get(fixed, [pc + 4, target])
    if name == "jt":
        jts[pc] = jump_targets(info, c, b, csize)
        return jts[pc]
    return [pc + 4]


def walk(entry, words, info):
    """Reachable instructions of one function -> (pcs, jump tables, callees)."""
    csize = 4 * len(words)
    seen, work, jts, callees = set(), [entry], {}, set()
    while work:
        pc = work.pop()
        if pc in seen or pc >= csize:
            continue
        seen.add(pc)
        d = isa.decode(words[pc // 4])
        if d is not None and d[0] == "call":
            callees.add(d[3])
        work.extend(successors(pc, d, info, csize, jts))
    return sorted(seen), jts, callees


def analyze(rom, overrides=None):
    info = isa.parse_rom(rom)
    words = isa.code_words(info["code"])
    csize = 4 * len(words)
    names = dict(overrides or {})
    for addr, name in names.items():
        if addr % 4 or not 0 <= addr < csize:
            raise AnalyzeError("symbol overrides: %s at 0x%x is not a code address" % (name, addr))
    bodies, work = {}, [info["entry"]] + sorted(names)
    while work:
        addr = work.pop(0)
        if addr in bodies or addr % 4 or addr >= csize:
            continue
        bodies[addr] = walk(addr, words, info)
        work.extend(sorted(bodies[addr][2]))
    naming = {a: names.get(a, "fn_%04x" % a) for a in bodies}
    if len(set(naming.values())) != len(naming):
        raise AnalyzeError("duplicate function names after applying overrides")
    funcs = []
    for addr in sorted(bodies):
        pcs, jts, callees = bodies[addr]
        funcs.append({"name": naming[addr], "addr": addr, "end": pcs[-1] + 4,
                      "insns": [[pc, "%08x" % words[pc // 4]] for pc in pcs],
                      "jump_tables": {"%x" % pc: t for pc, t in sorted(jts.items())},
                      "calls": {"%x" % c: naming.get(c) for c in sorted(callees)}})
    return {"schema": "t32-functions/1", "entry": naming[info["entry"]],
            "code_size": csize, "functions": funcs}


def main():
    rom, _facts = stageio.checked_rom(STAGE)
    overrides = {}
    if os.path.exists("in/module/symbols.toml"):
        with open("in/module/symbols.toml", encoding="utf-8") as f:
            try:
                overrides = parse_overrides(f.read())
            except AnalyzeError as e:
                stageio.fail(STAGE, "in/module/symbols.toml: %s" % e)
    try:
        result = analyze(rom, overrides)
    except (AnalyzeError, isa.RomError) as e:
        stageio.fail(STAGE, str(e))
    stageio.write("out/functions.json", stageio.dumps(result))
    n_ins = sum(len(f["insns"]) for f in result["functions"])
    n_jt = sum(len(f["jump_tables"]) for f in result["functions"])
    print("analyze: %d functions, %d instructions, %d jump tables, %d names from overrides"
          % (len(result["functions"]), n_ins, n_jt, len(overrides)))


if __name__ == "__main__":
    main()
