"""Live streams, lucky bags, wins, redemption and risk control (SPEC §2, L1–L3, L5)."""
