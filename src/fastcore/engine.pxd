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
from fastcore.accounts cimport SecondaryAccounts
from fastcore.audit cimport AuditTrail, audit_t
from fastcore.book cimport Book
from fastcore.codec.encoder cimport Encoder
from fastcore.codec.parser cimport Message
from fastcore.orders.clordids cimport ClOrdIDIndex
from fastcore.orders.table cimport OrderTable, order_t, order_in, request_in, report_t
from fastcore.visibility cimport Visibility


cdef enum:
    U_MAPPED = 1              # a user whose accounts are secondary accounts
    U_SIMPLE = 2              # ... whose firm uses the simple execution source model

cdef enum:
    NO_USER = 0xFFFF
    STAGED_INTERNAL = 1       # a staged order its creator's execution desk may work
    STAGED_BROKER = 2         # ... re-staged (or staged) to the broker's desk


cdef struct route_t:          # the engine's side of an order slot: where it goes, who sees it
    int64_t handle            # auto mode: its handle in its book, 0 when not in one
    int64_t parent_id         # a child order: its staged order's OrderID, 0 for none
    uint32_t audience         # who receives its ExecutionReports (a Visibility audience)
    uint32_t workers          # a staged order: who may claim it; NO_AUDIENCE otherwise
    uint32_t account          # its account number (self-trade prevention, Account (1))
    uint32_t echo             # the client's own Account (1) a secondary account mapped
                              # (a key of Engine.echoes), echoed to the client; NO_KEY
    uint32_t parent           # a child order: its staged order's slot, NONE
    uint32_t child            # a staged order: its first child, NONE (then through sibling)
    uint32_t sibling
    uint32_t portion          # a child order: its number among its staged order's (from 1)
    uint16_t claimer          # a staged order: who claimed it, NO_USER
    uint16_t profile          # its order profile (1-based; 0 none): TTCustomerName (18218)
    uint8_t staged            # 0, STAGED_INTERNAL or STAGED_BROKER
    uint8_t show_account      # Account (1) goes on its reports
    char source               # execution source code (1031)
    char oti                  # order type indicator of the audit trail: L, D or Q


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
    cdef Py_ssize_t fields_at             # where the fields after the header begin, in the encoder of _begin
    cdef list texts                       # Text (58) of the pending reports
    cdef bytes exec_prefix

    # ---- orders and books
    cdef readonly OrderTable table
    cdef readonly tuple symbols
    cdef ClOrdIDIndex symbol_ids          # Symbol (55) → instrument index
    cdef readonly list books              # a Book per instrument (auto mode matches in it)
    cdef ClOrdIDIndex account_ids         # Account (1) → account number (1, 2, ...)
    cdef bytearray stp                    # self-trade prevention mode per account number
    cdef dict stp_modes                   # the configuration's, by account name
    cdef tuple user_names                 # each user's name as bytes
    cdef uint32_t* own_accounts           # each user's account number: its orders' without Account (1)

    # ---- secondary accounts, order profiles, execution source codes, audit trail
    cdef readonly SecondaryAccounts secondary
    cdef ClOrdIDIndex echoes              # the clients' own Account (1) names of mapped orders
    cdef tuple profile_names              # bytes by profile (1-based; [0] is b"")
    cdef char* profile_sources            # each profile's code, 0 for none
    cdef char* user_sources               # each user's code, 0 for none
    cdef uint8_t* user_rules              # each user's U_* bits
    cdef readonly AuditTrail audit
    cdef dict names                       # telephoned orders' names → slot

    # ---- routing: who sees each order, staged orders
    cdef readonly Visibility visibility
    cdef uint32_t* gateways               # the exchange gateway of each instrument
    cdef uint32_t staging                 # the staging gateway, NO_BOOK when none
    cdef uint32_t* default_accounts       # [user * ngateways + gateway]: customer-default account, NO_KEY
    cdef route_t* routes                  # per slot
    cdef uint32_t cap_routes
    cdef uint16_t requester               # the session whose message is being answered, NO_USER
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
    cdef int _emit_to(self, uint16_t session, uint32_t audience, const char* msg_type,
                      nanos_t now, Py_ssize_t acc_at, Py_ssize_t acc_end, const route_t* rt,
                      uint16_t owner) except -1
    cdef Py_ssize_t _account_len(self, const route_t* rt) noexcept
    cdef int _put_account(self, Encoder enc, const route_t* rt, bint owner) except -1
    cdef void _put_id(self, Encoder enc, int tag, int64_t n) noexcept
    cdef Py_ssize_t _key_len(self, uint32_t key) noexcept
    cdef void _put_key(self, Encoder enc, int tag, uint32_t key) noexcept
    cdef int _flush(self, nanos_t now) except -1
    cdef audit_t* _audit(self, uint32_t slot, char kind, bint texts, nanos_t now) except NULL
    cdef audit_t* _audit_texts(self, order_t* o, route_t* rt, char kind) except NULL
    cdef int _audit_in(self, uint32_t slot, bint entirety, nanos_t now) except -1
    cdef int _audit_report(self, const report_t* r, uint32_t portion, nanos_t now) except -1
    cdef int _mirror_bust(self, const report_t* r) except -1
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
    cdef object _unreadable(self, int bad)
    cdef object _book_to(self, uint16_t session, uint32_t parent, uint32_t* account,
                         uint32_t* echo, uint16_t* profile)
    cdef object _source(self, uint16_t session, uint16_t profile, bint desk, char* code)
    cdef int _new_order(self, uint16_t session, nanos_t now) except -1
    cdef int _request(self, uint16_t session, char kind, nanos_t now) except -1
    cdef int _status(self, uint16_t session, nanos_t now) except -1

    # auto mode: the books
    cdef object _rule_text(self, int rc, uint32_t instrument, price_t price, qty_t qty)
    cdef object _replace_rules(self, uint32_t slot, const request_in* q)
    cdef uint32_t _account(self, const char* p, Py_ssize_t n) except 0
    cdef int64_t _handle(self, uint32_t slot) noexcept
    cdef route_t* _route(self, uint32_t slot) except NULL

    # routing: who may act on an order, staged orders and their children
    cdef uint32_t _by_order_id(self, const char* p, Py_ssize_t n) noexcept
    cdef int _register_order_id(self, uint32_t slot) except -1
    cdef uint32_t _visible(self, uint16_t session, const char* p, Py_ssize_t n,
                           uint16_t* orig_session) noexcept
    cdef object _staged_terms(self, uint16_t session, uint8_t* staged)
    cdef object _child_terms(self, uint16_t session, uint32_t parent, order_in* o,
                             bint* has_price, uint32_t* account, int* reason)
    cdef qty_t _unworked(self, uint32_t parent) noexcept
    cdef int _cancel_children(self, uint32_t parent, str why) except -1
    cdef uint32_t _staged(self, str command, order, uint16_t user) except? 0xFFFFFFFE
    cdef int _enter(self, uint32_t slot, uint8_t exec_inst, qty_t qty) except -1
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
