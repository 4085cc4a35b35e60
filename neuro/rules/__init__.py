"""Learning rules and surrogate gradients: one file per rule (spec + torch implementation)."""
