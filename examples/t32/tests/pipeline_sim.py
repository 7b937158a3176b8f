"""Serial simulator of the worker pool's job contract for pipeline TOML files.

Each job runs in a fresh temp dir holding in/tools/<basename>, in/module/<name>
(unless the stage sets module = false) and in/<need>/<shard>/<outputs> (every
shard of every need; with shard_inputs = "same", only the job's own shard of a
need with the same shard count), with env = stage env + RECOMP_* only; its
declared outputs are collected under <root>/results/<stage>/<shard>/.
Each job record has "input_key": a hash of its exact input set (paths and
contents), the part of the pool's job ID that the inputs determine.
"""
import hashlib, itertools, os, shutil, subprocess, tempfile, time, tomllib
from concurrent.futures import ThreadPoolExecutor

_ids = itertools.count(1)


class StageFailed(Exception):
    def __init__(self, stage, shard, job):
        super().__init__("stage %s shard %d failed (exit %s): %s" % (stage, shard, job["rc"], job["stderr"].strip()))
        self.stage, self.shard, self.job = stage, shard, job


def load_pipeline(path):
    with open(path, "rb") as f:
        doc = tomllib.load(f)
    base = os.path.dirname(os.path.abspath(path))
    tools = [os.path.normpath(os.path.join(base, t)) for t in doc["tools"]]
    names = [os.path.basename(t) for t in tools]
    if len(set(names)) != len(names):
        raise ValueError("tool basenames are not unique: %s" % names)
    seen = {}
    for st in doc["stages"]:
        late = [n for n in st.get("needs", []) if n not in seen]
        if late:
            raise ValueError("stage %s needs %s declared later (simulator runs in declaration order)"
                             % (st["name"], late))
        if not isinstance(st.get("module", True), bool):
            raise ValueError("stage %s: module must be a boolean" % st["name"])
        mode = st.get("shard_inputs", "all")
        if mode not in ("all", "same"):
            raise ValueError('stage %s: shard_inputs must be "all" or "same", got %r' % (st["name"], mode))
        n = int(st.get("shards", 1))
        if mode == "same" and not any(seen[x] == n for x in st.get("needs", [])):
            raise ValueError('stage %s: shard_inputs = "same" but no stage in its needs has its shard count (%d)'
                             % (st["name"], n))
        seen[st["name"]] = n
    return {"tools": tools, "stages": doc["stages"]}


def tree_hash(root):
    """SHA-256 over the sorted (relative path, content hash) pairs of the files under root."""
    h = hashlib.sha256()
    pairs = []
    for dirpath, _dirs, fnames in os.walk(root):
        for fn in fnames:
            p = os.path.join(dirpath, fn)
            with open(p, "rb") as f:
                pairs.append((os.path.relpath(p, root), hashlib.sha256(f.read()).hexdigest()))
    for rel, digest in sorted(pairs):
        h.update(("%s\0%s\n" % (rel, digest)).encode())
    return h.hexdigest()


def _copy_into(src, dst):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if os.path.isdir(src):
        shutil.copytree(src, dst, dirs_exist_ok=True)
    else:
        shutil.copy2(src, dst)


class Simulator:
    def __init__(self, pipeline, modules, root, tool_overrides=None):
        """modules: {name: path}; tool_overrides: {basename: replacement path}."""
        self.pipeline, self.modules, self.root = pipeline, modules, root
        self.overrides = tool_overrides or {}
        self.results = {}          # stage -> [result dir per shard]
        self.jobs = {}             # stage -> [job record per shard]
        self.run_tag = hashlib.sha256(os.urandom(8)).hexdigest()[:8]

    def stage(self, name):
        return next(s for s in self.pipeline["stages"] if s["name"] == name)

    def adopt(self, other, stage_names):
        """Reuse another simulator's results for stages this one will not rerun."""
        for name in stage_names:
            self.results[name] = other.results[name]

    def run(self, until=None, start=None):
        names = [s["name"] for s in self.pipeline["stages"]]
        first = names.index(start) if start else 0
        last = names.index(until) if until else len(names) - 1
        for st in self.pipeline["stages"][first:last + 1]:
            self.run_stage(st)

    def run_stage(self, st):
        n = int(st.get("shards", 1))
        with ThreadPoolExecutor(max_workers=max(1, min(n, os.cpu_count() or 1))) as pool:
            jobs = list(pool.map(lambda i: self.run_shard(st, i, n), range(n)))
        self.jobs[st["name"]] = jobs
        for i, job in enumerate(jobs):
            if job["rc"] != 0:
                raise StageFailed(st["name"], i, job)
        self.results[st["name"]] = [j["result_dir"] for j in jobs]

    def run_shard(self, st, shard, n):
        for _attempt in range(int(st.get("retries", 0)) + 1):
            job = self.run_job(st, shard, n)
            if job["rc"] == 0:
                break
        return job

    def run_job(self, st, shard, n):
        tag = "%s-%s-%d-%d" % (self.run_tag, st["name"], shard, next(_ids))
        job_id = hashlib.sha256(tag.encode()).hexdigest()   # 64 hex, unique per attempt
        wd = tempfile.mkdtemp(prefix="job-%s-" % st["name"], dir=self.root)
        for tool in self.pipeline["tools"]:
            base = os.path.basename(tool)
            _copy_into(self.overrides.get(base, tool), os.path.join(wd, "in/tools", base))
        if st.get("module", True):
            for name, path in self.modules.items():
                _copy_into(path, os.path.join(wd, "in/module", name))
        for need in st.get("needs", []):
            same = st.get("shard_inputs", "all") == "same" and len(self.results[need]) == n
            for i, rdir in enumerate(self.results[need]):
                if same and i != shard:
                    continue
                for out in self.stage(need)["outputs"]:
                    _copy_into(os.path.join(rdir, out), os.path.join(wd, "in", need, str(i), out))
        input_key = tree_hash(os.path.join(wd, "in"))
        env = {k: str(v) for k, v in st.get("env", {}).items()}
        env.update(RECOMP_SHARD=str(shard), RECOMP_SHARDS=str(n), RECOMP_STAGE=st["name"], RECOMP_JOB_ID=job_id)
        t0 = time.monotonic()
        try:
            proc = subprocess.run(st["command"], cwd=wd, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, timeout=st.get("timeout_s"))
            rc, out, err = proc.returncode, proc.stdout, proc.stderr
        except subprocess.TimeoutExpired:
            rc, out, err = "timeout", "", "timed out"
        job = {"rc": rc, "stdout": out, "stderr": err, "dir": wd, "result_dir": None,
               "seconds": time.monotonic() - t0, "input_key": input_key}
        missing = [o for o in st["outputs"] if not os.path.exists(os.path.join(wd, o))]
        if rc == 0 and missing:
            job.update(rc="missing-outputs", stderr=err + "missing declared outputs: %s" % missing)
        if rc == 0:
            rdir = os.path.join(self.root, "results", st["name"], str(shard))
            for o in st["outputs"]:
                _copy_into(os.path.join(wd, o), os.path.join(rdir, o))
            job["result_dir"] = rdir
        return job

    def output_files(self, stages=None):
        """{"stage/shard/relpath": bytes} for every collected output file."""
        files = {}
        for name, dirs in self.results.items():
            if stages and name not in stages:
                continue
            for i, rdir in enumerate(dirs):
                for dirpath, _dirs, fnames in os.walk(rdir):
                    for fn in fnames:
                        p = os.path.join(dirpath, fn)
                        with open(p, "rb") as f:
                            files["%s/%d/%s" % (name, i, os.path.relpath(p, rdir))] = f.read()
        return files
