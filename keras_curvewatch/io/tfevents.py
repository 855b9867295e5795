"""Decoding TensorBoard event files: TFRecord framing and the few protobuf
messages that carry scalars, in pure Python.

An event file is a TFRecord stream (uint64 length, uint32 masked crc32c of
the length, data, uint32 masked crc32c of the data) of `Event` messages:
`Event` (wall_time=1 double, step=2 int64, summary=5), `Summary` (value=1
repeated), `Summary.Value` (tag=1, simple_value=2 float, tensor=8) and
`TensorProto` (dtype=1, tensor_content=4, float_val=5, double_val=6, ...).
Checksums are verified for the length header (what tells an event file
from any other file) and for the data of every record up to
`MAX_CHECKED_RECORD_BYTES`.
"""

import collections
import struct

import numpy as np

from keras_curvewatch.errors import FormatError

# TFRecord framing: uint64 length, uint32 masked crc32c of the length.
_HEADER_BYTES = 12
# Trailing uint32 masked crc32c of the record data.
_FOOTER_BYTES = 4
# Records up to this size get their data checksum verified: pure-Python
# crc32c runs at about 12 MB/s (measured), scalar events are ~100 bytes, and
# only graphs or images are larger.
MAX_CHECKED_RECORD_BYTES = 1 << 20
# Constant added when masking a crc32c (TFRecord format, TF crc32c.h).
_CRC_MASK_DELTA = 0xA282EAD8
# Reflected Castagnoli polynomial used by crc32c (RFC 3720, appendix B.4).
_CRC32C_POLY = 0x82F63B78
# DataType enum values (tensorflow/core/framework/types.proto) -> numpy dtype.
_DTYPES = {
    1: np.dtype("<f4"),  # DT_FLOAT
    2: np.dtype("<f8"),  # DT_DOUBLE
    3: np.dtype("<i4"),  # DT_INT32
    9: np.dtype("<i8"),  # DT_INT64
    19: np.dtype("<f2"),  # DT_HALF
}
# DT_BFLOAT16: the upper 16 bits of a float32.
_DT_BFLOAT16 = 14

ScalarEvent = collections.namedtuple("ScalarEvent", "wall_time step tag value")


def _make_crc_table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _CRC32C_POLY if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _make_crc_table()


def _masked_crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + _CRC_MASK_DELTA) & 0xFFFFFFFF


def is_event_file(path):
    """Returns True if `path` starts like a TFRecord (TensorBoard) file.

    Args:
        path: str or `os.PathLike`. A file.

    Returns:
        bool. True when the first record header's checksum is valid.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(_HEADER_BYTES)
    except OSError:
        return False
    if len(head) < _HEADER_BYTES:
        return False
    (crc,) = struct.unpack("<I", head[8:12])
    return _masked_crc32c(head[:8]) == crc


def _records(path):
    """Yields the data of each TFRecord; stops quietly at a truncated end."""
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos + _HEADER_BYTES <= len(data):
        header = data[pos : pos + 8]
        (length,) = struct.unpack("<Q", header)
        (crc,) = struct.unpack("<I", data[pos + 8 : pos + 12])
        if _masked_crc32c(header) != crc:
            raise FormatError(
                f"{path}: bad TFRecord header checksum at byte {pos}; "
                "expected a TensorBoard event file (events.out.tfevents.*)."
            )
        start = pos + _HEADER_BYTES
        end = start + length
        if end + _FOOTER_BYTES > len(data):
            return  # the writer is still appending this record
        record = data[start:end]
        (crc,) = struct.unpack("<I", data[end : end + _FOOTER_BYTES])
        if length <= MAX_CHECKED_RECORD_BYTES and _masked_crc32c(record) != crc:
            raise FormatError(
                f"{path}: the record at byte {pos} fails its checksum (the "
                "file is corrupt); expected intact TensorBoard event records."
            )
        yield record
        pos = end + _FOOTER_BYTES


def _varint(buf, pos):
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def _fields(buf):
    """Yields (field_number, wire_type, value) of one protobuf message."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if pos > len(buf):
            raise ValueError("truncated protobuf field")
        yield number, wire, value


