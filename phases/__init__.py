"""The pure phase engine: events in, actions out, time as an argument. No I/O anywhere here."""
