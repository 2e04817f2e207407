"""The platform's side 平台运营 (issue 17, F1): operator accounts and their console.

Decisions the real platform makes — coupon review (C2), shop review flags (O8: 停业整改 /
清退), product unbans (O8), platform intervention 平台介入 in a rejected after-sale — are
made here by an operator, never by the shop. Every decision is an event naming the operator
and the rule.
"""
