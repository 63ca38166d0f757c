"""The FIX 4.4 tag=value codec.

Reading::

    from fastcore import codec
    msg = codec.parse(data)                 # one message, a Message of its own
    msg.msg_type, msg.get_str(11), msg.get_qty(38), msg.get_price(44)

    parser = codec.Parser()                 # reuses one Message: no allocation
    msg = parser.parse(data)                # valid until the parser's next call
    batch = parser.parse_batch(buffer)      # every message in a buffer, as arrays

    decoder = codec.Decoder((11, 55, 54, 38, 40, 44))
    cl_ord_id, symbol, side, qty, ord_type, price = decoder.decode(data)

Writing::

    enc = codec.Encoder("FASTCORE", "CLIENT1")
    enc.execution_report(codec.ExecutionReport(...), seq_num, sending_time_ns)

Prices are int fixed point with PX_DIGITS (8) decimals, quantities with
QTY_DIGITS (4), timestamps integer nanoseconds since the epoch (UTC).
"""

from fastcore.codec.parser import (
    Batch, GroupEntry, Message, Parser, parse, REJECT_REASONS, GARBLE_REASONS,
)
from fastcore.codec.decoder import Decoder
from fastcore.codec.encoder import Encoder, ExecutionReport
from fastcore.codec.dictionary import ENUMS, FIELDS, MESSAGES, TAG_NAMES, TAGS
from fastcore.errors import (
    CodecError, FieldNotFound, FieldValueError, GarbledMessage, IncompleteMessage,
    InvalidMessage,
)

PX_DIGITS = 8
QTY_DIGITS = 4

__all__ = [
    "Batch", "Decoder", "Encoder", "ExecutionReport", "GroupEntry", "Message", "Parser",
    "parse", "REJECT_REASONS", "GARBLE_REASONS", "ENUMS", "FIELDS", "MESSAGES",
    "TAG_NAMES", "TAGS", "CodecError", "FieldNotFound", "FieldValueError",
    "GarbledMessage", "IncompleteMessage", "InvalidMessage", "PX_DIGITS", "QTY_DIGITS",
]
