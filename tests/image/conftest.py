"""Fixtures for the image tests: the image built from deploy/docker/Dockerfile by podman, two
network namespaces, and the resolver module's own container definition read with
`terraform console`.

    HOST  an ECS host, or a task's awsvpc interface: where the containers run. Loopback holds
     |    172.17.0.1 (docker0, where the daemon listens) and 172.17.0.2 (a bridge-mode task,
     |    the daemon's client); 10.10.0.10 on the link.
    VPC   what the task reaches in its VPC, across the link (10.10.0.2): the VPC resolver at
          169.254.169.253 (dnsmasq; slow.test goes on to a deliberately slow server), and the
          EC2 API at 10.20.0.5:5000 (moto's server).

The VPC resolver cannot be local to HOST: a resolver listening on 0.0.0.0 would then be its
own upstream, which bedrock-link refuses as a loop. No packet can leave the two namespaces:
they have no other interface and no route out.
"""

import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

import pytest

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
IMAGE = os.environ.get("BEDROCK_LINK_IMAGE", "localhost/bedrock-link:test")
REQUIRED = os.environ.get("BEDROCK_LINK_E2E_REQUIRED") == "1"

# The Terraform and moto helpers of the deploy/ tests.
_spec = importlib.util.spec_from_file_location("iac_conftest", ROOT / "tests" / "iac" / "conftest.py")
iac = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(iac)

VPC_RESOLVER = "169.254.169.253"
DOCKER0 = "172.17.0.1"
BRIDGE_TASK = "172.17.0.2"
HOST_ADDRESS, VPC_ADDRESS = "10.10.0.10", "10.10.0.2"
EC2_API = "10.20.0.5"
MOTO_PORT = 5000
SLOW_PORT = 5301
SLOW_DELAY = 1.0
SLOW_ANSWER = "192.0.2.99"
FORWARDED_ANSWER = "192.0.2.7"
SERVICES = ["bedrock-runtime", "bedrock-agent-runtime"]
ENDPOINT_REGION = "ap-southeast-2"

# Facts for the summary at the end of the run (build time, image size).
FACTS = {}


def pytest_terminal_summary(terminalreporter):
    if FACTS:
        terminalreporter.section("image")
        for key, value in FACTS.items():
            terminalreporter.write_line(f"{key}: {value}")


@pytest.fixture(scope="session", autouse=True)
def root_and_podman():
    problem = None
    if os.geteuid() != 0:
        problem = "root is needed (rootful podman, network namespaces)"
    elif not shutil.which("podman"):
        problem = "podman is missing (tests/run-all.sh installs it)"
    if problem:
        if REQUIRED:
            pytest.fail(problem)
        pytest.skip(problem + "; set BEDROCK_LINK_E2E_REQUIRED=1 to make this a failure")


@pytest.fixture(scope="session")
def image():
    """The image from the real recipe: tests/image/build.sh makes the stand-in bases where
    missing and runs `podman build` on deploy/docker/Dockerfile (cached layers and cargo
    caches make a rebuild of unchanged sources quick)."""
    if os.environ.get("BEDROCK_LINK_IMAGE_BUILT") == "1":
        # Said by a developer who has just run build.sh on this tree (CI never sets it).
        return IMAGE
    started = time.monotonic()
    out = subprocess.run(["bash", str(HERE / "build.sh"), IMAGE], capture_output=True, text=True, timeout=5400)
    if out.returncode != 0:
        pytest.fail(f"building the image failed ({out.returncode}):\n{out.stdout[-6000:]}\n{out.stderr[-6000:]}")
    FACTS["build (this run, s)"] = round(time.monotonic() - started)
    return IMAGE


