"""After-sales 售后 (SPEC §4, A1–A6)."""
