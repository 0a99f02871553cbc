"""Pulsa IF's replies (ASSUMED OtomaX-style text, shared/specs/suppliers.md), as the outcome each one means.

A reply is one line of Indonesian text, classified by pattern rather than by code: `parse_reply` in
`adapter.py` tries these patterns in order (duplicate, not found, SUKSES, GAGAL + reason, akan diproses).
`ASSUMED+` marks additions beyond the spec.
"""

from __future__ import annotations

import re

from esa_domain.adapters.suppliers.base import Outcome

# UNKNOWN: query the existing transaction. OtomaX centres word it many ways ("Transaksi dobel", "trx ganda",
# "sudah pernah", "refID sudah ada", "double", "duplikat"); any of them means the first one may have gone through.
DUPLICATE = re.compile(
    r"dobel|double|ganda|duplikat|duplicate|sudah\s+ada|sudah\s+pernah|pernah\s+(?:dilakukan|diproses|transaksi)",
    re.IGNORECASE,
)
SUCCESS = re.compile(r"\bSUKSES\b", re.IGNORECASE)
FAILED = re.compile(r"\bGAGAL\b\.?\s*(?P<reason>.*)", re.IGNORECASE)
NOT_FOUND = re.compile(r"tidak\s+ditemukan", re.IGNORECASE)  # ASSUMED+, on a check=1 only
NOT_FOUND_CODES = frozenset({"not_found"})
PENDING = re.compile(r"\bR#(?P<ref>\S+).*\bakan\s+diproses\b", re.IGNORECASE)
# A failure reason's first sentence -> class; checked in this order. A GAGAL whose reason names none of them
# ("Sistem sibuk", a reworded duplicate, a status reply we cannot read) is NOT definite: UNKNOWN, query it.
CUSTOMER_WORDS = re.compile(r"nomor|tujuan", re.IGNORECASE)
PRODUCT_WORDS = re.compile(r"gangguan|kosong|cut\s*off", re.IGNORECASE)
AUTH_WORDS = re.compile(r"\bsign\b|\bIP\b", re.IGNORECASE)  # config; on a status query, the query was refused
BALANCE_WORDS = re.compile(r"saldo", re.IGNORECASE)
# A report's `status` parameter.
CALLBACK_STATUS = {"20": Outcome.SUCCESS, "40": Outcome.FAILED, "1": Outcome.PENDING}
