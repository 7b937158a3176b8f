#!/usr/bin/env python3
"""Stage `ingest`: check the submitted ROM against its provenance manifest.

Reads in/module/provenance.json ({"rom": NAME, "sha256": HEX}) and in/module/NAME;
writes out/rom.json (hash + header facts, never ROM bytes).  Fails loudly.
"""
import hashlib, os, re, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import isa, stageio  # noqa: E402

STAGE = stageio.stage_name("ingest")


def main():
    prov_path = "in/module/provenance.json"
    if not os.path.exists(prov_path):
        stageio.fail(STAGE, "missing %s (the submitter must pass it as a module file)" % prov_path)
    prov = stageio.read_json(STAGE, prov_path)
    name, want = prov.get("rom"), str(prov.get("sha256", "")).lower()
    if not isinstance(name, str) or not re.match(r"^[\w.-]+$", name):
        stageio.fail(STAGE, "provenance.json: 'rom' must be a plain file name, got %r" % (name,))
    if not re.match(r"^[0-9a-f]{64}$", want):
        stageio.fail(STAGE, "provenance.json: 'sha256' must be 64 hex digits")
    path = os.path.join("in/module", name)
    try:
        with open(path, "rb") as f:
            rom = f.read()
    except OSError as e:
        stageio.fail(STAGE, "ROM %s: %s" % (path, e.strerror))
    got = hashlib.sha256(rom).hexdigest()
    if got != want:
        stageio.fail(STAGE, "ROM %s sha256 mismatch: expected %s (provenance.json), got %s"
                     % (path, want, got))
    try:
        info = isa.parse_rom(rom)
    except isa.RomError as e:
        stageio.fail(STAGE, "ROM %s: %s" % (path, e))
    facts = {"rom": name, "sha256": got, "size": len(rom), "entry": info["entry"],
             "code_size": len(info["code"]), "data_size": len(info["data"]),
             "data_addr": info["data_addr"]}
    stageio.write("out/rom.json", stageio.dumps(facts))
    print("ingest: %s ok, sha256 %s, %d bytes code, %d bytes data at 0x%04x"
          % (name, got, facts["code_size"], facts["data_size"], facts["data_addr"]))


if __name__ == "__main__":
    main()
