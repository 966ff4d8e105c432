"""Network faults on a real primary with two streaming replicas: the effect a user would see
(replication stops, the harness cannot connect, a replica falls behind), and heal undoing it
without leaving a rule behind.

One cluster serves the whole module; every test heals in ``finally`` and a fixture checks after
each test that no drillkit chain or qdisc is left on any node. PostgreSQL's replication timeouts
are lowered to 2 s on this cluster so a cut link is noticed in seconds (the defaults are 60 s).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from drillkit.faults import FAULTS, make_fault
from drillkit.faults.base import FaultFailed
from drillkit.faults.netns import HELPER_LABEL, in_parallel, run_in_netns
from drillkit.faults.network import CHAIN_PREFIX
from drillkit.history import History, Op, OpType
from drillkit.images import NodeImages
from drillkit.resources import RUN_LABEL
from drillkit.spec.faults import FAULT_SPECS
from drillkit.topology.node import Node
from drillkit.topology.postgres import PG_PORT, PostgresCluster

from .conftest import pg_cluster

pytestmark = pytest.mark.integration

REPLICAS = {"pg1", "pg2"}
DETECT = 15.0  # seconds allowed for PostgreSQL to notice a cut link (2 s timeouts + slack)
RECOVER = 30.0  # seconds allowed for a replica to stream again after heal


# -- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster(docker_client: Any, images: NodeImages) -> Iterator[PostgresCluster]:
    with pg_cluster(docker_client, images, "network", replicas=2) as pg:
        _wait(lambda: all(_receiving(pg, n) for n in REPLICAS), 60.0, "replicas up")
        _fast_replication_timeouts(pg)
        pg.query(pg.node("pg0"), "CREATE TABLE net_t (id serial PRIMARY KEY, pad text)")
        yield pg


@pytest.fixture
def history() -> History:
    return History()


@pytest.fixture(autouse=True)
def steady_and_clean(cluster: PostgresCluster) -> Iterator[None]:
    """Each test starts with both replicas streaming and must leave no rule or qdisc behind."""
    _wait(lambda: _streaming(cluster) == REPLICAS, RECOVER, "both replicas streaming")
    yield
    leftovers = in_parallel(
        cluster.nodes,
        lambda n: run_in_netns(n, "iptables -S; tc qdisc show dev eth0"),
    )
    for node, listing in zip(cluster.nodes, leftovers, strict=True):
        assert not isinstance(listing, Exception), listing
        assert CHAIN_PREFIX not in listing and "tbf" not in listing, f"{node.name}: {listing}"


def _receiving(pg: PostgresCluster, name: str) -> bool:
    """Whether the replica's own walreceiver streams. PostgresCluster's readiness check can pass
    on pg_basebackup's WAL stream, before the replica accepts connections."""
    try:
        rows = pg.query(pg.node(name), "SELECT status FROM pg_stat_wal_receiver")
    except psycopg.OperationalError:
        return False
    return any(r["status"] == "streaming" for r in rows)


def _fast_replication_timeouts(pg: PostgresCluster) -> None:
    """Notice a dead replication link in ~2 s (not 60 s) and reconnect within ~2.5 s of heal.

    Without connect_timeout the walreceiver's reconnect waits on TCP SYN back-off (up to ~1 min
    after a long cut) before it sees the link is back.
    """
    with pg.connect(pg.node("pg0")) as conn:
        conn.execute("ALTER SYSTEM SET wal_sender_timeout = '2s'")
        conn.execute("SELECT pg_reload_conf()")
    for name in sorted(REPLICAS):
        with pg.connect(pg.node(name)) as conn:
            row = conn.execute("SHOW primary_conninfo").fetchone()
            assert row is not None
            conninfo = sql.Literal(f"{row[0]} connect_timeout=2")
            conn.execute(sql.SQL("ALTER SYSTEM SET primary_conninfo = {}").format(conninfo))
            conn.execute("ALTER SYSTEM SET wal_receiver_timeout = '2s'")
            conn.execute("ALTER SYSTEM SET wal_retrieve_retry_interval = '500ms'")
            conn.execute("SELECT pg_reload_conf()")


