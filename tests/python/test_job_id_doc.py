"""docs/job-id.md must be enough to recompute a job ID: this check implements the encoding from
the page's description (standard library only), applies it to the page's worked example, and
compares with the job ID the page states and the golden value in job_id_test.cpp."""
import hashlib
import json
import os
import re
import struct
import sys

SRC = os.environ.get("RECOMP_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", "..")


def u32(n):
    return struct.pack(">I", n)


def s(x):
    b = x.encode()
    return u32(len(b)) + b


def encode(spec):
    e = s("recomp-job-id/v4") + s(spec["stage"])
    e += u32(len(spec["argv"])) + b"".join(s(a) for a in spec["argv"])
    env = sorted(spec["env"].items(), key=lambda kv: kv[0].encode())
    e += u32(len(env)) + b"".join(s(k) + s(v) for k, v in env)
    e += u32(spec["shard"]) + u32(spec["shards"])
    ins = sorted(spec["inputs"], key=lambda pd: pd[0].encode())
    e += u32(len(ins)) + b"".join(s(p) + bytes.fromhex(d) for p, d in ins)
    outs = sorted(spec["outputs"], key=lambda o: o.encode())
    e += u32(len(outs)) + b"".join(s(o) for o in outs)
    e += u32(spec["timeout_s"]) + s(spec["salt"])
    req = sorted(spec.get("requires", {}).items(), key=lambda kv: kv[0].encode())
    e += u32(len(req)) + b"".join(s(k) + s(v) for k, v in req)
    e += u32(1 if spec.get("network") else 0)
    return e


def main():
    with open(os.path.join(SRC, "docs", "job-id.md"), encoding="utf-8") as f:
        doc = f.read()
    example = doc[doc.index("## Worked example"):]
    spec = json.loads(re.search(r"```json\n(.*?)```", example, re.S).group(1))
    stated_len = int(re.search(r"Encoding \((\d+) bytes\)", example).group(1))
    stated_id = re.search(r"Job ID: `([0-9a-f]{64})`", example).group(1)

    enc = encode(spec)
    got = hashlib.blake2b(enc, digest_size=32).hexdigest()
    errors = []
    if len(enc) != stated_len:
        errors.append(f"encoding is {len(enc)} bytes, the page says {stated_len}")
    if got != stated_id:
        errors.append(f"job ID from the page's description is {got}, the page says {stated_id}")
    # The hex listing must be the encoding: join its hex runs, expanding the 1111…11 shorthand.
    listing = re.search(r"one field per line:\n\n```\n(.*?)```", example, re.S).group(1)
    hex_runs = []
    for line in listing.splitlines():
        for tok in line.split():
            m = re.fullmatch(r"([0-9a-f]{2})\1…\1", tok)
            if m:
                hex_runs.append(m.group(1) * 32)
            elif re.fullmatch(r"(?:[0-9a-f]{2})+", tok):
                hex_runs.append(tok)
            else:
                break  # the rest of the line is a comment
    if "".join(hex_runs) != enc.hex():
        errors.append("the hex listing does not match the encoding:\n  " + "".join(hex_runs) +
                      "\n  " + enc.hex())
    with open(os.path.join(SRC, "tests", "coordinator", "job_id_test.cpp"), encoding="utf-8") as f:
        if stated_id not in f.read():
            errors.append("job_id_test.cpp does not assert the page's job ID " + stated_id)
    for e in errors:
        print("FAIL:", e)
    if not errors:
        print("ok: docs/job-id.md worked example ->", got)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
