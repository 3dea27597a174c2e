"""Fixtures for the deploy/ tests: real Terraform with the AWS provider from the machine's
filesystem mirror, moto's server as AWS, dnsmasq as the VPC resolver, and the built binary.

Nothing here sends a packet anywhere but loopback: Terraform's version check is off
(CHECKPOINT_DISABLE), the provider's every endpoint is moto's, credentials are fake and the
instance metadata service is disabled."""

import ipaddress
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
HERE = pathlib.Path(__file__).resolve().parent
BIN = os.environ.get("BEDROCK_LINK_BIN", str(ROOT / "target" / "debug" / "bedrock-link"))
VENV = pathlib.Path(os.environ.get("BEDROCK_LINK_VENV", pathlib.Path.home() / ".cache/bedrock-link/venv"))

# Where the provider's AWS API calls go: every service the modules touch.
MOTO_SERVICES = ["applicationautoscaling", "autoscaling", "cloudwatch", "ec2", "ecs", "elbv2", "iam", "kms", "logs", "route53", "ssm", "sts"]

SAFE_ENV = {
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_REGION": "ap-southeast-2",
    "CHECKPOINT_DISABLE": "1",
    "TF_IN_AUTOMATION": "1",
    "TF_INPUT": "0",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- Terraform ------------------------------------------------------------------------------


def find_mirror() -> pathlib.Path:
    """The directory holding registry.terraform.io/hashicorp/aws/<version>/<platform>/, found
    at run time (BEDROCK_LINK_TF_MIRROR overrides the search)."""
    given = os.environ.get("BEDROCK_LINK_TF_MIRROR")
    if given:
        root = pathlib.Path(given)
        if not (root / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
            pytest.fail(f"BEDROCK_LINK_TF_MIRROR={given} holds no registry.terraform.io/hashicorp/aws")
        return root
    home = pathlib.Path.home()
    prune = ["/proc", "/sys", "/dev", str(ROOT), str(home / ".cache"), str(home / ".cargo"), str(home / ".rustup")]
    expr = []
    for p in prune:
        expr += ["-path", p, "-o"]
    cmd = ["find", "/", "-xdev", "(", *expr[:-1], ")", "-prune", "-o", "-name", "terraform-provider-aws_*", "-print", "-quit"]
    found = subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
    if not found:
        pytest.fail(
            "No Terraform filesystem mirror of hashicorp/aws on this machine "
            "(searched / for terraform-provider-aws_*). Set BEDROCK_LINK_TF_MIRROR to the "
            "directory that holds registry.terraform.io/."
        )
    # <root>/registry.terraform.io/hashicorp/aws/<version>/<platform>/terraform-provider-aws_*
    for parent in pathlib.Path(found).parents:
        if (parent / "registry.terraform.io").is_dir():
            return parent
    pytest.fail(f"{found} is not laid out as a filesystem mirror (no registry.terraform.io above it)")


class Terraform:
    """Runs terraform with the mirror as its only provider source."""

    def __init__(self, workdir: pathlib.Path):
        exe = shutil.which("terraform")
        if not exe:
            pytest.fail("terraform is not on the PATH (this kind of machine carries Terraform 1.11)")
        self.exe = exe
        mirror = find_mirror()
        self.mirror = mirror
        config = workdir / "terraform.rc"
        config.write_text(
            "provider_installation {\n"
            f"  filesystem_mirror {{\n    path    = {json.dumps(str(mirror))}\n"
            '    include = ["registry.terraform.io/hashicorp/*"]\n  }\n}\n'
        )
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/root"),
            "TF_CLI_CONFIG_FILE": str(config),
            "TF_CLI_ARGS": "-no-color",
            **SAFE_ENV,
        }

    def __call__(self, cwd, *args, check=True, timeout=900):
        started = time.monotonic()
        out = subprocess.run([self.exe, *args], cwd=cwd, capture_output=True, text=True,
                             timeout=timeout, env=self.env)
        log_dir = os.environ.get("BEDROCK_LINK_TF_LOG_DIR")
        if log_dir:
            with open(pathlib.Path(log_dir) / "terraform.log", "a") as log:
                log.write(f"### {time.monotonic() - started:.1f}s terraform {' '.join(args)} in {cwd}\n{out.stdout}{out.stderr}\n")
        if check and out.returncode != 0:
            raise AssertionError(f"terraform {' '.join(args)} in {cwd} exited {out.returncode}:\n{out.stdout[-6000:]}\n{out.stderr[-6000:]}")
        return out

    def init(self, cwd):
        return self(cwd, "init", "-input=false")

    def outputs(self, cwd) -> dict:
        out = self(cwd, "output", "-json")
        return {k: v["value"] for k, v in json.loads(out.stdout).items()}


@pytest.fixture(scope="session")
def terraform(tmp_path_factory):
    return Terraform(tmp_path_factory.mktemp("terraform"))


@pytest.fixture()
def deploy_copy(tmp_path):
    """A copy of deploy/ to work in: Terraform's .terraform/, state and overrides never land
    in the repository, and the modules' relative paths (../../iam/...) still resolve."""
    dest = tmp_path / "deploy"
    shutil.copytree(DEPLOY, dest, ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*"))
    return dest


# --- moto -----------------------------------------------------------------------------------


class Moto:
    """moto's server (tests/iac/moto_server.py) on a loopback port."""

    def __init__(self):
        python = VENV / "bin" / "python"
        if not python.is_file():
            pytest.fail(f"{python} is missing: run tests/run-all.sh, which installs moto[server]")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / f"bedrock-link-tf-moto-{self.port}"
        self.workdir.mkdir(exist_ok=True)
        env = {
            **os.environ, **SAFE_ENV,
            # AWS-managed policies (AmazonECSTaskExecutionRolePolicy...) exist in every account.
            "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
            # moto runs no containers; a service reports this many running tasks, so that
            # `wait_for_steady_state` sees what a healthy deployment would show.
            "MOTO_ECS_SERVICE_RUNNING": "2",
        }
        self.proc = subprocess.Popen(
            [str(python), str(HERE / "moto_server.py"), "-H", "127.0.0.1", "-p", str(self.port)],
            cwd=self.workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2).read()
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    self.stop()
                    pytest.fail("moto's server did not start")
                time.sleep(0.2)

    def reset(self):
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"), timeout=10).read()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def provider_override(self, aliases) -> str:
        """A Terraform override file that points each named provider at this server."""
        endpoints = "\n".join(f'    {s} = "{self.url}"' for s in MOTO_SERVICES)
        blocks = []
        for alias in aliases:
            alias_line = f'  alias = "{alias}"\n' if alias else ""
            blocks.append(
                'provider "aws" {\n' + alias_line +
                '  access_key                  = "test"\n'
                '  secret_key                  = "test"\n'
                "  skip_credentials_validation = true\n"
                "  skip_requesting_account_id  = true\n"
                "  skip_metadata_api_check     = true\n"
                "  skip_region_validation      = true\n"
                f"  endpoints {{\n{endpoints}\n  }}\n"
                "}\n"
            )
        return "# Test-only: every AWS call goes to moto on loopback.\n" + "\n".join(blocks)

    # The EC2 and Route 53 APIs, asked directly (not through Terraform or the binary), so
    # that what was created is checked against moto's own record of it.
    def ec2(self, region: str, action: str, account: str | None = None, **params) -> ET.Element:
        """`account`: ask as that account (moto's x-moto-account-id) instead of the test key's."""
        body = urllib.parse.urlencode({"Action": action, "Version": "2016-11-15", **params}).encode()
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": f"AWS4-HMAC-SHA256 Credential=test/20260101/{region}/ec2/aws4_request, SignedHeaders=host, Signature=0",
        }
        if account:
            headers["x-moto-account-id"] = account
        req = urllib.request.Request(self.url + "/", data=body, headers=headers)
        return strip_ns(ET.fromstring(urllib.request.urlopen(req, timeout=30).read()))

    def cloudwatch(self, region: str, action: str, **params) -> ET.Element:
        body = urllib.parse.urlencode({"Action": action, "Version": "2010-08-01", **params}).encode()
        req = urllib.request.Request(self.url + "/", data=body, headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": f"AWS4-HMAC-SHA256 Credential=test/20260101/{region}/monitoring/aws4_request, SignedHeaders=host, Signature=0",
        })
        return strip_ns(ET.fromstring(urllib.request.urlopen(req, timeout=30).read()))

    def autoscaling_targets(self, region: str, namespace: str) -> dict:
        """Application Auto Scaling's DescribeScalableTargets (a JSON API)."""
        req = urllib.request.Request(self.url + "/", data=json.dumps({"ServiceNamespace": namespace}).encode(), headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "AnyScaleFrontendService.DescribeScalableTargets",
            "Authorization": f"AWS4-HMAC-SHA256 Credential=test/20260101/{region}/application-autoscaling/aws4_request, SignedHeaders=host, Signature=0",
        })
        return json.loads(urllib.request.urlopen(req, timeout=30).read())

    def route53(self, path: str) -> ET.Element:
        req = urllib.request.Request(self.url + "/2013-04-01/" + path, headers={
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/route53/aws4_request, SignedHeaders=host, Signature=0",
        })
        return strip_ns(ET.fromstring(urllib.request.urlopen(req, timeout=30).read()))


