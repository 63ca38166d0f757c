# The audit trail: what the engine appends for every order, for a regulator
# (CME Rule 536.E, seed 003). Records are written into one growing buffer in
# C and taken by the edge as bytes (the server appends them to a file once
# per batch); ``fastcore.auditfile`` reads them back.
#
# A record is a fixed 72-byte little-endian part (audit_t) and, on a
# "received" record and on the "out" record of a replace, six texts, each a
# uint32 length and its bytes: ClOrdID, user, Account (the TT account),
# Symbol, customer (TTCustomerName 18218, the order profile) and the
# client's own Account (1) when a secondary account mapped it. The file
# format is described in auditfile.py. (Little-endian: the machines
# fastcore builds for; audit.pyx refuses to load on any other.)

from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t

from fastcore._types cimport nanos_t


cdef enum:
    A_START = 83              # 'S' an engine started (a run): order ids restart
    A_IN = 73                 # 'I' timestamp in: an order (or portion) received
    A_ENTERED = 69            # 'E' a portion entered: in the book, or acknowledged by a desk
    A_OUT = 79                # 'O' an event of the order: exec_type says which
    A_TEXTS = 6               # the texts of a received record


cdef packed struct audit_t:   # 72 bytes
    uint32_t length           # of the whole record, texts included
    uint32_t portion          # 0: a master order; n: its n-th child order. On a master's
                              # fill that mirrors a child's: that child's portion
    int64_t ts                # ns since the epoch (UTC): the receive time at the edge, or the event's
    int64_t order_id          # the order (or portion) the record is about
    int64_t master_id         # its master order (itself for an order with no parent)
    int64_t exec_id           # A_OUT: the ExecID (17) of the report; 0 otherwise
    int64_t exec_ref          # A_OUT busts and corrections: ExecRefID (19)
    int64_t qty               # A_IN: OrderQty; fills and corrections: LastQty; else OrderQty after
    int64_t px                # A_IN: Price; fills and corrections: LastPx; else Price after
    char kind                 # A_*
    char exec_type            # A_OUT: the ExecType (150) reported; 0 otherwise
    char side
    char ord_type
    char tif
    char oti                  # order type indicator: L limit, D DRT (not held), Q other
    char source               # execution source code (1031): W Y C G H D
    uint8_t entirety          # A_IN: entered in its entirety on receipt


cdef class AuditTrail:
    cdef char* buf
    cdef Py_ssize_t len, cap
    cdef readonly bint enabled

    cdef audit_t* add(self, char kind, Py_ssize_t texts) except NULL
    cdef void text(self, const char* p, Py_ssize_t n) noexcept
