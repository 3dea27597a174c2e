"""The container image: built from deploy/docker/Dockerfile by podman (tests/image/build.sh),
then run the way each ECS shape runs it: the container definitions of deploy/ecs/*.json and the
resolver module's own (read with `terraform console`), translated to podman by ecs.py. Asserted
through real interfaces: dig over UDP and TCP inside the test's namespace, podman's health
check, the resolver process as the kernel shows it (/proc), `podman stop`, the container's log
and exit status, and the image's own files.

Run by tests/run-all.sh as root (a failure in CI; skipped with a notice otherwise)."""

import json
import re
import subprocess
import tarfile
import time

import pytest

import ecs
from conftest import (BRIDGE_TASK, EC2_API, ENDPOINT_REGION, FACTS, FORWARDED_ANSWER, IMAGE, MOTO_PORT, ROOT,
                      SLOW_ANSWER)

DEPLOY = ROOT / "deploy"
NET_BIND_SERVICE = 1 << 10
# What ECS gives a task and the test cannot: credentials (the task role's; here fake ones) and
# where the EC2 API is (here moto across the test's VPC, by the SDK's standard variable).
ECS_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ENDPOINT_URL_EC2": f"http://{EC2_API}:{MOTO_PORT}",
}
# The most this image may weigh, uncompressed (the goal; distroless cc is about 23 MB).
MAX_IMAGE_BYTES = 40_000_000


def task_container(name: str) -> dict:
    task = json.loads((DEPLOY / "ecs" / name).read_text())
    return next(c for c in task["containerDefinitions"] if c["name"] == "bedrock-link")


def module_variables(mode: str, vpc_id: str) -> dict:
    return {
        "name": "bl", "region": "ap-southeast-6", "mode": mode, "vpc_id": "vpc-0a0a0a0a",
        "subnet_ids": ["subnet-1", "subnet-2"], "client_cidrs": ["10.10.0.0/16"], "image": IMAGE,
        "sources": [{"region": ENDPOINT_REGION, "vpc_id": vpc_id}],
    }


def config_of(container: dict) -> str:
    return next(e["value"] for e in container["environment"] if e["name"] == "BEDROCK_LINK_CONFIG_TOML")


def with_config(container: dict, text: str) -> dict:
    env = [e for e in container["environment"] if e["name"] != "BEDROCK_LINK_CONFIG_TOML"]
    return {**container, "environment": [*env, {"name": "BEDROCK_LINK_CONFIG_TOML", "value": text}]}


def in_vpc(container: dict, vpc_id: str) -> dict:
    """The example definitions name a placeholder VPC; the test's is the one moto holds."""
    text, n = re.subn(r'^vpc_id = "[^"]*"$', f'vpc_id = "{vpc_id}"', config_of(container), flags=re.M)
    assert n == 1, config_of(container)
    return with_config(container, text)


def listen_address(container: dict) -> str:
    listen = re.search(r'^listen = \["([^"]+)"', config_of(container), re.M).group(1)
    return listen.rsplit(":", 1)[0]


def dig(netns, server, name, *, source, tcp=False, rtype="A", timeout=2):
    """(status, [addresses]) of a real query from `source` inside the namespace."""
    out = netns.dig(server, name, rtype, source=source, tcp=tcp, timeout=timeout)
    status = re.search(r"status: (\w+)", out.stdout)
    answers = re.findall(r"^\S+\s+\d+\s+IN\s+A{1,4}\s+(\S+)$", out.stdout, re.M)
    return (status.group(1) if status else f"no reply: {out.stdout.strip()[-200:]}"), sorted(answers)


