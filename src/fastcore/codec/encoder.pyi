"""Type stubs for fastcore.codec.encoder (a Cython extension)."""
from collections.abc import Iterable
from typing import Any

_Value = bytes | str | int | bool

class Encoder:
    """Writes FIX 4.4 messages for one session into a reused buffer."""
    precision: int
    def __init__(self, sender_comp_id: str | bytes, target_comp_id: str | bytes, *,
                 precision: int = 3, begin_string: str = "FIX.4.4") -> None: ...
    @property
    def sender_comp_id(self) -> str: ...
    @property
    def target_comp_id(self) -> str: ...
    def encode(self, msg_type: str | bytes, fields: Iterable[tuple[int, _Value]], seq_num: int,
               sending_time: int, *, poss_dup: bool = False,
               orig_sending_time: int | None = None) -> bytes: ...
    def rewrap_bytes(self, data: bytes, seq_num: int, sending_time: int, *,
                     resend: bool = False, deliver_to: _Value | None = None) -> bytes: ...
    def execution_report(self, er: ExecutionReport, seq_num: int, sending_time: int) -> bytes: ...
    def order_cancel_reject(self, seq_num: int, sending_time: int, *, order_id: _Value,
                            cl_ord_id: _Value, orig_cl_ord_id: _Value, ord_status: _Value,
                            response_to: int, reason: int = -1, text: _Value | None = None,
                            account: _Value | None = None,
                            transact_time: int | None = None) -> bytes: ...
    def reject(self, seq_num: int, sending_time: int, *, ref_seq_num: int, reason: int,
               ref_tag: int = 0, ref_msg_type: _Value | None = None,
               text: _Value | None = None) -> bytes: ...
    def business_message_reject(self, seq_num: int, sending_time: int, *, ref_seq_num: int,
                                ref_msg_type: _Value, reason: int, ref_id: _Value | None = None,
                                text: _Value | None = None) -> bytes: ...
    def logon(self, seq_num: int, sending_time: int, *, heart_bt_int: int,
              reset_seq_num: bool = False, username: _Value | None = None,
              password: _Value | None = None) -> bytes: ...
    def heartbeat(self, seq_num: int, sending_time: int, test_req_id: _Value | None = None) -> bytes: ...
    def test_request(self, seq_num: int, sending_time: int, test_req_id: _Value) -> bytes: ...
    def resend_request(self, seq_num: int, sending_time: int, begin_seq_no: int,
                       end_seq_no: int = 0) -> bytes: ...
    def sequence_reset(self, seq_num: int, sending_time: int, new_seq_no: int, *,
                       gap_fill: bool = False) -> bytes: ...
    def logout(self, seq_num: int, sending_time: int, text: _Value | None = None) -> bytes: ...

class ExecutionReport:
    """The fields of an ExecutionReport (35=8); fixed-point quantities and prices."""
    order_id: Any
    cl_ord_id: Any
    orig_cl_ord_id: Any
    exec_id: Any
    exec_ref_id: Any
    symbol: Any
    account: Any
    text: Any
    time_in_force: Any
    extra: list[tuple[int, _Value]] | None
    exec_type: str
    ord_status: str
    side: str
    ord_type: str
    ord_rej_reason: int
    exec_restatement_reason: int
    price: int
    last_px: int
    avg_px: int
    order_qty: int
    last_qty: int
    leaves_qty: int
    cum_qty: int
    day_order_qty: int
    day_cum_qty: int
    cash_order_qty: int
    has_price: bool
    has_last: bool
    transact_time: int
    def __init__(self, **fields: Any) -> None: ...
