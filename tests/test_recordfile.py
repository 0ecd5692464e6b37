"""The torch-free record-file reader: parsing, refusals, following a growing file, attach output."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gdtui.recordfile import (
    FIELDS,
    RecordFile,
    RecordFileError,
    follow,
    format_attach,
    rank_file,
    rank_path,
    read_records,
    sibling_ranks,
)

HEADER = {
    "format": "gdtui-watch",
    "version": 1,
    "params": [{"name": "fc.weight", "shape": [3, 2]}, {"name": "fc.bias", "shape": [3]}],
    "optimizer": "SGD",
    "hyper": {"lr": [0.1]},
    "torch": "2.x",
    "device": "cpu",
    "rank": 0,
    "started": 1000.0,
}


def _summary(scale: float) -> dict:
    return {field: scale * (i + 1) for i, field in enumerate(FIELDS)}


def _step(n: int, loss: float | None = None, bias: bool = True) -> dict:
    return {
        "step": n,
        "time": 1000.0 + n / 4,
        "lr": [0.1],
        "scalars": {} if loss is None else {"loss": loss},
        "params": {"fc.weight": _summary(n), "fc.bias": _summary(-n) if bias else None},
    }


def _line(obj: dict) -> bytes:
    return (json.dumps(obj) + "\n").encode()


def test_reads_header_steps_and_end(tmp_path):
    path = tmp_path / "run.jsonl"
    end = {"end": True, "time": 1002.0, "steps": 3, "recorded": 3, "reason": "closed"}
    body = [HEADER, _step(1, 2.0), _step(2, None, bias=False), _step(3, 0.5), end]
    path.write_bytes(b"".join(_line(o) for o in body))
    record = read_records(path)
    assert record.names == ("fc.weight", "fc.bias") and record.shapes == ((3, 2), (3,))
    assert record.step.tolist() == [1, 2, 3]
    assert record.lr.tolist() == [[0.1]] * 3
    assert np.isnan(record.scalars["loss"][1]) and record.last_scalar("loss") == 0.5
    assert record.present.tolist() == [[True, True], [True, False], [True, True]]
    assert record.series("fc.weight", "ratio").tolist() == [4.0, 8.0, 12.0]
    assert record.last("fc.bias") == _summary(-3)
    assert record.ended and record.end == end
    assert record.steps_per_second() == pytest.approx(4.0)
    assert list(record.iter_steps())[1] == _step(2, None, bias=False)


def test_null_and_nan_read_as_nan(tmp_path):
    step = _step(1)
    step["params"]["fc.weight"]["cos"] = None
    path = tmp_path / "run.jsonl"
    path.write_bytes(_line(HEADER) + _line(step))
    record = read_records(path)
    assert math.isnan(record.series("fc.weight", "cos")[0])
    assert record.last("fc.weight")["cos"] is None


def test_torn_last_line_is_skipped(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_bytes(_line(HEADER) + _line(_step(1)) + _line(_step(2))[:-9])
    record = read_records(path)
    assert record.step.tolist() == [1]
    assert not record.ended


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "no header line"),
        (b"\x89PNG\r\n\x1a\n\x00\x00binary", "not a gdtui record file"),
        (b"step,loss\n1,0.5\n", "not a gdtui record file"),
        (b'{"format": "other", "version": 1}\n', "not a gdtui record file"),
        (b'{"format": "gdtui-watch", "version": 2, "params": []}\n', "version 2 is newer"),
        (b'{"format": "gdtui-watch", "version": 1, "params": 3}\n', "no valid 'params'"),
        (_line(HEADER) + b"not json\n", "line 2 is not JSON"),
        (_line(HEADER) + b'{"step": "one"}\n', "line 2 is not a step line"),
        (_line(HEADER) + _line(_step(2)) + _line(_step(1)), "step 1 after step 2"),
    ],
)
def test_refuses_with_one_line(tmp_path, data, message):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(data)
    with pytest.raises(RecordFileError, match=message) as info:
        read_records(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_missing_file_is_a_record_file_error(tmp_path):
    with pytest.raises(RecordFileError, match=r"nope\.jsonl: no such file"):
        read_records(tmp_path / "nope.jsonl")


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    prefix=st.sampled_from([b"", _line(HEADER), _line(HEADER) + _line(_step(1))]),
    data=st.binary(max_size=300)
    | st.text(max_size=200).map(str.encode)
    | st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
        max_leaves=12,
    ).map(lambda o: (json.dumps(o) + "\n").encode()),
)
def test_any_bytes_are_read_or_refused(tmp_path, prefix, data):
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(prefix + data)
    try:
        record = read_records(path)
    except RecordFileError as error:
        assert "\n" not in str(error)
        return
    format_attach(record, "summary")
    format_attach(record, "table")
    json.loads(format_attach(record, "json"))


def test_follow_reads_only_new_complete_lines(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_bytes(b"")
    record = RecordFile(path)
    assert record.poll() == 0 and record.header is None
    with open(path, "ab") as file:
        file.write(_line(HEADER))
        file.flush()
        assert record.poll() == 0 and record.names == ("fc.weight", "fc.bias")
        line = _line(_step(1, 1.0))
        file.write(line[:20])
        file.flush()
        assert record.poll() == 0 and record.count == 0  # half a line waits
        file.write(line[20:] + _line(_step(2, 0.9)))
        file.flush()
        assert record.poll() == 2 and record.step.tolist() == [1, 2]
        offset = record.offset
        assert record.poll() == 0 and record.offset == offset
        file.write(_line({"end": True, "time": 1001.0, "steps": 2}))
        file.flush()
        assert record.poll() == 0 and record.ended
    assert record.seconds_since_last_step(now=1010.5) == pytest.approx(10.0)


def test_follow_starts_again_when_the_file_is_replaced(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_bytes(_line(HEADER) + _line(_step(1)) + _line(_step(2)))
    record = RecordFile(path)
    assert record.poll() == 2
    path.write_bytes(_line(HEADER))  # a new run on the same path
    assert record.poll() == 0 and record.generation == 1 and record.count == 0
    with open(path, "ab") as file:
        file.write(_line(_step(1)))
    assert record.poll() == 1 and record.step.tolist() == [1]


def test_rank_files(tmp_path):
    assert rank_path(tmp_path / "run.jsonl", 0) == tmp_path / "run.jsonl"
    assert rank_path(tmp_path / "run.jsonl", 3) == tmp_path / "run.rank3.jsonl"
    assert rank_path(tmp_path / "run", 1) == tmp_path / "run.rank1"
    for name in ("run.jsonl", "run.rank1.jsonl", "run.rank2.jsonl", "runx.rank1.jsonl", "o.jsonl"):
        (tmp_path / name).write_bytes(b"")
    expected = {
        0: tmp_path / "run.jsonl",
        1: tmp_path / "run.rank1.jsonl",
        2: tmp_path / "run.rank2.jsonl",
    }
    assert sibling_ranks(tmp_path / "run.jsonl") == expected
    assert sibling_ranks(tmp_path / "run.rank2.jsonl") == expected
    assert rank_file(tmp_path / "run.rank2.jsonl", 1) == tmp_path / "run.rank1.jsonl"
    with pytest.raises(
        RecordFileError, match=r"no record file for rank 5 \(ranks found: 0, 1, 2\)"
    ):
        rank_file(tmp_path / "run.jsonl", 5)


def test_follow_accepts_an_empty_file_but_not_junk(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_bytes(b"")
    record = follow(path)
    assert record.header is None and record.count == 0
    path.write_bytes(_line(HEADER) + _line(_step(1)))
    assert record.poll() == 1
    (tmp_path / "junk").write_bytes(b"hello world\n")
    with pytest.raises(RecordFileError, match="not a gdtui record file"):
        follow(tmp_path / "junk")


def test_format_attach(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_bytes(_line(HEADER) + _line(_step(1, 2.0)) + _line(_step(2, 1.5, bias=False)))
    record = read_records(path)
    summary = format_attach(record, "summary")
    assert "SGD on cpu, rank 0, 2 parameter tensors" in summary
    assert "steps     2 recorded, last optimizer step 2; running" in summary
    assert "steps/s   4" in summary and "loss      1.5 (last)" in summary
    table = format_attach(path, "table").splitlines()
    assert len(table) == 3 and table[0].startswith("layer")
    weight = table[1].split()
    assert weight[:2] == ["fc.weight", "3×2"] and [float(v) for v in weight[2:]] == [
        2 * (FIELDS.index(f) + 1)
        for f in (
            "grad_norm",
            "param_norm",
            "update_norm",
            "ratio",
            "cos",
            "eff_lr_p10",
            "eff_lr_median",
            "eff_lr_p90",
        )
    ]
    assert table[2].split()[2] == "-1"  # fc.bias: its last recorded step is step 1
    document = json.loads(format_attach(record, "json"))
    assert document["header"] == HEADER and document["end"] is None
    assert document["steps"] == [_step(1, 2.0), _step(2, 1.5, bias=False)]
    with pytest.raises(ValueError, match="unknown format"):
        format_attach(record, "csv")


def test_reader_does_not_import_torch():
    code = "import sys, gdtui.recordfile; print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    assert out.stdout.strip() == "False"
