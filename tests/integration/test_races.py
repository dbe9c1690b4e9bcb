"""Commands racing each other never lose data or cross wires.

Real CLI processes against one data root, started at the same moment, many times over; then the
invariant is checked: a volume in use survives ``rm -v`` of another container, a tag made while its
image is removed either fails or points at an image that exists, a container's image is never removed
under it (by ``rmi`` or ``image prune``), and containers started together get distinct addresses, so
each published port reaches its own container.
"""

from __future__ import annotations

import ipaddress
import os
import random
import subprocess
import time
import urllib.request
from collections.abc import Callable

import pytest
from test_concurrency import _all_at_once, _spawn

from engine.network import ipam
from engine.runtime import cleanup
from engine.state import State

pytestmark = pytest.mark.root

Cli = Callable[..., subprocess.CompletedProcess[str]]
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only, never a proxy


def _import_images(root: str, busybox_tar: str, names: list[str]) -> None:
    """One image per name (distinct ids: the commit message differs), tagged only with that name."""
    for rc, _, err in _all_at_once(root, [["import", "--message", n, busybox_tar, n] for n in names]):
        assert rc == 0, err


def _paired(root: str, first: list[list[str]], second: list[list[str]], spread: float) -> list[tuple[int, str, str]]:
    """Start ``first[k]`` every 50 ms and ``second[k]`` a random moment (up to ``spread`` s) after it,
    so the pairs meet at many different points of each other's work; results of first, then second."""
    plan = sorted([(0.05 * k, k) for k in range(len(first))]
                  + [(0.05 * k + random.uniform(0, spread), len(first) + k) for k in range(len(second))])
    argvs = first + second
    procs: list[subprocess.Popen[str] | None] = [None] * len(argvs)
    t0 = time.monotonic()
    try:
        for at, i in plan:
            time.sleep(max(0.0, t0 + at - time.monotonic()))
            procs[i] = _spawn(root, *argvs[i])
        out = []
        for p in procs:
            assert p is not None
            so, se = p.communicate(timeout=120)
            out.append((p.returncode, so, se))
        return out
    finally:
        for p in procs:  # only our own children, by their Popen handle
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


def _image_present(cli: Cli, ref: str) -> bool:
    """The reference resolves and the image's config can be read (what `run` needs)."""
    return _images_present(cli, [ref]) == [ref]


def _images_present(cli: Cli, refs: list[str]) -> list[str]:
    """Those of ``refs`` that resolve to an image whose config can be read, in one `image inspect`."""
    if not refs:
        return []
    p = cli("image", "inspect", "--format", "{{.Id}}", *refs)
    ids = p.stdout.split()
    missing = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(ids) + len(missing) == len(refs), (p.stdout, p.stderr)
    return [r for r in refs if not any(r in line or r.removeprefix("sha256:")[:12] in line for line in missing)]


def test_rm_v_keeps_an_anonymous_volume_another_container_uses(root: str, cli: Cli, busybox_tar: str) -> None:
    """`rm -v a` deleted a's anonymous volume while container b had it mounted: b's data vanished.

    Docker keeps a volume still in use (rm -v succeeds, the volume stays); a later `rm -v` of its
    last user still leaves a named mount alone, and `volume rm` refuses while b uses it.
    """
    p = cli("import", "--change", "VOLUME /data", busybox_tar, "withvol")
    assert p.returncode == 0, p.stderr
    p = cli("run", "--network", "none", "--name", "va", "withvol", "sh", "-c", "echo kept > /data/p")
    assert p.returncode == 0, p.stderr
    vol = cli("inspect", "--format", "{{range .Mounts}}{{.Name}}{{end}}", "va").stdout.strip()
    assert len(vol) == 64, vol
    p = cli("run", "-d", "--network", "none", "--name", "vb", "-v", f"{vol}:/d", "withvol", "sleep", "1d")
    assert p.returncode == 0, p.stderr
    vb = p.stdout.strip()

    p = cli("rm", "-v", "va")
    assert p.returncode == 0, p.stderr
    assert vol in cli("volume", "ls", "-q").stdout.split()
    p = cli("exec", "vb", "cat", "/d/p")
    assert (p.returncode, p.stdout) == (0, "kept\n"), p.stderr

    p = cli("volume", "rm", vol)
    assert p.returncode == 1
    assert p.stderr.strip() == f"Error response from daemon: remove {vol}: volume is in use - [{vb}]", p.stderr
    assert cli("exec", "vb", "cat", "/d/p").stdout == "kept\n"

    p = cli("rm", "-f", "-v", "vb")  # vb names the volume (-v vol:/d): rm -v leaves named mounts alone
    assert p.returncode == 0, p.stderr
    assert vol in cli("volume", "ls", "-q").stdout.split()
    p = cli("volume", "rm", vol)
    assert p.returncode == 0, p.stderr
    assert not os.path.exists(os.path.join(root, "volumes", vol))


