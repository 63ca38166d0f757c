# FIA execution source codes (seed 004): CustOrderHandlingInst (1031) with
# OrderHandlingInstSource (1032) = 2. Where several origination attributes
# apply to an order, the code of highest precedence wins: W desk (high
# touch) > H premium algo provider > C vendor platform > G sponsored access
# > D other > Y electronic (the default): the order of
# fastcore.config.EXECUTION_SOURCES, which the configuration checks against. The simple model keeps W and Y
# only: C, G, H and D become Y.

cdef inline int rank(char code) noexcept nogil:
    """The code's precedence; 0 for anything that is not a code."""
    if code == b'W':
        return 6
    if code == b'H':
        return 5
    if code == b'C':
        return 4
    if code == b'G':
        return 3
    if code == b'D':
        return 2
    if code == b'Y':
        return 1
    return 0

cdef inline char stronger(char a, char b) noexcept nogil:
    """Of two codes (0: none), the one that takes precedence."""
    return a if rank(a) >= rank(b) else b

cdef inline char simple(char code) noexcept nogil:
    """The code in the simple model: W or Y."""
    return code if code == b'W' else b'Y'
