"""The `fengqiao` command as policy staff and operators use it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from datetime import UTC, timedelta
from pathlib import Path

import grpc
import pytest
import uvloop

from fengqiao.cli import main as cli
from fengqiao.cli.main import main
from fengqiao.domain.model import CHINA
from fengqiao.domain.vocabulary import CATEGORIES
from fengqiao.platform.bus import Bus
from fengqiao.stack import Stack
from fengqiao.v1 import intake_pb2, intake_pb2_grpc
from tests.conftest import POLICY, ROOT, SAMPLES, sample
from tests.intake.test_record_event import make_overdue, routed_dispute


def test_rules_check_passes_on_the_shipped_policy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "check", str(POLICY)]) == 0
    assert "检查通过" in capsys.readouterr().out


def test_rules_check_fails_with_positions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.yaml"
    text = POLICY.read_text(encoding="utf-8").replace(
        "category: labour_wages", "categry: labour_wages"
    )
    broken.write_text(text, encoding="utf-8")
    assert main(["rules", "check", str(broken)]) == 1
    err = capsys.readouterr().err
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "categry" in t)
    assert f"{broken}:{line}:" in err
    assert "did you mean 'category'?" in err and "未知的条件字段" in err


def test_rules_explain_in_words_and_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    dispute = next(SAMPLES.glob("13-*.json"))
    assert main(["rules", "explain", str(POLICY), str(dispute)]) == 0
    words = capsys.readouterr().out
    assert "✔ 命中  small-claim-fast-track" in words and "✘ 未中  risk-first" in words
    assert main(["rules", "explain", str(POLICY), str(dispute), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["decision"]["rule_id"] == data["engine_rule_id"] == "small-claim-fast-track"
    assert [t["matched"] for t in data["trace"]][-1] is True


def test_rules_explain_an_escalation_event(capsys: pytest.CaptureFixture[str]) -> None:
    dispute = next(SAMPLES.glob("12-*.json"))
    argv = ["rules", "explain", str(POLICY), str(dispute), "--event", "mediation_failed",
            "--level", "street_office"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "✔ 命中  escalate-street-to-court" in out and "✘ 未中  escalate-local" in out


def test_rules_explain_refuses_what_intake_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No parties, or more than intake takes: explain gives no verdict, as Evaluate."""
    submission = json.loads(next(SAMPLES.glob("01-*.json")).read_text(encoding="utf-8"))
    for parties, says in (([], "at least one party"), ([{"name": "甲", "role": "applicant"}] * 201,
                                                       "more than 200 parties")):  # fmt: skip
        submission["dispute"]["parties"] = parties
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(submission, ensure_ascii=False), encoding="utf-8")
        assert main(["rules", "explain", str(POLICY), str(path)]) == 2
        err = capsys.readouterr().err
        assert "受理时会被拒绝" in err and "dispute.parties" in err and says in err


