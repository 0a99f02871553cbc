"""What a customer must type for each target kind: a label, a hint a person can follow, and the pattern the
normalised value must match: esa_domain.ordering.targets.PATTERNS, the very patterns the server validates with."""

from __future__ import annotations

from esa_api.customer.schemas import TargetSpec
from esa_domain.ordering.targets import PATTERNS, ZONE_PATTERN

TARGET_SPECS: dict[str, TargetSpec] = {
    "phone": TargetSpec(
        kind="phone",
        label="Indonesian mobile number",
        hint="08… with 10 to 13 digits; +62… is accepted too",
        pattern=PATTERNS["phone"],
        example="081234567890",
    ),
    "pln_meter": TargetSpec(
        kind="pln_meter",
        label="PLN meter number",
        hint="the 11-digit number on the electricity meter",
        pattern=PATTERNS["pln_meter"],
        example="12345678901",
    ),
    "customer_no": TargetSpec(
        kind="customer_no",
        label="Customer number",
        hint="the 6 to 20 digit customer number on the bill",
        pattern=PATTERNS["customer_no"],
        example="5123456789",
    ),
    "game_id": TargetSpec(
        kind="game_id",
        label="Game user ID",
        hint="your in-game user ID: 3 to 20 letters or digits",
        pattern=PATTERNS["game_id"],
        example="12345678",
    ),
    "game_id_zone": TargetSpec(
        kind="game_id_zone",
        label="Game user ID",
        hint="your in-game user ID (3 to 20 letters or digits) and its zone (server) ID",
        pattern=PATTERNS["game_id_zone"],
        example="12345678",
        needs_zone=True,
        zone_label="Zone ID",
        zone_pattern=ZONE_PATTERN,
        zone_example="2001",
    ),
    "email": TargetSpec(
        kind="email",
        label="E-mail address",
        hint="where the voucher code is sent",
        pattern=PATTERNS["email"],
        example="budi@example.com",
    ),
}