def strip_ns(root: ET.Element) -> ET.Element:
    for el in root.iter():
        el.tag = el.tag.split("}", 1)[-1]
    return root


@pytest.fixture(scope="session")
def moto_server():
    server = Moto()
    yield server
    server.stop()


@pytest.fixture()
def moto(moto_server):
    moto_server.reset()
    return moto_server


# --- dnsmasq and the binary -----------------------------------------------------------------


class Process:
    def __init__(self, args, log, stdout=None):
        self.log = log
        out = open(stdout, "w") if stdout else subprocess.DEVNULL
        self.proc = subprocess.Popen(args, stdout=out, stderr=open(log, "w"), env={
            "PATH": os.environ.get("PATH", ""), **SAFE_ENV,
        })

    def stop(self, sig=signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


@pytest.fixture()
def dnsmasq(tmp_path):
    """dnsmasq on loopback, standing in for the VPC resolver: answers forwarded.test only."""
    exe = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    port = free_port()
    proc = Process([exe, "--keep-in-foreground", "--no-resolv", "--no-hosts", "--bind-interfaces",
                    "--listen-address=127.0.0.1", f"--port={port}", "--address=/forwarded.test/192.0.2.7",
                    "--pid-file=", "--conf-file=/dev/null"], tmp_path / "dnsmasq.log")
    yield port
    proc.stop()


def binary(*args, timeout=60):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout, env={
        "PATH": os.environ.get("PATH", ""), **SAFE_ENV,
    })


def dig(port, name, rtype="A", *extra):
    out = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+time=2", "+tries=2", "+short", *extra, name, rtype],
                         capture_output=True, text=True, timeout=30)
    return sorted(out.stdout.split(), key=address_key)


def address_key(value):
    """Addresses in numeric order (anything else after them, as text)."""
    try:
        return (0, ipaddress.ip_address(value), "")
    except ValueError:
        return (1, None, value)
