"""What a network fault changes in a node's namespace: addresses, DROP rules and the scripts.

Pure builders (they read a node's network settings, never change anything), so the exact
scripts are unit-tested; :mod:`drillkit.faults.network` runs them in the nodes' namespaces.

Addresses: peers are blocked by their IP on the run's network, and nothing outside that
network's subnet is ever named in a rule. The harness reaches a node through a port Docker
publishes on 127.0.0.1; inside the node that traffic arrives from the network's gateway address
(docker-proxy, the userland proxy, connects from it; verified with ``inet_client_addr()`` in
tests/integration/test_network_faults.py). So blocking peers leaves the client path working, and
blocking the gateway (``cut-client``) leaves the peers working.

Scripts: a chain and its rules and jumps go in with one ``iptables-restore --noflush``, and come
out the same way (only that chain and its jumps); ``bandwidth`` adds a ``tbf`` root qdisc with a
handle of its own and deletes only a qdisc with that handle. Each install/remove script prints
``DRILLKIT-EFFECTIVE <epoch ns>`` right after ``iptables-restore`` / ``tc`` (or the last jump
deleted) returned, from bash's ``$EPOCHREALTIME`` (microseconds, no fork; ``date +%s%N`` costs a
few ms), and :func:`held` makes a script wait at its ``HOLD`` point for the moment it is aimed at.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from drillkit.backend.node import Node
from drillkit.faults.base import MARKER

__all__ = [
    "DEVICE",
    "HOLD",
    "NodeRules",
    "blocking",
    "burst_bytes",
    "cut_between",
    "drop",
    "gateway",
    "held",
    "install_chain",
    "install_tbf",
    "node_address",
    "remove_chain",
    "remove_tbf",
]

DEVICE = "eth0"
_UNITS = {"bit": 1, "kbit": 10**3, "mbit": 10**6, "gbit": 10**9}  # tc's units are decimal


@dataclass(frozen=True)
class NodeRules:
    """The DROP rules one node gets, and the peers left unblocked because they have no address
    (not running: the address they will get is unknown), so the evidence says so."""

    node: Node
    rules: list[str]
    unblocked: list[str] = field(default_factory=list)

    @property
    def note(self) -> str:
        return f" (not running, not blocked: {', '.join(self.unblocked)})" if self.unblocked else ""


def _subnet(node: Node, network: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    info = node.network_info(network)
    return ipaddress.ip_interface(f"{info['IPAddress']}/{info['IPPrefixLen']}").network


def _inside(node: Node, network: str, address: str) -> str:
    """``address`` if it lies in the run's network as ``node`` sees it; refuse anything else."""
    return _checked(address, _subnet(node, network), network)


def _checked(
    address: str, subnet: ipaddress.IPv4Network | ipaddress.IPv6Network, network: str
) -> str:
    if ipaddress.ip_address(address) not in subnet:
        raise ValueError(f"{address} is outside {network} ({subnet}); drillkit never blocks it")
    return address


def node_address(node: Node, network: str) -> str | None:
    """The node's IP on the run's network, or None while it is not running (it has none)."""
    address = str(node.network_info(network).get("IPAddress") or "")
    return address or None


def gateway(node: Node, network: str) -> str:
    """Where the harness's traffic to ``node`` comes from (see the module docstring)."""
    return _inside(node, network, str(node.network_info(network)["Gateway"]))


HOLD = "#DRILLKIT-HOLD\n"  # where a held script waits for its moment (see held)
_MARK = f'echo "{MARKER} ${{EPOCHREALTIME/[.,]/}}000"'


def install_chain(chain: str, rules: Sequence[str], note: str = "") -> str:
    """Chain, rules and jumps in one iptables-restore transaction: all take effect at once."""
    body = "\n".join(f"-A {chain} {rule}" for rule in rules)
    return f"""set -euo pipefail
{HOLD}iptables-restore -w --noflush <<'RULES'
*filter
:{chain} - [0:0]
{body}
-I INPUT 1 -j {chain}
-I OUTPUT 1 -j {chain}
COMMIT
RULES
{_MARK}
listing=$(iptables -w -S {chain})
echo "$(grep -c -- '^-A {chain} ' <<<"$listing" || true) rules in {chain}{note}"
"""