# -- observing ----------------------------------------------------------------------------------
def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll until ``predicate`` holds; the seconds it took, or an AssertionError at the deadline."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"not {what} within {timeout:g}s")


def _names_by_address(pg: PostgresCluster) -> dict[str, str]:
    return {n.ip(pg.network_name): n.name for n in pg.nodes}


def _streaming(pg: PostgresCluster) -> set[str]:
    """Replicas the primary's pg_stat_replication lists as streaming, by node name."""
    rows = pg.query(
        pg.node("pg0"), "SELECT host(client_addr) AS addr, state FROM pg_stat_replication"
    )
    names = _names_by_address(pg)
    return {names.get(r["addr"], r["addr"]) for r in rows if r["state"] == "streaming"}


def _lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def _write(pg: PostgresCluster, rows: int = 2000) -> int:
    """Insert rows on the primary; the WAL position after the commit."""
    primary = pg.node("pg0")
    pg.query(
        primary,
        "INSERT INTO net_t (pad) SELECT repeat('x', 200) FROM generate_series(1, %s)",
        (rows,),
    )
    return _lsn(pg.query(primary, "SELECT pg_current_wal_lsn()::text AS l")[0]["l"])


def _replayed(pg: PostgresCluster, name: str) -> int:
    """The replica's replay position, asked of the replica itself (through the client path)."""
    return _lsn(pg.query(pg.node(name), "SELECT pg_last_wal_replay_lsn()::text AS l")[0]["l"])


def _replayed_per_primary(pg: PostgresCluster, name: str) -> int:
    """The replica's replay position as the primary's walsender last heard it (0 if none)."""
    address = pg.node(name).ip(pg.network_name)
    rows = pg.query(
        pg.node("pg0"),
        "SELECT replay_lsn::text AS l FROM pg_stat_replication WHERE host(client_addr) = %s",
        (address,),
    )
    return max((_lsn(r["l"]) for r in rows if r["l"]), default=0)


def _netns(pg: PostgresCluster, name: str, script: str) -> str:
    return run_in_netns(pg.node(name), script)


def _tcp_reaches(pg: PostgresCluster, source: str, dest: str) -> bool:
    """Whether a TCP connect from ``source``'s namespace to ``dest``'s PostgreSQL port succeeds."""
    address = pg.node(dest).ip(pg.network_name)
    out = _netns(
        pg, source, f"timeout 1 bash -c '</dev/tcp/{address}/{PG_PORT}' && echo yes || echo no"
    )
    return out.strip() == "yes"


def _harness_connects(pg: PostgresCluster, node: Node) -> bool:
    try:
        with psycopg.connect(pg.conninfo([node], connect_timeout=2)) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError:
        return False


def _fault(kind: str, **fields: Any) -> Any:
    """A fault built the way a drill builds it: spec model, then the registry."""
    return make_fault(FAULT_SPECS[kind](kind=kind, **fields))


def _ops(history: History, f: str) -> list[Op]:
    return [op for op in history.ops() if op.f == f and op.type is not OpType.INVOKE]


def _assert_marked(op: Op, which: str = "") -> None:
    """The op is dated by the helper's marker, within [requested, returned]."""
    extra = op.extra
    assert extra["effective_by"].startswith("DRILLKIT-EFFECTIVE marker"), extra["effective_by"]
    assert which in extra["effective_by"]
    assert extra["requested_ns"] <= extra["effective_ns"] <= extra["returned_ns"]
    assert op.time_ns == extra["effective_ns"] and "DRILLKIT-EFFECTIVE" not in extra["evidence"]


def _injected(fault: Any, pg: PostgresCluster, history: History) -> Any:
    """Inject ``fault`` and hand it back; the caller heals it in ``finally``."""
    fault.inject(pg, history)
    return fault


# -- the faults ---------------------------------------------------------------------------------
def test_every_network_kind_is_registered() -> None:
    kinds = {
        "isolate",
        "partition",
        "partition-one-way",
        "cut-link",
        "cut-client",
        "packet-loss",
        "bandwidth",
        "replication-lag",
    }
    assert kinds <= FAULTS.keys()


