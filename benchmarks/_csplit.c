/* A plain C split of a buffer of FIX messages: the floor for batch parsing.
 *
 * Walks the buffer byte by byte, splitting fields on '=' and SOH: the tag is
 * read as a decimal number, the value located (offset, length) and stored in
 * `fields` (reused per message, as a parser reuses its Message); a field with
 * tag 10 (CheckSum) ends a message, whose start goes to `msg_offsets`.
 * No validation, no checksum, no dictionary: the least work that still
 * produces a field index for every message.
 *
 * Compiled at benchmark time (benchmarks/conftest.py) into a shared library
 * loaded through ctypes.
 */
#include <stdint.h>

typedef struct {
    int32_t tag;
    int32_t off;
    int32_t len;
} fc_split_field;

/* Returns the number of complete messages; -1 if a message has more than
 * `cap_fields` fields; stops at `cap_msgs` messages. */
long fc_csplit(const char *buf, long n, fc_split_field *fields, long cap_fields,
               int64_t *msg_offsets, long cap_msgs)
{
    long i = 0, start = 0, count = 0, nf = 0;
    while (i < n && count < cap_msgs) {
        int32_t tag = 0;
        long voff;
        while (i < n && buf[i] != '=') {
            tag = tag * 10 + (buf[i] - '0');
            i++;
        }
        if (i >= n)
            break;
        voff = ++i;
        while (i < n && buf[i] != '\x01')
            i++;
        if (i >= n)
            break;
        if (nf == cap_fields)
            return -1;
        fields[nf].tag = tag;
        fields[nf].off = (int32_t)(voff - start);
        fields[nf].len = (int32_t)(i - voff);
        nf++;
        i++;
        if (tag == 10) {
            msg_offsets[count++] = start;
            start = i;
            nf = 0;
        }
    }
    return count;
}
