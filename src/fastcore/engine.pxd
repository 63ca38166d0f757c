# The order state engine: the contract between it and the session layer.
#
# A FIX session hands the engine one parsed message at a time: it parses into
# ``msg`` (a Message over its receive buffer, no copy), then calls
# ``process(session, now)``. What the engine sends is in ``out`` as
# (recipient name, FIX bytes) pairs, each numbered from ``out_seq`` of its
# recipient: the session layer numbers its own administrative messages from
# the same counter, so one session has one sequence.

from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t

from fastcore._types cimport price_t, qty_t, nanos_t
from fastcore.book cimport Book
from fastcore.codec.encoder cimport Encoder
from fastcore.codec.parser cimport Message
from fastcore.orders.clordids cimport ClOrdIDIndex
from fastcore.orders.table cimport OrderTable, request_in


cdef class Engine:
    # ---- configuration and identity
    cdef readonly object config
    cdef readonly bint auto
    cdef readonly tuple sessions          # session (user) names, by index
    cdef dict session_index
    cdef object last_name                 # the session last looked up, and its index
    cdef uint16_t last_session

    # ---- output: one encoder and one MsgSeqNum counter per session
    cdef list encoders
    cdef int64_t* out_seq                 # last MsgSeqNum sent, per session
    cdef list out                         # (recipient, bytes) of the current call
    cdef list texts                       # Text (58) of the pending reports
    cdef bytes exec_prefix

    # ---- orders and books
    cdef readonly OrderTable table
    cdef readonly tuple symbols
    cdef ClOrdIDIndex symbol_ids          # Symbol (55) → instrument index
    cdef readonly list books              # a Book per instrument (auto mode matches in it)
    cdef int64_t* handles                 # auto mode: the book handle of each slot, 0 none
    cdef uint32_t cap_handles
    cdef ClOrdIDIndex account_ids         # Account (1) → account number (1, 2, ...)
    cdef bytearray stp                    # self-trade prevention mode per account number
    cdef dict stp_modes                   # the configuration's, by account name
    cdef tuple user_accounts              # the account of a user's orders without one
    cdef dict names                       # telephoned orders' names → slot
    cdef dict exec_names                  # a desk's names for executions → ExecID

    # ---- input
    cdef Message msg                      # the message being processed
    cdef Encoder scratch                  # encodes submitted Structs

    # the session layer's entry: ``msg`` holds a valid message from ``session``
    cdef int process(self, uint16_t session, nanos_t now) except -1
    cdef int session_reject(self, uint16_t session, nanos_t now) except -1
    cdef list take(self)

    # output
    cdef int _begin(self, uint16_t session, const char* msg_type, nanos_t now) except -1
    cdef int _emit(self, uint16_t session) except -1
    cdef void _put_id(self, Encoder enc, int tag, int64_t n) noexcept
    cdef Py_ssize_t _key_len(self, uint32_t key) noexcept
    cdef void _put_key(self, Encoder enc, int tag, uint32_t key) noexcept
    cdef int _flush(self, nanos_t now) except -1
    cdef int _text(self, text) except -1

    # answers written from the request itself
    cdef int _copy(self, Encoder enc, int tag) except -1
    cdef int _reject_order(self, uint16_t session, char exec_type, int reason, text,
                           nanos_t now) except -1
    cdef int _reject_request(self, uint16_t session, uint32_t slot, int reason, text,
                             nanos_t now) except -1
    cdef int _business_reject(self, uint16_t session, nanos_t now) except -1

    # requests: D, F/G, H
    cdef int _field(self, int tag, const char** p, Py_ssize_t* n) noexcept
    cdef object _check_terms(self, char side, char ord_type, char tif)
    cdef int _read_terms(self, qty_t* qty, qty_t* cash, price_t* price, bint* has_price,
                         char* side, char* ord_type, char* tif) except -1
    cdef int _new_order(self, uint16_t session, nanos_t now) except -1
    cdef int _request(self, uint16_t session, char kind, nanos_t now) except -1
    cdef int _status(self, uint16_t session, nanos_t now) except -1

    # auto mode: the books
    cdef object _rule_text(self, int rc, uint32_t instrument, price_t price, qty_t qty)
    cdef object _replace_rules(self, uint32_t slot, const request_in* q)
    cdef uint32_t _account(self, uint16_t session) except 0
    cdef int64_t _handle(self, uint32_t slot) noexcept
    cdef int _set_handle(self, uint32_t slot, int64_t handle) except -1
    cdef int _enter(self, uint32_t slot, uint32_t account, uint8_t exec_inst,
                    qty_t qty) except -1
    cdef int _dispatch(self, Book b) except -1
    cdef int _sync(self, uint32_t slot) except -1

    # the Python API's helpers (desk commands)
    cdef uint16_t _session(self, name) except? 0xFFFF
    cdef bytes _struct_bytes(self, data, nanos_t now)
    cdef uint32_t _order(self, str command, order, session) except? 0xFFFFFFFE
    cdef uint32_t _req(self, str command, uint32_t slot, char kind, request,
                       order) except? 0xFFFFFFFE
    cdef int _check(self, int rc, str command, order, uint32_t slot) except -1
    cdef list _done(self, nanos_t now)
    cdef list _answer(self, str command, char kind, int step, order, request, reason, text,
                      nanos_t now, session)
    cdef int64_t _exec(self, str command, exec_id, order, uint32_t slot) except -1
    cdef uint32_t _instrument(self, str command, symbol) except? 0xFFFFFFFE
    cdef object _state(self, uint32_t slot)
    cdef int64_t _number(self, str command, order, uint32_t slot, value, int digits,
                         str what) except? -1
    cdef qty_t _qty(self, str command, order, uint32_t slot, value) except? -1
    cdef price_t _px(self, str command, order, uint32_t slot, value) except? -1
