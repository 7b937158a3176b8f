"""Separate hosts on one machine for tests: Linux network namespaces joined by veth pairs to a
bridge that lives in a namespace of its own (nothing is added to the root namespace), with
addresses from 198.18.0.0/15 (RFC 2544 benchmarking space) and `lo` up in each. Needs root and
iproute2; `available()` says why not otherwise, and tests skip with that reason. Always torn
down: processes in each namespace killed (`ip netns pids`), namespaces deleted."""
import os
import shutil
import signal
import subprocess
import time

SUBNET = "198.18.0"


def _ip(*args, check=True):
    p = subprocess.run(["ip", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=30)
    if check and p.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), p.stderr.strip()))
    return p


def available():
    """None when namespaces can be built here, else the reason they cannot."""
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs as root)"
    if shutil.which("ip") is None:
        return "iproute2 is not installed (scripts/deps.sh installs it)"
    probe = "rcprobe%d" % os.getpid()
    p = _ip("netns", "add", probe, check=False)
    if p.returncode != 0:
        return "cannot create a network namespace: " + p.stderr.strip()
    _ip("netns", "del", probe, check=False)
    return None


class Network:
    """Hosts named by the caller, each a namespace with one address on a shared bridge."""

    def __init__(self, hosts):
        self.prefix = "rc%d" % os.getpid()
        self.bridge_ns = self.prefix + "-br"
        self.hosts = {}  # name -> (namespace, address)
        self.created = []
        try:
            self._add_ns(self.bridge_ns)
            _ip("-n", self.bridge_ns, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.bridge_ns, "link", "set", "br0", "up")
            for i, name in enumerate(hosts):
                self._add_host(name, "%s.%d" % (SUBNET, i + 1), i)
        except Exception:
            self.close()
            raise

    def _add_ns(self, ns):
        _ip("netns", "add", ns)
        self.created.append(ns)
        _ip("-n", ns, "link", "set", "lo", "up")

    def _add_host(self, name, addr, i):
        ns = "%s-%s" % (self.prefix, name)
        self._add_ns(ns)
        port = "v%d" % i  # the bridge side, in the bridge's namespace
        _ip("-n", self.bridge_ns, "link", "add", port, "type", "veth", "peer", "name", "eth0",
            "netns", ns)
        _ip("-n", self.bridge_ns, "link", "set", port, "master", "br0", "up")
        _ip("-n", ns, "addr", "add", addr + "/24", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        self.hosts[name] = (ns, addr, port)

    def addr(self, host):
        return self.hosts[host][1]

    def ns(self, host):
        return self.hosts[host][0]

    def argv(self, host, argv):
        """`argv` run inside `host`'s namespace."""
        return ["ip", "netns", "exec", self.ns(host), *[str(a) for a in argv]]

    def run(self, host, argv, timeout=120, check=True, env=None, cwd=None):
        p = subprocess.run(self.argv(host, argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=timeout, env=env, cwd=cwd)
        if check and p.returncode != 0:
            raise AssertionError("%s exited %d:\nstdout:\n%s\nstderr:\n%s" % (
                " ".join(argv), p.returncode, p.stdout[-4000:], p.stderr[-4000:]))
        return p

    def link(self, host, up):
        """Cuts (or restores) `host`'s only link, at the bridge."""
        _ip("-n", self.bridge_ns, "link", "set", self.hosts[host][2], "up" if up else "down")

    def close(self):
        for ns in reversed(self.created):
            for _ in range(50):  # bounded: kill what runs inside, until nothing does
                pids = _ip("netns", "pids", ns, check=False).stdout.split()
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except (OSError, ValueError):
                        pass
                time.sleep(0.05)
            _ip("netns", "del", ns, check=False)
        self.created = []
