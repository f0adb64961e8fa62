"""Who goes: officers, grid, positions, nearest, escalation ladder."""