def test_run_racing_volume_rm_never_mounts_a_removed_volume(root: str, cli: Cli, imported: str) -> None:
    """`volume rm V` at the same time as `run -v V:/d`: the removal saw no user yet and deleted the
    volume the new container then mounted. Either the removal fails (in use) or the container gets a
    volume that exists.
    """
    rounds, per_round = 4, 8
    for r in range(rounds):
        vols = [f"vol{r}x{k}" for k in range(per_round)]
        for rc, _, err in _all_at_once(root, [["volume", "create", v] for v in vols]):
            assert rc == 0, err
        res = _paired(root, [["run", "-d", "--network", "none", "-v", f"{v}:/d", "busybox", "sleep", "1d"]
                             for v in vols], [["volume", "rm", v] for v in vols], spread=0.4)
        for k, v in enumerate(vols):
            (run_rc, _, run_err), (rm_rc, _, rm_err) = res[k], res[per_round + k]
            assert run_rc == 0, run_err
            assert rm_rc == 0 or f"remove {v}: volume is in use - [" in rm_err, rm_err
        ids = [out.strip() for _, out, _ in res[:per_round]]
        p = cli("inspect", "--format", '{{range .Mounts}}{{.Name}} {{.Source}}{{end}}', *ids)
        assert p.returncode == 0, p.stderr
        listed = set(cli("volume", "ls", "-q").stdout.split())
        for line in p.stdout.splitlines():
            name, source = line.split()
            assert name in listed and os.path.isdir(source), f"a container mounts the removed volume {name}"
        p = cli("rm", "-f", *ids)
        assert p.returncode == 0, p.stderr


def test_tag_racing_rmi_never_leaves_a_dangling_tag(root: str, cli: Cli, busybox_tar: str) -> None:
    """`tag X Y` at the same time as `rmi X` returned 0 but left Y pointing at a removed image.

    Either the tag wins (rmi then only untags X) or the removal wins (tag fails: no such image).
    """
    rounds, per_round = 3, 16
    for r in range(rounds):
        names = [f"solo{r}x{k}" for k in range(per_round)]
        _import_images(root, busybox_tar, names)
        argvs = []
        for n in names:
            argvs += [["tag", n, f"copy-{n}"], ["rmi", n]]
        res = _all_at_once(root, argvs)
        tagged = []
        for k, n in enumerate(names):
            (tag_rc, _, tag_err), (rmi_rc, _, rmi_err) = res[2 * k], res[2 * k + 1]
            assert "Traceback" not in tag_err + rmi_err, tag_err + rmi_err
            assert rmi_rc == 0, rmi_err
            if tag_rc == 0:
                tagged.append(f"copy-{n}")
            else:
                assert tag_err.strip() == f"Error response from daemon: No such image: {n}:latest", tag_err
        assert _images_present(cli, tagged) == tagged, "a tag was left dangling"
        untagged = [f"copy-{n}" for n in names if f"copy-{n}" not in tagged]
        assert _images_present(cli, untagged) == []


def _container_images(cli: Cli) -> dict[str, tuple[str, str]]:
    """container id → (image id, image name it was made from), for every container."""
    ids = cli("ps", "-aq", "--no-trunc").stdout.split()
    if not ids:
        return {}
    p = cli("inspect", "--format", "{{.Id}} {{.Image}} {{.Config.Image}}", *ids)
    assert p.returncode == 0, p.stderr
    return {cid: (iid, name) for cid, iid, name in (line.split() for line in p.stdout.splitlines())}


