"""The parts of bench/peers.py (dcn against its peers, side by side)."""
