"""numpy views of the C structs the Cython modules expose (order slots, batch
commands, reports, book events): one dtype per struct, laid out as C lays it."""

import numpy as np


def struct_dtype(fields, itemsize):
    """A structured dtype from (name, format, offset) triples and the struct's size."""
    return np.dtype({"names": [f[0] for f in fields], "formats": [f[1] for f in fields],
                     "offsets": [f[2] for f in fields], "itemsize": itemsize})
