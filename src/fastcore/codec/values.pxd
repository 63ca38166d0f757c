# FIX value readers and writers: plain C over (pointer, length), inlined into
# every importer. Readers return a status (V_OK or the failure) and write the
# value through a pointer; writers append to a buffer the caller has sized.

from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcpy

cdef enum:
    V_OK = 0
    V_FORMAT = 1        # not of the field's data format
    V_OVERFLOW = 2      # does not fit in int64
    V_PRECISION = 3     # more significant decimals than the fixed-point scale

cdef extern from *:
    """
    static const int64_t fc_pow10[19] = {
        1LL, 10LL, 100LL, 1000LL, 10000LL, 100000LL, 1000000LL, 10000000LL,
        100000000LL, 1000000000LL, 10000000000LL, 100000000000LL,
        1000000000000LL, 10000000000000LL, 100000000000000LL,
        1000000000000000LL, 10000000000000000LL, 100000000000000000LL,
        1000000000000000000LL};
    """
    const int64_t fc_pow10[19]

cdef inline int read_int(const char* p, Py_ssize_t n, int64_t* out) noexcept nogil:
    """[-]digits -> int64."""
    cdef Py_ssize_t i = 0
    cdef bint neg = False
    cdef uint64_t v = 0, d
    if n > 0 and p[0] == b'-':
        neg = True
        i = 1
    if i >= n:
        return V_FORMAT
    while i < n:
        d = <unsigned char>p[i] - 48
        if d > 9:
            return V_FORMAT
        if v > 922337203685477580ULL:
            return V_OVERFLOW
        v = v * 10 + d
        i += 1
    if v > 9223372036854775807ULL + neg:
        return V_OVERFLOW
    out[0] = -<int64_t>v if neg else <int64_t>v
    return V_OK


cdef inline int read_fixed(const char* p, Py_ssize_t n, int digits,
                           int64_t* out) noexcept nogil:
    """[-]digits[.digits] -> int64 scaled by 10**digits, exactly.

    Decimals past ``digits`` are allowed only when they are zeros.
    """
    cdef Py_ssize_t i = 0
    cdef bint neg = False, seen = False
    cdef uint64_t v = 0, d
    cdef int frac = 0
    if n > 0 and (p[0] == b'-' or p[0] == b'+'):
        neg = p[0] == b'-'
        i = 1
    while i < n and p[i] != b'.':
        d = <unsigned char>p[i] - 48
        if d > 9:
            return V_FORMAT
        if v > 922337203685477580ULL:
            return V_OVERFLOW
        v = v * 10 + d
        seen = True
        i += 1
    if i < n:                       # at the decimal point
        i += 1
        while i < n:
            d = <unsigned char>p[i] - 48
            if d > 9:
                return V_FORMAT
            seen = True
            if frac < digits:
                if v > 922337203685477580ULL:
                    return V_OVERFLOW
                v = v * 10 + d
                frac += 1
            elif d != 0:
                return V_PRECISION
            i += 1
    if not seen:
        return V_FORMAT
    while frac < digits:
        if v > 922337203685477580ULL:
            return V_OVERFLOW
        v *= 10
        frac += 1
    if v > 9223372036854775807ULL + neg:
        return V_OVERFLOW
    out[0] = -<int64_t>v if neg else <int64_t>v
    return V_OK


cdef inline int64_t days_from_civil(int64_t y, int m, int d) noexcept nogil:
    # Howard Hinnant's algorithm: days since 1970-01-01 of a proleptic Gregorian date.
    cdef int64_t era, yoe, doy, doe
    if m <= 2:
        y -= 1
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


