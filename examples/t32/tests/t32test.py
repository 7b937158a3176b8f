"""Shared helpers for the T32 unit tests: paths, assembling snippets, gcc builds."""
import os, shutil, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
T32 = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(T32))
sys.path.insert(0, T32)

import asm  # noqa: E402


def assemble_text(text, name="t.s"):
    """Assemble source text -> (rom, funcs, entry); raises asm.AsmError."""
    d = tempfile.mkdtemp(prefix="t32asm-")
    try:
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write(text)
        return asm.assemble(path)
    finally:
        shutil.rmtree(d)


def build_native(workdir, shard_sources, glue, extra_flags=()):
    """Compile lifted shard sources + glue + runtime into workdir/prog."""
    srcs = []
    for i, text in enumerate(shard_sources + [glue]):
        p = os.path.join(workdir, "unit%d.c" % i)
        with open(p, "w") as f:
            f.write(text)
        srcs.append(p)
    prog = os.path.join(workdir, "prog")
    cmd = ["gcc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", *extra_flags, "-I", T32, *srcs,
           os.path.join(T32, "runtime.c"), os.path.join(T32, "t32_sha256.c"), "-o", prog]
    subprocess.run(cmd, check=True)
    return prog