class Namespace:
    def __init__(self, name: str, tmp: pathlib.Path):
        self.name = name
        self.path = f"/run/netns/{name}"
        self.tmp = tmp
        self.procs = []
        subprocess.run(["ip", "netns", "add", name], check=True)
        self.ip("link", "set", "lo", "up")

    def ip(self, *args):
        subprocess.run(["ip", "-n", self.name, *args], check=True)

    @staticmethod
    def env():
        """What a process in the namespace gets: PATH and the fake AWS settings, nothing else."""
        return {"PATH": os.environ.get("PATH", ""), **iac.SAFE_ENV}

    def exec(self, *args, timeout=60):
        return subprocess.run(["ip", "netns", "exec", self.name, *args], capture_output=True, text=True,
                              timeout=timeout, env=self.env())

    def spawn(self, *args, log: str):
        proc = subprocess.Popen(["ip", "netns", "exec", self.name, *args], stdout=subprocess.DEVNULL,
                                stderr=open(self.tmp / log, "w"), env=self.env())
        self.procs.append(proc)
        return proc

    def close(self):
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        pids = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True, text=True).stdout.split()
        for pid in pids:
            subprocess.run(["kill", "-9", pid], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


class Topology:
    """HOST, where containers run and clients ask; VPC, with the VPC resolver and the EC2 API."""

    def __init__(self, tmp: pathlib.Path):
        tag = os.getpid() % 100000
        self.tmp = tmp
        self.host = Namespace(f"blimg{tag}", tmp)
        self.vpc = Namespace(f"blimg{tag}v", tmp)
        self.name, self.path = self.host.name, self.host.path
        a, b = f"vbli{tag}", f"vblv{tag}"
        subprocess.run(["ip", "link", "add", a, "netns", self.host.name, "type", "veth", "peer", "name", b,
                        "netns", self.vpc.name], check=True)
        self.host.ip("addr", "add", f"{HOST_ADDRESS}/24", "dev", a)
        self.host.ip("link", "set", a, "up")
        self.vpc.ip("addr", "add", f"{VPC_ADDRESS}/24", "dev", b)
        self.vpc.ip("link", "set", b, "up")
        for address in (DOCKER0, BRIDGE_TASK):
            self.host.ip("addr", "add", f"{address}/32", "dev", "lo")
        for address in (VPC_RESOLVER, EC2_API):
            self.vpc.ip("addr", "add", f"{address}/32", "dev", "lo")
            self.host.ip("route", "add", f"{address}/32", "via", VPC_ADDRESS)
        # Replies to the bridge-mode task's address come back across the link.
        self.vpc.ip("route", "add", "172.17.0.0/16", "via", HOST_ADDRESS)

    def moto(self, port: int):
        """moto's server at EC2_API:port in VPC, once it answers."""
        python = iac.VENV / "bin" / "python"
        if not python.is_file():
            pytest.fail(f"{python} is missing: run tests/run-all.sh, which installs moto[server]")
        proc = self.vpc.spawn(str(python), str(ROOT / "tests" / "iac" / "moto_server.py"), "-H", EC2_API,
                              "-p", str(port), log=f"moto-{port}.log")
        deadline = time.time() + 60
        while self.vpc.exec("curl", "-sf", "-o", "/dev/null", f"http://{EC2_API}:{port}/moto-api/").returncode != 0:
            assert proc.poll() is None and time.time() < deadline, (self.tmp / f"moto-{port}.log").read_text()
            time.sleep(0.3)
        return proc

    def dig(self, server: str, name: str, rtype="A", *, source: str, tcp=False, timeout=2):
        """A real query from `source` in HOST."""
        args = ["dig", f"@{server}", "-p", "53", "-b", source, f"+time={timeout}", "+tries=1", name, rtype]
        if tcp:
            args.insert(1, "+tcp")
        return self.host.exec(*args, timeout=30)

    def close(self):
        self.host.close()
        self.vpc.close()


@pytest.fixture(scope="session")
def netns(tmp_path_factory):
    """The two namespaces with the VPC resolver, the slow server and the EC2 API running;
    `.seeded` is what moto holds: {"vpc_id", "names": {hostname: [ipv4...]}}."""
    topology = Topology(tmp_path_factory.mktemp("netns"))
    try:
        vpc = topology.vpc
        dnsmasq = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        vpc.spawn(sys.executable, str(HERE / "slow_dns.py"), "127.0.0.1", str(SLOW_PORT), str(SLOW_DELAY),
                  SLOW_ANSWER, str(topology.tmp / "slow.queries"), log="slow.log")
        # No cache: every slow.test question reaches the slow server.
        vpc.spawn(dnsmasq, "--keep-in-foreground", "--no-resolv", "--no-hosts", "--bind-interfaces", "--cache-size=0",
                  f"--listen-address={VPC_RESOLVER}", "--port=53", f"--address=/forwarded.test/{FORWARDED_ANSWER}",
                  f"--server=/slow.test/127.0.0.1#{SLOW_PORT}", "--pid-file=", "--conf-file=/dev/null",
                  log="dnsmasq.log")
        topology.moto(MOTO_PORT)
        seed = vpc.exec(str(iac.VENV / "bin" / "python"), str(HERE / "seed_moto.py"), f"http://{EC2_API}:{MOTO_PORT}",
                        ENDPOINT_REGION, *SERVICES)
        assert seed.returncode == 0, seed.stderr
        topology.seeded = json.loads(seed.stdout)
        yield topology
    finally:
        topology.close()


@pytest.fixture(scope="session")
def module_console(tmp_path_factory):
    """Evaluates an expression of the resolver module with `terraform console` (the module's
    locals that depend only on its variables are known without any AWS call); returns
    evaluate(expression, variables) -> the value, through jsonencode."""
    terraform = iac.Terraform(tmp_path_factory.mktemp("terraform"))
    work = tmp_path_factory.mktemp("resolver-module")
    module = work / "resolver"
    shutil.copytree(ROOT / "deploy" / "terraform" / "modules" / "resolver", module,
                    ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "tests"))
    terraform.init(module)

    def evaluate(expression: str, variables: dict):
        varfile = work / "vars.tfvars.json"
        varfile.write_text(json.dumps(variables))
        out = subprocess.run([terraform.exe, "console", f"-var-file={varfile}"], input=f"jsonencode({expression})\n",
                             cwd=module, capture_output=True, text=True, timeout=120, env=terraform.env)
        assert out.returncode == 0, out.stderr
        # Console prints the string as an HCL literal: JSON's escapes, plus $${ and %%{.
        text = json.loads(out.stdout.strip()).replace("$${", "${").replace("%%{", "%{")
        return json.loads(text)

    return evaluate
