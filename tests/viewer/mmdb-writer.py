#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""mmdb-writer.py OUTDIR: writes the GeoIP test databases of tests/viewer/test-viewer-geoip.c.

What: a small MaxMind DB writer following the published format specification
  (https://maxmind.github.io/MaxMind-DB/, version 2.0): a binary search tree over the
  address bits (IPv6 tree, IPv4 networks at ::a.b.c.d, record size 24), the 16-byte data
  section separator, the data section (maps, UTF-8 strings, doubles, unsigned ints,
  arrays, booleans), and the metadata map after "\\xab\\xcd\\xefMaxMind.com".
How: networks are inserted into a bit trie; nodes are numbered breadth first; a record is a
  node number, node_count for "no data", or node_count + 16 + the data offset.
Limits: test data only (a few networks, no pointer compression, no overlapping networks).
Never: used for anything but tests; contains real GeoIP data (places are made up from
  public knowledge: city names and rough coordinates).
Writes OUTDIR/test-geoip-city.mmdb (GeoIP2-City-like) and OUTDIR/test-geoip-country.mmdb
  (GeoIP2-Country-like: countries only, no coordinates).
"""
import ipaddress
import struct
import sys
import time

T_POINTER, T_STRING, T_DOUBLE, T_BYTES, T_UINT16, T_UINT32, T_MAP = 1, 2, 3, 4, 5, 6, 7
T_INT32, T_UINT64, T_UINT128, T_ARRAY, T_CONTAINER, T_END, T_BOOL, T_FLOAT = range(8, 16)
METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"
SEPARATOR = 16


def control(kind, size):
    """The control byte(s) of a field of type kind and payload size size."""
    if size < 29:
        head, ext = size, b""
    elif size < 29 + 256:
        head, ext = 29, bytes([size - 29])
    elif size < 285 + 65536:
        head, ext = 30, (size - 285).to_bytes(2, "big")
    else:
        head, ext = 31, (size - 65821).to_bytes(3, "big")
    if kind <= 7:
        return bytes([(kind << 5) | head]) + ext
    return bytes([head, kind - 7]) + ext


class Typed(int):
    """An unsigned integer written with a given type (the metadata fixes some)."""

    def __new__(cls, value, kind):
        obj = int.__new__(cls, value)
        obj.kind = kind
        return obj


def encode(value):
    """One data-section field."""
    if isinstance(value, Typed):
        raw = int(value).to_bytes((value.bit_length() + 7) // 8, "big")
        return control(value.kind, len(raw)) + raw
    if isinstance(value, bool):
        return control(T_BOOL, int(value))
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return control(T_STRING, len(raw)) + raw
    if isinstance(value, float):
        return control(T_DOUBLE, 8) + struct.pack(">d", value)
    if isinstance(value, int):
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        kind = T_UINT16 if value < 1 << 16 else T_UINT32 if value < 1 << 32 else T_UINT64
        return control(kind, len(raw)) + raw
    if isinstance(value, dict):
        out = control(T_MAP, len(value))
        for key, item in value.items():
            out += encode(key) + encode(item)
        return out
    if isinstance(value, list):
        out = control(T_ARRAY, len(value))
        for item in value:
            out += encode(item)
        return out
    raise TypeError(value)


def bits_of(network):
    """The prefix bits of network in the IPv6 tree (IPv4 at ::a.b.c.d)."""
    net = ipaddress.ip_network(network)
    if net.version == 4:
        value, length = int(net.network_address), 96 + net.prefixlen
    else:
        value, length = int(net.network_address), net.prefixlen
    return [(value >> (127 - i)) & 1 for i in range(length)]


def write_db(path, db_type, networks):
    data = b""
    root = [None, None]
    for network, record in networks:
        offset = len(data)
        data += encode(record)
        node = root
        bits = bits_of(network)
        for bit in bits[:-1]:
            if node[bit] is None:
                node[bit] = [None, None]
            assert isinstance(node[bit], list), "overlapping networks"
            node = node[bit]
        node[bits[-1]] = ("data", offset)
    # Number the nodes breadth first.
    order, ids = [root], {id(root): 0}
    i = 0
    while i < len(order):
        for child in order[i]:
            if isinstance(child, list):
                ids[id(child)] = len(order)
                order.append(child)
        i += 1
    node_count = len(order)

    def record(child):
        if child is None:
            return node_count
        if isinstance(child, list):
            return ids[id(child)]
        return node_count + SEPARATOR + child[1]

    tree = b"".join(record(n[0]).to_bytes(3, "big") + record(n[1]).to_bytes(3, "big")
                    for n in order)
    metadata = {
        "node_count": Typed(node_count, T_UINT32),
        "record_size": Typed(24, T_UINT16),
        "ip_version": Typed(6, T_UINT16),
        "database_type": db_type,
        "languages": ["en"],
        "binary_format_major_version": Typed(2, T_UINT16),
        "binary_format_minor_version": Typed(0, T_UINT16),
        "build_epoch": Typed(int(time.time()), T_UINT64),
        "description": {"en": "msgtrk test database (made-up data)"},
    }
    with open(path, "wb") as f:
        f.write(tree + bytes(SEPARATOR) + data + METADATA_MARKER + encode(metadata))


def city(name, code, country, lat, lon):
    rec = {"country": {"iso_code": code, "names": {"en": country}},
           "location": {"latitude": lat, "longitude": lon, "accuracy_radius": 100}}
    if name is not None:
        rec["city"] = {"names": {"en": name}}
    return rec


CITY = [
    ("81.2.69.0/24", city("London", "GB", "United Kingdom", 51.5142, -0.0931)),
    ("89.160.20.112/28", city("Linköping", "SE", "Sweden", 58.4167, 15.6167)),
    ("216.160.83.56/29", city(None, "US", "United States", 47.2513, -122.3149)),
    ("2001:218::/32", city("Tokyo", "JP", "Japan", 35.685, 139.7514)),
    # Hostile: coordinates of the wrong type and out of range, a bad country code.
    ("1.0.0.0/24", {"country": {"iso_code": "X", "names": {"en": True}},
                    "location": {"latitude": "north", "longitude": 500.0}}),
    ("1.0.1.0/24", {"location": {"latitude": 91.0, "longitude": 0.0}}),
    # VIEWER_GEOIP_MAX_NAME (128 bytes): a city name at the limit, and one past it whose
    # cut would fall inside a two-byte character.
    ("1.0.2.0/24", city("a" * 128, "SE", "Sweden", 59.0, 18.0)),
    ("1.0.3.0/24", city("a" * 127 + "ö", "SE", "Sweden", 59.0, 18.0)),
    # Never asked: a private range is "local network" whatever a database says.
    ("10.0.0.0/8", city("Nowhere", "AQ", "Antarctica", -80.0, 0.0)),
]
COUNTRY = [
    ("81.2.69.0/24", {"country": {"iso_code": "GB", "names": {"en": "United Kingdom"}}}),
    ("2001:218::/32", {"country": {"iso_code": "jp", "names": {"en": "Japan"}}}),
]

if __name__ == "__main__":
    outdir = sys.argv[1]
    write_db(outdir + "/test-geoip-city.mmdb", "GeoIP2-City", CITY)
    write_db(outdir + "/test-geoip-country.mmdb", "GeoIP2-Country", COUNTRY)
