"""Decoding a log file's bytes to text, whatever editor or shell wrote it.

UTF-8 (with or without a byte-order mark), UTF-16 and UTF-32 (with or
without one; PowerShell's `>` writes UTF-16) and Latin-1. A file with other
NUL bytes is binary. Imports neither keras nor tensorflow.
"""

from keras_curvewatch.errors import FormatError

# Bytes read to tell a format and an encoding apart.
SNIFF_BYTES = 4096
# Byte-order marks, longest first: the UTF-32-LE mark starts like UTF-16-LE.
_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
# Share of ASCII code units in the sniffed bytes needed to call a NUL
# pattern UTF-16/32: a log is mostly ASCII digits, names and separators,
# while binary files have NUL bytes anywhere.
_WIDE_ASCII_SHARE = 0.9


def read_bytes(path, limit=None):
    """Returns the first `limit` bytes of a file (all when None)."""
    with open(path, "rb") as f:
        return f.read() if limit is None else f.read(limit)


def _share(units, is_ascii):
    return sum(map(is_ascii, units)) / len(units) if units else 0.0


def sniff_encoding(data):
    """Returns the encoding of `data`, or None for binary data.

    Args:
        data: bytes. The start of a file.

    Returns:
        str: `"utf-8-sig"` (UTF-8, Latin-1 fallback), `"utf-16-le"`,
        `"utf-16-be"`, `"utf-32-le"`, `"utf-32-be"`; None when the bytes
        hold NULs in no wide-text pattern.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return "utf-8-sig" if encoding == "utf-8" else encoding
    head = data[:SNIFF_BYTES]
    if b"\x00" not in head:
        return "utf-8-sig"
    # Without a mark: ASCII text in UTF-32 is one byte and three NULs per
    # character; in UTF-16 one byte and one NUL.
    for width, encoding, low in ((4, "utf-32-le", 0), (4, "utf-32-be", 3),
                                 (2, "utf-16-le", 0), (2, "utf-16-be", 1)):
        n = len(head) - len(head) % width
        units = [head[i:i + width] for i in range(0, n, width)]
        ascii_units = _share(
            units, lambda u: u[low] != 0 and u.count(0) == width - 1)
        if ascii_units >= _WIDE_ASCII_SHARE:
            return encoding
    return None


def decode(data, name):
    """Decodes a log file's bytes to text.

    Args:
        data: bytes. The whole file.
        name: str. The file name, for messages.

    Returns:
        str, without a byte-order mark.

    Raises:
        FormatError: if the file is binary, or looks like UTF-16/32 text
            but does not decode.
    """
    encoding = sniff_encoding(data)
    if encoding is None:
        raise FormatError(
            f"{name}: unknown format (a binary file, not text); expected a "
            "CSVLogger file, a JSON history or a TensorBoard event file.")
    if encoding == "utf-8-sig":
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return data.decode("latin-1")  # never fails; names may look odd
    try:
        return data.decode(encoding).lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        raise FormatError(
            f"{name}: looks like {encoding.upper()} text but does not decode "
            f"({exc.reason} at byte {exc.start}); save it as UTF-8."
        ) from None


def head_text(path, name=None):
    """The decoded start of a file, or None when it is binary or does not
    decode (for `sniff` functions, which never raise)."""
    try:
        data = read_bytes(path, SNIFF_BYTES)
    except OSError:
        return None
    encoding = sniff_encoding(data)
    if encoding is None:
        return None
    width = 4 if "32" in encoding else 2 if "16" in encoding else 1
    data = data[:len(data) - len(data) % width]  # whole code units only
    try:
        return decode(data, name or str(path))
    except FormatError:
        return None


def first_line(text):
    """The first non-blank line of `text`, stripped."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""
