"""Pure bracket engine: tournament records and the operations that keep them consistent."""
