"""What a customer must type for each target kind: a label, a hint a person can follow, and the pattern the
normalised value must match (the server validates with esa_domain.targets; these only guide the form)."""

from __future__ import annotations

from esa_api.customer.schemas import TargetSpec

TARGET_SPECS: dict[str, TargetSpec] = {
    "phone": TargetSpec(
        kind="phone",
        label="Indonesian mobile number",
        hint="08… with 10 to 13 digits; +62… is accepted too",
        pattern=r"^08[1-9]\d{7,10}$",
        example="081234567890",
    ),
    "pln_meter": TargetSpec(
        kind="pln_meter",
        label="PLN meter number",
        hint="the 11-digit number on the electricity meter",
        pattern=r"^\d{11}$",
        example="12345678901",
    ),
    "customer_no": TargetSpec(
        kind="customer_no",
        label="Customer number",
        hint="the 6 to 20 digit customer number on the bill",
        pattern=r"^\d{6,20}$",
        example="5123456789",
    ),
    "game_id": TargetSpec(
        kind="game_id",
        label="Game user ID",
        hint="your in-game user ID: 3 to 20 letters or digits",
        pattern=r"^[A-Za-z0-9]{3,20}$",
        example="12345678",
    ),
    "game_id_zone": TargetSpec(
        kind="game_id_zone",
        label="Game user ID",
        hint="your in-game user ID (3 to 20 letters or digits) and its zone (server) ID",
        pattern=r"^[A-Za-z0-9]{3,20}$",
        example="12345678",
        needs_zone=True,
        zone_label="Zone ID",
        zone_pattern=r"^\d{1,6}$",
        zone_example="2001",
    ),
    "email": TargetSpec(
        kind="email",
        label="E-mail address",
        hint="where the voucher code is sent",
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        example="budi@example.com",
    ),
}