class Container:
    def __init__(self, name: str):
        self.name = name

    def start(self, container: dict, netns, image: str, extra_env=ECS_ENV):
        ecs.podman(*ecs.run_args(container, name=self.name, network=f"ns:{netns.path}", extra_env=extra_env,
                                 image=image))

    def inspect(self, template: str) -> str:
        return ecs.podman("inspect", "--format", template, self.name).stdout.strip()

    def logs(self) -> str:
        out = ecs.podman("logs", self.name)
        return out.stdout + out.stderr

    def healthcheck(self) -> int:
        return ecs.podman("healthcheck", "run", self.name, check=False).returncode

    def wait_healthy(self, seconds: float):
        deadline = time.monotonic() + seconds
        while self.healthcheck() != 0:
            assert self.inspect("{{.State.Status}}") == "running", self.logs()
            assert time.monotonic() < deadline, f"not healthy within {seconds}s:\n{self.logs()}"
            time.sleep(1)

    def wait_exited(self, seconds: float):
        deadline = time.monotonic() + seconds
        while self.inspect("{{.State.Status}}") not in ("exited", "stopped"):
            assert time.monotonic() < deadline, f"still running after {seconds}s:\n{self.logs()}"
            time.sleep(0.3)

    def resolver_pid(self) -> int:
        """The host PID of the bedrock-link process (the child of the init, when there is one)."""
        pid = int(self.inspect("{{.State.Pid}}"))
        for _ in range(50):
            if read(f"/proc/{pid}/comm").strip() == "bedrock-link":
                return pid
            children = read(f"/proc/{pid}/task/{pid}/children").split()
            if children:
                pid = int(children[0])
                continue
            time.sleep(0.1)
        raise AssertionError(f"no bedrock-link process in {self.name}")

    def remove(self):
        ecs.podman("rm", "-f", "-t", "0", self.name, check=False)


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


def proc_status(pid: int) -> dict:
    return dict(line.split(":\t", 1) for line in read(f"/proc/{pid}/status").splitlines() if ":\t" in line)


def root_mount_options(pid: int) -> list:
    for line in read(f"/proc/{pid}/mountinfo").splitlines():
        fields = line.split()
        if fields[4] == "/":
            return fields[5].split(",")
    raise AssertionError("no root mount")


@pytest.fixture()
def containers():
    made = []

    def make(name):
        c = Container(f"bl-test-{name}")
        c.remove()
        made.append(c)
        return c

    yield make
    for c in made:
        c.remove()


# --- The image itself -------------------------------------------------------------------------


def test_image_has_no_shell_or_package_manager_and_is_small(image, tmp_path):
    size = int(ecs.podman("image", "inspect", "--format", "{{.Size}}", image).stdout)
    FACTS["image size (MB, uncompressed)"] = round(size / 1e6, 1)
    created = ecs.podman("create", image).stdout.strip()
    try:
        with open(tmp_path / "fs.tar", "wb") as out:
            subprocess.run([*ecs.PODMAN, "export", created], stdout=out, check=True, timeout=120)
    finally:
        ecs.podman("rm", "-f", created)
    members = tarfile.open(tmp_path / "fs.tar").getmembers()
    assert any(m.name.endswith("usr/local/bin/bedrock-link") for m in members), [m.name for m in members[:20]]
    # Programs (files or links to them; directories such as /var/lib/dpkg hold none).
    forbidden = {"sh", "bash", "dash", "ash", "zsh", "busybox", "apt", "apt-get", "dpkg", "apk", "rpm", "yum", "dnf"}
    found = [m.name for m in members if not m.isdir() and m.name.rsplit("/", 1)[-1] in forbidden]
    assert not found, f"the image holds a shell or a package manager: {found}"
    assert size <= MAX_IMAGE_BYTES, f"the image is {size / 1e6:.1f} MB (at most {MAX_IMAGE_BYTES / 1e6:.0f})"


