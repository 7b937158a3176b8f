#!/usr/bin/env python3
"""Stage `compile`: gcc -O2 -c of this job's lift shard into out/shard.o.

Compile shard i reads in/lift/i/out/shard.c (lift and compile use the same
shard count) and the runtime header from in/tools/.
"""
import os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stageio  # noqa: E402

STAGE = stageio.stage_name("compile")


def main():
    index, count = stageio.shard()
    src = "in/lift/%d/out/shard.c" % index
    if not os.path.exists(src):
        stageio.fail(STAGE, "missing %s: lift must run with the same shard count (%d)" % (src, count))
    os.makedirs("out", exist_ok=True)
    stageio.run_cc(STAGE, stageio.cc_flags("t32-shard-%d" % index) + ["-c", src, "-o", "out/shard.o"])
    print("compile: shard %d/%d -> out/shard.o (%d bytes)" % (index, count, os.path.getsize("out/shard.o")))


if __name__ == "__main__":
    main()
