"""The encounter checksum's canonical form is RFC 8785 (JCS): the RFC's own examples, and generated
documents on which the fast path (msgspec) must equal the `rfc8785` library byte for byte."""

from __future__ import annotations

import json
import struct

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from uploads.jcs import CanonicalError, canonical, checksum

# RFC 8785 Appendix B: IEEE-754 doubles (hex) and their JCS spelling.
NUMBERS = [("0000000000000000", "0"), ("8000000000000000", "0"), ("0000000000000001", "5e-324"),
           ("8000000000000001", "-5e-324"), ("7fefffffffffffff", "1.7976931348623157e+308"),
           ("ffefffffffffffff", "-1.7976931348623157e+308"), ("4340000000000000", "9007199254740992"),
           ("c340000000000000", "-9007199254740992"), ("4430000000000000", "295147905179352830000"),
           ("44b52d02c7e14af5", "9.999999999999997e+22"), ("44b52d02c7e14af6", "1e+23"),
           ("44b52d02c7e14af7", "1.0000000000000001e+23"), ("444b1ae4d6e2ef4e", "999999999999999700000"),
           ("444b1ae4d6e2ef4f", "999999999999999900000"), ("444b1ae4d6e2ef50", "1e+21"),
           ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"), ("3eb0c6f7a0b5ed8d", "0.000001"),
           ("41b3de4355555553", "333333333.3333332"), ("41b3de4355555554", "333333333.33333325"),
           ("41b3de4355555555", "333333333.3333333"), ("41b3de4355555556", "333333333.3333334"),
           ("41b3de4355555557", "333333333.33333343"), ("becbf647612f3696", "-0.0000033333333333333333"),
           ("43143ff3c1cb0959", "1424953923781206.2")]


@pytest.mark.parametrize("ieee,expected", NUMBERS)
def test_rfc8785_appendix_b_numbers(ieee, expected):
    value = struct.unpack(">d", bytes.fromhex(ieee))[0]
    assert canonical(json.dumps([value]).encode()) == f"[{expected}]".encode()


def test_rfc8785_section_3_2_examples():
    # 3.2.2: serialisation of primitives, escapes and numbers
    text = ('{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
            ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}')
    assert canonical(text.encode()) == ('{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,'
                                        '1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}').encode()
    # 3.2.3: members sorted by UTF-16 code units (the emoji's surrogates sort before U+FB33)
    text = ('{"\\u20ac": "Euro Sign", "\\r": "Carriage Return", "\\ufb33": "Hebrew Letter Dalet With Dagesh",'
            ' "1": "One", "\\ud83d\\ude00": "Emoji: Grinning Face", "\\u0080": "Control",'
            ' "\\u00f6": "Latin Small Letter O With Diaeresis"}')
    expected = ('{"\\r":"Carriage Return","1":"One","\u0080":"Control","ö":"Latin Small Letter O With Diaeresis",'
                '"€":"Euro Sign","😀":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}')
    assert canonical(text.encode()) == expected.encode()
    # the same document written with raw UTF-8 takes the library path and agrees
    assert canonical(json.dumps(json.loads(text), ensure_ascii=False).encode()) == expected.encode()


def test_checksum_leaves_out_the_checksum_member_and_refuses_what_has_no_canonical_form():
    doc = {"b": 1.0, "a": [1, 2], "checksum": "whatever"}
    assert checksum(json.dumps(doc).encode()) == checksum(json.dumps({"a": [1, 2], "b": 1}).encode(), drop=None)
    with pytest.raises(CanonicalError):
        canonical(b"[12345678901234567890]")  # beyond 2^53: not an IEEE double exactly


keys = st.text(max_size=6)
values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53 - 1), 2**53 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4), max_leaves=25)


@settings(max_examples=400, deadline=None)
@given(doc=values, ascii_only=st.booleans())
def test_fast_path_equals_the_library(doc, ascii_only):
    text = json.dumps(doc, ensure_ascii=ascii_only)
    try:
        raw = text.encode()
        expected = rfc8785.dumps(json.loads(text))
    except (UnicodeEncodeError, rfc8785.CanonicalizationError):
        return  # lone surrogates: no UTF-8 form, nothing to compare
    assert canonical(raw) == expected
