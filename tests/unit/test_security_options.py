"""docker's seccomp profile resolution, ``--security-opt`` parsing, resource checks and ``-p`` host port 0."""

from __future__ import annotations

import os

import pytest

from engine.services.containers import check_host_config
from engine.errors import InvalidArgument
from engine.network.ports import parse_publish, plan
from engine.runtime import seccomp
from engine.runtime.spec import DOCKER_DEFAULT_CAPS, security_options

X86_64 = os.uname().machine == "x86_64"


def allowed(profile: dict) -> set[str]:
    return {n for r in profile["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args")
            for n in r["names"]}


def test_default_profile_is_dockers_allowlist() -> None:
    """The default was a denylist (allow by default) that let io_uring_setup and personality through."""
    prof = seccomp.default_profile(DOCKER_DEFAULT_CAPS)
    assert prof["defaultAction"] == "SCMP_ACT_ERRNO" and prof["defaultErrnoRet"] == 1
    names = allowed(prof)
    assert {"read", "openat", "chown", "setuid", "chroot", "bind"} <= names
    assert not {"io_uring_setup", "io_uring_enter", "mount", "unshare", "setns", "bpf", "reboot"} & names
    persona = [r["args"][0]["value"] for r in prof["syscalls"] if r["names"] == ["personality"]]
    assert sorted(persona) == [0, 8, 0x20000, 0x20008, 0xFFFFFFFF]
    assert "includes" not in str(prof) and "archMap" not in prof


