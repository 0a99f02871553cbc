"""Read models for the operator dashboard: framework-free queries that page on the server and use an index.

Each function takes a SQLModel Session and returns plain dataclasses (ints, Decimals, strings, datetimes), so
the dashboard states hold view data and decide nothing.
"""
