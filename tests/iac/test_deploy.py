"""Contract tests of deploy/ that Terraform itself cannot make: checkov finds nothing, the
module READMEs' tables match the variables, every variable and output is typed and
described, and the modules, the ECS task definitions, the Dockerfile and the systemd unit
agree with the binary (ports, health path, configuration keys, default services).
test_terraform.py runs Terraform for real: fmt, validate, module tests, applies to moto.

Run by tests/run-all.sh with BEDROCK_LINK_BIN set to the built binary."""

import fnmatch
import json
import os
import pathlib
import re
import shlex
import subprocess
import sys

import hcl2
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
MODULES = DEPLOY / "terraform" / "modules"
BIN = os.environ.get("BEDROCK_LINK_BIN", str(ROOT / "target" / "debug" / "bedrock-link"))
CHECKOV = os.environ.get("CHECKOV", "checkov")
TF_FILES = sorted(DEPLOY.rglob("*.tf"))

sys.path.insert(0, str(DEPLOY / "terraform"))
gen_docs = __import__("gen-docs")
unquote = gen_docs.unquote


def binary(*args, **kw):
    env = {"PATH": os.environ.get("PATH", ""), "AWS_EC2_METADATA_DISABLED": "true", **kw.pop("env", {})}
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=60, env=env, **kw)


def blocks(path, kind):
    """{name: spec} of the `kind` blocks (resource/data/variable/...) of a .tf file."""
    out = {}
    for block in hcl2.load(open(path)).get(kind, []):
        out.update(unquote(block))
    return out


def test_there_is_terraform_to_check():
    assert len(TF_FILES) >= 20, TF_FILES