@pytest.mark.skipif(not X86_64, reason="x86_64 arch conditions")
def test_arch_conditions_and_arch_map() -> None:
    prof = seccomp.default_profile(DOCKER_DEFAULT_CAPS)
    assert prof["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    names = allowed(prof)
    assert "arch_prctl" in names and "modify_ldt" in names
    assert "s390_runtime_instr" not in names and "riscv_flush_icache" not in names


def test_capability_conditions() -> None:
    """``includes.caps`` rules need every cap; ``excludes.caps`` rules go when one is held."""
    plain = seccomp.default_profile(DOCKER_DEFAULT_CAPS)
    admin = seccomp.default_profile(DOCKER_DEFAULT_CAPS + ["CAP_SYS_ADMIN"])
    assert "mount" not in allowed(plain) and "mount" in allowed(admin)
    assert "clone" not in allowed(plain) and "clone" in allowed(admin)  # plain: only without namespace flags

    def clone3_enosys(p: dict) -> bool:
        return any(r["names"] == ["clone3"] and r.get("errnoRet") == 38 for r in p["syscalls"])
    assert clone3_enosys(plain) and not clone3_enosys(admin)
    ptrace = seccomp.default_profile(DOCKER_DEFAULT_CAPS + ["CAP_SYS_PTRACE"])
    assert "kcmp" in allowed(ptrace) and "kcmp" not in allowed(plain)


def test_resolve_refuses_what_moby_refuses() -> None:
    with pytest.raises(InvalidArgument, match="both 'architectures' and 'archMap'"):
        seccomp.resolve({"architectures": ["SCMP_ARCH_X86_64"], "archMap": [{"architecture": "x"}]}, [])
    with pytest.raises(InvalidArgument, match="both 'name' and 'names'"):
        seccomp.resolve({"syscalls": [{"name": "read", "names": ["write"], "action": "SCMP_ACT_ALLOW"}]}, [])
    with pytest.raises(InvalidArgument, match="Decoding seccomp profile failed"):
        seccomp.parse("{nope", [])


def test_oci_profile_passes_through() -> None:
    prof = seccomp.parse('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "mkdir", '
                         '"action": "SCMP_ACT_ERRNO"}]}', DOCKER_DEFAULT_CAPS)
    assert prof["defaultAction"] == "SCMP_ACT_ALLOW"
    assert prof["syscalls"] == [{"action": "SCMP_ACT_ERRNO", "names": ["mkdir"]}]


def test_bpf_cache_on_disk(tmp_path, monkeypatch) -> None:
    """A fresh process finds docker's compiled filter on disk: no libseccomp work (~15 ms) per start."""
    prof = seccomp.default_profile(DOCKER_DEFAULT_CAPS)
    seccomp._compiled.clear()
    first = seccomp.compile_profile(prof, str(tmp_path))
    assert len(os.listdir(tmp_path)) == 1 and len(first) % 8 == 0
    seccomp._compiled.clear()

    def no_libseccomp(profile: dict) -> bytes:
        raise AssertionError("compiled again")
    monkeypatch.setattr(seccomp, "_export", no_libseccomp)
    assert seccomp.compile_profile(prof, str(tmp_path)) == first


def test_executor_uses_the_cache_named_in_the_spec(tmp_path, monkeypatch) -> None:
    """A restarting monitor (a fresh process) compiled docker's filter again: the spec's annotation now
    names the data root's cache, which the native executor reads."""
    from engine.runtime import native
    prof = seccomp.default_profile(DOCKER_DEFAULT_CAPS)
    seccomp._compiled.clear()
    first = seccomp.compile_profile(prof, str(tmp_path))
    seccomp._compiled.clear()

    def no_libseccomp(profile: dict) -> bytes:
        raise AssertionError("compiled again")
    monkeypatch.setattr(seccomp, "_export", no_libseccomp)
    proc = native._prepare_process({"args": ["true"]}, prof, {seccomp.CACHE_ANNOTATION: str(tmp_path)})
    assert proc["bpf"] == first


@pytest.mark.parametrize("opts,expected", [
    ([], (False, "")),
    (["no-new-privileges"], (True, "")),
    (["no-new-privileges=true"], (True, "")),
    (["no-new-privileges:false"], (False, "")),
    (["seccomp=unconfined"], (False, "unconfined")),
    (["seccomp=builtin"], (False, "")),
    (['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}', "label=disable", "apparmor=unconfined"],
     (False, '{"defaultAction":"SCMP_ACT_ALLOW"}')),
])
def test_security_options(opts: list[str], expected: tuple[bool, str]) -> None:
    assert security_options({"SecurityOpt": opts}) == expected


@pytest.mark.parametrize("opt,message", [
    ("bogus", 'invalid --security-opt 1: "bogus"'),
    ("no-new-privileges=maybe", 'invalid --security-opt 2: "no-new-privileges=maybe"'),
    ("color=blue", 'invalid --security-opt 2: "color=blue"'),
    ("apparmor=docker-default", "AppArmor is not supported"),
])
def test_security_options_refused(opt: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(")):
        security_options({"SecurityOpt": [opt]})


@pytest.mark.parametrize("host,message", [
    ({"NanoCpus": 100_000}, "Range of CPUs is from 0.01 to"),
    ({"NanoCpus": -1_000_000_000}, "Range of CPUs is from 0.01 to"),
    ({"NanoCpus": 10**12}, "Range of CPUs is from 0.01 to"),
    ({"Memory": 10**20}, "out of range"),
    ({"Memory": -5}, "Minimum memory limit allowed is 6MB"),
    ({"Memory": 1024}, "Minimum memory limit allowed is 6MB"),
    ({"Memory": 64 << 20, "MemorySwap": 32 << 20}, "larger than memory limit"),
    ({"MemorySwap": 64 << 20}, "always set the Memory limit"),
    ({"CpuShares": -2}, "CPU shares"),
    ({"CpuQuota": 10}, "CPU cfs quota"),
    ({"CpuPeriod": 10}, "CPU cfs period"),
    ({"NanoCpus": 10**9, "CpuQuota": 50000}, "Conflicting options"),
    ({"Memory": "lots"}, "not a number"),
    ({"SecurityOpt": ["seccomp={}}"]}, "Decoding seccomp profile failed"),
    ({"SecurityOpt": ['seccomp={"defaultAction":"SCMP_ACT_NOPE"}']}, "SCMP_ACT_NOPE"),
])
def test_check_host_config_refuses(host: dict, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        check_host_config(host)


def test_check_host_config_accepts() -> None:
    check_host_config({"NanoCpus": 10_000_000, "Memory": 6 << 20, "MemorySwap": -1, "CpuShares": 512,
                       "PidsLimit": -1, "SecurityOpt": ["seccomp=unconfined", "no-new-privileges"]})
    check_host_config({})


def test_publish_host_port_zero() -> None:
    """``-p 0:80`` was refused as an invalid port; docker takes 0 as "any free port"."""
    exposed, bindings = parse_publish(["0:80", "127.0.0.1:0:53/udp"])
    assert exposed == {"80/tcp": {}, "53/udp": {}}
    assert bindings == {"80/tcp": [{"HostIp": "", "HostPort": ""}],
                        "53/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}
    assert plan({"80/tcp": [{"HostIp": "", "HostPort": "0"}]})[0]["host_lo"] == 0  # an API client's "0"
    with pytest.raises(InvalidArgument):
        parse_publish(["0-5:80"])
