# cython: language_level=3, boundscheck=False, wraparound=False
"""Secondary accounts: the map from a client's own account to a TT account.

A FIX client from outside names its accounts its own way. The
configuration's ``[secondary]`` table maps each name to the TT account
its orders are booked to (Account (1) from then on) and the order profile
they take (TTCustomerName (18218)); an order whose name maps to nothing is
refused. The name is SecondaryAccount (18219) when the order carries it;
otherwise the rule makes it from the user's company, name and Account
(1), e.g. ``Firm1User1Acct``. A user allowed wild-card accounts also has
``CompanyUser*`` (the rule with "*" for the account), which covers every
account it has no entry of its own for.

    maps = SecondaryAccounts(config, account_number)
    maps.lookup(b"ClientUserAcct1")         # (account number, profile) or None
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.tuple cimport PyTuple_GET_ITEM
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy

from fastcore.orders.clordids cimport NO_KEY, K_ORDER

from fastcore import config as _config


cdef class SecondaryAccounts:
    """The ``[secondary]`` map of ``config``; ``account_number`` gives the
    engine's number of a TT account name (bytes)."""

    def __init__(self, config, account_number):
        cdef bytes name
        cdef uint32_t i
        profiles = {p.name: i + 1 for i, p in enumerate(config.order_profiles)}
        entries = config.secondary.accounts
        self.names = ClOrdIDIndex(max(2 * len(entries), 16))
        self.maps = <mapping_t*>malloc(max(len(entries), 1) * sizeof(mapping_t))
        if self.maps == NULL:
            raise MemoryError()
        for i, m in enumerate(entries):
            name = m.name.encode()
            if self.names.add(0, PyBytes_AS_STRING(name), <uint32_t>len(name), i,
                              K_ORDER, NO_KEY) == NO_KEY:
                raise MemoryError()
            self.maps[i].account = account_number(m.account.encode())
            self.maps[i].profile = profiles.get(m.profile, 0)
        self.count = len(entries)
        for i, prof in enumerate(config.order_profiles):
            name = prof.name.encode()
            if self.names.add(1, PyBytes_AS_STRING(name), <uint32_t>len(name), i + 1,
                              K_ORDER, NO_KEY) == NO_KEY:
                raise MemoryError()
        parts = _config.rule_parts(config.secondary.rule)
        prefix, suffix, wildcard = [], [], []
        for u in config.users:
            values = {"company": u.firm, "user": u.name}
            before, after, seen = [], [], False
            for text, field in parts:
                (after if seen else before).append(text)
                if field == "account":
                    seen = True
                elif field:
                    (after if seen else before).append(values[field])
            prefix.append("".join(before).encode())
            suffix.append("".join(after).encode())
            wildcard.append(("".join(before) + "*" + "".join(after)).encode()
                            if u.wildcard_accounts else None)
        self.prefix, self.suffix, self.wildcard = tuple(prefix), tuple(suffix), tuple(wildcard)

    def __dealloc__(self):
        free(self.maps)

    cdef uint32_t find(self, const char* p, Py_ssize_t n) noexcept:
        """The mapping named ``p[:n]``, NO_MAP."""
        cdef uint32_t k = self.names.find(0, p, <uint32_t>n)
        return self.names.keys[k].order if k != NO_KEY else NO_MAP

    cdef uint16_t profile(self, const char* p, Py_ssize_t n) noexcept:
        """The order profile named ``p[:n]`` (1-based), 0 when there is none."""
        cdef uint32_t k = self.names.find(1, p, <uint32_t>n)
        return <uint16_t>self.names.keys[k].order if k != NO_KEY else 0

    cdef uint32_t made(self, uint16_t user, const char* account, Py_ssize_t n) noexcept:
        """The mapping of ``user``'s order with Account (1) ``account[:n]``
        and no SecondaryAccount: the name the rule makes, else the user's
        wild-card name; NO_MAP."""
        cdef char name[MAX_NAME]
        cdef bytes pre = <bytes>PyTuple_GET_ITEM(self.prefix, user)
        cdef bytes suf = <bytes>PyTuple_GET_ITEM(self.suffix, user)
        cdef object wild = <object>PyTuple_GET_ITEM(self.wildcard, user)
        cdef Py_ssize_t a = PyBytes_GET_SIZE(pre), b = PyBytes_GET_SIZE(suf)
        cdef uint32_t m = NO_MAP
        if a + n + b <= MAX_NAME:
            memcpy(name, PyBytes_AS_STRING(pre), a)
            memcpy(name + a, account, n)
            memcpy(name + a + n, PyBytes_AS_STRING(suf), b)
            m = self.find(name, a + n + b)
        if m == NO_MAP and wild is not None:
            m = self.find(PyBytes_AS_STRING(<bytes>wild), PyBytes_GET_SIZE(<bytes>wild))
        return m

    def name(self, uint16_t user, account=b""):
        """The name the rule makes for ``user``'s (index) Account ``account``."""
        return <bytes>self.prefix[user] + bytes(account) + <bytes>self.suffix[user]

    def lookup(self, bytes name):
        """(TT account number, profile: 1-based, 0 none) of ``name``, or None."""
        cdef uint32_t m = self.find(PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name))
        return (self.maps[m].account, self.maps[m].profile) if m != NO_MAP else None

    def count_mapped(self, names):
        """How many of ``names`` (bytes) map: a client's account list checked
        against the table in one call (and the lookup's benchmark)."""
        cdef bytes name
        cdef Py_ssize_t found = 0
        for name in names:
            found += self.find(PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name)) != NO_MAP
        return found
