#!/usr/bin/env python3
"""Generate fastcore's FIX 4.4 dictionary tables from a QuickFIX data dictionary.

    python tools/gen_fix44.py [--xml PATH/FIX44.xml]

Writes two files that are committed (and say so in their first line):

* ``src/fastcore/codec/_fix44.h``: C tables for the codec hot path
  (tag -> slot, slot -> type/flags/enum, message required fields, groups).
* ``src/fastcore/codec/dictionary.py``: the same dictionary for Python
  (tag names, enum descriptions, message names), used by ``fastcore decode``.

The default XML is the ``FIX44.xml`` shipped by the QuickFIX wheel of the
test extras (``share/quickfix/FIX44.xml`` under the environment's prefix).
A handful of fields outside FIX 4.4 that fastcore uses are added by ``EXTRA``.
"""
from __future__ import annotations

import argparse
import os
import sys
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_H = os.path.join(ROOT, "src", "fastcore", "codec", "_fix44.h")
OUT_PY = os.path.join(ROOT, "src", "fastcore", "codec", "dictionary.py")

# Fields fastcore uses that FIX 4.4's dictionary lacks: (number, name, type, enums)
EXTRA = [
    (1031, "CustOrderHandlingInst", "MULTIPLEVALUESTRING", {}),
    (1032, "OrderHandlingInstSource", "INT",
     {"1": "NASD_OATS", "2": "FIA_EXECUTION_SOURCE_CODE"}),
    (18218, "TTCustomerName", "STRING", {}),
    (18219, "SecondaryAccount", "STRING", {}),
]

# Type codes shared with the codec (codec/fields.pxd mirrors these names).
TYPES = {
    "STRING": 0, "CHAR": 1, "INT": 2, "LENGTH": 3, "SEQNUM": 4, "NUMINGROUP": 5,
    "TAGNUM": 6, "DAYOFMONTH": 7, "FLOAT": 8, "QTY": 9, "PRICE": 10,
    "PRICEOFFSET": 11, "AMT": 12, "PERCENTAGE": 13, "BOOLEAN": 14,
    "UTCTIMESTAMP": 15, "UTCTIMEONLY": 16, "UTCDATEONLY": 17, "LOCALMKTDATE": 18,
    "MONTHYEAR": 19, "DATA": 20, "MULTIPLEVALUESTRING": 21, "CURRENCY": 22,
    "EXCHANGE": 23, "COUNTRY": 24,
}
LOW_TAGS = 2048      # tags below this map to a slot by direct index
HIGH_BUCKETS = 64    # open-addressed table for the few higher tags

F_HEADER, F_TRAILER, F_GROUP, F_LENGTH, F_DATA, F_ENUM, F_CHECK, F_FRAME = 1, 2, 4, 8, 16, 32, 64, 128
# types whose values have a format to check (the others are free text)
FREE_TEXT = {"STRING", "DATA", "CURRENCY", "EXCHANGE", "COUNTRY", "MULTIPLEVALUESTRING"}


def load(path):
    root = ET.parse(path).getroot()
    fields = {}   # name -> (number, type, {enum: description})
    for f in root.find("fields"):
        enums = {v.get("enum"): v.get("description") for v in f.findall("value")}
        fields[f.get("name")] = (int(f.get("number")), f.get("type"), enums)
    for num, name, typ, enums in EXTRA:
        fields[name] = (num, typ, enums)
    components = {c.get("name"): c for c in root.find("components")}
    return root, fields, components