def test_rules_explain_takes_the_party_count_evaluate_takes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    petition = str(next(SAMPLES.glob("22-*.json")))
    assert main(["rules", "explain", str(POLICY), petition, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["decision"]["rule_id"] == "default-local"
    assert main(["rules", "explain", str(POLICY), petition, "--json", "--party-recent", "1"]) == 0
    decision = json.loads(capsys.readouterr().out)["decision"]
    assert (decision["rule_id"], decision["handler"]) == (
        "repeat-petition-ownership",
        "street_leader",
    )


def test_bad_settings_and_unreadable_files_are_clear_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["rules", "explain", str(POLICY), str(tmp_path / "none.json")]) == 1
    assert "cannot read dispute file" in capsys.readouterr().err
    assert main(["rules", "check", str(tmp_path / "none.yaml")]) == 1
    assert "cannot read" in capsys.readouterr().err
    monkeypatch.setenv("FENGQIAO_LOG_FORMAT", "xml")
    assert main(["rules", "check"]) == 2
    assert "FENGQIAO_LOG_FORMAT='xml'" in capsys.readouterr().err
    monkeypatch.delenv("FENGQIAO_LOG_FORMAT")
    monkeypatch.setenv("FENGQIAO_SMS_GATEWAY_URL", "sms.example.cn/send")
    assert main(["rules", "check"]) == 2
    assert "use an http(s):// URL" in capsys.readouterr().err


async def test_submit_prints_the_new_dispute_id(stack: Stack) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fengqiao", "submit", str(next(SAMPLES.glob("01-*.json"))),
        "--target", f"127.0.0.1:{stack.port('intake')}",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert json.loads(out)["dispute_id"].startswith("FQ-")


async def test_health_reports_a_serving_service_and_fails_on_a_dead_port(stack: Stack) -> None:
    async def health(port: int) -> tuple[int | None, bytes]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fengqiao", "health", "--target", f"127.0.0.1:{port}",
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await process.communicate()
        return process.returncode, out

    code, out = await health(stack.port("triage"))
    assert (code, b"SERVING" in out) == (0, True)
    await stack.services["triage"].stop()
    code, out = await health(stack.port("triage"))
    assert code == 1 and b"UNAVAILABLE" in out


def test_demo_decides_every_sample_on_all_three_routes() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENGQIAO_")}
    done = subprocess.run(
        [sys.executable, "-m", "fengqiao", "demo", "--once"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line[:2].isdigit() and "FQ-" in line]
    assert len(rows) == len(list(SAMPLES.glob("*.json")))
    for label in ("就地化解", "街道联合调解", "诉调对接"):
        assert sum(label in row for row in rows) >= 1, label
    # Rules by their Chinese titles, not their ids; each party counted.
    assert not any(re.search(r"\s[a-z]+(-[a-z0-9]+)+\s", row) for row in rows), rows
    assert sum("当事人×2" in row for row in rows) >= 1
    assert "调解不成，升级至街道联合调解" in done.stdout  # one dispute climbs a rung
    assert "升级 1 件" in done.stdout


async def run_cli(
    stack: Stack, *argv: str, nats: bool = True, data: bool = False
) -> tuple[int | None, str, str]:
    """`fengqiao ARGV` in its own process, pointed at the stack's NATS unless not `nats`,
    and with `data` at its data directory (where its SQLite read model is)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENGQIAO_")}
    if nats:
        env["FENGQIAO_NATS_URL"] = stack.settings.nats_url
    if data:
        env["FENGQIAO_DATA_DIR"] = str(stack.settings.data_dir)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fengqiao", *argv, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    return process.returncode, out.decode(), err.decode()


async def test_dead_letter_commands_need_nats_and_say_what_they_find(stack: Stack) -> None:
    assert (await run_cli(stack, "notifications", "dead-letters"))[:2] == (
        0, "共 0 条死信（dead letters）\n",
    )  # fmt: skip
    code, _, err = await run_cli(stack, "notifications", "redrive", "FQ-20261122-0000000000.x.0")
    assert code == 1 and "no dead letter" in err
    code, _, err = await run_cli(stack, "notifications", "dead-letters", nats=False)
    assert code == 2 and "FENGQIAO_NATS_URL" in err


async def test_retention_refuses_a_short_period_and_reports_what_it_did(stack: Stack) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('intake')}") as channel:
        await intake_pb2_grpc.IntakeServiceStub(channel).SubmitDispute(sample("01"))
    code, out, _ = await run_cli(stack, "retention", "--dry-run")
    assert code == 0 and out == "共 1 件纠纷，结案满 365 天将脱敏（would anonymise） 0 件\n"
    code, _, err = await run_cli(stack, "retention", "--days", "7")
    assert code == 2 and "不能少于 30 天" in err
    code, _, err = await run_cli(stack, "retention", nats=False)
    assert code == 2 and "FENGQIAO_NATS_URL" in err


async def test_report_puts_a_days_figures_in_words(stack: Stack) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('intake')}") as channel:
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        dispute_id = await routed_dispute(intake)
        got = await intake.GetDispute(intake_pb2.GetDisputeRequest(dispute_id=dispute_id))
    target = ("--target", f"127.0.0.1:{stack.port('intake')}")
    today = got.dispute.received_at.ToDatetime(UTC).astimezone(CHINA).date()
    street = sample("01").dispute.location.street
    code, out, err = await run_cli(
        stack, "report", "--day", str(today), "--street", street, *target
    )
    assert code == 0, err
    assert out.splitlines()[:5] == [
        f"{street} {today} 矛盾纠纷统计",
        "受理 1 件，分派 1 件，升级 0 件（升级率 0%（0/1））",
        "在办 1 件，其中逾期 0 件",
        "办结 0 件：问题处置率 0%（0/1），按期办结率 —，就地化解率 —",
        "及时受理率 —，化解成功率 —（达成协议 0 件，调解不成 0 次）",
    ]
    assert out.splitlines()[-1] == "当前逾期未结 0 件（督办）"
    code, out, _ = await run_cli(stack, "report", "--day", str(today - timedelta(days=1)), *target)
    assert code == 0 and "受理 0 件" in out
    code, _, err = await run_cli(stack, "report", "--from", "2026-11-23", "--to", "2026-11-22")
    assert code == 2 and "--from" in err
    code, _, err = await run_cli(stack, "report", "--day", "11/22")
    assert code == 2 and "YYYY-MM-DD" in err
    # A place the directory does not know is a mistake, not a quiet day.
    code, out, err = await run_cli(stack, "report", "--street", "西街街道", *target)
    assert (code, out) == (2, "")
    assert "西街街道" in err and "是否指：" in err and "东街街道" in err
    code, _, err = await run_cli(stack, "report", "--community", "南关小区", *target)
    assert code == 2 and "南关社区" in err


async def test_report_lists_what_is_overdue_now(stack: Stack, bus: Bus) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('intake')}") as channel:
        dispute_id = await routed_dispute(intake_pb2_grpc.IntakeServiceStub(channel))
    await make_overdue(bus, dispute_id, timedelta(days=3, hours=1))
    code, out, err = await run_cli(
        stack, "report", "--street", sample("01").dispute.location.street,
        "--target", f"127.0.0.1:{stack.port('intake')}",
    )  # fmt: skip
    assert code == 0, err
    lines = out.splitlines()
    assert "在办 1 件，其中逾期 1 件" in lines
    heading, row = lines[-2:]
    assert heading == "当前逾期未结 1 件（督办）："
    assert row.startswith(f"  {dispute_id}  邻里噪音扰民  就地化解") and row.endswith("已逾期 3 天")


async def test_bus_show_reads_binary_values_and_messages_as_json(stack: Stack) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('intake')}") as channel:
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        dispute_id = (await intake.SubmitDispute(sample("01"))).dispute_id
    code, out, err = await run_cli(stack, "bus", "show", "disputes", dispute_id)
    assert code == 0, err
    record = json.loads(out)
    assert record["dispute"]["id"] == dispute_id and record["timeline"][0]["kind"] == "received"
    code, out, err = await run_cli(stack, "bus", "show", "DISPUTES", "1")
    assert code == 0, err
    subject, body = out.split("\n", 1)
    assert subject == f"disputes.submitted.{dispute_id}"
    assert json.loads(body)["kind"] == "submitted"
    code, _, err = await run_cli(stack, "bus", "show", "disputes", "FQ-20261122-0000000000")
    assert code == 1 and "没有键" in err
    code, _, err = await run_cli(stack, "bus", "show", "nowhere", "x")
    assert code == 1 and "disputes" in err and "DISPUTES" in err


def test_commands_run_on_uvloop() -> None:
    """Every command, the services included, runs its coroutine on uvloop's loop."""

    async def loop_type() -> type:
        return type(asyncio.get_running_loop())

    assert cli._run(loop_type()) is uvloop.Loop


def test_vocab_lists_every_allowed_code_with_its_label(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vocab", "category"]) == 0
    out = capsys.readouterr().out
    assert all(f"{code}" in out and text in out for code, text in CATEGORIES.items())
    assert main(["vocab"]) == 0
    assert "mediation_failed" in capsys.readouterr().out
    assert main(["vocab", "categry"]) == 2
