"""Run whole sessions without Zoom: scenarios, a virtual clock, the driver and its timeline."""
