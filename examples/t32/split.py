#!/usr/bin/env python3
"""Stage `split`: cut analyze's functions.json into one slice per lift shard.

Split shard i writes out/slice.json: exactly what lift shard i reads (see
lift.slice_of): the functions with shard_of(name) == i, each with its address,
instruction words (code only, never data-section bytes), jump-table targets and
callee names/addresses.  Since lift and compile read only their own shard
(shard_inputs = "same"), a one-function edit changes one slice, hence one lift
and one compile job ID; the other shards are cache hits.
"""
import os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lift, stageio  # noqa: E402

STAGE = stageio.stage_name("split")


def main():
    index, count = stageio.shard()
    functions = stageio.read_json(STAGE, "in/analyze/0/out/functions.json")
    sl = lift.slice_of(functions, index, count)
    stageio.write("out/slice.json", stageio.dumps(sl))
    print("split: shard %d/%d: %d of %d functions: %s"
          % (index, count, len(sl["functions"]), len(functions["functions"]),
             " ".join(f["name"] for f in sl["functions"])))


if __name__ == "__main__":
    main()