def remove_chain(chain: str) -> str:
    """Delete the jumps to ``chain`` and the chain itself if present, in one iptables-restore
    transaction prepared before the hold; touch nothing else."""
    return f"""set -euo pipefail
listing=$(iptables -w -S)
jumps=0
ops=""
for hook in INPUT OUTPUT; do
  n=$(grep -cxF -- "-A $hook -j {chain}" <<<"$listing" || true)
  for _ in $(seq 1 "$n"); do ops+="-D $hook -j {chain}"$'\\n'; jumps=$((jumps + 1)); done
done
if grep -qxF -- "-N {chain}" <<<"$listing"; then
  rules=$(grep -c -- '^-A {chain} ' <<<"$listing" || true)
  ops+="-F {chain}"$'\\n'"-X {chain}"$'\\n'
{HOLD}  printf '*filter\\n%sCOMMIT\\n' "$ops" | iptables-restore -w --noflush
  {_MARK}
  echo "removed {chain} ($rules rules, $jumps jumps)"
else
  {_MARK}
  echo "no {chain} (nothing to remove)"
fi
"""


def install_tbf(handle: str, rate: str, burst: int, address: str) -> str:
    return f"""set -euo pipefail
addresses=$(ip -o addr show dev {DEVICE})
grep -qF " {address}/" <<<"$addresses" || {{ echo "{DEVICE} does not hold {address}" >&2; exit 3; }}
{HOLD}tc qdisc add dev {DEVICE} root handle {handle}: tbf rate {rate} burst {burst} latency 200ms
{_MARK}
shown=$(tc qdisc show dev {DEVICE})
grep -F "qdisc tbf {handle}: root" <<<"$shown"
"""


def remove_tbf(handle: str) -> str:
    return f"""set -euo pipefail
shown=$(tc qdisc show dev {DEVICE})
if grep -qF "qdisc tbf {handle}: root" <<<"$shown"; then
{HOLD}  tc qdisc del dev {DEVICE} root handle {handle}:
  {_MARK}
  echo "removed tbf {handle}: from {DEVICE}"
else
  echo "no tbf {handle}: on {DEVICE} (nothing to remove)"
fi
"""


def burst_bytes(rate: str) -> int:
    """About 10 ms of traffic at ``rate``, and at least 16 KiB so full-size packets pass."""
    unit = next(u for u in sorted(_UNITS, key=len, reverse=True) if rate.endswith(u))
    bytes_per_second = float(rate[: -len(unit)]) * _UNITS[unit] / 8
    return max(16 * 1024, int(bytes_per_second / 100))


def held(aim_ns: int | None, script: str) -> str:
    """``script`` with a wait until ``aim_ns`` (monotonic) at its hold point, if it is ahead:
    the helper's start-up (0.1-0.25 s here, and variable) and the preparation are spent before
    the moment, and only the change itself after it."""
    if aim_ns is None:
        return script.replace(HOLD, "")
    until_us = (aim_ns + time.time_ns() - time.monotonic_ns()) // 1000  # monotonic -> wall
    wait = f"""until_us={until_us}
left_us=$(( until_us - ${{EPOCHREALTIME/[.,]/}} ))
if (( left_us > 0 )); then
  printf -v pause '%d.%06d' $(( left_us / 1000000 )) $(( left_us % 1000000 ))
  sleep "$pause"
fi
"""
    return script.replace(HOLD, wait) if HOLD in script else wait + script


def drop(
    addresses: Iterable[str], *, inbound: bool = True, outbound: bool = True, match: str = ""
) -> list[str]:
    """DROP rules for traffic from (``-s``, seen in INPUT) and to (``-d``, in OUTPUT) addresses.

    One chain serves both hooks: in INPUT only ``-s peer`` can match, in OUTPUT only ``-d peer``.
    """
    rules: list[str] = []
    for address in addresses:
        rules += [f"-s {address} {match}-j DROP"] if inbound else []
        rules += [f"-d {address} {match}-j DROP"] if outbound else []
    return rules


def blocking(
    node: Node,
    peers: Iterable[Node],
    network: str,
    *,
    inbound: bool = True,
    outbound: bool = True,
    match: str = "",
) -> NodeRules:
    """``node``'s rules dropping traffic with ``peers`` (itself excluded), by their addresses on
    the run's network, each checked to lie in that network's subnet."""
    subnet = _subnet(node, network)
    addresses: list[str] = []
    unblocked: list[str] = []
    for peer in peers:
        if peer.name == node.name:
            continue
        address = node_address(peer, network)
        if address is None:
            unblocked.append(peer.name)
        else:
            addresses.append(_checked(address, subnet, network))
    rules = drop(addresses, inbound=inbound, outbound=outbound, match=match)
    return NodeRules(node, rules, unblocked)


def cut_between(network: str, pairs: Iterable[tuple[Node, Node]]) -> list[NodeRules]:
    """Rules on both ends of every pair dropping all traffic between them."""
    peers: dict[str, tuple[Node, list[Node]]] = {}
    for a, b in pairs:
        if a.name == b.name:
            raise ValueError(f"cannot cut {a.name} from itself")
        peers.setdefault(a.name, (a, []))[1].append(b)
        peers.setdefault(b.name, (b, []))[1].append(a)
    return [blocking(n, ps, network) for n, ps in peers.values()]
