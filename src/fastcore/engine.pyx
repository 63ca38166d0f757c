# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The order state engine: FIX 4.4 orders in, ExecutionReports out.

    from fastcore.engine import Engine
    engine = Engine()                                   # the embedded default configuration
    out = engine.submit(fix_bytes, "PM1", now_ns)       # [(recipient, FIX bytes), ...]
    out = engine.fill("X", "1000", "100.25", now=now_ns)  # a desk's command

The engine is the sell side of FIX 4.4 Volume 4, Appendix D. It answers
NewOrderSingle (D), OrderCancelRequest (F), OrderCancelReplaceRequest (G) and
OrderStatusRequest (H). In ``auto`` mode it works every order itself; in
``worked`` mode a desk answers each sell-side step with a command (``ack``,
``fill``, ``accept_cancel`` ...), and the engine answers alone only what needs
no judgement: status requests, duplicates, unknown or finished orders,
malformed messages.

Every ExecutionReport goes to its order's audience: the users whose order
books on its gateway hold the credential it was routed under (``visibility``),
or, for a staged (care) order, its INTERNAL or BROKER desk; answers to one
request go to the requester alone. Staged orders (HandlInst 3) are claimed,
re-staged and worked in child orders (``claim``, ``restage``, ``child``).

An order's account may be a client's own, mapped to a TT account through
a secondary account (``accounts``); every report carries its execution
source code (1031, ``execsource.pxd``); and every order, portion and event
leaves an audit record in ``audit`` (``fastcore.audit``).

It is deterministic: time comes in with every call (``now``, ns since the
epoch, UTC) and is the SendingTime and TransactTime of what goes out.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_FromStringAndSize
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy, memset

from fastcore._memory cimport dump, load, zgrow
from fastcore._types cimport price_t, qty_t, nanos_t, PX_DIGITS, QTY_DIGITS
cimport fastcore.book as bk
from fastcore.book cimport Book, event_t, level_t, node_t, top_t
from fastcore.codec.encoder cimport Encoder, FIELD_MAX
from fastcore.codec.fix44 cimport fc_msgtypes
from fastcore.codec.parser cimport Message, P_OK, P_PARTIAL, P_REJECT
from fastcore.codec.values cimport read_fixed, read_int, write_int, V_OK
from fastcore.codec.values cimport V_OVERFLOW, V_PRECISION
from fastcore.accounts cimport SecondaryAccounts, NO_MAP
from fastcore.audit cimport AuditTrail, audit_t, A_IN, A_ENTERED, A_OUT, A_TEXTS
from fastcore.execsource cimport rank, stronger, simple
from fastcore.orders.clordids cimport ClOrdIDIndex, key_t, NO_KEY, K_ORDER
from fastcore.orders.states cimport (
    S_PENDING_NEW, S_DONE, S_FILLED, S_DONE_FOR_DAY, ord_status,
)
from fastcore.visibility cimport Visibility, NO_AUDIENCE, NO_BOOK
from fastcore.orders.table cimport (
    OrderTable, order_t, report_t, order_in, request_in, request_t, fill_t, NONE, OK, E_UNKNOWN_ORDER,
    E_DUPLICATE, E_STATE, E_NO_REQUEST, E_QUANTITY, E_UNKNOWN_EXEC, E_STALE, E_MEMORY,
    F_GT, F_HAS_PRICE, F_TELEPHONED, F_LIVE, EI_REINSTATE_ON_HALT, EI_CANCEL_ON_HALT,
    EI_CANCEL_IF_NOT_BEST, R_LAST, R_NO_ORDER_ID, R_DAY_QTY, R_AUDITED,
)

import decimal
import fractions
import hashlib

import msgspec

from fastcore import config as _config
from fastcore.config import decimal_text as _decimal
from fastcore.codec.parser import parse as _parse
from fastcore.errors import (
    CodecError, CommandRefused, ConfigError, UnknownSession,
)
from fastcore.orders.table import ERROR_CODES, state_names
from fastcore.book import RULES


# OrdRejReason (103)
cdef enum:
    REJ_UNKNOWN_SYMBOL = 1
    REJ_HALTED = 2            # "exchange closed": the instrument is halted
    REJ_UNKNOWN_ORDER = 5
    REJ_UNSUPPORTED = 11      # unsupported order characteristic
    REJ_QUANTITY = 13         # incorrect quantity
    REJ_UNKNOWN_ACCOUNT = 15
    REJ_OTHER = 99

# CxlRejReason (102)
cdef enum:
    CXL_TOO_LATE = 0
    CXL_UNKNOWN = 1
    CXL_DUPLICATE = 6
    CXL_OTHER = 99

# ExecRestatementReason (378)
cdef enum:
    RST_BROKER_OPTION = 4     # a staged order re-staged to the broker's desk
    RST_OTHER = 99            # a staged order claimed

# BusinessRejectReason (380)
cdef enum:
    BRJ_UNSUPPORTED_MSGTYPE = 3

cdef enum:
    MAX_ID = 64               # ExecID / OrderID text

# The tags of staged orders (user-defined range). A NewOrderSingle with
# HandlInst (21) 3 is a staged (care) order, INTERNAL or BROKER by
# StagedOrderType; one with ParentOrderID is a child order of the staged
# order with that OrderID. Their ExecutionReports carry them too, and
# ClaimedBy once a trader has claimed the staged order.
cdef enum:
    TAG_STAGED_ORDER_TYPE = 9100
    TAG_PARENT_ORDER_ID = 9101
    TAG_CLAIMED_BY = 9102

# Secondary accounts and order profiles (TT's tags) and the execution source
# code: SecondaryAccount (18219) names the client's own account, never sent
# on; TTCustomerName (18218) is the order profile's name.
cdef enum:
    TAG_CUSTOMER = 18218
    TAG_SECONDARY_ACCOUNT = 18219
    TAG_EXEC_SOURCE = 1031        # CustOrderHandlingInst
    TAG_EXEC_SOURCE_KIND = 1032   # OrderHandlingInstSource: 2, FIA execution source code

# StagedOrderType (9100) by kind: 0 (not staged), STAGED_INTERNAL, STAGED_BROKER
STAGED_TYPES = (b"", b"INTERNAL", b"BROKER")
CHILDREN_CANCELED = "its staged order is canceled"
CHILDREN_EXPIRED = "its staged order expired"


COMMANDS = frozenset((
    "pending_new", "ack", "reject", "fill", "done_for_day", "pending_cancel",
    "accept_cancel", "reject_cancel", "pending_replace", "accept_replace",
    "reject_replace", "cancel", "restate", "telephoned", "stop", "bust", "correct",
    "expire", "halt", "resume", "new_day", "split", "claim", "restage", "child",
))


# The sizes of the C structs a snapshot copies byte for byte: a snapshot made
# by a build where one differs is refused.
_LAYOUT = (sizeof(order_t), sizeof(request_t), sizeof(fill_t), sizeof(key_t),
           sizeof(node_t), sizeof(level_t), sizeof(top_t), sizeof(route_t))


STP_MODES = {"none": bk.STP_NONE, "cancel_resting": bk.STP_CANCEL_RESTING,
             "cancel_incoming": bk.STP_CANCEL_INCOMING, "cancel_both": bk.STP_CANCEL_BOTH}

CANCEL_TEXTS = {bk.R_IOC: "immediate or cancel: the rest is canceled",
                bk.R_FOK: "fill or kill: the order cannot be filled in full",
                bk.R_MARKET: "market order: no more liquidity, the rest is canceled",
                bk.R_STP: "self-trade prevention",
                bk.R_HALT: "trading halt"}


def hash_state(dict state):
    """The hash of an ``Engine.state()`` (hex, 32 digits)."""
    return hashlib.blake2b(msgspec.msgpack.encode(state), digest_size=16).hexdigest()


cdef inline bint _is(const char* p, Py_ssize_t n, char c) noexcept:
    return n == 1 and p[0] == c


def _fixed(value, int digits, str what):
    """A quantity or price given as str/int/Decimal → fixed point, exactly."""
    try:
        d = decimal.Decimal(str(value).strip())
    except decimal.InvalidOperation:
        raise ValueError(f"{what} {value!r} is not a number") from None
    if not d.is_finite():
        raise ValueError(f"{what} {value!r} is not a number")
    scaled = d.scaleb(digits)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{what} {value} has more than {digits} decimals")
    return int(scaled)


