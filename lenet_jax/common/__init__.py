"""Pieces every command shares: user errors, stop signals, flag parsing, atomic files, logs."""