def walk(node, components, fields, required_only, out, groups, in_group=None):
    """Flatten ``node``'s children into ``out`` (tag numbers), recording groups."""
    for child in node:
        req = child.get("required") == "Y"
        if child.tag == "field":
            if req or not required_only:
                out.append(fields[child.get("name")][0])
        elif child.tag == "component":
            if req or not required_only:
                walk(components[child.get("name")], components, fields,
                     required_only, out, groups, in_group)
        elif child.tag == "group":
            count = fields[child.get("name")][0]
            if req or not required_only:
                out.append(count)
            members = []
            walk(child, components, fields, False, members, groups, count)
            g = groups.setdefault(count, {"delim": members[0], "members": set()})
            g["members"].update(members)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--xml", default=os.path.join(sys.prefix, "share", "quickfix", "FIX44.xml"))
    ap.add_argument("--out-dir", help="write both files here instead of src/fastcore/codec")
    args = ap.parse_args(argv)
    out_h, out_py = OUT_H, OUT_PY
    if args.out_dir:
        out_h = os.path.join(args.out_dir, os.path.basename(OUT_H))
        out_py = os.path.join(args.out_dir, os.path.basename(OUT_PY))
    root, fields, components = load(args.xml)

    groups = {}
    header, trailer = [], []
    walk(root.find("header"), components, fields, False, header, groups)
    walk(root.find("trailer"), components, fields, False, trailer, groups)
    header_required = []
    walk(root.find("header"), components, fields, True, header_required, {})
    messages = []   # (msgtype, name, category, required tags)
    for m in root.find("messages"):
        req = []
        walk(m, components, fields, True, req, groups)
        walk(m, components, fields, False, [], groups)
        messages.append((m.get("msgtype"), m.get("name"), m.get("msgcat"), req))

    by_num = sorted((num, name, typ, enums) for name, (num, typ, enums) in fields.items())
    slot_of = {num: i + 1 for i, (num, *_rest) in enumerate(by_num)}   # slot 0: unknown
    nslots = len(by_num) + 1
    length_of_data = {}
    for num, name, typ, _ in by_num:
        if typ == "DATA":
            prev = [n for n, nm, t, _ in by_num
                    if t == "LENGTH" and nm in (name + "Len", name + "Length")]
            assert prev, f"no length field for DATA field {num} {name}"
            length_of_data[prev[0]] = num

    # enum tables: single-character enums as a 128-bit set, others as strings
    enum_index, enum_strings, char_sets = {}, [], []
    for num, name, typ, enums in by_num:
        if not enums:
            continue
        values = sorted(enums)
        enum_index[num] = len(char_sets)
        if all(len(v) == 1 for v in values) and typ != "MULTIPLEVALUESTRING":
            lo = hi = 0
            for v in values:
                c = ord(v)
                if c < 64:
                    lo |= 1 << c
                else:
                    hi |= 1 << (c - 64)
            char_sets.append((lo, hi, -1, 0))
        else:
            char_sets.append((0, 0, len(enum_strings), len(values)))
            enum_strings.extend(values)

    group_ids = {count: i for i, count in enumerate(sorted(groups))}
    member_list = []
    group_rows = []
    for count in sorted(groups):
        g = groups[count]
        members = sorted(g["members"])
        group_rows.append((count, g["delim"], len(member_list), len(members)))
        member_list.extend(members)

    header_set, trailer_set = set(header) | {8, 9, 35}, set(trailer) | {10}
    rows = []
    for num, name, typ, enums in by_num:
        flags = 0
        if num in header_set:
            flags |= F_HEADER
        if num in trailer_set:
            flags |= F_TRAILER
        if num in groups:
            flags |= F_GROUP
        if num in length_of_data:
            flags |= F_LENGTH
        if typ == "DATA":
            flags |= F_DATA
        if num in enum_index:
            flags |= F_ENUM
        if num in enum_index or typ not in FREE_TEXT:
            flags |= F_CHECK
        if num in (8, 9, 10, 35):
            flags |= F_FRAME
        rows.append((num, TYPES[typ], flags, enum_index.get(num, -1),
                     group_ids.get(num, -1), length_of_data.get(num, 0)))

    high = [num for num in slot_of if num >= LOW_TAGS]
    buckets = [0] * HIGH_BUCKETS   # stores tag; slot found via parallel array
    bucket_slot = [0] * HIGH_BUCKETS
    for num in high:
        h = num % HIGH_BUCKETS
        while buckets[h]:
            h = (h + 1) % HIGH_BUCKETS
        buckets[h], bucket_slot[h] = num, slot_of[num]

    # message types: 1 or 2 characters
    mt_rows = []
    req_list = []
    for mt, name, cat, req in messages:
        req = [t for t in dict.fromkeys(req) if t not in (8, 9, 35, 10)]
        mt_rows.append((mt, len(req_list), len(req), 1 if cat == "admin" else 0))
        req_list.extend(req)
    hreq = [t for t in dict.fromkeys(header_required) if t not in (8, 9, 35)]

    src = os.path.basename(args.xml)
    w = []
    w.append(f"/* GENERATED by tools/gen_fix44.py from {src}; do not edit. */")
    w.append("#ifndef FASTCORE_FIX44_H\n#define FASTCORE_FIX44_H\n#include <stdint.h>\n")
    w.append(f"#define FC_NSLOTS {nslots}\n#define FC_LOW_TAGS {LOW_TAGS}\n"
             f"#define FC_HIGH_BUCKETS {HIGH_BUCKETS}\n#define FC_NGROUPS {len(group_rows)}\n"
             f"#define FC_NMSGTYPES {len(mt_rows)}")
    w.append("typedef struct { int32_t tag; uint8_t type; uint8_t flags; int16_t enum_id; int16_t group_id; int32_t data_tag; } fc_slot_info;")
    w.append("typedef struct { uint64_t lo, hi; int32_t first, count; } fc_enum_info;")
    w.append("typedef struct { int32_t count_tag, delim, first, n; } fc_group_info;")
    w.append("typedef struct { char mt[3]; int16_t first, n; uint8_t admin; } fc_msgtype_info;\n")
    low = [0] * LOW_TAGS
    for num, slot in slot_of.items():
        if num < LOW_TAGS:
            low[num] = slot

    def arr(ctype, name, values, per=16):
        lines = [f"static const {ctype} {name}[{len(values)}] = {{"]
        for i in range(0, len(values), per):
            lines.append("  " + ", ".join(values[i:i + per]) + ",")
        lines.append("};")
        w.append("\n".join(lines))

    arr("uint16_t", "fc_low_slot", [str(v) for v in low])
    arr("int32_t", "fc_high_tag", [str(v) for v in buckets])
    arr("uint16_t", "fc_high_slot", [str(v) for v in bucket_slot])
    arr("fc_slot_info", "fc_slots", ["{0, 0, 0, -1, -1, 0}"] + [
        f"{{{n}, {t}, {f}, {e}, {g}, {d}}}" for n, t, f, e, g, d in rows], per=4)
    arr("fc_enum_info", "fc_enums", [
        f"{{0x{lo:x}ULL, 0x{hi:x}ULL, {first}, {n}}}" for lo, hi, first, n in char_sets], per=2)
    arr("char* const", "fc_enum_strings", ['"%s"' % s for s in enum_strings] or ['""'], per=12)
    arr("fc_group_info", "fc_groups", [f"{{{c}, {d}, {f}, {n}}}" for c, d, f, n in group_rows], per=4)
    arr("int32_t", "fc_group_members", [str(v) for v in member_list])
    arr("fc_msgtype_info", "fc_msgtypes", [
        f'{{"{mt}", {f}, {n}, {a}}}' for mt, f, n, a in mt_rows], per=4)
    one, two = [-1] * 128, [-1] * (26 * 26)
    for i, (mt, *_r) in enumerate(mt_rows):
        if len(mt) == 1:
            one[ord(mt)] = i
        else:
            two[(ord(mt[0]) - 65) * 26 + ord(mt[1]) - 65] = i
    arr("int16_t", "fc_msgtype_by_char", [str(v) for v in one])
    arr("int16_t", "fc_msgtype_by_pair", [str(v) for v in two])
    arr("int32_t", "fc_required", [str(v) for v in req_list])
    arr("uint16_t", "fc_required_slot", [str(slot_of[v]) for v in req_list])
    arr("int32_t", "fc_header_required", [str(v) for v in hreq])
    arr("uint16_t", "fc_header_required_slot", [str(slot_of[v]) for v in hreq])
    w.append(f"#define FC_NHEADER_REQUIRED {len(hreq)}")
    w.append("#endif")
    with open(out_h, "w") as fh:
        fh.write("\n".join(w) + "\n")

    p = []
    p.append(f"# GENERATED by tools/gen_fix44.py from {src}; do not edit.")
    p.append('"""The FIX 4.4 data dictionary as Python data: tag names, types, enums, messages."""')
    p.append("")
    p.append("#: tag number -> (name, FIX type)")
    p.append("FIELDS: dict[int, tuple[str, str]] = {")
    for num, name, typ, _ in by_num:
        p.append(f"    {num}: ({name!r}, {typ!r}),")
    p.append("}\n")
    p.append("#: tag number -> {enum value: description}")
    p.append("ENUMS: dict[int, dict[str, str]] = {")
    for num, name, typ, enums in by_num:
        if enums:
            p.append(f"    {num}: {dict(sorted(enums.items()))!r},")
    p.append("}\n")
    p.append("#: MsgType -> message name")
    p.append("MESSAGES: dict[str, str] = {")
    for mt, name, cat, _ in messages:
        p.append(f"    {mt!r}: {name!r},")
    p.append("}\n")
    p.append("#: tag number -> tag name, and back")
    p.append("TAG_NAMES: dict[int, str] = {num: name for num, (name, _t) in FIELDS.items()}")
    p.append("TAGS: dict[str, int] = {name: num for num, name in TAG_NAMES.items()}")
    with open(out_py, "w") as fh:
        fh.write("\n".join(p) + "\n")
    print(f"wrote {out_h} ({nslots} slots, {len(group_rows)} groups, {len(mt_rows)} message types)")
    print(f"wrote {out_py}")


if __name__ == "__main__":
    main()