def test_checkov_finds_nothing_and_every_skip_says_why():
    out = subprocess.run(
        [CHECKOV, "-d", str(DEPLOY), "--quiet", "--compact", "-o", "json"],
        capture_output=True, text=True, timeout=900,
    )
    reports = json.loads(out.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [c for r in reports for c in r["results"]["failed_checks"]]
    assert not failed, [(c["check_id"], c["file_path"], c["resource"]) for c in failed]
    frameworks = {r["check_type"] for r in reports}
    assert {"terraform", "dockerfile"} <= frameworks, frameworks
    for path in list(TF_FILES) + [DEPLOY / "docker" / "Dockerfile"]:
        for line in path.read_text().splitlines():
            if "checkov:skip" in line:
                assert re.search(r"checkov:skip=CKV2?_[A-Z0-9_]+:\S.{30,}", line), f"{path}: a skip needs a reason: {line}"


def test_readme_tables_match_the_variables():
    for module in [*MODULES.iterdir(), *MODULES.glob("*/modules/*")]:
        readme = module / "README.md"
        assert gen_docs.render(readme, module) == readme.read_text(), f"{readme}: run deploy/terraform/gen-docs.py"


def test_every_variable_is_typed_and_described():
    for path in (DEPLOY / "terraform").rglob("variables.tf"):
        for name, spec in blocks(path, "variable").items():
            assert spec.get("description"), f"{path}: {name} has no description"
            assert spec.get("type"), f"{path}: {name} has no type"
    for path in (DEPLOY / "terraform").rglob("outputs.tf"):
        for name, spec in blocks(path, "output").items():
            assert spec.get("description"), f"{path}: output {name} has no description"


def test_config_in_the_environment_is_read_and_checked():
    # The resolver module hands the whole configuration over in BEDROCK_LINK_CONFIG_TOML
    # (test_terraform.py checks the text Terraform generates); a bad one names the variable.
    env_check = binary("dns", "serve", "--admin", "127.0.0.1:0", "--listen", "127.0.0.1:1",
                       env={"BEDROCK_LINK_CONFIG_TOML": "[dns]\nttl = \"x\"\n"})
    assert env_check.returncode == 2 and "$BEDROCK_LINK_CONFIG_TOML" in env_check.stderr


def test_module_ports_health_path_and_env_match_the_binary():
    main = (MODULES / "resolver" / "main.tf").read_text()
    nlb = (MODULES / "resolver" / "nlb.tf").read_text()
    assert '{ name = "BEDROCK_LINK_CONFIG_TOML", value = local.config }' in main
    assert "BEDROCK_LINK_CONFIG_TOML" in binary("dns", "serve", "--help").stdout
    assert '{ name = "BEDROCK_LINK_APP_REGION", value = var.region }' in main
    assert "BEDROCK_LINK_APP_REGION" in binary("doctor", "--help").stdout
    assert "BEDROCK_LINK_APP_REGION" in binary("discover", "--help").stdout
    assert '"healthcheck", "--url", "http://127.0.0.1:${var.admin_port}/readyz"' in main
    assert 'path                = "/readyz"' in nlb and 'port                = tostring(var.admin_port)' in nlb
    assert "http://127.0.0.1:9153/readyz" in binary("healthcheck", "--help").stdout
    assert blocks(MODULES / "resolver" / "variables.tf", "variable")["admin_port"]["default"] == 9153
    assert 'port                 = 53' in nlb and 'protocol             = "TCP_UDP"' in nlb
    assert 'container_port   = 53' in nlb


def test_default_services_match_the_resolvers_default_pattern(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[[source]]\nregion = "ap-southeast-2"\nvpc_id = "vpc-1"\n')
    out = binary("config", "check", str(path))
    assert out.returncode == 0, out.stderr
    patterns = re.search(r"services=(\S+)", out.stdout).group(1).split(",")
    services = blocks(MODULES / "interconnect" / "variables.tf", "variable")["services"]["default"]
    assert sorted(services) == ["bedrock", "bedrock-agent", "bedrock-agent-runtime", "bedrock-runtime"]
    for name in services:
        assert any(fnmatch.fnmatchcase(name, p) for p in patterns), (name, patterns)
    variables = blocks(MODULES / "resolver" / "variables.tf", "variable")
    assert '["bedrock*"]' in variables["sources"]["type"], "the module's default patterns are the binary's"


@pytest.mark.parametrize("name", ["daemon-task-definition.json", "sidecar-task-definition.json"])
def test_ecs_task_definitions(tmp_path, name):
    task = json.loads((DEPLOY / "ecs" / name).read_text())
    resolver = next(c for c in task["containerDefinitions"] if c["name"] == "bedrock-link")
    daemon = json.loads((DEPLOY / "ecs" / "daemon-task-definition.json").read_text())
    assert resolver["image"] == daemon["containerDefinitions"][0]["image"], "one image for both"
    assert resolver["command"] == ["dns", "serve"]
    assert resolver["healthCheck"]["command"][1:] == ["/usr/local/bin/bedrock-link", "healthcheck", "--url", "http://127.0.0.1:9153/readyz"]
    env = {e["name"]: e["value"] for e in resolver["environment"]}
    path = tmp_path / "c.toml"
    path.write_text(env["BEDROCK_LINK_CONFIG_TOML"])
    out = binary("config", "check", str(path))
    assert out.returncode == 0, out.stderr
    assert "169.254.169.253:53" in out.stdout
    assert "admin:          127.0.0.1:9153" in out.stdout
    if name.startswith("daemon"):
        assert task["networkMode"] == "host"
        ports = {(p["containerPort"], p["protocol"]) for p in resolver["portMappings"]}
        assert ports == {(53, "udp"), (53, "tcp")}
    else:
        app = next(c for c in task["containerDefinitions"] if c["name"] != "bedrock-link")
        assert app["dnsServers"] == ["127.0.0.1"] and "listen:         127.0.0.1:53" in out.stdout
        assert {"containerName": "bedrock-link", "condition": "HEALTHY"} in app["dependsOn"]


def test_dockerfile_runs_the_binary_as_non_root_with_bind_capability():
    text = (DEPLOY / "docker" / "Dockerfile").read_text()
    assert "setcap cap_net_bind_service=+ep" in text
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and not user[-1].startswith("0") and user[-1] != "root"
    assert 'ENTRYPOINT ["/usr/local/bin/bedrock-link"]' in text
    health = re.search(r'CMD \["/usr/local/bin/bedrock-link", (.*)\]', text).group(1)
    args = json.loads(f"[{health}]")
    assert args == ["healthcheck", "--url", "http://127.0.0.1:9153/readyz"]
    assert binary(*args[:1], "--help").returncode == 0


def cargo_metadata(*extra):
    out = subprocess.run(["cargo", "metadata", "--format-version", "1", "--locked", *extra], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def dockerignored(path: str, patterns: list) -> bool:
    """Whether .dockerignore keeps `path` (relative, /-separated) out of the build context:
    the last pattern that matches the path or a folder above it decides; `!` re-includes."""
    prefixes = ["/".join(path.split("/")[:i]) for i in range(1, path.count("/") + 2)]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.lstrip("!").rstrip("/")
        if any(fnmatch.fnmatchcase(p, glob) for p in prefixes):
            ignored = not negated
    return ignored


def test_the_image_build_context_holds_every_target_the_manifest_names():
    # cargo refuses a manifest whose declared targets are missing, even to build one binary:
    # each must be copied by the recipe and not left out of the context.
    text = (DEPLOY / "docker" / "Dockerfile").read_text()
    copied = [c for line in text.splitlines() if line.startswith("COPY ") and "--from" not in line
              for c in line.split()[1:-1]]
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    package = next(p for p in cargo_metadata("--no-deps")["packages"] if p["name"] == "bedrock-link")
    paths = [str(pathlib.Path(t["src_path"]).relative_to(ROOT)) for t in package["targets"]]
    assert {"tests/it/main.rs", "benches/hot_paths.rs", "src/main.rs"} <= set(paths), paths
    for path in paths + ["Cargo.toml", "Cargo.lock", "config/demo.toml"]:
        assert any(path == c or path.startswith(c.rstrip("/") + "/") for c in copied), f"{path} is not copied: {copied}"
        assert not dockerignored(path, patterns), f"{path} is left out of the context by .dockerignore"
    assert dockerignored("target/release/bedrock-link", patterns) and dockerignored(".git/HEAD", patterns)


def test_the_builder_image_is_new_enough_for_every_locked_dependency():
    builder = re.search(r"^ARG RUST_IMAGE=rust:(\d+)\.(\d+)", (DEPLOY / "docker" / "Dockerfile").read_text(), re.M)
    assert builder, "the builder is rust:<major>.<minor>-..."
    have = (int(builder.group(1)), int(builder.group(2)))
    needed = max(
        (tuple(int(x) for x in p["rust_version"].split(".")[:2]), p["name"])
        for p in cargo_metadata()["packages"] if p.get("rust_version")
    )
    assert have >= needed[0], f"rust:{have[0]}.{have[1]} cannot build {needed[1]} (rust-version {needed[0]})"


def test_systemd_unit_is_hardened_and_its_command_is_valid():
    unit = (DEPLOY / "systemd" / "bedrock-link.service").read_text()
    settings = {}
    for line in unit.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    assert settings["DynamicUser"] == ["yes"]
    assert settings["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]
    assert settings["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"]
    assert settings["NoNewPrivileges"] == ["yes"] and settings["ProtectSystem"] == ["strict"]
    assert settings["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert settings["Restart"] == ["on-failure"]
    command = shlex.split(settings["ExecStart"][0])
    assert command[0] == "/usr/local/bin/bedrock-link"
    # The same arguments are accepted by the binary (with --help, so nothing starts).
    out = binary(*command[1:], "--help")
    assert out.returncode == 0, out.stderr