def test_image_metadata_matches_the_task_definitions(image, module_console):
    config = json.loads(ecs.podman("image", "inspect", "--format", "{{json .Config}}", image).stdout)
    # (podman's JSON of .Config leaves the health check out; asked for, it is there.)
    config["Healthcheck"] = json.loads(ecs.podman("image", "inspect", "--format", "{{json .Config.Healthcheck}}", image).stdout)
    assert config["User"] == "65532:65532"
    assert config["Entrypoint"] == ["/usr/local/bin/bedrock-link"]
    module = module_console("local.container", module_variables("nlb-service", "vpc-0e0e0e0e"))
    for container in (task_container("daemon-task-definition.json"), task_container("sidecar-task-definition.json"), module):
        assert container["command"] == config["Cmd"]
        # ECS runs the definition's health check, not the image's: they must be the same.
        assert container["healthCheck"]["command"] == config["Healthcheck"]["Test"]
        assert container["user"] == config["User"]


# --- Each ECS shape, run as ECS runs it -----------------------------------------------------------

SHAPES = {
    # name: (where the definition comes from, the client's address)
    "daemon": ("daemon-task-definition.json", BRIDGE_TASK),   # a bridge-mode task on the host
    "sidecar": ("sidecar-task-definition.json", "127.0.0.1"),  # a container of the same task
    "module-daemon": ("ecs-daemon", BRIDGE_TASK),
    "module-nlb": ("nlb-service", "127.0.0.1"),               # the NLB preserves VPC client IPs
}