def test_harness_traffic_arrives_from_the_gateway(cluster: PostgresCluster) -> None:
    """What cut-client blocks and isolate spares: the docker-proxy path comes from the gateway."""
    for node in cluster.nodes:
        seen = cluster.query(node, "SELECT host(inet_client_addr()) AS a")[0]["a"]
        assert seen == node.network_info(cluster.network_name)["Gateway"]


def test_isolate_stops_replication_and_heal_restores_it(
    cluster: PostgresCluster, history: History
) -> None:
    fault = _injected(_fault("isolate", target="pg1"), cluster, history)
    try:
        assert f"-A INPUT -j {fault.chain}" in _netns(cluster, "pg1", "iptables -S")
        _wait(lambda: "pg1" not in _streaming(cluster), DETECT, "pg1 dropped by the primary")
        assert "pg2" in _streaming(cluster)
        assert _harness_connects(cluster, cluster.node("pg1")), "isolate cut the client path"
    finally:
        fault.heal(cluster, history)
    _wait(lambda: _streaming(cluster) == REPLICAS, RECOVER, "pg1 streaming again")
    assert fault.chain not in _netns(cluster, "pg1", "iptables -S")
    [inject] = _ops(history, "isolate")
    assert inject.type is OpType.OK and inject.value["nodes"] == ["pg1"]
    assert re.fullmatch(rf"pg1: 4 rules in {fault.chain}", inject.extra["evidence"])
    _assert_marked(inject)
    [heal] = _ops(history, "heal-isolate")
    _assert_marked(heal)
    assert heal.type is OpType.OK and heal.extra["evidence"] == (
        f"pg1: removed {fault.chain} (4 rules, 2 jumps)"
    )


def test_partition_disconnects_both_replicas_but_not_each_other(
    cluster: PostgresCluster, history: History
) -> None:
    fault = _injected(_fault("partition", groups=[["pg0"], ["pg1", "pg2"]]), cluster, history)
    try:
        _wait(lambda: not _streaming(cluster), DETECT, "both replicas dropped")
        assert not _tcp_reaches(cluster, "pg1", "pg0")
        assert _tcp_reaches(cluster, "pg1", "pg2")
    finally:
        fault.heal(cluster, history)
    _wait(lambda: _streaming(cluster) == REPLICAS, RECOVER, "both replicas streaming again")
    evidence = _ops(history, "partition")[0].extra["evidence"]
    assert evidence == (
        f"pg0: 4 rules in {fault.chain}; pg1: 2 rules in {fault.chain}; "
        f"pg2: 2 rules in {fault.chain}"
    )


UDP_PROBE = """python3 - <<'PY'
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 47999))
s.settimeout(0.02)
got, end = 0, time.monotonic() + 1.5
while time.monotonic() < end:
    s.sendto(b"x", ("{peer}", 47999))
    try:
        while True:
            s.recvfrom(16)
            got += 1
    except OSError:
        pass
print(got)
PY
"""


def _udp_received(pg: PostgresCluster, a: str, b: str) -> dict[str, int]:
    """Both nodes send datagrams to each other for 1.5 s; how many each one received."""
    ends = [(a, b), (b, a)]
    counts = in_parallel(
        ends,
        lambda e: _netns(pg, e[0], UDP_PROBE.format(peer=pg.node(e[1]).ip(pg.network_name))),
    )
    assert not any(isinstance(c, Exception) for c in counts), counts
    return {name: int(str(c).strip()) for (name, _), c in zip(ends, counts, strict=True)}


def test_partition_one_way_drops_one_direction_only(
    cluster: PostgresCluster, history: History
) -> None:
    fault = _injected(_fault("partition-one-way", source="pg1", dest="pg2"), cluster, history)
    try:
        received = _udp_received(cluster, "pg1", "pg2")
        assert received["pg2"] == 0, "pg1's datagrams reached pg2"
        assert received["pg1"] > 10, "pg2's datagrams should still reach pg1"
    finally:
        fault.heal(cluster, history)
    received = _udp_received(cluster, "pg1", "pg2")
    assert received["pg1"] > 10 and received["pg2"] > 10
    assert _ops(history, "partition-one-way")[0].extra["evidence"] == (
        f"pg2: 1 rules in {fault.chain}"
    )