def _packed_varints(buf):
    pos, out = 0, []
    while pos < len(buf):
        value, pos = _varint(buf, pos)
        out.append(value)
    return out


def _signed64(value):
    return value - (1 << 64) if value >= 1 << 63 else value


def _tensor_scalar(buf):
    """Returns the value of a one-element numeric TensorProto, else None."""
    dtype, content, values = None, None, []
    for number, wire, value in _fields(buf):
        if number == 1 and wire == 0:
            dtype = value
        elif number == 4 and wire == 2:
            content = value
        elif number == 5 and wire in (2, 5):  # float_val, packed or not
            values.extend(struct.unpack(f"<{len(value) // 4}f", value))
        elif number == 6 and wire in (1, 2):  # double_val
            values.extend(struct.unpack(f"<{len(value) // 8}d", value))
        elif number in (7, 10) and wire in (0, 2):  # int_val, int64_val
            ints = _packed_varints(value) if wire == 2 else [value]
            values.extend(_signed64(v) for v in ints)
        elif number == 13 and wire in (
            0,
            2,
        ):  # half_val: float16 bits as varints
            bits = _packed_varints(value) if wire == 2 else [value]
            bits = np.array([b & 0xFFFF for b in bits], np.uint16)
            values.extend(bits.view(np.float16).tolist())
        elif number in (5, 6, 7, 10, 13):
            raise ValueError(f"TensorProto field {number} has wire type {wire}")
    if content is not None:
        if dtype == _DT_BFLOAT16:
            if len(content) != 2:
                return None
            bits = np.frombuffer(content, "<u2").astype(np.uint32) << 16
            return float(bits.view(np.float32)[0])
        np_dtype = _DTYPES.get(dtype)
        if np_dtype is None or len(content) != np_dtype.itemsize:
            return None
        return float(np.frombuffer(content, np_dtype)[0])
    if (dtype not in _DTYPES and dtype != _DT_BFLOAT16) or len(values) != 1:
        return None
    return float(values[0])


def _event_scalars(record):
    wall_time, step, summary = 0.0, 0, None
    for number, wire, value in _fields(record):
        if number == 1 and wire == 1:
            (wall_time,) = struct.unpack("<d", value)
        elif number == 2 and wire == 0:
            step = _signed64(value)
        elif number == 5 and wire == 2:
            summary = value
    if summary is None:
        return
    for number, wire, value in _fields(summary):
        if number != 1 or wire != 2:
            continue
        tag, scalar = None, None
        for field, field_wire, item in _fields(value):
            if field == 1 and field_wire == 2:
                tag = bytes(item).decode("utf-8", "replace")
            elif field == 2 and field_wire == 5:
                (scalar,) = struct.unpack("<f", item)
            elif field == 8 and field_wire == 2:
                scalar = _tensor_scalar(item)
        if tag is not None and scalar is not None:
            yield ScalarEvent(wall_time, step, tag, scalar)


def read_event_scalars(path):
    """Reads every numeric scalar from one TensorBoard event file.

    Args:
        path: str or `os.PathLike`. An `events.out.tfevents.*` file.

    Returns:
        list of `ScalarEvent(wall_time, step, tag, value)`, in file order.
        Histograms, images and text summaries are skipped.

    Raises:
        FormatError: if the file is not a TFRecord stream of `Event`s.
    """
    out = []
    for index, record in enumerate(_records(path)):
        try:
            out.extend(_event_scalars(record))
        except (ValueError, struct.error) as exc:
            raise FormatError(
                f"{path}: record {index} is not a valid TensorBoard Event "
                f"({exc}); expected a file written by tf.summary or "
                "keras.callbacks.TensorBoard."
            ) from None
    return out
