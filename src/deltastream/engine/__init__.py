"""The engine: turns market quotes into immutable, versioned chain snapshots."""
