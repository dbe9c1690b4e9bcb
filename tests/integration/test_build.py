"""Integration tests for Dockerfile builds: ``portside build`` through the CLI, checked by running the
built images and reading ``image inspect``.

Needs root (RUN steps are real containers over overlayfs). Fixtures ``root``, ``cli``, ``busybox_tar``
and ``imported`` come from ``conftest.py``.
"""

from __future__ import annotations

import functools
import http.server
import io
import json
import os
import re
import shutil
import tarfile
import threading
from collections.abc import Callable, Iterator
from subprocess import CompletedProcess
from typing import Any

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

Cli = Callable[..., CompletedProcess[str]]


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def write(ctx: str, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = os.path.join(ctx, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        mode = "wb" if isinstance(content, bytes) else "w"
        with open(path, mode) as f:
            f.write(content)


def build(cli: Cli, ctx: str, dockerfile: str | None = None, *args: str, ok: bool = True) -> CompletedProcess[str]:
    if dockerfile is not None:
        write(ctx, {"Dockerfile": dockerfile})
    proc = cli("build", *args, ctx)
    if ok:
        assert proc.returncode == 0, f"build failed:\nSTDOUT:\n{proc.stdout}\nSTDERR:\n{proc.stderr}"
    return proc


def built_id(proc: CompletedProcess[str]) -> str:
    m = re.findall(r"^Successfully built ([0-9a-f]{12})$", proc.stdout, re.M)
    assert m, proc.stdout
    return m[-1]


def inspect(cli: Cli, image: str) -> dict[str, Any]:
    proc = cli("image", "inspect", image)
    assert proc.returncode == 0, proc.stderr
    docs = json.loads(proc.stdout)
    assert len(docs) == 1
    return docs[0]


def config(cli: Cli, image: str) -> dict[str, Any]:
    return inspect(cli, image)["Config"]


def run(cli: Cli, image: str, *cmd: str, ok: bool = True, flags: tuple[str, ...] = ()) -> CompletedProcess[str]:
    proc = cli("run", "--rm", *flags, image, *cmd)
    if ok:
        assert proc.returncode == 0, f"run failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


def out(cli: Cli, image: str, *cmd: str, flags: tuple[str, ...] = ()) -> str:
    return run(cli, image, *cmd, flags=flags).stdout.strip()


def steps(proc: CompletedProcess[str]) -> list[tuple[str, bool]]:
    """(instruction, cached?) for every step of a build's output."""
    result: list[tuple[str, bool]] = []
    for line in proc.stdout.splitlines():
        m = re.match(r"^Step \d+/\d+ : (.*)$", line)
        if m:
            result.append((m.group(1), False))
        elif "Using cache" in line or "CACHED" in line:
            assert result
            result[-1] = (result[-1][0], True)
    return result


def mounts_under(path: str) -> list[str]:
    path = os.path.realpath(path)
    with open("/proc/mounts") as f:
        mps = [line.split()[1].replace("\\040", " ") for line in f]
    return [m for m in mps if m == path or m.startswith(path + "/")]


@pytest.fixture
def ctx(tmp_path: Any) -> str:
    path = tmp_path / "ctx"
    path.mkdir()
    return str(path)


@pytest.fixture
def bb(imported: str) -> str:
    """The busybox image, imported as ``busybox``."""
    return imported


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass


@pytest.fixture
def http_dir(tmp_path: Any) -> Iterator[tuple[str, str]]:
    """A directory served by http.server on 127.0.0.1: yields (dir, base url)."""
    served = tmp_path / "served"
    served.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(_QuietHandler, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield str(served), f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


# ---------------------------------------------------------------------------------------------
# FROM
# ---------------------------------------------------------------------------------------------
def test_from_image_run_changes_visible_and_cmd(cli: Cli, ctx: str, bb: str) -> None:
    build(cli, ctx, "FROM busybox\nRUN echo hi > /x\nRUN cat /x > /y && echo more >> /y\nCMD [\"cat\", \"/y\"]\n",
          "-t", "img")
    assert run(cli, "img").stdout == "hi\nmore\n"
    layers = inspect(cli, "img")["RootFS"]["Layers"]
    base_layers = inspect(cli, "busybox")["RootFS"]["Layers"]
    assert layers[:len(base_layers)] == base_layers and len(layers) == len(base_layers) + 2


def test_from_scratch_with_a_static_binary(cli: Cli, ctx: str, root: str) -> None:
    shutil.copy2("/bin/busybox", os.path.join(ctx, "busybox"))
    build(cli, ctx, 'FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT ["/bin/busybox", "echo"]\n'
          'CMD ["from-scratch"]\n', "-t", "tiny")
    assert out(cli, "tiny") == "from-scratch"
    info = inspect(cli, "tiny")
    assert len(info["RootFS"]["Layers"]) == 1
    # nothing but the binary: no /bin/sh in the image
    proc = cli("run", "--rm", "--entrypoint", "/bin/busybox", "tiny", "ls", "/bin")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["busybox"]


def test_from_stage_name_and_arg_before_from(cli: Cli, ctx: str, bb: str) -> None:
    df = ("ARG BASE=localhost:9/nosuchimage\nARG GLOBAL=g1\n"
          "FROM ${BASE} AS Builder\nRUN echo built > /artifact\n"
          "FROM builder\nARG GLOBAL\nRUN echo \"global=$GLOBAL base=${BASE:-unset}\" > /info\n"
          'CMD ["cat", "/artifact", "/info"]\n')
    proc = build(cli, ctx, df, ok=False)
    assert proc.returncode != 0 and "nosuchimage" in proc.stderr
    build(cli, ctx, None, "--build-arg", "BASE=busybox", "-t", "staged")
    assert run(cli, "staged").stdout == "built\nglobal=g1 base=unset\n"
    write(ctx, {"Dockerfile": df.replace("localhost:9/nosuchimage", "busybox")})
    build(cli, ctx, None, "--build-arg", "GLOBAL=g2", "-t", "staged2")
    assert run(cli, "staged2").stdout == "built\nglobal=g2 base=unset\n"


# ---------------------------------------------------------------------------------------------
# WORKDIR, ADD, COPY
# ---------------------------------------------------------------------------------------------
def test_workdir_relative_after_absolute(cli: Cli, ctx: str, bb: str) -> None:
    write(ctx, {"f.txt": "F\n"})
    build(cli, ctx, "FROM busybox\nWORKDIR /a\nWORKDIR b\nENV SUB=c\nWORKDIR $SUB\nRUN pwd > here\n"
          "COPY f.txt .\nCMD [\"pwd\"]\n", "-t", "wd")
    assert config(cli, "wd")["WorkingDir"] == "/a/b/c"
    assert out(cli, "wd") == "/a/b/c"
    assert out(cli, "wd", "cat", "/a/b/c/here", "/a/b/c/f.txt") == "/a/b/c\nF"


def _targz(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, content in files.items():
            data = content.encode()
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o640
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def test_add_file_dir_glob_and_tarball(cli: Cli, ctx: str, bb: str) -> None:
    write(ctx, {"one.txt": "one\n", "dir/a.txt": "A\n", "dir/sub/b.txt": "B\n", "x.cfg": "X\n", "y.cfg": "Y\n",
                "z.txt": "Z\n", "arch.tar.gz": _targz({"inner/f.txt": "from-tar\n", "top.txt": "top\n"})})
    build(cli, ctx, "FROM busybox\nADD one.txt /files/\nADD one.txt /renamed.txt\nADD dir /d\nADD *.cfg /cfgs/\n"
          "ADD arch.tar.gz /x/\n", "-t", "added")
    assert out(cli, "added", "cat", "/files/one.txt", "/renamed.txt") == "one\none"
    listing = out(cli, "added", "find", "/d", "/cfgs", "/x").split()
    assert sorted(listing) == sorted(["/d", "/d/a.txt", "/d/sub", "/d/sub/b.txt", "/cfgs", "/cfgs/x.cfg",
                                      "/cfgs/y.cfg", "/x", "/x/inner", "/x/inner/f.txt", "/x/top.txt"])
    assert out(cli, "added", "cat", "/x/inner/f.txt", "/d/sub/b.txt") == "from-tar\nB"
    assert out(cli, "added", "stat", "-c", "%a", "/x/top.txt") == "640"


def test_add_url(cli: Cli, ctx: str, bb: str, http_dir: tuple[str, str]) -> None:
    served, base = http_dir
    write(served, {"remote.txt": "remote content\n"})
    build(cli, ctx, f"FROM busybox\nADD {base}/remote.txt /r.txt\nADD {base}/remote.txt /dl/\n", "-t", "url")
    assert out(cli, "url", "cat", "/r.txt", "/dl/remote.txt") == "remote content\nremote content"
    # docker gives downloaded files mode 600
    assert out(cli, "url", "stat", "-c", "%a", "/r.txt") == "600"
    # COPY does not download: a URL is a (missing) path in the context
    proc = build(cli, ctx, f"FROM busybox\nCOPY {base}/remote.txt /r.txt\n", ok=False)
    assert proc.returncode != 0


def test_copy_from_stage_image_and_chown(cli: Cli, ctx: str, bb: str) -> None:
    write(ctx, {"owned.txt": "o\n", "d/inner.txt": "i\n"})
    build(cli, ctx, "FROM busybox\nRUN echo other > /other.txt\n", "-t", "other:1")
    df = ("FROM busybox AS first\nRUN mkdir -p /out && echo artifact > /out/art.txt\n"
          "FROM busybox\n"
          "COPY --from=first /out/art.txt /art.txt\n"
          "COPY --from=0 /out /outdir\n"
          "COPY --from=other:1 /other.txt /other.txt\n"
          "COPY --chown=1000:1000 owned.txt /num.txt\n"
          "COPY --chown=app d /named\n"
          "COPY --chown=app:nogroup owned.txt /ng.txt\n"
          "COPY --chmod=0640 owned.txt /mode.txt\n")
    build(cli, ctx, df, "-t", "copied")
    assert out(cli, "copied", "cat", "/art.txt", "/outdir/art.txt", "/other.txt") == "artifact\nartifact\nother"
    owners = out(cli, "copied", "stat", "-c", "%n %u:%g", "/num.txt", "/named", "/named/inner.txt", "/ng.txt",
                 "/art.txt")
    assert owners.splitlines() == ["/num.txt 1000:1000", "/named 1000:1000", "/named/inner.txt 1000:1000",
                                   "/ng.txt 1000:65534", "/art.txt 0:0"]
    assert out(cli, "copied", "stat", "-c", "%a %u", "/mode.txt") == "640 0"


# ---------------------------------------------------------------------------------------------
# RUN
# ---------------------------------------------------------------------------------------------
def test_run_shell_and_exec_form_and_whiteouts(cli: Cli, ctx: str, bb: str) -> None:
    df = ("FROM busybox\n"
          "RUN echo shell > /s.txt && echo $0 > /zero.txt\n"
          'RUN ["/bin/sh", "-c", "echo exec > /e.txt; echo $HOME > /home.txt"]\n'
          'RUN ["touch", "/touched"]\n'
          "RUN rm /etc/group && rm -rf /home && mkdir /home && touch /home/new\n"
          "RUN test ! -e /etc/group && test ! -e /home/app && test -e /home/new && test -e /touched\n")
    build(cli, ctx, df, "-t", "ran")
    assert out(cli, "ran", "cat", "/s.txt", "/zero.txt", "/e.txt") == "shell\n/bin/sh\nexec"
    assert run(cli, "ran", "ls", "/etc/group", ok=False).returncode != 0
    assert out(cli, "ran", "ls", "-A", "/home") == "new"
    assert out(cli, "ran", "cat", "/etc/passwd").startswith("root:")


# ---------------------------------------------------------------------------------------------
# metadata instructions
# ---------------------------------------------------------------------------------------------
def test_expose_env_label_volume_healthcheck_stopsignal(cli: Cli, ctx: str, bb: str) -> None:
    df = ("FROM busybox\n"
          "EXPOSE 80 443/udp 8000-8002/tcp\n"
          "ENV A=1\n"
          'ENV A=2 B="two words" C=$A\n'
          "ENV LEGACY legacy value here\n"
          'LABEL org.example.name="the app" version=1.0\nLABEL extra=$A\n'
          'VOLUME ["/data", "/logs"]\nVOLUME /cache /tmp/x\n'
          "HEALTHCHECK --interval=5s --timeout=3s --start-period=1m --retries=4 CMD wget -q localhost || exit 1\n"
          "STOPSIGNAL SIGUSR1\n"
          'RUN echo "$A|$B|$C|$LEGACY" > /envs\n')
    build(cli, ctx, df, "-t", "meta", "--label", "from.cli=yes")
    cfg = config(cli, "meta")
    assert set(cfg["ExposedPorts"]) == {"80/tcp", "443/udp", "8000/tcp", "8001/tcp", "8002/tcp"}
    env = dict(e.split("=", 1) for e in cfg["Env"])
    assert env["A"] == "2" and env["B"] == "two words" and env["C"] == "1" and env["LEGACY"] == "legacy value here"
    assert cfg["Labels"] == {"org.example.name": "the app", "version": "1.0", "extra": "2", "from.cli": "yes"}
    assert set(cfg["Volumes"]) == {"/data", "/logs", "/cache", "/tmp/x"}
    assert cfg["Healthcheck"] == {"Test": ["CMD-SHELL", "wget -q localhost || exit 1"], "Interval": 5_000_000_000,
                                  "Timeout": 3_000_000_000, "StartPeriod": 60_000_000_000, "Retries": 4}
    assert cfg["StopSignal"] == "SIGUSR1"
    assert out(cli, "meta", "cat", "/envs") == "2|two words|1|legacy value here"
    runenv = out(cli, "meta", "env").splitlines()
    assert "B=two words" in runenv and "LEGACY=legacy value here" in runenv and "A=2" in runenv


def test_healthcheck_exec_form_and_none(cli: Cli, ctx: str, bb: str) -> None:
    build(cli, ctx, 'FROM busybox\nHEALTHCHECK --interval=1m30s CMD ["true", "x"]\n', "-t", "hc")
    assert config(cli, "hc")["Healthcheck"] == {"Test": ["CMD", "true", "x"], "Interval": 90_000_000_000}
    build(cli, ctx, "FROM hc\nHEALTHCHECK NONE\n", "-t", "hc2")
    assert config(cli, "hc2")["Healthcheck"]["Test"] == ["NONE"]


def test_arg_default_override_not_persisted(cli: Cli, ctx: str, bb: str) -> None:
    df = ("FROM busybox\nARG WHO=world\nARG EMPTY\nENV KEPT=$WHO\n"
          'RUN echo "hello $WHO [$EMPTY]" > /greet && env > /run-env\nCMD ["cat", "/greet"]\n')
    build(cli, ctx, df, "-t", "argd")
    assert out(cli, "argd") == "hello world []"
    build(cli, ctx, None, "-t", "argo", "--build-arg", "WHO=you", "--build-arg", "EMPTY=e")
    assert out(cli, "argo") == "hello you [e]"
    env = config(cli, "argo")["Env"]
    assert "KEPT=you" in env
    assert not any(e.startswith(("WHO=", "EMPTY=")) for e in env)
    assert "WHO=you" in out(cli, "argo", "cat", "/run-env").splitlines()
    assert not any(line.startswith("WHO=") for line in out(cli, "argo", "env").splitlines())
    # an unused --build-arg is a warning, not an error
    proc = build(cli, ctx, None, "--build-arg", "UNUSED=1")
    assert "UNUSED" in proc.stdout + proc.stderr


def test_user(cli: Cli, ctx: str, bb: str) -> None:
    df = ("FROM busybox\nUSER app\nRUN id -u > /tmp/run-uid && touch /tmp/mine\n"
          "USER 65534:65534\nCMD [\"sh\", \"-c\", \"id -u; id -g; cat /tmp/run-uid; stat -c %u /tmp/mine\"]\n")
    build(cli, ctx, df, "-t", "usr")
    assert config(cli, "usr")["User"] == "65534:65534"
    assert out(cli, "usr").split() == ["65534", "65534", "1000", "1000"]
    build(cli, ctx, "FROM busybox\nUSER app\n", "-t", "usr2")
    assert out(cli, "usr2", "id", "-u") == "1000"


def test_shell_instruction(cli: Cli, ctx: str, bb: str) -> None:
    shell = ["/bin/busybox", "env", "VIA_SHELL=yes", "/bin/sh", "-c"]
    df = (f'FROM busybox\nSHELL {json.dumps(shell)}\n'
          'RUN echo "shell=$VIA_SHELL" > /s\nCMD echo "cmd=$VIA_SHELL"\n')
    build(cli, ctx, df, "-t", "sh")
    cfg = config(cli, "sh")
    assert cfg["Shell"] == shell
    assert cfg["Cmd"] == [*shell, 'echo "cmd=$VIA_SHELL"']
    assert out(cli, "sh") == "cmd=yes"
    assert out(cli, "sh", "cat", "/s") == "shell=yes"
    # a child image's shell-form RUN uses the SHELL it inherits
    build(cli, ctx, 'FROM sh\nRUN echo "child=$VIA_SHELL" > /c\nENTRYPOINT echo "ep=$VIA_SHELL"\n', "-t", "shchild")
    assert run(cli, "shchild").stdout.strip() == "ep=yes"
    proc = cli("run", "--rm", "--entrypoint", "cat", "shchild", "/c")
    assert proc.returncode == 0 and proc.stdout.strip() == "child=yes", proc


def test_onbuild_trigger_runs_in_child(cli: Cli, ctx: str, bb: str) -> None:
    write(ctx, {"child.txt": "child file\n"})
    build(cli, ctx, "FROM busybox\nONBUILD RUN echo triggered > /trig\nONBUILD COPY child.txt /c.txt\n"
          "RUN echo parent > /p\n", "-t", "parent")
    pcfg = config(cli, "parent")
    assert pcfg["OnBuild"] == ["RUN echo triggered > /trig", "COPY child.txt /c.txt"]
    assert run(cli, "parent", "ls", "/trig", ok=False).returncode != 0
    build(cli, ctx, "FROM parent\nRUN cat /trig /c.txt > /both\n", "-t", "child")
    assert out(cli, "child", "cat", "/both") == "triggered\nchild file"
    assert not config(cli, "child").get("OnBuild")
    # triggers run only in the direct child
    build(cli, ctx, "FROM child\nRUN echo grandchild\n", "-t", "grandchild")
    assert not config(cli, "grandchild").get("OnBuild")


# ---------------------------------------------------------------------------------------------
# CMD x ENTRYPOINT (docker's table)
# ---------------------------------------------------------------------------------------------
EP = {"none": None, "exec": '["echo", "e"]', "shell": "echo e"}
CMD = {"none": None, "exec": '["echo", "c"]', "shell": "echo c"}
EP_CFG = {"none": None, "exec": ["echo", "e"], "shell": ["/bin/sh", "-c", "echo e"]}
CMD_CFG = {"none": None, "exec": ["echo", "c"], "shell": ["/bin/sh", "-c", "echo c"]}
EXPECTED_OUT = {
    ("none", "none"): None,  # error: no command
    ("none", "exec"): "c",
    ("none", "shell"): "c",
    ("exec", "none"): "e",
    ("exec", "exec"): "e echo c",
    ("exec", "shell"): "e /bin/sh -c echo c",
    ("shell", "none"): "e",
    ("shell", "exec"): "e",
    ("shell", "shell"): "e",
}


def test_cmd_entrypoint_table(cli: Cli, ctx: str, bb: str) -> None:
    for (ep, cmd), expected in EXPECTED_OUT.items():
        lines = ["FROM busybox"]
        if EP[ep] is not None:
            lines.append(f"ENTRYPOINT {EP[ep]}")
        if CMD[cmd] is not None:
            lines.append(f"CMD {CMD[cmd]}")
        tag = f"t-{ep}-{cmd}"
        build(cli, ctx, "\n".join(lines) + "\n", "-t", tag)
        cfg = config(cli, tag)
        assert cfg.get("Entrypoint") == EP_CFG[ep], (ep, cmd, cfg)
        assert cfg.get("Cmd") == CMD_CFG[cmd], (ep, cmd, cfg)
        proc = run(cli, tag, ok=False)
        if expected is None:
            assert proc.returncode != 0, (ep, cmd, proc)
        else:
            assert proc.returncode == 0 and proc.stdout.strip() == expected, (ep, cmd, proc)


def test_entrypoint_resets_base_cmd(cli: Cli, ctx: str, bb: str) -> None:
    build(cli, ctx, 'FROM busybox\nCMD ["echo", "base-cmd"]\n', "-t", "withcmd")
    build(cli, ctx, 'FROM withcmd\nENTRYPOINT ["echo", "e"]\n', "-t", "epchild")
    cfg = config(cli, "epchild")
    assert cfg.get("Cmd") is None and cfg["Entrypoint"] == ["echo", "e"]
    assert out(cli, "epchild") == "e"
    # a CMD in the same Dockerfile, even before the ENTRYPOINT, is kept
    build(cli, ctx, 'FROM withcmd\nCMD ["mine"]\nENTRYPOINT ["echo", "e"]\n', "-t", "epchild2")
    assert out(cli, "epchild2") == "e mine"
    # and a child that changes nothing inherits both
    build(cli, ctx, "FROM epchild2\nENV X=1\n", "-t", "epchild3")
    assert out(cli, "epchild3") == "e mine"


# ---------------------------------------------------------------------------------------------
# cache
# ---------------------------------------------------------------------------------------------
CACHE_DF = ("FROM busybox\nRUN echo one > /one\nCOPY f.txt /f.txt\nRUN cat /f.txt > /g.txt\nENV X=1\n"
            'CMD ["cat", "/g.txt"]\n')


def test_cache_second_build_all_cached(cli: Cli, ctx: str, bb: str) -> None:
    write(ctx, {"f.txt": "v1\n"})
    first = build(cli, ctx, CACHE_DF, "-t", "c1")
    assert not any(cached for _s, cached in steps(first))
    second = build(cli, ctx, None, "-t", "c2")
    s = steps(second)
    assert len(s) == 6 and all(cached for _i, cached in s[1:]), second.stdout
    assert built_id(first) == built_id(second)
    assert inspect(cli, "c1")["Id"] == inspect(cli, "c2")["Id"]
    # --no-cache rebuilds every step, with the same result
    third = build(cli, ctx, None, "--no-cache", "-t", "c3")
    assert not any(cached for _i, cached in steps(third)), third.stdout
    assert "Running in" in third.stdout
    assert out(cli, "c3") == "v1"


def test_cache_content_change_invalidates_copy_and_later(cli: Cli, ctx: str, bb: str) -> None:
    write(ctx, {"f.txt": "v1\n"})
    first = build(cli, ctx, CACHE_DF, "-t", "c1")
    write(ctx, {"f.txt": "v2\n"})
    second = build(cli, ctx, None, "-t", "c2")
    assert [c for _i, c in steps(second)][1:] == [True, False, False, False, False], second.stdout
    assert built_id(first) != built_id(second)
    assert out(cli, "c2") == "v2" and out(cli, "c1") == "v1"


def test_cache_mtime_does_not_invalidate_but_chmod_does(cli: Cli, ctx: str, bb: str) -> None:
    write(ctx, {"f.txt": "v1\n"})
    os.chmod(os.path.join(ctx, "f.txt"), 0o644)
    first = build(cli, ctx, CACHE_DF, "-t", "c1")
    os.utime(os.path.join(ctx, "f.txt"), (1_000_000, 1_000_000))
    second = build(cli, ctx, None)
    assert all(c for _i, c in steps(second)[1:]), second.stdout
    assert built_id(first) == built_id(second)
    os.chmod(os.path.join(ctx, "f.txt"), 0o600)
    third = build(cli, ctx, None, "-t", "c3")
    assert [c for _i, c in steps(third)][1:] == [True, False, False, False, False], third.stdout
    assert out(cli, "c3", "stat", "-c", "%a", "/f.txt") == "600"


def test_cache_build_arg_change_invalidates_run(cli: Cli, ctx: str, bb: str) -> None:
    df = "FROM busybox\nARG V=1\nRUN echo v=$V > /v\nRUN echo after\nCMD [\"cat\", \"/v\"]\n"
    build(cli, ctx, df, "-t", "a1")
    second = build(cli, ctx, None, "--build-arg", "V=2", "-t", "a2")
    s = [c for _i, c in steps(second)]
    assert s[2] is False and s[3] is False, second.stdout
    assert out(cli, "a2") == "v=2"
    third = build(cli, ctx, None, "--build-arg", "V=2", "-t", "a3")
    assert all(c for _i, c in steps(third)[1:]), third.stdout
    fourth = build(cli, ctx, None, "--build-arg", "V=1")
    assert all(c for _i, c in steps(fourth)[1:]), fourth.stdout
    assert out(cli, "a1") == "v=1"


# ---------------------------------------------------------------------------------------------
# multi-stage --target, .dockerignore
# ---------------------------------------------------------------------------------------------
def test_multistage_target(cli: Cli, ctx: str, bb: str) -> None:
    df = ("FROM busybox AS unrelated\nRUN echo unrelated-ran && exit 7\n"
          "FROM busybox AS base\nRUN echo base > /base\n"
          "FROM base AS test\nRUN echo test > /test\nCMD [\"cat\", \"/base\", \"/test\"]\n"
          "FROM base AS final\nRUN exit 9\n")
    proc = build(cli, ctx, df, "--target", "test", "-t", "tgt")
    assert "unrelated-ran" not in proc.stdout
    assert out(cli, "tgt") == "base\ntest"
    proc = build(cli, ctx, None, "--target", "nosuch", ok=False)
    assert proc.returncode != 0 and "nosuch" in proc.stderr
    proc = build(cli, ctx, None, ok=False)
    assert proc.returncode != 0


def test_dockerignore(cli: Cli, ctx: str, bb: str) -> None:
    write(ctx, {"app.txt": "app\n", "a.log": "x", "keep.log": "k", "sub/b.log": "x", "sub/deep/c.log": "x",
                "sub/keep.log": "x", "sub/ok.txt": "ok", "secret/key": "s", "secret/nested/more": "s",
                "README.md": "r", "NOTES.md": "n", "docs/x.md": "d",
                ".dockerignore": "**/*.log\n!keep.log\nsecret\n*.md\n!*.md\nNOTES.md\n"})
    build(cli, ctx, "FROM busybox\nCOPY . /ctx\n", "-t", "ign")
    found = set(out(cli, "ign", "find", "/ctx", "-type", "f").split())
    want = {"/ctx/app.txt", "/ctx/keep.log", "/ctx/sub/ok.txt", "/ctx/README.md", "/ctx/docs/x.md"}
    assert want <= found, found
    assert not found & {"/ctx/a.log", "/ctx/sub/b.log", "/ctx/sub/deep/c.log", "/ctx/sub/keep.log",
                        "/ctx/secret/key", "/ctx/secret/nested/more", "/ctx/NOTES.md"}, found
    dirs = set(out(cli, "ign", "find", "/ctx", "-type", "d").split())
    assert "/ctx/secret" not in dirs
    # an excluded file named explicitly is not found
    proc = build(cli, ctx, "FROM busybox\nCOPY secret/key /k\n", ok=False)
    assert proc.returncode != 0 and "secret/key" in proc.stderr


# ---------------------------------------------------------------------------------------------
# CLI flags
# ---------------------------------------------------------------------------------------------
def test_quiet_tags_and_file(cli: Cli, ctx: str, bb: str, tmp_path: Any) -> None:
    write(ctx, {"Dockerfile": "FROM busybox\nRUN echo quiet-output\n"})
    proc = cli("build", "-q", "-t", "q1", "-t", "repo/q2:v2", ctx)
    assert proc.returncode == 0, proc.stderr
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", proc.stdout), proc.stdout
    image_id = proc.stdout.strip()
    info = inspect(cli, "q1")
    assert info["Id"] == image_id
    assert sorted(info["RepoTags"]) == ["q1:latest", "repo/q2:v2"]
    assert inspect(cli, "repo/q2:v2")["Id"] == image_id
    # -f: a Dockerfile outside the context, and one in a subdirectory
    other = tmp_path / "elsewhere.df"
    other.write_text('FROM busybox\nCMD ["echo", "from-elsewhere"]\n')
    proc = cli("build", "-f", str(other), "-t", "ff", ctx)
    assert proc.returncode == 0, proc.stderr
    assert out(cli, "ff") == "from-elsewhere"
    write(ctx, {"sub/Build.df": 'FROM busybox\nCMD ["echo", "from-sub"]\n'})
    proc = cli("build", "-f", os.path.join(ctx, "sub", "Build.df"), "-t", "ff2", ctx)
    assert proc.returncode == 0, proc.stderr
    assert out(cli, "ff2") == "from-sub"


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------
def test_unknown_instruction(cli: Cli, ctx: str, bb: str) -> None:
    proc = build(cli, ctx, "FROM busybox\n\nFROBNICATE foo\n", ok=False)
    assert proc.returncode != 0
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1, proc.stderr
    assert "line 3" in err[0] and "FROBNICATE" in err[0].upper(), err


def test_missing_context_and_dockerfile(cli: Cli, ctx: str, bb: str, tmp_path: Any) -> None:
    missing = str(tmp_path / "nope")
    proc = cli("build", missing)
    assert proc.returncode != 0 and missing in proc.stderr and "Traceback" not in proc.stderr
    proc = cli("build", ctx)
    assert proc.returncode != 0 and "Dockerfile" in proc.stderr and "Traceback" not in proc.stderr
    proc = cli("build", "-f", str(tmp_path / "no.df"), ctx)
    assert proc.returncode != 0 and "no.df" in proc.stderr and "Traceback" not in proc.stderr


def test_run_failure_leaves_nothing(cli: Cli, ctx: str, bb: str, root: str) -> None:
    before = cli("images", "-a", "-q", "--no-trunc").stdout
    tags_before = cli("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").stdout
    assert "busybox:latest" in tags_before
    proc = build(cli, ctx, "FROM busybox\nRUN echo ok > /ok\nRUN echo failing-step-output && exit 3\nRUN echo never\n",
                 "-t", "broken", ok=False)
    assert proc.returncode != 0
    assert "failing-step-output" in proc.stdout + proc.stderr
    err = proc.stderr
    assert "RUN echo failing-step-output && exit 3" in err, err
    assert re.search(r"\b3\b", err.replace("RUN echo failing-step-output && exit 3", "")), err
    assert "never" not in proc.stdout
    assert cli("image", "inspect", "broken").returncode != 0
    assert cli("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").stdout == tags_before
    after = cli("images", "-a", "-q", "--no-trunc").stdout
    # intermediate images of the steps that succeeded may stay (docker's cache); none is tagged
    assert set(before.split()) <= set(after.split())
    assert mounts_under(root) == []
    tmp = os.path.join(root, "tmp")
    assert not os.path.isdir(tmp) or os.listdir(tmp) == []


def test_copy_missing_file(cli: Cli, ctx: str, bb: str, root: str) -> None:
    proc = build(cli, ctx, "FROM busybox\nCOPY does-not-exist.txt /x\n", "-t", "nofile", ok=False)
    assert proc.returncode != 0 and "does-not-exist.txt" in proc.stderr and "Traceback" not in proc.stderr
    assert cli("image", "inspect", "nofile").returncode != 0
    tmp = os.path.join(root, "tmp")
    assert not os.path.isdir(tmp) or os.listdir(tmp) == []


def test_from_missing_image(cli: Cli, ctx: str, root: str) -> None:
    # FROM pulls what is missing: here from a loopback registry where nothing listens
    proc = build(cli, ctx, "FROM localhost:9/nosuchbase:1.2\nRUN true\n", "-t", "x", ok=False)
    assert proc.returncode != 0 and "nosuchbase" in proc.stderr and "Traceback" not in proc.stderr
    assert cli("images", "-q").stdout.strip() == ""


# ---------------------------------------------------------------------------------------------
# destinations that already exist in the image, WORKDIR creating its directory
# ---------------------------------------------------------------------------------------------
def test_copy_into_existing_dirs_keeps_them(cli: Cli, ctx: str, bb: str) -> None:
    write(ctx, {"f.txt": "F\n", "d/x.txt": "X\n", "arch.tar": b""})
    with tarfile.open(os.path.join(ctx, "arch.tar"), "w") as tf:
        ti = tarfile.TarInfo("from-tar.txt")
        ti.size = 2
        tf.addfile(ti, io.BytesIO(b"T\n"))
    df = ("FROM busybox\n"
          "RUN mkdir -p /srv && mkdir -m 0750 /srv/keep && chown 1000:1000 /srv/keep && ln -s /srv/keep /link\n"
          "COPY f.txt /tmp\n"             # an existing directory without a trailing slash receives the file
          "COPY f.txt /tmp/sub/f2\n"      # a parent that exists (/tmp, 1777) keeps its mode
          "COPY d /srv/keep\n"            # an existing destination directory keeps mode and owner
          "COPY f.txt /link/via-link.txt\n"  # a symlinked parent is followed, not replaced
          "ADD arch.tar /tmp\n"
          "COPY --chown=app f.txt /newdir/\n")
    build(cli, ctx, df, "-t", "dst")
    info = out(cli, "dst", "stat", "-c", "%n %a %u:%g %F", "/tmp", "/tmp/f.txt", "/tmp/sub", "/srv/keep",
               "/srv/keep/x.txt", "/srv/keep/via-link.txt", "/link", "/tmp/from-tar.txt", "/newdir",
               "/newdir/f.txt").splitlines()
    assert info == ["/tmp 1777 0:0 directory", "/tmp/f.txt 644 0:0 regular file", "/tmp/sub 755 0:0 directory",
                    "/srv/keep 750 1000:1000 directory", "/srv/keep/x.txt 644 0:0 regular file",
                    "/srv/keep/via-link.txt 644 0:0 regular file", "/link 777 0:0 symbolic link",
                    "/tmp/from-tar.txt 644 0:0 regular file", "/newdir 755 1000:1000 directory",
                    "/newdir/f.txt 644 1000:1000 regular file"], info


def test_workdir_creates_directory(cli: Cli, ctx: str, bb: str) -> None:
    build(cli, ctx, "FROM busybox\nWORKDIR /made/here\nUSER app\nWORKDIR sub\nWORKDIR /tmp\n", "-t", "wdc")
    lines = out(cli, "wdc", "stat", "-c", "%n %a %u %F", "/made", "/made/here", "/made/here/sub", "/tmp",
                flags=("-w", "/")).splitlines()
    assert lines == ["/made 755 0 directory", "/made/here 755 0 directory", "/made/here/sub 755 1000 directory",
                     "/tmp 1777 0 directory"], lines
    # also from scratch
    shutil.copy2("/bin/busybox", os.path.join(ctx, "busybox"))
    build(cli, ctx, "FROM scratch\nWORKDIR /app\nCOPY busybox /bin/busybox\n", "-t", "wds")
    proc = cli("run", "--rm", "-w", "/", "--entrypoint", "/bin/busybox", "wds", "ls", "/")
    assert proc.returncode == 0 and {"app", "bin"} <= set(proc.stdout.split()), proc


def test_cache_independent_stage_survives_a_miss(cli: Cli, ctx: str, bb: str) -> None:
    write(ctx, {"f.txt": "v1\n"})
    df = ("FROM busybox AS one\nCOPY f.txt /f\nRUN cat /f\n"
          "FROM busybox AS two\nRUN echo two > /two\nCOPY --from=one /f /f\n")
    build(cli, ctx, df)
    write(ctx, {"f.txt": "v2\n"})
    proc = build(cli, ctx, None, "-t", "ms")
    cached = [c for _i, c in steps(proc)]
    # FROM, COPY (miss), RUN (miss), FROM, RUN (hit: its parent did not change), COPY --from (miss)
    assert cached == [False, False, False, False, True, False], proc.stdout
    assert out(cli, "ms", "cat", "/f", "/two") == "v2\ntwo"


def test_copy_from_single_layer_image_leaves_layer_intact(cli: Cli, ctx: str, bb: str) -> None:
    # a one-layer image is bind-mounted for COPY --from; cleaning it up must not touch the layer
    build(cli, ctx, "FROM busybox\nCOPY --from=busybox /etc/passwd /p\n", "-t", "cf1")
    build(cli, ctx, "FROM busybox\nCOPY --from=busybox /etc/group /g\n", "-t", "cf2")
    assert out(cli, "cf2", "cat", "/g").startswith("root:")
    assert out(cli, "busybox", "cat", "/etc/passwd").startswith("root:")
