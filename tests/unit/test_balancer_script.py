"""The load balancer's transaction text (engine/network/balancer.py ``_script``) from a table's state: what a
service's change adds and drops, and what it must never touch (another owner's chains, elements and
subnets). No nftables needed: the table state is given."""

from __future__ import annotations

import pytest

from engine.errors import Conflict
from engine.network import balancer


def table(chains: set[str] | None = None, vmap: dict[tuple[str, str], str] | None = None,
          owned: dict[tuple[str, str], str] | None = None, hairpin: set[str] | None = None) -> balancer.Table:
    t = balancer.Table.__new__(balancer.Table)
    t.chains = set(chains or set()) | {"prerouting", "output", "postrouting", "input", "output_filter"}
    t.vmap = dict(vmap or {})
    t.owned = dict(owned or {})
    t.hairpin = set(hairpin or set())
    return t


def lines(script: str) -> list[str]:
    return [ln.replace(f"ip {balancer.TABLE} ", "") for ln in script.splitlines()]


def test_a_new_service_is_one_transaction_with_its_chains_elements_and_vip() -> None:
    routes: list[balancer.Route] = [
        {"proto": "tcp", "vip": "", "port": 8080, "backends": [("10.0.1.5", 80), ("10.0.1.6", 80)]},
        {"proto": "", "vip": "10.0.1.2", "port": 0, "backends": [("10.0.1.5", 0), ("10.0.1.6", 0)]}]
    out = lines(balancer._script(table(), "r-s1", routes, ["10.0.1.2"], ["10.0.1.0/24"], ["10.0.1.0/24"]))
    assert "add rule i_r-s1_tcp_8080 meta l4proto tcp dnat ip to numgen inc mod 2 map " \
           "{ 0 : 10.0.1.5 . 80, 1 : 10.0.1.6 . 80 }" in out
    assert "add rule v_r-s1_0a000102 dnat ip to numgen inc mod 2 map { 0 : 10.0.1.5, 1 : 10.0.1.6 }" in out
    assert "add element ingress_tcp { 8080 : jump i_r-s1_tcp_8080 }" in out
    assert "add element vip_any { 10.0.1.2 : jump v_r-s1_0a000102 }" in out
    assert 'add element vips { 10.0.1.2 comment "r-s1" }' in out
    assert "add element hairpin { 10.0.1.0/24 . 10.0.1.0/24 }" in out
    assert not [ln for ln in out if ln.startswith("delete")]


def test_no_backend_refuses_the_port_and_drops_the_chain() -> None:
    now = table(chains={"i_r-s1_tcp_8080"}, vmap={("ingress_tcp", "8080"): "i_r-s1_tcp_8080"})
    out = lines(balancer._script(now, "r-s1", [{"proto": "tcp", "vip": "", "port": 8080, "backends": []}], [], None))
    assert out.index("delete element ingress_tcp { 8080 }") < out.index("delete chain i_r-s1_tcp_8080")
    assert 'add element refuse_tcp { 8080 comment "r-s1" }' in out


def test_a_vip_without_backend_is_bound_to_itself() -> None:
    out = lines(balancer._script(table(), "r-s1", [{"proto": "", "vip": "10.0.1.2", "port": 0, "backends": []}],
                                 ["10.0.1.2"], None))
    assert "add rule v_r-s1_0a000102 dnat ip to 10.0.1.2" in out  # no other table's DNAT takes it
    assert "add element vip_any { 10.0.1.2 : jump v_r-s1_0a000102 }" in out
    assert 'add element vips { 10.0.1.2 comment "r-s1" }' in out  # refused in input


def test_one_backend_is_a_plain_dnat() -> None:
    out = lines(balancer._script(table(), "r-s1", [{"proto": "udp", "vip": "", "port": 53,
                                                     "backends": [("10.0.1.5", 5353)]}], [], None))
    assert "add rule i_r-s1_udp_53 meta l4proto udp dnat ip to 10.0.1.5:5353" in out


def test_another_owners_port_or_vip_is_a_conflict_and_nothing_is_written() -> None:
    now = table(chains={"i_r-other_tcp_8080"}, vmap={("ingress_tcp", "8080"): "i_r-other_tcp_8080"},
                owned={("vips", "10.0.1.9"): "r-other"})
    with pytest.raises(Conflict, match="8080/tcp"):
        balancer._script(now, "r-s1", [{"proto": "tcp", "vip": "", "port": 8080, "backends": [("10.0.1.5", 80)]}],
                         [], None)
    with pytest.raises(Conflict, match="10.0.1.9"):
        balancer._script(now, "r-s1", [], ["10.0.1.9"], None)


def test_removal_touches_only_its_owner_and_its_root_subnets() -> None:
    now = table(chains={"i_r-s1_tcp_8080", "i_r-s10_tcp_9090", "v_r-s1_0a000102"},
                vmap={("ingress_tcp", "8080"): "i_r-s1_tcp_8080", ("ingress_tcp", "9090"): "i_r-s10_tcp_9090",
                      ("vip_any", "10.0.1.2"): "v_r-s1_0a000102"},
                owned={("vips", "10.0.1.2"): "r-s1", ("refuse_udp", "53"): "q-s1"},
                hairpin={"10.0.1.0/24 . 10.0.1.0/24", "10.0.7.0/24 . 10.0.7.0/24"})
    out = lines(balancer._script(now, "r-s1", [], [], [], ["10.0.1.0/24"]))
    assert "delete element ingress_tcp { 8080 }" in out and "delete chain i_r-s1_tcp_8080" in out
    assert "delete element vip_any { 10.0.1.2 }" in out and "delete chain v_r-s1_0a000102" in out
    assert "delete element vips { 10.0.1.2 }" in out
    assert "delete element hairpin { 10.0.1.0/24 . 10.0.1.0/24 }" in out
    text = "\n".join(out)
    assert "9090" not in text and "r-s10" not in text  # a longer owner name with the same start
    assert "refuse_udp" not in text  # another data root's owner
    assert "10.0.7.0" not in text  # another data root's subnet


def test_nothing_to_do_is_an_empty_script() -> None:
    assert balancer._script(table(), "r-s1", [], [], None) == ""
