"""Runs a container the way ECS runs a container definition, with podman: the definition's
user, command, environment, read-only root, init process, capabilities, health check and stop
timeout become podman's flags, with ECS's meaning (capabilities start from Docker's default
set, as on ECS; drop, then add). Nothing is restated by the tests: they hand over the
definition they read (deploy/ecs/*.json, or the resolver module's own).

What a test must change for this machine it passes on top, and says so: the network (a
namespace of the test's own, standing in for the host or the task's awsvpc interface) and the
environment that ECS would provide (credentials, here fake ones, and the EC2 endpoint).

podman needs, on this kind of machine: runc with cgroupfs (crun refuses the hybrid cgroup
layout) and ulimits within the machine's hard limits (no CAP_SYS_RESOURCE here)."""

import json
import subprocess
import tomllib

PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager=cgroupfs"]
ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]

# Docker's default capabilities (moby's oci/caps/defaults.go), where ECS starts from.
DOCKER_DEFAULT_CAPS = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
    "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}
# ECS's default stop timeout, when the definition gives none.
ECS_STOP_TIMEOUT = 30


def podman(*args, check=True, timeout=120, **kw):
    out = subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout, **kw)
    if check and out.returncode != 0:
        raise AssertionError(f"podman {' '.join(args[:3])} ... exited {out.returncode}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


def capabilities(container: dict) -> set:
    """The capability set ECS gives the container (KernelCapabilities: drop, then add)."""
    caps = container.get("linuxParameters", {}).get("capabilities", {})
    drop, add = set(caps.get("drop", [])), set(caps.get("add", []))
    if "ALL" in add:
        raise NotImplementedError("add = ALL")
    base = set() if "ALL" in drop else DOCKER_DEFAULT_CAPS - drop
    return base | add


def health_cmd(command: list) -> str:
    """ECS's ["CMD", exe, args...] or ["CMD-SHELL", text] as podman's --health-cmd: a JSON
    array without the CMD (podman 4.3 prepends it itself, and would otherwise exec a program
    named '["CMD",...'), or the shell text."""
    kind, rest = command[0], command[1:]
    if kind == "CMD":
        return json.dumps(rest)
    if kind == "CMD-SHELL":
        return rest[0]
    raise ValueError(f"healthCheck.command must start with CMD or CMD-SHELL: {command}")


def podman_default_caps() -> set:
    """containers.conf's default_capabilities (the machine's file overriding the package's)."""
    caps = None
    for path in ("/usr/share/containers/containers.conf", "/etc/containers/containers.conf"):
        try:
            with open(path, "rb") as f:
                caps = tomllib.load(f).get("containers", {}).get("default_capabilities", caps)
        except FileNotFoundError:
            pass
    if caps is None:
        raise AssertionError("no default_capabilities in containers.conf")
    return {c.removeprefix("CAP_") for c in caps}


def stop_timeout(container: dict) -> int:
    return container.get("stopTimeout", ECS_STOP_TIMEOUT)


def run_args(container: dict, *, name: str, network: str, extra_env: dict, image: str) -> list:
    """`podman run -d` arguments for `container` (an ECS container definition)."""
    args = ["run", "-d", "--name", name, "--network", network, *ULIMITS]
    # The set is reached by dropping from podman's default set, not by --cap-add: podman puts an
    # added capability in a non-root process's ambient set, so the process would hold it with
    # no file capability, which Docker (ECS's runtime) never does. (A capability outside
    # podman's default set must still be added; none of ours is.)
    wanted, default = capabilities(container), podman_default_caps()
    for cap in sorted(default - wanted):
        args += ["--cap-drop", cap]
    for cap in sorted(wanted - default):
        args += ["--cap-add", cap]
    if "user" in container:
        args += ["--user", container["user"]]
    if container.get("readonlyRootFilesystem"):
        # Read-only as on ECS: no tmpfs on /tmp, /run and /var/tmp (podman adds them otherwise).
        args += ["--read-only", "--read-only-tmpfs=false"]
    if container.get("linuxParameters", {}).get("initProcessEnabled"):
        args += ["--init"]
    for env in container.get("environment", []):
        args += ["--env", f"{env['name']}={env['value']}"]
    for key, value in extra_env.items():
        args += ["--env", f"{key}={value}"]
    health = container.get("healthCheck")
    if health:
        # ECS runs only the definition's health check (it ignores the image's HEALTHCHECK).
        args += ["--health-cmd", health_cmd(health["command"]),
                 "--health-interval", f"{health.get('interval', 30)}s",
                 "--health-timeout", f"{health.get('timeout', 5)}s",
                 "--health-retries", str(health.get("retries", 3)),
                 "--health-start-period", f"{health.get('startPeriod', 0)}s"]
    args += ["--stop-timeout", str(stop_timeout(container))]
    if "entryPoint" in container:
        args += ["--entrypoint", json.dumps(container["entryPoint"])]
    return [*args, image, *container.get("command", [])]