@pytest.mark.parametrize("shape", SHAPES)
def test_the_image_serves_as_each_ecs_shape_runs_it(image, netns, module_console, containers, shape):
    origin, client = SHAPES[shape]
    vpc_id = netns.seeded["vpc_id"]
    if origin.endswith(".json"):
        container = in_vpc(task_container(origin), vpc_id)
    else:
        container = module_console("local.container", module_variables(origin, vpc_id))
    # A task listening on 0.0.0.0 is asked on the namespace's loopback.
    server = listen_address(container)
    server = "127.0.0.1" if server == "0.0.0.0" else server
    ctr = containers(shape)
    ctr.start(container, netns, image)
    # startPeriod + retries x interval is what ECS would wait; discovery against moto is quick.
    ctr.wait_healthy(45)

    # The resolver runs as 65532 with only CAP_NET_BIND_SERVICE, on a read-only root.
    pid = ctr.resolver_pid()
    status = proc_status(pid)
    assert status["Uid"].split() == ["65532"] * 4 and status["Gid"].split() == ["65532"] * 4, status["Uid"]
    for key in ("CapEff", "CapPrm", "CapBnd"):
        assert int(status[key], 16) == NET_BIND_SERVICE, (key, status[key])
    # From the binary's file capability alone: nothing ambient or inherited (as under Docker).
    for key in ("CapAmb", "CapInh"):
        assert int(status[key], 16) == 0, (key, status[key])
    assert "ro" in root_mount_options(pid)

    # Overrides from discovery, and a forwarded name, over UDP and TCP on port 53.
    for tcp in (False, True):
        for name, addresses in netns.seeded["names"].items():
            assert dig(netns, server, name, source=client, tcp=tcp) == ("NOERROR", addresses), (name, tcp, ctr.logs())
        assert dig(netns, server, "www.forwarded.test", source=client, tcp=tcp) == ("NOERROR", [FORWARDED_ANSWER])

    # SIGTERM (podman stop, as ECS stops a task) with a query in flight: it is answered, and the
    # container exits 0 before the stop timeout (SIGKILL would make it 137).
    queries = netns.tmp / "slow.queries"
    before = len(read(str(queries)).splitlines()) if queries.exists() else 0
    in_flight = subprocess.Popen(["ip", "netns", "exec", netns.host.name, "dig", f"@{server}", "-b", client, "+time=8",
                                  "+tries=1", f"{shape}.slow.test", "A"], stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 5
    while not (queries.exists() and len(read(str(queries)).splitlines()) > before):
        assert time.monotonic() < deadline, "the query never reached the slow upstream"
        time.sleep(0.05)
    ecs.podman("stop", "-t", str(ecs.stop_timeout(container)), ctr.name, timeout=60)
    answer = in_flight.communicate(timeout=15)[0]
    assert "status: NOERROR" in answer and SLOW_ANSWER in answer, answer
    assert ctr.inspect("{{.State.ExitCode}}") == "0", ctr.logs()
    assert "draining queries in flight" in ctr.logs()
    # The module's tasks write EMF lines to stdout (the stream awslogs ships), logs to stderr;
    # the line at exit counts the queries above.
    out = ecs.podman("logs", ctr.name)
    emf = [json.loads(line) for line in out.stdout.splitlines() if line.startswith('{"')]
    if origin.endswith(".json"):
        assert emf == [], "the task definitions leave EMF off"
    else:
        assert emf and all("_aws" in e for e in emf), out.stdout[-2000:]
        assert sum(e.get("QueriesOverride", 0) for e in emf) >= 2 * len(netns.seeded["names"]), emf
        assert "bedrock-link serving" not in out.stdout and "bedrock-link serving" in out.stderr


def test_the_images_health_check_follows_readiness(image, netns, containers):
    # The image's own HEALTHCHECK (no definition's): unhealthy while the discovery source cannot
    # be reached (nothing listens where the EC2 API should be), healthy once it can.
    container = in_vpc(task_container("sidecar-task-definition.json"), netns.seeded["vpc_id"])
    del container["healthCheck"]
    ctr = containers("readiness")
    ctr.start(container, netns, image, extra_env={**ECS_ENV, "AWS_ENDPOINT_URL_EC2": f"http://{EC2_API}:5001"})
    assert json.loads(ctr.inspect("{{json .Config.Healthcheck}}"))["Test"][0] == "CMD"
    # Serving (forwarded names answer) but not ready.
    deadline = time.monotonic() + 20
    while dig(netns, "127.0.0.1", "www.forwarded.test", source="127.0.0.1")[0] != "NOERROR":
        assert time.monotonic() < deadline, ctr.logs()
        time.sleep(0.5)
    for _ in range(3):
        assert ctr.healthcheck() != 0, ctr.logs()
        time.sleep(1)
    # An EC2 API appears there (an empty one: a pass that finds no endpoint still succeeds).
    netns.moto(5001)
    ctr.wait_healthy(40)


def test_a_bad_configuration_exits_2_naming_the_line_and_key(image, netns, containers):
    container = in_vpc(task_container("sidecar-task-definition.json"), netns.seeded["vpc_id"])
    lines = config_of(container).splitlines()
    line = next(i for i, text in enumerate(lines) if text.startswith("ttl = ")) + 1
    lines[line - 1] = 'ttl = "thirty"'
    ctr = containers("bad-config")
    ctr.start(with_config(container, "\n".join(lines) + "\n"), netns, image)
    ctr.wait_exited(30)
    logs = ctr.logs()
    assert ctr.inspect("{{.State.ExitCode}}") == "2", logs
    assert f"$BEDROCK_LINK_CONFIG_TOML:{line}:7: dns.ttl" in logs, logs
    # Nothing else started: the one line is the error.
    assert len(logs.strip().splitlines()) == 1, logs


@pytest.mark.parametrize("mode", ["ecs-daemon", "nlb-service"])
def test_the_modules_generated_configuration_passes_config_check_in_the_image(image, module_console, mode):
    config = module_console("local.config", module_variables(mode, "vpc-0e0e0e0e"))
    check = ecs.podman("run", "--rm", "--network", "none", *ecs.ULIMITS, "--env", f"BEDROCK_LINK_CONFIG_TOML={config}",
                       image, "config", "check", check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "$BEDROCK_LINK_CONFIG_TOML: ok" in check.stdout and "169.254.169.253:53" in check.stdout
    # And the check in the image does check: a key of the wrong type is refused, by name.
    broken = config.replace("ttl = 30", "ttl = -1")
    assert broken != config
    bad = ecs.podman("run", "--rm", "--network", "none", *ecs.ULIMITS, "--env", f"BEDROCK_LINK_CONFIG_TOML={broken}",
                     image, "config", "check", check=False)
    assert bad.returncode == 2 and "dns.ttl" in bad.stderr, bad.stdout + bad.stderr
