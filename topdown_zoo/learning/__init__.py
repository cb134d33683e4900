"""Learning rules as plain functions (BPTT over refinement steps, Hebbian, Counter-Hebb, FA/DFA)."""