@pytest.mark.parametrize("remover", ["rmi", "prune"])
def test_run_racing_image_removal_keeps_the_containers_image(root: str, cli: Cli, busybox_tar: str,
                                                             remover: str) -> None:
    """`run -d` at the same time as `rmi` (or `image prune -a`) of its image: the container started,
    its image was deleted, and once stopped it could never start again.

    An image is removed only when no container (even one being created) and no tag refers to it.
    """
    rounds, per_round = 4, 8
    for r in range(rounds):
        names = [f"run{r}x{k}" for k in range(per_round)]
        _import_images(root, busybox_tar, names)
        argvs = [["run", "-d", "--pull", "never", "--network", "none", n, "sleep", "1d"] for n in names]
        argvs += [["rmi", n] for n in names] if remover == "rmi" else [["image", "prune", "-a", "-f"]]
        res = _all_at_once(root, argvs)
        for rc, _, err in res:
            assert "Traceback" not in err, err
        for k, n in enumerate(names):
            rc, _, err = res[k]
            assert rc == 0 or err.strip() == f"portside: Error response from daemon: No such image: {n}:latest", err
        images = _container_images(cli)
        assert len(images) == sum(rc == 0 for rc, _, _ in res[:per_round])
        used = sorted({iid for iid, _ in images.values()})
        assert _images_present(cli, used) == used, "a container's image was removed"
        if remover == "prune":  # prune -a leaves an image a container uses alone, its tag included
            by_name = sorted({name for _, name in images.values()})
            assert _images_present(cli, by_name) == by_name, "an image in use was untagged"
        if images:
            p = cli("rm", "-f", *images)
            assert p.returncode == 0, p.stderr


def test_parallel_runs_get_distinct_addresses_and_their_own_ports(root: str, cli: Cli, imported: str) -> None:
    """40 parallel `run -d -p 127.0.0.1:P:80` gave duplicate addresses; published ports then reached
    the wrong container. Every container gets its own address, and each port serves its own name
    (30 containers here, to stay quick; the recovery test below forces the interleaving that did it).
    """
    n, base = 30, 19100
    argvs = [["run", "-d", "--name", f"web{i}", "-p", f"127.0.0.1:{base + i}:80", "busybox", "sh", "-c",
              f"mkdir -p /w && echo web{i} > /w/index.html && exec httpd -f -p 80 -h /w"] for i in range(n)]
    res = _all_at_once(root, argvs)
    for i, (rc, _, err) in enumerate(res):
        assert rc == 0, f"web{i}: {err}"
    p = cli("inspect", "--format", "{{.Name}} {{.NetworkSettings.IPAddress}}", *[f"web{i}" for i in range(n)])
    assert p.returncode == 0, p.stderr
    addrs = {name.lstrip("/"): str(ipaddress.ip_address(a)) for name, a in (ln.split() for ln in p.stdout.splitlines())}
    assert len(addrs) == n, addrs
    dupes = {a: [c for c, x in addrs.items() if x == a] for a in addrs.values()
             if list(addrs.values()).count(a) > 1}
    assert not dupes, dupes
    for i in range(n):
        body = ""
        for _ in range(50):  # httpd may take a moment to listen
            try:
                with LOCAL.open(f"http://127.0.0.1:{base + i}/", timeout=2) as resp:
                    body = resp.read().decode().strip()
                break
            except OSError:
                time.sleep(0.1)
        assert body == f"web{i}", (i, body)


def test_recovery_never_frees_the_address_of_a_container_being_created(root: str, cli: Cli, imported: str) -> None:
    """Every command's recovery frees the addresses of creates that died before writing their row. It
    listed them first and checked each creator afterwards: a create that wrote its row and let go of
    its creation lock in between lost its address, and the next container got the same one.

    Here a create (the engine's own creation lock, allocator and row insert, in this process) writes
    its row while a real `volume ls` is in that recovery, held up behind the database's write lock.
    """
    nid = cli("network", "inspect", "--format", "{{.Id}}", "bridge").stdout.strip()
    st = State(os.path.join(root, "state.db"))
    croot = os.path.join(root, "containers")
    cid = "f" + os.urandom(32).hex()[1:]
    lock = None
    try:
        ndoc = ipam.network_by_id(st, nid)
        assert ndoc is not None
        dead = "0" * 64
        ipam.allocate(st, ndoc, dead)  # a create killed after allocating: its address must be freed
        lock = cleanup.creating_lock(croot, cid)
        address = ipam.allocate(st, ndoc, cid)
        with st.tx():  # the write lock, as a create's row insert takes it
            reader = _spawn(root, "volume", "ls")
            time.sleep(1.5)  # its recovery is now waiting for the lock
            st.insert_container(cid, "being-created", "", {"Id": cid, "Name": "/being-created"})
        cleanup.creating_done(croot, cid, lock)
        lock = None
        _, err = reader.communicate(timeout=60)
        assert reader.returncode == 0, err
        held = ipam.allocations(st, nid)
        assert dead not in held, "the dead create's address was not freed"
        assert held.get(cid) == address, f"the address {address} of a container being created was freed"
    finally:
        if lock is not None:
            cleanup.creating_done(croot, cid, lock)
        st.delete_container(cid)
        ipam.release(st, cid)
        st.close()


