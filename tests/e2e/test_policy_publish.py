"""Publishing a policy version while disputes flow through two triage processes: no
decision lost or made twice, both replicas decide with the new version after the switch,
an invalid version is refused and the old one stays, a rollback restores it on both."""

from __future__ import annotations

import asyncio
import os
import sys
from functools import partial
from pathlib import Path
from typing import Any

import grpc

from fengqiao.platform.bus import Bus
from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.policy import policy_version
from fengqiao.stack import running
from fengqiao.v1 import dispute_pb2, intake_pb2, intake_pb2_grpc, triage_pb2, triage_pb2_grpc
from tests.conftest import POLICY, ROOT, sample, settings_for
from tests.e2e.processes import ServiceProcess
from tests.support import eventually
from tests.triage.policies import put_in_force, relabelled


async def every_record(
    intake: intake_pb2_grpc.IntakeServiceAsyncStub,
) -> list[dispute_pb2.DisputeRecord]:
    """Every dispute intake holds, page by page."""
    records: list[dispute_pb2.DisputeRecord] = []
    token = ""
    while True:
        page = await intake.ListDisputes(
            intake_pb2.ListDisputesRequest(page_size=500, page_token=token)
        )
        records.extend(page.disputes)
        if not (token := page.next_page_token):
            return records


async def fengqiao(nats_url: str, *argv: str) -> tuple[int, str]:
    """`fengqiao ARGV` as policy staff run it; exit status and everything it printed."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fengqiao", *argv, cwd=ROOT,
        env={**os.environ, "FENGQIAO_NATS_URL": nats_url, "FENGQIAO_POLICY_FILE": str(POLICY)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode()


async def refusals(replica: ServiceProcess) -> list[dict[str, Any]]:
    return replica.events("policy_activation_failed")


async def versions_in_force(replicas: list[ServiceProcess]) -> list[str]:
    out = []
    for replica in replicas:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{replica.port}") as channel:
            stub = triage_pb2_grpc.TriageServiceStub(channel)
            out.append((await stub.GetPolicy(triage_pb2.GetPolicyRequest())).version)
    return out


async def test_publish_and_roll_back_across_two_replicas_while_disputes_flow(
    nats_server: EmbeddedNats, bus: Bus, tmp_path: Path
) -> None:
    first = policy_version(POLICY.read_bytes())
    edited = tmp_path / "triage.yaml"
    edited.write_text(relabelled("2026.12 复核版·修订"), encoding="utf-8")
    second = policy_version(edited.read_bytes())
    broken = tmp_path / "broken.yaml"
    broken.write_text(POLICY.read_text(encoding="utf-8").replace("route: local", "route: 本地"))
    replicas = list(
        await asyncio.gather(*(ServiceProcess.start("triage", nats_server.url) for _ in "ab"))
    )
    submitted: list[str] = []
    async with (
        running(settings_for(nats_server.url), ("intake",)) as stack,
        grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('intake')}") as channel,
    ):
        intake = intake_pb2_grpc.IntakeServiceStub(channel)

        issued = 0  # requests sent so far; `submitted` has the answered ones, in order

        async def submit(n: int) -> None:
            nonlocal issued
            requests: list[intake_pb2.SubmitDisputeRequest] = []
            for _ in range(n):
                request = sample("12")  # a small renovation debt: default-local
                request.request_id = f"flow-{issued + len(requests)}"
                requests.append(request)
            issued += n
            answers = await asyncio.gather(*(intake.SubmitDispute(r) for r in requests))
            submitted.extend(a.dispute_id for a in answers)

        async def flow(stop: asyncio.Event) -> None:
            while not stop.is_set():
                await submit(4)

        try:
            assert await versions_in_force(replicas) == [first, first]
            stop = asyncio.Event()
            flowing = asyncio.create_task(flow(stop))
            await eventually(lambda: asyncio.sleep(0, len(submitted)), lambda n: n >= 20)
            code, out = await fengqiao(
                nats_server.url,
                "rules",
                "publish",
                str(edited),
                "--comment",
                "标签修订",
                "--by",
                "测试员",
            )
            assert code == 0, out
            await eventually(lambda: versions_in_force(replicas), lambda v: v == [second] * 2)
            # Sent from now on; a batch sent before may be decided under either version.
            switched = issued
            await eventually(lambda: asyncio.sleep(0, len(submitted)), lambda n: n >= switched + 40)
            stop.set()
            await flowing
            flowed = len(submitted)

            code, out = await fengqiao(
                nats_server.url, "rules", "publish", str(broken), "--comment", "坏文件"
            )
            assert code == 1 and "未知的分流去向" in out
            # Past the command, straight into the bucket: both replicas refuse it.
            refused = await put_in_force(bus, broken.read_text(encoding="utf-8"))
            for replica in replicas:
                await eventually(partial(refusals, replica), bool)
            assert await versions_in_force(replicas) == [second, second]

            code, out = await fengqiao(nats_server.url, "rules", "rollback", first[:12])
            assert code == 0, out
            await eventually(lambda: versions_in_force(replicas), lambda v: v == [first] * 2)
            await submit(8)
            code, listed = await fengqiao(nats_server.url, "rules", "versions")
            assert code == 0, listed

            # Pages of the listing, not a thousand GetDispute calls at once: that many
            # concurrent calls on one connection once came back CANCELLED under CI's load.
            records = await eventually(
                partial(every_record, intake),
                lambda rs: (
                    {r.dispute.id for r in rs} == set(submitted) and all(r.step == 1 for r in rs)
                ),
            )
        finally:
            for replica in replicas:
                assert await replica.stop() == 0

    # Nothing lost, nothing decided twice: one routing each, by exactly one replica.
    assert all([e.kind for e in r.timeline].count("routed") == 1 for r in records)
    decided = [e["dispute_id"] for r in replicas for e in r.events("dispute_routed")]
    assert sorted(decided) == sorted(submitted) and len(set(submitted)) == len(submitted)

    # A decision takes the version in force when it starts: one in flight at a switch may
    # still log the version before, never another.
    for replica in replicas:
        in_force, before = first, first
        for line in replica.logs:
            if line.get("event") == "policy_activated":
                in_force, before = line["policy_version"], in_force
            elif line.get("event") == "dispute_routed":
                assert line["policy_version"] in (in_force, before)
    versions = {r.dispute.id: r.decision.policy_version for r in records}
    after_switch = submitted[switched:flowed]
    assert {versions[d] for d in after_switch} == {second}
    for replica in replicas:  # both decided some of them
        assert {e["dispute_id"] for e in replica.events("dispute_routed")} & set(after_switch)
    assert all([e["refused_version"] for e in r.events("policy_activation_failed")] == [refused]
               for r in replicas)  # fmt: skip
    assert {versions[d] for d in submitted[-8:]} == {first}  # after the rollback
    assert {first, second} <= set(versions.values())
    assert f"* {first[:12]}" in listed and "标签修订" in listed and "测试员" in listed
    assert "回滚" in listed.split("启用记录")[1]
