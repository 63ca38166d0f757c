# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Decode chosen fields of a FIX message straight into Python values, like
msgspec decodes into a Struct: the field types come from the dictionary.

Bounds: ``kinds``/``tags`` hold ``n`` entries; field indexes come from
``Message.find``, which only returns indexes below ``nfields``.
"""

from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from cpython.ref cimport Py_INCREF, Py_XDECREF, PyObject
from cpython.unicode cimport PyUnicode_DecodeLatin1
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset

from fastcore._types cimport PX_DIGITS, QTY_DIGITS
from fastcore.codec.fix44 cimport *
from fastcore.codec.values cimport *
from fastcore.codec.parser cimport Message, P_OK, DEFAULT_MAX_BODY_LENGTH

from fastcore.errors import FieldValueError

cdef enum:
    K_STR = 0
    K_INT = 1
    K_QTY = 2
    K_PRICE = 3
    K_TIME = 4
    K_BOOL = 5
    K_BYTES = 6

cdef tuple ONE_CHAR = tuple(chr(i) for i in range(128))

KINDS = {"str": K_STR, "int": K_INT, "qty": K_QTY, "price": K_PRICE,
         "time": K_TIME, "bool": K_BOOL, "bytes": K_BYTES}


cdef enum:
    SHORT = 8           # strings up to this long are cached
    CACHE = 256         # entries in a Decoder's cache of short strings


cdef struct short_str:  # a cached str: its bytes (zero-padded) and length
    uint64_t key
    Py_ssize_t n
    PyObject* value


cdef int kind_of(int tag):
    cdef int t = fc_slots[slot_of(tag)].type
    if t == T_INT or t == T_LENGTH or t == T_SEQNUM or t == T_NUMINGROUP \
            or t == T_TAGNUM or t == T_DAYOFMONTH:
        return K_INT
    if t == T_QTY:
        return K_QTY
    if t >= T_FLOAT and t <= T_PERCENTAGE:
        return K_PRICE
    if t == T_UTCTIMESTAMP:
        return K_TIME
    if t == T_BOOLEAN:
        return K_BOOL
    if t == T_DATA:
        return K_BYTES
    return K_STR


cdef class Decoder:
    """Parse a message and return the values of ``tags`` as a tuple.

    Each tag converts by its FIX type: strings and chars to str, integers to
    int, Qty to int fixed point (QTY_DIGITS), Price/Amt/Float to int fixed
    point (PX_DIGITS), UTCTimestamp to int nanoseconds, Boolean to bool. A
    ``kinds`` mapping overrides it per tag ("str", "int", "qty", "price",
    "time", "bool", "bytes"). Missing fields decode as None.
    """
    cdef Message msg
    cdef int n
    cdef int* tags
    cdef int* kinds
    cdef int* slots
    cdef short_str cache[CACHE]   # Symbol, Account, Currency …: str made once
    cdef readonly tuple fields

    def __cinit__(self, tags, kinds=None, *, Py_ssize_t max_body_length=DEFAULT_MAX_BODY_LENGTH):
        tags = tuple(int(t) for t in tags)
        kinds = dict(kinds or {})
        self.fields = tags
        self.n = len(tags)
        self.tags = <int*>malloc(max(self.n, 1) * sizeof(int))
        self.kinds = <int*>malloc(max(self.n, 1) * sizeof(int))
        self.slots = <int*>malloc(max(self.n, 1) * sizeof(int))
        if self.tags == NULL or self.kinds == NULL or self.slots == NULL:
            raise MemoryError()
        for i, tag in enumerate(tags):
            self.tags[i] = tag
            self.slots[i] = slot_of(tag)
            self.kinds[i] = KINDS[kinds[tag]] if tag in kinds else kind_of(tag)
        self.msg = Message.__new__(Message)
        self.msg.max_body_length = max_body_length
        memset(self.cache, 0, sizeof(self.cache))

    cdef object _short_str(self, const char* p, Py_ssize_t n):
        """The str of a short value, from the cache when it was seen before."""
        cdef uint64_t key = 0
        cdef short_str* e
        cdef object value
        memcpy(&key, p, n)
        e = &self.cache[(key * 0x9E3779B97F4A7C15ULL + <uint64_t>n) >> 56]
        if e.value != NULL and e.key == key and e.n == n:
            return <object>e.value
        value = PyUnicode_DecodeLatin1(p, n, NULL)
        Py_XDECREF(e.value)
        Py_INCREF(value)
        e.value = <PyObject*>value
        e.key = key
        e.n = n
        return value

    def __dealloc__(self):
        cdef int i
        for i in range(CACHE):
            Py_XDECREF(self.cache[i].value)
        free(self.tags)
        free(self.kinds)
        free(self.slots)

    cpdef tuple decode(self, bytes data):
        """The values of the decoder's tags in one message; raises like
        :func:`fastcore.codec.parse` on a message that does not parse."""
        cdef Message m = self.msg
        cdef Py_ssize_t used
        cdef tuple out
        cdef int i, f, rc
        cdef uint32_t e
        cdef int64_t v
        cdef const char* p
        cdef Py_ssize_t n
        cdef object value
        m.owner = data
        if m.parse(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), &used) != P_OK:
            m._raise()
        out = PyTuple_New(self.n)
        for i in range(self.n):
            if self.slots[i]:           # the message's slot table, read in place
                e = m.index[self.slots[i]]
                f = <int>(e & 0xFFFF) if (e >> 16) == m.gen else -1
            else:
                f = m.find(self.tags[i])
            if f < 0:
                value = None
            else:
                p = m.buf + m.views[f].off
                n = m.views[f].len
                rc = self.kinds[i]
                if rc == K_STR:
                    if n == 1 and <unsigned char>p[0] < 128:
                        value = ONE_CHAR[<unsigned char>p[0]]   # Side, OrdType …: no allocation
                    elif n <= SHORT:
                        value = self._short_str(p, n)
                    else:
                        value = PyUnicode_DecodeLatin1(p, n, NULL)
                elif rc == K_BYTES:
                    value = PyBytes_FromStringAndSize(p, n)
                elif rc == K_BOOL:
                    value = p[0] == b'Y'
                else:
                    if rc == K_INT:
                        rc = read_int(p, n, &v)
                    elif rc == K_QTY:
                        rc = read_fixed(p, n, QTY_DIGITS, &v)
                    elif rc == K_PRICE:
                        rc = read_fixed(p, n, PX_DIGITS, &v)
                    else:
                        rc = read_timestamp(p, n, &v)
                    if rc != V_OK:
                        raise FieldValueError(self.tags[i], "a value of its type",
                                              PyBytes_FromStringAndSize(p, n))
                    value = v
            Py_INCREF(value)
            PyTuple_SET_ITEM(out, i, value)
        return out