def test_rm_f_racing_start_leaves_no_container_running_unowned(root: str, cli: Cli, imported: str) -> None:
    """`rm -f` of a container that another command is starting read it as not running, removed its row
    and folder, and the start went on: a container running with no record, its published port's
    element, veth, cgroups and rootfs mount left behind. Now `rm -f` waits for the start's monitor (it
    holds the container's monitor lock) and kills what it started; a monitor that gets the lock after
    the removal starts nothing. Either the container is gone with everything it had, or it runs whole.
    """
    n = 12
    names = [f"racer{i}" for i in range(n)]
    for name in names:
        p = cli("create", "--name", name, "-p", "127.0.0.1::80", "busybox", "sleep", "300")
        assert p.returncode == 0, p.stderr
    cids = {name: cli("inspect", "--format", "{{.Id}}", name).stdout.strip() for name in names}
    res = _paired(root, [["start", name] for name in names], [["rm", "-f", name] for name in names], 0.4)
    for rc, _, err in res[n:]:
        assert rc == 0, err  # rm -f of a container that exists always succeeds
    assert "Traceback" not in "".join(err for _, _, err in res)
    left = cli("ps", "-aq", "--no-trunc").stdout.split()
    assert not set(left) & set(cids.values()), left
    with open("/proc/self/mountinfo") as f:
        mounts = f.read()
    for cid in cids.values():
        assert not os.path.exists(os.path.join(root, "containers", cid)), cid
        assert cid not in mounts, cid
    check = cli("system", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert not [line for line in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
                .splitlines() if any(cid in line for cid in cids.values())], "a monitor outlived its container"


def test_parallel_creates_without_a_name_all_get_one(root: str, cli: Cli, imported: str) -> None:
    """Creates started together picked their generated names (400 of them) before any row was in:
    two chose the same one and the later failed with a name conflict no user asked for."""
    n = 40
    for _ in range(2):
        res = _all_at_once(root, [["create", "--network", "none", "busybox", "true"] for _ in range(n)])
        for rc, _, err in res:
            assert rc == 0, err
        p = cli("ps", "-aq", "--no-trunc")
        ids = p.stdout.split()
        assert len(ids) == n, p.stdout
        names = cli("inspect", "--format", "{{.Name}}", *ids).stdout.split()
        assert len(set(names)) == n, names
        p = cli("rm", *ids)
        assert p.returncode == 0, p.stderr


def test_rmi_of_a_running_builds_base_keeps_the_base(root: str, cli: Cli, busybox_tar: str, tmp_path) -> None:
    """Regression (found by the stress suite): ``rmi base`` while a build stood on it deleted the base,
    and the build then committed step images whose parent did not exist. The base is untagged and
    kept while the build holds it; the build succeeds and ``system check`` finds nothing."""
    _import_images(root, busybox_tar, ["base:1"])
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM base:1\nLABEL a=b\nRUN sleep 1.5\n")
    build = _spawn(root, "build", "--network", "none", "-q", "-t", "child:1", str(ctx))
    try:
        time.sleep(0.8)  # the build is in its RUN step by now
        rmi = cli("rmi", "base:1")
        assert rmi.returncode == 0, rmi.stderr
        assert "Untagged: base:1" in rmi.stdout
        out, err = build.communicate(timeout=120)
    finally:
        if build.poll() is None:
            build.kill()
    assert build.returncode == 0, err
    check = cli("system", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    run = cli("run", "--rm", "--network", "none", "child:1", "true")
    assert run.returncode == 0, run.stderr


def test_rmi_of_a_base_with_built_children_only_untags(root: str, cli: Cli, busybox_tar: str, tmp_path) -> None:
    """Regression (found by the stress suite): ``rmi base`` deleted a base whose children were a build's
    untagged step images (which the tagged result stands on), breaking the chain. As docker's, removing
    its last tag only untags it; removing it by id is refused."""
    _import_images(root, busybox_tar, ["base:1"])
    base = cli("image", "inspect", "--format", "{{.Id}}", "base:1").stdout.strip()
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM base:1\nRUN echo hi > /f\nLABEL x=1\n")
    assert cli("build", "--network", "none", "-q", "-t", "child:1", str(ctx)).returncode == 0
    rmi = cli("rmi", "base:1")
    assert rmi.returncode == 0, rmi.stderr
    assert rmi.stdout.split() == ["Untagged:", "base:1"]
    by_id = cli("rmi", "-f", base[7:19])
    assert by_id.returncode != 0 and "image has dependent child images" in by_id.stderr
    check = cli("system", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert cli("run", "--rm", "--network", "none", "child:1", "cat", "/f").stdout == "hi\n"