cdef inline void civil_from_days(int64_t z, int* y, int* m, int* d) noexcept nogil:
    cdef int64_t era, doe, yoe, doy, mp
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d[0] = <int>(doy - (153 * mp + 2) // 5 + 1)
    m[0] = <int>(mp + 3 if mp < 10 else mp - 9)
    y[0] = <int>(yoe + era * 400 + (1 if m[0] <= 2 else 0))


cdef inline int _digits(const char* p, int n, int* out) noexcept nogil:
    cdef int i, v = 0, d
    for i in range(n):
        d = <unsigned char>p[i] - 48
        if d < 0 or d > 9:
            return -1
        v = v * 10 + d
    out[0] = v
    return 0


cdef inline int read_date(const char* p, Py_ssize_t n, int64_t* days) noexcept nogil:
    """YYYYMMDD -> days since the epoch."""
    cdef int y, m, d
    if n != 8 or _digits(p, 4, &y) or _digits(p + 4, 2, &m) or _digits(p + 6, 2, &d):
        return V_FORMAT
    if m < 1 or m > 12 or d < 1 or d > 31:
        return V_FORMAT
    days[0] = days_from_civil(y, m, d)
    return V_OK


cdef inline int read_time_of_day(const char* p, Py_ssize_t n, int64_t* ns) noexcept nogil:
    """HH:MM:SS[.s{1,9}] -> nanoseconds since midnight (a leap second 60 allowed)."""
    cdef int hh, mm, ss, frac = 0, k
    cdef Py_ssize_t i
    if n < 8 or p[2] != b':' or p[5] != b':':
        return V_FORMAT
    if _digits(p, 2, &hh) or _digits(p + 3, 2, &mm) or _digits(p + 6, 2, &ss):
        return V_FORMAT
    if hh > 23 or mm > 59 or ss > 60:
        return V_FORMAT
    if n > 8:
        if p[8] != b'.' or n == 9 or n > 18:
            return V_FORMAT
        if _digits(p + 9, <int>(n - 9), &frac):
            return V_FORMAT
        frac = <int>(frac * fc_pow10[9 - (n - 9)])
    ns[0] = ((hh * 60 + mm) * 60 + ss) * 1000000000LL + frac
    return V_OK


cdef inline bint _dd(const char* p, int hi) noexcept nogil:
    """Two digits at p forming a number <= hi."""
    cdef unsigned int a = <unsigned char>p[0] - 48, b = <unsigned char>p[1] - 48
    return a <= 9 and b <= 9 and a * 10 + b <= <unsigned int>hi


cdef extern from *:
    """
    #include <string.h>
    /* 8 bytes that are all ASCII digits (SWAR: no branch per byte). */
    static inline int fc_eight_digits(const char* p) {
        uint64_t x;
        memcpy(&x, p, 8);
        return ((x & 0xF0F0F0F0F0F0F0F0ULL) == 0x3030303030303030ULL) &&
               (((x + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) == 0x3030303030303030ULL);
    }
    /* "HH:MM:SS": digits where digits go (the colons are checked apart). */
    static inline int fc_time_digits(const char* p) {
        uint64_t x;
        memcpy(&x, p, 8);
        x &= 0xFFFF00FFFF00FFFFULL;   /* drop the colons */
        return ((x & 0xF0F000F0F000F0F0ULL) == 0x3030003030003030ULL) &&
               (((x + 0x0606000606000606ULL) & 0xF0F000F0F000F0F0ULL) == 0x3030003030003030ULL);
    }
    """
    bint fc_eight_digits(const char* p) nogil
    bint fc_time_digits(const char* p) nogil


cdef inline bint valid_timestamp(const char* p, Py_ssize_t n) noexcept nogil:
    """The UTCTimestamp format, checked without converting it."""
    cdef Py_ssize_t i
    cdef unsigned int mo, dd
    if n < 17 or n > 27 or p[8] != b'-' or p[11] != b':' or p[14] != b':':
        return False
    if not fc_eight_digits(p) or not fc_time_digits(p + 9):
        return False
    mo = (p[4] - 48) * 10 + (p[5] - 48)
    dd = (p[6] - 48) * 10 + (p[7] - 48)
    if mo - 1 > 11 or dd - 1 > 30 or p[9] > b'2' or (p[9] == b'2' and p[10] > b'3') \
            or p[12] > b'5' or (p[15] > b'5' and not (p[15] == b'6' and p[16] == b'0')):
        return False
    if n > 17:
        if p[17] != b'.' or n == 18:
            return False
        for i in range(18, n):
            if <unsigned char>(p[i] - 48) > 9:
                return False
    return True


cdef inline int read_timestamp(const char* p, Py_ssize_t n, int64_t* out) noexcept nogil:
    """UTCTimestamp YYYYMMDD-HH:MM:SS[.sss[sss[sss]]] -> ns since the epoch."""
    cdef int64_t days, tod
    if n < 17 or p[8] != b'-':
        return V_FORMAT
    if read_date(p, 8, &days) or read_time_of_day(p + 9, n - 9, &tod):
        return V_FORMAT
    out[0] = days * 86400000000000LL + tod
    return V_OK


cdef inline Py_ssize_t write_uint(char* w, uint64_t v) noexcept nogil:
    """Decimal digits of ``v`` at ``w``; returns their count."""
    cdef char tmp[20]
    cdef int n = 0, i
    while True:
        tmp[n] = <char>(48 + v % 10)
        v //= 10
        n += 1
        if v == 0:
            break
    for i in range(n):
        w[i] = tmp[n - 1 - i]
    return n


cdef inline Py_ssize_t write_int(char* w, int64_t v) noexcept nogil:
    if v < 0:
        w[0] = b'-'
        return 1 + write_uint(w + 1, <uint64_t>0 - <uint64_t>v)
    return write_uint(w, <uint64_t>v)


cdef inline Py_ssize_t write_fixed(char* w, int64_t v, int digits) noexcept nogil:
    """A fixed-point value as the shortest exact decimal ("100", "0.25", "-1.5")."""
    cdef Py_ssize_t n = 0
    cdef uint64_t u, scale, ipart, fpart
    cdef int k, i
    if v < 0:
        w[0] = b'-'
        n = 1
        u = <uint64_t>0 - <uint64_t>v
    else:
        u = <uint64_t>v
    if digits == 4:                 # constant divisors: multiplications, not divisions
        ipart = u // 10000
        fpart = u % 10000
    elif digits == 8:
        ipart = u // 100000000
        fpart = u % 100000000
    else:
        scale = <uint64_t>fc_pow10[digits]
        ipart = u // scale
        fpart = u % scale
    n += write_uint(w + n, ipart)
    if fpart:
        k = digits
        while fpart % 10 == 0:
            fpart //= 10
            k -= 1
        w[n] = b'.'
        n += 1
        for i in range(k - 1, -1, -1):
            w[n + i] = <char>(48 + fpart % 10)
            fpart //= 10
        n += k
    return n


cdef inline void _two(char* w, int v) noexcept nogil:
    w[0] = <char>(48 + v // 10)
    w[1] = <char>(48 + v % 10)


cdef inline Py_ssize_t write_time_of_day(char* w, int64_t ns, int precision) noexcept nogil:
    """HH:MM:SS[.fff…] of ``ns`` since midnight, 0, 3, 6 or 9 decimals."""
    cdef int tod = <int>(ns // 1000000000LL), k
    cdef int64_t frac = ns % 1000000000LL
    _two(w, tod // 3600)
    w[2] = b':'
    _two(w + 3, (tod // 60) % 60)
    w[5] = b':'
    _two(w + 6, tod % 60)
    if precision <= 0:
        return 8
    w[8] = b'.'
    frac //= fc_pow10[9 - precision]
    for k in range(precision, 0, -1):
        w[8 + k] = <char>(48 + frac % 10)
        frac //= 10
    return 9 + precision


cdef inline Py_ssize_t write_timestamp(char* w, int64_t ns, int precision) noexcept nogil:
    """UTCTimestamp with 0, 3, 6 or 9 decimals of the second."""
    cdef int64_t days, rem
    cdef int y, m, d
    days = ns // 86400000000000LL
    rem = ns - days * 86400000000000LL
    civil_from_days(days, &y, &m, &d)
    _two(w, y // 100)
    _two(w + 2, y % 100)
    _two(w + 4, m)
    _two(w + 6, d)
    w[8] = b'-'
    return 9 + write_time_of_day(w + 9, rem, precision)