def test_cut_link_stops_only_that_link(cluster: PostgresCluster, history: History) -> None:
    fault = _injected(_fault("cut-link", between=["pg0", "pg1"]), cluster, history)
    try:
        _wait(lambda: "pg1" not in _streaming(cluster), DETECT, "pg1 dropped by the primary")
        assert "pg2" in _streaming(cluster)
        assert _tcp_reaches(cluster, "pg1", "pg2") and _tcp_reaches(cluster, "pg2", "pg0")
    finally:
        fault.heal(cluster, history)
    _wait(lambda: _streaming(cluster) == REPLICAS, RECOVER, "pg1 streaming again")
    _assert_marked(_ops(history, "cut-link")[0], "(earliest node)")
    _assert_marked(_ops(history, "heal-cut-link")[0], "(latest node)")


def test_heal_after_kill_or_restart_is_a_recorded_noop(
    cluster: PostgresCluster, history: History
) -> None:
    """The rules went with the node's network namespace: nothing to remove, nothing failed."""
    pg2 = cluster.node("pg2")
    killed = _injected(_fault("isolate", target="pg2"), cluster, history)
    pg2.kill("SIGKILL")
    pg2.wait_exit(timeout=30)
    try:
        killed.heal(cluster, history)
        pg2.start()
        _wait(lambda: _receiving(cluster, "pg2"), RECOVER, "pg2 back")
        restarted = _injected(_fault("isolate", target="pg2"), cluster, history)
        pg2.restart(timeout=5)
        restarted.heal(cluster, history)
    finally:
        if pg2.status() != "running":
            pg2.start()
    heals = _ops(history, "heal-isolate")
    assert [op.type for op in heals] == [OpType.OK, OpType.OK]
    assert heals[0].extra["evidence"].startswith("pg2: exited, its rules went with its network")
    assert heals[1].extra["evidence"].startswith("pg2: restarted since the injection")
    assert not [op for op in history.ops() if op.type is OpType.FAIL]


def test_cut_client_blocks_the_harness_while_replication_streams(
    cluster: PostgresCluster, history: History
) -> None:
    pg1 = cluster.node("pg1")
    fault = _injected(_fault("cut-client", target="pg1"), cluster, history)
    try:
        started = time.monotonic()
        assert not _harness_connects(cluster, pg1)
        assert time.monotonic() - started < 5.0, "the connect should fail by connect_timeout"
        written = _write(cluster)
        _wait(
            lambda: _replayed_per_primary(cluster, "pg1") >= written,
            DETECT,
            "pg1 replaying the primary's writes",
        )
        assert "pg1" in _streaming(cluster)
    finally:
        fault.heal(cluster, history)
    _wait(lambda: _harness_connects(cluster, pg1), 10.0, "the harness reaching pg1 again")
    gateway = pg1.network_info(cluster.network_name)["Gateway"]
    assert _ops(history, "cut-client")[0].extra["evidence"] == f"pg1: 2 rules in {fault.chain}"
    assert gateway not in _netns(cluster, "pg1", "iptables -S")


def test_packet_loss_of_100_percent_behaves_like_isolation(
    cluster: PostgresCluster, history: History
) -> None:
    fault = _injected(_fault("packet-loss", target="pg2", percent=100), cluster, history)
    try:
        assert "--mode random --probability 1" in _netns(
            cluster, "pg2", f"iptables -S {fault.chain}"
        )
        _wait(lambda: "pg2" not in _streaming(cluster), DETECT, "pg2 dropped by the primary")
        assert _harness_connects(cluster, cluster.node("pg2"))
    finally:
        fault.heal(cluster, history)
    _wait(lambda: _streaming(cluster) == REPLICAS, RECOVER, "pg2 streaming again")


def _fetch_seconds(pg: PostgresCluster, node: Node, size: int) -> float:
    """How long fetching ``size`` bytes from ``node`` takes (the node sends them)."""
    with pg.connect(node) as conn:
        started = time.monotonic()
        conn.execute("SELECT repeat('x', %s)", (size,)).fetchone()
        return time.monotonic() - started


