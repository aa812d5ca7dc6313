"""Everything that touches the world: runtime, timers, Zoom adapters, simulator and the CLI."""
