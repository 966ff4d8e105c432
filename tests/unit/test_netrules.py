"""The network faults' addresses, rules and scripts, without containers.

The scripts run in bash against stand-in ``iptables`` / ``iptables-restore`` / ``tc`` commands
that print a listing and keep what they were fed, so what a fault would change is asserted.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from typing import Any, cast

import pytest

from drillkit.backend.node import Node
from drillkit.faults.base import split_markers
from drillkit.faults.netrules import (
    HOLD,
    blocking,
    burst_bytes,
    cut_between,
    drop,
    gateway,
    held,
    install_chain,
    install_tbf,
    node_address,
    remove_chain,
    remove_tbf,
)

CHAIN = "DRILLKIT-abc123"


class NetNode:
    """A node that has only a name and network settings (no address while it is not running)."""

    def __init__(self, name: str, ip: str | None, prefix: int = 16, gw: str = "172.18.0.1") -> None:
        self.name = name
        self._info = {"IPAddress": ip or "", "IPPrefixLen": prefix, "Gateway": gw}

    def network_info(self, network: str) -> dict[str, Any]:
        return self._info


def _node(name: str, ip: str | None, **kw: Any) -> Node:
    return cast(Node, NetNode(name, ip, **kw))


def _bash(
    script: str, tmp_path: Path, commands: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` with bash, ``commands`` (name -> bash body) first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in commands.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/bash\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "OUT": str(tmp_path)}
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env)


def _run(script: str, tmp_path: Path, commands: dict[str, str]) -> str:
    """The stdout of a script that must succeed."""
    done = _bash(script, tmp_path, commands)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_drop_rules_name_sources_in_input_and_destinations_in_output() -> None:
    assert drop(["10.0.0.2", "10.0.0.3"]) == [
        "-s 10.0.0.2 -j DROP",
        "-d 10.0.0.2 -j DROP",
        "-s 10.0.0.3 -j DROP",
        "-d 10.0.0.3 -j DROP",
    ]
    chance = "-m statistic --mode random --probability 0.2500 "
    assert drop(["10.0.0.2"], outbound=False, match=chance) == [f"-s 10.0.0.2 {chance}-j DROP"]


def test_blocking_skips_the_node_itself_and_names_peers_that_have_no_address() -> None:
    me = _node("pg0", "172.18.0.2")
    peers = [me, _node("pg1", "172.18.0.3"), _node("pg2", None)]
    rules = blocking(me, peers, "net")
    assert rules.rules == ["-s 172.18.0.3 -j DROP", "-d 172.18.0.3 -j DROP"]
    assert rules.note == " (not running, not blocked: pg2)"
    assert blocking(me, [me], "net").note == ""


def test_nothing_outside_the_run_network_is_ever_blocked() -> None:
    me = _node("pg0", "172.18.0.2")
    with pytest.raises(ValueError, match=r"10\.0\.0\.3 is outside net \(172\.18\.0\.0/16\)"):
        blocking(me, [_node("far", "10.0.0.3")], "net")
    with pytest.raises(ValueError, match="drillkit never blocks it"):
        gateway(_node("pg0", "172.18.0.2", gw="192.168.1.1"), "net")
    assert gateway(me, "net") == "172.18.0.1"
    assert node_address(_node("pg2", None), "net") is None


def test_a_cut_puts_rules_on_both_ends_of_every_pair() -> None:
    a, b, c = _node("a", "172.18.0.2"), _node("b", "172.18.0.3"), _node("c", "172.18.0.4")
    rules = {r.node.name: r.rules for r in cut_between("net", [(a, b), (a, c)])}
    assert rules == {
        "a": [f"-{d} 172.18.0.{n} -j DROP" for n in (3, 4) for d in "sd"],
        "b": ["-s 172.18.0.2 -j DROP", "-d 172.18.0.2 -j DROP"],
        "c": ["-s 172.18.0.2 -j DROP", "-d 172.18.0.2 -j DROP"],
    }
    with pytest.raises(ValueError, match="cannot cut a from itself"):
        cut_between("net", [(a, a)])


def test_install_chain_is_one_transaction_with_the_jumps_then_the_marker(tmp_path: Path) -> None:
    script = held(None, install_chain(CHAIN, ["-s 172.18.0.3 -j DROP"], " (note)"))
    out = _run(
        script,
        tmp_path,
        {
            "iptables-restore": 'echo "$@" > "$OUT/args"; cat > "$OUT/restore"',
            "iptables": f'echo ":{CHAIN}"; echo "-A {CHAIN} -s 172.18.0.3 -j DROP"',
        },
    )
    assert (tmp_path / "args").read_text() == "-w --noflush\n"
    assert (tmp_path / "restore").read_text() == (
        f"*filter\n:{CHAIN} - [0:0]\n-A {CHAIN} -s 172.18.0.3 -j DROP\n"
        f"-I INPUT 1 -j {CHAIN}\n-I OUTPUT 1 -j {CHAIN}\nCOMMIT\n"
    )
    text, stamps = split_markers(out)
    assert text.strip() == f"1 rules in {CHAIN} (note)" and len(stamps) == 1


def test_remove_chain_deletes_only_its_own_jumps_and_chain(tmp_path: Path) -> None:
    listing = "\n".join(
        [
            "-P INPUT ACCEPT",
            "-N DRILLKIT-other",
            f"-N {CHAIN}",
            f"-A INPUT -j {CHAIN}",
            "-A INPUT -j DRILLKIT-other",
            f"-A OUTPUT -j {CHAIN}",
            f"-A {CHAIN} -s 172.18.0.3 -j DROP",
            f"-A {CHAIN} -d 172.18.0.3 -j DROP",
        ]
    )
    fakes = {
        "iptables": f"cat <<'EOF'\n{listing}\nEOF",
        "iptables-restore": 'cat > "$OUT/restore"',
    }
    out = _run(held(None, remove_chain(CHAIN)), tmp_path, fakes)
    assert (tmp_path / "restore").read_text() == (
        f"*filter\n-D INPUT -j {CHAIN}\n-D OUTPUT -j {CHAIN}\n-F {CHAIN}\n-X {CHAIN}\nCOMMIT\n"
    )
    text, stamps = split_markers(out)
    assert text.strip() == f"removed {CHAIN} (2 rules, 2 jumps)" and len(stamps) == 1

    gone = _run(held(None, remove_chain("DRILLKIT-gone00")), tmp_path, fakes)
    text, stamps = split_markers(gone)
    assert text.strip() == "no DRILLKIT-gone00 (nothing to remove)" and len(stamps) == 1


def test_tbf_is_added_and_removed_by_its_own_handle(tmp_path: Path) -> None:
    fakes = {
        "ip": 'echo "2: eth0    inet 172.18.0.4/16 brd 172.18.255.255 scope global eth0"',
        "tc": 'echo "$@" >> "$OUT/tc"; echo "qdisc tbf 1abc: root refcnt 2 rate 1Mbit"',
    }
    out = _run(held(None, install_tbf("1abc", "1mbit", 16384, "172.18.0.4")), tmp_path, fakes)
    assert "qdisc tbf 1abc: root" in split_markers(out)[0]
    _run(held(None, remove_tbf("1abc")), tmp_path, fakes)
    assert (tmp_path / "tc").read_text().splitlines() == [
        "qdisc add dev eth0 root handle 1abc: tbf rate 1mbit burst 16384 latency 200ms",
        "qdisc show dev eth0",
        "qdisc show dev eth0",
        "qdisc del dev eth0 root handle 1abc:",
    ]
    wrong = held(None, install_tbf("1abc", "1mbit", 16384, "172.18.0.9"))
    done = _bash(wrong, tmp_path, fakes)
    assert done.returncode == 3 and "eth0 does not hold 172.18.0.9" in done.stderr


def test_burst_is_ten_milliseconds_of_traffic_and_at_least_16_kib() -> None:
    assert burst_bytes("1mbit") == 16 * 1024
    assert burst_bytes("100mbit") == 125_000
    assert burst_bytes("1gbit") == 1_250_000
    assert burst_bytes("512bit") == 16 * 1024


def test_a_script_is_held_at_its_hold_point_and_unheld_without_an_aim() -> None:
    script = install_chain(CHAIN, [])
    assert HOLD in script and HOLD not in held(None, script)
    aimed = held(10**18, script)
    assert aimed.index("sleep") < aimed.index("iptables-restore") and HOLD not in aimed
    assert held(10**18, "echo hi").endswith("fi\necho hi")
