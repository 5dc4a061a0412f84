"""Runs simulated worlds: the development world builder and the runner behind `tgw demo`."""
