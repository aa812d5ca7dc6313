"""An MRI claims-file reader for the tests, written from ohip-reference §4, not from the writer.

Every slice below is (1-based position, length) from the layout tables, converted here; it
shares no code with `storage.billing.claims_file`.
"""

from __future__ import annotations


def field(record: str, position: int, length: int) -> str:
    return record[position - 1 : position - 1 + length]


HEB = {
    "transaction": (1, 2),
    "record_id": (3, 1),
    "release": (4, 3),
    "moh_office": (7, 1),
    "batch_id": (8, 12),
    "operator": (20, 6),
    "group": (26, 4),
    "provider": (30, 6),
    "specialty": (36, 2),
    "reserved": (38, 42),
}
HEH = {
    "transaction": (1, 2),
    "record_id": (3, 1),
    "health_number": (4, 10),
    "version": (14, 2),
    "birth_date": (16, 8),
    "accounting": (24, 8),
    "program": (32, 3),
    "payee": (35, 1),
    "referring": (36, 6),
    "master": (42, 4),
    "admission": (46, 8),
    "lab": (54, 4),
    "manual_review": (58, 1),
    "sli": (59, 4),
    "reserved_ooc": (63, 11),
    "reserved_moh": (74, 6),
}
HER = {
    "transaction": (1, 2),
    "record_id": (3, 1),
    "registration": (4, 12),
    "last_name": (16, 9),
    "first_name": (25, 5),
    "sex": (30, 1),
    "province": (31, 2),
    "reserved": (33, 47),
}
HET = {
    "transaction": (1, 2),
    "record_id": (3, 1),
    "service_code": (4, 5),
    "reserved1": (9, 2),
    "fee": (11, 6),
    "services": (17, 2),
    "service_date": (19, 8),
    "diagnostic": (27, 4),
    "reserved_ooc": (31, 10),
    "reserved_moh": (41, 1),
    "item2": (42, 38),
}
HEE = {
    "transaction": (1, 2),
    "record_id": (3, 1),
    "h_count": (4, 4),
    "r_count": (8, 4),
    "t_count": (12, 5),
    "reserved": (17, 63),
}
LAYOUTS = {"B": HEB, "H": HEH, "R": HER, "T": HET, "E": HEE}


def split_records(data: bytes) -> list[str]:
    """Records of a file: each must end in CR LF and be 79 characters."""
    assert data.endswith(b"\r\n"), "the file must end with CR LF"
    chunks = data.split(b"\r\n")
    assert chunks[-1] == b""
    records = []
    for chunk in chunks[:-1]:
        assert b"\r" not in chunk and b"\n" not in chunk, "a bare CR or LF inside a record"
        text = chunk.decode("ascii")
        assert len(text) == 79, f"{text[:3]} is {len(text)} characters"
        assert text == text.upper()
        records.append(text)
    return records


def parse(record: str) -> dict[str, str]:
    """The record's fields by name, checking every position is covered exactly once."""
    layout = LAYOUTS[record[2]]
    covered = sorted((pos, length) for pos, length in layout.values())
    cursor = 1
    for pos, length in covered:
        assert pos == cursor, f"layout gap or overlap at {pos}"
        cursor += length
    assert cursor == 80
    return {name: field(record, pos, length) for name, (pos, length) in layout.items()}