def test_bandwidth_throttles_the_node_and_heal_removes_the_qdisc(
    cluster: PostgresCluster, history: History
) -> None:
    pg1, size = cluster.node("pg1"), 500_000
    assert _fetch_seconds(cluster, pg1, size) < 0.5
    fault = _injected(_fault("bandwidth", target="pg1", rate="4mbit"), cluster, history)
    try:
        assert f"qdisc tbf {fault.handle}: root" in _netns(cluster, "pg1", "tc qdisc show dev eth0")
        # 500 kB at 4 Mbit/s is 1 s on the wire; allow for the initial burst and for noise.
        assert _fetch_seconds(cluster, pg1, size) > 0.6
    finally:
        fault.heal(cluster, history)
    assert "tbf" not in _netns(cluster, "pg1", "tc qdisc show dev eth0")
    assert _fetch_seconds(cluster, pg1, size) < 0.5
    assert _ops(history, "heal-bandwidth")[0].extra["evidence"] == (
        f"pg1: removed tbf {fault.handle}: from eth0"
    )


def test_a_conflicting_injection_fails_with_stderr_and_its_heal_keeps_the_other(
    cluster: PostgresCluster, history: History
) -> None:
    first = _injected(_fault("bandwidth", target="pg2", rate="100mbit"), cluster, history)
    second = _fault("bandwidth", target="pg2", rate="1mbit")
    try:
        with pytest.raises(FaultFailed, match=r"pg2: helper exited with 2: .*NLM_F_REPLACE"):
            second.inject(cluster, history)
        failed = [op for op in _ops(history, "bandwidth") if op.type is OpType.FAIL]
        assert len(failed) == 1 and "NLM_F_REPLACE" in (failed[0].error or "")
        second.heal(cluster, history)
        assert f"qdisc tbf {first.handle}: root" in _netns(cluster, "pg2", "tc qdisc show dev eth0")
    finally:
        first.heal(cluster, history)
    heals = [op.extra["evidence"] for op in _ops(history, "heal-bandwidth")]
    assert heals == [
        f"pg2: no tbf {second.handle}: on eth0 (nothing to remove)",
        f"pg2: removed tbf {first.handle}: from eth0",
    ]


def test_replication_lag_holds_the_replica_behind_until_heal(
    cluster: PostgresCluster, history: History
) -> None:
    fault = _injected(_fault("replication-lag", target="pg1", duration=5), cluster, history)
    try:
        written = _write(cluster)
        _wait(lambda: _replayed(cluster, "pg2") >= written, DETECT, "pg2 caught up")
        time.sleep(0.5)
        assert _replayed(cluster, "pg1") < written, "pg1 replayed writes across a cut link"
    finally:
        fault.heal(cluster, history)
    caught_up = _wait(lambda: _replayed(cluster, "pg1") >= written, RECOVER, "pg1 caught up")
    assert caught_up < RECOVER
    assert _ops(history, "replication-lag")[0].value["nodes"] == ["pg0", "pg1"]


def test_heal_is_a_noop_before_injection_and_safe_twice(
    cluster: PostgresCluster, history: History
) -> None:
    fault = _fault("isolate", target="pg2")
    fault.heal(cluster, history)
    assert history.ops() == []
    fault.inject(cluster, history)
    fault.heal(cluster, history)
    fault.heal(cluster, history)
    assert [op.f for op in _ops(history, "heal-isolate")] == ["heal-isolate"]


def test_isolate_names_a_stopped_peer_it_could_not_block(
    cluster: PostgresCluster, history: History
) -> None:
    """A stopped node has no address; its next one is unknown, so the evidence says so."""
    pg2 = cluster.node("pg2")
    pg2.stop(timeout=5)
    try:
        fault = _injected(_fault("isolate", target="pg1"), cluster, history)
        fault.heal(cluster, history)
    finally:
        pg2.start()
    assert _ops(history, "isolate")[0].extra["evidence"] == (
        f"pg1: 2 rules in {fault.chain} (not running, not blocked: pg2)"
    )


def test_no_helper_container_outlives_its_command(
    cluster: PostgresCluster, docker_client: Any
) -> None:
    helpers = docker_client.containers.list(
        all=True, filters={"label": [f"{RUN_LABEL}={cluster.run_id}", HELPER_LABEL]}
    )
    assert helpers == []
