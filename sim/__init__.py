"""The simulation engine: effects, the shell around sans-IO cores, simulator state, the scheduler."""
