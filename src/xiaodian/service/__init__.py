"""Customer-service console 飞鸽: conversations and the context panel (SPEC §2, L4, L5)."""