@cython.final
cdef class Engine:
    """The order state engine over one order table.

    ``config`` is what ``fastcore.config.load`` takes: None for the embedded
    default, a TOML file, a table merged over the default, or a Config.
    Every call returns the messages it caused as ``(recipient, FIX bytes)``
    pairs, in the order they are to be sent.
    """

    def __init__(self, config=None):
        cdef int i
        self.config = _config.load(config)
        eng = self.config.engine
        self.auto = self.config.mode == "auto"
        self.table = OrderTable(eng.reserve_orders)
        self.routes = <route_t*>calloc(eng.reserve_orders, sizeof(route_t))
        if self.routes == NULL:
            raise MemoryError()
        self.cap_routes = eng.reserve_orders
        self.table.next_order_id = self.config.engine.order_id_offset
        self.sessions = tuple(u.name for u in self.config.users)
        self.session_index = {name: i for i, name in enumerate(self.sessions)}
        own = _config.order_sessions(self.config)       # every user has one
        self.encoders = [Encoder(own[name].sender_comp_id, own[name].target_comp_id,
                                 precision=eng.timestamp_precision)
                         for name in self.sessions]
        self.out_seq = <int64_t*>calloc(len(self.sessions), sizeof(int64_t))
        if self.out_seq == NULL:
            raise MemoryError()
        self.symbols = tuple(ins.symbol.encode() for ins in self.config.instruments)
        self.symbol_ids = ClOrdIDIndex(max(len(self.symbols), 16))
        for i, sym in enumerate(self.symbols):
            self.symbol_ids.add(0, PyBytes_AS_STRING(sym), len(sym), i, K_ORDER, NO_KEY)
        when_halted = self.config.matching.when_halted == "queue"
        self.books = [Book(**_config.rules(ins, f"instruments[{i}]"),
                           queue_when_halted=when_halted)
                      for i, ins in enumerate(self.config.instruments)]
        self.account_ids = ClOrdIDIndex(64)
        self.stp = bytearray(1)
        self.stp_modes = dict(self.config.matching.self_trade)
        self._routing()
        self._accounts()
        self.requester = NO_USER
        self.user_names = tuple(name.encode() for name in self.sessions)
        self.exec_prefix = eng.exec_id_prefix.encode()
        if len(self.exec_prefix) > MAX_ID:
            raise ConfigError("engine.exec_id_prefix", f"longer than {MAX_ID} bytes")
        self.texts = []
        self.names = {}
        self.exec_names = {}
        self.out = []
        self.msg = Message.__new__(Message)
        self.msg.max_body_length = self.config.server.max_body_length
        self.scratch = Encoder("C", eng.comp_id)

    def _routing(self):
        """Visibility from the users' credentials; each instrument's gateway,
        the staging gateway and the customer-default accounts as numbers."""
        cdef uint32_t g, u, ngw
        cdef bytes name
        self.visibility = Visibility(self.config)
        ngw = self.visibility.ngateways
        self.gateways = <uint32_t*>calloc(max(len(self.symbols), 1), sizeof(uint32_t))
        self.default_accounts = <uint32_t*>calloc(max(len(self.sessions) * ngw, 1),
                                                  sizeof(uint32_t))
        self.own_accounts = <uint32_t*>calloc(max(len(self.sessions), 1), sizeof(uint32_t))
        if self.gateways == NULL or self.default_accounts == NULL or self.own_accounts == NULL:
            raise MemoryError()
        for i, ins in enumerate(self.config.instruments):
            self.gateways[i] = self.visibility.gateway(ins.gateway)
        self.staging = NO_BOOK
        for gw in self.config.gateways:
            if gw.kind == "staging":
                self.staging = self.visibility.gateway(gw.name)
                break
        for u, user in enumerate(self.config.users):
            name = user.name.encode()       # an order without Account (1) is its user's
            self.own_accounts[u] = self._account(PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name))
            for gw_name, cred in user.credentials.items():
                if cred.account:
                    name = cred.account.encode()
                    g = self.visibility.gateway(gw_name)
                    self.default_accounts[u * ngw + g] = self._account(
                        PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name))

    def _accounts(self):
        """Secondary accounts, order profiles and execution source codes as
        C arrays; the audit trail."""
        cdef uint16_t u
        cfg = self.config
        self.secondary = SecondaryAccounts(
            cfg, lambda bytes name: self._account(PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name)))
        self.echoes = ClOrdIDIndex(64)
        self.profile_names = (b"",) + tuple(p.name.encode() for p in cfg.order_profiles)
        self.profile_sources = <char*>calloc(len(self.profile_names), 1)
        self.user_sources = <char*>calloc(max(len(self.sessions), 1), 1)
        self.user_rules = <uint8_t*>calloc(max(len(self.sessions), 1), 1)
        if self.profile_sources == NULL or self.user_sources == NULL or self.user_rules == NULL:
            raise MemoryError()
        for i, prof in enumerate(cfg.order_profiles):
            self.profile_sources[i + 1] = ord(prof.execution_source or "\0")
        models = cfg.execution_source
        for u, user in enumerate(cfg.users):
            self.user_sources[u] = ord(user.execution_source or "\0")
            self.user_rules[u] = ((U_MAPPED if user.secondary_accounts else 0)
                                  | (U_SIMPLE if models.firms.get(user.firm, models.model) == "simple"
                                     else 0))
        self.audit = AuditTrail(cfg.audit.enabled)

    def __dealloc__(self):
        free(self.profile_sources)
        free(self.user_sources)
        free(self.user_rules)
        free(self.out_seq)
        free(self.routes)
        free(self.gateways)
        free(self.default_accounts)
        free(self.own_accounts)

    # ---- output ---------------------------------------------------------------

    cdef int _begin(self, uint16_t session, const char* msg_type, nanos_t now) except -1:
        cdef Encoder enc = <Encoder>self.encoders[session]
        self.out_seq[session] += 1
        enc.begin(msg_type, self.out_seq[session], now)
        self.fields_at = enc.pos
        return 0

    cdef int _emit(self, uint16_t session) except -1:
        self.out.append((self.sessions[session], (<Encoder>self.encoders[session]).finish_bytes()))
        return 0

    cdef int _emit_to(self, uint16_t session, uint32_t audience, const char* msg_type,
                      nanos_t now, Py_ssize_t acc_at, Py_ssize_t acc_end, const route_t* rt,
                      uint16_t owner) except -1:
        """The message being encoded for ``session`` (begun by ``_begin``) to
        it, then to every other member of ``audience`` under that member's
        header: the fields after the header are written once and copied.
        When the order's client sees its own account (``rt.echo``), the
        Account (1) field at ``acc_at:acc_end`` is written for each
        recipient as it sees it (``_put_account``)."""
        cdef Encoder enc = <Encoder>self.encoders[session]
        cdef Encoder other
        cdef Py_ssize_t at = self.fields_at, end = enc.pos, n = enc.pos - self.fields_at
        cdef bint splice = rt != NULL and rt.echo != NO_KEY
        cdef const uint16_t* members
        cdef uint32_t i, k = 0
        cdef uint16_t m
        self._emit(session)                 # the fields stay at enc.buf + at
        if audience == NO_AUDIENCE:
            return 0
        members = self.visibility.list(audience, &k)
        for i in range(k):
            m = members[i]
            if m == session:
                continue
            other = <Encoder>self.encoders[m]
            self._begin(m, msg_type, now)
            other.reserve(n + FIELD_MAX + self._account_len(rt) if splice else n)
            if splice:
                memcpy(other.buf + other.pos, enc.buf + at, acc_at - at)
                other.pos += acc_at - at
                self._put_account(other, rt, m == owner)
                memcpy(other.buf + other.pos, enc.buf + acc_end, end - acc_end)
                other.pos += end - acc_end
            else:
                memcpy(other.buf + other.pos, enc.buf + at, n)
                other.pos += n
            self._emit(m)
        return 0

    cdef Py_ssize_t _account_len(self, const route_t* rt) noexcept:
        """The most ``_put_account`` writes for the order (room to reserve)."""
        return (self.account_ids.keys[rt.account].len
                + (self.echoes.keys[rt.echo].len if rt.echo != NO_KEY else 0))

    cdef int _put_account(self, Encoder enc, const route_t* rt, bint owner) except -1:
        """Account (1) of an order's report: the TT account, or for the
        client who owns it, the client's own account a secondary account
        mapped (echoed as it sent it). Within room the caller reserved
        (``_account_len`` and a field's)."""
        if owner and rt.echo != NO_KEY:
            enc.w_raw(1, self.echoes.text(rt.echo), self.echoes.keys[rt.echo].len)
        elif rt.show_account:
            enc.w_raw(1, self.account_ids.text(rt.account), self.account_ids.keys[rt.account].len)
        return 0

    cdef void _put_id(self, Encoder enc, int tag, int64_t n) noexcept:
        """An ExecID: the configured prefix (at most MAX_ID bytes) and a number;
        the caller reserved room."""
        cdef Py_ssize_t k = PyBytes_GET_SIZE(self.exec_prefix)
        enc.w_tag(tag)
        memcpy(enc.buf + enc.pos, PyBytes_AS_STRING(self.exec_prefix), k)
        enc.pos += k
        enc.pos += write_int(enc.buf + enc.pos, n)
        enc.buf[enc.pos] = 1
        enc.pos += 1

    cdef Py_ssize_t _key_len(self, uint32_t key) noexcept:
        return self.table.ids.keys[key].len if key != NO_KEY else 0

    cdef void _put_key(self, Encoder enc, int tag, uint32_t key) noexcept:
        """A ClOrdID from the index; the caller reserved room."""
        if key != NO_KEY:
            enc.w_raw(tag, self.table.ids.text(key), self.table.ids.keys[key].len)

    cdef int _flush(self, nanos_t now) except -1:
        """Encode the table's reports, in order, and empty its buffer."""
        cdef OrderTable t = self.table
        cdef uint32_t i, audience, parent
        cdef report_t* r
        cdef order_t* o
        cdef route_t* rt
        cdef Encoder enc
        cdef bytes sym, claimer, staged, customer
        cdef uint16_t dest
        cdef Py_ssize_t acc_at, acc_end
        cdef qty_t last_qty
        cdef price_t last_px
        cdef int64_t exec_id
        cdef uint32_t portion, child, f
        cdef int64_t child_exec
        cdef int rc
        i = 0
        while i < t.nreports:               # a book's answer to one report may add more
            r = &t.reports[i]
            o = &t.orders[r.order]
            rt = &self.routes[r.order]
            # an ExecutionReport goes to the order's audience; an answer about
            # the order to one request (a cancel reject, a status, a duplicate)
            # to the session that asked
            dest, audience = o.session, rt.audience
            if r.msg == b'9':
                if r.clordid != NO_KEY:
                    dest = t.ids.keys[r.clordid].session
                audience = NO_AUDIENCE
            elif r.exec_type == b'I' or r.flags & R_NO_ORDER_ID:
                if self.requester != NO_USER:
                    dest = self.requester
                audience = NO_AUDIENCE
            enc = <Encoder>self.encoders[dest]
            sym = <bytes>self.symbols[o.instrument]
            self._begin(dest, b"9" if r.msg == b'9' else b"8", now)
            # one reserve for the fields below: numbers, two ClOrdIDs, the
            # symbol, the account, the staged order's tags
            customer = <bytes>self.profile_names[rt.profile] if rt.profile else None
            enc.reserve(30 * FIELD_MAX + 3 * MAX_ID + PyBytes_GET_SIZE(sym)
                        + self._key_len(r.clordid) + self._key_len(r.orig)
                        + (PyBytes_GET_SIZE(customer) if rt.profile else 0)
                        + self._account_len(rt))
            if r.msg == b'9':
                enc.w_int(37, o.order_id)
                self._put_key(enc, 11, r.clordid)
                self._put_key(enc, 41, r.orig)
                enc.w_char(39, r.ord_status)
                self._put_account(enc, rt, dest == o.session)
                enc.w_char(434, r.response_to)
                if r.reason >= 0:
                    enc.w_int(102, r.reason)
            else:
                if r.flags & R_NO_ORDER_ID:
                    enc.w_raw(37, b"NONE", 4)
                else:
                    enc.w_int(37, o.order_id)
                self._put_key(enc, 11, r.clordid)
                self._put_key(enc, 41, r.orig)
                self._put_id(enc, 17, r.exec_id)
                if r.exec_ref:
                    self._put_id(enc, 19, r.exec_ref)
                enc.w_char(150, r.exec_type)
                if r.reason >= 0 and r.exec_type != b'8':
                    enc.w_int(378, r.reason)
                enc.w_char(39, r.ord_status)
                if r.reason >= 0 and r.exec_type == b'8':
                    enc.w_int(103, r.reason)
                acc_at = enc.pos
                self._put_account(enc, rt, dest == o.session)
                acc_end = enc.pos
                enc.w_raw(55, PyBytes_AS_STRING(sym), PyBytes_GET_SIZE(sym))
                enc.w_char(54, o.side)
                if rt.staged:
                    enc.w_char(21, b'3')
                    staged = <bytes>STAGED_TYPES[rt.staged]
                    enc.w_raw(TAG_STAGED_ORDER_TYPE, PyBytes_AS_STRING(staged),
                              PyBytes_GET_SIZE(staged))
                if rt.parent_id:
                    enc.w_int(TAG_PARENT_ORDER_ID, rt.parent_id)
                if rt.profile:
                    enc.w_raw(TAG_CUSTOMER, PyBytes_AS_STRING(customer), PyBytes_GET_SIZE(customer))
                enc.w_char(TAG_EXEC_SOURCE, rt.source)
                enc.w_char(TAG_EXEC_SOURCE_KIND, b'2')
                if r.order_qty or not o.cash_qty:
                    enc.w_fixed(38, r.order_qty, QTY_DIGITS)
                if o.cash_qty:
                    enc.w_fixed(152, o.cash_qty, QTY_DIGITS)
                enc.w_char(40, o.ord_type)
                if o.flags & F_HAS_PRICE:
                    enc.w_fixed(44, r.price, PX_DIGITS)
                enc.w_char(59, o.tif)
                if r.flags & R_LAST:
                    enc.w_fixed(32, r.last_qty, QTY_DIGITS)
                    enc.w_fixed(31, r.last_px, PX_DIGITS)
                enc.w_fixed(151, r.leaves_qty, QTY_DIGITS)
                enc.w_fixed(14, r.cum_qty, QTY_DIGITS)
                enc.w_fixed(6, r.avg_px, PX_DIGITS)
                if r.flags & R_DAY_QTY:
                    enc.w_fixed(424, r.day_order_qty, QTY_DIGITS)
                    enc.w_fixed(425, r.day_cum_qty, QTY_DIGITS)
            if rt.staged and rt.claimer != NO_USER and r.msg != b'9':
                claimer = <bytes>self.user_names[rt.claimer]
                enc.put_raw(TAG_CLAIMED_BY, PyBytes_AS_STRING(claimer), PyBytes_GET_SIZE(claimer))
            enc.put_time(60, now)
            if r.text >= 0:
                enc.put(58, self.texts[r.text])
            if r.msg == b'9':
                self._emit_to(dest, audience, b"9", now, 0, 0, NULL, NO_USER)
            else:
                self._emit_to(dest, audience, b"8", now, acc_at, acc_end, rt, o.session)
                if self.audit.enabled and not r.flags & (R_NO_ORDER_ID | R_AUDITED):
                    self._audit_report(r, rt.portion, now)
            # a child's fill is a fill of its staged order too, for that one's audience
            parent = rt.parent if r.msg == b'8' and r.exec_type == b'F' else NONE
            last_qty, last_px, portion = r.last_qty, r.last_px, rt.portion
            child, child_exec = r.order, r.exec_id
            if rt.parent != NONE and r.msg == b'8' and (r.exec_type == b'H' or r.exec_type == b'G'):
                self._mirror_bust(r)        # the staged order's fill follows its child's
            if self.auto:
                self._sync(child)           # may add reports: r and rt are stale after it
            if parent != NONE:
                rc = t.fill(parent, last_qty, last_px, &exec_id)
                if rc == E_MEMORY:
                    raise MemoryError()
                if rc == OK:
                    f = t._find_fill(child, child_exec)
                    if f != NONE:
                        t.fills[f].mirror = exec_id
                    if self.audit.enabled:  # the staged order's fill, from this portion
                        t.reports[t.nreports - 1].flags |= R_AUDITED
                        self._audit_report(&t.reports[t.nreports - 1], portion, now)
            i += 1
        t.nreports = 0
        self.requester = NO_USER
        if self.texts:
            self.texts.clear()
        return 0

    # ---- the audit trail --------------------------------------------------------

    cdef audit_t* _audit(self, uint32_t slot, char kind, bint texts, nanos_t now) except NULL:
        """A record of ``kind`` about the order at ``slot``, at ``now``: the
        fields every record has; with ``texts``, the texts that name the
        order (its ClOrdID, user, TT account, symbol, profile, the client's
        own account)."""
        cdef OrderTable t = self.table
        cdef order_t* o = &t.orders[slot]
        cdef route_t* rt = &self.routes[slot]
        cdef audit_t* a
        if texts:
            a = self._audit_texts(o, rt, kind)
        else:
            a = self.audit.add(kind, 0)
        a.ts = now
        a.order_id = o.order_id
        a.master_id = rt.parent_id if rt.parent_id else o.order_id
        a.portion = rt.portion
        a.side, a.ord_type, a.tif = o.side, o.ord_type, o.tif
        a.oti, a.source = rt.oti, rt.source
        return a

    cdef audit_t* _audit_texts(self, order_t* o, route_t* rt, char kind) except NULL:
        """A record of ``kind`` with the order's texts written after it."""
        cdef bytes user = <bytes>self.user_names[o.session]
        cdef bytes sym = <bytes>self.symbols[o.instrument]
        cdef bytes customer = <bytes>self.profile_names[rt.profile]
        cdef uint32_t cl = self._key_len(o.clordid)
        cdef uint32_t acct = self.account_ids.keys[rt.account].len
        cdef uint32_t echo = self.echoes.keys[rt.echo].len if rt.echo != NO_KEY else 0
        cdef audit_t* a = self.audit.add(
            kind, 4 * A_TEXTS + cl + PyBytes_GET_SIZE(user) + acct + PyBytes_GET_SIZE(sym)
            + PyBytes_GET_SIZE(customer) + echo)
        self.audit.text(self.table.ids.text(o.clordid) if cl else NULL, cl)
        self.audit.text(PyBytes_AS_STRING(user), PyBytes_GET_SIZE(user))
        self.audit.text(self.account_ids.text(rt.account), acct)
        self.audit.text(PyBytes_AS_STRING(sym), PyBytes_GET_SIZE(sym))
        self.audit.text(PyBytes_AS_STRING(customer), PyBytes_GET_SIZE(customer))
        self.audit.text(self.echoes.text(rt.echo) if echo else NULL, echo)
        return a

    cdef int _audit_in(self, uint32_t slot, bint entirety, nanos_t now) except -1:
        """Timestamp in: the order at ``slot`` was received at ``now``."""
        cdef order_t* o = &self.table.orders[slot]
        cdef audit_t* a
        if self.audit.enabled:
            a = self._audit(slot, A_IN, True, now)
            a.qty, a.px = o.order_qty, o.price
            a.entirety = entirety
        return 0

    cdef int _audit_report(self, const report_t* r, uint32_t portion, nanos_t now) except -1:
        """The record of an ExecutionReport: a portion entered (New; a staged
        order is entered only through its children), or an event of the
        order (a fill, a cancel, an expiry, a replace with the order's new
        texts, a bust ...: the executions confirmed and the timestamps out)."""
        cdef char kind
        cdef audit_t* a
        if r.exec_type == b'0':
            if self.routes[r.order].staged:
                return 0
            kind = A_ENTERED
        elif (r.exec_type == b'F' or r.exec_type == b'4' or r.exec_type == b'C'
              or r.exec_type == b'8' or r.exec_type == b'3' or r.exec_type == b'5'
              or r.exec_type == b'H' or r.exec_type == b'G' or r.exec_type == b'D'):
            kind = A_OUT
        else:
            return 0                        # pending states, status: nothing happened
        a = self._audit(r.order, kind, r.exec_type == b'5', now)
        a.portion = portion
        if kind == A_OUT:
            a.exec_type = r.exec_type
            a.exec_id = r.exec_id
            a.exec_ref = r.exec_ref
        if r.exec_type == b'F' or r.exec_type == b'G':
            a.qty, a.px = r.last_qty, r.last_px
        else:
            a.qty, a.px = r.order_qty, r.price
        return 0

    cdef list take(self):
        cdef list out = self.out
        self.out = []
        return out

    cdef int _mirror_bust(self, const report_t* r) except -1:
        """A child order's fill busted (ExecType H) or corrected (G): the
        staged order's fill it made is busted or corrected the same way."""
        cdef OrderTable t = self.table
        cdef uint32_t f = t.orders[r.order].fills
        cdef int64_t ref = r.exec_ref if r.exec_type == b'H' else r.exec_id
        cdef int rc
        while f != NONE and t.fills[f].ref != ref:
            f = t.fills[f].prev
        if f == NONE or t.fills[f].mirror == 0:
            return 0
        if r.exec_type == b'H':
            rc = t.bust(self.routes[r.order].parent, t.fills[f].mirror)
        else:
            rc = t.correct(self.routes[r.order].parent, t.fills[f].mirror, t.fills[f].qty,
                           t.fills[f].px)
        if rc == E_MEMORY:
            raise MemoryError()
        return 0

    cdef int _text(self, text) except -1:
        """Text (58) for the last report."""
        if text is not None and self.table.nreports:
            self.table.reports[self.table.nreports - 1].text = len(self.texts)
            self.texts.append(str(text))
        return 0

    # ---- answers the engine writes from the request itself ---------------------

    cdef int _copy(self, Encoder enc, int tag) except -1:
        cdef Message m = self.msg
        cdef int i = m.find(tag)
        if i >= 0:
            enc.put_raw(tag, m.buf + m.views[i].off, m.views[i].len)
        return 0

    cdef int _reject_order(self, uint16_t session, char exec_type, int reason, text,
                           nanos_t now) except -1:
        """An ExecutionReport for a request with no order behind it: a rejected
        NewOrderSingle (ExecType Rejected) or a status request for an unknown
        order (ExecType Order Status). OrdStatus Rejected, OrderID NONE."""
        cdef Encoder enc = <Encoder>self.encoders[session]
        self._begin(session, b"8", now)
        enc.put_raw(37, b"NONE", 4)
        self._copy(enc, 11)
        self.table.next_exec_id += 1
        enc.reserve(FIELD_MAX + MAX_ID)
        self._put_id(enc, 17, self.table.next_exec_id)
        enc.put_char(150, exec_type)
        enc.put_char(39, b'8')
        enc.put_int(103, reason)
        for tag in (1, 55, 54, 38, 152, 40, 44, 59):
            self._copy(enc, tag)
        enc.put_raw(151, b"0", 1)
        enc.put_raw(14, b"0", 1)
        enc.put_raw(6, b"0", 1)
        enc.put_time(60, now)
        enc.put(58, text)
        return self._emit(session)

    cdef int _reject_request(self, uint16_t session, uint32_t slot, int reason, text,
                             nanos_t now) except -1:
        """OrderCancelReject for the request in ``self.msg``: OrderID NONE and
        OrdStatus Rejected when there is no such order."""
        cdef Encoder enc = <Encoder>self.encoders[session]
        cdef order_t* o
        self._begin(session, b"9", now)
        if slot == NONE:
            enc.put_raw(37, b"NONE", 4)
        else:
            enc.put_int(37, self.table.orders[slot].order_id)
        self._copy(enc, 11)
        self._copy(enc, 41)
        enc.put_char(39, b'8' if slot == NONE else ord_status(self.table.orders[slot].state))
        self._copy(enc, 1)
        enc.put_char(434, b'1' if fc_msgtypes[self.msg.msgtype].mt[0] == b'F' else b'2')
        enc.put_int(102, reason)
        enc.put_time(60, now)
        enc.put(58, text)
        return self._emit(session)

    # ---- reading requests -------------------------------------------------------

    cdef int _field(self, int tag, const char** p, Py_ssize_t* n) noexcept:
        cdef Message m = self.msg
        cdef int i = m.find(tag)
        if i < 0:
            return 0
        p[0] = m.buf + m.views[i].off
        n[0] = m.views[i].len
        return 1

    cdef object _check_terms(self, char side, char ord_type, char tif):
        """None, or why the order's terms are refused (OrdRejReason 11)."""
        if side != b'1' and side != b'2':
            return f"Side {chr(side)} is not supported (1 buy, 2 sell)"
        if ord_type != b'1' and ord_type != b'2':
            return f"OrdType {chr(ord_type)} is not supported (1 market, 2 limit)"
        if not (tif == b'0' or tif == b'1' or tif == b'3' or tif == b'4' or tif == b'6'):
            return f"TimeInForce {chr(tif)} is not supported (0, 1, 3, 4, 6)"
        return None

    cdef int _read_terms(self, qty_t* qty, qty_t* cash, price_t* price, bint* has_price,
                         char* side, char* ord_type, char* tif) except -1:
        """Quantities, price, side, OrdType and TimeInForce of D or G; the codec
        has checked their formats and enumerations. Returns 0, or for the first
        of OrderQty, CashOrderQty and Price out of range or with more decimals
        than its fixed point, its tag << 2 | the reader's status (``_unreadable``)."""
        cdef const char* p
        cdef Py_ssize_t n
        cdef int rc, bad = 0
        qty[0] = cash[0] = price[0] = 0
        has_price[0] = False
        side[0] = ord_type[0] = 0
        tif[0] = b'0'
        if self._field(38, &p, &n):
            rc = read_fixed(p, n, QTY_DIGITS, qty)
            if rc != V_OK:
                qty[0] = -1
                bad = 38 << 2 | rc
        if self._field(152, &p, &n):
            rc = read_fixed(p, n, QTY_DIGITS, cash)
            if rc != V_OK:
                cash[0] = -1
                bad = bad or 152 << 2 | rc
        if self._field(44, &p, &n):
            rc = read_fixed(p, n, PX_DIGITS, price)
            has_price[0] = rc == V_OK
            if rc != V_OK:
                bad = bad or 44 << 2 | rc
        if self._field(54, &p, &n) and n == 1:
            side[0] = p[0]
        if self._field(40, &p, &n) and n == 1:
            ord_type[0] = p[0]
        if self._field(59, &p, &n) and n == 1:
            tif[0] = p[0]
        return bad

    cdef object _unreadable(self, int bad):
        """Why the value ``_read_terms`` could not read is refused."""
        cdef const char* p
        cdef Py_ssize_t n
        cdef int tag = bad >> 2
        self._field(tag, &p, &n)
        what = f"{'Price' if tag == 44 else 'OrderQty' if tag == 38 else 'CashOrderQty'} ({tag}) " \
               f"{p[:n].decode('latin-1')}"
        if bad & 3 == V_PRECISION:
            return f"{what} has more than {PX_DIGITS if tag == 44 else QTY_DIGITS} decimals"
        return f"{what} is out of range" if bad & 3 == V_OVERFLOW else f"{what} is not a decimal"

    # ---- the requests --------------------------------------------------------------

    cdef int _new_order(self, uint16_t session, nanos_t now) except -1:
        cdef OrderTable t = self.table
        cdef order_in o
        cdef const char* p
        cdef Py_ssize_t n
        cdef uint32_t slot, k, parent = NONE, account = NO_KEY, echo = NO_KEY, portion = 1
        cdef int rc, i, reason = REJ_OTHER
        cdef uint8_t staged = 0
        cdef uint16_t profile = 0
        cdef char source = 0
        cdef route_t* rt
        cdef uint32_t* link
        cdef bint has_price, poss_resend = False, not_held = False
        self._field(11, &o.clordid, &n)
        o.clordid_len = <uint32_t>n
        o.session = session
        if self._field(97, &p, &n):
            poss_resend = _is(p, n, b'Y')
        slot = t.find(session, o.clordid, o.clordid_len)
        if slot != NONE:                    # a duplicate, or a resend of a known order
            self._read_terms(&o.qty, &o.cash_qty, &o.price, &has_price, &o.side,
                             &o.ord_type, &o.tif)
            rc = t.status(slot) if poss_resend else t.duplicate(
                slot, t.ids.find(session, o.clordid, o.clordid_len), o.qty)
            if rc == OK and not poss_resend:
                self._text(f"duplicate ClOrdID {o.clordid[:o.clordid_len].decode('latin-1')}"
                           + (" of a verbally submitted order"
                              if t.orders[slot].flags & F_TELEPHONED else ""))
            return self._flush(now)
        if not self._field(55, &p, &n):     # optional to the codec (the Instrument block)
            return self._reject_order(session, b'8', REJ_UNKNOWN_SYMBOL,
                                      "Symbol (55) is required", now)
        k = self.symbol_ids.find(0, p, <uint32_t>n)
        if k == NO_KEY:
            return self._reject_order(session, b'8', REJ_UNKNOWN_SYMBOL,
                                      f"unknown symbol {p[:n].decode('latin-1')}", now)
        o.instrument = self.symbol_ids.keys[k].order
        rc = self._read_terms(&o.qty, &o.cash_qty, &o.price, &has_price, &o.side,
                              &o.ord_type, &o.tif)
        if rc:
            return self._reject_order(session, b'8', REJ_OTHER if rc >> 2 == 44 else REJ_QUANTITY,
                                      self._unreadable(rc), now)
        if self._field(TAG_PARENT_ORDER_ID, &p, &n):      # a child order of a staged order
            parent = self._by_order_id(p, n)
            why = self._child_terms(session, parent, &o, &has_price, &account, &reason)
            if why is not None:
                return self._reject_order(session, b'8', reason, why, now)
        elif self._field(21, &p, &n) and _is(p, n, b'3'):  # a staged (care) order
            why = self._staged_terms(session, &staged)
            if why is not None:
                return self._reject_order(session, b'8', REJ_UNSUPPORTED, why, now)
        why = self._check_terms(o.side, o.ord_type, o.tif)
        if why is not None:
            return self._reject_order(session, b'8', REJ_UNSUPPORTED, why, now)
        if o.ord_type == b'2' and not has_price:
            return self._reject_order(session, b'8', REJ_OTHER,
                                      "Price (44) is required for a limit order", now)
        if o.qty < 0 or o.cash_qty < 0 or (o.qty == 0 and o.cash_qty == 0):
            return self._reject_order(
                session, b'8', REJ_QUANTITY,
                "a positive OrderQty (38) or CashOrderQty (152) is required", now)
        o.flags = F_HAS_PRICE if has_price and o.ord_type != b'1' else 0
        if not has_price or o.ord_type == b'1':
            o.price = 0
        if self.auto or staged:
            if o.qty == 0:
                return self._reject_order(session, b'8', REJ_UNSUPPORTED,
                                          "CashOrderQty needs a desk: send OrderQty (38)", now)
        if self.auto and not staged:
            rc = (<Book>self.books[o.instrument]).check(o.price, o.qty, o.ord_type == b'2', True)
            if rc:
                return self._reject_order(
                    session, b'8',
                    REJ_HALTED if rc == bk.E_HALTED else
                    REJ_QUANTITY if rc == bk.E_LOT or rc == bk.E_MIN_QTY or rc == bk.E_MAX_QTY
                    else REJ_OTHER, self._rule_text(rc, o.instrument, o.price, o.qty), now)
        o.exec_inst = 0
        if self._field(18, &p, &n):
            for i in range(n):
                if p[i] == b'J':
                    o.exec_inst |= EI_REINSTATE_ON_HALT
                elif p[i] == b'K':
                    o.exec_inst |= EI_CANCEL_ON_HALT
                elif p[i] == b'Z':
                    o.exec_inst |= EI_CANCEL_IF_NOT_BEST
                elif p[i] == b'1':
                    not_held = True
        why = self._book_to(session, parent, &account, &echo, &profile)
        if why is not None:
            return self._reject_order(session, b'8', REJ_UNKNOWN_ACCOUNT, why, now)
        why = self._source(session, profile, staged or parent != NONE, &source)
        if why is not None:
            return self._reject_order(session, b'8', REJ_UNSUPPORTED, why, now)
        rc = t.new_order(&o, &slot)
        if rc == E_MEMORY:
            return self._reject_order(session, b'8', REJ_OTHER, "order table full", now)
        rt = self._route(slot)
        rt.show_account = account != NO_KEY
        rt.account = account if account != NO_KEY else self.own_accounts[session]
        rt.echo, rt.profile, rt.source = echo, profile, source
        rt.oti = b'L' if o.ord_type == b'2' else b'D' if staged or not_held else b'Q'
        if staged:
            self.visibility.staged(session, self.staging, self.gateways[o.instrument],
                                   staged == STAGED_BROKER, &rt.audience, &rt.workers)
            rt.staged = staged
        else:
            rt.audience = self.visibility.standard(session, self.gateways[o.instrument])
        if parent != NONE:                  # the staged order's children, oldest first
            rt.parent = parent
            rt.parent_id = t.orders[parent].order_id
            link = &self.routes[parent].child
            while link[0] != NONE:
                link = &self.routes[link[0]].sibling
                portion += 1
            link[0] = slot
            rt.portion = portion
        self._register_order_id(slot)
        self._audit_in(slot, self.auto and not staged, now)
        if staged:                          # the staging gateway acknowledges it at once
            t.ack(slot, 0)
        elif self.auto:
            t.ack(slot, 0)
            self._enter(slot, o.exec_inst, o.qty)
        return self._flush(now)

    cdef object _book_to(self, uint16_t session, uint32_t parent, uint32_t* account,
                         uint32_t* echo, uint16_t* profile):
        """None, or why the order in ``msg`` has no account to be booked to.

        A SecondaryAccount (18219), or for a user whose accounts are
        secondary the rule's name (else its wild-card name), must map: its
        TT account becomes Account (1) (``account``), the client's own
        Account (1) is kept to be echoed (``echo``), and its order profile
        applies (``profile``). Otherwise Account (1) is the account. A
        child order keeps the account ``_child_terms`` gave it unless a
        secondary account of the broker's maps it, and its staged order's
        profile unless TTCustomerName (18218) names another."""
        cdef const char* a = NULL
        cdef const char* p
        cdef Py_ssize_t an = 0, n
        cdef uint32_t m = NO_MAP
        self._field(1, &a, &an)
        if self._field(TAG_SECONDARY_ACCOUNT, &p, &n):
            m = self.secondary.find(p, n)
            if m == NO_MAP:
                return f"no TT account is mapped to the secondary account {p[:n].decode('latin-1')}"
        elif self.user_rules[session] & U_MAPPED and parent == NONE:
            m = self.secondary.made(session, a, an)
            if m == NO_MAP:
                name = self.secondary.name(session, a[:an]).decode("latin-1")
                wild = self.secondary.wildcard[session]
                return (f"no TT account is mapped to the secondary account {name}"
                        + (f" or {wild.decode('latin-1')}" if wild is not None else ""))
        if m != NO_MAP:
            account[0] = self.secondary.maps[m].account
            profile[0] = self.secondary.maps[m].profile
            if an:
                echo[0] = self.echoes.find(0, a, <uint32_t>an)
                if echo[0] == NO_KEY:
                    echo[0] = self.echoes.add(0, a, <uint32_t>an, 0, K_ORDER, NO_KEY)
                    if echo[0] == NO_KEY:
                        raise MemoryError()
        elif account[0] == NO_KEY and an:
            account[0] = self._account(a, an)
        if parent != NONE:
            if self._field(TAG_CUSTOMER, &p, &n):
                profile[0] = self.secondary.profile(p, n)
                if profile[0] == 0:
                    return f"no order profile is named {p[:n].decode('latin-1')}"
            elif profile[0] == 0:
                profile[0] = self.routes[parent].profile
        return None

    cdef object _source(self, uint16_t session, uint16_t profile, bint desk, char* code):
        """None, or why the order's CustOrderHandlingInst (1031) is refused;
        ``code``: the order's execution source code. The attributes that
        apply are the order's own 1031, its user's code and its profile's;
        the one of highest precedence wins (``execsource.pxd``), Y when none
        does. Desk-worked orders (staged orders and their children) are W.
        A firm on the simple model sends W or Y only."""
        cdef const char* p
        cdef Py_ssize_t n
        cdef char c = 0
        if self._field(TAG_EXEC_SOURCE_KIND, &p, &n) and not _is(p, n, b'2'):
            return (f"OrderHandlingInstSource ({TAG_EXEC_SOURCE_KIND}) {p[:n].decode('latin-1')}: "
                    "only FIA execution source codes (2) are taken")
        if self._field(TAG_EXEC_SOURCE, &p, &n):
            if n != 1 or rank(p[0]) == 0:
                return (f"CustOrderHandlingInst ({TAG_EXEC_SOURCE}) {p[:n].decode('latin-1')!r} "
                        "is not an execution source code: W, Y, C, G, H or D")
            c = p[0]
        if desk:
            code[0] = b'W'
            return None
        c = stronger(stronger(c, self.user_sources[session]), self.profile_sources[profile])
        if c == 0:
            c = b'Y'
        code[0] = simple(c) if self.user_rules[session] & U_SIMPLE else c
        return None

    cdef object _staged_terms(self, uint16_t session, uint8_t* staged):
        """None, or why ``session`` may not stage the order in ``msg``;
        ``staged`` is set to its kind."""
        cdef const char* p
        cdef Py_ssize_t n
        if not self.visibility.may_create(session):
            return f"{self.sessions[session]} may not create staged orders"
        if self.staging == NO_BOOK:
            return "no staging gateway is configured"
        staged[0] = STAGED_INTERNAL
        if self._field(TAG_STAGED_ORDER_TYPE, &p, &n):
            if p[:n] == STAGED_TYPES[STAGED_BROKER]:
                staged[0] = STAGED_BROKER
            elif p[:n] != STAGED_TYPES[STAGED_INTERNAL]:
                return f"StagedOrderType ({TAG_STAGED_ORDER_TYPE}) is INTERNAL or BROKER"
        return None

    cdef object _child_terms(self, uint16_t session, uint32_t parent, order_in* o,
                             bint* has_price, uint32_t* account, int* reason):
        """None, or why ``session`` may not work the staged order at ``parent``
        with the child order ``o`` (``reason``: its OrdRejReason). The child
        takes the staged order's price and TimeInForce unless it gives its
        own, and its user's customer-default account on the gateway, always."""
        cdef OrderTable t = self.table
        cdef order_t* po
        cdef route_t* pr
        cdef const char* p
        cdef Py_ssize_t n
        cdef qty_t free
        reason[0] = REJ_OTHER
        if parent == NONE or not self.routes[parent].staged or \
                not self.visibility.contains(self.routes[parent].audience, session):
            reason[0] = REJ_UNKNOWN_ORDER       # as if there were none: nothing revealed
            return f"unknown staged order: ParentOrderID ({TAG_PARENT_ORDER_ID})"
        po, pr = &t.orders[parent], &self.routes[parent]
        if po.state & S_DONE:
            return f"the staged order is {state_names(po.state)}"
        if pr.claimer != session:
            return ("claim the staged order before working it" if pr.claimer == NO_USER
                    else f"the staged order is claimed by {self.sessions[pr.claimer]}")
        if o.instrument != po.instrument or o.side != po.side:
            return "a child order trades its staged order's Symbol (55) and Side (54)"
        if not has_price[0] and o.ord_type == b'2' and po.flags & F_HAS_PRICE:
            o.price, has_price[0] = po.price, True
        if not self._field(59, &p, &n):
            o.tif = po.tif
        free = self._unworked(parent)
        if o.qty > free:
            reason[0] = REJ_QUANTITY
            return (f"child quantity {_decimal(o.qty, QTY_DIGITS)} is above the staged "
                    f"order's unworked quantity {_decimal(free, QTY_DIGITS)}")
        account[0] = self.default_accounts[session * self.visibility.ngateways
                                           + self.gateways[o.instrument]]
        if account[0] == NO_KEY:
            return (f"{self.sessions[session]} has no customer-default account on "
                    f"{self.visibility.gateways[self.gateways[o.instrument]]}")
        return None

    cdef int _request(self, uint16_t session, char kind, nanos_t now) except -1:
        cdef OrderTable t = self.table
        cdef request_in q
        cdef const char* p
        cdef Py_ssize_t n
        cdef uint32_t slot = NONE, req, k
        cdef order_t* o
        cdef qty_t cash
        cdef bint has_price
        cdef int rc, bad
        self._field(11, &q.clordid, &n)
        q.clordid_len = <uint32_t>n
        self._field(41, &q.orig, &n)
        q.orig_len = <uint32_t>n
        q.session = q.orig_session = session
        q.kind = kind
        bad = self._read_terms(&q.qty, &cash, &q.price, &has_price, &q.side, &q.ord_type, &q.tif)
        q.has_price = has_price
        slot = self._visible(session, q.orig, q.orig_len, &q.orig_session)
        if slot == NONE:                    # the table would find one of its own ClOrdIDs
            return self._reject_request(session, NONE, CXL_UNKNOWN, "unknown order", now)
        o = &t.orders[slot]
        if not self._field(55, &p, &n):
            return self._reject_request(session, slot, CXL_OTHER,
                                        "Symbol (55) is required", now)
        k = self.symbol_ids.find(0, p, <uint32_t>n)
        if k == NO_KEY or self.symbol_ids.keys[k].order != o.instrument:
            return self._reject_request(session, slot, CXL_OTHER,
                                        "Symbol (55) differs from the order's", now)
        if q.side != o.side:
            return self._reject_request(session, slot, CXL_OTHER,
                                        "Side (54) differs from the order's", now)
        if kind == b'G':
            if not self._field(40, &p, &n):
                q.ord_type = o.ord_type
            why = self._check_terms(q.side, q.ord_type, q.tif)
            if why is None and bad:
                why = self._unreadable(bad)
            if why is None and q.ord_type == b'2' and not has_price:
                why = "Price (44) is required for a limit order"
            if why is not None:
                return self._reject_request(session, slot, CXL_OTHER, why, now)
            if q.qty <= 0:
                return self._reject_request(session, slot, CXL_OTHER,
                                            "a positive OrderQty (38) is required", now)
            if q.ord_type == b'1':
                q.has_price = False
            if self.routes[slot].parent != NONE and q.qty - o.cum_qty - t.leaves(o) > \
                    self._unworked(self.routes[slot].parent):
                return self._reject_request(
                    session, slot, CXL_OTHER, "child quantity above the staged order's "
                    "unworked quantity", now)
            if self.routes[slot].staged and q.qty - o.cum_qty < \
                    t.leaves(o) - self._unworked(slot):
                return self._reject_request(
                    session, slot, CXL_OTHER, "quantity below what child orders work", now)
        rc = t.add_request(&q, &slot, &req)
        if rc == E_UNKNOWN_ORDER:
            return self._reject_request(session, NONE, CXL_UNKNOWN, "unknown order", now)
        if rc == E_DUPLICATE:
            return self._reject_request(session, slot, CXL_DUPLICATE,
                                        "ClOrdID (11) is already in use", now)
        if rc == E_STATE:
            return self._reject_request(
                session, slot, CXL_TOO_LATE,
                f"too late: the order is {state_names(t.orders[slot].state)}", now)
        if rc == E_STALE:
            return self._reject_request(
                session, slot, CXL_OTHER,
                "OrigClOrdID (41) is not the order's current ClOrdID", now)
        if rc == E_MEMORY:
            return self._reject_request(session, slot, CXL_OTHER, "request table full", now)
        if self.routes[slot].staged:        # the staging gateway answers at once
            if kind == b'F':
                self._cancel_children(slot, CHILDREN_CANCELED)
                rc = t.accept_cancel(slot, req)
            else:
                rc = t.accept_replace(slot, req)
            if rc == E_MEMORY:
                raise MemoryError()
        elif self.auto:
            why = self._replace_rules(slot, &q) if kind == b'G' else None
            if why is None:
                rc = t.accept_cancel(slot, req) if kind == b'F' else t.accept_replace(slot, req)
                if rc == E_STATE:               # filled since: too late
                    why = f"too late: the order is {state_names(t.orders[slot].state)}"
                elif rc != OK:
                    raise RuntimeError(f"auto mode: request refused with {ERROR_CODES.get(rc, rc)}")
                elif kind == b'G' and self._handle(slot) == 0 and t.leaves(&t.orders[slot]) > 0:
                    # a larger quantity reopened a filled order: what is left enters the book
                    self._enter(slot, 0, t.leaves(&t.orders[slot]))
            if why is not None:
                t.reject_request(slot, req, CXL_TOO_LATE if rc == E_STATE else CXL_OTHER)
                self._text(why)
        return self._flush(now)             # the book follows the table in _flush

    # ---- auto mode: the books ---------------------------------------------------------

    cdef object _rule_text(self, int rc, uint32_t instrument, price_t price, qty_t qty):
        """Why the instrument's book refuses a price or quantity, naming the rule."""
        cdef Book b = <Book>self.books[instrument]
        if rc == bk.E_TICK:
            return f"tick: price {_decimal(price, PX_DIGITS)} is not a multiple of {_decimal(b.tick, PX_DIGITS)}"
        if rc == bk.E_LOT:
            return f"lot: quantity {_decimal(qty, QTY_DIGITS)} is not a multiple of {_decimal(b.lot, QTY_DIGITS)}"
        if rc == bk.E_MIN_QTY:
            return f"min_qty: quantity {_decimal(qty, QTY_DIGITS)} is below {_decimal(b.min_qty, QTY_DIGITS)}"
        if rc == bk.E_MAX_QTY:
            return f"max_qty: quantity {_decimal(qty, QTY_DIGITS)} is above {_decimal(b.max_qty, QTY_DIGITS)}"
        if rc == bk.E_BAND:
            return (f"band: price {_decimal(price, PX_DIGITS)} is more than {_decimal(b.band, PX_DIGITS)}"
                    f" from the reference {_decimal(b.ref_price, PX_DIGITS)}")
        if rc == bk.E_HALTED:
            return f"halted: {self.symbols[instrument].decode()} is halted"
        return f"{RULES.get(rc, rc)}: refused by the book"

    cdef object _replace_rules(self, uint32_t slot, const request_in* q):
        """None, or why the book cannot take the replaced order."""
        cdef order_t* o = &self.table.orders[slot]
        cdef int rc
        if q.ord_type != b'2' or not (q.tif == b'0' or q.tif == b'1' or q.tif == b'6'):
            return ("a replace keeps a resting limit order here: OrdType 2 and "
                    "TimeInForce 0, 1 or 6")
        rc = (<Book>self.books[o.instrument]).check(q.price, q.qty, True, False)
        return self._rule_text(rc, o.instrument, q.price, q.qty) if rc else None

    cdef uint32_t _account(self, const char* p, Py_ssize_t n) except 0:
        """The number of the account named ``p[:n]``; new accounts are numbered
        as met, with the configuration's self-trade prevention mode."""
        cdef uint32_t k = self.account_ids.find(0, p, <uint32_t>n)
        if k != NO_KEY:
            return k
        k = self.account_ids.add(0, p, <uint32_t>n, 0, K_ORDER, NO_KEY)
        if k == NO_KEY:
            raise MemoryError()
        mode = self.stp_modes.get(p[:n].decode("latin-1"), self.stp_modes.get("*", "none"))
        while len(self.stp) <= k:
            self.stp.append(0)
        self.stp[k] = STP_MODES[mode]
        return k

    cdef int64_t _handle(self, uint32_t slot) noexcept:
        """The order's handle in its book; 0 when it is not in one."""
        return self.routes[slot].handle if slot < self.cap_routes else 0

    cdef route_t* _route(self, uint32_t slot) except NULL:
        """The route of a new order at ``slot``, reset: seen by its user alone."""
        cdef uint32_t cap
        cdef route_t* p
        cdef route_t* rt
        if slot >= self.cap_routes:
            cap = max(slot + 1, 2 * self.cap_routes)
            p = <route_t*>zgrow(self.routes, self.cap_routes * sizeof(route_t),
                                cap * sizeof(route_t))
            if p == NULL:
                raise MemoryError()
            self.routes, self.cap_routes = p, cap
        rt = &self.routes[slot]
        memset(rt, 0, sizeof(route_t))
        rt.audience = rt.workers = NO_AUDIENCE
        rt.parent = rt.child = rt.sibling = NONE
        rt.claimer = NO_USER
        return rt

    # ---- routing: orders other users see, staged orders --------------------------

    cdef uint32_t _by_order_id(self, const char* p, Py_ssize_t n) noexcept:
        """The slot of the order whose OrderID (37) is ``p[:n]``, NONE; only
        orders others can see are known by it."""
        cdef uint32_t k = self.table.ids.find(NO_USER, p, <uint32_t>n)
        return self.table.ids.keys[k].order if k != NO_KEY else NONE

    cdef int _register_order_id(self, uint32_t slot) except -1:
        """Make the order findable by its OrderID when others see it (another
        user names it by OrderID (37), a child order by ParentOrderID)."""
        cdef order_t* o = &self.table.orders[slot]
        cdef char text[24]
        cdef uint32_t n = 0, key
        cdef Py_ssize_t k
        self.visibility.list(self.routes[slot].audience, &n)
        if n < 2:
            return 0
        k = write_int(text, o.order_id)
        if self._by_order_id(text, k) == slot:      # already (a re-staged order)
            return 0
        key = self.table.ids.add(NO_USER, text, <uint32_t>k, slot, K_ORDER, o.keys)
        if key == NO_KEY:
            raise MemoryError()
        o.keys = key
        return 0

    cdef uint32_t _visible(self, uint16_t session, const char* p, Py_ssize_t n,
                           uint16_t* orig_session) noexcept:
        """The order a request of ``session`` names, NONE when there is none
        ``session`` can see. An OrderID (37) of an order others see names
        it (with that order's ClOrdID in ``p[:n]``, ``orig_session``'s);
        otherwise one of ``session``'s own ClOrdIDs does, and an OrderID
        given with it must be that order's."""
        cdef OrderTable t = self.table
        cdef uint32_t slot = NONE
        cdef const char* q
        cdef Py_ssize_t k
        cdef int64_t order_id = -1
        orig_session[0] = session
        if self._field(37, &q, &k):
            slot = self._by_order_id(q, k)
            if slot == NONE and read_int(q, k, &order_id) != V_OK:
                order_id = -1               # e.g. NONE: no OrderID given
        if slot != NONE:
            if not self.visibility.contains(self.routes[slot].audience, session):
                return NONE
            if t.find(session, p, <uint32_t>n) != slot:     # not one of its own ClOrdIDs
                orig_session[0] = t.ids.keys[t.orders[slot].clordid].session
            return slot
        slot = t.find(session, p, <uint32_t>n)
        if slot != NONE and order_id >= 0 and t.orders[slot].order_id != order_id:
            return NONE                     # the OrderID of an order it cannot see
        return slot

    cdef qty_t _unworked(self, uint32_t parent) noexcept:
        """What of a staged order no working child order covers."""
        cdef OrderTable t = self.table
        cdef qty_t free = t.leaves(&t.orders[parent])
        cdef uint32_t c = self.routes[parent].child
        while c != NONE:
            if not t.orders[c].state & S_DONE:
                free -= t.leaves(&t.orders[c])
            c = self.routes[c].sibling
        return free

    cdef int _cancel_children(self, uint32_t parent, str why) except -1:
        """Cancel a staged order's working children (before the staged order
        itself ends), Text ``why``."""
        cdef OrderTable t = self.table
        cdef uint32_t c = self.routes[parent].child
        cdef int rc
        while c != NONE:
            if not t.orders[c].state & S_DONE:
                rc = t.cancel(c, -1)
                if rc == E_STATE and t.orders[c].state & S_PENDING_NEW:
                    rc = t.reject(c, 0)     # a desk has not acknowledged it yet
                if rc == E_MEMORY:
                    raise MemoryError()
                if rc == OK:
                    self._text(why)
            c = self.routes[c].sibling
        return 0

    cdef int _enter(self, uint32_t slot, uint8_t exec_inst, qty_t qty) except -1:
        """Give an acknowledged order (``qty`` of it) to its book and report what it did."""
        cdef order_t* o = &self.table.orders[slot]
        cdef Book b = <Book>self.books[o.instrument]
        cdef uint32_t account = self.routes[slot].account
        cdef int64_t h = b.add(slot, o.side - 48, o.price, qty, o.ord_type - 48,
                               o.tif - 48, account, self.stp[account],
                               bk.CANCEL_ON_HALT if exec_inst & EI_CANCEL_ON_HALT else 0)
        if h < 0:                           # no memory: the order cannot be worked
            self.table.cancel(slot, -1)
            return self._text(self._rule_text(<int>h, o.instrument, o.price, qty))
        self.routes[slot].handle = h
        return self._dispatch(b)

    cdef int _dispatch(self, Book b) except -1:
        """The book's events into the order table: a fill for both sides of
        each trade (taker first), a cancel for each order the book dropped."""
        cdef OrderTable t = self.table
        cdef event_t* e
        cdef uint32_t i
        cdef int64_t exec_id
        cdef int rc = OK
        for i in range(b.nevents):
            e = &b.ev[i]
            if e.kind == bk.EV_FILL:
                rc = t.fill(<uint32_t>e.id, e.qty, e.price, &exec_id)
                if rc == OK:
                    rc = t.fill(<uint32_t>e.other, e.qty, e.price, &exec_id)
                if e.leaves == 0:
                    self.routes[e.id].handle = 0
                if e.other_leaves == 0:
                    self.routes[e.other].handle = 0
            elif e.kind == bk.EV_CANCEL:
                self.routes[e.id].handle = 0
                rc = t.cancel(<uint32_t>e.id, 6 if e.reason == bk.R_HALT else -1)
                if rc == OK:
                    self._text(CANCEL_TEXTS.get(e.reason))
            if rc == E_MEMORY:
                raise MemoryError()
        b.nevents = 0
        b.finish()                          # the book's operation count and top of book
        return 0

    cdef int _sync(self, uint32_t slot) except -1:
        """Make the book agree with an order the table just reported on: a
        desk's cancel, expiry, fill or restatement, a granted replace. An
        order that no longer works leaves the book; a new price or a larger
        quantity re-enters it (and may trade); a smaller one keeps its place."""
        cdef OrderTable t = self.table
        cdef order_t* o = &t.orders[slot]
        cdef int64_t h = self._handle(slot)
        cdef Book b
        cdef node_t* n
        cdef qty_t leaves = t.leaves(o)
        if h == 0:
            return 0
        b = <Book>self.books[o.instrument]
        n = b.get(h)
        if n == NULL or o.state & (S_DONE | S_FILLED | S_DONE_FOR_DAY) or leaves <= 0:
            b.remove(h)
            b.finish()
            self.routes[slot].handle = 0
        elif n.price != o.price or leaves > n.leaves:
            h = b.modify(h, o.price, leaves)
            if h < 0:                       # e.g. a split's price off the tick
                b.remove(self.routes[slot].handle)
                self.routes[slot].handle = 0
                t.cancel(slot, -1)
                return self._text(self._rule_text(<int>h, o.instrument, o.price, leaves))
            self.routes[slot].handle = h
            self._dispatch(b)
        elif leaves < n.leaves:
            b.reduce(h, leaves)
            b.finish()
        return 0

    cdef int _status(self, uint16_t session, nanos_t now) except -1:
        cdef const char* p
        cdef Py_ssize_t n
        cdef uint32_t slot
        cdef uint16_t owner
        self._field(11, &p, &n)
        slot = self._visible(session, p, n, &owner)
        if slot == NONE:
            return self._reject_order(session, b'I', REJ_UNKNOWN_ORDER, "unknown order", now)
        self.table.status(slot)
        return self._flush(now)

    cdef int session_reject(self, uint16_t session, nanos_t now) except -1:
        """Reject (35=3) for a message the codec refused."""
        cdef Message m = self.msg
        cdef const char* p
        cdef Py_ssize_t n
        cdef int64_t seq = 0
        if self._field(34, &p, &n):
            read_int(p, n, &seq)
        self.out_seq[session] += 1
        self.out.append((self.sessions[session], (<Encoder>self.encoders[session]).reject(
            self.out_seq[session], now, ref_seq_num=seq, reason=m.reason, ref_tag=m.ref_tag,
            ref_msg_type=m.msg_type, text=str(m.error()))))
        return 0

    cdef int _business_reject(self, uint16_t session, nanos_t now) except -1:
        cdef Message m = self.msg
        cdef Encoder enc = <Encoder>self.encoders[session]
        cdef const char* p
        cdef Py_ssize_t n
        cdef int64_t seq = 0
        if self._field(34, &p, &n):
            read_int(p, n, &seq)
        self._begin(session, b"j", now)
        enc.put_int(45, seq)
        enc.put_raw(372, fc_msgtypes[m.msgtype].mt, len(fc_msgtypes[m.msgtype].mt))
        enc.put_int(380, BRJ_UNSUPPORTED_MSGTYPE)
        enc.put(58, "the engine takes D, F, G and H; session messages belong to the session layer")
        return self._emit(session)

    # ---- the Python API -----------------------------------------------------------

    cdef uint16_t _session(self, name) except? 0xFFFF:
        if name is self.last_name:          # the same sender as the last call
            return self.last_session
        try:
            self.last_session = self.session_index[name]
        except KeyError:
            raise UnknownSession(name) from None
        self.last_name = name
        return self.last_session

    def submit(self, data, sender, nanos_t now):
        """Process one message from ``sender`` (a configured session name)
        received at ``now``; returns the messages it caused.

        ``data`` is one complete FIX 4.4 message (bytes) or a msgspec Struct
        of ``fastcore.messages``. A message the codec refuses is answered
        with Reject (35=3); a type the engine does not take with
        BusinessMessageReject (35=j). Bytes that are not a whole FIX message
        raise IncompleteMessage or GarbledMessage: there is nothing to answer.
        """
        cdef uint16_t session = self._session(sender)
        cdef Message m = self.msg
        cdef Py_ssize_t used
        cdef int rc
        if type(data) is not bytes:
            if isinstance(data, msgspec.Struct):
                data = self._struct_bytes(data, now)
            else:
                data = bytes(data)
        m.owner = data
        rc = m.parse(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), &used)
        if rc != P_PARTIAL and used != PyBytes_GET_SIZE(data):
            raise CodecError(f"{PyBytes_GET_SIZE(data) - used} bytes after the message: "
                             "submit takes one message")
        if rc == P_REJECT:
            self.session_reject(session, now)
        elif rc != P_OK:
            m._raise()
        else:
            self.process(session, now)
        return self.take()

    cdef int process(self, uint16_t session, nanos_t now) except -1:
        """Answer the valid message in ``msg`` from ``session``: an order
        request, or BusinessMessageReject for a type the engine does not take."""
        cdef Message m = self.msg
        cdef char mt = fc_msgtypes[m.msgtype].mt[0] if fc_msgtypes[m.msgtype].mt[1] == 0 else 0
        self.requester = session
        if mt == b'D':
            return self._new_order(session, now)
        if mt == b'F' or mt == b'G':
            return self._request(session, mt, now)
        if mt == b'H':
            return self._status(session, now)
        return self._business_reject(session, now)

    cdef bytes _struct_bytes(self, data, nanos_t now):
        """A Struct of fastcore.messages as FIX bytes: one path for both."""
        from fastcore.messages import MESSAGE_TYPES, transact_time
        msg_type = MESSAGE_TYPES.get(type(data))
        if msg_type is None:
            raise TypeError(f"not a fastcore message: {type(data).__name__}")
        fields = [(int(tag), value) for tag, value in msgspec.to_builtins(data).items()
                  if tag.isdigit() and value is not None]
        if msg_type != "H" and not any(tag == 60 for tag, _ in fields):
            fields.append((60, transact_time(now)))
        fields.sort(key=lambda field: field[0] != 97)     # PossResend is a header field
        return self.scratch.encode(msg_type, fields, 1, now)

    # -- desk commands -------------------------------------------------------------

    cdef uint32_t _order(self, str command, order, session) except? 0xFFFFFFFE:
        """The slot of the order named ``order`` (a telephoned order's name or
        any ClOrdID it carried) in ``session`` (default: every session, in order)."""
        cdef bytes b
        cdef uint32_t slot
        if order in self.names:
            slot, order_id = self.names[order]
            if (self.table.orders[slot].order_id == order_id
                    and self.table.orders[slot].flags & F_LIVE):
                return slot
            del self.names[order]           # released at a day's roll
        b = str(order).encode()
        for s in ([self._session(session)] if session is not None else range(len(self.sessions))):
            slot = self.table.find(s, PyBytes_AS_STRING(b), <uint32_t>len(b))
            if slot != NONE:
                return slot
        raise CommandRefused(command, order, None, "no such order")

    cdef uint32_t _req(self, str command, uint32_t slot, char kind, request, order) except? 0xFFFFFFFE:
        cdef bytes b = str(request).encode() if request is not None else b""
        cdef uint32_t r = self.table.find_request(slot, kind, PyBytes_AS_STRING(b), <uint32_t>len(b))
        if r == NONE:
            what = "cancel" if kind == b'F' else "replace"
            raise CommandRefused(command, order, state_names(self.table.orders[slot].state),
                                 f"no {what} request {request} outstanding" if request is not None
                                 else f"no {what} request outstanding")
        return r

    cdef int _check(self, int rc, str command, order, uint32_t slot) except -1:
        if rc == OK:
            return 0
        self.table.nreports = 0
        raise CommandRefused(
            command, order,
            state_names(self.table.orders[slot].state) if slot != NONE else None,
            ERROR_CODES.get(rc, f"error {rc}"))

    cdef list _done(self, nanos_t now):
        self._flush(now)
        return self.take()

    def act(self, command, *, nanos_t now, **args):
        """Run the desk command named ``command`` with ``args`` (the `act`
        steps of a scenario file): ``engine.act("fill", now=t, order="X",
        qty="100", px="10")`` is ``engine.fill("X", "100", "10", now=t)``."""
        if command not in COMMANDS:
            raise CommandRefused(command, args.get("order"), None, "no such command")
        try:
            return getattr(self, command)(now=now, **args)
        except TypeError as exc:
            raise CommandRefused(command, args.get("order"), None, str(exc)) from None

    def pending_new(self, order, *, nanos_t now, session=None):
        """ExecType Pending New."""
        cdef uint32_t s = self._order("pending_new", order, session)
        self._check(self.table.pending_new(s), "pending_new", order, s)
        return self._done(now)

    def ack(self, order, qty=None, *, nanos_t now, session=None):
        """Accept the order: ExecType New. ``qty``: the OrderQty the desk
        accepted (for an order given as CashOrderQty)."""
        cdef uint32_t s = self._order("ack", order, session)
        cdef qty_t q = self._qty("ack", order, s, qty) if qty is not None else 0
        self._check(self.table.ack(s, q), "ack", order, s)
        return self._done(now)

    def reject(self, order, reason=None, text=None, *, nanos_t now, session=None):
        """Reject the order: ExecType Rejected, OrdRejReason ``reason`` (default 0)."""
        cdef uint32_t s = self._order("reject", order, session)
        self._check(self.table.reject(s, int(reason) if reason is not None else 0),
                    "reject", order, s)
        self._text(text)
        return self._done(now)

    def fill(self, order, qty, px, exec_id=None, *, nanos_t now, session=None):
        """An execution: ExecType Trade. ``exec_id`` is a name for it, for a
        later ``bust`` or ``correct``."""
        cdef uint32_t s = self._order("fill", order, session)
        cdef int64_t e
        self._check(self.table.fill(s, self._qty("fill", order, s, qty),
                                    self._px("fill", order, s, px), &e), "fill", order, s)
        if exec_id is not None:
            self.exec_names[str(exec_id)] = e
        return self._done(now)

    def done_for_day(self, order, *, nanos_t now, session=None):
        """ExecType Done for Day."""
        cdef uint32_t s = self._order("done_for_day", order, session)
        self._check(self.table.done_for_day(s), "done_for_day", order, s)
        return self._done(now)

    cdef list _answer(self, str command, char kind, int step, order, request, reason, text,
                      nanos_t now, session):
        """A desk's answer to a cancel ('F') or replace ('G') request: report it
        pending (step 0), grant it (1) or refuse it (2, CxlRejReason ``reason``)."""
        cdef uint32_t s = self._order(command, order, session)
        cdef uint32_t r = self._req(command, s, kind, request, order)
        cdef int rc
        if step == 0:
            rc = self.table.pending_cancel(s, r) if kind == b'F' else self.table.pending_replace(s, r)
        elif step == 1:
            if kind == b'F':
                self._cancel_children(s, CHILDREN_CANCELED)
            rc = self.table.accept_cancel(s, r) if kind == b'F' else self.table.accept_replace(s, r)
        else:
            rc = self.table.reject_request(s, r, int(reason) if reason is not None else -1)
        self._check(rc, command, order, s)
        self._text(text)
        return self._done(now)

    def pending_cancel(self, order, request=None, *, nanos_t now, session=None):
        """ExecType Pending Cancel for a cancel request (default: the oldest)."""
        return self._answer("pending_cancel", b'F', 0, order, request, None, None, now, session)

    def accept_cancel(self, order, request=None, *, nanos_t now, session=None):
        """Grant a cancel request: ExecType Canceled."""
        return self._answer("accept_cancel", b'F', 1, order, request, None, None, now, session)

    def reject_cancel(self, order, request=None, reason=None, text=None, *, nanos_t now,
                      session=None):
        """Refuse a cancel request: OrderCancelReject, CxlRejResponseTo 1."""
        return self._answer("reject_cancel", b'F', 2, order, request, reason, text, now, session)

    def pending_replace(self, order, request=None, *, nanos_t now, session=None):
        """ExecType Pending Replace for a replace request (default: the oldest)."""
        return self._answer("pending_replace", b'G', 0, order, request, None, None, now, session)

    def accept_replace(self, order, request=None, *, nanos_t now, session=None):
        """Grant a replace request: ExecType Replaced."""
        return self._answer("accept_replace", b'G', 1, order, request, None, None, now, session)

    def reject_replace(self, order, request=None, reason=None, text=None, *, nanos_t now,
                       session=None):
        """Refuse a replace request: OrderCancelReject, CxlRejResponseTo 2."""
        return self._answer("reject_replace", b'G', 2, order, request, reason, text, now, session)

    def cancel(self, order, text=None, reason=None, *, nanos_t now, session=None):
        """Unsolicited cancel: ExecType Canceled, with ExecRestatementReason
        ``reason`` if given (e.g. 2 verbal change, 9 canceled, not best)."""
        cdef uint32_t s = self._order("cancel", order, session)
        self._cancel_children(s, CHILDREN_CANCELED)
        self._check(self.table.cancel(s, int(reason) if reason is not None else -1),
                    "cancel", order, s)
        self._text(text)
        return self._done(now)

    def restate(self, order, reason, qty=None, px=None, text=None, *, nanos_t now,
                session=None):
        """The sell side's own change: ExecType Restated with
        ExecRestatementReason ``reason``; a new OrderQty and/or Price."""
        cdef uint32_t s = self._order("restate", order, session)
        cdef qty_t q = self._qty("restate", order, s, qty) if qty is not None else 0
        cdef price_t p = self._px("restate", order, s, px) if px is not None else 0
        self._check(self.table.restate(s, int(reason), q, p, px is not None),
                    "restate", order, s)
        self._text(text)
        return self._done(now)

    def telephoned(self, order, symbol, side, qty, px=None, clordid=None, ord_type=None,
                   tif="0", *, nanos_t now, session=None):
        """An order given by phone, entered and accepted: ExecType New.

        ``order`` names it for later commands; ``clordid`` is the ClOrdID the
        client would use, so that an electronic copy is rejected as a
        duplicate of a verbal order. The owner is ``session`` (default: the
        first configured session).
        """
        cdef order_in o
        cdef uint32_t slot, k
        cdef route_t* rt
        cdef bytes sym = str(symbol).encode(), cl = str(clordid).encode() if clordid else b""
        cdef uint16_t sess = self._session(session) if session is not None else 0
        k = self.symbol_ids.find(0, PyBytes_AS_STRING(sym), <uint32_t>len(sym))
        if k == NO_KEY:
            raise CommandRefused("telephoned", order, None, f"unknown symbol {symbol}")
        if order in self.names:
            raise CommandRefused("telephoned", order, None, "the name is in use")
        o.clordid = PyBytes_AS_STRING(cl)
        o.clordid_len = <uint32_t>len(cl)
        o.instrument = self.symbol_ids.keys[k].order
        o.qty = self._qty("telephoned", order, NONE, qty)
        o.cash_qty = 0
        o.price = self._px("telephoned", order, NONE, px) if px is not None else 0
        o.session = sess
        o.flags = F_TELEPHONED | (F_HAS_PRICE if px is not None else 0)
        o.exec_inst = 0
        o.side = ord(str(side)[0])
        o.ord_type = ord(str(ord_type)[0]) if ord_type else (b'2' if px is not None else b'1')
        o.tif = ord(str(tif)[0])
        why = self._check_terms(o.side, o.ord_type, o.tif)
        if why is None and o.ord_type == b'2' and px is None:
            why = "a limit order needs px"
        if why is not None or o.qty <= 0:
            raise CommandRefused("telephoned", order, None, why or "quantity out of range")
        self._check(self.table.new_order(&o, &slot), "telephoned", order, NONE)
        rt = self._route(slot)
        rt.audience = self.visibility.standard(sess, self.gateways[o.instrument])
        rt.account = self.own_accounts[sess]
        rt.source = b'W'                    # given to a desk by phone: high touch
        rt.oti = b'L' if o.ord_type == b'2' else b'Q'
        self._register_order_id(slot)
        self._audit_in(slot, False, now)
        self.names[order] = (slot, self.table.orders[slot].order_id)
        self.table.ack(slot, 0)
        return self._done(now)

    def stop(self, order, qty, px, *, nanos_t now, session=None):
        """A guarantee of ``qty`` at ``px``: ExecType Stopped."""
        cdef uint32_t s = self._order("stop", order, session)
        cdef qty_t q = self._qty("stop", order, s, qty)
        self._check(self.table.stop(s, q, self._px("stop", order, s, px)), "stop", order, s)
        return self._done(now)

    cdef int64_t _exec(self, str command, exec_id, order, uint32_t slot) except -1:
        if str(exec_id) in self.exec_names:
            return self.exec_names[str(exec_id)]
        text = str(exec_id)
        prefix = self.exec_prefix.decode()
        if text.startswith(prefix) and text[len(prefix):].isdigit():
            return int(text[len(prefix):])
        raise CommandRefused(command, order, self._state(slot), f"no execution {exec_id}")

    def bust(self, order, exec_id, *, nanos_t now, session=None):
        """Trade Cancel of the execution ``exec_id`` (its name or its ExecID)."""
        cdef uint32_t s = self._order("bust", order, session)
        self._check(self.table.bust(s, self._exec("bust", exec_id, order, s)), "bust", order, s)
        return self._done(now)

    def correct(self, order, exec_id, qty=None, px=None, *, nanos_t now, session=None):
        """Trade Correct of the execution ``exec_id`` to ``qty`` at ``px``
        (either defaults to the execution's current value)."""
        cdef uint32_t s = self._order("correct", order, session)
        cdef int64_t e = self._exec("correct", exec_id, order, s)
        cdef uint32_t f = self.table._find_fill(s, e)
        if f == NONE:
            self._check(E_UNKNOWN_EXEC, "correct", order, s)
        q = self._qty("correct", order, s, qty) if qty is not None else self.table.fills[f].qty
        p = self._px("correct", order, s, px) if px is not None else self.table.fills[f].px
        self._check(self.table.correct(s, e, q, p), "correct", order, s)
        return self._done(now)

    def expire(self, order, *, nanos_t now, session=None):
        """ExecType Expired."""
        cdef uint32_t s = self._order("expire", order, session)
        self._cancel_children(s, CHILDREN_EXPIRED)
        self._check(self.table.expire(s), "expire", order, s)
        return self._done(now)

    # -- staged orders: the traders' commands -------------------------------------

    cdef uint32_t _staged(self, str command, order, uint16_t user) except? 0xFFFFFFFE:
        """The staged order named ``order`` if ``user`` sees it; refused as
        if there were none otherwise (nothing revealed to outsiders)."""
        cdef uint32_t s = self._order(command, order, None)
        if not self.routes[s].staged or not self.visibility.contains(self.routes[s].audience, user):
            raise CommandRefused(command, order, None, "no such order")
        if self.table.orders[s].state & S_DONE:
            raise CommandRefused(command, order, self._state(s), "the order is done")
        return s

    def claim(self, order, by, *, nanos_t now):
        """``by`` claims the staged order ``order`` (any ClOrdID it carried):
        from then on ``by`` alone works it. Its audience is told (ExecType
        Restated, ExecRestatementReason 99, ClaimedBy (9102)). Refused when
        someone has claimed it, or ``by`` may not work it (staged order
        management, and its desk: INTERNAL or BROKER)."""
        cdef uint16_t u = self._session(by)
        cdef uint32_t s = self._staged("claim", order, u)
        cdef route_t* rt = &self.routes[s]
        if rt.claimer != NO_USER:
            raise CommandRefused("claim", order, self._state(s),
                                 f"claimed by {self.sessions[rt.claimer]}")
        if not self.visibility.contains(rt.workers, u):
            raise CommandRefused("claim", order, self._state(s),
                                 f"{by} may not work this {STAGED_TYPES[rt.staged].decode()} staged order")
        rt.claimer = u
        self._check(self.table.restate(s, RST_OTHER, 0, 0, False), "claim", order, s)
        self._text(f"claimed by {by}")
        return self._done(now)

    def restage(self, order, by, to="BROKER", *, nanos_t now):
        """``by``, a TTORD execution trader of its desk, re-stages the
        INTERNAL staged order ``order`` to the broker (``to`` BROKER): the
        broker's traders now see it and may claim it, the internal ones no
        longer may; a claim is released. BROKER → INTERNAL is refused, and so
        is a re-stage while child orders work."""
        cdef uint16_t u = self._session(by)
        cdef uint32_t s = self._staged("restage", order, u)
        cdef route_t* rt = &self.routes[s]
        cdef uint32_t c = rt.child
        if to not in ("BROKER", "INTERNAL"):
            raise CommandRefused("restage", order, self._state(s), f"to {to!r}: BROKER or INTERNAL")
        if rt.staged == STAGED_BROKER:
            raise CommandRefused("restage", order, self._state(s),
                                 "a BROKER staged order never becomes INTERNAL" if to == "INTERNAL"
                                 else "it is a BROKER staged order already")
        if to == "INTERNAL":
            raise CommandRefused("restage", order, self._state(s), "it is INTERNAL already")
        if not self.visibility.contains(rt.workers, u) or not self.visibility.is_ttord(u, self.staging):
            raise CommandRefused("restage", order, self._state(s),
                                 f"{by} may not re-stage it: a TTORD execution trader of its desk may")
        if rt.claimer != NO_USER and rt.claimer != u:
            raise CommandRefused("restage", order, self._state(s),
                                 f"claimed by {self.sessions[rt.claimer]}")
        while c != NONE:
            if not self.table.orders[c].state & S_DONE:
                raise CommandRefused("restage", order, self._state(s),
                                     "child orders are working: cancel them first")
            c = self.routes[c].sibling
        self.visibility.staged(self.table.orders[s].session, self.staging,
                               self.gateways[self.table.orders[s].instrument], True,
                               &rt.audience, &rt.workers)
        rt.staged = STAGED_BROKER
        rt.claimer = NO_USER
        self._register_order_id(s)
        self._check(self.table.restate(s, RST_BROKER_OPTION, 0, 0, False), "restage", order, s)
        self._text(f"re-staged to BROKER by {by}")
        return self._done(now)

    def child(self, order, by, qty, px=None, clordid=None, ord_type=None, tif=None,
              secondary=None, profile=None, *, nanos_t now):
        """``by``, who claimed the staged order ``order``, submits a child
        order of ``qty`` (default ClOrdID: ``order``-n): the NewOrderSingle
        with ParentOrderID (9101) a FIX client would send, answered the same
        way. Price, OrdType and TimeInForce default to the staged order's;
        ``secondary`` books it to a secondary account of the broker's
        (18219), ``profile`` names another order profile (18218)."""
        cdef uint32_t s = self._staged("child", order, self._session(by))
        cdef order_t* o = &self.table.orders[s]
        cdef uint32_t c = self.routes[s].child
        cdef int n = 1
        while c != NONE:
            n += 1
            c = self.routes[c].sibling
        fields = [(11, str(clordid) if clordid is not None else f"{order}-{n}"),
                  (TAG_PARENT_ORDER_ID, str(o.order_id)), (55, self.symbols[o.instrument].decode()),
                  (54, chr(o.side)), (38, str(qty)),
                  (40, str(ord_type) if ord_type is not None else chr(o.ord_type))]
        if px is not None:
            fields.append((44, str(px)))
        if tif is not None:
            fields.append((59, str(tif)))
        if secondary is not None:
            fields.append((TAG_SECONDARY_ACCOUNT, str(secondary)))
        if profile is not None:
            fields.append((TAG_CUSTOMER, str(profile)))
        from fastcore.messages import transact_time
        fields.append((60, transact_time(now)))
        return self.submit(self.scratch.encode("D", fields, 1, now), by, now)

    cdef uint32_t _instrument(self, str command, symbol) except? 0xFFFFFFFE:
        cdef bytes sym = str(symbol).encode()
        cdef uint32_t k = self.symbol_ids.find(0, PyBytes_AS_STRING(sym), <uint32_t>len(sym))
        if k == NO_KEY:
            raise CommandRefused(command, None, None, f"unknown symbol {symbol}")
        return self.symbol_ids.keys[k].order

    def halt(self, symbol, *, nanos_t now):
        """A trading halt: orders with ExecInst K (cancel on halt) are canceled
        (ExecRestatementReason 6); the others wait for ``resume``. The
        instrument's book holds the halt, in both modes."""
        cdef uint32_t i = self._instrument("halt", symbol)
        cdef Book b = <Book>self.books[i]
        if b.halt_trading() == bk.E_STATE:
            raise CommandRefused("halt", None, None, f"{symbol} is already halted")
        if self.auto:
            self._dispatch(b)
        else:                               # worked orders are not in the book
            self._check(self.table.halt(i), "halt", None, NONE)
        return self._done(now)

    def resume(self, symbol, *, nanos_t now):
        """The end of a trading halt (in auto mode, orders that waited enter the book)."""
        cdef Book b = <Book>self.books[self._instrument("resume", symbol)]
        if b.resume_trading() == bk.E_STATE:
            raise CommandRefused("resume", None, None, f"{symbol} is not halted")
        self._dispatch(b)
        return self._done(now)

    def new_day(self, *, nanos_t now):
        """The trading day rolls over: working day orders expire; GT orders
        carry on with DayOrderQty/DayCumQty reset."""
        cdef OrderTable t = self.table
        cdef uint32_t slot
        for slot in range(min(self.cap_routes, t.top)):   # staged day orders end: children first
            if (self.routes[slot].staged and t.orders[slot].flags & F_LIVE
                    and not t.orders[slot].flags & F_GT and not t.orders[slot].state & S_DONE):
                self._cancel_children(slot, CHILDREN_EXPIRED)
        self._check(t.new_day(), "new_day", None, NONE)
        return self._done(now)

    def split(self, symbol, ratio, *, nanos_t now):
        """A corporate action: every working GT order on ``symbol`` restated
        (ExecRestatementReason 0) with quantities × ratio and prices ÷ ratio.
        ``ratio``: "2", "3:2" or "1.5"."""
        cdef uint32_t i = self._instrument("split", symbol)
        text = str(ratio)
        try:
            r = fractions.Fraction(text.replace(":", "/"))
        except (ValueError, ZeroDivisionError):
            raise CommandRefused("split", None, None, f"ratio {ratio!r} is not a ratio") from None
        if r <= 0:
            raise CommandRefused("split", None, None, f"ratio {ratio} is not positive")
        self._check(self.table.split(i, r.numerator, r.denominator), "split", None, NONE)
        return self._done(now)

    cdef object _state(self, uint32_t slot):
        return state_names(self.table.orders[slot].state) if slot != NONE else None

    cdef int64_t _number(self, str command, order, uint32_t slot, value, int digits,
                         str what) except? -1:
        """A quantity or price argument → fixed point: decimal text the C way,
        anything else (int, Decimal) through Decimal; exact or refused."""
        cdef int64_t v
        cdef bytes b
        if type(value) is str and (<str>value).isascii():
            b = (<str>value).encode()
            if read_fixed(PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b), digits, &v) == V_OK:
                return v
        try:
            return _fixed(value, digits, what)
        except ValueError as exc:
            raise CommandRefused(command, order, self._state(slot), str(exc)) from None

    cdef qty_t _qty(self, str command, order, uint32_t slot, value) except? -1:
        return self._number(command, order, slot, value, QTY_DIGITS, "qty")

    cdef price_t _px(self, str command, order, uint32_t slot, value) except? -1:
        return self._number(command, order, slot, value, PX_DIGITS, "px")

    # -- snapshots ----------------------------------------------------------------------

    def state(self):
        """Everything the engine's inputs have changed, as plain values
        (ints, bytes, lists, dicts: msgpack encodes it), for a snapshot;
        ``restore`` reads it. What a call leaves nothing of (its messages,
        its audit records once taken) and the outbound MsgSeqNum counters (the
        session layer's) are not part of it."""
        cdef uint32_t nroutes = min(self.table.top, self.cap_routes)
        return {"layout": _LAYOUT,
                "symbols": list(self.symbols),
                "table": self.table.state(),
                "books": [(<Book>b).state() for b in self.books],
                "routes": dump(self.routes, nroutes * sizeof(route_t)),
                "accounts": self.account_ids.state(),
                "self_trade": bytes(self.stp),
                "echoes": self.echoes.state(),
                "telephoned": [(name, slot, order_id)
                               for name, (slot, order_id) in self.names.items()],
                "executions": list(self.exec_names.items()),
                "visibility": self.visibility.state()}

    def restore(self, dict state):
        """Become the engine ``state`` describes: on a new Engine of the same
        configuration, before any input. ValueError when the state does not
        fit (another configuration, or a build with other C layouts)."""
        cdef uint32_t nroutes = len(state["routes"]) // sizeof(route_t)
        cdef uint32_t cap = max(nroutes, self.cap_routes)
        cdef route_t* routes
        if tuple(state["layout"]) != _LAYOUT:
            raise ValueError(f"made by a build with other C layouts ({tuple(state['layout'])}, "
                             f"this build's are {_LAYOUT})")
        if tuple(state["symbols"]) != self.symbols:
            raise ValueError(f"the instruments {b', '.join(state['symbols']).decode()} where "
                             f"the configuration has {b', '.join(self.symbols).decode()}")
        if self.table.top or self.visibility.naudiences:
            raise ValueError("the engine has taken inputs already")
        routes = <route_t*>calloc(cap, sizeof(route_t))
        if routes == NULL:
            raise MemoryError()
        try:
            load(routes, state["routes"], nroutes * sizeof(route_t), "routes")
        except ValueError:
            free(routes)
            raise
        free(self.routes)
        self.routes, self.cap_routes = routes, cap
        self.table.restore(state["table"])
        for b, book_state in zip(self.books, state["books"]):
            (<Book>b).restore(book_state)
        self.account_ids.restore(state["accounts"])
        self.stp = bytearray(state["self_trade"])
        self.echoes.restore(state["echoes"])
        self.names = {name: (slot, order_id) for name, slot, order_id in state["telephoned"]}
        self.exec_names = dict(state["executions"])
        self.visibility.restore(state["visibility"])

    def state_hash(self):
        """``hash_state(self.state())``: two engines with the same
        configuration that took the same inputs have the same hash."""
        return hash_state(self.state())

    # -- reading the state ------------------------------------------------------------

    def orders(self):
        """The order table as a zero-copy numpy structured array (see
        ``OrderTable.view``)."""
        return self.table.view()

    def order_state(self, order, session=None):
        """The states of the order named ``order``, e.g. "New, Partially Filled"."""
        return state_names(self.table.orders[self._order("order_state", order, session)].state)
